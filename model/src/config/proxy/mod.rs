//! `[proxy]`, `[[frontend]]` and `[[backend]]`: HAProxy's sections in TOML,
//! checked as HAProxy would refuse them, with HAProxy's defaults
//! (docs/proxy.md). `[proxy.defaults]` plays HAProxy's `defaults`: every
//! frontend and backend starts from it.

pub mod acl;
pub mod raw;
pub mod words;

use super::{ServiceDef, Validator};
use crate::keys::ServiceKey;
use crate::proto::Protocol;
use crate::proxy::{
    AclDef, BackendDef, Balance, BindDef, CookieDef, CookieMode, FrontendDef, HashFunction,
    HashKind, HashSpec, HttpCheckDef, HttpExpect, LogFormat, LogTarget, Mode, ProxySettings,
    ProxyTimeouts, ServerCheck, ServerDef, TlsDef, UseBackend,
};
use raw::{RawProxy, RawSection, RawServer, RawTimeouts};
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::ops::Range;
use std::path::PathBuf;
use std::time::Duration;
use toml::Spanned;

/// What `[proxy.defaults]` gives every section (HAProxy's `defaults`).
struct Defaults<'r> {
    raw: &'r RawSection,
    log: Option<LogTarget>,
}

/// HAProxy's default check timing (defaults.h: DEF_CHKINTR, DEF_RISETIME,
/// DEF_FALLTIME).
const DEFAULT_INTER: Duration = Duration::from_millis(2000);
const DEFAULT_RISE: u32 = 2;
const DEFAULT_FALL: u32 = 3;
/// HAProxy's maximum user weight.
pub const MAX_WEIGHT: u32 = 256;

impl Validator<'_> {
    pub(in crate::config) fn proxy(
        &mut self,
        raw: RawProxy,
        frontends: Vec<RawSection>,
        backends: Vec<RawSection>,
        services: &[ServiceDef],
    ) -> ProxySettings {
        let threads = match &raw.threads {
            None => 1,
            Some(t) if (1..=64).contains(t.get_ref()) => *t.get_ref() as usize,
            Some(t) => {
                self.error(
                    &t.span(),
                    format!("threads = {} is out of range", t.get_ref()),
                    Some("use 1 to 64 proxy threads".into()),
                );
                1
            }
        };
        let global_log = raw.log.as_ref().and_then(|l| self.log_target(l));
        let d = &raw.defaults;
        for (key, span) in [
            ("name", d.name.as_ref().map(Spanned::span)),
            ("bind", d.bind.first().map(Spanned::span)),
            ("acl", d.acl.first().map(Spanned::span)),
            ("use_backend", d.use_backend.first().map(Spanned::span)),
            ("stats_uri", d.stats_uri.as_ref().map(Spanned::span)),
            (
                "tcp_request_inspect_delay",
                d.tcp_request_inspect_delay.as_ref().map(Spanned::span),
            ),
            ("server", d.server.first().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                self.error(
                    &span,
                    format!("`{key}` cannot be in [proxy.defaults]"),
                    Some(format!(
                        "HAProxy's defaults hold settings, not {key}; move it to a [[frontend]] or [[backend]]"
                    )),
                );
            }
        }
        let defaults = Defaults {
            raw: d,
            log: match d.log.as_ref() {
                None => global_log.clone(),
                Some(l) => self.section_log(l, &global_log),
            },
        };
        let mut names = HashSet::new();
        let mut out_backends = Vec::new();
        for b in &backends {
            if let Some(def) = self.backend(b, &defaults, &mut names) {
                out_backends.push(def);
            }
        }
        let mut fnames = HashSet::new();
        let mut out_frontends = Vec::new();
        let mut bound: HashMap<SocketAddr, String> = HashMap::new();
        for f in &frontends {
            if let Some(def) = self.frontend(f, &defaults, &out_backends, &mut fnames) {
                self.binds_free(f, &def, &mut bound, services);
                out_frontends.push(def);
            }
        }
        ProxySettings {
            threads,
            maxconn: raw.maxconn.as_ref().map_or(0, |m| *m.get_ref()),
            frontends: out_frontends,
            backends: out_backends,
        }
    }

    /// A key given in a section it does not belong to.
    fn not_here(&mut self, span: Option<Range<usize>>, key: &str, section: &str, belongs: &str) {
        if let Some(span) = span {
            self.error(
                &span,
                format!("`{key}` does not belong in a [[{section}]]"),
                Some(format!("it is a {belongs} setting; move it there")),
            );
        }
    }

    fn mode(&mut self, s: &RawSection, d: &Defaults) -> Mode {
        let m = s.mode.as_ref().or(d.raw.mode.as_ref());
        self.choice(
            &m.cloned(),
            "mode",
            &[("http", Mode::Http), ("tcp", Mode::Tcp)],
        )
        .unwrap_or(Mode::Tcp)
    }

    fn name(&mut self, s: &RawSection, what: &str, seen: &mut HashSet<String>) -> Option<String> {
        let Some(n) = &s.name else {
            self.error(
                &(0..0),
                format!("a [[{what}]] has no name"),
                Some(format!("give every {what} a name = \"...\"")),
            );
            return None;
        };
        let name = n.get_ref();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.:".contains(c))
        {
            self.error(
                &n.span(),
                format!("{what} name {name:?} is not valid"),
                Some("use letters, digits, '_', '-', '.' and ':' (as HAProxy)".into()),
            );
            return None;
        }
        if !seen.insert(name.clone()) {
            self.error(
                &n.span(),
                format!("two {what}s are named {name}"),
                Some(format!("{what} names are unique")),
            );
            return None;
        }
        Some(name.clone())
    }

    fn frontend(
        &mut self,
        f: &RawSection,
        d: &Defaults,
        backends: &[BackendDef],
        seen: &mut HashSet<String>,
    ) -> Option<FrontendDef> {
        for (key, span) in [
            ("balance", f.balance.as_ref().map(Spanned::span)),
            ("hash_type", f.hash_type.as_ref().map(Spanned::span)),
            ("cookie", f.cookie.as_ref().map(Spanned::span)),
            ("httpchk", f.httpchk.as_ref().map(Spanned::span)),
            (
                "http_check_host",
                f.http_check_host.as_ref().map(Spanned::span),
            ),
            (
                "http_check_expect",
                f.http_check_expect.as_ref().map(Spanned::span),
            ),
            ("allbackups", f.allbackups.as_ref().map(Spanned::span)),
            ("redispatch", f.redispatch.as_ref().map(Spanned::span)),
            ("retries", f.retries.as_ref().map(Spanned::span)),
            (
                "default_server",
                f.default_server.as_ref().map(Spanned::span),
            ),
            ("server", f.server.first().map(Spanned::span)),
        ] {
            self.not_here(span, key, "frontend", "[[backend]]");
        }
        let name = self.name(f, "frontend", seen)?;
        let mode = self.mode(f, d);
        let mut binds = Vec::new();
        for b in &f.bind {
            if let Some(def) = self.bind(b, mode) {
                binds.push(def);
            }
        }
        if f.bind.is_empty() {
            self.error(
                &f.name.as_ref().map_or(0..0, Spanned::span),
                format!("frontend {name} has no bind"),
                Some("add bind = [\"ADDRESS:PORT\"], e.g. bind = [\"192.0.2.10:80\"]".into()),
            );
        }
        let mut acls: Vec<AclDef> = Vec::new();
        for line in &f.acl {
            match acl::acl_line(line.get_ref()) {
                Ok((n, c)) => match acls.iter_mut().find(|a| a.name == n) {
                    // HAProxy ORs the lines of one name.
                    Some(a) => a.criteria.push(c),
                    None => acls.push(AclDef {
                        name: n,
                        criteria: vec![c],
                    }),
                },
                Err((what, help)) => self.error(&line.span(), what, Some(help)),
            }
        }
        let mut use_backend = Vec::new();
        for rule in &f.use_backend {
            let words = match words::split(rule.get_ref()) {
                Ok(w) => w,
                Err(e) => {
                    self.error(&rule.span(), e, None);
                    continue;
                }
            };
            let Some((target, cond)) = words.split_first() else {
                self.error(
                    &rule.span(),
                    "an empty use_backend".into(),
                    Some("write \"BACKEND if ACL\"".into()),
                );
                continue;
            };
            let cond = if cond.is_empty() {
                // Unconditional, as HAProxy allows: always taken.
                crate::proxy::Condition {
                    unless: false,
                    any_of: vec![vec![crate::proxy::Term {
                        negate: false,
                        acl: crate::proxy::acl::AclRef::Predefined(
                            crate::proxy::acl::Predefined::True,
                        ),
                    }]],
                }
            } else {
                match acl::condition(cond, &acls) {
                    Ok(c) => c,
                    Err((what, help)) => {
                        self.error(&rule.span(), what, Some(help));
                        continue;
                    }
                }
            };
            if self.backend_for(target, &rule.span(), &name, mode, backends) {
                use_backend.push(UseBackend {
                    backend: target.clone(),
                    cond,
                });
            }
        }
        let default_backend = f.default_backend.as_ref().and_then(|b| {
            self.backend_for(b.get_ref(), &b.span(), &name, mode, backends)
                .then(|| b.get_ref().clone())
        });
        let stats_uri = f.stats_uri.as_ref().and_then(|u| {
            if !u.get_ref().starts_with('/') {
                self.error(
                    &u.span(),
                    format!("stats_uri {:?} is not a path", u.get_ref()),
                    Some("write it as HAProxy's `stats uri`, e.g. \"/haproxy?stats\"".into()),
                );
                return None;
            }
            if mode != Mode::Http {
                self.error(
                    &u.span(),
                    "stats_uri needs mode = \"http\"".into(),
                    Some("serve the status page from an http frontend".into()),
                );
                return None;
            }
            Some(u.get_ref().clone())
        });
        if f.default_backend.is_none() && f.use_backend.is_empty() && stats_uri.is_none() {
            self.error(
                &f.name.as_ref().map_or(0..0, Spanned::span),
                format!("frontend {name} sends its traffic nowhere"),
                Some("give it default_backend = \"NAME\" (or use_backend rules)".into()),
            );
        }
        let log = match f.log.as_ref() {
            None => d.log.clone(),
            Some(l) => {
                let global = d.log.clone();
                self.section_log(l, &global)
            }
        };
        let flag = |own: &Option<Spanned<bool>>, def: &Option<Spanned<bool>>| {
            own.as_ref().or(def.as_ref()).is_some_and(|b| *b.get_ref())
        };
        // HAProxy: `option httplog` in a tcp frontend falls back to tcplog.
        let log_format = if flag(&f.httplog, &d.raw.httplog) {
            if mode == Mode::Http {
                LogFormat::Http
            } else {
                LogFormat::Tcp
            }
        } else if flag(&f.tcplog, &d.raw.tcplog) {
            LogFormat::Tcp
        } else {
            LogFormat::Default
        };
        let maxconn = f
            .maxconn
            .as_ref()
            .or(d.raw.maxconn.as_ref())
            .map_or(0, |m| *m.get_ref());
        Some(FrontendDef {
            name,
            mode,
            binds,
            maxconn,
            acls,
            use_backend,
            default_backend,
            timeouts: self.timeouts(f, d),
            log,
            log_format,
            dontlognull: flag(&f.dontlognull, &d.raw.dontlognull),
            forwardfor: flag(&f.forwardfor, &d.raw.forwardfor),
            stats_uri,
            inspect_delay: f
                .tcp_request_inspect_delay
                .as_ref()
                .and_then(|t| self.time(t)),
        })
    }

    /// Whether `target` is a backend this frontend can send to.
    fn backend_for(
        &mut self,
        target: &str,
        span: &Range<usize>,
        frontend: &str,
        mode: Mode,
        backends: &[BackendDef],
    ) -> bool {
        match backends.iter().find(|b| b.name == target) {
            None => {
                let names: Vec<&str> = backends.iter().map(|b| b.name.as_str()).collect();
                self.error(
                    span,
                    format!("frontend {frontend} uses backend {target:?}, which does not exist"),
                    Some(if names.is_empty() {
                        "define it as a [[backend]]".into()
                    } else {
                        format!("the backends are: {}", names.join(", "))
                    }),
                );
                false
            }
            Some(b) if b.mode != mode => {
                self.error(
                    span,
                    format!(
                        "frontend {frontend} (mode {}) cannot use backend {target} (mode {})",
                        mode.name(),
                        b.mode.name()
                    ),
                    Some("as in HAProxy, a frontend and its backends share one mode".into()),
                );
                false
            }
            Some(_) => true,
        }
    }

    /// `ADDRESS:PORT [ssl crt FILE] [alpn LIST]`; `*:PORT` and `:PORT` mean
    /// every IPv4 address, as in HAProxy.
    fn bind(&mut self, b: &Spanned<String>, mode: Mode) -> Option<BindDef> {
        let span = b.span();
        let w = match words::split(b.get_ref()) {
            Ok(w) if !w.is_empty() => w,
            Ok(_) => {
                self.error(
                    &span,
                    "an empty bind".into(),
                    Some("write \"ADDRESS:PORT\"".into()),
                );
                return None;
            }
            Err(e) => {
                self.error(&span, e, None);
                return None;
            }
        };
        let addr_word = &w[0];
        let addr = match addr_word
            .strip_prefix('*')
            .or_else(|| addr_word.strip_prefix(':').map(|_| &addr_word[..]))
        {
            Some(rest) if rest.starts_with(':') => match rest[1..].parse::<u16>() {
                Ok(p) if p > 0 => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), p),
                _ => {
                    self.error(
                        &span,
                        format!("{addr_word:?} has no valid port"),
                        Some("use 1 to 65535".into()),
                    );
                    return None;
                }
            },
            _ => {
                match words::socket_addr(addr_word, None) {
                    Ok(a) if a.port() > 0 => a,
                    Ok(_) => {
                        self.error(&span, "port 0 cannot be bound".into(), None);
                        return None;
                    }
                    Err(e) => {
                        self.error(
                        &span,
                        e,
                        Some("e.g. bind = [\"192.0.2.10:80\", \"[2001:db8::10]:80\", \"*:8080\"]".into()),
                    );
                        return None;
                    }
                }
            }
        };
        let (mut ssl, mut crt, mut alpn) = (false, None, Vec::new());
        let mut i = 1;
        while i < w.len() {
            match w[i].as_str() {
                "ssl" => ssl = true,
                "crt" | "alpn" => {
                    let Some(v) = w.get(i + 1) else {
                        self.error(&span, format!("`{}` needs a value", w[i]), None);
                        return None;
                    };
                    if w[i] == "crt" {
                        crt = Some(PathBuf::from(v));
                    } else {
                        alpn = v.split(',').map(str::to_string).collect();
                    }
                    i += 1;
                }
                other => {
                    self.error(
                        &span,
                        format!("bind option {other:?} is not supported"),
                        Some("supported: ssl crt FILE, alpn h2,http/1.1".into()),
                    );
                    return None;
                }
            }
            i += 1;
        }
        let tls = match (ssl, crt) {
            (false, None) => None,
            (true, Some(crt)) => {
                if mode == Mode::Tcp && !alpn.is_empty() {
                    self.error(&span, "alpn needs mode = \"http\"".into(), None);
                }
                Some(TlsDef { crt, alpn })
            }
            (true, None) => {
                self.error(
                    &span,
                    "ssl without a certificate".into(),
                    Some("add crt FILE: a PEM with the certificate chain and its key, as HAProxy takes".into()),
                );
                return None;
            }
            (false, Some(_)) => {
                self.error(
                    &span,
                    "crt without ssl".into(),
                    Some("write \"ADDRESS:PORT ssl crt FILE\"".into()),
                );
                return None;
            }
        };
        Some(BindDef { addr, tls })
    }

    /// No two frontends on one address and port, and none on a VIP:PORT
    /// the dataplane takes for a virtual server (those packets never reach
    /// the kernel's stack the proxy listens on).
    fn binds_free(
        &mut self,
        raw: &RawSection,
        f: &FrontendDef,
        bound: &mut HashMap<SocketAddr, String>,
        services: &[ServiceDef],
    ) {
        for (b, r) in f.binds.iter().zip(&raw.bind) {
            if let Some(other) = bound.insert(b.addr, f.name.clone()) {
                self.error(
                    &r.span(),
                    format!("{} is bound by frontend {other} already", b.addr),
                    Some("one frontend per address and port".into()),
                );
            }
            let taken = services.iter().find(|s| {
                s.key
                    == ServiceKey::Endpoint {
                        addr: b.addr.ip(),
                        port: b.addr.port(),
                        proto: Protocol::Tcp,
                    }
            });
            if let Some(s) = taken {
                self.error(
                    &r.span(),
                    format!(
                        "{} is virtual server {}'s: the dataplane forwards it before the proxy could see it",
                        b.addr, s.name
                    ),
                    Some("bind the frontend to another address or port, or remove the virtual server".into()),
                );
            }
        }
    }

    fn backend(
        &mut self,
        b: &RawSection,
        d: &Defaults,
        seen: &mut HashSet<String>,
    ) -> Option<BackendDef> {
        for (key, span) in [
            ("bind", b.bind.first().map(Spanned::span)),
            ("acl", b.acl.first().map(Spanned::span)),
            ("use_backend", b.use_backend.first().map(Spanned::span)),
            (
                "default_backend",
                b.default_backend.as_ref().map(Spanned::span),
            ),
            ("stats_uri", b.stats_uri.as_ref().map(Spanned::span)),
            (
                "tcp_request_inspect_delay",
                b.tcp_request_inspect_delay.as_ref().map(Spanned::span),
            ),
            ("maxconn", b.maxconn.as_ref().map(Spanned::span)),
            ("httplog", b.httplog.as_ref().map(Spanned::span)),
            ("tcplog", b.tcplog.as_ref().map(Spanned::span)),
            ("dontlognull", b.dontlognull.as_ref().map(Spanned::span)),
            ("log", b.log.as_ref().map(Spanned::span)),
        ] {
            self.not_here(span, key, "backend", "[[frontend]]");
        }
        let name = self.name(b, "backend", seen)?;
        let mode = self.mode(b, d);
        let balance = match b.balance.as_ref().or(d.raw.balance.as_ref()) {
            None => Balance::RoundRobin,
            Some(s) => match balance(s.get_ref()) {
                Ok(x) => x,
                Err((what, help)) => {
                    self.error(&s.span(), what, Some(help));
                    Balance::RoundRobin
                }
            },
        };
        if mode == Mode::Tcp && balance.needs_http() {
            let s = b.balance.as_ref().or(d.raw.balance.as_ref());
            self.error(
                &s.map_or(0..0, Spanned::span),
                format!("balance {balance} reads HTTP requests; backend {name} is mode tcp"),
                Some("use mode = \"http\", or a tcp algorithm (roundrobin, leastconn, source, rdp-cookie...)".into()),
            );
        }
        let hash = match b.hash_type.as_ref().or(d.raw.hash_type.as_ref()) {
            None => HashSpec::default(),
            Some(s) => match hash_type(s.get_ref()) {
                Ok(h) => h,
                Err((what, help)) => {
                    self.error(&s.span(), what, Some(help));
                    HashSpec::default()
                }
            },
        };
        let cookie = b.cookie.as_ref().or(d.raw.cookie.as_ref()).and_then(|c| {
            if mode == Mode::Tcp {
                self.error(
                    &c.span(),
                    "cookie persistence needs mode = \"http\"".into(),
                    Some("in tcp mode use balance source for stickiness".into()),
                );
                return None;
            }
            match cookie(c.get_ref()) {
                Ok(x) => Some(x),
                Err((what, help)) => {
                    self.error(&c.span(), what, Some(help));
                    None
                }
            }
        });
        let httpchk = self.httpchk(b, d);
        let flag = |own: &Option<Spanned<bool>>, def: &Option<Spanned<bool>>| {
            own.as_ref().or(def.as_ref()).is_some_and(|x| *x.get_ref())
        };
        let retries = b
            .retries
            .as_ref()
            .or(d.raw.retries.as_ref())
            .map_or(3, |r| *r.get_ref());
        let servers = self.servers(b, d, &name, cookie.is_some());
        Some(BackendDef {
            name,
            mode,
            balance,
            hash,
            servers,
            cookie,
            httpchk,
            allbackups: flag(&b.allbackups, &d.raw.allbackups),
            redispatch: flag(&b.redispatch, &d.raw.redispatch),
            retries,
            forwardfor: flag(&b.forwardfor, &d.raw.forwardfor),
            timeouts: self.timeouts(b, d),
        })
    }

    fn httpchk(&mut self, b: &RawSection, d: &Defaults) -> Option<HttpCheckDef> {
        let raw = b.httpchk.as_ref().or(d.raw.httpchk.as_ref());
        let expect = match b
            .http_check_expect
            .as_ref()
            .or(d.raw.http_check_expect.as_ref())
        {
            None => HttpExpect::Default,
            Some(e) => match http_expect(e.get_ref()) {
                Ok(x) => x,
                Err((what, help)) => {
                    self.error(&e.span(), what, Some(help));
                    HttpExpect::Default
                }
            },
        };
        // A backend's own httpchk replaces the defaults' whole check
        // request, their Host included (HAProxy: a section's own
        // `option httpchk` or `http-check send` starts a new rule set).
        let host = b
            .http_check_host
            .as_ref()
            .or(if b.httpchk.is_some() {
                None
            } else {
                d.raw.http_check_host.as_ref()
            })
            .map(|h| h.get_ref().clone());
        let raw = match raw {
            Some(r) => r,
            None => {
                if let Some(e) = b.http_check_expect.as_ref() {
                    self.error(
                        &e.span(),
                        "http_check_expect without httpchk".into(),
                        Some("add httpchk = \"GET /health\" (HAProxy's option httpchk)".into()),
                    );
                }
                return None;
            }
        };
        match httpchk(raw.get_ref()) {
            Ok((method, uri, version, legacy_host)) => Some(HttpCheckDef {
                method,
                uri,
                version,
                host: host.or(legacy_host),
                expect,
            }),
            Err((what, help)) => {
                self.error(&raw.span(), what, Some(help));
                None
            }
        }
    }

    fn servers(
        &mut self,
        b: &RawSection,
        d: &Defaults,
        backend: &str,
        has_cookie: bool,
    ) -> Vec<ServerDef> {
        let base = b
            .default_server
            .as_ref()
            .or(d.raw.default_server.as_ref())
            .map(|s| s.get_ref().clone())
            .unwrap_or_default();
        for (key, span) in [
            ("name", base.name.as_ref().map(Spanned::span)),
            ("address", base.address.as_ref().map(Spanned::span)),
            ("id", base.id.as_ref().map(Spanned::span)),
            ("cookie", base.cookie.as_ref().map(Spanned::span)),
        ] {
            if let Some(span) = span {
                self.error(
                    &span,
                    format!("`{key}` cannot be in default_server"),
                    Some(format!("{key} is each server's own")),
                );
            }
        }
        let mut out: Vec<ServerDef> = Vec::new();
        let mut ids: HashSet<u32> = b
            .server
            .iter()
            .filter_map(|s| s.get_ref().id.as_ref().map(|i| *i.get_ref()))
            .collect();
        let mut names = HashSet::new();
        let mut cookies: HashMap<String, String> = HashMap::new();
        let mut next_id = 1;
        for s in &b.server {
            let span = s.span();
            let s = s.get_ref();
            let Some(name) = &s.name else {
                self.error(
                    &span,
                    format!("a server of backend {backend} has no name"),
                    Some("give every server a name = \"...\"".into()),
                );
                continue;
            };
            if !names.insert(name.get_ref().clone()) {
                self.error(
                    &name.span(),
                    format!("backend {backend} has two servers named {}", name.get_ref()),
                    Some("server names are unique within a backend".into()),
                );
                continue;
            }
            let Some(addr) = &s.address else {
                self.error(
                    &span,
                    format!("server {} has no address", name.get_ref()),
                    Some("add address = \"ADDRESS:PORT\"".into()),
                );
                continue;
            };
            let addr_v = match words::socket_addr(addr.get_ref(), None) {
                Ok(a) if a.port() > 0 && !a.ip().is_unspecified() => a,
                Ok(_) => {
                    self.error(
                        &addr.span(),
                        format!("server address {:?} cannot be used", addr.get_ref()),
                        Some("give a unicast address and a port from 1 to 65535".into()),
                    );
                    continue;
                }
                Err(e) => {
                    self.error(&addr.span(), e, None);
                    continue;
                }
            };
            let id = match &s.id {
                Some(i) if *i.get_ref() == 0 => {
                    self.error(
                        &i.span(),
                        "server id 0 is not valid".into(),
                        Some("ids start at 1".into()),
                    );
                    continue;
                }
                Some(i) => *i.get_ref(),
                None => {
                    // HAProxy: the next id no server claims, in declaration order.
                    while ids.contains(&next_id) {
                        next_id += 1;
                    }
                    ids.insert(next_id);
                    next_id
                }
            };
            if out.iter().any(|o| o.id == id) {
                self.error(
                    &s.id.as_ref().map_or(span.clone(), Spanned::span),
                    format!("server id {id} is used twice in backend {backend}"),
                    Some("ids are unique within a backend".into()),
                );
                continue;
            }
            let pick_u32 = |own: &Option<Spanned<u32>>, def: &Option<Spanned<u32>>| {
                own.as_ref()
                    .or(def.as_ref())
                    .map(|v| (*v.get_ref(), v.span()))
            };
            let pick_bool = |own: &Option<Spanned<bool>>, def: &Option<Spanned<bool>>| {
                own.as_ref().or(def.as_ref()).is_some_and(|v| *v.get_ref())
            };
            let weight = match pick_u32(&s.weight, &base.weight) {
                None => 1,
                Some((w, _)) if w <= MAX_WEIGHT => w,
                Some((w, sp)) => {
                    self.error(
                        &sp,
                        format!("weight {w} is out of range"),
                        Some(format!("use 0 to {MAX_WEIGHT}, as HAProxy")),
                    );
                    1
                }
            };
            let check = if pick_bool(&s.check, &base.check) {
                self.server_check(s, &base)
            } else {
                None
            };
            let cookie = s.cookie.as_ref().map(|c| c.get_ref().clone());
            if let (Some(c), Some(raw)) = (&cookie, &s.cookie) {
                if !has_cookie {
                    self.error(
                        &raw.span(),
                        format!(
                            "server {} has a cookie but backend {backend} no `cookie`",
                            name.get_ref()
                        ),
                        Some(
                            "add cookie = \"SERVERID insert indirect nocache\" to the backend"
                                .into(),
                        ),
                    );
                } else if let Some(other) = cookies.insert(c.clone(), name.get_ref().clone()) {
                    self.error(
                        &raw.span(),
                        format!("cookie {c:?} is server {other}'s already"),
                        Some("each server's cookie value is its own".into()),
                    );
                }
            }
            out.push(ServerDef {
                name: name.get_ref().clone(),
                addr: addr_v,
                id,
                weight,
                backup: pick_bool(&s.backup, &base.backup),
                maxconn: pick_u32(&s.maxconn, &base.maxconn).map_or(0, |v| v.0),
                disabled: pick_bool(&s.disabled, &base.disabled),
                cookie,
                check,
            });
        }
        if out.len() > 4095 {
            self.error(
                &(0..0),
                format!(
                    "backend {backend} has {} servers; HAProxy's limit is 4095",
                    out.len()
                ),
                None,
            );
        }
        out
    }

    fn server_check(&mut self, s: &RawServer, base: &RawServer) -> Option<ServerCheck> {
        let time = |v: &mut Self,
                    own: &Option<Spanned<toml::Value>>,
                    def: &Option<Spanned<toml::Value>>| {
            own.as_ref().or(def.as_ref()).and_then(|t| v.time(t))
        };
        let inter = time(self, &s.inter, &base.inter).unwrap_or(DEFAULT_INTER);
        let fastinter = time(self, &s.fastinter, &base.fastinter).unwrap_or(inter);
        let downinter = time(self, &s.downinter, &base.downinter).unwrap_or(inter);
        for t in [inter, fastinter, downinter] {
            if t.is_zero() {
                let sp = s
                    .inter
                    .as_ref()
                    .or(base.inter.as_ref())
                    .map_or(0..0, Spanned::span);
                self.error(
                    &sp,
                    "a check interval of 0".into(),
                    Some("use a time > 0, e.g. 2s".into()),
                );
                return None;
            }
        }
        let count = |v: &mut Self,
                     own: &Option<Spanned<u32>>,
                     def: &Option<Spanned<u32>>,
                     dflt: u32,
                     what: &str| {
            match own.as_ref().or(def.as_ref()) {
                None => dflt,
                Some(c) if *c.get_ref() >= 1 => *c.get_ref(),
                Some(c) => {
                    v.error(
                        &c.span(),
                        format!("{what} 0"),
                        Some(format!("{what} counts checks: 1 or more")),
                    );
                    dflt
                }
            }
        };
        let rise = count(self, &s.rise, &base.rise, DEFAULT_RISE, "rise");
        let fall = count(self, &s.fall, &base.fall, DEFAULT_FALL, "fall");
        let port = s
            .check_port
            .as_ref()
            .or(base.check_port.as_ref())
            .and_then(|p| self.port(p, "check_port"));
        let addr = s
            .check_addr
            .as_ref()
            .or(base.check_addr.as_ref())
            .and_then(|a| match a.get_ref().parse::<IpAddr>() {
                Ok(ip) => Some(ip),
                Err(_) => {
                    self.error(
                        &a.span(),
                        format!("check_addr {:?} is not an address", a.get_ref()),
                        None,
                    );
                    None
                }
            });
        Some(ServerCheck {
            inter,
            fastinter,
            downinter,
            rise,
            fall,
            addr,
            port,
        })
    }

    fn timeouts(&mut self, s: &RawSection, d: &Defaults) -> ProxyTimeouts {
        let own = s.timeout.as_ref().map(Spanned::get_ref);
        let def = d.raw.timeout.as_ref().map(Spanned::get_ref);
        let mut pick = |f: fn(&RawTimeouts) -> &Option<Spanned<toml::Value>>| {
            own.and_then(|t| f(t).as_ref())
                .or_else(|| def.and_then(|t| f(t).as_ref()))
                .and_then(|v| self.time(v))
        };
        ProxyTimeouts {
            http_request: pick(|t| &t.http_request),
            http_keep_alive: pick(|t| &t.http_keep_alive),
            client: pick(|t| &t.client),
            connect: pick(|t| &t.connect),
            server: pick(|t| &t.server),
            queue: pick(|t| &t.queue),
            check: pick(|t| &t.check),
            tunnel: pick(|t| &t.tunnel),
        }
    }

    /// A HAProxy time: milliseconds as a number, or a string with a unit.
    fn time(&mut self, v: &Spanned<toml::Value>) -> Option<Duration> {
        let r = match v.get_ref() {
            toml::Value::Integer(ms) if *ms >= 0 => words::time(&ms.to_string()),
            toml::Value::String(s) => words::time(s),
            other => Err(format!("{other} is not a time")),
        };
        match r {
            Ok(d) => Some(d),
            Err(e) => {
                self.error(
                    &v.span(),
                    e,
                    Some("write milliseconds (500) or a time with its unit (\"10s\", \"1m\", \"250ms\")".into()),
                );
                None
            }
        }
    }

    fn log_target(&mut self, l: &Spanned<String>) -> Option<LogTarget> {
        match words::log_target(l.get_ref()) {
            Ok(t) => Some(t),
            Err(e) => {
                self.error(
                    &l.span(),
                    e,
                    Some(
                        "e.g. log = \"127.0.0.1:514 local2\" (syslog over UDP) or \"stdout\""
                            .into(),
                    ),
                );
                None
            }
        }
    }

    /// A section's `log`: "global" (where `[proxy] log` says), "off", or a
    /// target of its own.
    fn section_log(
        &mut self,
        l: &Spanned<String>,
        global: &Option<LogTarget>,
    ) -> Option<LogTarget> {
        match l.get_ref().as_str() {
            "global" => global.clone(),
            "off" | "none" => None,
            _ => self.log_target(l),
        }
    }
}

type Problem = acl::Problem;

/// `balance` in HAProxy's words.
pub fn balance(s: &str) -> Result<Balance, Problem> {
    let w = words::split(s).map_err(|e| (e, String::new()))?;
    let help = || {
        "one of roundrobin, static-rr, leastconn, first, source, uri, url_param NAME, \
         hdr(NAME), rdp-cookie[(NAME)], random[(DRAWS)]"
            .to_string()
    };
    let Some((algo, args)) = w.split_first() else {
        return Err(("an empty balance".into(), help()));
    };
    let no_args = |b: Balance| -> Result<Balance, Problem> {
        match args.first() {
            None => Ok(b),
            Some(a) => Err((format!("balance {algo} takes no {a:?}"), help())),
        }
    };
    let paren = |prefix: &str| -> Option<String> {
        algo.strip_prefix(prefix)
            .and_then(|r| r.strip_prefix('('))
            .and_then(|r| r.strip_suffix(')'))
            .map(str::to_string)
    };
    match algo.as_str() {
        "roundrobin" => no_args(Balance::RoundRobin),
        "static-rr" => no_args(Balance::StaticRr),
        "leastconn" => no_args(Balance::LeastConn),
        "first" => no_args(Balance::First),
        "source" => no_args(Balance::Source),
        "uri" => {
            let (mut len, mut depth, mut whole, mut path_only) = (0, 0, false, false);
            let mut i = 0;
            while i < args.len() {
                match args[i].as_str() {
                    "whole" => whole = true,
                    "path-only" => path_only = true,
                    k @ ("len" | "depth") => {
                        let v = args.get(i + 1).and_then(|v| v.parse::<u32>().ok());
                        let Some(v) = v else {
                            return Err((
                                format!("uri {k} needs a number"),
                                "e.g. balance uri depth 2".into(),
                            ));
                        };
                        if k == "len" {
                            len = v
                        } else {
                            depth = v
                        }
                        i += 1;
                    }
                    other => {
                        return Err((
                            format!("balance uri takes no {other:?}"),
                            "options: len N, depth N, whole, path-only".into(),
                        ))
                    }
                }
                i += 1;
            }
            Ok(Balance::Uri {
                len,
                depth,
                whole,
                path_only,
            })
        }
        "url_param" => match args {
            [name] => Ok(Balance::UrlParam { name: name.clone() }),
            [_, opt, ..] if opt == "check_post" => Err((
                "url_param check_post (hashing the request body) is not supported".into(),
                "hash the query's parameter only: balance url_param NAME".into(),
            )),
            _ => Err((
                "balance url_param needs one parameter name".into(),
                "e.g. balance url_param userid".into(),
            )),
        },
        "rdp-cookie" => no_args(Balance::RdpCookie {
            name: "mstshash".into(),
        }),
        "random" => no_args(Balance::Random { draws: 2 }),
        _ => {
            if let Some(name) = paren("hdr") {
                if name.is_empty() {
                    return Err((
                        "hdr() needs a header name".into(),
                        "e.g. balance hdr(host)".into(),
                    ));
                }
                return match args {
                    [] => Ok(Balance::Hdr {
                        name,
                        use_domain_only: false,
                    }),
                    [o] if o == "use_domain_only" => Ok(Balance::Hdr {
                        name,
                        use_domain_only: true,
                    }),
                    _ => Err((
                        "balance hdr(NAME) takes only use_domain_only".into(),
                        help(),
                    )),
                };
            }
            if let Some(name) = paren("rdp-cookie") {
                let name = if name.is_empty() {
                    "mstshash".into()
                } else {
                    name
                };
                return no_args(Balance::RdpCookie { name });
            }
            if let Some(n) = paren("random") {
                return match n.parse::<u32>() {
                    Ok(d) if d >= 1 => no_args(Balance::Random { draws: d }),
                    _ => Err((
                        "random(DRAWS) needs a number of draws >= 1".into(),
                        "e.g. balance random(2)".into(),
                    )),
                };
            }
            Err((format!("unknown balance algorithm {algo:?}"), help()))
        }
    }
}

/// `hash-type map-based|consistent [sdbm|djb2|wt6|crc32|none] [avalanche]`.
pub fn hash_type(s: &str) -> Result<HashSpec, Problem> {
    let w = words::split(s).map_err(|e| (e, String::new()))?;
    let help = || "e.g. hash_type = \"consistent\" or \"map-based sdbm\"".to_string();
    let kind = match w.first().map(String::as_str) {
        Some("map-based") => HashKind::MapBased,
        Some("consistent") => HashKind::Consistent,
        Some(other) => return Err((format!("unknown hash type {other:?}"), help())),
        None => return Err(("an empty hash_type".into(), help())),
    };
    let function = match w.get(1).map(String::as_str) {
        None | Some("avalanche") => None,
        Some("sdbm") => Some(HashFunction::Sdbm),
        Some("djb2") => Some(HashFunction::Djb2),
        Some("wt6") => Some(HashFunction::Wt6),
        Some("crc32") => Some(HashFunction::Crc32),
        Some("none") => Some(HashFunction::None),
        Some(other) => {
            return Err((
                format!("unknown hash function {other:?}"),
                "sdbm, djb2, wt6, crc32 or none".into(),
            ))
        }
    };
    let avalanche_word = w.iter().skip(1).any(|x| x == "avalanche");
    if w.len() > 3 || (w.len() == 3 && !avalanche_word) {
        return Err((format!("{s:?}: too many words"), help()));
    }
    // HAProxy (cfgparse-listen.c): `consistent` with no function named
    // hashes with sdbm and applies the avalanche.
    let avalanche = avalanche_word || (kind == HashKind::Consistent && function.is_none());
    Ok(HashSpec {
        kind,
        function: function.unwrap_or(HashFunction::Sdbm),
        avalanche,
    })
}

/// `cookie NAME [insert|rewrite|prefix] [indirect] [nocache] [postonly]
/// [preserve] [httponly] [secure] [domain D]`.
pub fn cookie(s: &str) -> Result<CookieDef, Problem> {
    let w = words::split(s).map_err(|e| (e, String::new()))?;
    let Some((name, opts)) = w.split_first() else {
        return Err((
            "an empty cookie".into(),
            "e.g. cookie = \"SERVERID insert indirect nocache\"".into(),
        ));
    };
    let mut c = CookieDef {
        name: name.clone(),
        mode: CookieMode::Passive,
        indirect: false,
        nocache: false,
        postonly: false,
        httponly: false,
        secure: false,
        preserve: false,
        domain: None,
    };
    let mut i = 0;
    while i < opts.len() {
        match opts[i].as_str() {
            "insert" => c.mode = CookieMode::Insert,
            "rewrite" => c.mode = CookieMode::Rewrite,
            "prefix" => c.mode = CookieMode::Prefix,
            "indirect" => c.indirect = true,
            "nocache" => c.nocache = true,
            "postonly" => c.postonly = true,
            "httponly" => c.httponly = true,
            "secure" => c.secure = true,
            "preserve" => c.preserve = true,
            "domain" => {
                let Some(d) = opts.get(i + 1) else {
                    return Err(("cookie domain needs a value".into(), "e.g. domain .example.com".into()));
                };
                c.domain = Some(d.clone());
                i += 1;
            }
            other => {
                return Err((
                    format!("cookie option {other:?} is not supported"),
                    "options: insert, rewrite, prefix, indirect, nocache, postonly, preserve, httponly, secure, domain D".into(),
                ))
            }
        }
        i += 1;
    }
    Ok(c)
}

/// `option httpchk [METHOD] [URI] [VERSION]` (HAProxy: one word is the
/// URI, with OPTIONS; none is OPTIONS /; a legacy `\r\nHost: x` after the
/// version gives the host).
pub fn httpchk(s: &str) -> Result<(String, String, String, Option<String>), Problem> {
    let w = words::split(s).map_err(|e| (e, String::new()))?;
    let (method, uri, version) = match w.as_slice() {
        [] => (
            "OPTIONS".to_string(),
            "/".to_string(),
            "HTTP/1.0".to_string(),
        ),
        [uri] => ("OPTIONS".into(), uri.clone(), "HTTP/1.0".into()),
        [m, uri] => (m.clone(), uri.clone(), "HTTP/1.0".into()),
        [m, uri, v] => (m.clone(), uri.clone(), v.clone()),
        _ => {
            return Err((
                format!("{s:?}: httpchk is [METHOD] [URI] [VERSION]"),
                "e.g. httpchk = \"GET /health\"".into(),
            ))
        }
    };
    if !uri.starts_with('/') {
        return Err((
            format!("check URI {uri:?} does not begin with /"),
            "e.g. \"GET /health\"".into(),
        ));
    }
    let (version, host) = match version.split_once("\r\n") {
        Some((v, rest)) => {
            let host = rest
                .split("\r\n")
                .filter_map(|h| h.split_once(':'))
                .find(|(n, _)| n.trim().eq_ignore_ascii_case("host"))
                .map(|(_, v)| v.trim().to_string());
            (v.to_string(), host)
        }
        None => (version, None),
    };
    if version != "HTTP/1.0" && version != "HTTP/1.1" {
        return Err((
            format!("check version {version:?}"),
            "HTTP/1.0 or HTTP/1.1".into(),
        ));
    }
    if !method.chars().all(|c| c.is_ascii_uppercase()) {
        return Err((
            format!("check method {method:?}"),
            "e.g. GET, HEAD, OPTIONS".into(),
        ));
    }
    Ok((method, uri, version, host))
}

/// `http-check expect [!] status CODES | string TEXT`.
pub fn http_expect(s: &str) -> Result<HttpExpect, Problem> {
    let w = words::split(s).map_err(|e| (e, String::new()))?;
    let (negate, rest) = match w.split_first() {
        Some((n, rest)) if n == "!" => (true, rest),
        _ => (false, &w[..]),
    };
    let help = || "e.g. \"status 200\", \"status 200-399\", \"! string maintenance\"".to_string();
    match rest {
        [k, codes] if k == "status" => {
            let mut ranges = Vec::new();
            for part in codes.split(',') {
                let (a, b) = part.split_once('-').unwrap_or((part, part));
                match (a.parse::<u16>(), b.parse::<u16>()) {
                    (Ok(a), Ok(b)) if (100..=599).contains(&a) && a <= b && b <= 599 => {
                        ranges.push((a, b))
                    }
                    _ => return Err((format!("{part:?} is not a status or range"), help())),
                }
            }
            Ok(HttpExpect::Status { ranges, negate })
        }
        [k, text] if k == "string" => Ok(HttpExpect::String {
            text: text.clone(),
            negate,
        }),
        [k, ..] if k == "rstatus" || k == "rstring" => Err((
            format!("http-check expect {k} (a regular expression) is not supported yet"),
            help(),
        )),
        _ => Err((format!("{s:?} is not an expectation"), help())),
    }
}

#[cfg(test)]
mod tests;
