//! The TOML as written: plain serde structs, with spans kept on every value
//! that validation may complain about so errors can name line and column.

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
pub struct RawConfig {
    #[serde(default)]
    pub daemon: RawDaemon,
    #[serde(default)]
    pub timeouts: RawTimeouts,
    #[serde(default)]
    pub metrics: RawListen,
    #[serde(default)]
    pub dashboard: RawListen,
    #[serde(default)]
    pub virtual_server: Vec<RawVirtualServer>,
    #[serde(default)]
    pub firewall_mark: Vec<RawMarkRule>,
    #[serde(default)]
    pub vrrp: RawVrrpGlobal,
    #[serde(default)]
    pub vrrp_instance: Vec<RawVrrpInstance>,
    #[serde(default)]
    pub vrrp_sync_group: Vec<RawSyncGroup>,
    pub sync: Option<super::sync::RawSync>,
    pub announce: Option<super::announce::RawAnnounce>,
    #[serde(default)]
    pub proxy: super::proxy::raw::RawProxy,
    #[serde(default)]
    pub frontend: Vec<super::proxy::raw::RawSection>,
    #[serde(default)]
    pub backend: Vec<super::proxy::raw::RawSection>,
}

/// keepalived's global_defs that concern VRRP, and defaults for instances.
#[derive(Debug, Default, Deserialize)]
pub struct RawVrrpGlobal {
    pub version: Option<Spanned<u32>>,
    // The garp_* keys repeat in RawVrrpInstance (per-instance overrides):
    // serde's flatten would lose the spans errors point at.
    pub router_id: Option<String>,
    /// Announcements per burst after taking over.
    pub garp_master_repeat: Option<Spanned<u32>>,
    /// Seconds after taking over until the second burst (0 = none).
    pub garp_master_delay: Option<Spanned<u32>>,
    /// Seconds between bursts while master (0 = off).
    pub garp_master_refresh: Option<Spanned<u32>>,
    /// Announcements per refresh burst.
    pub garp_master_refresh_repeat: Option<Spanned<u32>>,
    #[serde(default)]
    pub notification_email: Vec<String>,
    pub notification_email_from: Option<String>,
    pub smtp_server: Option<String>,
    pub smtp_connect_timeout: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct RawVrrpInstance {
    pub name: Spanned<String>,
    pub interface: Spanned<String>,
    pub virtual_router_id: Spanned<u32>,
    pub priority: Option<Spanned<u32>>,
    /// Seconds; v3 takes hundredths.
    pub advert_int: Option<Spanned<f64>>,
    pub version: Option<Spanned<u32>>,
    /// "MASTER" starts as master at once (keepalived); "BACKUP" waits.
    pub state: Option<Spanned<String>>,
    #[serde(default)]
    pub nopreempt: bool,
    pub preempt_delay: Option<Spanned<u32>>,
    pub authentication: Option<Spanned<RawVrrpAuth>>,
    pub virtual_ipaddress: Spanned<Vec<Spanned<String>>>,
    pub unicast_src_ip: Option<Spanned<String>>,
    #[serde(default)]
    pub unicast_peer: Vec<Spanned<String>>,
    /// "eth1" (fault when down) or "eth1 weight -20" (lower the priority).
    #[serde(default)]
    pub track_interface: Vec<Spanned<String>>,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    pub notify_fault: Option<String>,
    /// Run with: INSTANCE name state priority (keepalived's `notify`).
    pub notify: Option<String>,
    #[serde(default)]
    pub smtp_alert: bool,
    /// Announcements per burst after taking over.
    pub garp_master_repeat: Option<Spanned<u32>>,
    /// Seconds after taking over until the second burst (0 = none).
    pub garp_master_delay: Option<Spanned<u32>>,
    /// Seconds between bursts while master (0 = off).
    pub garp_master_refresh: Option<Spanned<u32>>,
    /// Announcements per refresh burst.
    pub garp_master_refresh_repeat: Option<Spanned<u32>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RawVrrpAuth {
    pub auth_type: Spanned<String>,
    pub auth_pass: Spanned<String>,
}

#[derive(Debug, Deserialize)]
pub struct RawSyncGroup {
    pub name: Spanned<String>,
    pub group: Spanned<Vec<Spanned<String>>>,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    pub notify_fault: Option<String>,
    pub notify: Option<String>,
    #[serde(default)]
    pub smtp_alert: bool,
}

/// Packets to `addresses` with `protocol` and a port in `ports` or
/// `port_ranges` ("10000-20000") get `mark`.
#[derive(Debug, Deserialize)]
pub struct RawMarkRule {
    pub mark: Spanned<u32>,
    pub addresses: Spanned<Vec<Spanned<String>>>,
    #[serde(default = "default_protocol")]
    pub protocol: Spanned<String>,
    #[serde(default)]
    pub ports: Vec<Spanned<u32>>,
    #[serde(default)]
    pub port_ranges: Vec<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct RawDaemon {
    pub socket: Option<String>,
    /// Octal, as chmod takes it: "0660".
    pub socket_mode: Option<Spanned<String>>,
    pub socket_owner: Option<Spanned<String>>,
    pub socket_group: Option<Spanned<String>>,
    #[serde(default)]
    pub interfaces: Vec<Spanned<String>>,
    pub workers: Option<Spanned<u32>>,
    pub cores: Option<Spanned<Vec<usize>>>,
    pub poll: Option<Spanned<String>>,
    pub xdp_mode: Option<Spanned<String>>,
    pub bind: Option<Spanned<String>>,
    pub conn_table_size: Option<Spanned<u64>>,
    pub syn_proxy_threshold: Option<Spanned<u64>>,
}

/// `[metrics]` and `[dashboard]`: an HTTP endpoint that is off unless set.
#[derive(Debug, Default, Deserialize)]
pub struct RawListen {
    /// ADDRESS:PORT; absent = off.
    pub listen: Option<Spanned<String>>,
}

/// ipvsadm --set's three timeouts, in seconds.
#[derive(Debug, Default, Deserialize)]
pub struct RawTimeouts {
    pub tcp: Option<Spanned<u32>>,
    pub tcp_fin: Option<Spanned<u32>>,
    pub udp: Option<Spanned<u32>>,
}

#[derive(Debug, Deserialize)]
pub struct RawVirtualServer {
    pub name: Option<String>,
    pub address: Option<Spanned<String>>,
    pub port: Option<Spanned<u32>>,
    /// Instead of address and port: the mark of a [[firewall_mark]] rule.
    pub fwmark: Option<Spanned<u32>>,
    #[serde(default = "default_protocol")]
    pub protocol: Spanned<String>,
    #[serde(default = "default_scheduler")]
    pub scheduler: Spanned<String>,
    #[serde(default = "default_forwarding")]
    pub forwarding: Spanned<String>,
    #[serde(default)]
    pub real_server: Vec<RawRealServer>,
    /// Health check for every real server of the service.
    pub check: Option<Spanned<RawCheck>>,
    /// "ADDRESS[:PORT]": takes connections when no real server can.
    pub sorry_server: Option<Spanned<String>>,
    /// Minimum total weight of live real servers (keepalived quorum).
    pub quorum: Option<Spanned<u32>>,
    pub hysteresis: Option<Spanned<u32>>,
    pub quorum_up: Option<String>,
    pub quorum_down: Option<String>,
    /// Seconds over which a real server that joins or comes back ramps
    /// from weight 1 to its full weight.
    pub slow_start: Option<Spanned<u32>>,
    /// Seconds a client sticks to its real server (IPVS persistence).
    pub persistence_timeout: Option<Spanned<u32>>,
    /// Prefix length (24) or netmask ("255.255.255.0") grouping clients.
    pub persistence_granularity: Option<Spanned<toml::Value>>,
    /// The NAT FTP helper on this control-connection service.
    pub ftp: Option<Spanned<bool>>,
    /// "auto" (default), "on" or "off".
    pub syn_proxy: Option<Spanned<String>>,
    /// New connections per second the service takes at most.
    pub max_conn_rate: Option<Spanned<u32>>,
    /// Live connections one client address may have to the service.
    pub max_conns_per_client: Option<Spanned<u32>>,
    /// Whether a TCP segment other than a SYN may open a connection
    /// (IPVS's sloppy_tcp); default: on for DR and TUN services scheduled
    /// by `mh` or `sh`.
    pub sloppy_tcp: Option<Spanned<bool>>,
}

/// keepalived's checkers with HAProxy's thresholds; see docs/checks.md.
#[derive(Debug, Clone, Deserialize)]
pub struct RawCheck {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    /// delay_loop / inter, seconds
    pub interval: Option<Spanned<f64>>,
    /// connect_timeout, seconds
    pub timeout: Option<Spanned<f64>>,
    pub rise: Option<Spanned<u32>>,
    pub fall: Option<Spanned<u32>>,
    pub retry: Option<Spanned<u32>>,
    pub delay_before_retry: Option<Spanned<f64>>,
    pub connect_ip: Option<Spanned<String>>,
    pub connect_port: Option<Spanned<u32>>,
    pub bindto: Option<Spanned<String>>,
    pub inhibit_on_failure: Option<bool>,
    // http
    pub path: Option<Spanned<String>>,
    pub host: Option<String>,
    pub status: Option<Spanned<Vec<u16>>>,
    pub digest: Option<Spanned<String>>,
    // misc
    pub command: Option<Spanned<String>>,
    pub dynamic: Option<Spanned<bool>>,
    // udp
    pub payload: Option<Spanned<String>>,
    pub require_reply: Option<Spanned<bool>>,
}

#[derive(Debug, Deserialize)]
pub struct RawRealServer {
    pub address: Spanned<String>,
    pub port: Option<Spanned<u32>>,
    #[serde(default = "default_weight")]
    pub weight: Spanned<i64>,
    /// Overrides the service's check for this real server.
    pub check: Option<Spanned<RawCheck>>,
    /// IPVS's upper and lower connection thresholds.
    pub uthreshold: Option<Spanned<u32>>,
    pub lthreshold: Option<Spanned<u32>>,
    /// Commands run (with /bin/sh -c) when its check marks it up / down.
    pub notify_up: Option<String>,
    pub notify_down: Option<String>,
}

fn default_protocol() -> Spanned<String> {
    Spanned::new(0..0, "tcp".into())
}
fn default_scheduler() -> Spanned<String> {
    Spanned::new(0..0, "wlc".into())
}
fn default_forwarding() -> Spanned<String> {
    Spanned::new(0..0, "nat".into())
}
fn default_weight() -> Spanned<i64> {
    Spanned::new(0..0, 1)
}
