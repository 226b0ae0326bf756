//! Schedulers: pick a real server for a new connection, with IPVS semantics.
//!
//! Every scheduler implements `Scheduler`; a worker holds one instance per
//! virtual service, built when it adopts a snapshot (so rebuilding per-service
//! state such as a Maglev table happens off the hot path). The input is the
//! service's real servers, their shared active/inactive gauges and the flow's
//! tuple (for the hashing schedulers).

mod failover;
mod hash;
mod lc;
mod locality;
pub mod maglev;
mod rr;
mod sed;
mod wrr;

use crate::conn::FlowKey;
use crate::snapshot::RealServer;
use crate::stats::ConnGauge;

pub use lc::{LeastConn, WeightedLeastConn};
pub use rr::RoundRobin;
pub use wrr::WeightedRoundRobin;

/// What a scheduler sees of the service when it picks.
pub struct Candidates<'a> {
    pub reals: &'a [RealServer],
    /// Indexed by `RealServer::id`.
    pub gauges: &'a [ConnGauge],
}

impl Candidates<'_> {
    /// Whether server `i` may take a new connection now: schedulable, and
    /// not above its upper connection threshold (IPVS's OVERLOAD flag).
    #[inline]
    pub fn available(&self, i: usize) -> bool {
        let r = &self.reals[i];
        r.schedulable() && !self.gauges[r.id as usize].overloaded()
    }

    /// IPVS's `ip_vs_dest_conn_overhead`: active connections weigh 256
    /// times an inactive one.
    pub fn overhead(&self, i: usize) -> u64 {
        let g = &self.gauges[self.reals[i].id as usize];
        (g.active() << 8) + g.inactive()
    }
}

/// Greatest common divisor of weights (wrr steps, Maglev turns).
pub(crate) fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Among the schedulable servers in `ids`, the one with the least
/// `overhead(i) / weight`, the first on ties; compared as IPVS does
/// (loh * dw > doh * lw), in u128 so large weights cannot overflow.
pub(crate) fn least_by(
    c: &Candidates<'_>,
    ids: impl Iterator<Item = usize>,
    overhead: impl Fn(usize) -> u64,
) -> Option<usize> {
    let mut best: Option<(usize, u128, u128)> = None;
    for i in ids {
        let r = &c.reals[i];
        if !c.available(i) {
            continue;
        }
        let (oh, w) = (u128::from(overhead(i)), u128::from(r.weight));
        match best {
            Some((_, boh, bw)) if boh * w <= oh * bw => {}
            _ => best = Some((i, oh, w)),
        }
    }
    best.map(|(i, _, _)| i)
}

pub trait Scheduler: Send {
    /// Index into `c.reals` of the server for a new connection, or `None`
    /// when no server may take one.
    fn schedule(&mut self, c: &Candidates<'_>, flow: &FlowKey) -> Option<usize>;
}

pub use xlb_model::sched::{SchedulerKind, UnknownScheduler};

/// A fresh scheduler of `kind` for a service with these real servers.
pub fn build(kind: SchedulerKind, reals: &[RealServer]) -> Box<dyn Scheduler> {
    match kind {
        SchedulerKind::Rr => Box::new(RoundRobin::default()),
        SchedulerKind::Wrr => Box::new(WeightedRoundRobin::new(reals)),
        SchedulerKind::Lc => Box::new(LeastConn),
        SchedulerKind::Wlc => Box::new(WeightedLeastConn),
        SchedulerKind::Lblc => Box::new(locality::Lblc::new()),
        SchedulerKind::Lblcr => Box::new(locality::Lblcr::new()),
        SchedulerKind::Dh => Box::new(hash::TableHash::new(reals, false)),
        SchedulerKind::Sh => Box::new(hash::TableHash::new(reals, true)),
        SchedulerKind::Sed => Box::new(sed::ShortestExpectedDelay { never_queue: false }),
        SchedulerKind::Nq => Box::new(sed::ShortestExpectedDelay { never_queue: true }),
        SchedulerKind::Mh => Box::new(maglev::Maglev::new(reals)),
        SchedulerKind::Fo => Box::new(failover::WeightedFailover { overflow: false }),
        SchedulerKind::Ovf => Box::new(failover::WeightedFailover { overflow: true }),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::stats::new_gauges;
    use std::sync::Arc;
    use xlb_model::Address;

    pub fn reals(weights: &[u32]) -> Vec<RealServer> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| RealServer {
                id: i as u32,
                addr: Address::v4(0x0a00_0000 + i as u32),
                port: 80,
                weight: w,
                egress: 0,
                mac: Some([2, 0, 0, 0, 0, i as u8]),
                gateway: None,
                enabled: true,
                u_threshold: 0,
                l_threshold: 0,
            })
            .collect()
    }

    pub fn flow(n: u32) -> FlowKey {
        FlowKey {
            src: Address::v4(n),
            dst: Address::v4(1),
            sport: (n % 60000) as u16,
            dport: 80,
            proto: 6,
        }
    }

    /// Run `n` picks, counting each pick as a new active connection (or not).
    pub fn picks(
        kind: SchedulerKind,
        reals: &[RealServer],
        n: u32,
        count_active: bool,
    ) -> (Vec<usize>, Arc<[ConnGauge]>) {
        let gauges = new_gauges();
        let mut s = build(kind, reals);
        let mut out = Vec::new();
        for i in 0..n {
            let c = Candidates {
                reals,
                gauges: &gauges,
            };
            let Some(p) = s.schedule(&c, &flow(i)) else {
                break;
            };
            if count_active {
                gauges[reals[p].id as usize].change(None, Some(true));
            }
            out.push(p);
        }
        (out, gauges)
    }

    #[test]
    fn no_scheduler_gives_a_drained_or_disabled_server_a_connection() {
        for kind in SchedulerKind::ALL {
            for out in ["drained", "disabled"] {
                let mut rs = reals(&[2, 3, 1]);
                match out {
                    "drained" => rs[1].weight = 0,
                    _ => rs[1].enabled = false,
                }
                let (p, _) = picks(kind, &rs, 3000, false);
                assert!(
                    !p.is_empty(),
                    "{kind} {out}: the others still take connections"
                );
                assert!(
                    p.iter().all(|&i| i != 1),
                    "{kind}: a {out} server got a new connection"
                );
            }
        }
    }

    #[test]
    fn a_hashing_schedulers_clients_of_a_drained_server_move_and_come_back() {
        for kind in [SchedulerKind::Sh, SchedulerKind::Mh] {
            let rs = reals(&[1, 1, 1]);
            let (before, _) = picks(kind, &rs, 3000, false);
            let mut drained = rs.clone();
            drained[0].weight = 0;
            let (during, _) = picks(kind, &drained, 3000, false);
            let (after, _) = picks(kind, &rs, 3000, false);
            assert_eq!(before, after, "{kind}: clients return to their server");
            let moved_others = before
                .iter()
                .zip(&during)
                .filter(|(b, d)| **b != 0 && b != d)
                .count();
            let others = before.iter().filter(|&&b| b != 0).count();
            // Maglev moves only the drained server's clients (a few slots
            // at most); sh rebuilds its table, so others move too.
            if kind == SchedulerKind::Mh {
                assert!(
                    moved_others * 50 < others,
                    "{kind}: {moved_others} of {others} moved"
                );
            }
        }
    }

    #[test]
    fn weighted_schedulers_share_in_proportion_to_weight() {
        // Connections accumulate as active (none closes): every weighted
        // scheduler should give weights 1:2:3 about 1/6, 2/6, 3/6.
        let rs = reals(&[1, 2, 3]);
        for kind in [
            SchedulerKind::Wrr,
            SchedulerKind::Wlc,
            SchedulerKind::Sed,
            SchedulerKind::Sh,
            SchedulerKind::Mh,
        ] {
            let (p, _) = picks(kind, &rs, 6000, true);
            assert_eq!(p.len(), 6000, "{kind}: a pick failed");
            for (i, want) in [(0usize, 1.0 / 6.0), (1, 2.0 / 6.0), (2, 3.0 / 6.0)] {
                let got = p.iter().filter(|&&x| x == i).count() as f64 / 6000.0;
                assert!(
                    (got - want).abs() < 0.04,
                    "{kind}: server {i} got {got:.3}, want {want:.3}"
                );
            }
        }
        // Unweighted ones spread evenly.
        for kind in [SchedulerKind::Rr, SchedulerKind::Lc] {
            let (p, _) = picks(kind, &rs, 6000, true);
            for i in 0..3 {
                assert_eq!(p.iter().filter(|&&x| x == i).count(), 2000, "{kind}");
            }
        }
    }
}
