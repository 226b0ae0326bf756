//! `sed` and `nq` (ip_vs_sed.c, ip_vs_nq.c): shortest expected delay,
//! (active + 1) / weight, inactive connections ignored; `nq` first takes
//! any idle server (no active connection).

use super::{Candidates, Scheduler};
use crate::conn::FlowKey;

pub struct ShortestExpectedDelay {
    pub never_queue: bool,
}

impl Scheduler for ShortestExpectedDelay {
    fn schedule(&mut self, c: &Candidates<'_>, _flow: &FlowKey) -> Option<usize> {
        let active = |i: usize| c.gauges[c.reals[i].id as usize].active();
        if self.never_queue {
            if let Some(idle) = (0..c.reals.len()).find(|&i| c.available(i) && active(i) == 0) {
                return Some(idle);
            }
        }
        super::least_by(c, 0..c.reals.len(), |i| active(i) + 1)
    }
}

#[cfg(test)]
mod tests {
    use crate::sched::testing::{picks, reals};
    use crate::sched::SchedulerKind;

    #[test]
    fn sed_sequence_counts_the_new_connection() {
        // weights A=1, B=3, expected delay (active+1)/weight:
        // 1 vs 1/3: B; 1 vs 2/3: B; 1 vs 1: A (first on ties); 2 vs 1: B;
        // 2 vs 4/3: B; 2 vs 5/3: B; 2 vs 2: A; 3 vs 2: B.
        let (p, _) = picks(SchedulerKind::Sed, &reals(&[1, 3]), 8, true);
        assert_eq!(p, vec![1, 1, 0, 1, 1, 1, 0, 1]);
    }

    #[test]
    fn nq_prefers_an_idle_server_whatever_the_weights() {
        let (p, _) = picks(SchedulerKind::Nq, &reals(&[1, 100, 1]), 3, true);
        assert_eq!(p, vec![0, 1, 2]);
    }
}
