//! `leastconn` (lb_fwlc.c): one tree per group keyed by load, the lowest
//! first; servers with equal keys are taken in the order they were
//! (re)inserted, which is what rotates idle servers.

use super::pool::{Pool, Srv, Target, SRV_EWGHT_MAX};
use super::tree::GroupTrees;

#[derive(Debug, Clone)]
pub(crate) struct Fwlc {
    t: GroupTrees,
}

/// The key of fwlc_queue_srv / fwlc_srv_reposition: 0 when idle, else
/// `(inflight + 1) * SRV_EWGHT_MAX / eweight` in 32-bit unsigned arithmetic.
fn key(s: &Srv, eweight: u32) -> u32 {
    let inflight = s.served.wrapping_add(s.queued);
    if inflight == 0 {
        0
    } else {
        inflight.wrapping_add(1).wrapping_mul(SRV_EWGHT_MAX) / eweight.max(1)
    }
}

impl Fwlc {
    /// fwlc_init_server_tree: usable servers in declaration order.
    pub fn new(pool: &Pool) -> Fwlc {
        let mut t = GroupTrees::new(pool.srv.len());
        for (i, s) in pool.srv.iter().enumerate() {
            if s.currently_usable() {
                t.lb_tree[i] = Some(s.group());
                t.queue(i, key(s, s.next_eweight));
            }
        }
        Fwlc { t }
    }

    /// fwlc_srv_reposition, on every `served` change.
    pub fn reposition(&mut self, srv: &[Srv], i: usize) {
        let s = &srv[i];
        let eweight = s.cur_eweight;
        let new_key = key(s, eweight);
        let current = self.t.key(i);
        if current.is_some() && eweight != 0 && current == Some(new_key) {
            return;
        }
        if self.t.lb_tree[i].is_some() && current != Some(new_key) {
            self.t.dequeue(i);
            self.t.queue(i, new_key);
        }
    }

    /// fwlc_set_server_status_down for a server that was usable.
    pub fn down(&mut self, i: usize) {
        self.t.dequeue(i);
        self.t.lb_tree[i] = None;
    }

    /// fwlc_set_server_status_up for a server that was not usable.
    pub fn up(&mut self, srv: &[Srv], i: usize) {
        self.t.lb_tree[i] = Some(srv[i].group());
        self.t.queue(i, key(&srv[i], srv[i].next_eweight));
    }

    /// fwlc_update_server_weight for a server usable before and after.
    pub fn reweight(&mut self, srv: &[Srv], i: usize) {
        if self.t.lb_tree[i].is_some() {
            self.t.dequeue(i);
        }
        self.t.lb_tree[i] = Some(srv[i].group());
        self.t.queue(i, key(&srv[i], srv[i].next_eweight));
    }

    /// fwlc_get_next_server: the least loaded server with room, skipping
    /// the one to avoid unless it is the only one with room.
    pub fn next(&self, pool: &Pool, avoid: Option<usize>) -> Option<usize> {
        let g = match pool.target() {
            Target::Group(g) => g,
            Target::Single(f) => return Some(f),
            Target::Nothing => return None,
        };
        let mut avoided = None;
        for n in &self.t.trees[g as usize].nodes {
            let i = n.srv as usize;
            let s = &pool.srv[i];
            // leastconn's own test: served + queue < maxconn + maxqueue,
            // where maxqueue is 0 here (no server-side `maxqueue`).
            if s.maxconn == 0 || s.served.saturating_add(s.queued) < s.maxconn {
                if Some(i) != avoid {
                    return Some(i);
                }
                avoided = Some(i);
            }
        }
        avoided
    }
}
