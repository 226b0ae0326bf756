//! Configuration: TOML parsed into `raw` structs, then validated whole into
//! the checked `Config` the daemon builds snapshots from. Every problem is
//! reported (not only the first) as `file:line:col: what` plus how to fix it.

mod announce;
pub mod edit;
mod health;
mod mark;
pub mod proxy;
mod raw;
mod service;
mod sync;
mod vrrp;

pub use announce::AnnounceSettings;
pub use sync::{SyncPeers, SyncSettings};
pub use vrrp::{
    GarpSettings, MailSettings, Notify, SyncGroupDef, TrackDef, VipDef, VrrpInstanceDef,
    VrrpSettings,
};

use crate::check::CheckSpec;
use crate::keys::{RealKey, ServiceKey};
use crate::proto::Protocol;
use crate::sched::SchedulerKind;
use crate::service::{Forwarding, MarkRule, Persistence, MAX_REALS, MAX_SERVICES};
use crate::settings::{AttachMode, BindMode, PollMode};
use crate::tcp::{TcpState, Timeouts};
use raw::RawConfig;
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

pub const DEFAULT_SOCKET: &str = "/run/xlb/xlbd.sock";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    /// 1-based; 0 when the problem has no place in the file.
    pub line: usize,
    pub col: usize,
    pub message: String,
    pub help: Option<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(
                f,
                "{}:{}:{}: {}",
                self.file.display(),
                self.line,
                self.col,
                self.message
            )?;
        } else {
            write!(f, "{}: {}", self.file.display(), self.message)?;
        }
        if let Some(h) = &self.help {
            write!(f, "\n  help: {h}")?;
        }
        Ok(())
    }
}

/// All the errors of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonSettings {
    pub socket: PathBuf,
    /// Who may use the API socket (whoever can, controls xlbd).
    pub socket_access: SocketAccess,
    pub interfaces: Vec<String>,
    /// One worker per entry; `None` = not pinned.
    pub cores: Vec<Option<usize>>,
    /// `None`: from the NIC profile of the interfaces' driver.
    pub poll: Option<PollMode>,
    pub xdp_mode: Option<AttachMode>,
    pub bind: Option<BindMode>,
    pub conn_table_size: usize,
    /// Half-open connections per worker above which `syn_proxy = "auto"`
    /// services are SYN-proxied (0: an eighth of `conn_table_size`).
    pub syn_proxy_threshold: usize,
    /// Prometheus metrics address (`[metrics] listen`); `None` = off.
    pub metrics: Option<std::net::SocketAddr>,
    /// The live dashboard's address (`[dashboard] listen`); `None` = off.
    pub dashboard: Option<std::net::SocketAddr>,
}

/// The API socket's permissions as configured. Names are resolved on the
/// host (xlbd's start checks them), not here: the file is checked the same
/// on any machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketAccess {
    /// Permission bits, at most 0o770.
    pub mode: u32,
    /// User or numeric uid; `None`: xlbd's own (root).
    pub owner: Option<String>,
    /// Group or numeric gid; `None`: xlbd's own.
    pub group: Option<String>,
}

impl Default for SocketAccess {
    fn default() -> SocketAccess {
        SocketAccess {
            mode: 0o600,
            owner: None,
            group: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServerDef {
    pub address: IpAddr,
    pub port: u16,
    pub weight: u32,
    /// keepalived's uthreshold/lthreshold (IPVS's upper and lower
    /// connection thresholds; 0: none). At the upper one the server takes
    /// no new connection until it is below the lower one (3/4 of the
    /// upper when not set).
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub check: Option<CheckDef>,
    pub notify_up: Option<String>,
    pub notify_down: Option<String>,
}

/// A checked health check: the probe and what a failure does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDef {
    pub spec: CheckSpec,
    /// keepalived inhibit_on_failure: a failed server keeps its place with
    /// weight 0 instead of leaving the scheduling.
    pub inhibit_on_failure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDef {
    pub name: String,
    /// VIP:port/protocol, or the firewall mark it is keyed by.
    pub key: ServiceKey,
    pub scheduler: SchedulerKind,
    pub forwarding: Forwarding,
    pub reals: Vec<RealServerDef>,
    pub sorry: Option<(IpAddr, u16)>,
    pub quorum: Quorum,
    pub persistence: Option<Persistence>,
    /// Weight ramp for servers that join or come back (0 = off).
    pub slow_start: u32,
    /// NAT FTP helper (IPVS's ip_vs_ftp) for this control service.
    pub ftp: bool,
    /// SYN proxy (docs/security.md): `Off` wherever it cannot work (DR,
    /// UDP, the FTP helper), whatever was asked.
    pub syn_proxy: crate::service::SynProxy,
    /// New connections per second over the director (0: no limit).
    pub max_conn_rate: u32,
    /// Live connections per client address (0: no limit).
    pub max_conns_per_client: u32,
    /// A TCP segment other than a SYN may open a connection (IPVS's
    /// sloppy_tcp): another director's flow that ECMP moved here.
    pub sloppy_tcp: bool,
}

impl ServiceDef {
    /// The key of one of this service's real servers.
    pub fn real_key(&self, r: &RealServerDef) -> RealKey {
        RealKey::new(self.key, r.address, r.port)
    }

    /// The service's port (0 for a firewall-mark service).
    pub fn port(&self) -> u16 {
        self.key.address().map_or(0, |(_, p, _)| p)
    }
}

/// keepalived's quorum: the service is "up" while the weights of its live
/// real servers add up to `min`; it goes down below `min - hysteresis` and
/// up again at `min + hysteresis`, running `up`/`down`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quorum {
    pub min: u32,
    pub hysteresis: u32,
    pub up: Option<String>,
    pub down: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub mark_rules: Vec<MarkRule>,
    pub path: PathBuf,
    pub daemon: DaemonSettings,
    pub timeouts: Timeouts,
    pub services: Vec<ServiceDef>,
    pub vrrp: VrrpSettings,
    /// Frontends and backends (HAProxy's half); empty when none.
    pub proxy: crate::proxy::ProxySettings,
    /// Connection synchronisation with the other director; None: off.
    pub sync: Option<SyncSettings>,
    /// Route announcement through BIRD (active/active); None: off.
    pub announce: Option<AnnounceSettings>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        Config::parse(path, &Config::read(path)?)
    }

    /// A configuration file's text, or the error `load` would give.
    pub fn read(path: &Path) -> Result<String, ConfigErrors> {
        std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line: 0,
                col: 0,
                message: format!("cannot read the file: {e}"),
                help: Some("check the path and that xlb may read it".into()),
            }])
        })
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
        let mut v = Validator {
            path,
            text,
            errors: Vec::new(),
            marked: Default::default(),
        };
        // Keys the structs do not know are collected, not fatal, so every
        // one is reported with the rest of the file's errors.
        let mut unknown: Vec<String> = Vec::new();
        let de = toml::Deserializer::new(text);
        let raw: RawConfig =
            match serde_ignored::deserialize(de, |path| unknown.push(path.to_string())) {
                Ok(r) => r,
                Err(e) => {
                    let span = e.span().unwrap_or(0..0);
                    let help = foreign_format(text).or_else(|| syntax_help(e.message()));
                    v.error(&span, e.message().trim().to_string(), help);
                    return Err(ConfigErrors(v.errors));
                }
            };
        v.unknown_keys(&unknown);
        let cfg = v.check(raw);
        if v.errors.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigErrors(v.errors))
        }
    }

    pub fn total_reals(&self) -> usize {
        self.services.iter().map(|s| s.reals.len()).sum()
    }

    pub fn service(&self, key: &ServiceKey) -> Option<&ServiceDef> {
        self.services.iter().find(|s| s.key == *key)
    }

    /// A real server's service and definition.
    pub fn real(&self, key: &RealKey) -> Option<(&ServiceDef, &RealServerDef)> {
        let s = self.service(&key.service)?;
        let r = s.reals.iter().find(|r| s.real_key(r) == *key)?;
        Some((s, r))
    }

    /// Every real server's key, with its service and definition.
    pub fn reals(&self) -> impl Iterator<Item = (RealKey, &ServiceDef, &RealServerDef)> {
        self.services
            .iter()
            .flat_map(|s| s.reals.iter().map(move |r| (s.real_key(r), s, r)))
    }
}

struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
    errors: Vec<ConfigError>,
    /// (address, protocol, port) claimed by a firewall-mark rule, and its mark.
    marked: HashMap<(IpAddr, Protocol, u16), u32>,
}

impl Validator<'_> {
    /// Every key no part of the configuration knows, with its place.
    fn unknown_keys(&mut self, paths: &[String]) {
        for path in paths {
            let name = path.rsplit('.').next().unwrap_or(path);
            let span = key_span(self.text, path).unwrap_or(0..0);
            let section: Vec<&str> = path
                .split('.')
                .filter(|p| p.parse::<usize>().is_err())
                .collect();
            let within = match section.split_last() {
                Some((_, [])) | None => String::new(),
                Some((_, parents)) => format!(" in [{}]", parents.join(".")),
            };
            self.error(
                &span,
                format!("unknown field `{name}`{within}"),
                Some("remove or correct the key; docs/config.md lists every key".into()),
            );
        }
    }

    fn error(&mut self, span: &Range<usize>, message: String, help: Option<String>) {
        let (line, col) = if span.start == 0 && span.end == 0 {
            (0, 0)
        } else {
            line_col(self.text, span.start)
        };
        self.errors.push(ConfigError {
            file: self.path.to_path_buf(),
            line,
            col,
            message,
            help,
        });
    }

    fn check(&mut self, raw: RawConfig) -> Config {
        let d = raw.daemon;
        let poll = self.choice(
            &d.poll,
            "poll mode",
            &[
                ("wakeup", PollMode::Wakeup),
                ("busy-poll", PollMode::BusyPoll),
            ],
        );
        let xdp_mode = self.choice(
            &d.xdp_mode,
            "xdp_mode",
            &[
                ("driver", AttachMode::Driver),
                ("generic", AttachMode::Generic),
            ],
        );
        let bind = self.choice(
            &d.bind,
            "bind mode",
            &[
                ("auto", BindMode::Auto),
                ("copy", BindMode::Copy),
                ("zero-copy", BindMode::ZeroCopy),
            ],
        );
        let cores: Vec<Option<usize>> = match (&d.cores, &d.workers) {
            (Some(c), Some(w)) if c.get_ref().len() != *w.get_ref() as usize => {
                self.error(
                    &w.span(),
                    format!(
                        "workers = {} but cores lists {}",
                        w.get_ref(),
                        c.get_ref().len()
                    ),
                    Some("give one core per worker, or drop `workers`".into()),
                );
                c.get_ref().iter().map(|&c| Some(c)).collect()
            }
            (Some(c), _) if c.get_ref().is_empty() => {
                self.error(
                    &c.span(),
                    "cores is empty".into(),
                    Some("list at least one core, e.g. cores = [1]".into()),
                );
                vec![None]
            }
            (Some(c), _) => c.get_ref().iter().map(|&c| Some(c)).collect(),
            (None, Some(w)) if *w.get_ref() == 0 || *w.get_ref() > 256 => {
                self.error(
                    &w.span(),
                    format!("workers = {} is out of range", w.get_ref()),
                    Some("use 1 to 256 workers".into()),
                );
                vec![None]
            }
            (None, Some(w)) => vec![None; *w.get_ref() as usize],
            (None, None) => vec![None],
        };
        let conn_table_size = match &d.conn_table_size {
            None => 1 << 20,
            Some(n) if *n.get_ref() < 1024 || *n.get_ref() > (1 << 28) => {
                self.error(
                    &n.span(),
                    format!("conn_table_size = {} is out of range", n.get_ref()),
                    Some("use 1024 to 268435456 connections per worker".into()),
                );
                1 << 20
            }
            Some(n) => *n.get_ref() as usize,
        };
        let syn_proxy_threshold = match &d.syn_proxy_threshold {
            None => 0,
            Some(n) if *n.get_ref() < 1 || *n.get_ref() > conn_table_size as u64 => {
                self.error(
                    &n.span(),
                    format!(
                        "syn_proxy_threshold = {} is out of range (conn_table_size is {conn_table_size})",
                        n.get_ref()
                    ),
                    Some("use 1 to conn_table_size half-open connections per worker".into()),
                );
                0
            }
            Some(n) => *n.get_ref() as usize,
        };
        let mut seen_if = HashSet::new();
        for i in &d.interfaces {
            if i.get_ref().is_empty() || i.get_ref().len() >= 16 {
                self.error(
                    &i.span(),
                    format!("{:?} is not a valid interface name", i.get_ref()),
                    Some("interface names are 1 to 15 characters".into()),
                );
            } else if !seen_if.insert(i.get_ref().clone()) {
                self.error(
                    &i.span(),
                    format!("interface {} is listed twice", i.get_ref()),
                    None,
                );
            }
        }
        if d.interfaces.is_empty() && !raw.virtual_server.is_empty() {
            self.error(
                &(0..0),
                "[daemon] interfaces is empty but virtual servers are configured".into(),
                Some(
                    "list the NICs the dataplane owns, e.g. interfaces = [\"eth0\", \"eth1\"]"
                        .into(),
                ),
            );
        }

        let mut timeouts = Timeouts::default();
        let t = &raw.timeouts;
        for (field, states) in [
            (&t.tcp, &[TcpState::Established][..]),
            (&t.tcp_fin, &[TcpState::FinWait, TcpState::TimeWait][..]),
        ] {
            if let Some(v) = field {
                if *v.get_ref() == 0 {
                    self.error(
                        &v.span(),
                        "a timeout of 0 would expire connections at once".into(),
                        Some(
                            "use seconds > 0; IPVS defaults: tcp 900, tcp_fin 120, udp 300".into(),
                        ),
                    );
                }
                for s in states {
                    timeouts.tcp[*s as usize] = *v.get_ref();
                }
            }
        }
        if let Some(v) = &t.udp {
            if *v.get_ref() == 0 {
                self.error(
                    &v.span(),
                    "a timeout of 0 would expire connections at once".into(),
                    Some("use seconds > 0; IPVS default for udp is 300".into()),
                );
            }
            timeouts.udp = *v.get_ref();
        }

        let vrrp = self.vrrp(raw.vrrp, raw.vrrp_instance, raw.vrrp_sync_group);
        let sync = self.sync(raw.sync);
        let mark_rules: Vec<_> = raw
            .firewall_mark
            .iter()
            .filter_map(|r| self.mark_rule(r))
            .collect();
        let mut services = Vec::new();
        let mut seen = HashSet::new();
        for vs in raw.virtual_server {
            if let Some(s) = self.service(vs, &mut seen) {
                services.push(s);
            }
        }
        if services.len() > MAX_SERVICES {
            self.error(
                &(0..0),
                format!(
                    "{} virtual servers; at most {MAX_SERVICES} are supported",
                    services.len()
                ),
                None,
            );
        }
        let reals: usize = services.iter().map(|s| s.reals.len()).sum();
        if reals > MAX_REALS {
            self.error(
                &(0..0),
                format!("{reals} real servers in all; at most {MAX_REALS} are supported"),
                None,
            );
        }
        let proxy = self.proxy(raw.proxy, raw.frontend, raw.backend, &services);
        let served: std::collections::BTreeSet<IpAddr> = services
            .iter()
            .filter_map(|s| s.key.address().map(|(a, _, _)| a))
            .chain(
                mark_rules
                    .iter()
                    .flat_map(|r| r.addrs.iter().map(|a| a.ip())),
            )
            .collect();
        let announce = self.announce(raw.announce, &served, &vrrp.vips().collect());
        let metrics = self.listen("metrics", &raw.metrics, 9469);
        let dashboard = self.listen("dashboard", &raw.dashboard, 9470);
        if let (Some(m), Some(d), Some(l)) = (metrics, dashboard, &raw.dashboard.listen) {
            if m == d {
                self.error(
                    &l.span(),
                    format!("dashboard listen {d} is also [metrics] listen"),
                    Some("give the dashboard a port of its own, e.g. 9470".into()),
                );
            }
        }
        let socket_access = self.socket_access(&d);
        Config {
            mark_rules,
            path: self.path.to_path_buf(),
            daemon: DaemonSettings {
                metrics,
                dashboard,
                socket_access,
                socket: PathBuf::from(d.socket.unwrap_or_else(|| DEFAULT_SOCKET.into())),
                interfaces: d.interfaces.into_iter().map(|s| s.into_inner()).collect(),
                cores,
                poll,
                xdp_mode,
                bind,
                conn_table_size,
                syn_proxy_threshold,
            },
            timeouts,
            services,
            vrrp,
            proxy,
            sync,
            announce,
        }
    }

    /// `[SECTION] listen`: an ADDRESS:PORT, or off when absent.
    fn listen(
        &mut self,
        section: &str,
        raw: &raw::RawListen,
        port: u16,
    ) -> Option<std::net::SocketAddr> {
        let l = raw.listen.as_ref()?;
        match l.get_ref().parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.error(
                    &l.span(),
                    format!("{section} listen {:?} is not ADDRESS:PORT", l.get_ref()),
                    Some(format!(
                        "e.g. listen = \"127.0.0.1:{port}\" (IPv6: \"[::1]:{port}\")"
                    )),
                );
                None
            }
        }
    }

    fn socket_access(&mut self, d: &raw::RawDaemon) -> SocketAccess {
        let mut access = SocketAccess::default();
        if let Some(m) = &d.socket_mode {
            let text = m.get_ref();
            match u32::from_str_radix(text, 8) {
                Ok(mode) if mode <= 0o777 && mode & 0o007 == 0 => access.mode = mode,
                Ok(mode) if mode <= 0o777 => self.error(
                    &m.span(),
                    format!("socket_mode {text:?} lets every local user control xlbd"),
                    Some(
                        "the API reloads and drains: give access to a group instead, \
                         e.g. socket_mode = \"0660\" with socket_group = \"xlb\""
                            .into(),
                    ),
                ),
                _ => self.error(
                    &m.span(),
                    format!("socket_mode {text:?} is not an octal file mode"),
                    Some("e.g. socket_mode = \"0660\" (owner and group read and write)".into()),
                ),
            }
        }
        let name = |v: &Option<Spanned<String>>, this: &mut Self, what: &str| {
            let v = v.as_ref()?;
            let n = v.get_ref().trim();
            if n.is_empty() || n.contains(['/', ':', ' ']) {
                this.error(
                    &v.span(),
                    format!("socket_{what} {:?} is not a name or a number", v.get_ref()),
                    Some(format!("e.g. socket_{what} = \"xlb\", or a numeric id")),
                );
                return None;
            }
            Some(n.to_string())
        };
        access.owner = name(&d.socket_owner, self, "owner");
        access.group = name(&d.socket_group, self, "group");
        access
    }

    fn seconds(
        &mut self,
        v: &Option<Spanned<f64>>,
        what: &str,
        default: f64,
        max: f64,
    ) -> std::time::Duration {
        let Some(v) = v else {
            return std::time::Duration::from_secs_f64(default);
        };
        let x = *v.get_ref();
        if !(0.01..=max).contains(&x) {
            self.error(
                &v.span(),
                format!("{what} = {x} is out of range"),
                Some(format!("use 0.01 to {max} seconds")),
            );
            return std::time::Duration::from_secs_f64(default);
        }
        std::time::Duration::from_secs_f64(x)
    }

    /// One of a fixed set of words; an unknown one is an error listing them.
    fn choice<T: Copy>(
        &mut self,
        v: &Option<Spanned<String>>,
        what: &str,
        options: &[(&str, T)],
    ) -> Option<T> {
        let v = v.as_ref()?;
        let word = v.get_ref().to_ascii_lowercase();
        if let Some((_, t)) = options.iter().find(|(name, _)| *name == word) {
            return Some(*t);
        }
        let known: Vec<String> = options.iter().map(|(n, _)| format!("{n:?}")).collect();
        self.error(
            &v.span(),
            format!("unknown {what} {:?}", v.get_ref()),
            Some(format!("use one of {}", known.join(", "))),
        );
        None
    }

    /// A unicast address of either family.
    fn address(&mut self, s: &Spanned<String>, what: &str) -> Option<IpAddr> {
        let a = match s.get_ref().parse::<IpAddr>() {
            Ok(a) => a,
            Err(_) => {
                self.error(
                    &s.span(),
                    format!("{what} {:?} is not an IP address", s.get_ref()),
                    Some(
                        "write it as a dotted quad, e.g. \"192.0.2.10\", or IPv6, e.g. \
                         \"2001:db8::10\" (names are not resolved)"
                            .into(),
                    ),
                );
                return None;
            }
        };
        self.usable_address(a, &s.span(), what)
    }

    fn usable_address(&mut self, a: IpAddr, span: &Range<usize>, what: &str) -> Option<IpAddr> {
        let why = match a {
            IpAddr::V4(v4) if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() => {
                Some("use a unicast IPv4 address")
            }
            IpAddr::V6(v6) if v6.is_unspecified() || v6.is_multicast() || v6.is_loopback() => {
                Some("use a unicast IPv6 address")
            }
            // Packets carry the plain IPv4 address: a mapped one would
            // name an IPv4 host in IPv6 clothing.
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => {
                Some("write the IPv4 address itself")
            }
            // fe80::/10 needs a zone (an interface) that a service has not.
            IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
                Some("use a global or unique-local (fd00::/8) address, not a link-local one")
            }
            _ => None,
        };
        match why {
            Some(help) => {
                self.error(
                    span,
                    format!("{what} {a} cannot be used"),
                    Some(help.into()),
                );
                None
            }
            None => Some(a),
        }
    }

    /// "tcp" or "udp", in any case.
    fn protocol(&mut self, s: &Spanned<String>) -> Option<Protocol> {
        match s.get_ref().parse::<Protocol>() {
            Ok(p) => Some(p),
            Err(_) => {
                self.error(
                    &s.span(),
                    format!("unknown protocol {:?}", s.get_ref().to_ascii_lowercase()),
                    Some("use \"tcp\" or \"udp\"".into()),
                );
                None
            }
        }
    }

    fn port(&mut self, p: &Spanned<u32>, what: &str) -> Option<u16> {
        match u16::try_from(*p.get_ref()) {
            Ok(v) if v > 0 => Some(v),
            _ => {
                self.error(
                    &p.span(),
                    format!("{what} {} is not a port", p.get_ref()),
                    Some("use 1 to 65535".into()),
                );
                None
            }
        }
    }
}

/// When a file that is not TOML is another director's configuration, say
/// how to translate it rather than where its syntax broke.
fn foreign_format(text: &str) -> Option<String> {
    // Section keywords opening a line that is no TOML assignment.
    let words: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.contains('='))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let has = |w: &str| words.contains(&w);
    let what = if has("virtual_server") || has("vrrp_instance") || has("global_defs") {
        "keepalived.conf"
    } else if has("frontend") || has("backend") || has("listen") || has("defaults") {
        "haproxy.cfg"
    } else {
        return None;
    };
    Some(format!(
        "this looks like a {what}, not xlb's TOML: translate it with          `xlbctl import FILE > xlb.toml` (docs/import.md), then check that"
    ))
}

/// A plain-language hint for a TOML syntax error.
fn syntax_help(message: &str) -> Option<String> {
    let m = message.to_ascii_lowercase();
    let hint = if m.contains("invalid type") || m.contains("invalid value") {
        "docs/config.md gives every key with its type (a \"string\", a number, true/false, [a list])"
    } else if m.contains("escape") || m.contains("string") || m.contains("quote") {
        "a string is in double quotes on one line; inside it a backslash starts an escape \
         (write \\\\ for one backslash, \\\" for a quote), or use 'single quotes' for text without escapes"
    } else if m.contains("array") {
        "an array is [a, b, c] with commas between the items and a closing ]"
    } else if m.contains("duplicate key") {
        "a key may appear once per table; remove one of them"
    } else if m.contains("table") || m.contains("redefined") {
        "a [table] appears once; repeat [[double brackets]] for a list of tables such as [[virtual_server]]"
    } else if m.contains("expected `=`") || m.contains("expected `.`") || m.contains("key") {
        "write one key = value per line; keys are bare words (letters, digits, _ and -)"
    } else {
        "check the TOML syntax here: key = value, strings in \"double quotes\", tables as [name]"
    };
    Some(hint.to_string())
}

/// Line and column (1-based) of a dotted key path in a configuration's
/// text (`virtual_server.0.real_server.2.address`), to place an error
/// found after validation (by the host checks) where the key is written.
pub fn locate(text: &str, path: &str) -> Option<(usize, usize)> {
    key_span(text, path).map(|s| line_col(text, s.start))
}

/// Where a dotted key path (`virtual_server.0.real_server.1.wieght`, as
/// serde_ignored names it) is in the text: the span of its last key.
fn key_span(text: &str, path: &str) -> Option<Range<usize>> {
    let doc = toml_edit::ImDocument::parse(text).ok()?;
    let mut table: &dyn toml_edit::TableLike = doc.as_table();
    let parts: Vec<&str> = path.split('.').collect();
    let (last, walk) = parts.split_last()?;
    let mut i = 0;
    while i < walk.len() {
        let item = table.get(walk[i])?;
        match item {
            toml_edit::Item::Table(t) => table = t,
            toml_edit::Item::ArrayOfTables(a) => {
                i += 1;
                table = a.get(walk.get(i)?.parse::<usize>().ok()?)?;
            }
            toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => table = t,
            _ => return None,
        }
        i += 1;
    }
    let (k, _) = table.get_key_value(last)?;
    k.span()
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

#[cfg(test)]
mod tests;
