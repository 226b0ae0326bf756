//! The kernel's IPv4 routes, as far as the dataplane needs them: the next
//! hop toward an address over one of its ports (a client whose replies
//! leave before it spoke, a TUN real server on another network).

use std::net::Ipv4Addr;
use xlb_dataplane::snapshot::PortInfo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub ifname: String,
    pub dest: u32,
    pub mask: u32,
    pub gateway: u32,
    pub metric: u32,
}

/// /proc/net/route: addresses in hex, in the host's (little-endian) order.
pub fn read() -> Vec<Route> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    parse(&text)
}

pub fn parse(text: &str) -> Vec<Route> {
    // The kernel prints each address's network-order bytes as a host
    // integer: those bytes back, read in network order.
    let hex = |s: &str| {
        u32::from_str_radix(s, 16)
            .ok()
            .map(|v| u32::from_be_bytes(v.to_ne_bytes()))
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            Some(Route {
                ifname: f[0].to_string(),
                dest: hex(f[1])?,
                gateway: hex(f[2])?,
                metric: f[6].parse().ok()?,
                mask: hex(f[7])?,
            })
        })
        .collect()
}

/// The longest route to `addr` over a dataplane port: the port's
/// interface index and the next hop (the gateway, or `addr` on the link).
pub fn next_hop(routes: &[Route], addr: Ipv4Addr, ports: &[PortInfo]) -> Option<(u32, Ipv4Addr)> {
    let c = u32::from(addr);
    routes
        .iter()
        .filter(|r| c & r.mask == r.dest & r.mask)
        .filter_map(|r| {
            let p = ports.iter().find(|p| p.name == r.ifname)?;
            Some((r, p.ifindex))
        })
        .max_by_key(|(r, _)| (r.mask.count_ones(), std::cmp::Reverse(r.metric)))
        .map(|(r, ix)| {
            let hop = if r.gateway == 0 { c } else { r.gateway };
            (ix, Ipv4Addr::from(hop))
        })
}

/// The route the kernel itself would take to `addr` (the longest prefix,
/// then the lowest metric, over every interface), if it leaves by one of
/// `ports` (interface names): that port's position and the next hop. A
/// route over another interface wins here as in the kernel, and then the
/// dataplane cannot reach `addr`.
pub fn kernel_next_hop(
    routes: &[Route],
    addr: Ipv4Addr,
    ports: &[String],
) -> Option<(usize, Ipv4Addr)> {
    let a = u32::from(addr);
    let r = routes
        .iter()
        .filter(|r| a & r.mask == r.dest & r.mask)
        .max_by_key(|r| (r.mask.count_ones(), std::cmp::Reverse(r.metric)))?;
    let port = ports.iter().position(|p| *p == r.ifname)?;
    let hop = if r.gateway == 0 { a } else { r.gateway };
    Some((port, Ipv4Addr::from(hop)))
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
        let hop = |a: [u8; 4]| kernel_next_hop(&routes, Ipv4Addr::from(a), &ports);
        // On in0's link: its own next hop.
        assert_eq!(
            hop([10, 200, 2, 11]),
            Some((1, Ipv4Addr::new(10, 200, 2, 11)))
        );
        // Elsewhere: the default route's gateway.
        assert_eq!(
            hop([198, 51, 100, 7]),
            Some((1, Ipv4Addr::new(10, 200, 2, 254)))
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
            next_hop(&routes, Ipv4Addr::new(192, 0, 2, 7), &infos),
            Some((11, Ipv4Addr::new(10, 200, 2, 254)))
        );
    }
}
