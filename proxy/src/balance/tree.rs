//! The ordering of HAProxy's eb32 trees, as a sorted vector.
//!
//! Every LB tree in HAProxy is an `eb32` tree that accepts duplicate keys
//! and keeps duplicates in insertion order (`__eb_insert_dup` appends on the
//! right; `eb32_lookup_ge` returns the leftmost). Which of two servers with
//! equal keys comes first decides sequences (leastconn ties, fwrr ties), so
//! each node carries the sequence number of its insertion and the vector is
//! kept sorted by (key, seq). The trees are small (one node per server)
//! except the consistent-hash ring, which is bulk-built (see chash.rs).

use super::pool::Group;

/// One node: its key, its insertion stamp, the server and, on the ring, the
/// server's occurrence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Node {
    pub key: u32,
    pub seq: u64,
    pub srv: u32,
    pub occ: u32,
}

impl Node {
    fn order(&self) -> (u32, u64) {
        (self.key, self.seq)
    }
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    /// eb32_insert: after every node with a smaller or equal key, since the
    /// caller stamps nodes with an always-growing `seq`.
    pub fn insert(&mut self, node: Node) {
        let at = self.nodes.partition_point(|n| n.order() < node.order());
        self.nodes.insert(at, node);
    }

    /// Position of the node with this key and stamp, if present.
    pub fn find(&self, key: u32, seq: u64) -> Option<usize> {
        self.nodes
            .binary_search_by(|n| n.order().cmp(&(key, seq)))
            .ok()
    }

    /// eb32_delete; a node that is not there is ignored, as eb32_delete
    /// ignores a detached node.
    pub fn remove(&mut self, key: u32, seq: u64) -> bool {
        match self.find(key, seq) {
            Some(at) => {
                self.nodes.remove(at);
                true
            }
            None => false,
        }
    }

    pub fn first(&self) -> Option<&Node> {
        self.nodes.first()
    }

    /// eb32_lookup_ge: the index of the leftmost node whose key is >= key.
    pub fn lookup_ge(&self, key: u32) -> Option<usize> {
        let at = self.nodes.partition_point(|n| n.key < key);
        (at < self.nodes.len()).then_some(at)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// One tree per server group with one node per usable server, as
/// lb_fwlc.c and lb_fas.c keep them (`lbprm.fwlc.act/bck`, `srv->lb_tree`).
#[derive(Debug, Clone, Default)]
pub(crate) struct GroupTrees {
    pub trees: [Tree; 2],
    /// srv->lb_tree: the group whose tree the server belongs to, if any.
    pub lb_tree: Vec<Option<Group>>,
    /// The server's node when it is in a tree: (group, key, seq).
    node: Vec<Option<(Group, u32, u64)>>,
    seq: u64,
}

impl GroupTrees {
    pub fn new(n: usize) -> GroupTrees {
        GroupTrees {
            trees: Default::default(),
            lb_tree: vec![None; n],
            node: vec![None; n],
            seq: 0,
        }
    }

    /// eb32_insert into the server's `lb_tree`.
    pub fn queue(&mut self, i: usize, key: u32) {
        let Some(g) = self.lb_tree[i] else {
            return;
        };
        self.seq += 1;
        self.trees[g as usize].insert(Node {
            key,
            seq: self.seq,
            srv: i as u32,
            occ: 0,
        });
        self.node[i] = Some((g, key, self.seq));
    }

    /// eb32_delete of the server's node.
    pub fn dequeue(&mut self, i: usize) {
        if let Some((g, key, seq)) = self.node[i].take() {
            self.trees[g as usize].remove(key, seq);
        }
    }

    /// The server's current key, if it is in a tree.
    pub fn key(&self, i: usize) -> Option<u32> {
        self.node[i].map(|(_, k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(key: u32, seq: u64, srv: u32) -> Node {
        Node {
            key,
            seq,
            srv,
            occ: 0,
        }
    }

    #[test]
    fn duplicates_keep_insertion_order() {
        let mut t = Tree::default();
        t.insert(n(5, 1, 0));
        t.insert(n(3, 2, 1));
        t.insert(n(5, 3, 2));
        t.insert(n(5, 4, 3));
        let order: Vec<u32> = t.nodes.iter().map(|x| x.srv).collect();
        assert_eq!(order, [1, 0, 2, 3]);
        assert_eq!(t.lookup_ge(4), Some(1));
        assert_eq!(t.nodes[t.lookup_ge(5).unwrap()].srv, 0);
        assert_eq!(t.lookup_ge(6), None);
        assert!(t.remove(5, 3));
        assert!(!t.remove(5, 3));
        assert_eq!(t.len(), 3);
        assert_eq!(t.first().unwrap().srv, 1);
    }
}
