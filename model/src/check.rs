//! A health check as configured: what to probe and how often, with
//! keepalived's names. The checkers (`xlb-checks`) run them.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckKind {
    /// TCP_CHECK: the connection is accepted.
    Tcp,
    /// HTTP_GET (and SSL_GET with `tls`): the response's status is in
    /// `status` (any 2xx if empty), and, with `digest`, the body's MD5
    /// matches (hex, as keepalived's genhash prints it). TLS is not
    /// verified, as keepalived's SSL_GET by default: the check proves the
    /// service answers, not who it is.
    Http {
        tls: bool,
        path: String,
        host: Option<String>,
        status: Vec<u16>,
        digest: Option<String>,
    },
    /// MISC_CHECK: the command exits 0 within the timeout. With `dynamic`,
    /// exit codes 2..=255 mean "up with weight code-2" (keepalived's
    /// misc_dynamic); 1 means down.
    Misc { command: String, dynamic: bool },
    /// UDP_CHECK: send `payload`; with `require_reply`, a datagram must come
    /// back, otherwise only an ICMP error (port unreachable) fails it.
    Udp {
        payload: Vec<u8>,
        require_reply: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub kind: CheckKind,
    pub target: SocketAddr,
    /// Source address for the probe (keepalived `bindto`).
    pub bind: Option<IpAddr>,
    pub interval: Duration,
    pub timeout: Duration,
    pub rise: u32,
    pub fall: u32,
    pub retry: u32,
    pub delay_before_retry: Duration,
}
