//! Map-based lookup (lb_map.c): `static-rr` and `hash-type map-based`.
//!
//! The map holds `tot_weight` slots, each naming a server, spread by
//! recalc_server_map's smooth weighted interleave. Round robin walks it;
//! hashing indexes it by `hash % tot_weight`.

use super::pool::{Pool, Srv};

#[derive(Debug, Clone, Default)]
pub(crate) struct Map {
    slots: Vec<Option<u32>>,
    /// The next slot for round robin (`lbprm.map.rr_idx`).
    rr_idx: u32,
    /// The gcd of all configured weights (`lbprm.wmult`).
    wmult: u32,
    /// recalc_server_map's per-server score (`srv->wscore`).
    wscore: Vec<u32>,
}

/// The gcd of the configured weights as init_server_map computes it: from
/// the first non-zero weight on, in declaration order, stopping at 1. A zero
/// weight leaves it unchanged.
pub(crate) fn weights_gcd(weights: impl Iterator<Item = u32>) -> u32 {
    let mut it = weights.skip_while(|&w| w == 0);
    let Some(mut g) = it.next() else {
        return 1;
    };
    for w in it {
        if g <= 1 {
            break;
        }
        let mut w = w;
        while w != 0 {
            let t = g % w;
            g = w;
            w = t;
        }
    }
    g
}

impl Map {
    /// init_server_map: the weight divisor from the configured weights.
    pub fn new(srv: &[Srv]) -> Map {
        Map {
            slots: Vec::new(),
            rr_idx: 0,
            wmult: weights_gcd(srv.iter().map(|s| s.uweight)),
            wscore: vec![0; srv.len()],
        }
    }

    /// The effective weight of a user weight: `(uweight * wdiv + wmult - 1)
    /// / wmult` with wdiv = 1 for map-based algorithms.
    pub fn eweight(&self, uweight: u32) -> u32 {
        let m = self.wmult.max(1);
        (uweight.saturating_add(m - 1)) / m
    }

    /// recalc_server_map. The class is the active servers if any is usable,
    /// else the backups; note that HAProxy spreads *every* usable backup
    /// over `tot_weight` slots even when only the first backup is meant to
    /// be used (tot_weight is then that backup's weight), and so do we.
    pub fn rebuild(&mut self, pool: &Pool) {
        if pool.tot_used == 0 {
            // HAProxy leaves the old map in place; it is never read since
            // tot_weight is 0.
            return;
        }
        let tot = pool.tot_weight;
        let backup = pool.srv_act == 0;
        self.slots.clear();
        self.wscore.clear();
        self.wscore.resize(pool.srv.len(), 0);
        for _ in 0..tot {
            let mut max: i32 = 0;
            let mut best: Option<usize> = None;
            for (i, s) in pool.srv.iter().enumerate() {
                if s.backup != backup || !s.willbe_usable() {
                    continue;
                }
                if tot == 1 {
                    // HAProxy stops at the first one to avoid a division
                    // overflow; its score is not maintained then.
                    best = Some(i);
                    break;
                }
                self.wscore[i] = self.wscore[i].wrapping_add(s.next_eweight);
                // `int v = (wscore + tot) / tot` in unsigned arithmetic.
                let v = (self.wscore[i].wrapping_add(tot) / tot) as i32;
                if best.is_none() || v > max {
                    max = v;
                    best = Some(i);
                }
            }
            self.slots.push(best.map(|b| b as u32));
            if let Some(b) = best {
                self.wscore[b] = self.wscore[b].wrapping_sub(tot);
            }
        }
    }

    /// map_get_server_rr: the next slot whose server has room, skipping the
    /// server to avoid unless it is the only one with room.
    pub fn get_rr(&mut self, pool: &Pool, avoid: Option<usize>) -> Option<usize> {
        let tot = pool.tot_weight.min(self.slots.len() as u32);
        if tot == 0 {
            return None;
        }
        if self.rr_idx >= tot {
            self.rr_idx = 0;
        }
        let mut newidx = self.rr_idx;
        let mut avoided: Option<(usize, u32)> = None;
        loop {
            let slot = self.slots[newidx as usize];
            newidx += 1;
            if let Some(s) = slot.map(|s| s as usize) {
                if pool.srv[s].has_room() {
                    // HAProxy remembers every candidate with room here, not
                    // only the avoided one.
                    avoided = Some((s, newidx));
                    if Some(s) != avoid {
                        self.rr_idx = newidx;
                        return Some(s);
                    }
                }
            }
            if newidx == tot {
                newidx = 0;
            }
            if newidx == self.rr_idx {
                break;
            }
        }
        let (s, idx) = avoided?;
        self.rr_idx = idx;
        Some(s)
    }

    /// map_get_server_hash: the slot `hash % tot_weight`, full or not.
    pub fn get_hash(&self, pool: &Pool, hash: u32) -> Option<usize> {
        let tot = pool.tot_weight.min(self.slots.len() as u32);
        if tot == 0 {
            return None;
        }
        self.slots[(hash % tot) as usize].map(|s| s as usize)
    }

    #[cfg(test)]
    pub fn layout(&self) -> Vec<usize> {
        self.slots
            .iter()
            .map(|s| s.map_or(usize::MAX, |s| s as usize))
            .collect()
    }
}
