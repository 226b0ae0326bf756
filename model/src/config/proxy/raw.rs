//! The proxy's TOML as written. HAProxy's mini-languages (`bind`, `acl`,
//! `use_backend`, `balance`, `cookie`, `hash_type`, `http_check_expect`)
//! stay strings in HAProxy's own syntax, so a haproxy.cfg line carries over
//! as it is; everything else is TOML.

use serde::Deserialize;
use toml::Spanned;

/// `[proxy]`: HAProxy's `global` for the proxy, and its `defaults`.
#[derive(Debug, Default, Deserialize)]
pub struct RawProxy {
    pub threads: Option<Spanned<u32>>,
    pub maxconn: Option<Spanned<u32>>,
    /// "ADDRESS[:PORT] FACILITY" (syslog over UDP) or "stdout".
    pub log: Option<Spanned<String>>,
    #[serde(default)]
    pub defaults: RawSection,
}

/// What `[proxy.defaults]`, a `[[frontend]]` and a `[[backend]]` may set;
/// each section takes the keys that concern it (validation refuses the
/// others by name).
#[derive(Debug, Default, Deserialize)]
pub struct RawSection {
    pub name: Option<Spanned<String>>,
    pub mode: Option<Spanned<String>>,
    // frontend
    #[serde(default)]
    pub bind: Vec<Spanned<String>>,
    pub maxconn: Option<Spanned<u32>>,
    #[serde(default)]
    pub acl: Vec<Spanned<String>>,
    #[serde(default)]
    pub use_backend: Vec<Spanned<String>>,
    pub default_backend: Option<Spanned<String>>,
    /// "global" (the default: where `[proxy] log` says), "off", or a target.
    pub log: Option<Spanned<String>>,
    pub httplog: Option<Spanned<bool>>,
    pub tcplog: Option<Spanned<bool>>,
    pub dontlognull: Option<Spanned<bool>>,
    pub stats_uri: Option<Spanned<String>>,
    /// `tcp-request inspect-delay`: how long a tcp session waits for the
    /// client's first bytes when its backend balances by rdp-cookie.
    pub tcp_request_inspect_delay: Option<Spanned<toml::Value>>,
    // both
    pub forwardfor: Option<Spanned<bool>>,
    pub timeout: Option<Spanned<RawTimeouts>>,
    // backend
    pub balance: Option<Spanned<String>>,
    pub hash_type: Option<Spanned<String>>,
    pub cookie: Option<Spanned<String>>,
    /// `option httpchk`: "[METHOD] [URI] [VERSION]".
    pub httpchk: Option<Spanned<String>>,
    /// The Host header of HTTP checks (`http-check send hdr host`).
    pub http_check_host: Option<Spanned<String>>,
    pub http_check_expect: Option<Spanned<String>>,
    pub allbackups: Option<Spanned<bool>>,
    pub redispatch: Option<Spanned<bool>>,
    pub retries: Option<Spanned<u32>>,
    /// `default-server`: settings every server of the backend starts from.
    pub default_server: Option<Spanned<RawServer>>,
    #[serde(default)]
    pub server: Vec<Spanned<RawServer>>,
}

/// HAProxy's times: a number of milliseconds, or a string with a unit
/// ("10s", "1m", "500ms", "2h", "1d", "100us").
#[derive(Debug, Default, Deserialize)]
pub struct RawTimeouts {
    pub http_request: Option<Spanned<toml::Value>>,
    pub http_keep_alive: Option<Spanned<toml::Value>>,
    pub client: Option<Spanned<toml::Value>>,
    pub connect: Option<Spanned<toml::Value>>,
    pub server: Option<Spanned<toml::Value>>,
    pub queue: Option<Spanned<toml::Value>>,
    pub check: Option<Spanned<toml::Value>>,
    pub tunnel: Option<Spanned<toml::Value>>,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawServer {
    pub name: Option<Spanned<String>>,
    /// "ADDRESS:PORT".
    pub address: Option<Spanned<String>>,
    pub id: Option<Spanned<u32>>,
    pub weight: Option<Spanned<u32>>,
    pub backup: Option<Spanned<bool>>,
    pub maxconn: Option<Spanned<u32>>,
    pub disabled: Option<Spanned<bool>>,
    pub cookie: Option<Spanned<String>>,
    pub check: Option<Spanned<bool>>,
    pub inter: Option<Spanned<toml::Value>>,
    pub fastinter: Option<Spanned<toml::Value>>,
    pub downinter: Option<Spanned<toml::Value>>,
    pub rise: Option<Spanned<u32>>,
    pub fall: Option<Spanned<u32>>,
    /// HAProxy's `port` and `addr` of a server line: where checks go.
    pub check_port: Option<Spanned<u32>>,
    pub check_addr: Option<Spanned<String>>,
}
