//! systemd's watchdog (`WatchdogSec=`): the control thread pets it only
//! while every dataplane worker makes progress. A worker counts its loop
//! turns (`poll_iterations`), and even an idle one turns at least every
//! 50 ms (its poll timeout), so a count that stands still is a worker
//! stuck, and systemd is let to restart the daemon.

use std::time::{Duration, Instant};

/// The watchdog interval systemd asks for: `WATCHDOG_USEC`, if
/// `WATCHDOG_PID` (when set) is this process (sd_watchdog_enabled(3)).
pub fn interval(usec: Option<&str>, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.parse::<u32>().ok()? != me {
            return None;
        }
    }
    match usec?.parse::<u64>().ok()? {
        0 => None,
        us => Some(Duration::from_micros(us)),
    }
}

/// What to do at a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pet,
    /// Everything moves; petted recently enough.
    NotYet,
    /// This worker's counter has not moved for this long: no petting.
    Stalled {
        worker: usize,
        since: Duration,
    },
}

/// The decision, with an explicit clock.
#[derive(Debug)]
pub struct Watchdog {
    interval: Duration,
    last_pet: Option<Instant>,
    /// Each worker's last count and when it last changed.
    seen: Vec<(u64, Instant)>,
}

impl Watchdog {
    pub fn new(interval: Duration) -> Watchdog {
        Watchdog {
            interval,
            last_pet: None,
            seen: Vec::new(),
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long a worker's counter may stand still: half the interval
    /// leaves the other half for the pet to reach systemd.
    pub fn stall_limit(&self) -> Duration {
        self.interval / 2
    }

    /// Look at the workers' counters (one per worker, in order) at `now`.
    pub fn check(&mut self, now: Instant, progress: &[u64]) -> Verdict {
        if self.seen.len() != progress.len() {
            // First look, or the workers changed: every count is new.
            self.seen = progress.iter().map(|&c| (c, now)).collect();
        }
        let limit = self.stall_limit();
        let mut stalled = None;
        for (i, (&count, seen)) in progress.iter().zip(self.seen.iter_mut()).enumerate() {
            if count != seen.0 {
                *seen = (count, now);
            }
            let since = now.saturating_duration_since(seen.1);
            if since > limit && stalled.is_none() {
                stalled = Some(Verdict::Stalled { worker: i, since });
            }
        }
        if let Some(v) = stalled {
            return v;
        }
        // Four pets an interval: one late control-loop turn (a reload
        // building a large table) does not cost the daemon its life.
        let due = self
            .last_pet
            .is_none_or(|t| now.saturating_duration_since(t) >= self.interval / 4);
        if due {
            self.last_pet = Some(now);
            Verdict::Pet
        } else {
            Verdict::NotYet
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn interval_comes_from_watchdog_usec_for_this_pid() {
        assert_eq!(interval(Some("20000000"), None, 7), Some(20 * SEC));
        assert_eq!(interval(Some("20000000"), Some("7"), 7), Some(20 * SEC));
        assert_eq!(
            interval(Some("20000000"), Some("8"), 7),
            None,
            "another process's"
        );
        assert_eq!(interval(Some("0"), None, 7), None);
        assert_eq!(interval(Some("soon"), None, 7), None);
        assert_eq!(interval(None, None, 7), None);
    }

    #[test]
    fn moving_workers_are_petted_four_times_an_interval() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(4 * SEC);
        assert_eq!(w.check(t0, &[1, 1]), Verdict::Pet);
        let step = Duration::from_millis(100);
        let mut pets = 0;
        for i in 1..=40u64 {
            // 4 s of 100 ms control-loop turns, both workers turning.
            if w.check(t0 + step * i as u32, &[1 + i, 1 + 2 * i]) == Verdict::Pet {
                pets += 1;
            }
        }
        assert_eq!(pets, 4);
    }

    #[test]
    fn a_stuck_worker_stops_the_petting_after_half_the_interval() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(4 * SEC);
        assert_eq!(w.check(t0, &[10, 10]), Verdict::Pet);
        // Worker 1 stops at 10; worker 0 goes on.
        assert_eq!(w.check(t0 + SEC, &[20, 10]), Verdict::Pet);
        assert_eq!(w.check(t0 + 2 * SEC, &[30, 10]), Verdict::Pet);
        let v = w.check(t0 + 2 * SEC + Duration::from_millis(100), &[40, 10]);
        assert_eq!(
            v,
            Verdict::Stalled {
                worker: 1,
                since: 2 * SEC + Duration::from_millis(100)
            }
        );
        assert!(matches!(
            w.check(t0 + 3 * SEC, &[50, 10]),
            Verdict::Stalled { worker: 1, .. }
        ));
        // It moves again: petting resumes.
        assert_eq!(w.check(t0 + 4 * SEC, &[60, 11]), Verdict::Pet);
    }

    #[test]
    fn no_workers_means_nothing_can_stall() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(SEC);
        assert_eq!(w.check(t0, &[]), Verdict::Pet);
        assert_eq!(w.check(t0 + 10 * SEC, &[]), Verdict::Pet);
    }

    #[test]
    fn a_changed_worker_set_starts_afresh() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(2 * SEC);
        assert_eq!(w.check(t0, &[5]), Verdict::Pet);
        // Two workers now, long after: the new list is not judged stuck.
        assert_eq!(w.check(t0 + 10 * SEC, &[5, 0]), Verdict::Pet);
    }
}
