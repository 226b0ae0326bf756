//! The kernel's routes, IPv4 and IPv6, as far as the dataplane needs them:
//! the next hop toward an address over one of its ports (a client whose
//! replies leave before it spoke, a TUN real server on another network).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xlb_dataplane::snapshot::PortInfo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub ifname: String,
    pub dest: IpAddr,
    pub prefix: u8,
    /// `None`: the destination is on the link.
    pub gateway: Option<IpAddr>,
    pub metric: u32,
}

impl Route {
    fn covers(&self, a: IpAddr) -> bool {
        let bits = |x: IpAddr| match x {
            IpAddr::V4(v) => (u128::from(u32::from(v)) << 96, 32),
            IpAddr::V6(v) => (u128::from(v), 128),
        };
        let ((d, dlen), (a, alen)) = (bits(self.dest), bits(a));
        if dlen != alen {
            return false;
        }
        let mask = u128::MAX
            .checked_shl(128 - u32::from(self.prefix))
            .unwrap_or(0);
        d & mask == a & mask
    }

    fn hop(&self, a: IpAddr) -> IpAddr {
        self.gateway.unwrap_or(a)
    }
}

/// /proc/net/route and /proc/net/ipv6_route.
pub fn read() -> Vec<Route> {
    let text = |f| std::fs::read_to_string(f).unwrap_or_default();
    let mut routes = parse(&text("/proc/net/route"));
    routes.extend(parse_v6(&text("/proc/net/ipv6_route")));
    routes
}

/// /proc/net/route: addresses in hex, in the host's (little-endian) order.
pub fn parse(text: &str) -> Vec<Route> {
    // The kernel prints each address's network-order bytes as a host
    // integer: those bytes back, read in network order.
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| Ipv4Addr::from(v.to_ne_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let gateway = hex(f[2])?;
            Some(Route {
                ifname: f[0].to_string(),
                dest: hex(f[1])?.into(),
                prefix: u32::from(hex(f[7])?).count_ones() as u8,
                gateway: (!gateway.is_unspecified()).then_some(gateway.into()),
                metric: f[6].parse().ok()?,
            })
        })
        .collect()
}

/// /proc/net/ipv6_route: destination, its prefix length, source and its
/// length, next hop, metric, reference and use counts, flags, interface;
/// addresses in network-order hex. Local routes (the host's own addresses)
/// are left out; a reject route (unreachable, prohibit) is kept with no
/// interface, so that where it wins no port is the way, as the kernel's
/// IPv4 table prints them (`*`).
///
/// Unlike /proc/net/route (the main table), this file lists every routing
/// table: on a director with policy routing, a more specific route of
/// another table over a dataplane port would be taken here.
pub fn parse_v6(text: &str) -> Vec<Route> {
    const RTF_REJECT: u32 = 0x0200;
    const RTF_LOCAL: u32 = 0x8000_0000;
    let addr = |s: &str| u128::from_str_radix(s, 16).ok().map(Ipv6Addr::from);
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let flags = hex(f.get(8)?)?;
            if f.len() < 10 || flags & RTF_LOCAL != 0 {
                return None;
            }
            let gateway = addr(f[4])?;
            Some(Route {
                ifname: if flags & RTF_REJECT != 0 { "*" } else { f[9] }.to_string(),
                dest: addr(f[0])?.into(),
                prefix: u8::try_from(hex(f[1])?).ok().filter(|&p| p <= 128)?,
                gateway: (!gateway.is_unspecified()).then_some(gateway.into()),
                metric: hex(f[5])?,
            })
        })
        .collect()
}

/// The longest route to `addr` over a dataplane port: the port's
/// interface index and the next hop (the gateway, or `addr` on the link).
pub fn next_hop(routes: &[Route], addr: IpAddr, ports: &[PortInfo]) -> Option<(u32, IpAddr)> {
    routes
        .iter()
        .filter(|r| r.covers(addr))
        .filter_map(|r| {
            let p = ports.iter().find(|p| p.name == r.ifname)?;
            Some((r, p.ifindex))
        })
        .max_by_key(|(r, _)| (r.prefix, std::cmp::Reverse(r.metric)))
        .map(|(r, ix)| (ix, r.hop(addr)))
}

/// The route the kernel itself would take to `addr` (the longest prefix,
/// then the lowest metric, over every interface), if it leaves by one of
/// `ports` (interface names): that port's position and the next hop. A
/// route over another interface wins here as in the kernel, and then the
/// dataplane cannot reach `addr`.
pub fn kernel_next_hop(
    routes: &[Route],
    addr: IpAddr,
    ports: &[String],
) -> Option<(usize, IpAddr)> {
    let r = routes
        .iter()
        .filter(|r| r.covers(addr))
        .max_by_key(|r| (r.prefix, std::cmp::Reverse(r.metric)))?;
    let port = ports.iter().position(|p| *p == r.ifname)?;
    Some((port, r.hop(addr)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Destination, gateway, metric, mask as /proc/net/route prints them
    // (little-endian hex): default via 10.200.2.254 on in0, 10.200.2.0/24
    // on in0, 192.0.2.0/24 via 10.9.0.1 on mgmt0.
    const TABLE: &str = "\
Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
in0\t00000000\tFE02C80A\t0003\t0\t0\t0\t00000000\t0\t0\t0
in0\t0002C80A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
mgmt0\t000200C0\t0100090A\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0
";

    #[test]
    fn the_kernels_choice_decides_and_must_leave_by_a_port() {
        let routes = parse(TABLE);
        let ports = vec!["out0".to_string(), "in0".to_string()];
        let hop = |a: [u8; 4]| kernel_next_hop(&routes, Ipv4Addr::from(a).into(), &ports);
        // On in0's link: its own next hop.
        assert_eq!(
            hop([10, 200, 2, 11]),
            Some((1, Ipv4Addr::new(10, 200, 2, 11).into()))
        );
        // Elsewhere: the default route's gateway.
        assert_eq!(
            hop([198, 51, 100, 7]),
            Some((1, Ipv4Addr::new(10, 200, 2, 254).into()))
        );
        // The kernel would send it out of mgmt0: not the dataplane's.
        assert_eq!(hop([192, 0, 2, 7]), None);
        // next_hop (sync's client hops) only looks at the ports' routes.
        let infos: Vec<PortInfo> = ports
            .iter()
            .enumerate()
            .map(|(i, n)| PortInfo {
                name: n.clone(),
                ifindex: 10 + i as u32,
                mac: [0; 6],
                ipv4: None,
                mtu: 1500,
            })
            .collect();
        assert_eq!(
            next_hop(&routes, Ipv4Addr::new(192, 0, 2, 7).into(), &infos),
            Some((11, Ipv4Addr::new(10, 200, 2, 254).into()))
        );
    }

    // As a namespace's kernel prints it: 2001:db8:1::/64 on a0, a /48 via
    // fe80::1 on b0, link-local and multicast routes on both, the default
    // via 2001:db8:1::fe on a0, the host's own address (local), the
    // unreachable default and an unreachable /48 on lo (reject).
    const TABLE6: &str = "\
20010db8000100000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001       a0
20010db8000900000000000000000000 30 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003       b0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001       b0
fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001       a0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db80001000000000000000000fe 00000400 00000001 00000000 00000003       a0
20010db8000100000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       a0
ff000000000000000000000000000000 08 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001       b0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo
20010db8000500000000000000000000 30 00000000000000000000000000000000 00 00000000000000000000000000000000 00000400 00000001 00000000 00200200       lo
";

    #[test]
    fn ipv6_routes_parse_and_lead_to_their_hops() {
        let routes = parse_v6(TABLE6);
        assert_eq!(routes.len(), 8, "the local route left out: {routes:?}");
        assert_eq!(routes[1].prefix, 48);
        assert_eq!(routes[1].gateway, Some("fe80::1".parse().unwrap()));
        assert_eq!(routes[0].gateway, None);
        let ports = vec!["a0".to_string(), "b0".to_string()];
        let hop = |a: &str| kernel_next_hop(&routes, a.parse().unwrap(), &ports);
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        assert_eq!(
            hop("2001:db8:1::2"),
            Some((0, ip("2001:db8:1::2"))),
            "on the link"
        );
        assert_eq!(hop("2001:db8:9:5::7"), Some((1, ip("fe80::1"))), "the /48");
        assert_eq!(
            hop("2001:db8:7::7"),
            Some((0, ip("2001:db8:1::fe"))),
            "the default"
        );
        // An unreachable route wins where it is the longest: no way out.
        assert_eq!(hop("2001:db8:5::7"), None);
        // An IPv4 route never covers an IPv6 address, nor the reverse.
        let mut both = parse(TABLE);
        both.extend(routes);
        assert_eq!(
            kernel_next_hop(&both, ip("2001:db8:7::7"), &ports),
            Some((0, ip("2001:db8:1::fe")))
        );
        let ports4 = vec!["out0".to_string(), "in0".to_string()];
        assert_eq!(
            kernel_next_hop(&both, ip("198.51.100.7"), &ports4),
            Some((1, ip("10.200.2.254")))
        );
    }
}
