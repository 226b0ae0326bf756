//! The dashboard's memory: per-second rates of the counters worth a chart,
//! kept in a bounded ring so that a page opened now shows the last minutes.
//! Pure (the caller passes the clock), so tests drive it sample by sample.

use crate::api::{ServiceStatus, Status};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

/// Samples kept when the director is small: five minutes at one a second.
pub const MAX_SAMPLES: usize = 300;
/// Values kept in all (4 bytes each): a director with thousands of series
/// keeps fewer samples rather than more memory (1000 services of 10 real
/// servers are ~33 000 series, so ~30 samples).
pub const BUDGET: usize = 1 << 20;
/// Samples kept whatever the budget says: a chart needs a few points.
pub const MIN_SAMPLES: usize = 10;

/// The name a service goes by in series names (and in the page, which
/// builds the same): its key, which stays while names may repeat.
pub fn service_id(s: &ServiceStatus) -> String {
    format!("{}/{}/{}", s.protocol, s.address, s.port)
}

/// The monotonic counters a chart shows the rate of, by series name:
/// `svc:ID:{conns,packets,bytes,drops}`, `real:ID/ADDR/PORT:{conns,packets,bytes}`,
/// `workers:{rx,drops}`, `fe:NAME:{total,bytes}`, `be:NAME:{total,bytes}`,
/// `srv:BACKEND/NAME:total`, `sync:{sent,received}`.
pub fn counters(s: &Status) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    for v in &s.services {
        let id = service_id(v);
        let t = &v.traffic;
        out.push((format!("svc:{id}:conns"), t.conns));
        out.push((format!("svc:{id}:packets"), t.packets_in + t.packets_out));
        out.push((format!("svc:{id}:bytes"), t.bytes_in + t.bytes_out));
        out.push((format!("svc:{id}:drops"), t.total_drops()));
        for r in &v.reals {
            let t = &r.traffic;
            let rid = format!("{id}/{}/{}", r.address, r.port);
            out.push((format!("real:{rid}:conns"), t.conns));
            out.push((format!("real:{rid}:packets"), t.packets_in + t.packets_out));
            out.push((format!("real:{rid}:bytes"), t.bytes_in + t.bytes_out));
        }
    }
    if !s.workers.is_empty() {
        let rx = s.workers.iter().map(|w| w.rx_packets).sum();
        let drops = s.workers.iter().flat_map(|w| w.drops.values()).sum();
        out.push(("workers:rx".into(), rx));
        out.push(("workers:drops".into(), drops));
    }
    if let Some(p) = &s.proxy {
        for f in &p.frontends {
            let c = &f.counters;
            out.push((format!("fe:{}:total", f.name), c.total));
            out.push((format!("fe:{}:bytes", f.name), c.bytes_in + c.bytes_out));
        }
        for b in &p.backends {
            let c = &b.counters;
            out.push((format!("be:{}:total", b.name), c.total));
            out.push((format!("be:{}:bytes", b.name), c.bytes_in + c.bytes_out));
            for srv in &b.servers {
                out.push((
                    format!("srv:{}/{}:total", b.name, srv.name),
                    srv.counters.total,
                ));
            }
        }
    }
    if let Some(y) = &s.sync {
        out.push(("sync:sent".into(), y.sent_conns));
        out.push(("sync:received".into(), y.received_conns));
    }
    out
}

/// Rates per second, aligned: `series[name][i]` is the rate over the
/// second that ended at `times[i]`; NaN where the series did not exist.
#[derive(Debug, Default)]
pub struct History {
    times: VecDeque<u64>,
    series: HashMap<String, VecDeque<f32>>,
    /// The previous reading: when (on the caller's monotonic clock) and what.
    last: Option<(Duration, HashMap<String, u64>)>,
}

/// A part of the history as the page fetches it.
#[derive(Debug, Serialize)]
pub struct Slice<'a> {
    /// Milliseconds since 1970 of each sample.
    pub t: Vec<u64>,
    /// Per second; `null` where the series did not exist.
    pub series: BTreeMap<&'a str, Vec<f32>>,
}

impl History {
    /// Take a reading at `wall_ms` (milliseconds since 1970, for display)
    /// and `mono` (a monotonic clock, for the rates): from the second
    /// reading on, a sample of rates since the previous one.
    pub fn record(&mut self, wall_ms: u64, mono: Duration, counters: Vec<(String, u64)>) {
        let now: HashMap<String, u64> = counters.into_iter().collect();
        let Some((then, before)) = self.last.replace((mono, now)) else {
            return;
        };
        let secs = mono.saturating_sub(then).as_secs_f64();
        if secs <= 0.0 {
            return;
        }
        let now = &self.last.as_ref().expect("just stored").1;
        let n = self.times.len();
        for (name, v) in now {
            // A counter that went back (a real server removed and added
            // again) has no rate for this second.
            let rate = before
                .get(name)
                .filter(|b| **b <= *v)
                .map_or(f32::NAN, |b| ((v - b) as f64 / secs) as f32);
            self.series
                .entry(name.clone())
                .or_insert_with(|| std::iter::repeat_n(f32::NAN, n).collect())
                .push_back(rate);
        }
        for values in self.series.values_mut() {
            if values.len() == n {
                values.push_back(f32::NAN); // gone this second
            }
        }
        self.times.push_back(wall_ms);
        let keep = self.capacity();
        while self.times.len() > keep {
            self.times.pop_front();
            for values in self.series.values_mut() {
                values.pop_front();
            }
        }
        // A series with nothing left to show is forgotten.
        self.series.retain(|_, v| v.iter().any(|x| !x.is_nan()));
    }

    /// Samples kept: as many as the budget allows for this many series.
    pub fn capacity(&self) -> usize {
        (BUDGET / self.series.len().max(1)).clamp(MIN_SAMPLES, MAX_SAMPLES)
    }

    pub fn len(&self) -> usize {
        self.times.len()
    }

    pub fn is_empty(&self) -> bool {
        self.times.is_empty()
    }

    /// The samples taken after `after_ms` (all of them for `None`).
    pub fn since(&self, after_ms: Option<u64>) -> Slice<'_> {
        let skip = after_ms.map_or(0, |a| self.times.iter().take_while(|t| **t <= a).count());
        Slice {
            t: self.times.iter().skip(skip).copied().collect(),
            series: self
                .series
                .iter()
                .map(|(k, v)| (k.as_str(), v.iter().skip(skip).copied().collect()))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn c(list: &[(&str, u64)]) -> Vec<(String, u64)> {
        list.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn rates_are_the_difference_over_the_time_between_readings() {
        let mut h = History::default();
        h.record(1000, secs(1), c(&[("a", 10)]));
        assert!(h.is_empty(), "one reading has no rate yet");
        h.record(3000, secs(3), c(&[("a", 50)]));
        h.record(4000, secs(4), c(&[("a", 50)]));
        let s = h.since(None);
        assert_eq!(s.t, vec![3000, 4000]);
        assert_eq!(s.series["a"], vec![20.0, 0.0]);
    }

    #[test]
    fn series_that_come_and_go_stay_aligned_with_the_times() {
        let mut h = History::default();
        h.record(0, secs(0), c(&[("a", 0)]));
        h.record(1000, secs(1), c(&[("a", 5), ("b", 7)]));
        h.record(2000, secs(2), c(&[("b", 9)]));
        let s = h.since(None);
        assert_eq!(s.t.len(), 2);
        assert_eq!(s.series["a"].len(), 2);
        assert_eq!(s.series["a"][0], 5.0);
        assert!(s.series["a"][1].is_nan(), "a is gone");
        assert!(s.series["b"][0].is_nan(), "b had no earlier reading");
        assert_eq!(s.series["b"][1], 2.0);
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains(r#""a":[5.0,null]"#), "{json}");
    }

    #[test]
    fn a_counter_that_went_back_has_no_rate() {
        let mut h = History::default();
        h.record(0, secs(0), c(&[("a", 100)]));
        h.record(1000, secs(1), c(&[("a", 3)]));
        h.record(2000, secs(2), c(&[("a", 4)]));
        let a = &h.since(None).series["a"];
        assert!(a[0].is_nan());
        assert_eq!(a[1], 1.0);
    }

    #[test]
    fn since_gives_only_the_later_samples() {
        let mut h = History::default();
        for i in 0..5u64 {
            h.record(i * 1000, secs(i), c(&[("a", i * i)]));
        }
        let s = h.since(Some(2000));
        assert_eq!(s.t, vec![3000, 4000]);
        assert_eq!(s.series["a"], vec![5.0, 7.0]);
        assert!(h.since(Some(4000)).t.is_empty());
        assert_eq!(h.since(Some(4000)).series["a"], Vec::<f32>::new());
    }

    #[test]
    fn the_ring_keeps_five_minutes_and_forgets_dead_series() {
        let mut h = History::default();
        h.record(0, secs(0), c(&[("a", 0), ("old", 0)]));
        h.record(1000, secs(1), c(&[("a", 1), ("old", 1)]));
        for i in 2..1000u64 {
            h.record(i * 1000, secs(i), c(&[("a", i)]));
        }
        assert_eq!(h.len(), MAX_SAMPLES);
        let s = h.since(None);
        assert_eq!(*s.t.last().unwrap(), 999_000);
        assert_eq!(s.series["a"].len(), MAX_SAMPLES);
        assert!(!s.series.contains_key("old"), "scrolled out entirely");
    }

    #[test]
    fn a_large_director_keeps_fewer_samples_within_the_budget() {
        let mut h = History::default();
        let n = 20_000u64;
        for i in 0..(BUDGET as u64 / n + 10) {
            let all = (0..n).map(|k| (format!("s{k}"), i)).collect();
            h.record(i * 1000, secs(i), all);
        }
        assert_eq!(h.capacity(), (BUDGET / n as usize).max(MIN_SAMPLES));
        assert_eq!(h.len(), h.capacity());
        assert!(h.len() * n as usize <= BUDGET.max(MIN_SAMPLES * n as usize));
    }
}
