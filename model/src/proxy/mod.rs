//! The proxy's configuration as validated: frontends, backends and their
//! servers, with HAProxy's names and defaults (docs/proxy.md). The TOML
//! parser (`config::proxy`) fills these; the proxy crate runs them.

pub mod acl;
pub mod balance;

pub use acl::{AclDef, Condition, Criterion, Fetch, MatchKind, Term};
pub use balance::{Balance, HashFunction, HashKind, HashSpec};

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// `[proxy]`, `[[frontend]]` and `[[backend]]` of one file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProxySettings {
    /// Threads of the proxy's own runtime.
    pub threads: usize,
    /// HAProxy's global `maxconn`: connections over all frontends.
    pub maxconn: u32,
    pub frontends: Vec<FrontendDef>,
    pub backends: Vec<BackendDef>,
}

impl ProxySettings {
    pub fn is_empty(&self) -> bool {
        self.frontends.is_empty()
    }

    pub fn backend(&self, name: &str) -> Option<&BackendDef> {
        self.backends.iter().find(|b| b.name == name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Tcp,
    Http,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Tcp => "tcp",
            Mode::Http => "http",
        }
    }
}

/// HAProxy's timeouts; `None` is HAProxy's "no timeout" (it warns; so do
/// we). Frontends use `client`, `http_request`, `http_keep_alive`;
/// backends `connect`, `server`, `queue`, `check`, `tunnel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProxyTimeouts {
    pub http_request: Option<Duration>,
    pub http_keep_alive: Option<Duration>,
    pub client: Option<Duration>,
    pub connect: Option<Duration>,
    pub server: Option<Duration>,
    pub queue: Option<Duration>,
    pub check: Option<Duration>,
    pub tunnel: Option<Duration>,
}

impl ProxyTimeouts {
    /// How long a request's headers may take: `http-request`, else
    /// `client` (HAProxy's fallback).
    pub fn request_headers(&self) -> Option<Duration> {
        self.http_request.or(self.client)
    }
    /// Idle time between keep-alive requests: `http-keep-alive`, else
    /// `http-request`, else `client`.
    pub fn keep_alive(&self) -> Option<Duration> {
        self.http_keep_alive.or(self.request_headers())
    }
    /// Time in a queue: `queue`, else `connect` (HAProxy's fallback).
    pub fn in_queue(&self) -> Option<Duration> {
        self.queue.or(self.connect)
    }
    /// Idle time of an upgraded (websocket) or tcp-mode stream: `tunnel`,
    /// else the larger of `client` and `server`.
    pub fn tunnel_idle(&self) -> Option<Duration> {
        self.tunnel.or(match (self.client, self.server) {
            (Some(c), Some(s)) => Some(c.max(s)),
            (c, s) => c.or(s),
        })
    }
}

/// Where proxy logs go: HAProxy's `log ADDRESS FACILITY` (syslog over UDP,
/// RFC 3164 as HAProxy sends by default) or `log stdout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Syslog { addr: SocketAddr, facility: u8 },
    Stdout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// HAProxy's default line for a session with no `option`.
    #[default]
    Default,
    /// `option tcplog`.
    Tcp,
    /// `option httplog`.
    Http,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindDef {
    pub addr: SocketAddr,
    /// `ssl crt FILE`: TLS terminated here with this PEM (certificate chain
    /// and key, in one file as HAProxy takes it).
    pub tls: Option<TlsDef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsDef {
    pub crt: PathBuf,
    /// ALPN protocols offered (`alpn h2,http/1.1`); empty = HTTP/1.1 only,
    /// as HAProxy without `alpn`.
    pub alpn: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseBackend {
    pub backend: String,
    pub cond: Condition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontendDef {
    pub name: String,
    pub mode: Mode,
    pub binds: Vec<BindDef>,
    /// Concurrent connections this frontend accepts; more wait in the
    /// kernel's accept queue (HAProxy's behaviour).
    pub maxconn: u32,
    pub acls: Vec<AclDef>,
    /// In order; the first whose condition holds wins.
    pub use_backend: Vec<UseBackend>,
    pub default_backend: Option<String>,
    pub timeouts: ProxyTimeouts,
    pub log: Option<LogTarget>,
    pub log_format: LogFormat,
    /// `option dontlognull`: no log line for a connection that sent nothing.
    pub dontlognull: bool,
    /// `option forwardfor`: add `X-Forwarded-For: <client address>`.
    pub forwardfor: bool,
    /// `stats uri`: this path answers with the status page (`;csv` for CSV).
    pub stats_uri: Option<String>,
    /// `tcp-request inspect-delay` with `accept if RDP_COOKIE`: a tcp
    /// session waits up to this for an RDP cookie before choosing a server.
    pub inspect_delay: Option<Duration>,
}

/// `cookie NAME insert|rewrite|prefix [indirect] [nocache] [postonly]
/// [httponly] [secure] [preserve] [domain D] [maxidle T] [maxlife T]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieDef {
    pub name: String,
    pub mode: CookieMode,
    /// Remove our cookie before the request goes to the server.
    pub indirect: bool,
    /// Mark responses carrying it uncacheable (`Cache-Control: private`).
    pub nocache: bool,
    pub postonly: bool,
    pub httponly: bool,
    pub secure: bool,
    pub preserve: bool,
    pub domain: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieMode {
    /// No mode given: the server sets the cookie; the proxy only reads it
    /// to send the client back (HAProxy's behaviour without a mode).
    Passive,
    /// The proxy sets the cookie in responses.
    Insert,
    /// The server sets the cookie; the proxy replaces its value.
    Rewrite,
    /// The server's own cookie gets the server's value as a prefix.
    Prefix,
}

/// `option httpchk [METHOD] [URI] [VERSION]` with `http-check send hdr
/// host` and `http-check expect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCheckDef {
    pub method: String,
    pub uri: String,
    pub version: String,
    pub host: Option<String>,
    pub expect: HttpExpect,
}

/// What makes an HTTP check pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpExpect {
    /// No `http-check expect`: a 2xx or 3xx status (HAProxy's default).
    Default,
    /// `expect [!] status 200,300-399`: inclusive ranges.
    Status {
        ranges: Vec<(u16, u16)>,
        negate: bool,
    },
    /// `expect [!] string TEXT`: the body contains it.
    String { text: String, negate: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendDef {
    pub name: String,
    pub mode: Mode,
    pub balance: Balance,
    pub hash: HashSpec,
    pub servers: Vec<ServerDef>,
    pub cookie: Option<CookieDef>,
    pub httpchk: Option<HttpCheckDef>,
    /// `option allbackups`: every usable backup takes traffic, not only the
    /// first.
    pub allbackups: bool,
    /// `option redispatch`: a retry may go to another server.
    pub redispatch: bool,
    /// Connection attempts after the first fails (`retries`, default 3).
    pub retries: u32,
    pub forwardfor: bool,
    pub timeouts: ProxyTimeouts,
}

impl BackendDef {
    pub fn server(&self, name: &str) -> Option<&ServerDef> {
        self.servers.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerDef {
    pub name: String,
    pub addr: SocketAddr,
    /// HAProxy's `id` (puid): declaration order from 1 unless given.
    pub id: u32,
    /// 0..=256; 0 takes no new traffic.
    pub weight: u32,
    pub backup: bool,
    /// Concurrent connections (tcp) or requests (http) sent to it; the
    /// rest queue. 0 = no limit.
    pub maxconn: u32,
    /// Starts in maintenance (`disabled`): `xlbctl enable` brings it in.
    pub disabled: bool,
    /// The value our persistence cookie carries for this server.
    pub cookie: Option<String>,
    pub check: Option<ServerCheck>,
}

/// `check` with its timing (HAProxy's `inter`, `fastinter`, `downinter`,
/// `rise`, `fall`, `port`, `addr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerCheck {
    pub inter: Duration,
    /// While the server is changing state (between a first result and
    /// `rise`/`fall`); defaults to `inter`.
    pub fastinter: Duration,
    /// While it is down; defaults to `inter`.
    pub downinter: Duration,
    pub rise: u32,
    pub fall: u32,
    /// Where the check connects, when not the server's address.
    pub addr: Option<IpAddr>,
    pub port: Option<u16>,
}
