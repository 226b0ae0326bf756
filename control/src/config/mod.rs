//! Configuration: TOML parsed into `raw` structs, then validated whole into
//! the checked `Config` the daemon builds snapshots from. Every problem is
//! reported (not only the first) as `file:line:col: what` plus how to fix it.

mod raw;
mod vrrp;

pub use vrrp::{
    GarpSettings, MailSettings, Notify, SyncGroupDef, TrackDef, VipDef, VrrpInstanceDef,
    VrrpSettings,
};

use raw::{RawConfig, RawVirtualServer};
use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use xlb_dataplane::conn::{TcpState, Timeouts};
use xlb_dataplane::sched::SchedulerKind;
use xlb_dataplane::snapshot::Forwarding;
use xlb_dataplane::stats::{MAX_REALS, MAX_SERVICES};
use xlb_dataplane::steer::AttachMode;
use xlb_dataplane::worker::PollMode;
use xlb_dataplane::xsk::BindMode;

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
    pub interfaces: Vec<String>,
    /// One worker per entry; `None` = not pinned.
    pub cores: Vec<Option<usize>>,
    /// `None`: from the NIC profile of the interfaces' driver.
    pub poll: Option<PollMode>,
    pub xdp_mode: Option<AttachMode>,
    pub bind: Option<BindMode>,
    pub conn_table_size: usize,
    /// Prometheus metrics address (`[metrics] listen`); `None` = off.
    pub metrics: Option<std::net::SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RealServerDef {
    pub address: Ipv4Addr,
    pub port: u16,
    pub weight: u32,
    pub check: Option<CheckDef>,
    pub notify_up: Option<String>,
    pub notify_down: Option<String>,
}

/// A checked health check: the probe and what a failure does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDef {
    pub spec: xlb_checks::CheckSpec,
    /// keepalived inhibit_on_failure: a failed server keeps its place with
    /// weight 0 instead of leaving the scheduling.
    pub inhibit_on_failure: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDef {
    pub name: String,
    pub address: Ipv4Addr,
    pub port: u16,
    pub protocol: u8,
    pub scheduler: SchedulerKind,
    pub forwarding: Forwarding,
    pub reals: Vec<RealServerDef>,
    pub sorry: Option<(Ipv4Addr, u16)>,
    pub quorum: Quorum,
    pub persistence: Option<xlb_dataplane::snapshot::Persistence>,
    /// Keyed by this firewall mark (address = the mark, port 0, protocol 0).
    pub fwmark: Option<u32>,
    /// Weight ramp for servers that join or come back (0 = off).
    pub slow_start: u32,
    /// NAT FTP helper (IPVS's ip_vs_ftp) for this control service.
    pub ftp: bool,
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
    pub mark_rules: Vec<xlb_dataplane::snapshot::MarkRule>,
    pub path: PathBuf,
    pub daemon: DaemonSettings,
    pub timeouts: Timeouts,
    pub services: Vec<ServiceDef>,
    pub vrrp: VrrpSettings,
}

impl Config {
    pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                file: path.to_path_buf(),
                line: 0,
                col: 0,
                message: format!("cannot read the file: {e}"),
                help: Some("check the path and that xlb may read it".into()),
            }])
        })?;
        Config::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
        let mut v = Validator {
            path,
            text,
            errors: Vec::new(),
            marked: Default::default(),
        };
        let raw: RawConfig = match toml::from_str(text) {
            Ok(r) => r,
            Err(e) => {
                let span = e.span().unwrap_or(0..0);
                let help = if e.message().contains("unknown field") {
                    Some("remove or correct the key; docs/config.md lists every key".to_string())
                } else {
                    None
                };
                v.error(&span, e.message().trim().to_string(), help);
                return Err(ConfigErrors(v.errors));
            }
        };
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
}

struct Validator<'a> {
    path: &'a Path,
    text: &'a str,
    errors: Vec<ConfigError>,
    /// (address, protocol, port) claimed by a firewall-mark rule, and its mark.
    marked: std::collections::HashMap<(u32, u8, u16), u32>,
}

impl Validator<'_> {
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
        let metrics = raw
            .metrics
            .listen
            .as_ref()
            .and_then(|l| match l.get_ref().parse() {
                Ok(a) => Some(a),
                Err(_) => {
                    self.error(
                        &l.span(),
                        format!("metrics listen {:?} is not ADDRESS:PORT", l.get_ref()),
                        Some("e.g. listen = \"127.0.0.1:9469\" (IPv6: \"[::1]:9469\")".into()),
                    );
                    None
                }
            });
        Config {
            mark_rules,
            path: self.path.to_path_buf(),
            daemon: DaemonSettings {
                metrics,
                socket: PathBuf::from(d.socket.unwrap_or_else(|| DEFAULT_SOCKET.into())),
                interfaces: d.interfaces.into_iter().map(|s| s.into_inner()).collect(),
                cores,
                poll,
                xdp_mode,
                bind,
                conn_table_size,
            },
            timeouts,
            services,
            vrrp,
        }
    }

    fn seconds(
        &mut self,
        v: &Option<toml::Spanned<f64>>,
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

    /// A health check for real server `addr:port`.
    fn health_check(
        &mut self,
        c: &toml::Spanned<raw::RawCheck>,
        addr: Ipv4Addr,
        port: u16,
    ) -> Option<CheckDef> {
        use xlb_checks::{CheckKind, CheckSpec};
        let r = c.get_ref();
        let kind_word = r.kind.get_ref().to_ascii_lowercase();
        // Which type-specific keys are set, to reject ones of another type.
        let set: [(&str, Option<std::ops::Range<usize>>, &str); 7] = [
            ("path", r.path.as_ref().map(|v| v.span()), "http"),
            ("status", r.status.as_ref().map(|v| v.span()), "http"),
            ("digest", r.digest.as_ref().map(|v| v.span()), "http"),
            ("command", r.command.as_ref().map(|v| v.span()), "misc"),
            ("dynamic", r.dynamic.as_ref().map(|v| v.span()), "misc"),
            ("payload", r.payload.as_ref().map(|v| v.span()), "udp"),
            (
                "require_reply",
                r.require_reply.as_ref().map(|v| v.span()),
                "udp",
            ),
        ];
        for (key, span, only) in &set {
            if let Some(span) = span {
                let http_like = *only == "http"
                    && matches!(kind_word.as_str(), "http_get" | "ssl" | "ssl_get" | "https");
                let same = kind_word == *only || kind_word == format!("{only}_check") || http_like;
                if !same {
                    self.error(
                        span,
                        format!("{key} is only for type = \"{only}\" checks"),
                        Some("remove it or change the type".into()),
                    );
                }
            }
        }
        let kind = match kind_word.as_str() {
            "tcp" | "tcp_check" => CheckKind::Tcp,
            "http" | "http_get" | "ssl" | "ssl_get" | "https" => CheckKind::Http {
                tls: matches!(kind_word.as_str(), "ssl" | "ssl_get" | "https"),
                path: r.path.as_ref().map_or("/".into(), |p| p.get_ref().clone()),
                host: r.host.clone(),
                status: r
                    .status
                    .as_ref()
                    .map_or(Vec::new(), |s| s.get_ref().clone()),
                digest: r.digest.as_ref().map(|d| d.get_ref().to_ascii_lowercase()),
            },
            "misc" | "misc_check" => match &r.command {
                Some(cmd) => CheckKind::Misc {
                    command: cmd.get_ref().clone(),
                    dynamic: r.dynamic.as_ref().is_some_and(|d| *d.get_ref()),
                },
                None => {
                    self.error(
                        &r.kind.span(),
                        "a misc check needs a command".into(),
                        Some("add command = \"/path/to/script ARGS\"".into()),
                    );
                    return None;
                }
            },
            "udp" | "udp_check" => CheckKind::Udp {
                payload: r
                    .payload
                    .as_ref()
                    .map_or(Vec::new(), |p| p.get_ref().as_bytes().to_vec()),
                require_reply: r.require_reply.as_ref().is_some_and(|v| *v.get_ref()),
            },
            other => {
                self.error(
                    &r.kind.span(),
                    format!("unknown check type {other:?}"),
                    Some("use one of \"tcp\", \"http\", \"ssl\", \"misc\", \"udp\"".into()),
                );
                return None;
            }
        };
        let ip = match &r.connect_ip {
            Some(s) => self.ipv4(s, "connect_ip")?,
            None => addr,
        };
        let cport = match &r.connect_port {
            Some(p) => self.port(p, "connect_port")?,
            None => port,
        };
        let bind = match &r.bindto {
            Some(s) => Some(std::net::IpAddr::V4(self.ipv4(s, "bindto")?)),
            None => None,
        };
        let count = |v: &Option<toml::Spanned<u32>>, d: u32| v.as_ref().map_or(d, |x| *x.get_ref());
        let spec = CheckSpec {
            kind,
            target: std::net::SocketAddr::new(ip.into(), cport),
            bind,
            interval: self.seconds(&r.interval, "interval", 6.0, 3600.0),
            timeout: self.seconds(&r.timeout, "timeout", 5.0, 600.0),
            rise: count(&r.rise, 1),
            fall: count(&r.fall, 1),
            retry: count(&r.retry, 0),
            delay_before_retry: self.seconds(
                &r.delay_before_retry,
                "delay_before_retry",
                1.0,
                600.0,
            ),
        };
        Some(CheckDef {
            spec,
            inhibit_on_failure: r.inhibit_on_failure.unwrap_or(false),
        })
    }

    fn mark_rule(&mut self, r: &raw::RawMarkRule) -> Option<xlb_dataplane::snapshot::MarkRule> {
        let mark = *r.mark.get_ref();
        if mark == 0 {
            self.error(
                &r.mark.span(),
                "mark 0 means no mark".into(),
                Some("use a mark from 1".into()),
            );
            return None;
        }
        let proto = match r.protocol.get_ref().to_ascii_lowercase().as_str() {
            "tcp" => xlb_dataplane::wire::IPPROTO_TCP,
            "udp" => xlb_dataplane::wire::IPPROTO_UDP,
            other => {
                self.error(
                    &r.protocol.span(),
                    format!("unknown protocol {other:?}"),
                    Some("use \"tcp\" or \"udp\"".into()),
                );
                return None;
            }
        };
        let addrs: Vec<u32> = r
            .addresses
            .get_ref()
            .iter()
            .filter_map(|a| self.ipv4(a, "firewall_mark address"))
            .map(u32::from)
            .collect();
        if r.addresses.get_ref().is_empty() {
            self.error(
                &r.addresses.span(),
                "no addresses".into(),
                Some("list the VIPs this mark covers".into()),
            );
        }
        let mut ports: Vec<(u16, u16)> = r
            .ports
            .iter()
            .filter_map(|p| self.port(p, "firewall_mark port"))
            .map(|p| (p, p))
            .collect();
        for pr in &r.port_ranges {
            let parsed = pr.get_ref().split_once('-').and_then(|(a, b)| {
                let (a, b) = (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?);
                (a >= 1 && a <= b).then_some((a, b))
            });
            match parsed {
                Some(range) => ports.push(range),
                None => self.error(
                    &pr.span(),
                    format!("port range {:?} is not LOW-HIGH", pr.get_ref()),
                    Some("e.g. \"10000-20000\" with 1 <= LOW <= HIGH <= 65535".into()),
                ),
            }
        }
        if ports.is_empty() {
            self.error(
                &r.mark.span(),
                format!("firewall_mark {mark} covers no port"),
                Some("add ports = [...] or port_ranges = [\"LOW-HIGH\"]".into()),
            );
            return None;
        }
        for &a in &addrs {
            for &(lo, hi) in &ports {
                for p in lo..=hi {
                    if let Some(other) = self.marked.insert((a, proto, p), mark) {
                        if other != mark {
                            self.error(
                                &r.mark.span(),
                                format!(
                                    "{}:{p} is in firewall_mark {other} and {mark}",
                                    Ipv4Addr::from(a)
                                ),
                                Some("a port gets one mark: remove it from one rule".into()),
                            );
                            return None;
                        }
                    }
                }
            }
        }
        Some(xlb_dataplane::snapshot::MarkRule {
            mark,
            addrs,
            proto,
            ports,
        })
    }

    /// One of a fixed set of words; an unknown one is an error listing them.
    fn choice<T: Copy>(
        &mut self,
        v: &Option<toml::Spanned<String>>,
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

    fn ipv4(&mut self, s: &toml::Spanned<String>, what: &str) -> Option<Ipv4Addr> {
        match s.get_ref().parse::<Ipv4Addr>() {
            Ok(a) if a.is_unspecified() || a.is_broadcast() || a.is_multicast() => {
                self.error(
                    &s.span(),
                    format!("{what} {a} cannot be used"),
                    Some("use a unicast IPv4 address".into()),
                );
                None
            }
            Ok(a) => Some(a),
            Err(_) if s.get_ref().parse::<std::net::Ipv6Addr>().is_ok() => {
                self.error(
                    &s.span(),
                    format!(
                        "{what} {} is IPv6, which the dataplane does not forward yet",
                        s.get_ref()
                    ),
                    Some("use an IPv4 address".into()),
                );
                None
            }
            Err(_) => {
                self.error(
                    &s.span(),
                    format!("{what} {:?} is not an IPv4 address", s.get_ref()),
                    Some("write it as a dotted quad, e.g. \"192.0.2.10\"".into()),
                );
                None
            }
        }
    }

    fn port(&mut self, p: &toml::Spanned<u32>, what: &str) -> Option<u16> {
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

    fn service(
        &mut self,
        vs: RawVirtualServer,
        seen: &mut HashSet<(Ipv4Addr, u16, u8)>,
    ) -> Option<ServiceDef> {
        let anchor = vs
            .address
            .as_ref()
            .map(|a| a.span())
            .or(vs.fwmark.as_ref().map(|m| m.span()))
            .unwrap_or(0..0);
        let (addr, port, protocol) = match (&vs.fwmark, &vs.address, &vs.port) {
            (Some(m), None, None) => {
                let mark = *m.get_ref();
                if !self.marked.values().any(|&x| x == mark) {
                    self.error(
                        &m.span(),
                        format!("no [[firewall_mark]] rule gives mark {mark}"),
                        Some(format!(
                            "add [[firewall_mark]] with mark = {mark}, addresses and ports"
                        )),
                    );
                }
                (Some(Ipv4Addr::from(mark)), Some(0u16), Some(0u8))
            }
            (Some(m), _, _) => {
                self.error(&m.span(), "a fwmark virtual server has no address or port".into(),
                    Some("its [[firewall_mark]] rule lists the addresses and ports; remove address/port here".into()));
                return None;
            }
            (None, Some(a), Some(p)) => {
                let protocol = match vs.protocol.get_ref().to_ascii_lowercase().as_str() {
                    "tcp" => Some(xlb_dataplane::wire::IPPROTO_TCP),
                    "udp" => Some(xlb_dataplane::wire::IPPROTO_UDP),
                    other => {
                        self.error(
                            &vs.protocol.span(),
                            format!("unknown protocol {other:?}"),
                            Some("use \"tcp\" or \"udp\"".into()),
                        );
                        None
                    }
                };
                let (addr, port) = (
                    self.ipv4(a, "virtual server address"),
                    self.port(p, "virtual server port"),
                );
                if let (Some(a), Some(p), Some(pr)) = (addr, port, protocol) {
                    if let Some(m) = self.marked.get(&(u32::from(a), pr, p)) {
                        self.error(
                            &anchor,
                            format!("{a}:{p} is both this virtual server and firewall_mark {m}"),
                            Some(
                                "a port belongs to one service: remove it from one of them".into(),
                            ),
                        );
                    }
                }
                (addr, port, protocol)
            }
            (None, _, _) => {
                self.error(
                    &anchor,
                    "a virtual server needs address and port, or fwmark".into(),
                    Some("e.g. address = \"192.0.2.10\" and port = 80".into()),
                );
                return None;
            }
        };
        let scheduler = match vs.scheduler.get_ref().parse::<SchedulerKind>() {
            Ok(s) => Some(s),
            Err(e) => {
                self.error(
                    &vs.scheduler.span(),
                    e.to_string(),
                    Some("pick one of the known schedulers".into()),
                );
                None
            }
        };
        let forwarding = match vs.forwarding.get_ref().to_ascii_lowercase().as_str() {
            "nat" | "masq" => Some(Forwarding::Nat),
            "dr" | "direct" | "route" => Some(Forwarding::Dr),
            "tun" => {
                self.error(
                    &vs.forwarding.span(),
                    "tunnel forwarding (TUN) is not supported".into(),
                    Some("use \"nat\" or \"dr\"".into()),
                );
                None
            }
            other => {
                self.error(
                    &vs.forwarding.span(),
                    format!("unknown forwarding {other:?}"),
                    Some("use \"nat\" or \"dr\"".into()),
                );
                None
            }
        };
        let (addr, port, protocol) = (addr?, port?, protocol?);
        if !seen.insert((addr, port, protocol)) {
            self.error(
                &anchor,
                format!(
                    "virtual server {addr}:{port} {} is defined twice",
                    vs.protocol.get_ref()
                ),
                Some("merge the two definitions".into()),
            );
        }
        let mut reals = Vec::new();
        let mut seen_r = HashSet::new();
        for r in &vs.real_server {
            let a = self.ipv4(&r.address, "real server address");
            let p = match &r.port {
                Some(p) => self.port(p, "real server port"),
                None => Some(port),
            };
            let w = match u32::try_from(*r.weight.get_ref()) {
                Ok(w) if w <= 65535 => Some(w),
                _ => {
                    self.error(
                        &r.weight.span(),
                        format!("weight {} is out of range", r.weight.get_ref()),
                        Some("use 0 (quiesced) to 65535".into()),
                    );
                    None
                }
            };
            if let (Some(Forwarding::Dr), Some(p)) = (forwarding, p) {
                if p != port {
                    let span = r
                        .port
                        .as_ref()
                        .map(|p| p.span())
                        .unwrap_or(r.address.span());
                    self.error(&span, format!("real server port {p} differs from the virtual server port {port}, which DR cannot do"),
                        Some(format!("DR only changes the MAC address: use port = {port}, or forwarding = \"nat\"")));
                }
            }
            let check = match (r.check.as_ref().or(vs.check.as_ref()), a, p) {
                (Some(c), Some(a), Some(p)) => self.health_check(c, a, p),
                _ => None,
            };
            let (Some(a), Some(p), Some(w)) = (a, p, w) else {
                continue;
            };
            if !seen_r.insert((a, p)) {
                self.error(
                    &r.address.span(),
                    format!("real server {a}:{p} is listed twice in this virtual server"),
                    Some("remove one".into()),
                );
                continue;
            }
            reals.push(RealServerDef {
                address: a,
                port: p,
                weight: w,
                check,
                notify_up: r.notify_up.clone(),
                notify_down: r.notify_down.clone(),
            });
        }
        let sorry = vs.sorry_server.as_ref().and_then(|v| {
            let text = v.get_ref();
            let (a, p) = match text.rsplit_once(':') {
                Some((a, p)) => (a, p.parse::<u16>().ok().filter(|&p| p > 0)),
                None => (text.as_str(), Some(port)),
            };
            match (a.parse::<Ipv4Addr>(), p) {
                (Ok(a), Some(p)) if forwarding != Some(Forwarding::Dr) || p == port => Some((a, p)),
                (Ok(_), Some(p)) => {
                    self.error(&v.span(), format!("sorry_server port {p} differs from the virtual server port {port}, which DR cannot do"), Some(format!("use port {port}")));
                    None
                }
                _ => {
                    self.error(&v.span(), format!("sorry_server {text:?} is not ADDRESS or ADDRESS:PORT"), Some("e.g. sorry_server = \"192.0.2.99:8080\"".into()));
                    None
                }
            }
        });
        let prefix = match &vs.persistence_granularity {
            None => Some(32),
            Some(v) => match v.get_ref() {
                toml::Value::Integer(n) if (0..=32).contains(n) => Some(*n as u8),
                toml::Value::String(m) => match m.parse::<Ipv4Addr>().map(u32::from) {
                    Ok(bits) if bits.leading_ones() + bits.trailing_zeros() == 32 => {
                        Some(bits.leading_ones() as u8)
                    }
                    _ => None,
                },
                _ => None,
            }
            .or_else(|| {
                self.error(
                    &v.span(),
                    format!("persistence_granularity {} is not a netmask", v.get_ref()),
                    Some("use a prefix length (24) or a netmask (\"255.255.255.0\")".into()),
                );
                None
            }),
        };
        let persistence = match (&vs.persistence_timeout, prefix) {
            (Some(t), Some(prefix)) if *t.get_ref() > 0 => {
                Some(xlb_dataplane::snapshot::Persistence {
                    timeout: *t.get_ref(),
                    prefix,
                })
            }
            (None, _) if vs.persistence_granularity.is_some() => {
                let span = vs
                    .persistence_granularity
                    .as_ref()
                    .map(|g| g.span())
                    .unwrap_or(0..0);
                self.error(
                    &span,
                    "persistence_granularity without persistence_timeout".into(),
                    Some("set persistence_timeout (seconds), or remove the granularity".into()),
                );
                None
            }
            _ => None,
        };
        let quorum = Quorum {
            min: vs.quorum.as_ref().map_or(1, |q| *q.get_ref()),
            hysteresis: vs.hysteresis.as_ref().map_or(0, |h| *h.get_ref()),
            up: vs.quorum_up.clone(),
            down: vs.quorum_down.clone(),
        };
        if let Some(h) = &vs.hysteresis {
            if *h.get_ref() >= quorum.min.max(1) {
                self.error(
                    &h.span(),
                    format!(
                        "hysteresis {} is not below quorum {}",
                        h.get_ref(),
                        quorum.min
                    ),
                    Some("hysteresis must be smaller than quorum".into()),
                );
            }
        }
        let ftp = match &vs.ftp {
            Some(f) if *f.get_ref() => {
                if forwarding != Some(Forwarding::Nat) {
                    self.error(
                        &f.span(),
                        "ftp = true needs forwarding = \"nat\": in DR the director never sees the server's replies".into(),
                        Some("for DR, group port 21 and the passive ports in a [[firewall_mark]] service with persistence_timeout (docs/ftp.md)".into()),
                    );
                }
                if protocol != xlb_dataplane::wire::IPPROTO_TCP || vs.fwmark.is_some() {
                    self.error(
                        &f.span(),
                        "ftp = true needs a TCP service by address and port (the control port, usually 21)".into(),
                        Some("set address, port = 21 and protocol = \"tcp\"".into()),
                    );
                }
                true
            }
            _ => false,
        };
        Some(ServiceDef {
            ftp,
            name: vs.name.unwrap_or_else(|| match &vs.fwmark {
                Some(m) => format!("fwmark {}", m.get_ref()),
                None => format!("{addr}:{port}"),
            }),
            address: addr,
            port,
            protocol,
            scheduler: scheduler?,
            forwarding: forwarding?,
            reals,
            sorry,
            quorum,
            persistence,
            fwmark: vs.fwmark.as_ref().map(|m| *m.get_ref()),
            slow_start: vs.slow_start.as_ref().map_or(0, |v| *v.get_ref()),
        })
    }
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
