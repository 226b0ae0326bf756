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
