//! `roundrobin`: HAProxy's fast weighted round robin (lb_fwrr.c).
//!
//! Each group (active, backup) has three trees: "curr" holds the servers
//! placed in the current window, keyed by their next position; "init" holds
//! servers waiting to be placed, keyed by inverted weight so heavy ones come
//! first; "next" collects servers pushed past the window. When curr runs
//! dry the init and next trees swap. Positions are `unsigned` in HAProxy and
//! the window totals `int`; the mixed comparisons below reproduce C's
//! conversions exactly, since weight changes mid-window can make them
//! matter.

use super::pool::{Pool, Srv, Target, BE_WEIGHT_SCALE, SRV_EWGHT_MAX, SRV_UWGHT_MAX};
use super::tree::{Node, Tree};

/// Which tree a server belongs to (`srv->lb_tree`): T0 and T1 alternate as
/// the group's "init" and "next".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loc {
    None,
    Curr,
    T0,
    T1,
}

#[derive(Debug, Clone, Default)]
struct FwrrGroup {
    curr: Tree,
    t: [Tree; 2],
    /// Index in `t` of the "init" tree; the other is "next".
    init: usize,
    curr_pos: i32,
    curr_weight: i32,
    next_weight: i32,
}

impl FwrrGroup {
    fn init_loc(&self) -> Loc {
        if self.init == 0 {
            Loc::T0
        } else {
            Loc::T1
        }
    }

    fn next_loc(&self) -> Loc {
        if self.init == 0 {
            Loc::T1
        } else {
            Loc::T0
        }
    }

    fn tree(&mut self, loc: Loc) -> Option<&mut Tree> {
        match loc {
            Loc::None => None,
            Loc::Curr => Some(&mut self.curr),
            Loc::T0 => Some(&mut self.t[0]),
            Loc::T1 => Some(&mut self.t[1]),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct FwrrSrv {
    npos: u32,
    lpos: u32,
    rweight: u32,
    /// srv->lb_tree: may name a tree the node was already taken out of
    /// (HAProxy updates it lazily).
    lb_tree: Loc,
    /// Where the node actually is: (tree, key, seq).
    node: Option<(Loc, u32, u64)>,
}

#[derive(Debug, Clone)]
pub(crate) struct Fwrr {
    grp: [FwrrGroup; 2],
    per: Vec<FwrrSrv>,
    seq: u64,
    /// The chain of saturated or avoided servers of one lookup (HAProxy's
    /// `next_full` list), kept here so a lookup does not allocate.
    full: Vec<usize>,
}

impl Fwrr {
    /// fwrr_init_server_groups, with the totals already recounted.
    pub fn new(pool: &Pool) -> Fwrr {
        let mut f = Fwrr {
            grp: Default::default(),
            per: vec![
                FwrrSrv {
                    npos: 0,
                    lpos: 0,
                    rweight: 0,
                    lb_tree: Loc::None,
                    node: None,
                };
                pool.srv.len()
            ],
            seq: 0,
            full: Vec::with_capacity(pool.srv.len()),
        };
        for (g, tot) in [(0, pool.tot_wact), (1, pool.tot_wbck)] {
            let grp = &mut f.grp[g];
            grp.curr_pos = tot as i32;
            grp.curr_weight = tot as i32;
            grp.next_weight = tot as i32;
            grp.init = 0;
        }
        for (i, s) in pool.srv.iter().enumerate() {
            if s.currently_usable() {
                let init = f.grp[s.group() as usize].init_loc();
                f.queue_by_weight(&pool.srv, init, i);
            }
        }
        f
    }

    fn dequeue(&mut self, srv: &[Srv], i: usize) {
        if let Some((loc, key, seq)) = self.per[i].node.take() {
            let g = srv[i].group() as usize;
            if let Some(t) = self.grp[g].tree(loc) {
                t.remove(key, seq);
            }
        }
    }

    fn insert(&mut self, srv: &[Srv], loc: Loc, i: usize, key: u32) {
        self.seq += 1;
        let seq = self.seq;
        let g = srv[i].group() as usize;
        if let Some(t) = self.grp[g].tree(loc) {
            t.insert(Node {
                key,
                seq,
                srv: i as u32,
                occ: 0,
            });
            self.per[i].node = Some((loc, key, seq));
        }
        self.per[i].lb_tree = loc;
    }

    /// fwrr_queue_by_weight: heavier servers first.
    fn queue_by_weight(&mut self, srv: &[Srv], loc: Loc, i: usize) {
        let key = SRV_EWGHT_MAX.wrapping_sub(srv[i].next_eweight);
        self.insert(srv, loc, i, key);
    }

    /// fwrr_queue_srv: into "curr" at its next position, or into "next" when
    /// the position falls beyond this window or the theoretical next one.
    fn queue_srv(&mut self, srv: &[Srv], i: usize) {
        let s = &srv[i];
        let g = s.group() as usize;
        if !s.willbe_usable() {
            self.per[i].lb_tree = Loc::None;
            return;
        }
        let (curr_weight, next_weight) = (self.grp[g].curr_weight, self.grp[g].next_weight);
        let npos = self.per[i].npos;
        if s.next_eweight == 0
            || npos >= 2i32.wrapping_mul(curr_weight) as u32
            || npos >= curr_weight.wrapping_add(next_weight) as u32
        {
            self.per[i].npos = npos.wrapping_sub(curr_weight as u32);
            let next = self.grp[g].next_loc();
            self.queue_by_weight(srv, next, i);
        } else {
            // In units of npos * user weight, as HAProxy keys it.
            let key = SRV_UWGHT_MAX.wrapping_mul(npos).wrapping_add(
                SRV_EWGHT_MAX
                    .wrapping_add(self.per[i].rweight)
                    .wrapping_sub(s.next_eweight)
                    / BE_WEIGHT_SCALE,
            );
            self.insert(srv, Loc::Curr, i, key);
        }
    }

    /// fwrr_get_srv: prepare a server taken out of its tree.
    fn get_srv(&mut self, srv: &[Srv], i: usize) {
        let g = &self.grp[srv[i].group() as usize];
        let p = &mut self.per[i];
        if p.lb_tree == g.init_loc() {
            p.npos = 0;
            p.rweight = 0;
        } else if p.lb_tree == g.next_loc() {
            p.npos = p.npos.wrapping_add(g.curr_weight as u32);
        } else if p.lb_tree == Loc::None {
            p.npos = g.curr_pos as u32;
        }
    }

    fn switch_trees(&mut self, g: usize) {
        let grp = &mut self.grp[g];
        grp.init ^= 1;
        grp.curr_weight = grp.next_weight;
        grp.curr_pos = grp.curr_weight;
    }

    /// fwrr_get_server_from_group.
    fn candidate(&mut self, srv: &[Srv], g: usize) -> Option<usize> {
        let grp = &self.grp[g];
        let s1 = grp.curr.first().map(|n| n.srv as usize);
        if let Some(s1) = s1 {
            if srv[s1].cur_eweight != 0 && self.per[s1].npos <= grp.curr_pos as u32 {
                return Some(s1);
            }
        }
        let init = grp.init;
        if let Some(s2) = grp.t[init].first().map(|n| n.srv as usize) {
            if srv[s2].cur_eweight != 0 {
                self.per[s2].npos = 0;
                self.per[s2].rweight = 0;
                return Some(s2);
            }
        }
        s1
    }

    /// fwrr_update_position.
    fn update_position(&mut self, srv: &[Srv], g: usize, i: usize) {
        let e = srv[i].cur_eweight;
        if e == 0 {
            return;
        }
        let grp = &self.grp[g];
        let p = &mut self.per[i];
        if p.npos == 0 {
            p.npos = grp.curr_pos as u32;
        }
        let nw = grp.next_weight as u32;
        p.lpos = p.npos;
        p.npos = p.npos.wrapping_add(nw / e);
        p.rweight = p.rweight.wrapping_add(nw % e);
        if p.rweight >= e {
            p.rweight -= e;
            p.npos = p.npos.wrapping_add(1);
        }
    }

    /// fwrr_get_next_server.
    pub fn next(&mut self, pool: &Pool, avoid: Option<usize>) -> Option<usize> {
        let srv = &pool.srv[..];
        let g = match pool.target() {
            Target::Group(g) => g as usize,
            Target::Single(f) => return Some(f),
            Target::Nothing => return None,
        };
        let mut switched = false;
        let mut avoided: Option<usize> = None;
        self.full.clear();
        let chosen: Option<usize> = 'search: loop {
            if self.grp[g].curr_weight == 0 {
                let grp = &mut self.grp[g];
                grp.curr_weight = grp.next_weight;
                grp.curr_pos = grp.next_weight;
            }
            let s = loop {
                if let Some(s) = self.candidate(srv, g) {
                    break s;
                }
                if switched {
                    if let Some(a) = avoided {
                        self.queue_srv(srv, a);
                        break 'search Some(a);
                    }
                    break 'search None;
                }
                switched = true;
                self.switch_trees(g);
            };
            self.update_position(srv, g, s);
            self.dequeue(srv, s);
            self.grp[g].curr_pos = self.grp[g].curr_pos.wrapping_add(1);
            if srv[s].has_room() {
                if Some(s) != avoid || avoided.is_some() {
                    self.queue_srv(srv, s);
                    break Some(s);
                }
                avoided = Some(s);
            }
            self.full.push(s);
        };
        // Requeue the servers passed over, most recent first as HAProxy's
        // chain runs: into "init" if the trees switched (their place is
        // lost), else as if they had been served.
        while let Some(f) = self.full.pop() {
            if Some(f) == chosen {
                continue;
            }
            if switched {
                let init = self.grp[g].init_loc();
                self.queue_by_weight(srv, init, f);
            } else {
                self.queue_srv(srv, f);
            }
        }
        chosen
    }

    /// fwrr_set_server_status_down, for a server that was usable.
    pub fn down(&mut self, srv: &[Srv], i: usize) {
        let g = srv[i].group() as usize;
        let grp = &mut self.grp[g];
        grp.next_weight = grp.next_weight.wrapping_sub(srv[i].cur_eweight as i32);
        self.dequeue(srv, i);
        self.per[i].lb_tree = Loc::None;
    }

    /// fwrr_set_server_status_up, for a server that was not usable.
    pub fn up(&mut self, srv: &[Srv], i: usize) {
        let g = srv[i].group() as usize;
        let e = srv[i].next_eweight;
        self.grp[g].next_weight = self.grp[g].next_weight.wrapping_add(e as i32);
        self.get_srv(srv, i);
        self.place_returning(srv, g, i);
        self.queue_srv(srv, i);
    }

    /// `npos = curr_pos + (next_weight + curr_weight - curr_pos) / eweight`,
    /// the division unsigned as in C.
    fn place_returning(&mut self, srv: &[Srv], g: usize, i: usize) {
        let grp = &self.grp[g];
        let e = srv[i].next_eweight.max(1);
        let span = grp
            .next_weight
            .wrapping_add(grp.curr_weight)
            .wrapping_sub(grp.curr_pos) as u32;
        self.per[i].npos = (grp.curr_pos as u32).wrapping_add(span / e);
    }

    /// fwrr_update_server_weight for a server usable before and after.
    pub fn reweight(&mut self, srv: &[Srv], i: usize) {
        let g = srv[i].group() as usize;
        let (cur, next) = (srv[i].cur_eweight, srv[i].next_eweight);
        let grp = &mut self.grp[g];
        grp.next_weight = grp
            .next_weight
            .wrapping_sub(cur as i32)
            .wrapping_add(next as i32);
        let lb_tree = self.per[i].lb_tree;
        if lb_tree == self.grp[g].init_loc() {
            self.dequeue(srv, i);
            let init = self.grp[g].init_loc();
            self.queue_by_weight(srv, init, i);
        } else if lb_tree == Loc::None {
            self.dequeue(srv, i);
            self.get_srv(srv, i);
            self.place_returning(srv, g, i);
            self.queue_srv(srv, i);
        } else {
            // In "curr" or "next": keep its place if it has not consumed
            // it, else move it by the new step.
            self.get_srv(srv, i);
            let grp = &self.grp[g];
            let p = &mut self.per[i];
            if let Some(step) = (grp.next_weight as u32).checked_div(next) {
                let step = step as i32;
                let prev_next = p.npos as i32;
                p.npos = p.lpos.wrapping_add(step as u32);
                p.rweight = 0;
                if p.npos > prev_next as u32 {
                    p.npos = prev_next as u32;
                }
                if p.npos < grp.curr_pos.wrapping_add(2) as u32 {
                    p.npos = (grp.curr_pos as u32).wrapping_add(step as u32);
                }
            } else {
                p.npos = grp.curr_pos.wrapping_add(grp.curr_weight) as u32;
            }
            self.dequeue(srv, i);
            self.queue_srv(srv, i);
        }
    }

    #[cfg(test)]
    pub fn group_weights(&self, g: super::pool::Group) -> (i32, i32, i32) {
        let grp = &self.grp[g as usize];
        (grp.curr_pos, grp.curr_weight, grp.next_weight)
    }
}
