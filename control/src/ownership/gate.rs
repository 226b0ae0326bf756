//! The steering gate: the rules a configuration asks for, less the
//! services of addresses an owner manages but does not hold (a VRRP backup
//! never forwards), kept in the XDP maps by writing only what changed.
//! Reloads (control loop) and ownership changes (the owner's thread) both
//! go through it; its lock is the control plane's alone, the workers
//! never see it.

use super::HeldSink;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Mutex;
use xlb_dataplane::steer::SteeringRules;
use xlb_model::Address;

/// Where steering rules are written: the XDP maps of every dataplane
/// interface (or, in tests, a recorder).
pub trait SteeringMaps: Send {
    /// Insert `add`, then delete `remove`, on every interface.
    fn apply(&mut self, add: &SteeringRules, remove: &SteeringRules) -> Result<(), String>;
}

struct State {
    maps: Box<dyn SteeringMaps>,
    /// What the configuration asks for, before gating.
    rules: SteeringRules,
    /// Addresses an owner decides on; the others are always forwarded.
    managed: HashSet<Address>,
    held: HashSet<Address>,
    /// What the maps hold.
    installed: SteeringRules,
}

pub struct SteeringGate {
    state: Mutex<State>,
}

fn difference(a: &SteeringRules, b: &SteeringRules) -> SteeringRules {
    SteeringRules {
        services: a.services.difference(&b.services).copied().collect(),
        reals: a.reals.difference(&b.reals).copied().collect(),
        locals: a.locals.difference(&b.locals).copied().collect(),
    }
}

impl State {
    /// The rules less the services of managed addresses not held.
    fn gated(&self) -> SteeringRules {
        let mut g = self.rules.clone();
        g.services.retain(|k| {
            let a = k.address();
            !self.managed.contains(&a) || self.held.contains(&a)
        });
        g
    }

    /// Write the difference between what the maps hold and what they
    /// should. On failure the next call writes it again.
    fn sync(&mut self) -> Result<(usize, usize), String> {
        let want = self.gated();
        let add = difference(&want, &self.installed);
        let remove = difference(&self.installed, &want);
        let count = |r: &SteeringRules| r.services.len() + r.reals.len() + r.locals.len();
        let counts = (count(&add), count(&remove));
        if counts != (0, 0) {
            self.maps.apply(&add, &remove)?;
        }
        self.installed = want;
        Ok(counts)
    }
}

impl SteeringGate {
    pub fn new(maps: Box<dyn SteeringMaps>) -> SteeringGate {
        SteeringGate {
            state: Mutex::new(State {
                maps,
                rules: SteeringRules::default(),
                managed: HashSet::new(),
                held: HashSet::new(),
                installed: SteeringRules::default(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding it left at worst stale `installed`
        // bookkeeping; the next sync rewrites the difference.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Steer `rules`; services of `managed` addresses only while held.
    /// Returns how many keys were added and removed.
    pub fn set_rules(
        &self,
        rules: SteeringRules,
        managed: impl IntoIterator<Item = IpAddr>,
    ) -> Result<(usize, usize), String> {
        let mut s = self.lock();
        s.rules = rules;
        s.managed = managed.into_iter().map(Address::from).collect();
        s.sync()
    }

    /// The rules last set (before gating).
    pub fn rules(&self) -> SteeringRules {
        self.lock().rules.clone()
    }
}

impl HeldSink for SteeringGate {
    fn held_changed(&self, held: &HashSet<IpAddr>) {
        let mut s = self.lock();
        s.held = held.iter().map(|&a| Address::from(a)).collect();
        match s.sync() {
            Ok((0, 0)) => {}
            Ok((added, removed)) => {
                tracing::info!(held = ?held, added, removed, "forwarding follows the address owner")
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot update steering after an ownership change")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex as StdMutex};
    use xlb_dataplane::steer::EndpointKey;

    /// One write: (added, removed) service keys.
    type Write = (Vec<EndpointKey>, Vec<EndpointKey>);

    /// Every write the gate makes.
    #[derive(Clone, Default)]
    struct Recorder(Arc<StdMutex<Vec<Write>>>);

    impl SteeringMaps for Recorder {
        fn apply(&mut self, add: &SteeringRules, remove: &SteeringRules) -> Result<(), String> {
            let sorted = |r: &SteeringRules| {
                let mut v: Vec<_> = r.services.iter().copied().collect();
                v.sort_by_key(|k| (k.addr, k.port));
                v
            };
            self.0.lock().unwrap().push((sorted(add), sorted(remove)));
            Ok(())
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn key(a: &str, port: u16) -> EndpointKey {
        EndpointKey::new(Address::from(ip(a)), port, 6)
    }

    fn rules(keys: &[EndpointKey]) -> SteeringRules {
        SteeringRules {
            services: keys.iter().copied().collect(),
            ..Default::default()
        }
    }

    #[test]
    fn ownership_changes_write_only_the_difference() {
        let rec = Recorder::default();
        let gate = Arc::new(SteeringGate::new(Box::new(rec.clone())));
        let (a80, a443, b80) = (
            key("10.0.0.1", 80),
            key("10.0.0.1", 443),
            key("10.0.0.2", 80),
        );
        // 10.0.0.1 is a VRRP address not held yet; 10.0.0.2 is no one's.
        gate.set_rules(rules(&[a80, a443, b80]), [ip("10.0.0.1")])
            .unwrap();
        gate.held_changed(&HashSet::from([ip("10.0.0.1")]));
        gate.held_changed(&HashSet::from([ip("10.0.0.1")]));
        gate.held_changed(&HashSet::new());
        let writes = rec.0.lock().unwrap().clone();
        assert_eq!(
            writes,
            vec![
                (vec![b80], vec![]),
                (vec![a80, a443], vec![]),
                // The same set again writes nothing.
                (vec![], vec![a80, a443]),
            ]
        );
    }

    #[test]
    fn a_reload_adds_and_removes_only_what_changed() {
        let rec = Recorder::default();
        let gate = SteeringGate::new(Box::new(rec.clone()));
        let (a80, a443, b80) = (
            key("10.0.0.1", 80),
            key("10.0.0.1", 443),
            key("10.0.0.2", 80),
        );
        gate.set_rules(rules(&[a80, b80]), []).unwrap();
        assert_eq!(gate.set_rules(rules(&[a80, a443]), []), Ok((1, 1)));
        assert_eq!(gate.rules(), rules(&[a80, a443]));
        let writes = rec.0.lock().unwrap().clone();
        assert_eq!(writes[1], (vec![a443], vec![b80]));
        // A newly managed address stops being forwarded until it is held.
        assert_eq!(
            gate.set_rules(rules(&[a80, a443]), [ip("10.0.0.1")]),
            Ok((0, 2))
        );
    }
}
