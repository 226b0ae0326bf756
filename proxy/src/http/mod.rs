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

/// Whether `h` has a field [`strip_hop_by_hop`] would remove.
pub fn has_hop_by_hop(h: &HeaderMap) -> bool {
    h.keys().any(|n| hop_bit(n) != 0)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http1::{self, Framing};
    use http::header::{HeaderValue, CONTENT_LENGTH};

    /// What `respond` writes to a client from a server head, through the
    /// header map (`plain` false) or without it (`plain` true): head bytes,
    /// framing, whether the server connection is reusable.
    fn client_head(
        server: &str,
        plain: bool,
        keep_alive: bool,
        req_11: bool,
    ) -> (Vec<u8>, Framing, bool) {
        let mut out = Vec::new();
        if plain {
            let h = http1::parse_response_plain(server.as_bytes(), 101)
                .unwrap()
                .unwrap();
            let p = h.plain.as_ref().expect("a plain head");
            let framing = http1::plain_response_framing(&Method::GET, h.status, p);
            let keep = keep_alive && framing != Framing::UntilClose && !h.forced_close;
            let conn = http1::connection_header(keep, req_11, h.version == Version::HTTP_11);
            http1::write_plain_response_head(
                h.status, h.version, &h.reason, p, &framing, conn, &mut out,
            );
            return (out, framing, h.reusable);
        }
        let h = http1::parse_response(server.as_bytes(), 101)
            .unwrap()
            .unwrap();
        assert!(h.plain.is_none());
        let framing = http1::response_framing(&Method::GET, h.status, &h.headers);
        let keep = keep_alive && framing != Framing::UntilClose && !h.forced_close;
        let mut headers = h.headers;
        strip_hop_by_hop(&mut headers, false);
        if !matches!(framing, Framing::Length(_)) {
            headers.remove(CONTENT_LENGTH);
        }
        if let Some(v) = http1::connection_header(keep, req_11, h.version == Version::HTTP_11) {
            headers.insert(CONNECTION, HeaderValue::from_static(v));
        }
        let head = http1::ResponseHead {
            status: h.status,
            version: h.version,
            headers,
            framing,
            reason: Some(h.reason),
        };
        http1::write_response_head(&head, &mut out);
        (out, framing, h.reusable)
    }

    #[test]
    fn a_plain_server_head_reaches_the_client_as_through_the_header_map() {
        let heads = [
            "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 29 Nov 2026 14:00:00 GMT\r\nContent-Type: application/octet-stream\r\nContent-Length: 4\r\nConnection: keep-alive\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: close\r\nX-A: 1\r\nContent-Length: 0\r\nX-B:  two  \r\n\r\n",
            "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 3\r\nServer: s\r\n\r\n",
            "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-A: 1\r\nConnection: keep-alive, close\r\nY: 2\r\n\r\n",
            "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX: y\r\nConnection: keep-alive\r\nZ: z\r\n\r\n",
            "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 10\r\nDate: d\r\n\r\n",
            "HTTP/1.1 200 \r\nX-Empty:\r\nX-Blank:   \r\nContent-Length: 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-U: caf\u{e9}\tx\r\nContent-Length: 1\r\n\r\n",
            "HTTP/1.1 404 Not Here\r\nX-MiXed: V\r\ncontent-LENGTH: 2, 2\r\nCONNECTION: Close\r\nlast: 1\r\n\r\n",
            "HTTP/1.1 200 OK\r\n\r\n",
        ];
        for server in heads {
            for (keep_alive, req_11) in [(true, true), (true, false), (false, true), (false, false)]
            {
                assert_eq!(
                    client_head(server, true, keep_alive, req_11),
                    client_head(server, false, keep_alive, req_11),
                    "{server:?} keep-alive {keep_alive} HTTP/1.1 {req_11}"
                );
            }
        }
    }

    #[test]
    fn server_heads_that_are_not_plain_keep_their_header_map() {
        let mut many = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..17 {
            many.push_str(&format!("x-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        let heads = [
            "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX: y\r\nset-cookie: b=2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 200 OK\r\nConnection: x-foo\r\nX-Foo: 1\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            &many,
        ];
        for server in heads {
            let h = http1::parse_response_plain(server.as_bytes(), 101)
                .unwrap()
                .unwrap();
            assert!(h.plain.is_none(), "{server:?}");
            assert_eq!(
                h.headers,
                http1::parse_response(server.as_bytes(), 101)
                    .unwrap()
                    .unwrap()
                    .headers
            );
        }
        // Refused either way, for the same reason.
        for bad in [
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            "HTTP/1.1 200 OK\r\nX-Del: a\x7fb\r\nContent-Length: 0\r\n\r\n",
        ] {
            assert_eq!(
                http1::parse_response_plain(bad.as_bytes(), 101).unwrap_err(),
                http1::parse_response(bad.as_bytes(), 101).unwrap_err()
            );
        }
    }
}
