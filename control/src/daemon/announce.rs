//! Route announcement in the daemon: started once the dataplane forwards
//! (a route must not draw traffic before), told what to announce at every
//! publish (health verdicts, overrides, neighbours, reloads), restarted by
//! a reload that changes BIRD's paths, drained and undrained by the
//! operator, stopped first at shutdown.

use super::{Daemon, Shared};
use crate::announce::{self, Announcer, Capacity};
use crate::config::Config;
use std::collections::BTreeMap;
use std::net::IpAddr;
use xlb_dataplane::snapshot::Snapshot;
use xlb_model::ServiceKey;

/// Every VIP of the snapshot's services (a firewall-mark service's come
/// from its rules) with the real servers that can take a connection.
pub fn capacity(snap: &Snapshot) -> BTreeMap<IpAddr, Capacity> {
    let mut out: BTreeMap<IpAddr, Capacity> = BTreeMap::new();
    for s in &snap.services {
        let vips: Vec<IpAddr> = match s.key {
            ServiceKey::Endpoint { addr, .. } => vec![addr],
            ServiceKey::Mark(m) => snap
                .mark_rules
                .iter()
                .filter(|r| r.mark == m)
                .flat_map(|r| r.addrs.iter().map(|a| a.ip()))
                .collect(),
        };
        for vip in vips {
            let c = out.entry(vip).or_default();
            c.total += s.reals.len();
            c.serving += s.reals.iter().filter(|r| r.schedulable()).count();
        }
    }
    out
}

pub fn start(
    cfg: &Config,
    snap: &Snapshot,
    operator_drained: bool,
) -> Result<Option<Announcer>, String> {
    let Some(s) = &cfg.announce else {
        return Ok(None);
    };
    let first = announce::wanted(s, &capacity(snap), operator_drained);
    Announcer::start(s.clone(), first)
        .map(Some)
        .map_err(|e| format!("announce: {e}"))
}

/// Before a reload changes anything: a new BIRD configuration must parse.
pub fn prepare(running: &Option<Announcer>, new: &Config) -> Result<(), String> {
    let Some(s) = &new.announce else {
        return Ok(());
    };
    if running
        .as_ref()
        .is_some_and(|r| !r.settings.speaker_differs(s))
    {
        // The same BIRD reads its configuration again; it keeps the old
        // one if the new one is wrong (and says so, logged).
        return Ok(());
    }
    announce::bird::check_config(&s.bird, &s.config).map_err(|e| format!("announce: {e}"))
}

/// Follow a reload; says what changed, if anything did. A BIRD that cannot
/// start leaves this director announcing nothing (logged): safe, since the
/// other directors still announce.
pub fn follow(
    running: &mut Option<Announcer>,
    new: &Config,
    snap: &Snapshot,
    operator_drained: bool,
) -> Option<String> {
    match (running.as_mut(), &new.announce) {
        (None, None) => None,
        (Some(r), Some(s)) if !r.settings.speaker_differs(s) => {
            let mut what = Vec::new();
            if r.settings.drain != s.drain {
                what.push(format!("announce: drain = {}", s.drain));
            }
            if r.settings.vips != s.vips {
                what.push("announce: the VIPs to announce changed".to_string());
            }
            r.settings = s.clone();
            r.reconfigure();
            (!what.is_empty()).then(|| what.join("; "))
        }
        (_, wanted) => {
            let was = running.take().map(Announcer::stop).is_some();
            match start(new, snap, operator_drained) {
                Ok(Some(a)) => {
                    *running = Some(a);
                    Some(
                        if was {
                            "BIRD restarted"
                        } else {
                            "BIRD started"
                        }
                        .into(),
                    )
                }
                Ok(None) => Some("BIRD stopped: nothing announced".into()),
                Err(e) => {
                    tracing::error!(error = %e, "this director announces nothing");
                    debug_assert!(wanted.is_some());
                    Some(format!("nothing announced: {e}"))
                }
            }
        }
    }
}

pub fn publish(shared: &Shared, running: &Option<Announcer>) {
    shared.announce.store(running.as_ref().map(|a| a.status()));
}

impl Daemon {
    /// Tell the speaker what the published snapshot can serve.
    pub(super) fn announce_wanted(&self) {
        let (Some(a), Some(s)) = (&self.announce, &self.cfg.announce) else {
            return;
        };
        let snap = self.dataplane.snapshot();
        a.want(announce::wanted(s, &capacity(&snap), self.director_drained));
    }

    /// `xlbctl drain-director` (`on`) and `undrain-director`: withdraw
    /// every route, or announce again what can be served. Forwarding goes
    /// on either way: connections the router still sends here are served.
    pub fn drain_director(&mut self, on: bool) -> Result<String, String> {
        let Some(s) = &self.cfg.announce else {
            return Err(
                "this director announces no routes (no [announce] in its configuration): \
                 there is nothing to drain; to stop a VRRP director, lower its priority"
                    .into(),
            );
        };
        let config_drains = s.drain;
        self.director_drained = on;
        self.announce_wanted();
        tracing::info!(drained = on, "run-time change: director drain");
        Ok(match (on, config_drains) {
            (true, _) => "director drained: every route withdrawn, forwarding goes on".into(),
            (false, false) => "director undrained: its VIPs are announced again".into(),
            (false, true) => "the operator's drain is lifted, but [announce] drain = true \
                              still withdraws every route: set it to false and reload"
                .into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlb_dataplane::snapshot::{Forwarding, RealServer, VirtualService};
    use xlb_dataplane::stats::new_gauges;
    use xlb_model::service::MarkRule;
    use xlb_model::{Address, Protocol, SchedulerKind};

    fn real(id: u32, weight: u32, mac: bool) -> RealServer {
        RealServer {
            id,
            addr: Address::from("198.51.100.1".parse::<IpAddr>().unwrap()),
            port: 80,
            weight,
            egress: 0,
            mac: mac.then_some([2, 0, 0, 0, 0, 1]),
            gateway: None,
            enabled: true,
            u_threshold: 0,
            l_threshold: 0,
        }
    }

    fn service(id: u32, key: ServiceKey, reals: Vec<RealServer>) -> VirtualService {
        VirtualService {
            id,
            name: format!("s{id}"),
            key,
            forwarding: Forwarding::Dr,
            scheduler: SchedulerKind::Mh,
            reals,
            sorry: None,
            persistence: None,
            ftp: false,
            syn_proxy: Default::default(),
            max_conn_rate: 0,
            max_conns_per_client: 0,
            sloppy_tcp: true,
        }
    }

    #[test]
    fn capacity_counts_servers_that_take_connections_per_vip_marks_included() {
        let vip: IpAddr = "192.0.2.1".parse().unwrap();
        let marked: IpAddr = "192.0.2.7".parse().unwrap();
        let services = vec![
            // Weight 0 (down or drained) and no MAC yet do not serve.
            service(
                0,
                ServiceKey::endpoint(vip, 80, Protocol::Tcp),
                vec![real(0, 1, true), real(1, 0, true), real(2, 1, false)],
            ),
            service(
                1,
                ServiceKey::endpoint(vip, 443, Protocol::Tcp),
                vec![real(3, 5, true)],
            ),
            service(2, ServiceKey::Mark(9), vec![real(4, 0, true)]),
        ];
        let mut snap = Snapshot::new(
            1,
            Vec::new(),
            services,
            &[],
            Default::default(),
            new_gauges(),
        )
        .unwrap();
        snap.mark_rules = vec![MarkRule {
            mark: 9,
            addrs: vec![Address::from(marked)],
            proto: Protocol::Tcp,
            ports: vec![(1000, 2000)],
        }];
        let c = capacity(&snap);
        assert_eq!(
            c[&vip],
            Capacity {
                serving: 2,
                total: 4
            }
        );
        assert_eq!(
            c[&marked],
            Capacity {
                serving: 0,
                total: 1
            }
        );
        assert_eq!(c.len(), 2);
    }
}
