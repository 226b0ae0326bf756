//! HAProxy's addresses (configuration.txt section 11, tools.c
//! `str2sa_range`): an optional `family@` prefix, a host (IPv4, IPv6 bare or
//! in brackets, `*` or nothing for any, or a name HAProxy resolves at
//! start), then after the last colon a port, a range `A-B`, or an offset
//! `+N`/`-N` from the client's port.

use std::net::{IpAddr, Ipv6Addr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `*`, empty, or `ipv6@` with `::`.
    Any {
        v6: bool,
    },
    Ip(IpAddr),
    Name(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Port {
    None,
    One(u16),
    Range(u16, u16),
    Offset(i32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Addr {
    pub host: Host,
    pub port: Port,
}

/// Which kind of socket the statement opens: `bind`/`server` are streams,
/// `log` datagrams (syslog over UDP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Stream,
    Dgram,
}

pub fn parse(s: &str, kind: Kind) -> Result<Addr, String> {
    let mut v6_only = false;
    let mut rest = s;
    if let Some((prefix, r)) = s.split_once('@') {
        let ok = match kind {
            Kind::Stream => matches!(
                prefix,
                "ip" | "ipv4"
                    | "ipv6"
                    | "tcp"
                    | "tcp4"
                    | "tcp6"
                    | "stream+ip"
                    | "stream+ipv4"
                    | "stream+ipv6"
            ),
            Kind::Dgram => matches!(
                prefix,
                "ip" | "ipv4"
                    | "ipv6"
                    | "udp"
                    | "udp4"
                    | "udp6"
                    | "dgram+ip"
                    | "dgram+ipv4"
                    | "dgram+ipv6"
            ),
        };
        if !ok {
            return Err(format!(
                "{prefix}@ addresses are not supported (xlb takes IP addresses{})",
                if kind == Kind::Stream {
                    " over TCP"
                } else {
                    ": syslog over UDP"
                }
            ));
        }
        v6_only = prefix.ends_with('6');
        rest = r;
    }
    if rest.starts_with('/') {
        return Err("UNIX sockets are not supported".into());
    }
    // The port follows the last colon that comes after any closing bracket.
    let (host, port) = match rest.rfind([':', ']']) {
        Some(i) if rest[i..].starts_with(':') => (&rest[..i], &rest[i + 1..]),
        _ => (rest, ""),
    };
    let port = port_spec(port).map_err(|e| format!("{s:?}: {e}"))?;
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let host = if bare.is_empty() || bare == "*" {
        Host::Any { v6: v6_only }
    } else {
        match bare.parse::<IpAddr>() {
            Ok(ip) if ip.is_unspecified() => Host::Any { v6: ip.is_ipv6() },
            Ok(ip) => Host::Ip(ip),
            Err(_) => Host::Name(bare.to_string()),
        }
    };
    Ok(Addr { host, port })
}

fn port_spec(p: &str) -> Result<Port, String> {
    if p.is_empty() {
        return Ok(Port::None);
    }
    let num = |x: &str| -> Result<u16, String> {
        x.parse::<u16>().map_err(|_| format!("invalid port {x:?}"))
    };
    if let Some(o) = p.strip_prefix('+') {
        return Ok(Port::Offset(i32::from(num(o)?)));
    }
    if let Some(o) = p.strip_prefix('-') {
        return Ok(Port::Offset(-i32::from(num(o)?)));
    }
    match p.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (num(a)?, num(b)?);
            if a > b {
                return Err(format!("invalid port range {a}-{b}"));
            }
            Ok(if a == b {
                Port::One(a)
            } else {
                Port::Range(a, b)
            })
        }
        None => Ok(Port::One(num(p)?)),
    }
}

impl Host {
    /// As xlb writes an address with a port: `*:80`, `192.0.2.1:80`,
    /// `[2001:db8::1]:80`, `[::]:80`, a name as it was.
    pub fn with_port(&self, port: u16) -> String {
        match self {
            Host::Any { v6: false } => format!("*:{port}"),
            Host::Any { v6: true } => format!("[{}]:{port}", Ipv6Addr::UNSPECIFIED),
            Host::Ip(IpAddr::V4(a)) => format!("{a}:{port}"),
            Host::Ip(IpAddr::V6(a)) => format!("[{a}]:{port}"),
            Host::Name(n) => format!("{n}:{port}"),
        }
    }
    /// With no port (which xlb's check-config then refuses, naming it).
    pub fn bare(&self) -> String {
        match self {
            Host::Any { v6: false } => "0.0.0.0".into(),
            Host::Any { v6: true } => "[::]".into(),
            Host::Ip(IpAddr::V4(a)) => a.to_string(),
            Host::Ip(IpAddr::V6(a)) => format!("[{a}]"),
            Host::Name(n) => n.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Addr {
        parse(s, Kind::Stream).unwrap()
    }

    #[test]
    fn haproxy_address_forms() {
        assert_eq!(
            p("192.0.2.1:80"),
            Addr {
                host: Host::Ip("192.0.2.1".parse().unwrap()),
                port: Port::One(80)
            }
        );
        assert_eq!(p(":80").host, Host::Any { v6: false });
        assert_eq!(p("*:80").host.with_port(80), "*:80");
        assert_eq!(p(":::443").host.with_port(443), "[::]:443");
        assert_eq!(p("ipv6@:443").host.with_port(443), "[::]:443");
        assert_eq!(
            p("2001:db8::1:8080").host.with_port(8080),
            "[2001:db8::1]:8080"
        );
        assert_eq!(p("[2001:db8::1]:8080").port, Port::One(8080));
        assert_eq!(p("[2001:db8::1]").port, Port::None);
        assert_eq!(p("10.0.0.1").port, Port::None);
        assert_eq!(p("10.0.0.1:+1000").port, Port::Offset(1000));
        assert_eq!(p("10.0.0.1:-1").port, Port::Offset(-1));
        assert_eq!(p(":8000-8002").port, Port::Range(8000, 8002));
        assert_eq!(p("tcp4@10.0.0.1:80").port, Port::One(80));
        assert_eq!(
            p("web.example.com:80").host,
            Host::Name("web.example.com".into())
        );
        assert!(parse("unix@/run/x.sock", Kind::Stream).is_err());
        assert!(parse("/dev/log", Kind::Dgram).is_err());
        assert!(parse("udp@10.0.0.1:514", Kind::Dgram).is_ok());
        assert!(parse("udp@10.0.0.1:514", Kind::Stream).is_err());
        assert!(parse("10.0.0.1:99999", Kind::Stream).is_err());
        assert!(parse("10.0.0.1:http", Kind::Stream).is_err());
    }
}
