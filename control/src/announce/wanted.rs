//! Which VIPs a director should announce: each VIP of `[announce]` that
//! some service on it can serve (a real server that takes new
//! connections), none while the director is drained. No I/O: the daemon
//! hands in what its published snapshot can serve.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use xlb_model::config::AnnounceSettings;

/// Real servers of the services on one VIP: how many take new connections
/// now (enabled, weight above 0 after health checks and overrides, next
/// hop resolved), of how many.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capacity {
    pub serving: usize,
    pub total: usize,
}

/// Who drained the director, when it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DrainedBy {
    /// `[announce] drain = true`.
    Config,
    /// `xlbctl drain-director`, until `undrain-director` or a restart.
    Operator,
}

/// One VIP's announcement and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VipState {
    pub vip: IpAddr,
    pub announced: bool,
    pub reason: String,
}

/// What the speaker should announce now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    pub vips: Vec<VipState>,
    pub drained: Option<DrainedBy>,
}

impl Wanted {
    pub fn announced(&self) -> BTreeSet<IpAddr> {
        self.vips
            .iter()
            .filter(|v| v.announced)
            .map(|v| v.vip)
            .collect()
    }
}

/// `capacity`: every VIP the running services have. `operator_drained`:
/// `xlbctl drain-director` is in force.
pub fn wanted(
    settings: &AnnounceSettings,
    capacity: &BTreeMap<IpAddr, Capacity>,
    operator_drained: bool,
) -> Wanted {
    let drained = if operator_drained {
        Some(DrainedBy::Operator)
    } else if settings.drain {
        Some(DrainedBy::Config)
    } else {
        None
    };
    let vips: BTreeSet<IpAddr> = match &settings.vips {
        Some(v) => v.clone(),
        None => capacity.keys().copied().collect(),
    };
    let vips = vips
        .into_iter()
        .map(|vip| {
            let c = capacity.get(&vip).copied().unwrap_or_default();
            let (announced, reason) = match drained {
                Some(DrainedBy::Operator) => {
                    (false, "director drained (xlbctl drain-director)".into())
                }
                Some(DrainedBy::Config) => {
                    (false, "director drained ([announce] drain = true)".into())
                }
                None if c.total == 0 => (false, "no service has this VIP".into()),
                None if c.serving == 0 => (
                    false,
                    format!("none of its {} real servers takes new connections", c.total),
                ),
                None => (
                    true,
                    format!(
                        "{} of {} real servers take new connections",
                        c.serving, c.total
                    ),
                ),
            };
            VipState {
                vip,
                announced,
                reason,
            }
        })
        .collect();
    Wanted { vips, drained }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vips: Option<&[&str]>, drain: bool) -> AnnounceSettings {
        AnnounceSettings {
            bird: "/usr/sbin/bird".into(),
            config: "/b.conf".into(),
            routes: "/run/v.conf".into(),
            control_socket: "/run/b.ctl".into(),
            vips: vips.map(|v| v.iter().map(|a| a.parse().unwrap()).collect()),
            drain,
        }
    }

    fn capacity(list: &[(&str, usize, usize)]) -> BTreeMap<IpAddr, Capacity> {
        list.iter()
            .map(|(a, serving, total)| {
                (
                    a.parse().unwrap(),
                    Capacity {
                        serving: *serving,
                        total: *total,
                    },
                )
            })
            .collect()
    }

    fn ips(list: &[&str]) -> BTreeSet<IpAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn a_vip_is_announced_while_a_real_server_takes_connections() {
        let c = capacity(&[("192.0.2.1", 2, 3), ("192.0.2.2", 0, 2)]);
        let w = wanted(&settings(None, false), &c, false);
        assert_eq!(w.announced(), ips(&["192.0.2.1"]));
        assert_eq!(w.drained, None);
        assert_eq!(w.vips[0].reason, "2 of 3 real servers take new connections");
        assert_eq!(
            w.vips[1].reason,
            "none of its 2 real servers takes new connections"
        );
    }

    #[test]
    fn only_the_listed_vips_are_announced() {
        let c = capacity(&[("192.0.2.1", 1, 1), ("192.0.2.2", 1, 1)]);
        let w = wanted(&settings(Some(&["192.0.2.2"]), false), &c, false);
        assert_eq!(w.announced(), ips(&["192.0.2.2"]));
        assert_eq!(w.vips.len(), 1, "an unlisted VIP is not even shown");
    }

    #[test]
    fn a_listed_vip_whose_services_a_run_time_change_removed_is_withdrawn() {
        let w = wanted(
            &settings(Some(&["192.0.2.9"]), false),
            &BTreeMap::new(),
            false,
        );
        assert!(w.announced().is_empty());
        assert_eq!(w.vips[0].reason, "no service has this VIP");
    }

    #[test]
    fn a_drained_director_announces_nothing_and_says_who_drained_it() {
        let c = capacity(&[("192.0.2.1", 3, 3)]);
        let w = wanted(&settings(None, false), &c, true);
        assert!(w.announced().is_empty());
        assert_eq!(w.drained, Some(DrainedBy::Operator));
        assert!(w.vips[0].reason.contains("drain-director"));
        let w = wanted(&settings(None, true), &c, false);
        assert!(w.announced().is_empty());
        assert_eq!(w.drained, Some(DrainedBy::Config));
        // The operator's drain is the one named when both are in force:
        // undrain-director alone would not announce again.
        let w = wanted(&settings(None, true), &c, true);
        assert_eq!(w.drained, Some(DrainedBy::Operator));
        // Undrained: announced again.
        assert_eq!(
            wanted(&settings(None, false), &c, false).announced(),
            ips(&["192.0.2.1"])
        );
    }
}
