//! Prometheus metrics over HTTP (off unless `[metrics] listen` is set):
//! `GET /metrics` in the text exposition format, rendered from the same
//! status the API serves (lock-free reads of the counters).

pub mod http;
mod proxy;

pub use http::{Limits, MetricsServer};

use crate::api::server::StatusSource;
use crate::api::Status;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;

/// Serve `GET /metrics` on `addr` until the returned server is dropped.
pub fn start(addr: SocketAddr, source: Arc<dyn StatusSource>) -> std::io::Result<MetricsServer> {
    MetricsServer::start(addr, Limits::default(), source)
}

/// `v` as a label value: backslash, double quote and newline escaped.
fn push_escaped(o: &mut String, v: &str) {
    if !v.contains(['\\', '"', '\n']) {
        o.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
}

struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }
    /// Written in place: a scrape of a large director is ~10^5 samples,
    /// and a String per label, per sample, was most of its time
    /// (docs/design/metrics.md).
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], v: u64) {
        let o = &mut self.0;
        o.push_str(name);
        o.push('{');
        for (i, (k, val)) in labels.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str(k);
            o.push_str("=\"");
            push_escaped(o, val);
            o.push('"');
        }
        let _ = writeln!(o, "}} {v}");
    }
}

/// The whole exposition for one status.
pub fn render(s: &Status) -> String {
    let mut o = Out(String::new());
    o.family(
        "xlb_config_generation",
        "gauge",
        "Snapshot generation the workers forward with.",
    );
    let _ = writeln!(o.0, "xlb_config_generation {}", s.generation);

    type Pick = fn(&crate::api::Traffic) -> u64;
    let traffic: [(&str, &str, &str, Pick); 5] = [
        (
            "connections_total",
            "counter",
            "Connections scheduled.",
            |t| t.conns,
        ),
        (
            "packets_in_total",
            "counter",
            "Packets client to real server.",
            |t| t.packets_in,
        ),
        (
            "packets_out_total",
            "counter",
            "Packets real server to client (NAT).",
            |t| t.packets_out,
        ),
        (
            "bytes_in_total",
            "counter",
            "IP bytes client to real server.",
            |t| t.bytes_in,
        ),
        (
            "bytes_out_total",
            "counter",
            "IP bytes real server to client (NAT).",
            |t| t.bytes_out,
        ),
    ];
    for (suffix, kind, help, pick) in traffic {
        let name = format!("xlb_service_{suffix}");
        o.family(&name, kind, help);
        for v in &s.services {
            let port = v.port.to_string();
            o.sample(
                &name,
                &[
                    ("service", &v.name),
                    ("vip", &v.address),
                    ("port", &port),
                    ("protocol", &v.protocol),
                ],
                pick(&v.traffic),
            );
        }
        let name = format!("xlb_real_{suffix}");
        o.family(&name, kind, help);
        for v in &s.services {
            for r in &v.reals {
                let real = format!("{}:{}", r.address, r.port);
                o.sample(
                    &name,
                    &[("service", &v.name), ("real", &real)],
                    pick(&r.traffic),
                );
            }
        }
    }
    o.family(
        "xlb_service_drops_total",
        "counter",
        "Packets of a service dropped, by reason.",
    );
    for v in &s.services {
        for (reason, n) in &v.traffic.drops {
            o.sample(
                "xlb_service_drops_total",
                &[("service", &v.name), ("reason", reason)],
                *n,
            );
        }
    }
    type RPick = fn(&crate::api::RealStatus) -> u64;
    let gauges: [(&str, &str, RPick); 6] = [
        (
            "xlb_real_active_connections",
            "Established TCP connections (IPVS ActiveConn).",
            |r| r.active,
        ),
        (
            "xlb_real_inactive_connections",
            "Other connections (IPVS InActConn).",
            |r| r.inactive,
        ),
        ("xlb_real_weight", "Effective weight.", |r| {
            u64::from(r.weight)
        }),
        ("xlb_real_enabled", "1 unless disabled at run time.", |r| {
            u64::from(r.enabled)
        }),
        (
            "xlb_real_resolved",
            "1 when the kernel has the real server's MAC.",
            |r| u64::from(r.resolved),
        ),
        (
            "xlb_real_overloaded",
            "1 while the server is at its uthreshold (no new connections until below lthreshold).",
            |r| u64::from(r.overloaded),
        ),
    ];
    for (name, help, pick) in gauges {
        o.family(name, "gauge", help);
        for v in &s.services {
            for r in &v.reals {
                let real = format!("{}:{}", r.address, r.port);
                o.sample(name, &[("service", &v.name), ("real", &real)], pick(r));
            }
        }
    }
    o.family(
        "xlb_real_check_up",
        "gauge",
        "Health check verdict: 1 up, 0 down (checked real servers only).",
    );
    for v in &s.services {
        for r in &v.reals {
            if let Some(h) = &r.health {
                let real = format!("{}:{}", r.address, r.port);
                o.sample(
                    "xlb_real_check_up",
                    &[("service", &v.name), ("real", &real)],
                    u64::from(h == "up"),
                );
            }
        }
    }
    type WPick = fn(&crate::api::WorkerStatus) -> u64;
    let workers: [(&str, &str, &str, WPick); 19] = [
        (
            "xlb_worker_conns_evicted_total",
            "counter",
            "Half-open connections recycled because the table was full.",
            |w| w.conns_evicted,
        ),
        (
            "xlb_worker_conns_picked_up_total",
            "counter",
            "Connections opened by a segment other than a SYN (sloppy_tcp: a flow another director started).",
            |w| w.conns_picked_up,
        ),
        (
            "xlb_worker_frag_needed_sent_total",
            "counter",
            "ICMP fragmentation-needed messages sent to clients (TUN: a DF packet too big once wrapped).",
            |w| w.frag_needed_sent,
        ),
        (
            "xlb_worker_conns_installed_total",
            "counter",
            "Connections installed from outside the worker (connection sync).",
            |w| w.conns_installed,
        ),
        (
            "xlb_worker_installs_refused_total",
            "counter",
            "Connections handed to the worker that it could not install.",
            |w| w.installs_refused,
        ),
        (
            "xlb_worker_rx_packets_total",
            "counter",
            "Frames received from AF_XDP.",
            |w| w.rx_packets,
        ),
        (
            "xlb_worker_tx_packets_total",
            "counter",
            "Frames queued for transmission.",
            |w| w.tx_packets,
        ),
        (
            "xlb_worker_rx_batches_total",
            "counter",
            "Non-empty receive batches.",
            |w| w.rx_batches,
        ),
        (
            "xlb_worker_poll_iterations_total",
            "counter",
            "Poll loop iterations.",
            |w| w.poll_iterations,
        ),
        (
            "xlb_worker_connections",
            "gauge",
            "Live connections in the worker's table.",
            |w| w.conns_live,
        ),
        (
            "xlb_worker_remote_hits_total",
            "counter",
            "Packets of another worker's connection.",
            |w| w.remote_hits,
        ),
        (
            "xlb_worker_ip_options_total",
            "counter",
            "IPv4 packets with options (forwarded).",
            |w| w.ip_options,
        ),
        (
            "xlb_worker_ftp_rewrites_total",
            "counter",
            "FTP address lines (PORT/EPRT/227) rewritten by the NAT helper.",
            |w| w.ftp_rewrites,
        ),
        (
            "xlb_worker_ftp_data_connections_total",
            "counter",
            "FTP data connections admitted from an announcement.",
            |w| w.ftp_data_conns,
        ),
        (
            "xlb_worker_ftp_unhelped_total",
            "counter",
            "FTP control segments the helper could not handle (split line, no room, table full).",
            |w| w.ftp_unhelped,
        ),
        (
            "xlb_worker_syn_cookies_sent_total",
            "counter",
            "SYNs the SYN proxy answered with a cookie.",
            |w| w.syn_cookies_sent,
        ),
        (
            "xlb_worker_syn_cookies_accepted_total",
            "counter",
            "Connections opened by a client's ACK carrying a valid cookie.",
            |w| w.syn_cookies_accepted,
        ),
        (
            "xlb_worker_syn_proxy_engaged",
            "gauge",
            "1 while services with syn_proxy = \"auto\" are SYN-proxied on this worker.",
            |w| u64::from(w.syn_proxy_engaged),
        ),
        (
            "xlb_worker_syn_proxy_parked_total",
            "counter",
            "Early client data the SYN proxy kept until the server's handshake was done.",
            |w| w.syn_proxy_parked,
        ),
    ];
    for (name, kind, help, pick) in workers {
        o.family(name, kind, help);
        for w in &s.workers {
            o.sample(name, &[("worker", &w.index.to_string())], pick(w));
        }
    }
    o.family(
        "xlb_worker_drops_total",
        "counter",
        "Frames dropped by the dataplane, by reason.",
    );
    for w in &s.workers {
        for (reason, n) in &w.drops {
            o.sample(
                "xlb_worker_drops_total",
                &[("worker", &w.index.to_string()), ("reason", reason)],
                *n,
            );
        }
    }
    if let Some(p) = &s.proxy {
        proxy::render(&mut o, p);
    }
    if let Some(sy) = &s.sync {
        sync_families(&mut o, sy);
    }
    if let Some(a) = &s.announce {
        announce_families(&mut o, a);
    }
    o.0
}

/// Route announcement (`xlbctl show --announce`): per VIP whether it
/// should be announced and whether BIRD was told so, the drain, BIRD.
fn announce_families(o: &mut Out, a: &crate::announce::AnnounceStatus) {
    o.family(
        "xlb_announce_vip_wanted",
        "gauge",
        "1 when the VIP should be announced (a real server takes connections, not drained).",
    );
    for v in &a.vips {
        o.sample(
            "xlb_announce_vip_wanted",
            &[("vip", &v.vip.to_string())],
            u64::from(v.announced),
        );
    }
    o.family(
        "xlb_announce_vip_announced",
        "gauge",
        "1 when BIRD was last told to announce the VIP.",
    );
    for v in &a.vips {
        o.sample(
            "xlb_announce_vip_announced",
            &[("vip", &v.vip.to_string())],
            u64::from(a.told.contains(&v.vip)),
        );
    }
    for (name, kind, help, v) in [
        (
            "xlb_announce_drained",
            "gauge",
            "1 while the director is drained (drain-director or [announce] drain).",
            u64::from(a.drained.is_some()),
        ),
        (
            "xlb_announce_speaker_up",
            "gauge",
            "1 while BIRD runs.",
            u64::from(a.pid.is_some()),
        ),
        (
            "xlb_announce_updates_total",
            "counter",
            "Routes files BIRD took.",
            a.updates,
        ),
        (
            "xlb_announce_update_errors_total",
            "counter",
            "Attempts to tell BIRD what to announce that failed.",
            a.update_errors,
        ),
        (
            "xlb_announce_speaker_restarts_total",
            "counter",
            "Starts of BIRD after it exited on its own.",
            a.restarts,
        ),
    ] {
        o.family(name, kind, help);
        o.sample(name, &[], v);
    }
}

/// Connection sync's counters (`xlbctl show --sync`).
fn sync_families(o: &mut Out, s: &crate::api::SyncStatus) {
    for (name, help, v) in [
        (
            "xlb_sync_sent_datagrams_total",
            "Sync datagrams sent.",
            s.sent_datagrams,
        ),
        (
            "xlb_sync_sent_conns_total",
            "Connection updates sent.",
            s.sent_conns,
        ),
        (
            "xlb_sync_send_errors_total",
            "Sync datagrams the kernel refused to send.",
            s.send_errors,
        ),
        (
            "xlb_sync_lost_total",
            "Updates lost before sending (sender behind, or not describable).",
            s.overflow + s.unsendable,
        ),
        (
            "xlb_sync_received_datagrams_total",
            "Sync datagrams received.",
            s.received_datagrams,
        ),
        (
            "xlb_sync_received_conns_total",
            "Connection records received.",
            s.received_conns,
        ),
        (
            "xlb_sync_installed_total",
            "Received connections handed to the workers to install.",
            s.installed,
        ),
        (
            "xlb_sync_table_transfers_total",
            "Whole tables sent to a peer that appeared or came back.",
            s.table_transfers,
        ),
    ] {
        o.family(name, "counter", help);
        o.sample(name, &[], v);
    }
    o.family(
        "xlb_sync_dropped_total",
        "counter",
        "Sync datagrams or records dropped, by reason.",
    );
    for (reason, n) in &s.dropped {
        o.sample("xlb_sync_dropped_total", &[("reason", reason)], *n);
    }
}

/// VRRP instances: state as a number (and as a label), priorities,
/// adverts, transitions and drops by reason.
pub fn render_vrrp(list: &[crate::ha::InstanceStatus]) -> String {
    let mut o = Out(String::new());
    if list.is_empty() {
        return o.0;
    }
    o.family(
        "xlb_vrrp_state",
        "gauge",
        "VRRP state: 0 init, 1 backup, 2 master, 3 fault.",
    );
    for i in list {
        let v = match i.state.as_str() {
            "BACKUP" => 1,
            "MASTER" => 2,
            "FAULT" => 3,
            _ => 0,
        };
        o.sample(
            "xlb_vrrp_state",
            &[("instance", &i.name), ("state", &i.state)],
            v,
        );
    }
    type Pick = fn(&crate::ha::InstanceStatus) -> u64;
    let families: [(&str, &str, &str, Pick); 5] = [
        ("xlb_vrrp_priority", "gauge", "Effective priority.", |i| {
            u64::from(i.priority)
        }),
        (
            "xlb_vrrp_configured_priority",
            "gauge",
            "Configured priority.",
            |i| u64::from(i.configured_priority),
        ),
        (
            "xlb_vrrp_adverts_sent_total",
            "counter",
            "Advertisements sent.",
            |i| i.adverts_sent,
        ),
        (
            "xlb_vrrp_adverts_received_total",
            "counter",
            "Valid advertisements received.",
            |i| i.adverts_received,
        ),
        (
            "xlb_vrrp_transitions_total",
            "counter",
            "State changes.",
            |i| i.transitions,
        ),
    ];
    for (name, kind, help, pick) in families {
        o.family(name, kind, help);
        for i in list {
            o.sample(name, &[("instance", &i.name)], pick(i));
        }
    }
    o.family(
        "xlb_vrrp_errors_total",
        "counter",
        "Advertisements dropped or failures, by reason.",
    );
    for i in list {
        for (reason, n) in &i.errors {
            o.sample(
                "xlb_vrrp_errors_total",
                &[("instance", &i.name), ("reason", reason)],
                *n,
            );
        }
    }
    o.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{RealStatus, ServiceStatus, Traffic, WorkerStatus};

    #[test]
    fn renders_families_and_labelled_samples() {
        let s = Status {
            generation: 3,
            config: "x".into(),
            services: vec![ServiceStatus {
                name: "we\"b".into(),
                key: None,
                persistence: None,
                address: "10.0.0.1".into(),
                port: 80,
                protocol: "TCP".into(),
                scheduler: "wrr".into(),
                forwarding: "Masq".into(),
                flags: String::new(),
                traffic: Traffic {
                    conns: 7,
                    ..Default::default()
                },
                rates: Default::default(),
                reals: vec![RealStatus {
                    address: "10.0.1.1".into(),
                    port: 8080,
                    weight: 2,
                    configured_weight: 2,
                    enabled: true,
                    health: Some("down: HTTP status 503".into()),
                    resolved: true,
                    u_threshold: 10,
                    l_threshold: 5,
                    overloaded: true,
                    active: 1,
                    inactive: 4,
                    persistent: 0,
                    traffic: Traffic {
                        conns: 7,
                        bytes_out: 900,
                        ..Default::default()
                    },
                    rates: Default::default(),
                }],
            }],
            workers: vec![WorkerStatus {
                index: 0,
                zero_copy: false,
                rx_packets: 10,
                tx_packets: 9,
                rx_batches: 2,
                poll_iterations: 5,
                conns_live: 1,
                conns_created: 1,
                conns_expired: 0,
                remote_hits: 0,
                conns_evicted: 0,
                conns_picked_up: 0,
                frag_needed_sent: 0,
                conns_installed: 0,
                installs_refused: 0,
                ip_options: 0,
                ftp_rewrites: 0,
                ftp_data_conns: 0,
                ftp_unhelped: 0,
                syn_cookies_sent: 7,
                syn_cookies_accepted: 5,
                syn_proxy_engaged: true,
                syn_proxy_parked: 0,
                drops: [("fragment".to_string(), 1)].into(),
            }],
            timeouts: [900, 120, 300],
            conn_table_size: 1024,
            proxy: None,
            sync: None,
            announce: Some(crate::announce::AnnounceStatus {
                speaker: "bird".into(),
                pid: Some(42),
                drained: None,
                vips: vec![
                    crate::announce::VipState {
                        vip: "10.0.0.1".parse().unwrap(),
                        announced: true,
                        reason: "1 of 1 real servers take new connections".into(),
                    },
                    crate::announce::VipState {
                        vip: "10.0.0.2".parse().unwrap(),
                        announced: false,
                        reason: "none of its 1 real servers takes new connections".into(),
                    },
                ],
                told: ["10.0.0.1".parse().unwrap()].into(),
                updates: 3,
                update_errors: 1,
                restarts: 0,
                last_error: None,
            }),
        };
        let m = render(&s);
        for line in [
            "xlb_announce_vip_wanted{vip=\"10.0.0.1\"} 1\n",
            "xlb_announce_vip_wanted{vip=\"10.0.0.2\"} 0\n",
            "xlb_announce_vip_announced{vip=\"10.0.0.2\"} 0\n",
            "xlb_announce_speaker_up{} 1\n",
            "xlb_announce_drained{} 0\n",
            "xlb_announce_updates_total{} 3\n",
            "xlb_announce_update_errors_total{} 1\n",
        ] {
            assert!(m.contains(line), "{line} missing in {m}");
        }
        assert!(m.contains("xlb_config_generation 3\n"), "{m}");
        assert!(
            m.contains("# TYPE xlb_service_connections_total counter\n"),
            "{m}"
        );
        assert!(m.contains("xlb_service_connections_total{service=\"we\\\"b\",vip=\"10.0.0.1\",port=\"80\",protocol=\"TCP\"} 7\n"), "{m}");
        assert!(
            m.contains(
                "xlb_real_bytes_out_total{service=\"we\\\"b\",real=\"10.0.1.1:8080\"} 900\n"
            ),
            "{m}"
        );
        assert!(
            m.contains(
                "xlb_real_inactive_connections{service=\"we\\\"b\",real=\"10.0.1.1:8080\"} 4\n"
            ),
            "{m}"
        );
        assert!(
            m.contains("xlb_worker_drops_total{worker=\"0\",reason=\"fragment\"} 1\n"),
            "{m}"
        );
        assert!(
            m.contains("xlb_worker_syn_cookies_sent_total{worker=\"0\"} 7\n")
                && m.contains("xlb_worker_syn_proxy_engaged{worker=\"0\"} 1\n"),
            "{m}"
        );
        assert!(
            m.contains("xlb_real_check_up{service=\"we\\\"b\",real=\"10.0.1.1:8080\"} 0\n"),
            "{m}"
        );
        // Every sample line belongs to a declared family.
        for line in m.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap();
            assert!(m.contains(&format!("# TYPE {name} ")), "{name} undeclared");
        }
    }

    #[test]
    fn vrrp_instances_export_state_counters_and_reasons() {
        let mut errors = std::collections::BTreeMap::new();
        errors.insert("bad checksum".to_string(), 4);
        let i = crate::ha::InstanceStatus {
            name: "VI_1".into(),
            state: "MASTER".into(),
            priority: 90,
            configured_priority: 100,
            adverts_sent: 12,
            errors,
            ..Default::default()
        };
        let text = render_vrrp(&[i]);
        assert!(
            text.contains("xlb_vrrp_state{instance=\"VI_1\",state=\"MASTER\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("xlb_vrrp_priority{instance=\"VI_1\"} 90"),
            "{text}"
        );
        assert!(
            text.contains("xlb_vrrp_adverts_sent_total{instance=\"VI_1\"} 12"),
            "{text}"
        );
        assert!(text.contains("reason=\"bad checksum\"} 4"), "{text}");
        assert_eq!(render_vrrp(&[]), "", "nothing without instances");
    }
}
