//! The operator API: JSON lines over a unix socket (mode 0600 unless
//! `[daemon] socket_mode` says otherwise). A request is
//! one JSON object on one line, e.g. `{"cmd":"show"}`; the answer is one line,
//! `{"ok":true,...}` or `{"ok":false,"error":"..."}`. `xlbctl` speaks exactly
//! this, so scripts can too (`socat - UNIX-CONNECT:/run/xlb/xlbd.sock`).
//! docs/api.md documents each command.

pub mod access;
pub mod client;
pub mod server;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "kebab-case")]
pub enum Request {
    /// Services, real servers, connection counts and traffic, worker counters.
    Show,
    Ping,
    /// Validate a configuration file (default: the running one's path) and
    /// swap it in atomically; on any error the running one stays.
    Reload {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    /// Run-time weight of a real server (kept across reloads while it exists).
    SetWeight {
        service: String,
        real: String,
        weight: u32,
    },
    /// Weight 0: no new connections, existing ones continue.
    Drain {
        service: String,
        real: String,
    },
    /// Out of scheduling (shown as disabled); existing connections continue.
    Disable {
        service: String,
        real: String,
    },
    /// Back to the configured weight, enabled.
    Enable {
        service: String,
        real: String,
    },
    /// Connections, like `ipvsadm -Lnc`, optionally filtered.
    Conns {
        #[serde(default)]
        filter: ConnFilter,
    },
    /// VRRP instances: state, priorities, master, counters.
    Vrrp,
    /// Zero the listed counters of one service and its real servers, or of
    /// all (`ipvsadm -Z`); metrics keep counting.
    Zero {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<xlb_model::ServiceKey>,
    },
    /// A run-time change to the services (ipvsadm's -A -E -D -C -a -e -d
    /// --set); it lasts until the next reload.
    Edit {
        edit: xlb_model::config::edit::Edit,
    },
    /// The running configuration as TOML (file + run-time changes).
    Save,
    /// Withdraw every route this director announces (`[announce]`);
    /// forwarding goes on. Lasts until undrain-director or a restart.
    DrainDirector,
    /// Announce again the VIPs that can be served.
    UndrainDirector,
}

/// Every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnFilter {
    /// VIP:PORT or the service's name.
    pub service: Option<String>,
    /// ADDR or ADDR:PORT of the real server.
    pub real: Option<String>,
    /// ADDR or ADDR:PORT of the client.
    pub client: Option<String>,
    /// At most this many (default 1000).
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnStatus {
    pub protocol: String,
    pub client: String,
    pub virtual_address: String,
    pub real: String,
    pub state: String,
    /// Seconds until it expires if idle.
    pub expires_in: u32,
    pub worker: usize,
    /// A persistence template (client port 0), not a connection: it sends
    /// the client's next connections to this real server.
    #[serde(default)]
    pub template: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Human-readable outcome of a command (e.g. what a reload changed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Done, but the operator should know something (e.g. a server added
    /// without a health check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conns: Option<Vec<ConnStatus>>,
    /// Connections that matched beyond the limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub more: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vrrp: Option<Vec<crate::ha::InstanceStatus>>,
}

impl Response {
    pub fn ok() -> Response {
        Response {
            ok: true,
            error: None,
            status: None,
            message: None,
            warning: None,
            conns: None,
            more: None,
            vrrp: None,
        }
    }
    pub fn error(e: impl Into<String>) -> Response {
        Response {
            ok: false,
            error: Some(e.into()),
            ..Response::ok()
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    pub conns: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Drops by reason charged to this service or real server (non-zero only).
    #[serde(default)]
    pub drops: BTreeMap<String, u64>,
}

impl Traffic {
    /// What was counted since `base` (a reading taken earlier).
    pub fn since(&self, base: &Traffic) -> Traffic {
        Traffic {
            conns: self.conns.saturating_sub(base.conns),
            packets_in: self.packets_in.saturating_sub(base.packets_in),
            packets_out: self.packets_out.saturating_sub(base.packets_out),
            bytes_in: self.bytes_in.saturating_sub(base.bytes_in),
            bytes_out: self.bytes_out.saturating_sub(base.bytes_out),
            drops: self
                .drops
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.saturating_sub(*base.drops.get(k).unwrap_or(&0)),
                    )
                })
                .filter(|(_, v)| *v > 0)
                .collect(),
        }
    }

    pub fn add(&mut self, t: &xlb_dataplane::stats::TrafficCounters) {
        self.conns += t.conns.get();
        self.packets_in += t.packets_in.get();
        self.packets_out += t.packets_out.get();
        self.bytes_in += t.bytes_in.get();
        self.bytes_out += t.bytes_out.get();
        for r in xlb_dataplane::stats::DropReason::ATTRIBUTABLE {
            let n = t.drops(r);
            if n > 0 {
                *self.drops.entry(r.name().to_string()).or_default() += n;
            }
        }
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.values().sum()
    }
}

/// Per-second rates over the last sampling period (2 s), as `ipvsadm --rate`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rates {
    pub conns: u64,
    pub packets_in: u64,
    pub packets_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

impl Rates {
    /// Rates between two readings `secs` apart.
    pub fn between(before: &Traffic, after: &Traffic, secs: f64) -> Rates {
        let r = |a: u64, b: u64| (b.saturating_sub(a) as f64 / secs).round() as u64;
        Rates {
            conns: r(before.conns, after.conns),
            packets_in: r(before.packets_in, after.packets_in),
            packets_out: r(before.packets_out, after.packets_out),
            bytes_in: r(before.bytes_in, after.bytes_in),
            bytes_out: r(before.bytes_out, after.bytes_out),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RealStatus {
    pub address: String,
    pub port: u16,
    /// Effective weight (after run-time overrides).
    pub weight: u32,
    /// Weight in the configuration file.
    pub configured_weight: u32,
    pub enabled: bool,
    /// Health check verdict ("up", "down: why"); absent when unchecked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<String>,
    /// MAC known from the kernel's neighbour table.
    pub resolved: bool,
    /// Connection thresholds (0: none) and whether the server is above the
    /// upper one, taking no new connection until below the lower one.
    #[serde(default)]
    pub u_threshold: u32,
    #[serde(default)]
    pub l_threshold: u32,
    #[serde(default)]
    pub overloaded: bool,
    pub active: u64,
    pub inactive: u64,
    /// Live persistence templates pointing at it (ipvsadm's PersistConn).
    #[serde(default)]
    pub persistent: u64,
    pub traffic: Traffic,
    #[serde(default)]
    pub rates: Rates,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub name: String,
    /// What names the service (the other fields show it as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<xlb_model::ServiceKey>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub persistence: Option<xlb_model::Persistence>,
    pub address: String,
    pub port: u16,
    pub protocol: String,
    pub scheduler: String,
    pub forwarding: String,
    /// ipvsadm's flags column, e.g. "persistent 300 mask 255.255.255.0".
    #[serde(default)]
    pub flags: String,
    pub traffic: Traffic,
    #[serde(default)]
    pub rates: Rates,
    pub reals: Vec<RealStatus>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub index: usize,
    pub zero_copy: bool,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_batches: u64,
    pub poll_iterations: u64,
    pub conns_live: u64,
    pub conns_created: u64,
    pub conns_expired: u64,
    /// Packets of another worker's connection this worker forwarded.
    pub remote_hits: u64,
    /// Half-open connections recycled because the table was full.
    #[serde(default)]
    pub conns_evicted: u64,
    /// Connections opened mid-flow (sloppy_tcp).
    #[serde(default)]
    pub conns_picked_up: u64,
    /// ICMP "fragmentation needed" sent to clients (TUN).
    #[serde(default)]
    pub frag_needed_sent: u64,
    /// Connections installed from outside the worker (its inbox), and
    /// those it refused.
    #[serde(default)]
    pub conns_installed: u64,
    #[serde(default)]
    pub installs_refused: u64,
    pub ip_options: u64,
    /// FTP helper: lines rewritten, data connections, segments not helped.
    #[serde(default)]
    pub ftp_rewrites: u64,
    #[serde(default)]
    pub ftp_data_conns: u64,
    #[serde(default)]
    pub ftp_unhelped: u64,
    /// SYN proxy: SYNs answered with a cookie, connections a cookie
    /// opened, and whether `auto` services are proxied now.
    #[serde(default)]
    pub syn_cookies_sent: u64,
    #[serde(default)]
    pub syn_cookies_accepted: u64,
    #[serde(default)]
    pub syn_proxy_engaged: bool,
    /// Early client data kept until the server's handshake was done.
    #[serde(default)]
    pub syn_proxy_parked: u64,
    pub drops: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub generation: u64,
    pub config: String,
    pub services: Vec<ServiceStatus>,
    pub workers: Vec<WorkerStatus>,
    /// Idle timeouts, seconds: TCP established, TCP after FIN, UDP.
    #[serde(default)]
    pub timeouts: [u32; 3],
    /// Connections each worker's table holds at most.
    #[serde(default)]
    pub conn_table_size: u64,
    /// Frontends, backends and servers of the proxy, when it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy: Option<xlb_proxy::ProxyStatus>,
    /// Connection sync with the other director, when it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<SyncStatus>,
    /// Route announcement through BIRD, when `[announce]` is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub announce: Option<crate::announce::AnnounceStatus>,
}

/// `xlbctl show --sync`: the channel and what went through it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub interface: String,
    pub sync_id: u8,
    /// The group, or the unicast peers.
    pub peers: Vec<String>,
    pub port: u16,
    pub sent_datagrams: u64,
    pub sent_conns: u64,
    pub send_errors: u64,
    pub unsendable: u64,
    pub received_datagrams: u64,
    pub received_conns: u64,
    pub installed: u64,
    /// Persistence templates received and installed.
    #[serde(default)]
    pub templates_installed: u64,
    /// Whole tables sent to a peer that appeared or came back.
    #[serde(default)]
    pub table_transfers: u64,
    /// Reports the workers could not queue (sender behind).
    pub overflow: u64,
    pub dropped: BTreeMap<String, u64>,
    /// Directors heard from, with their datagram counts.
    pub heard_from: BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlb_model::config::edit::{Edit, PersistenceSetting, ServiceSpec};
    use xlb_model::{Protocol, SchedulerKind, ServiceKey};

    /// Every request docs/api.md shows is one xlbd accepts: the table's
    /// first column, each `{...}` in backquotes.
    #[test]
    fn the_documented_requests_parse() {
        let doc = include_str!("../../../docs/api.md");
        let mut seen = 0;
        for line in doc.lines().filter(|l| l.starts_with("| `{")) {
            let first = line.split(" | ").next().unwrap();
            for example in first.split('`').filter(|s| s.starts_with('{')) {
                let r: Result<Request, _> = serde_json::from_str(example);
                assert!(r.is_ok(), "docs/api.md: {example}: {r:?}");
                seen += 1;
            }
        }
        assert!(seen >= 15, "only {seen} examples found in docs/api.md");
    }

    /// "Persistence off" and "leave persistence as it is" must both survive
    /// the socket: ipvsadm -E without -p turns persistence off.
    #[test]
    fn an_edit_keeps_its_meaning_through_json() {
        let key = ServiceKey::endpoint(
            "10.0.0.1".parse::<std::net::IpAddr>().unwrap(),
            80,
            Protocol::Tcp,
        );
        for persistence in [
            None,
            Some(PersistenceSetting::Off),
            Some(PersistenceSetting::On(xlb_model::Persistence {
                timeout: 360,
                prefix: 24,
            })),
        ] {
            let edit = Edit::EditService(ServiceSpec {
                key,
                scheduler: Some(SchedulerKind::Rr),
                persistence,
                forwarding: None,
            });
            let json = serde_json::to_string(&Request::Edit { edit: edit.clone() }).unwrap();
            let back: Request = serde_json::from_str(&json).unwrap();
            assert!(
                matches!(&back, Request::Edit { edit: e } if *e == edit),
                "{json} came back as {back:?}"
            );
        }
    }
}
