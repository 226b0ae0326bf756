//! What names a virtual service and a real server on every director: the
//! configuration's own terms (addresses, ports, protocol, firewall mark),
//! never an id that means something only inside one process. Ids, counters
//! and connection sync are all keyed by these.

use crate::addr::endpoint;
use crate::proto::Protocol;
use std::fmt;
use std::net::IpAddr;

/// A virtual service: VIP:port/protocol, or a firewall mark that groups
/// several (xlb's `[[firewall_mark]]` rules assign it).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKey {
    Endpoint {
        addr: IpAddr,
        port: u16,
        proto: Protocol,
    },
    Mark(u32),
}

impl ServiceKey {
    pub fn endpoint(addr: impl Into<IpAddr>, port: u16, proto: Protocol) -> ServiceKey {
        ServiceKey::Endpoint {
            addr: addr.into(),
            port,
            proto,
        }
    }

    /// The VIP, port and protocol of a service by address.
    pub fn address(&self) -> Option<(IpAddr, u16, Protocol)> {
        match *self {
            ServiceKey::Endpoint { addr, port, proto } => Some((addr, port, proto)),
            ServiceKey::Mark(_) => None,
        }
    }

    pub fn mark(&self) -> Option<u32> {
        match *self {
            ServiceKey::Mark(m) => Some(m),
            ServiceKey::Endpoint { .. } => None,
        }
    }

    pub fn protocol(&self) -> Option<Protocol> {
        self.address().map(|(_, _, p)| p)
    }
}

/// `192.0.2.10:80/tcp`, `[2001:db8::10]:80/udp`, `fwmark 5`.
impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ServiceKey::Endpoint { addr, port, proto } => {
                write!(f, "{}/{proto}", endpoint(addr, port))
            }
            ServiceKey::Mark(m) => write!(f, "fwmark {m}"),
        }
    }
}

/// A real server of one service: the same address and port in two
/// services are two real servers (own weight, health, counters).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct RealKey {
    pub service: ServiceKey,
    pub addr: IpAddr,
    /// 0 for a firewall-mark service's server that keeps the client's port.
    pub port: u16,
}

impl RealKey {
    pub fn new(service: ServiceKey, addr: impl Into<IpAddr>, port: u16) -> RealKey {
        RealKey {
            service,
            addr: addr.into(),
            port,
        }
    }

    /// `addr:port` of the server alone.
    pub fn endpoint(&self) -> String {
        endpoint(self.addr, self.port)
    }
}

/// `10.0.0.2:8080 in 192.0.2.10:80/tcp`.
impl fmt::Display for RealKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.endpoint(), self.service)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_print_as_operators_write_them() {
        let s = ServiceKey::endpoint("192.0.2.10".parse::<IpAddr>().unwrap(), 80, Protocol::Tcp);
        assert_eq!(s.to_string(), "192.0.2.10:80/tcp");
        let s6 = ServiceKey::endpoint("2001:db8::10".parse::<IpAddr>().unwrap(), 53, Protocol::Udp);
        assert_eq!(s6.to_string(), "[2001:db8::10]:53/udp");
        assert_eq!(ServiceKey::Mark(5).to_string(), "fwmark 5");
        let r = RealKey::new(s, "10.0.0.2".parse::<IpAddr>().unwrap(), 8080);
        assert_eq!(r.to_string(), "10.0.0.2:8080 in 192.0.2.10:80/tcp");
        assert_ne!(
            r,
            RealKey::new(s6, "10.0.0.2".parse::<IpAddr>().unwrap(), 8080),
            "same server, other service: another real server"
        );
    }
}
