//! `mode http`: HTTP/1 from clients on our codec (so malformed and hostile
//! requests get HAProxy's answers), h2 from clients through hyper (ALPN),
//! and HTTP/1.1 to servers on our codec with keep-alive reuse ([`server`]).

pub mod body;
mod cache;
mod cookie;
mod h1;
mod h2;
pub mod server;
mod stats_page;

pub use h1::{serve, ClientIo};
pub use h2::serve_h2;

use crate::acl::Sample;
use crate::balance::KeySource;
use http::header::{HeaderName, CONNECTION, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, Method, Version};
use std::net::IpAddr;

/// A request as ACLs and the balancer see it, from either protocol.
pub struct View<'a> {
    pub method: &'a Method,
    /// The target as received (h2: path and query).
    pub target: &'a str,
    pub version: Version,
    pub headers: &'a HeaderMap,
    pub src: IpAddr,
    pub dst_port: u16,
    pub tls: bool,
    pub has_body: bool,
}

impl Sample for View<'_> {
    fn src(&self) -> IpAddr {
        self.src
    }
    fn dst_port(&self) -> u16 {
        self.dst_port
    }
    fn tls(&self) -> bool {
        self.tls
    }
    fn method(&self) -> Option<&str> {
        Some(self.method.as_str())
    }
    fn url(&self) -> Option<&str> {
        Some(self.target)
    }
    fn header_values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes())
            .collect()
    }
    fn version(&self) -> Option<&str> {
        Some(match self.version {
            Version::HTTP_10 => "HTTP/1.0",
            Version::HTTP_11 => "HTTP/1.1",
            Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP/0.9",
        })
    }
    fn has_body(&self) -> bool {
        self.has_body
    }
}

impl KeySource for View<'_> {
    fn src(&self) -> IpAddr {
        self.src
    }
    fn target(&self) -> Option<&[u8]> {
        Some(self.target.as_bytes())
    }
    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name).map(|v| v.as_bytes())
    }
}

/// Headers of one hop only (RFC 9110 7.6.1), which a proxy does not pass
/// on; `Connection` may name more.
/// What a request's headers get on their way to a server in either
/// protocol: the persistence cookie stripped (`indirect`) and the client's
/// address appended to X-Forwarded-For (`forwardfor`).
pub fn for_server(
    h: &mut HeaderMap,
    cookie: Option<&xlb_model::proxy::CookieDef>,
    forwarded_for: Option<IpAddr>,
) {
    if let Some(ck) = cookie {
        cookie::strip(ck, h);
    }
    if let Some(v) = forwarded_for.and_then(|ip| http::HeaderValue::from_str(&ip.to_string()).ok())
    {
        h.append("x-forwarded-for", v);
    }
}

pub fn strip_hop_by_hop(h: &mut HeaderMap, keep_upgrade: bool) {
    // Most messages carry none of these, or only Connection: one pass over
    // the names says which are there, where a removal per name hashed each
    // (11 % of the proxy's instructions per keep-alive request).
    let mut present = 0u8;
    for n in h.keys() {
        present |= hop_bit(n);
    }
    if present == 0 {
        return;
    }
    if present & HOP_CONNECTION != 0 {
        let named: Vec<HeaderName> = h
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
            .filter(|n| !(keep_upgrade && n == UPGRADE))
            .collect();
        for n in named {
            h.remove(n);
        }
        h.remove(CONNECTION);
    }
    // Names made once: a `&str` would be parsed and hashed per request.
    static ONE_HOP: std::sync::LazyLock<[HeaderName; 4]> = std::sync::LazyLock::new(|| {
        ["keep-alive", "proxy-connection", "te", "trailer"].map(HeaderName::from_static)
    });
    if present & HOP_ONE != 0 {
        for n in ONE_HOP.iter() {
            h.remove(n);
        }
    }
    if present & HOP_TRANSFER_ENCODING != 0 {
        h.remove(TRANSFER_ENCODING);
    }
    if !keep_upgrade && present & HOP_UPGRADE != 0 {
        h.remove(UPGRADE);
    }
}

const HOP_CONNECTION: u8 = 1;
const HOP_ONE: u8 = 2;
const HOP_TRANSFER_ENCODING: u8 = 4;
const HOP_UPGRADE: u8 = 8;

/// Which of [`strip_hop_by_hop`]'s groups the name `n` is in (0: none).
fn hop_bit(n: &HeaderName) -> u8 {
    if n == CONNECTION {
        HOP_CONNECTION
    } else if n == TRANSFER_ENCODING {
        HOP_TRANSFER_ENCODING
    } else if n == UPGRADE {
        HOP_UPGRADE
    } else if n == http::header::TE
        || n == http::header::TRAILER
        || n == "keep-alive"
        || n == "proxy-connection"
    {
        HOP_ONE
    } else {
        0
    }
}
