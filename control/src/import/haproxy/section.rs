//! The keywords of `defaults`, `frontend`, `backend` and `listen` sections,
//! read into [`Section`]s: what translates is kept (already in xlb's
//! words), what does not becomes a warning and an `XLB-IMPORT` comment.

use super::addr::{self, Host, Port};
use super::lex::{join, Line};
use super::{tq, Ctx};
use xlb_model::config::proxy as model;

/// Capabilities, as HAProxy's PR_CAP_FE / PR_CAP_BE and defaults.
pub const FE: u8 = 1;
pub const BE: u8 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Defaults,
    Frontend,
    Backend,
    Listen,
}

impl Kind {
    pub fn caps(self) -> u8 {
        match self {
            Kind::Defaults | Kind::Listen => FE | BE,
            Kind::Frontend => FE,
            Kind::Backend => BE,
        }
    }
    pub fn word(self) -> &'static str {
        match self {
            Kind::Defaults => "defaults",
            Kind::Frontend => "frontend",
            Kind::Backend => "backend",
            Kind::Listen => "listen",
        }
    }
}

/// HAProxy's timeout names, xlb's keys, and who uses them.
pub const TIMEOUTS: [(&str, &str, u8); 8] = [
    ("http-request", "http_request", FE | BE),
    ("http-keep-alive", "http_keep_alive", FE | BE),
    ("client", "client", FE),
    ("connect", "connect", BE),
    ("server", "server", BE),
    ("queue", "queue", BE),
    ("check", "check", BE),
    ("tunnel", "tunnel", BE),
];

/// The log format options: `option httplog` / `tcplog`, or neither
/// (`no option httplog`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFmt {
    Plain,
    Http,
    Tcp,
}

/// Server settings, of a `server` line or `default-server` lines; values
/// already as TOML.
#[derive(Debug, Clone, Default)]
pub struct Srv {
    pub check: Option<bool>,
    pub inter: Option<String>,
    pub fastinter: Option<String>,
    pub downinter: Option<String>,
    pub rise: Option<u32>,
    pub fall: Option<u32>,
    pub weight: Option<u32>,
    pub backup: Option<bool>,
    pub maxconn: Option<u32>,
    pub disabled: Option<bool>,
    pub cookie: Option<String>,
    pub id: Option<u32>,
    pub check_port: Option<u32>,
    pub check_addr: Option<String>,
    /// `ssl` (TLS to the server), with its line: such a server is left out.
    pub ssl: Option<(bool, usize)>,
}

impl Srv {
    /// `over`'s settings on top of these.
    pub fn merged(&self, over: &Srv) -> Srv {
        Srv {
            check: over.check.or(self.check),
            inter: over.inter.clone().or_else(|| self.inter.clone()),
            fastinter: over.fastinter.clone().or_else(|| self.fastinter.clone()),
            downinter: over.downinter.clone().or_else(|| self.downinter.clone()),
            rise: over.rise.or(self.rise),
            fall: over.fall.or(self.fall),
            weight: over.weight.or(self.weight),
            backup: over.backup.or(self.backup),
            maxconn: over.maxconn.or(self.maxconn),
            disabled: over.disabled.or(self.disabled),
            cookie: over.cookie.clone().or_else(|| self.cookie.clone()),
            id: over.id.or(self.id),
            check_port: over.check_port.or(self.check_port),
            check_addr: over.check_addr.clone().or_else(|| self.check_addr.clone()),
            ssl: over.ssl.or(self.ssl),
        }
    }
    /// `key = value` pairs of an inline table, in a fixed order.
    pub fn fields(&self) -> Vec<String> {
        let mut f = Vec::new();
        let b = |f: &mut Vec<String>, k: &str, v: Option<bool>| {
            if let Some(v) = v {
                f.push(format!("{k} = {v}"));
            }
        };
        let n = |f: &mut Vec<String>, k: &str, v: Option<u32>| {
            if let Some(v) = v {
                f.push(format!("{k} = {v}"));
            }
        };
        let t = |f: &mut Vec<String>, k: &str, v: &Option<String>| {
            if let Some(v) = v {
                f.push(format!("{k} = {v}"));
            }
        };
        b(&mut f, "check", self.check);
        t(&mut f, "inter", &self.inter);
        t(&mut f, "fastinter", &self.fastinter);
        t(&mut f, "downinter", &self.downinter);
        n(&mut f, "rise", self.rise);
        n(&mut f, "fall", self.fall);
        n(&mut f, "weight", self.weight);
        b(&mut f, "backup", self.backup);
        n(&mut f, "maxconn", self.maxconn);
        b(&mut f, "disabled", self.disabled);
        if let Some(c) = &self.cookie {
            f.push(format!("cookie = {}", tq(c)));
        }
        n(&mut f, "id", self.id);
        n(&mut f, "check_port", self.check_port);
        if let Some(a) = &self.check_addr {
            f.push(format!("check_addr = {}", tq(a)));
        }
        f
    }
}

/// `stats` lines: the page's URI (`stats enable` alone: HAProxy's
/// default), and a `stats auth` line if the page asks for a password.
#[derive(Debug, Clone)]
pub struct Stats {
    pub uri: Option<String>,
    pub auth: Option<usize>,
    pub line: usize,
}

impl Stats {
    pub fn uri(&self) -> String {
        self.uri.clone().unwrap_or_else(|| "/haproxy?stats".into())
    }
}

/// What a defaults section gives, and what a section sets itself.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub mode: Option<String>,
    pub maxconn: Option<u32>,
    /// "global", "off", or a target, as xlb writes it.
    pub log: Option<String>,
    pub logfmt: Option<LogFmt>,
    pub dontlognull: Option<bool>,
    pub forwardfor: Option<bool>,
    pub redispatch: Option<bool>,
    pub allbackups: Option<bool>,
    /// TOML values, in [`TIMEOUTS`]' order.
    pub timeouts: [Option<String>; 8],
    pub balance: Option<String>,
    pub hash_type: Option<String>,
    pub cookie: Option<String>,
    pub retries: Option<u32>,
    /// `option httpchk`'s words.
    pub httpchk: Option<Vec<String>>,
    /// `http-check send` meth, uri, ver.
    pub send: [Option<String>; 3],
    pub check_host: Option<String>,
    pub expect: Option<String>,
    pub default_server: Srv,
    pub default_backend: Option<String>,
    pub stats: Option<Stats>,
    /// `tcp-request inspect-delay`, as a TOML value.
    pub inspect_delay: Option<String>,
}

impl Settings {
    /// `own` on top of these (HAProxy: a section starts as a copy of its
    /// defaults section and its keywords override).
    pub fn merged(&self, own: &Settings) -> Settings {
        let mut timeouts = self.timeouts.clone();
        for (t, o) in timeouts.iter_mut().zip(&own.timeouts) {
            if o.is_some() {
                t.clone_from(o);
            }
        }
        // A section's own `option httpchk` or `http-check send` starts a new
        // check request: the defaults' method, URI, version and Host do not
        // carry over (an inherited `option httpchk` still makes the checks
        // HTTP ones). reg-tests/checks/http-check-send.vtc, be3 and be5.
        let own_check = own.httpchk.is_some()
            || own.send.iter().any(Option::is_some)
            || own.check_host.is_some();
        let (httpchk, send, check_host) = if own_check {
            (
                own.httpchk
                    .clone()
                    .or_else(|| self.httpchk.as_ref().map(|_| Vec::new())),
                own.send.clone(),
                own.check_host.clone(),
            )
        } else {
            (
                self.httpchk.clone(),
                self.send.clone(),
                self.check_host.clone(),
            )
        };
        Settings {
            mode: own.mode.clone().or_else(|| self.mode.clone()),
            maxconn: own.maxconn.or(self.maxconn),
            log: own.log.clone().or_else(|| self.log.clone()),
            logfmt: own.logfmt.or(self.logfmt),
            dontlognull: own.dontlognull.or(self.dontlognull),
            forwardfor: own.forwardfor.or(self.forwardfor),
            redispatch: own.redispatch.or(self.redispatch),
            allbackups: own.allbackups.or(self.allbackups),
            timeouts,
            balance: own.balance.clone().or_else(|| self.balance.clone()),
            hash_type: own.hash_type.clone().or_else(|| self.hash_type.clone()),
            cookie: own.cookie.clone().or_else(|| self.cookie.clone()),
            retries: own.retries.or(self.retries),
            httpchk,
            send,
            check_host,
            expect: own.expect.clone().or_else(|| self.expect.clone()),
            default_server: self.default_server.merged(&own.default_server),
            default_backend: own
                .default_backend
                .clone()
                .or_else(|| self.default_backend.clone()),
            stats: own.stats.clone().or_else(|| self.stats.clone()),
            inspect_delay: own
                .inspect_delay
                .clone()
                .or_else(|| self.inspect_delay.clone()),
        }
    }

    pub fn mode(&self) -> &str {
        self.mode.as_deref().unwrap_or("tcp")
    }

    /// `option httpchk` with `http-check send`'s method, URI and version
    /// (which win, as in HAProxy), in xlb's `httpchk` words.
    pub fn httpchk_value(&self) -> Option<String> {
        let base = self.httpchk.as_ref()?;
        if self.send.iter().all(Option::is_none) && !base.is_empty() {
            return Some(join(base));
        }
        let (m, u, v) = match base.as_slice() {
            [] => (None, None, None),
            [u] => (None, Some(u.clone()), None),
            [m, u] => (Some(m.clone()), Some(u.clone()), None),
            [m, u, v, ..] => (Some(m.clone()), Some(u.clone()), Some(v.clone())),
        };
        let m = self.send[0]
            .clone()
            .or(m)
            .unwrap_or_else(|| "OPTIONS".into());
        let u = self.send[1].clone().or(u).unwrap_or_else(|| "/".into());
        let mut w = vec![m, u];
        // HAProxy's version when none is given.
        w.push(
            self.send[2]
                .clone()
                .or(v)
                .unwrap_or_else(|| "HTTP/1.0".into()),
        );
        Some(join(&w))
    }
}

/// One `bind` line's addresses and TLS options.
#[derive(Debug, Clone)]
pub struct Bind {
    pub line: usize,
    pub addrs: Vec<String>,
    pub ssl: bool,
    pub crt: Option<String>,
    pub alpn: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Server {
    pub line: usize,
    pub name: String,
    pub addr: addr::Addr,
    pub opts: Srv,
    /// The section's own default-server settings when this line was read.
    pub defaults: Srv,
    /// Comment lines for this server (its untranslated options).
    pub notes: Vec<String>,
}

#[derive(Debug)]
pub struct Section {
    pub kind: Kind,
    pub name: String,
    pub line: usize,
    /// The defaults section this one starts from (an index).
    pub defaults: Option<usize>,
    pub own: Settings,
    pub binds: Vec<Bind>,
    /// Every port HAProxy listens on for this section, translated or not
    /// (`None`: one could not be read).
    pub ports: Option<Vec<u16>>,
    pub acls: Vec<(usize, Vec<String>)>,
    pub use_backend: Vec<(usize, Vec<String>)>,
    pub servers: Vec<Server>,
    /// A default-server line after a server line: HAProxy applies it only
    /// to the servers after it.
    pub default_server_late: bool,
    pub description: Option<String>,
    pub notes: Vec<String>,
}

impl Section {
    pub fn new(kind: Kind, name: String, line: usize) -> Section {
        Section {
            kind,
            name,
            line,
            defaults: None,
            own: Settings::default(),
            binds: Vec::new(),
            ports: Some(Vec::new()),
            acls: Vec::new(),
            use_backend: Vec::new(),
            servers: Vec::new(),
            default_server_late: false,
            description: None,
            notes: Vec::new(),
        }
    }
}

/// Words each bind option takes after it (HAProxy 2.6's bind keywords).
fn bind_arity(opt: &str) -> usize {
    match opt {
        "alpn"
        | "ca-file"
        | "ca-verify-file"
        | "ca-ignore-err"
        | "ca-sign-file"
        | "ca-sign-pass"
        | "ciphers"
        | "ciphersuites"
        | "crl-file"
        | "crt"
        | "crt-ignore-err"
        | "crt-list"
        | "curves"
        | "ecdhe"
        | "ssl-min-ver"
        | "ssl-max-ver"
        | "tls-ticket-keys"
        | "verify"
        | "npn"
        | "interface"
        | "mss"
        | "tcp-ut"
        | "namespace"
        | "gid"
        | "group"
        | "mode"
        | "uid"
        | "user"
        | "level"
        | "expose-fd"
        | "severity-output"
        | "accept-netscaler-cip"
        | "backlog"
        | "id"
        | "maxconn"
        | "name"
        | "nice"
        | "process"
        | "proto"
        | "shards"
        | "thread"
        | "quic-cc-algo" => 1,
        _ => 0,
    }
}

/// Words each server option takes after it (HAProxy 2.6's server keywords).
fn server_arity(opt: &str) -> usize {
    match opt {
        "alpn" | "ca-file" | "check-alpn" | "check-sni" | "ciphers" | "ciphersuites"
        | "crl-file" | "crt" | "npn" | "sni" | "ssl-min-ver" | "ssl-max-ver" | "verify"
        | "verifyhost" | "tcp-ut" | "agent-addr" | "agent-inter" | "agent-port" | "agent-send"
        | "check-proto" | "error-limit" | "ws" | "init-addr" | "log-proto" | "maxqueue"
        | "max-reuse" | "minconn" | "namespace" | "observe" | "on-error" | "on-marked-down"
        | "on-marked-up" | "pool-low-conn" | "pool-max-conn" | "pool-purge-delay" | "proto"
        | "proxy-v2-options" | "redir" | "resolve-net" | "resolve-opts" | "resolve-prefer"
        | "resolvers" | "slowstart" | "track" | "socks4" | "source" | "usesrc" | "interface" => 1,
        _ => 0,
    }
}

/// A HAProxy time as a TOML value: milliseconds as a number, else the
/// string with its unit.
pub fn time_value(v: &str) -> Result<String, String> {
    model::words::time(v)?;
    Ok(if v.chars().all(|c| c.is_ascii_digit()) {
        v.to_string()
    } else {
        tq(v)
    })
}

fn number(v: &str, what: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .map_err(|_| format!("{what} {v:?} is not a number"))
}

/// One keyword line of a defaults, frontend, backend or listen section.
pub fn keyword(ctx: &mut Ctx, s: &mut Section, l: &Line) {
    let what = join(&l.words);
    let (no, w): (bool, &[String]) = match l.word(0) {
        "no" => (true, &l.words[1..]),
        _ => (false, &l.words[..]),
    };
    let kw = w.first().map_or("", String::as_str);
    let arg = |i: usize| w.get(i).map_or("", String::as_str);
    let n = l.n;
    // Whether the keyword belongs in this kind of section; a warning if
    // not (HAProxy ignores it there, with a warning of its own).
    let fits = |ctx: &mut Ctx, s: &mut Section, cap: u8, in_defaults: bool| -> bool {
        if s.kind == Kind::Defaults && !in_defaults {
            ctx.warn(
                &mut s.notes,
                n,
                format!("{what}: HAProxy does not take {kw} in a defaults section; not translated"),
            );
            return false;
        }
        if s.kind.caps() & cap == 0 {
            let side = if cap == FE { "frontend" } else { "backend" };
            ctx.warn(
                &mut s.notes,
                n,
                format!(
                    "{what}: a {side} keyword in a {}, which HAProxy ignores; not translated",
                    s.kind.word()
                ),
            );
            return false;
        }
        true
    };
    match (no, kw) {
        (false, "mode") => match arg(1) {
            m @ ("http" | "tcp") => s.own.mode = Some(m.to_string()),
            _ => ctx.warn(
                &mut s.notes,
                n,
                format!("{what}: xlb's modes are http and tcp; not translated"),
            ),
        },
        (false, "bind") => {
            if fits(ctx, s, FE, false) {
                bind(ctx, s, l, &w[1..]);
            }
        }
        (false, "maxconn") => {
            if fits(ctx, s, FE, true) {
                match number(arg(1), "maxconn") {
                    Ok(v) => s.own.maxconn = Some(v),
                    Err(e) => ctx.warn(&mut s.notes, n, format!("{what}: {e}")),
                }
            }
        }
        (false, "acl") => {
            if s.kind == Kind::Backend || s.kind == Kind::Defaults {
                ctx.warn(
                    &mut s.notes,
                    n,
                    format!(
                        "{what}: xlb's ACLs are the frontends' (for use_backend); an acl in a {} is not translated",
                        s.kind.word()
                    ),
                );
            } else {
                s.acls.push((n, w[1..].to_vec()));
            }
        }
        (false, "use_backend") => {
            if fits(ctx, s, FE, false) {
                s.use_backend.push((n, w[1..].to_vec()));
            }
        }
        (false, "default_backend") => {
            if fits(ctx, s, FE, true) {
                s.own.default_backend = Some(arg(1).to_string());
            }
        }
        (_, "log") => log(ctx, s, l, no, &w[1..]),
        (_, "option") => option(ctx, s, l, no, &w[1..]),
        (false, "http-check") => {
            if fits(ctx, s, BE, true) {
                http_check(ctx, s, l, &w[1..]);
            }
        }
        (false, "balance") => {
            if fits(ctx, s, BE, true) {
                let v = join(&w[1..]);
                match model::balance(&v) {
                    Ok(_) => s.own.balance = Some(v),
                    Err((e, _)) => ctx.warn(
                        &mut s.notes,
                        n,
                        format!("{what}: {e}; not translated (the backend balances roundrobin, or as its defaults)"),
                    ),
                }
            }
        }
        (false, "hash-type") => {
            if fits(ctx, s, BE, true) {
                let v = join(&w[1..]);
                match model::hash_type(&v) {
                    Ok(_) => s.own.hash_type = Some(v),
                    Err((e, _)) => ctx.warn(&mut s.notes, n, format!("{what}: {e}; not translated")),
                }
            }
        }
        (false, "cookie") => {
            if fits(ctx, s, BE, true) {
                cookie(ctx, s, l, &w[1..]);
            }
        }
        (false, "retries") => {
            if fits(ctx, s, BE, true) {
                match number(arg(1), "retries") {
                    Ok(v) => s.own.retries = Some(v),
                    Err(e) => ctx.warn(&mut s.notes, n, format!("{what}: {e}")),
                }
            }
        }
        (false, "timeout") => timeout(ctx, s, l, arg(1), arg(2), false),
        (false, old @ ("contimeout" | "clitimeout" | "srvtimeout")) => {
            let name = match old {
                "contimeout" => "connect",
                "clitimeout" => "client",
                _ => "server",
            };
            timeout(ctx, s, l, name, arg(1), true);
        }
        (false, "stats") => stats(ctx, s, l, &w[1..]),
        (false, "tcp-request") if arg(1) == "inspect-delay" => {
            if fits(ctx, s, FE, true) {
                match time_value(arg(2)) {
                    Ok(v) => s.own.inspect_delay = Some(v),
                    Err(e) => ctx.warn(&mut s.notes, n, format!("{what}: {e}; not translated")),
                }
            }
        }
        // What xlb's inspect-delay waits for (balance rdp-cookie's cookie).
        (false, "tcp-request")
            if w[1..].iter().map(String::as_str).eq(["content", "accept", "if", "RDP_COOKIE"]) => {}
        (false, "default-server") => {
            if fits(ctx, s, BE, true) {
                if !s.servers.is_empty() {
                    s.default_server_late = true;
                }
                let mut o = Srv::default();
                let mut notes = Vec::new();
                server_opts(ctx, &mut notes, n, "default-server", &w[1..], &mut o, true);
                s.notes.append(&mut notes);
                s.own.default_server = s.own.default_server.merged(&o);
            }
        }
        (false, "server") => {
            if fits(ctx, s, BE, false) {
                server(ctx, s, l, &w[1..]);
            }
        }
        (false, "description") if s.kind != Kind::Defaults => {
            s.description = Some(w[1..].join(" "))
        }
        // Reverts a `disabled` of the defaults: what xlb does anyway.
        (false, "enabled") => {}
        (false, "disabled") => ctx.warn(
            &mut s.notes,
            n,
            "disabled: xlb has no disabled sections; this one is imported enabled: remove it if it should stay off".to_string(),
        ),
        _ => ctx.warn(&mut s.notes, n, format!("{what}: not translated")),
    }
}

fn bind(ctx: &mut Ctx, s: &mut Section, l: &Line, w: &[String]) {
    let n = l.n;
    let what = join(&l.words);
    let Some((list, opts)) = w.split_first() else {
        ctx.warn(&mut s.notes, n, "bind without an address".to_string());
        return;
    };
    // The addresses first: the ports count for servers without one even if
    // the bind itself is left out below.
    let mut addrs = Vec::new();
    for a in list.split(',') {
        let parsed = match addr::parse(a, addr::Kind::Stream) {
            Ok(p) => p,
            Err(e) => {
                s.ports = None;
                ctx.warn(&mut s.notes, n, format!("bind {a}: {e}; not translated"));
                continue;
            }
        };
        let ports: Vec<u16> = match parsed.port {
            Port::One(p) if p > 0 => vec![p],
            Port::Range(a, b) if b - a < 64 => (a..=b).collect(),
            Port::Range(a, b) => {
                s.ports = None;
                ctx.warn(
                    &mut s.notes,
                    n,
                    format!("bind {a}-{b}: xlb binds single ports; a range of more than 64 is not translated"),
                );
                continue;
            }
            _ => {
                s.ports = None;
                ctx.warn(
                    &mut s.notes,
                    n,
                    format!("bind {a}: no port; not translated"),
                );
                continue;
            }
        };
        if let Host::Name(h) = &parsed.host {
            ctx.warn(
                &mut s.notes,
                n,
                format!("bind {a}: {h} is a host name, which HAProxy resolves when it starts and xlb does not: write its address (check-config refuses the name)"),
            );
        }
        if let Some(all) = &mut s.ports {
            all.extend(&ports);
        }
        addrs.extend(ports.iter().map(|p| parsed.host.with_port(*p)));
    }
    let (mut ssl, mut crt, mut alpn) = (false, None::<String>, None);
    let mut leave_out: Option<String> = None;
    let mut dropped = Vec::new();
    let mut i = 0;
    while i < opts.len() {
        let o = opts[i].as_str();
        let k = bind_arity(o);
        let v = opts.get(i + 1).map_or("", String::as_str);
        match o {
            "ssl" => ssl = true,
            "crt" => {
                let path = match (&ctx.crt_base, v.starts_with('/')) {
                    (Some(base), false) => format!("{}/{v}", base.trim_end_matches('/')),
                    _ => v.to_string(),
                };
                if crt.is_some() {
                    dropped.push(format!(
                        "crt {v} (xlb takes one certificate file per bind)"
                    ));
                } else {
                    crt = Some(path);
                }
            }
            "alpn" => alpn = Some(v.to_string()),
            "verify" if v == "none" => {}
            "verify" => {
                leave_out = Some(format!(
                    "verify {v}: xlb does not verify client certificates, so it would accept the clients HAProxy refuses"
                ))
            }
            "accept-proxy" | "accept-netscaler-cip" => {
                leave_out = Some(format!(
                    "{o}: xlb does not read the PROXY protocol, so clients' addresses (src ACLs, logs) would be the relay's"
                ))
            }
            _ => {
                let words: Vec<String> = opts[i..(i + 1 + k).min(opts.len())].to_vec();
                dropped.push(join(&words));
            }
        }
        i += 1 + k;
    }
    if ssl && crt.is_none() && leave_out.is_none() {
        leave_out = Some("ssl without a crt FILE (xlb takes one PEM per bind)".into());
    }
    if let Some(why) = leave_out {
        ctx.warn(
            &mut s.notes,
            n,
            format!("{what}: {why}; the bind is left out"),
        );
        return;
    }
    for d in dropped {
        ctx.warn(
            &mut s.notes,
            n,
            format!("bind {list}: option {d} not translated"),
        );
    }
    if !ssl && crt.is_some() {
        // HAProxy loads the certificate and speaks clear text.
        crt = None;
        alpn = None;
    }
    if !addrs.is_empty() {
        s.binds.push(Bind {
            line: n,
            addrs,
            ssl,
            crt,
            alpn,
        });
    }
}

/// A log line's target as xlb's `log` value ("ADDRESS[:PORT] FACILITY
/// [LEVEL]" or "stdout"), warning about what it leaves out.
pub fn log_value(ctx: &mut Ctx, notes: &mut Vec<String>, n: usize, w: &[String]) -> Option<String> {
    let what = format!("log {}", join(w));
    let Some(t) = w.first() else {
        ctx.warn(notes, n, "log without a target".to_string());
        return None;
    };
    let mut i = 1;
    while let Some(o @ ("len" | "format" | "sample" | "profile")) = w.get(i).map(String::as_str) {
        let v = w.get(i + 1).map_or("", String::as_str);
        ctx.warn(
            notes,
            n,
            format!("{what}: {o} {v} not translated (xlb writes its own log lines)"),
        );
        i += 2;
    }
    let rest = &w[i.min(w.len())..];
    if rest.len() > 2 {
        ctx.warn(
            notes,
            n,
            format!("{what}: the minimum level {} is not translated", rest[2]),
        );
    }
    let mut named = false;
    let target = match t.as_str() {
        "stdout" => return Some("stdout".into()),
        "stderr" => {
            ctx.warn(notes, n, format!("{what}: xlb logs to stdout, not stderr"));
            return Some("stdout".into());
        }
        _ => match addr::parse(t, addr::Kind::Dgram) {
            Err(e) => {
                ctx.warn(notes, n, format!("{what}: {e}; not translated"));
                return None;
            }
            Ok(a) => {
                let host = match &a.host {
                    Host::Any { .. } => {
                        ctx.warn(notes, n, format!("{what}: no address; not translated"));
                        return None;
                    }
                    Host::Ip(std::net::IpAddr::V6(v6)) => format!("[{v6}]"),
                    Host::Ip(ip) => ip.to_string(),
                    Host::Name(h) => {
                        ctx.warn(
                            notes,
                            n,
                            format!("{what}: {h} is a host name, which HAProxy resolves when it starts and xlb does not: write its address (check-config refuses the name)"),
                        );
                        named = true;
                        h.clone()
                    }
                };
                match a.port {
                    Port::None => host,
                    Port::One(p) => format!("{host}:{p}"),
                    _ => {
                        ctx.warn(
                            notes,
                            n,
                            format!("{what}: not a single port; not translated"),
                        );
                        return None;
                    }
                }
            }
        },
    };
    let Some(facility) = rest.first() else {
        ctx.warn(notes, n, format!("{what}: no facility; not translated"));
        return None;
    };
    let mut v = format!("{target} {facility}");
    if let Some(level) = rest.get(1) {
        v.push(' ');
        v.push_str(level);
    }
    if !named {
        if let Err(e) = model::words::log_target(&v) {
            ctx.warn(notes, n, format!("{what}: {e}; not translated"));
            return None;
        }
    }
    Some(v)
}

fn log(ctx: &mut Ctx, s: &mut Section, l: &Line, no: bool, w: &[String]) {
    let n = l.n;
    let what = join(&l.words);
    if s.kind == Kind::Backend {
        ctx.warn(
            &mut s.notes,
            n,
            format!("{what}: xlb logs from frontends; a backend's log is not translated"),
        );
        return;
    }
    if s.own.log.is_some() {
        ctx.warn(
            &mut s.notes,
            n,
            format!("{what}: xlb logs to one target per section; this one is not translated"),
        );
        return;
    }
    let v = if no {
        Some("off".to_string())
    } else if w.first().map(String::as_str) == Some("global") {
        Some("global".to_string())
    } else {
        log_value(ctx, &mut s.notes, n, w)
    };
    s.own.log = v;
}

fn option(ctx: &mut Ctx, s: &mut Section, l: &Line, no: bool, w: &[String]) {
    let n = l.n;
    let what = join(&l.words);
    let name = w.first().map_or("", String::as_str);
    let args = w.get(1..).unwrap_or(&[]);
    // (capability, where the value goes)
    let cap = match name {
        "httplog" | "tcplog" | "dontlognull" => FE,
        "forwardfor" => FE | BE,
        "redispatch" | "allbackups" | "httpchk" => BE,
        _ => {
            ctx.warn(&mut s.notes, n, format!("{what}: not translated"));
            return;
        }
    };
    if s.kind.caps() & cap == 0 {
        let side = if cap == FE { "frontend" } else { "backend" };
        ctx.warn(
            &mut s.notes,
            n,
            format!(
                "{what}: a {side} option in a {}, which HAProxy ignores; not translated",
                s.kind.word()
            ),
        );
        return;
    }
    let on = !no;
    match name {
        "httplog" => {
            s.own.logfmt = Some(if on { LogFmt::Http } else { LogFmt::Plain });
            if let Some(a) = args.first() {
                ctx.warn(
                    &mut s.notes,
                    n,
                    format!(
                        "{what}: the {a} format is not translated (xlb writes HAProxy's httplog)"
                    ),
                );
            }
        }
        "tcplog" => s.own.logfmt = Some(if on { LogFmt::Tcp } else { LogFmt::Plain }),
        "dontlognull" => s.own.dontlognull = Some(on),
        "forwardfor" => {
            s.own.forwardfor = Some(on);
            if !args.is_empty() {
                ctx.warn(
                    &mut s.notes,
                    n,
                    format!(
                        "{what}: {} not translated (xlb adds X-Forwarded-For always)",
                        join(args)
                    ),
                );
            }
        }
        "redispatch" => {
            s.own.redispatch = Some(on);
            if let Some(a) = args.first() {
                ctx.warn(
                    &mut s.notes,
                    n,
                    format!("{what}: the interval {a} is not translated (xlb redispatches on the last retry)"),
                );
            }
        }
        "allbackups" => s.own.allbackups = Some(on),
        _ => {
            // httpchk
            if no {
                ctx.warn(&mut s.notes, n, format!("{what}: not translated"));
                return;
            }
            match model::httpchk(&join(args)) {
                Ok(_) => s.own.httpchk = Some(args.to_vec()),
                Err((e, _)) => ctx.warn(&mut s.notes, n, format!("{what}: {e}; not translated")),
            }
        }
    }
}

fn http_check(ctx: &mut Ctx, s: &mut Section, l: &Line, w: &[String]) {
    let n = l.n;
    let what = join(&l.words);
    match w.first().map(String::as_str) {
        Some("expect") => {
            let v = join(&w[1..]);
            if s.own.expect.is_some() {
                ctx.warn(
                    &mut s.notes,
                    n,
                    format!("{what}: xlb checks one expectation; this one is not translated"),
                );
                return;
            }
            match model::http_expect(&v) {
                Ok(_) => s.own.expect = Some(v),
                Err((e, _)) => ctx.warn(&mut s.notes, n, format!("{what}: {e}; not translated")),
            }
        }
        Some("send") => {
            let mut i = 1;
            while i < w.len() {
                let k = w[i].as_str();
                let v = w.get(i + 1).cloned().unwrap_or_default();
                match k {
                    "meth" if !v.is_empty() && v.chars().all(|c| c.is_ascii_uppercase()) => {
                        s.own.send[0] = Some(v)
                    }
                    "uri" if v.starts_with('/') => s.own.send[1] = Some(v),
                    "ver" if v == "HTTP/1.0" || v == "HTTP/1.1" => s.own.send[2] = Some(v),
                    "hdr" => {
                        let value = w.get(i + 2).cloned().unwrap_or_default();
                        if v.eq_ignore_ascii_case("host") {
                            s.own.check_host = Some(value);
                        } else {
                            ctx.warn(
                                &mut s.notes,
                                n,
                                format!("http-check send hdr {v} {value}: only the Host header is translated"),
                            );
                        }
                        i += 1;
                    }
                    _ => ctx.warn(
                        &mut s.notes,
                        n,
                        format!("http-check send {k} {v}: not translated"),
                    ),
                }
                i += 2;
            }
        }
        _ => ctx.warn(&mut s.notes, n, format!("{what}: not translated")),
    }
}

fn cookie(ctx: &mut Ctx, s: &mut Section, l: &Line, w: &[String]) {
    let n = l.n;
    let what = join(&l.words);
    let mut kept = Vec::new();
    let mut i = 0;
    while i < w.len() {
        match w[i].as_str() {
            o @ ("maxidle" | "maxlife" | "attr") => {
                let v = w.get(i + 1).map_or("", String::as_str);
                ctx.warn(
                    &mut s.notes,
                    n,
                    format!("cookie option {o} {v} not translated"),
                );
                i += 2;
                continue;
            }
            "dynamic" => ctx.warn(
                &mut s.notes,
                n,
                "cookie option dynamic not translated".to_string(),
            ),
            _ => kept.push(w[i].clone()),
        }
        i += 1;
    }
    let v = join(&kept);
    match model::cookie(&v) {
        Ok(_) => s.own.cookie = Some(v),
        Err((e, _)) => ctx.warn(&mut s.notes, n, format!("{what}: {e}; not translated")),
    }
}

fn timeout(ctx: &mut Ctx, s: &mut Section, l: &Line, name: &str, v: &str, old: bool) {
    let n = l.n;
    let what = join(&l.words);
    let Some(ix) = TIMEOUTS.iter().position(|t| t.0 == name) else {
        ctx.warn(&mut s.notes, n, format!("{what}: not translated"));
        return;
    };
    let cap = TIMEOUTS[ix].2;
    if s.kind.caps() & cap == 0 {
        ctx.warn(
            &mut s.notes,
            n,
            format!(
                "{what}: HAProxy ignores timeout {name} in a {}; not translated",
                s.kind.word()
            ),
        );
        return;
    }
    match time_value(v) {
        Ok(t) => {
            s.own.timeouts[ix] = Some(t);
            if old {
                ctx.warn(
                    &mut s.notes,
                    n,
                    format!("{what}: an old name (HAProxy 2.1 and later refuse it); translated as timeout {name}"),
                );
            }
        }
        Err(e) => ctx.warn(&mut s.notes, n, format!("{what}: {e}; not translated")),
    }
}

fn stats(ctx: &mut Ctx, s: &mut Section, l: &Line, w: &[String]) {
    let n = l.n;
    let what = join(&l.words);
    if s.kind == Kind::Backend {
        ctx.warn(
            &mut s.notes,
            n,
            format!(
                "{what}: xlb serves the status page from frontends (stats_uri); not translated"
            ),
        );
        return;
    }
    // HAProxy: a section's first stats line detaches it from the defaults'.
    let st = s.own.stats.get_or_insert(Stats {
        uri: None,
        auth: None,
        line: n,
    });
    match w.first().map(String::as_str) {
        Some("enable") => {}
        Some("uri") if w.len() == 2 => st.uri = Some(w[1].clone()),
        Some("auth") => {
            st.auth = Some(n);
            ctx.warn(
                &mut s.notes,
                n,
                format!("{what}: xlb's status page has no password, so the page is left out rather than served open"),
            );
        }
        _ => ctx.warn(&mut s.notes, n, format!("{what}: not translated")),
    }
}

fn server(ctx: &mut Ctx, s: &mut Section, l: &Line, w: &[String]) {
    let n = l.n;
    let (Some(name), Some(a)) = (w.first(), w.get(1)) else {
        ctx.warn(
            &mut s.notes,
            n,
            format!(
                "{}: a server needs a name and an address; not translated",
                join(&l.words)
            ),
        );
        return;
    };
    let parsed = match addr::parse(a, addr::Kind::Stream) {
        Ok(p) => p,
        Err(e) => {
            ctx.warn(
                &mut s.notes,
                n,
                format!("server {name} {a}: {e}; the server is left out"),
            );
            return;
        }
    };
    let mut opts = Srv::default();
    let mut notes = Vec::new();
    server_opts(
        ctx,
        &mut notes,
        n,
        &format!("server {name}"),
        &w[2..],
        &mut opts,
        false,
    );
    s.servers.push(Server {
        line: n,
        name: name.clone(),
        addr: parsed,
        opts,
        defaults: s.own.default_server.clone(),
        notes,
    });
}

/// The options of a server or default-server line.
fn server_opts(
    ctx: &mut Ctx,
    notes: &mut Vec<String>,
    n: usize,
    who: &str,
    w: &[String],
    o: &mut Srv,
    default_server: bool,
) {
    let mut i = 0;
    while i < w.len() {
        let k = w[i].as_str();
        let v = w.get(i + 1).map_or("", String::as_str);
        let mut took = 0;
        let mut bad = |ctx: &mut Ctx, e: String| ctx.warn(notes, n, format!("{who}: {e}"));
        match k {
            "check" => o.check = Some(true),
            "no-check" => o.check = Some(false),
            "backup" => o.backup = Some(true),
            "no-backup" => o.backup = Some(false),
            "disabled" => o.disabled = Some(true),
            "enabled" => o.disabled = Some(false),
            "ssl" => o.ssl = Some((true, n)),
            "no-ssl" => o.ssl = Some((false, n)),
            "inter" | "fastinter" | "downinter" => {
                took = 1;
                match time_value(v) {
                    Ok(t) => {
                        let slot = match k {
                            "inter" => &mut o.inter,
                            "fastinter" => &mut o.fastinter,
                            _ => &mut o.downinter,
                        };
                        *slot = Some(t);
                    }
                    Err(e) => bad(ctx, format!("{k} {v}: {e}; not translated")),
                }
            }
            "rise" | "fall" | "weight" | "maxconn" | "id" | "port" => {
                took = 1;
                match number(v, k) {
                    Ok(x) if k == "weight" && x > model::MAX_WEIGHT => bad(
                        ctx,
                        format!(
                            "weight {x} is more than {}; not translated",
                            model::MAX_WEIGHT
                        ),
                    ),
                    Ok(x) if k == "port" && !(1..=65535).contains(&x) => {
                        bad(ctx, format!("port {x} is not a port; not translated"))
                    }
                    Ok(x) if k == "id" && default_server => {
                        bad(ctx, format!("id {x}: each server's own; not translated"))
                    }
                    Ok(x) => {
                        let slot = match k {
                            "rise" => &mut o.rise,
                            "fall" => &mut o.fall,
                            "weight" => &mut o.weight,
                            "maxconn" => &mut o.maxconn,
                            "id" => &mut o.id,
                            _ => &mut o.check_port,
                        };
                        *slot = Some(x);
                    }
                    Err(e) => bad(ctx, format!("{e}; not translated")),
                }
            }
            "cookie" => {
                took = 1;
                if default_server {
                    bad(
                        ctx,
                        format!("cookie {v}: each server's own; not translated"),
                    );
                } else {
                    o.cookie = Some(v.to_string());
                }
            }
            "addr" => {
                took = 1;
                match v.parse::<std::net::IpAddr>() {
                    Ok(_) => o.check_addr = Some(v.to_string()),
                    Err(_) => bad(
                        ctx,
                        format!("addr {v}: checks go to an IP address in xlb; not translated"),
                    ),
                }
            }
            _ => {
                took = server_arity(k);
                let words: Vec<String> = w[i..(i + 1 + took).min(w.len())].to_vec();
                bad(ctx, format!("{} not translated", join(&words)));
            }
        }
        i += 1 + took;
    }
}
