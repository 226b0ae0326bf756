//! `first` (lb_fas.c): one tree per group keyed by server id; the first
//! server in id order that has room takes the connection.

use super::pool::{Pool, Srv, Target};
use super::tree::GroupTrees;

#[derive(Debug, Clone)]
pub(crate) struct First {
    t: GroupTrees,
}

impl First {
    /// fas_init_server_tree: usable servers in declaration order.
    pub fn new(pool: &Pool) -> First {
        let mut t = GroupTrees::new(pool.srv.len());
        for (i, s) in pool.srv.iter().enumerate() {
            if s.currently_usable() {
                t.lb_tree[i] = Some(s.group());
                t.queue(i, s.puid);
            }
        }
        First { t }
    }

    /// fas_srv_reposition, on every `served` change: HAProxy reinserts the
    /// node, which only matters between servers sharing an id.
    pub fn reposition(&mut self, srv: &[Srv], i: usize) {
        if self.t.lb_tree[i].is_some() {
            self.t.dequeue(i);
            self.t.queue(i, srv[i].puid);
        }
    }

    /// fas_set_server_status_down for a server that was usable.
    pub fn down(&mut self, i: usize) {
        self.t.dequeue(i);
        self.t.lb_tree[i] = None;
    }

    /// fas_set_server_status_up for a server that was not usable.
    pub fn up(&mut self, srv: &[Srv], i: usize) {
        self.t.lb_tree[i] = Some(srv[i].group());
        self.t.queue(i, srv[i].puid);
    }

    /// fas_update_server_weight for a server usable before and after.
    pub fn reweight(&mut self, srv: &[Srv], i: usize) {
        self.t.dequeue(i);
        self.up(srv, i);
    }

    /// fas_get_next_server: the lowest id with room, skipping the server to
    /// avoid unless it is the only one with room.
    pub fn next(&self, pool: &Pool, avoid: Option<usize>) -> Option<usize> {
        let g = match pool.target() {
            Target::Group(g) => g,
            Target::Single(f) => return Some(f),
            Target::Nothing => return None,
        };
        let mut avoided = None;
        for n in &self.t.trees[g as usize].nodes {
            let i = n.srv as usize;
            if pool.srv[i].has_room() {
                if Some(i) != avoid {
                    return Some(i);
                }
                avoided = Some(i);
            }
        }
        avoided
    }
}
