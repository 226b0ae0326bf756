//! Where a synced connection's replies go before its client speaks: the
//! client's next hop on this director, from the kernel's routes over
//! the dataplane's interfaces and its neighbour table (the peer's MAC for
//! the client is not in the LVS sync format). A download's client sends
//! nothing until data reaches it, so without this its server's data would
//! be dropped until the connection died.
//!
//! Unresolved neighbours are asked for (the kernel resolves them) and the
//! record is retried for a few seconds; the connection is installed at
//! once either way, and learns its hop from the client's next frame too.

use crate::net::neigh::{needs_poke, NeighbourTable, Netlink};
use crate::net::route::{self, Route};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use xlb_dataplane::snapshot::PortInfo;
use xlb_model::ConnRecord;

/// Routes are read again after this long.
const ROUTES_FOR: Duration = Duration::from_secs(5);
/// The neighbour table is dumped again on a miss after this long.
const NEIGHBOURS_FOR: Duration = Duration::from_millis(50);
/// A record whose hop is unknown is retried this long, then given up.
const RETRY_FOR: Duration = Duration::from_secs(5);
/// Records waiting for a neighbour at most.
const PENDING_MAX: usize = 65536;

/// Why no hop (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unresolved {
    /// No route over a dataplane interface.
    NoRoute,
    /// The neighbour is being resolved.
    Pending,
}

pub struct Hops {
    netlink: Option<Netlink>,
    neighbours: NeighbourTable,
    neighbours_at: Option<Instant>,
    routes: Vec<Route>,
    routes_at: Option<Instant>,
    pending: VecDeque<(Instant, ConnRecord)>,
}

impl Hops {
    pub fn new() -> Hops {
        Hops {
            netlink: Netlink::open()
                .map_err(|e| tracing::warn!(error = %e, "sync: no neighbour lookups"))
                .ok(),
            neighbours: NeighbourTable::new(),
            neighbours_at: None,
            routes: Vec::new(),
            routes_at: None,
            pending: VecDeque::new(),
        }
    }

    /// The interface index and MAC replies to `client` leave with.
    pub fn resolve(
        &mut self,
        client: IpAddr,
        ports: &[PortInfo],
    ) -> Result<(u32, [u8; 6]), Unresolved> {
        let now = Instant::now();
        if self.routes_at.is_none_or(|t| now - t > ROUTES_FOR) {
            self.routes = route::read();
            self.routes_at = Some(now);
        }
        let (ifindex, hop) = self.next_hop(client, ports).ok_or(Unresolved::NoRoute)?;
        let key = (ifindex, hop);
        if let Some(mac) = self.neighbours.get(&key).and_then(|n| n.usable_mac()) {
            return Ok((ifindex, mac));
        }
        let Some(nl) = self.netlink.as_mut() else {
            return Err(Unresolved::NoRoute);
        };
        if self.neighbours_at.is_none_or(|t| now - t > NEIGHBOURS_FOR) {
            if let Ok(t) = nl.neighbours() {
                self.neighbours = t;
            }
            self.neighbours_at = Some(now);
            if let Some(mac) = self.neighbours.get(&key).and_then(|n| n.usable_mac()) {
                return Ok((ifindex, mac));
            }
        }
        if needs_poke(self.neighbours.get(&key)) {
            let _ = nl.poke(ifindex, hop);
        }
        Err(Unresolved::Pending)
    }

    fn next_hop(&self, c: IpAddr, ports: &[PortInfo]) -> Option<(u32, IpAddr)> {
        route::next_hop(&self.routes, c, ports)
    }

    /// Keep `rec` to try again.
    pub fn later(&mut self, rec: ConnRecord) {
        if self.pending.len() >= PENDING_MAX {
            self.pending.pop_front();
        }
        self.pending.push_back((Instant::now(), rec));
    }

    /// Records whose hop is known now; those waited on too long are
    /// counted in the second value and forgotten.
    pub fn retry(&mut self, ports: &[PortInfo]) -> (Vec<ConnRecord>, u64) {
        let mut done = Vec::new();
        let mut given_up = 0;
        let mut keep = VecDeque::new();
        while let Some((since, mut rec)) = self.pending.pop_front() {
            match self.resolve(rec.client.ip(), ports) {
                Ok((ix, mac)) => {
                    rec.client_ifindex = Some(ix);
                    rec.client_mac = Some(mac);
                    done.push(rec);
                }
                Err(_) if since.elapsed() > RETRY_FOR => given_up += 1,
                Err(_) => keep.push_back((since, rec)),
            }
        }
        self.pending = keep;
        (done, given_up)
    }

    pub fn waiting(&self) -> bool {
        !self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const TABLE: &str =
        "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
out0\t00000000\t0101C80A\t0003\t0\t0\t0\t00000000\t0\t0\t0
out0\t0001C80A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
in0\t0002C80A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0
mgmt\t00000A0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0
";

    fn ports() -> Vec<PortInfo> {
        ["out0", "in0"]
            .iter()
            .enumerate()
            .map(|(i, n)| PortInfo {
                name: n.to_string(),
                ifindex: 10 + i as u32,
                mac: [0; 6],
                ipv4: None,
                mtu: 1500,
            })
            .collect()
    }

    fn hops() -> Hops {
        Hops {
            netlink: None,
            neighbours: NeighbourTable::new(),
            neighbours_at: None,
            routes: route::parse(TABLE),
            routes_at: Some(Instant::now()),
            pending: VecDeque::new(),
        }
    }

    #[test]
    fn the_kernels_route_table_parses_in_network_order() {
        let r = route::parse(TABLE);
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].gateway, Some(Ipv4Addr::new(10, 200, 1, 1).into()));
        assert_eq!(r[1].dest, Ipv4Addr::new(10, 200, 1, 0));
        assert_eq!((r[1].prefix, r[1].gateway), (24, None));
    }

    #[test]
    fn a_client_on_the_link_is_its_own_hop_others_go_by_the_gateway() {
        let h = hops();
        let p = ports();
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        assert_eq!(
            h.next_hop(ip("10.200.1.7"), &p),
            Some((10, ip("10.200.1.7")))
        );
        assert_eq!(
            h.next_hop(ip("198.51.100.7"), &p),
            Some((10, ip("10.200.1.1")))
        );
        // Routes over interfaces the dataplane does not own do not count.
        assert_eq!(
            h.next_hop(ip("10.10.0.1"), &p),
            Some((10, ip("10.200.1.1")))
        );
    }

    #[test]
    fn a_known_neighbour_resolves_at_once() {
        let mut h = hops();
        h.neighbours.insert(
            (10, IpAddr::V4(Ipv4Addr::new(10, 200, 1, 7))),
            crate::net::neigh::Neighbour {
                mac: Some([2, 0, 0, 0, 0, 7]),
                state: 0x02,
            },
        );
        assert_eq!(
            h.resolve(IpAddr::V4(Ipv4Addr::new(10, 200, 1, 7)), &ports()),
            Ok((10, [2, 0, 0, 0, 0, 7]))
        );
        // Without netlink nothing more can be learned.
        assert_eq!(
            h.resolve(IpAddr::V4(Ipv4Addr::new(10, 200, 1, 8)), &ports()),
            Err(Unresolved::NoRoute)
        );
    }

    #[test]
    fn an_ipv6_client_resolves_through_its_route_as_an_ipv4_one() {
        // out0: 2001:db8:1::/64 on the link, the default via fe80::1.
        let table6 = "\
20010db8000100000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     out0
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003     out0
";
        let mut h = hops();
        h.routes = route::parse_v6(table6);
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let known = |mac| crate::net::neigh::Neighbour {
            mac: Some(mac),
            state: 0x02,
        };
        h.neighbours
            .insert((10, ip("2001:db8:1::2")), known([2, 0, 0, 0, 0, 2]));
        h.neighbours
            .insert((10, ip("fe80::1")), known([2, 0, 0, 0, 0, 1]));
        assert_eq!(
            h.resolve(ip("2001:db8:1::2"), &ports()),
            Ok((10, [2, 0, 0, 0, 0, 2]))
        );
        assert_eq!(
            h.resolve(ip("2001:db8:77::9"), &ports()),
            Ok((10, [2, 0, 0, 0, 0, 1]))
        );
    }
}
