//! The weight policy: what the configuration says, combined with health
//! verdicts, run-time overrides, slow-start ramps and quorum, decides the
//! weights and the enabled flags the workers schedule with. No I/O and an
//! explicit clock (every call takes `now`), as the VRRP state machine, so
//! every rule is tested alone.
//!
//! The order of the rules, as keepalived and ipvsadm apply them: a health
//! verdict first (a down server leaves the pool, or keeps weight 0 with
//! inhibit_on_failure; a MISC_CHECK may set a dynamic weight), then the
//! operator's override (`xlbctl set-weight | drain | disable`), then the
//! slow-start ramp of a server that joined or came back.

use crate::config::{CheckDef, Config, Quorum};
use std::collections::HashMap;
use std::time::Instant;
use xlb_checks::{CheckSpec, Health, Report};
use xlb_dataplane::snapshot::{RealId, Snapshot};
use xlb_model::{RealKey, ServiceKey};

/// `xlbctl set-weight | drain | disable | enable`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverrideOp {
    Weight(u32),
    Disable,
    Enable,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Override {
    weight: Option<u32>,
    disabled: bool,
}

/// What listings show beside the published weights.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Published {
    /// Weights as configured (before verdicts, overrides and ramps).
    pub configured: HashMap<RealId, u32>,
    /// Health of checked servers: "up" or "down: why".
    pub health: HashMap<RealId, String>,
}

#[derive(Debug, Default)]
pub struct Policy {
    overrides: HashMap<RealKey, Override>,
    /// The checks the configuration asks for, and their last verdicts
    /// (absent: up, nothing reported yet).
    checks: HashMap<RealKey, CheckDef>,
    verdicts: HashMap<RealKey, Report>,
    /// Servers ramping up, since when.
    ramps: HashMap<RealKey, Instant>,
    /// Per service: quorum held now (absent: held).
    quorum_up: HashMap<ServiceKey, bool>,
}

/// Slow start: the weight a server has `progress` (0..1) into its ramp,
/// never below 1 (it must get some traffic to warm up).
pub fn ramped(weight: u32, progress: f64) -> u32 {
    ((f64::from(weight) * progress).ceil() as u32).clamp(1, weight)
}

fn slow_start_of(cfg: &Config, key: &RealKey) -> u32 {
    cfg.service(&key.service).map_or(0, |s| s.slow_start)
}

impl Policy {
    pub fn new() -> Policy {
        Policy::default()
    }

    /// Follow a configuration (the first, or a reload of `old`): servers
    /// it removed lose their overrides, servers it added ramp up, and the
    /// checks are planned afresh; a check that did not change keeps its
    /// verdict. Returns the checks to run.
    pub fn configure(
        &mut self,
        old: Option<&Config>,
        new: &Config,
        now: Instant,
    ) -> HashMap<RealKey, CheckSpec> {
        let keys: HashMap<RealKey, u32> = new.reals().map(|(k, s, _)| (k, s.slow_start)).collect();
        self.overrides.retain(|k, _| keys.contains_key(k));
        self.ramps.retain(|k, _| keys.contains_key(k));
        if let Some(old) = old {
            let before: std::collections::HashSet<RealKey> =
                old.reals().map(|(k, _, _)| k).collect();
            for (k, slow) in &keys {
                if *slow > 0 && !before.contains(k) {
                    self.ramps.insert(*k, now);
                }
            }
        }
        let checks: HashMap<RealKey, CheckDef> = new
            .reals()
            .filter_map(|(k, _, r)| Some((k, r.check.clone()?)))
            .collect();
        self.verdicts
            .retain(|k, _| checks.get(k).map(|c| &c.spec) == self.checks.get(k).map(|c| &c.spec));
        self.checks = checks;
        self.quorum_up
            .retain(|k, _| new.services.iter().any(|s| s.key == *k));
        self.checks
            .iter()
            .map(|(k, c)| (*k, c.spec.clone()))
            .collect()
    }

    /// A check's new verdict. `None` if no check of the configuration is
    /// behind it (one a reload removed); else the notify commands to run.
    pub fn report(
        &mut self,
        cfg: &Config,
        key: RealKey,
        report: Report,
        now: Instant,
    ) -> Option<Vec<String>> {
        if !self.checks.contains_key(&key) {
            return None;
        }
        let def = cfg.real(&key).map(|(_, r)| r);
        let command = match report.health {
            Health::Up => def.and_then(|r| r.notify_up.clone()),
            Health::Down => def.and_then(|r| r.notify_down.clone()),
        };
        let was_down = self
            .verdicts
            .get(&key)
            .is_some_and(|v| v.health == Health::Down);
        if was_down && report.health == Health::Up && slow_start_of(cfg, &key) > 0 {
            self.ramps.insert(key, now);
        }
        self.verdicts.insert(key, report);
        Some(command.into_iter().collect())
    }

    /// An operator's run-time change; kept across reloads while the server
    /// exists. Returns what it did, in words.
    pub fn override_real(
        &mut self,
        cfg: &Config,
        key: RealKey,
        op: OverrideOp,
        now: Instant,
    ) -> Result<String, String> {
        if let OverrideOp::Weight(w) = op {
            if w > 65535 {
                return Err(format!("weight {w} is out of range; use 0 to 65535"));
            }
        }
        let entry = self.overrides.entry(key).or_default();
        match op {
            OverrideOp::Weight(w) => entry.weight = Some(w),
            OverrideOp::Disable => entry.disabled = true,
            OverrideOp::Enable => {
                *entry = Override::default();
                if slow_start_of(cfg, &key) > 0 {
                    self.ramps.insert(key, now);
                }
            }
        }
        if *entry == Override::default() {
            self.overrides.remove(&key);
        }
        Ok(match op {
            OverrideOp::Weight(0) => "drained (weight 0, connections continue)".to_string(),
            OverrideOp::Weight(w) => format!("weight {w}"),
            OverrideOp::Disable => "disabled (no new connections, existing continue)".to_string(),
            OverrideOp::Enable => "enabled with its configured weight".to_string(),
        })
    }

    /// How far (0..1) a server is into its slow start, if it is ramping.
    fn ramp(&self, cfg: &Config, key: &RealKey, now: Instant) -> Option<f64> {
        let since = self.ramps.get(key)?;
        let secs = slow_start_of(cfg, key);
        let progress = now.saturating_duration_since(*since).as_secs_f64() / f64::from(secs.max(1));
        (secs > 0 && progress < 1.0).then_some(progress)
    }

    /// Whether weights must be published again because servers ramp: true
    /// while some server ramps, and once more when the last ramp ended
    /// (its full weight). Finished ramps are forgotten.
    pub fn ramps_to_publish(&mut self, cfg: &Config, now: Instant) -> bool {
        let any = !self.ramps.is_empty();
        let done: Vec<RealKey> = self
            .ramps
            .keys()
            .filter(|k| self.ramp(cfg, k, now).is_none())
            .copied()
            .collect();
        for k in done {
            self.ramps.remove(&k);
        }
        any
    }

    /// Set every real server's published weight and enabled flag in a
    /// freshly built snapshot (whose weights are the configured ones).
    pub fn apply(&self, cfg: &Config, snap: &mut Snapshot, now: Instant) -> Published {
        let mut out = Published::default();
        for s in &mut snap.services {
            let service = s.key;
            for r in &mut s.reals {
                let key = RealKey::new(service, r.addr.ip(), r.port);
                out.configured.insert(r.id, r.weight);
                if let Some(v) = self.verdicts.get(&key) {
                    match v.health {
                        Health::Up => r.weight = v.weight.unwrap_or(r.weight),
                        // keepalived: removed from the pool, or weight 0 with
                        // inhibit_on_failure. Either way existing connections go on.
                        Health::Down
                            if self.checks.get(&key).is_some_and(|c| c.inhibit_on_failure) =>
                        {
                            r.weight = 0
                        }
                        Health::Down => r.enabled = false,
                    }
                }
                if self.checks.contains_key(&key) {
                    let text = match self.verdicts.get(&key) {
                        Some(v) if v.health == Health::Down => {
                            format!("down: {}", v.reason.as_deref().unwrap_or("check failed"))
                        }
                        _ => "up".to_string(),
                    };
                    out.health.insert(r.id, text);
                }
                if let Some(o) = self.overrides.get(&key) {
                    r.weight = o.weight.unwrap_or(r.weight);
                    r.enabled &= !o.disabled;
                }
                if let (Some(f), true) = (self.ramp(cfg, &key, now), r.weight > 0) {
                    r.weight = ramped(r.weight, f);
                }
            }
        }
        out
    }

    /// keepalived's quorum over a published snapshot: each service's live
    /// weight against its quorum, with hysteresis. Returns the quorum_up /
    /// quorum_down commands of the services that crossed.
    pub fn quorum(&mut self, cfg: &Config, snap: &Snapshot) -> Vec<String> {
        let mut commands = Vec::new();
        for s in &snap.services {
            let Some(def) = cfg.service(&s.key) else {
                continue;
            };
            let live: u64 = s
                .reals
                .iter()
                .filter(|r| r.enabled)
                .map(|r| u64::from(r.weight))
                .sum();
            let up = *self.quorum_up.get(&s.key).unwrap_or(&true);
            let now_up = quorum_held(&def.quorum, up, live);
            if now_up != up {
                self.quorum_up.insert(s.key, now_up);
                let state = if now_up { "gained" } else { "lost" };
                tracing::info!(service = %s.name, live_weight = live, quorum = def.quorum.min, "quorum {state}");
                let q = &def.quorum;
                commands.extend(if now_up { q.up.clone() } else { q.down.clone() });
            }
        }
        commands
    }
}

/// Whether the quorum is held with `live` weight, given whether it was.
fn quorum_held(q: &Quorum, was_up: bool, live: u64) -> bool {
    let (min, h) = (u64::from(q.min), u64::from(q.hysteresis));
    if was_up {
        live + h >= min
    } else {
        live >= min + h
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::build::{build, tests::iface};
    use crate::daemon::ids::Ids;
    use crate::net::neigh::{Neighbour, NeighbourTable};
    use std::path::Path;
    use std::time::Duration;
    use xlb_dataplane::stats::new_gauges;

    const CONFIG: &str = r#"
[daemon]
interfaces = ["out0", "in0"]
[[virtual_server]]
name = "web"
address = "10.200.1.100"
port = 80
scheduler = "wrr"
slow_start = 10
quorum = 5
hysteresis = 1
quorum_up = "echo up"
quorum_down = "echo down"
[[virtual_server.real_server]]
address = "10.200.2.11"
weight = 4
notify_down = "echo rs1 down"
check = { type = "tcp", inhibit_on_failure = true }
[[virtual_server.real_server]]
address = "10.200.2.12"
weight = 2
check = { type = "tcp" }
[[virtual_server.real_server]]
address = "10.200.2.13"
weight = 1
"#;

    fn config(text: &str) -> Config {
        Config::parse(Path::new("t.toml"), text).unwrap()
    }

    /// The snapshot `build` makes of `cfg`: configured weights, every
    /// server resolved.
    fn snapshot(cfg: &Config) -> Snapshot {
        let ifaces = vec![
            iface("out0", 5, "10.200.1.1"),
            iface("in0", 6, "10.200.2.1"),
        ];
        let mut neigh = NeighbourTable::new();
        for (_, _, r) in cfg.reals() {
            let n = Neighbour {
                mac: Some([2, 0, 0, 0, 0, 1]),
                state: 0x80,
            };
            neigh.insert((6, r.address), n);
        }
        build(
            cfg,
            &ifaces,
            &neigh,
            &mut Ids::default(),
            &[],
            1,
            new_gauges(),
        )
        .unwrap()
        .snapshot
    }

    fn key(cfg: &Config, addr: &str) -> RealKey {
        cfg.reals()
            .map(|(k, _, _)| k)
            .find(|k| k.addr.to_string() == addr)
            .unwrap()
    }

    fn weights(p: &Policy, cfg: &Config, now: Instant) -> (Vec<(u32, bool)>, Published) {
        let mut snap = snapshot(cfg);
        let published = p.apply(cfg, &mut snap, now);
        let w = snap.services[0]
            .reals
            .iter()
            .map(|r| (r.weight, r.enabled))
            .collect();
        (w, published)
    }

    fn down(reason: &str) -> Report {
        Report {
            health: Health::Down,
            weight: None,
            reason: Some(reason.into()),
        }
    }

    fn up(weight: Option<u32>) -> Report {
        Report {
            health: Health::Up,
            weight,
            reason: None,
        }
    }

    #[test]
    fn health_verdicts_inhibit_or_remove_and_dynamic_weights_apply() {
        let cfg = config(CONFIG);
        let t0 = Instant::now();
        let mut p = Policy::new();
        let plan = p.configure(None, &cfg, t0);
        assert_eq!(plan.len(), 2, "two servers are checked");
        let (w, published) = weights(&p, &cfg, t0);
        assert_eq!(w, vec![(4, true), (2, true), (1, true)]);
        assert_eq!(published.health.len(), 2);
        assert!(published.health.values().all(|h| h == "up"));

        let rs1 = key(&cfg, "10.200.2.11");
        let rs2 = key(&cfg, "10.200.2.12");
        assert_eq!(
            p.report(&cfg, rs1, down("refused"), t0),
            Some(vec!["echo rs1 down".to_string()])
        );
        p.report(&cfg, rs2, down("timeout"), t0);
        let (w, published) = weights(&p, &cfg, t0);
        assert_eq!(
            w,
            vec![(0, true), (2, false), (1, true)],
            "inhibit_on_failure keeps the server at weight 0; the other leaves the pool"
        );
        assert!(published.health.values().any(|h| h == "down: refused"));
        // A MISC_CHECK's dynamic weight, reached after the slow start
        // that a server back from down goes through.
        p.report(&cfg, rs2, up(Some(7)), t0);
        assert_eq!(weights(&p, &cfg, t0).0[1], (1, true));
        assert_eq!(
            weights(&p, &cfg, t0 + Duration::from_secs(10)).0[1],
            (7, true)
        );
        // A verdict of a check no longer planned is ignored.
        let unchecked = key(&cfg, "10.200.2.13");
        assert_eq!(p.report(&cfg, unchecked, down("x"), t0), None);
    }

    #[test]
    fn overrides_win_over_verdicts_and_enable_ramps_up() {
        let cfg = config(CONFIG);
        let t0 = Instant::now();
        let mut p = Policy::new();
        p.configure(None, &cfg, t0);
        let rs3 = key(&cfg, "10.200.2.13");
        let rs2 = key(&cfg, "10.200.2.12");
        p.override_real(&cfg, rs3, OverrideOp::Weight(9), t0)
            .unwrap();
        p.override_real(&cfg, rs2, OverrideOp::Disable, t0).unwrap();
        assert_eq!(
            weights(&p, &cfg, t0).0,
            vec![(4, true), (2, false), (9, true)]
        );
        assert!(p
            .override_real(&cfg, rs3, OverrideOp::Weight(70000), t0)
            .is_err());
        // Enable: back to the configured weight, ramping over slow_start (10 s).
        p.override_real(&cfg, rs2, OverrideOp::Enable, t0).unwrap();
        assert_eq!(
            weights(&p, &cfg, t0).0[1],
            (1, true),
            "never 0 while ramping"
        );
        let t5 = t0 + Duration::from_secs(5);
        assert_eq!(weights(&p, &cfg, t5).0[1], (1, true), "ceil(2 * 0.5)");
        assert!(p.ramps_to_publish(&cfg, t5));
        let t10 = t0 + Duration::from_secs(10);
        assert!(p.ramps_to_publish(&cfg, t10), "once more at full weight");
        assert!(!p.ramps_to_publish(&cfg, t10), "the ramp ended");
        assert_eq!(weights(&p, &cfg, t10).0[1], (2, true));
    }

    #[test]
    fn a_server_back_from_down_ramps_and_a_reload_keeps_only_what_exists() {
        let cfg = config(CONFIG);
        let t0 = Instant::now();
        let mut p = Policy::new();
        p.configure(None, &cfg, t0);
        let rs1 = key(&cfg, "10.200.2.11");
        p.report(&cfg, rs1, down("refused"), t0);
        p.report(&cfg, rs1, up(None), t0);
        let t2 = t0 + Duration::from_millis(2500);
        assert_eq!(weights(&p, &cfg, t2).0[0], (1, true), "ceil(4 * 0.25)");
        // A reload that removes rs3 and adds rs4: rs4 ramps, rs3's override goes.
        let rs3 = key(&cfg, "10.200.2.13");
        p.override_real(&cfg, rs3, OverrideOp::Weight(0), t0)
            .unwrap();
        let new = config(&CONFIG.replace("10.200.2.13", "10.200.2.14"));
        p.configure(Some(&cfg), &new, t2);
        assert!(
            p.overrides.is_empty(),
            "the removed server's override is gone"
        );
        let rs4 = key(&new, "10.200.2.14");
        assert!(p.ramps.contains_key(&rs4), "a new server ramps up");
        assert_eq!(
            p.verdicts.get(&rs1).map(|v| v.health),
            Some(Health::Up),
            "an unchanged check keeps its verdict"
        );
        // A changed check starts afresh (up, no verdict).
        p.report(&new, rs1, down("refused"), t2);
        let changed = config(&CONFIG.replace(
            "check = { type = \"tcp\", inhibit_on_failure = true }",
            "check = { type = \"tcp\", inhibit_on_failure = true, interval = 2 }",
        ));
        p.configure(Some(&new), &changed, t2);
        assert_eq!(p.verdicts.get(&rs1), None);
        let later = t0 + Duration::from_secs(20);
        assert_eq!(weights(&p, &changed, later).0[0], (4, true));
    }

    #[test]
    fn quorum_is_lost_and_regained_with_hysteresis() {
        let cfg = config(CONFIG);
        let t0 = Instant::now();
        let mut p = Policy::new();
        p.configure(None, &cfg, t0);
        let mut snap = snapshot(&cfg);
        p.apply(&cfg, &mut snap, t0);
        assert!(p.quorum(&cfg, &snap).is_empty(), "7 >= 5: held");
        let rs1 = key(&cfg, "10.200.2.11");
        p.override_real(&cfg, rs1, OverrideOp::Weight(1), t0)
            .unwrap();
        let mut snap = snapshot(&cfg);
        p.apply(&cfg, &mut snap, t0);
        assert!(
            p.quorum(&cfg, &snap).is_empty(),
            "4 + hysteresis 1 >= 5: still held"
        );
        p.override_real(&cfg, rs1, OverrideOp::Weight(0), t0)
            .unwrap();
        let mut snap = snapshot(&cfg);
        p.apply(&cfg, &mut snap, t0);
        assert_eq!(p.quorum(&cfg, &snap), vec!["echo down".to_string()]);
        p.override_real(&cfg, rs1, OverrideOp::Weight(2), t0)
            .unwrap();
        let mut snap = snapshot(&cfg);
        p.apply(&cfg, &mut snap, t0);
        assert!(p.quorum(&cfg, &snap).is_empty(), "5 < 5 + 1: still lost");
        p.override_real(&cfg, rs1, OverrideOp::Weight(3), t0)
            .unwrap();
        let mut snap = snapshot(&cfg);
        p.apply(&cfg, &mut snap, t0);
        assert_eq!(p.quorum(&cfg, &snap), vec!["echo up".to_string()]);
    }

    #[test]
    fn slow_start_ramps_from_one_to_the_full_weight() {
        assert_eq!(ramped(10, 0.0), 1, "never 0: the server must warm up");
        assert_eq!(ramped(10, 0.25), 3);
        assert_eq!(ramped(10, 0.99), 10);
        assert_eq!(ramped(1, 0.1), 1);
    }
}
