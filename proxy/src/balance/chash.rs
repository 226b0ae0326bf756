//! The consistent-hash ring (lb_chash.c): `hash-type consistent` and
//! `random`.
//!
//! A server with effective weight E (16 per unit of user weight) has E
//! points on its group's ring, at `full_hash(puid * 4096 + j)` for j < E. A
//! hash goes to the nearer of the points around it. When the key is
//! missing, HAProxy walks the ring point by point from where the last walk
//! stopped (`lbprm.chash.last`), which we track the same way, including
//! its quirks (see `next`).

use super::hash::full_hash;
use super::pool::{Group, Pool, Srv, Target, SRV_EWGHT_RANGE};
use super::tree::{Node, Tree};

#[derive(Debug, Clone)]
pub(crate) struct Chash {
    rings: [Tree; 2],
    /// lb_nodes_now: how many of its points a server has on its ring.
    nodes_now: Vec<u32>,
    /// lb_nodes_tot: how many points were ever allocated for it.
    nodes_tot: Vec<u32>,
    /// lbprm.chash.last: the point the round-robin walk stopped at, by
    /// identity (group, key, seq). One pointer for both rings, as HAProxy.
    last: Option<(Group, u32, u64)>,
    seq: u64,
}

/// A server's j-th ring position. The product is C `int` arithmetic that
/// wraps (HAProxy builds with -fwrapv).
fn point(puid: u32, j: u32) -> u32 {
    full_hash(puid.wrapping_mul(SRV_EWGHT_RANGE).wrapping_add(j))
}

impl Chash {
    /// chash_init_server_tree: every server gets `uweight * 16` points
    /// allocated, the usable ones are put on their ring in declaration
    /// order.
    pub fn new(pool: &Pool) -> Chash {
        let n = pool.srv.len();
        let mut c = Chash {
            rings: Default::default(),
            nodes_now: vec![0; n],
            nodes_tot: pool
                .srv
                .iter()
                .map(|s| s.uweight.saturating_mul(16))
                .collect(),
            last: None,
            seq: 0,
        };
        for (i, s) in pool.srv.iter().enumerate() {
            if s.currently_usable() {
                c.adjust(&pool.srv, i, false);
            }
        }
        for r in &mut c.rings {
            r.nodes.sort_unstable_by_key(|n| (n.key, n.seq));
        }
        c
    }

    /// Remove server i's points whose occurrence is >= keep, moving `last`
    /// off them first as chash_skip_node does one removal at a time: it ends
    /// on the first surviving point after it, or nowhere if none survives.
    fn remove_from(&mut self, srv: &[Srv], i: usize, keep: u32) {
        let g = srv[i].group();
        let ring = &mut self.rings[g as usize];
        let doomed = |n: &Node| n.srv as usize == i && n.occ >= keep;
        if let Some((lg, key, seq)) = self.last {
            if lg == g {
                if let Some(at) = ring.find(key, seq) {
                    if doomed(&ring.nodes[at]) {
                        let len = ring.len();
                        self.last = (1..len)
                            .map(|d| &ring.nodes[(at + d) % len])
                            .find(|n| !doomed(n))
                            .map(|n| (g, n.key, n.seq));
                    }
                }
            }
        }
        ring.nodes.retain(|n| !doomed(n));
        self.nodes_now[i] = self.nodes_now[i].min(keep);
    }

    /// chash_queue_dequeue_srv: give server i as many points as its new
    /// effective weight. `sort` is false only while building in bulk.
    fn adjust(&mut self, srv: &[Srv], i: usize, sort: bool) {
        let want = srv[i].next_eweight;
        if self.nodes_now[i] > want {
            self.remove_from(srv, i, want);
        }
        if self.nodes_tot[i] < want {
            // HAProxy reallocates the points array: it first takes all the
            // server's points off the ring, then puts them all back.
            self.remove_from(srv, i, 0);
            self.nodes_tot[i] = want;
        }
        let g = srv[i].group() as usize;
        let puid = srv[i].puid;
        let added = self.nodes_now[i] < want;
        for j in self.nodes_now[i]..want {
            self.seq += 1;
            self.rings[g].nodes.push(Node {
                key: point(puid, j),
                seq: self.seq,
                srv: i as u32,
                occ: j,
            });
        }
        self.nodes_now[i] = want;
        if added && sort {
            self.rings[g].nodes.sort_unstable_by_key(|n| (n.key, n.seq));
        }
    }

    /// chash_set_server_status_up for a server that was not usable.
    pub fn up(&mut self, srv: &[Srv], i: usize) {
        self.adjust(srv, i, true);
    }

    /// chash_set_server_status_down for a server that was usable.
    pub fn down(&mut self, srv: &[Srv], i: usize) {
        self.remove_from(srv, i, 0);
    }

    /// chash_update_server_weight for a server usable before and after.
    pub fn reweight(&mut self, srv: &[Srv], i: usize) {
        self.adjust(srv, i, true);
    }

    /// chash_get_server_hash: the server whose point is nearest the hash
    /// (the previous point on a tie), then onwards past the server to avoid.
    /// Saturation is not looked at (no `hash-balance-factor`).
    pub fn get_hash(&self, pool: &Pool, hash: u32, avoid: Option<usize>) -> Option<usize> {
        let ring = match pool.target() {
            Target::Group(g) => &self.rings[g as usize],
            Target::Single(f) => return Some(f),
            Target::Nothing => return None,
        };
        let len = ring.len();
        if len == 0 {
            return None;
        }
        let next = ring.lookup_ge(hash).unwrap_or(0);
        let prev = if next == 0 { len - 1 } else { next - 1 };
        let dp = hash.wrapping_sub(ring.nodes[prev].key);
        let dn = ring.nodes[next].key.wrapping_sub(hash);
        let mut at = if dp <= dn { prev } else { next };
        let mut nsrv = ring.nodes[at].srv as usize;
        let mut wraps = 0;
        while Some(nsrv) == avoid {
            at += 1;
            if at == len {
                at = 0;
                wraps += 1;
                if wraps > 1 {
                    break;
                }
            }
            nsrv = ring.nodes[at].srv as usize;
        }
        Some(nsrv)
    }

    /// chash_get_next_server: HAProxy's round robin over the ring, used when
    /// a hash key is missing. It resumes after `last`, which may still sit
    /// on the other group's ring (HAProxy keeps one pointer for both and
    /// walks on in that ring until its end); and when there was no `last`,
    /// it examines a single point. Servers without room are skipped.
    pub fn next(&mut self, pool: &Pool, avoid: Option<usize>) -> Option<usize> {
        let root = match pool.target() {
            Target::Group(g) => g,
            Target::Single(f) => return Some(f),
            Target::Nothing => return None,
        };
        let mut stop = self.last;
        let mut cur: Option<(Group, usize)> = self
            .last
            .and_then(|(g, key, seq)| self.rings[g as usize].find(key, seq).map(|at| (g, at)));
        let mut avoided: Option<(usize, (Group, u32, u64))> = None;
        // HAProxy stops when it comes back to where it started; if that
        // point is on the other ring it never does and spins. Bound the walk
        // to one full turn of the ring instead.
        let mut budget = self.rings[0].len() + self.rings[1].len() + 1;
        loop {
            cur = match cur {
                Some((g, at)) if at + 1 < self.rings[g as usize].len() => Some((g, at + 1)),
                _ => None,
            };
            if cur.is_none() && !self.rings[root as usize].is_empty() {
                cur = Some((root, 0));
            }
            let Some((g, at)) = cur else {
                self.last = None;
                return None;
            };
            let node = self.rings[g as usize].nodes[at];
            let here = (g, node.key, node.seq);
            self.last = Some(here);
            if stop.is_none() {
                stop = Some(here);
            }
            let s = node.srv as usize;
            if pool.srv[s].has_room() {
                if Some(s) != avoid {
                    return Some(s);
                }
                avoided = Some((s, here));
            }
            budget -= 1;
            if Some(here) == stop || budget == 0 {
                break;
            }
        }
        match avoided {
            Some((s, node)) => {
                self.last = Some(node);
                Some(s)
            }
            None => {
                self.last = None;
                None
            }
        }
    }

    #[cfg(test)]
    pub fn ring(&self, g: Group) -> &[Node] {
        &self.rings[g as usize].nodes
    }
}
