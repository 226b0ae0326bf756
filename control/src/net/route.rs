//! The kernel's routes, IPv4 and IPv6, as far as the dataplane needs them:
//! the next hop toward an address over one of its ports (a client whose
//! replies leave before it spoke, a TUN real server on another network).

use super::neigh::Netlink;
use netlink_packet_core::{Emitable, NlasIterator, ParseableParametrized, NLM_F_DUMP};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteLwEnCapType, RouteMessage, RouteType, RouteVia,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xlb_dataplane::snapshot::PortInfo;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The interface it leaves by; `*` for a reject route (none),
    /// [`UNKNOWN_WAY`] where the kernel's way is not known.
    pub ifname: String,
    pub dest: IpAddr,
    pub prefix: u8,
    /// `None`: the destination is on the link.
    pub gateway: Option<IpAddr>,
    pub metric: u32,
    /// Delivered to this host (a local route of the main table, AnyIP):
    /// no way out, whatever interface it names.
    pub local: bool,
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

/// The main routing table, IPv4 and IPv6: where the kernel itself sends
/// what no policy rule sends elsewhere. From rtnetlink; should that fail,
/// from /proc (which for IPv6 lists every table), with a warning.
pub fn read() -> Vec<Route> {
    match dump_main_table() {
        Ok(routes) => routes,
        Err(e) => {
            tracing::warn!(error = %e, "routes read from /proc instead of rtnetlink");
            let text = |f| std::fs::read_to_string(f).unwrap_or_default();
            let mut routes = parse(&text("/proc/net/route"));
            routes.extend(parse_v6(&text("/proc/net/ipv6_route")));
            routes
        }
    }
}

const RTM_NEWROUTE: u16 = libc::RTM_NEWROUTE;
const RT_TABLE_MAIN: u32 = libc::RT_TABLE_MAIN as u32;

/// An RTM_GETROUTE dump of both families, the main table kept.
fn dump_main_table() -> io::Result<Vec<Route>> {
    let mut names: HashMap<u32, Option<String>> = HashMap::new();
    let mut name_of = |ifindex: u32| {
        names
            .entry(ifindex)
            .or_insert_with(|| ifname(ifindex))
            .clone()
    };
    let mut nl = Netlink::open()?;
    let mut routes = Vec::new();
    // AF_UNSPEC: every family's tables in one dump; the kernel filters
    // by table only for a strict socket, so the filter is ours.
    let request = RouteNetlinkMessage::GetRoute(RouteMessage::default());
    nl.request(NLM_F_DUMP, request, |kind, payload| {
        if kind == RTM_NEWROUTE {
            routes.extend(parse_main_route(payload, &mut name_of));
        }
    })?;
    Ok(routes)
}

/// The name of the interface with index `ifindex` (any kind of link: a
/// tun or WireGuard device has no MAC and is missing from getifaddrs'
/// link entries).
fn ifname(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IF_NAMESIZE];
    // SAFETY: buf has the IF_NAMESIZE bytes if_indextoname(3) may write.
    let p = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if p.is_null() {
        let e = io::Error::last_os_error();
        // ENXIO: gone since the dump, an ordinary race.
        if e.raw_os_error() != Some(libc::ENXIO) {
            tracing::warn!(ifindex, error = %e, "the name of a route's interface");
        }
        return None;
    }
    // SAFETY: on success buf holds a NUL-terminated name.
    let name = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

/// What `Route::ifname` holds for a route the kernel would take whose way
/// out this reader cannot tell (a nexthop object with
/// net.ipv4.nexthop_compat_mode = 0, an interface gone since the dump):
/// no port's name, so where it wins no port is the way.
pub const UNKNOWN_WAY: &str = "?";

/// The route an RTM_NEWROUTE payload describes, if it is an IPv4 or IPv6
/// route of the main table: unicast (of a multipath route its first next
/// hop, as /proc/net/route shows it) and local routes under their
/// interface's name (`name_of` an index), reject and throw routes
/// (unreachable, prohibit, blackhole; throw goes on to other tables) under
/// `*`, so that where they win no port is the way, as /proc/net/route
/// prints them. Routes for some sources only (IPv6 `from`), broadcast and
/// multicast routes are left out.
pub(super) fn parse_main_route(
    payload: &[u8],
    name_of: &mut impl FnMut(u32) -> Option<String>,
) -> Option<Route> {
    let header = RouteHeader::parse(payload).ok()?;
    let family = header.address_family;
    if !matches!(family, AddressFamily::Inet | AddressFamily::Inet6)
        || header.source_prefix_length != 0
    {
        return None;
    }
    let reject = match header.kind {
        RouteType::Unicast | RouteType::Local => false,
        RouteType::Unreachable | RouteType::Prohibit | RouteType::BlackHole | RouteType::Throw => {
            true
        }
        _ => return None,
    };
    let ip = |a: &RouteAddress| match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    };
    // RFC 5549: an IPv4 route via an IPv6 neighbour.
    let gateway_of = |a: &RouteAttribute| match a {
        RouteAttribute::Gateway(g) => ip(g),
        RouteAttribute::Via(RouteVia::Inet(v)) => Some(IpAddr::V4(*v)),
        RouteAttribute::Via(RouteVia::Inet6(v)) => Some(IpAddr::V6(*v)),
        _ => None,
    };
    let mut table = u32::from(header.table);
    let (mut dest, mut gateway, mut oif, mut metric) = (None, None, None, 0);
    let param = (family, header.kind, RouteLwEnCapType::default());
    for nla in NlasIterator::new(payload.get(header.buffer_len()..)?) {
        let Ok(nla) = nla else { break };
        let Ok(attr) = RouteAttribute::parse_with_param(&nla, param) else {
            continue;
        };
        match &attr {
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(a) => dest = ip(a),
            RouteAttribute::Oif(i) => oif = Some(*i),
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::MultiPath(hops) if oif.is_none() => {
                if let Some(first) = hops.first() {
                    oif = Some(first.interface_index);
                    gateway = first.attributes.iter().find_map(gateway_of);
                }
            }
            a => gateway = gateway_of(a).or(gateway),
        }
    }
    if table != RT_TABLE_MAIN {
        return None;
    }
    let ifname = if reject {
        "*".to_string()
    } else {
        oif.and_then(name_of)
            .unwrap_or_else(|| UNKNOWN_WAY.to_string())
    };
    let dest = dest.unwrap_or(match family {
        AddressFamily::Inet => Ipv4Addr::UNSPECIFIED.into(),
        _ => Ipv6Addr::UNSPECIFIED.into(),
    });
    Some(Route {
        ifname,
        dest,
        prefix: header.destination_prefix_length,
        gateway: gateway.filter(|g| !g.is_unspecified()),
        metric,
        local: header.kind == RouteType::Local,
    })
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
                local: false,
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
/// another table over a dataplane port would be taken here (so `read`
/// asks rtnetlink, and comes here only if that fails).
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
                local: false,
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
            let p = ports.iter().find(|p| !r.local && p.name == r.ifname)?;
            Some((r, p.ifindex))
        })
        .max_by_key(|(r, _)| (r.prefix, std::cmp::Reverse(r.metric)))
        .map(|(r, ix)| (ix, r.hop(addr)))
}

/// The route the kernel itself would take to `addr` (the longest prefix,
/// then the lowest metric, over every interface), if it leaves by one of
/// `ports` (interface names): that port's position and the next hop. A
/// route over another interface (or a local one) wins here as in the
/// kernel, and then the dataplane cannot reach `addr`.
pub fn kernel_next_hop(
    routes: &[Route],
    addr: IpAddr,
    ports: &[String],
) -> Option<(usize, IpAddr)> {
    let r = routes
        .iter()
        .filter(|r| r.covers(addr))
        .max_by_key(|r| (r.prefix, std::cmp::Reverse(r.metric)))?;
    if r.local {
        return None;
    }
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

    /// One RTM_NEWROUTE payload: `kind` to `dest/prefix` in `table`
    /// (above 255 only in the attribute, as the kernel does), over
    /// interface `oif` (0: none) via `gw`.
    fn route_payload(
        kind: RouteType,
        table: u32,
        dest: Option<IpAddr>,
        prefix: u8,
        oif: u32,
        gw: Option<IpAddr>,
        extra: Vec<RouteAttribute>,
    ) -> Vec<u8> {
        let mut m = RouteMessage::default();
        m.header.address_family = match dest.or(gw) {
            Some(IpAddr::V6(_)) => AddressFamily::Inet6,
            _ => AddressFamily::Inet,
        };
        m.header.destination_prefix_length = prefix;
        m.header.table = u8::try_from(table).unwrap_or(libc::RT_TABLE_COMPAT);
        m.header.kind = kind;
        m.attributes.push(RouteAttribute::Table(table));
        m.attributes
            .extend(dest.map(|d| RouteAttribute::Destination(d.into())));
        m.attributes
            .extend(gw.map(|g| RouteAttribute::Gateway(g.into())));
        if oif != 0 {
            m.attributes.push(RouteAttribute::Oif(oif));
        }
        m.attributes.push(RouteAttribute::Priority(1024));
        m.attributes.extend(extra);
        let mut buf = vec![0; m.buffer_len()];
        m.emit(&mut buf);
        buf
    }

    /// Interfaces 3 (a0) and 4 (b0), no other.
    fn names(ifindex: u32) -> Option<String> {
        [(3, "a0"), (4, "b0")]
            .iter()
            .find(|(i, _)| *i == ifindex)
            .map(|(_, n)| n.to_string())
    }

    #[test]
    fn only_the_main_tables_routes_that_send_somewhere_are_taken() {
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        let route = |kind, table, dest: Option<&str>, prefix, oif, gw: Option<&str>| {
            let p = route_payload(kind, table, dest.map(ip), prefix, oif, gw.map(ip), vec![]);
            parse_main_route(&p, &mut names)
        };
        use RouteType::*;
        assert_eq!(
            route(Unicast, 254, Some("2001:db8:9::"), 48, 3, Some("fe80::1")),
            Some(Route {
                ifname: "a0".into(),
                dest: ip("2001:db8:9::"),
                prefix: 48,
                gateway: Some(ip("fe80::1")),
                metric: 1024,
                local: false,
            })
        );
        // Policy routing's tables are not where the kernel sends by default.
        assert_eq!(route(Unicast, 100, Some("2001:db8:9::"), 56, 4, None), None);
        assert_eq!(route(Unicast, 1000, Some("10.9.0.0"), 24, 4, None), None);
        // Multicast is not a way to one address; a local route in the
        // main table (AnyIP) is the host's, over its interface.
        assert_eq!(route(Multicast, 254, Some("ff00::"), 8, 3, None), None);
        let r = route(Local, 254, Some("10.9.0.0"), 24, 3, None).unwrap();
        assert_eq!((r.ifname.as_str(), r.local), ("a0", true));
        // ... and no way out over that port, though it names it.
        let ports = ["a0".to_string()];
        let routes = [
            route(Unicast, 254, None, 0, 3, Some("10.9.1.1")).unwrap(),
            r,
        ];
        assert_eq!(kernel_next_hop(&routes, ip("10.9.0.7"), &ports), None);
        assert_eq!(
            kernel_next_hop(&routes, ip("10.7.0.7"), &ports),
            Some((0, ip("10.9.1.1")))
        );
        let info = PortInfo {
            name: "a0".into(),
            ifindex: 3,
            mac: [0; 6],
            ipv4: None,
            mtu: 1500,
        };
        assert_eq!(
            next_hop(&routes, ip("10.9.0.7"), &[info]),
            Some((3, ip("10.9.1.1")))
        );
        // Reject and throw routes have no interface: `*`, as /proc/net/route.
        let r = route(Unreachable, 254, Some("2001:db8:5::"), 48, 0, None).unwrap();
        assert_eq!((r.ifname.as_str(), r.prefix), ("*", 48));
        let r = route(Throw, 254, Some("10.66.0.0"), 16, 0, None).unwrap();
        assert_eq!(r.ifname, "*");
        // The default route carries no destination; an interface the
        // namespace does not have (gone since) is a way, but not a port.
        let r = route(Unicast, 254, None, 0, 4, Some("10.9.0.254")).unwrap();
        assert_eq!((r.dest, r.prefix), (ip("0.0.0.0"), 0));
        assert_eq!(
            (r.ifname.as_str(), r.gateway),
            ("b0", Some(ip("10.9.0.254")))
        );
        let r = route(Unicast, 254, None, 0, 9, Some("10.9.0.254")).unwrap();
        assert_eq!(r.ifname, UNKNOWN_WAY);
        // A nexthop object alone (nexthop_compat_mode 0): no interface.
        let p = route_payload(Unicast, 254, Some(ip("10.20.0.0")), 16, 0, None, vec![]);
        assert_eq!(
            parse_main_route(&p, &mut names).unwrap().ifname,
            UNKNOWN_WAY
        );
        // RFC 5549: an IPv4 route via an IPv6 neighbour.
        let via = RouteAttribute::Via(RouteVia::Inet6("fe80::5".parse().unwrap()));
        let p = route_payload(Unicast, 254, Some(ip("10.30.0.0")), 16, 4, None, vec![via]);
        assert_eq!(
            parse_main_route(&p, &mut names).unwrap().gateway,
            Some(ip("fe80::5"))
        );
        // IPv6 routes for some sources only (`from`) are left out.
        let mut p = route_payload(Unicast, 254, Some(ip("2001:db8:8::")), 48, 3, None, vec![]);
        p[2] = 64; // rtm_src_len
        assert_eq!(parse_main_route(&p, &mut names), None);
    }

    #[test]
    fn a_multipath_route_leads_over_its_first_hop() {
        let hop = |oif, gw: [u8; 4]| {
            let mut h = netlink_packet_route::route::RouteNextHop::default();
            h.interface_index = oif;
            h.attributes
                .push(RouteAttribute::Gateway(IpAddr::from(gw).into()));
            h
        };
        let multipath =
            RouteAttribute::MultiPath(vec![hop(4, [10, 9, 1, 1]), hop(3, [10, 9, 0, 1])]);
        let p = route_payload(
            RouteType::Unicast,
            254,
            Some(Ipv4Addr::new(198, 51, 100, 0).into()),
            24,
            0,
            None,
            vec![multipath],
        );
        let r = parse_main_route(&p, &mut names).unwrap();
        assert_eq!(r.ifname, "b0");
        assert_eq!(r.gateway, Some(Ipv4Addr::new(10, 9, 1, 1).into()));
    }

    /// In a namespace of its own: interfaces a0, b0 (veth) and tun0 (no
    /// MAC), routes of the main table and of policy routing's tables.
    fn policy_routed_namespace() {
        use crate::net::test_netns::ip;
        ip("link add a0 type veth peer name b0");
        ip("tuntap add dev tun0 mode tun");
        for dev in ["lo", "a0", "b0", "tun0"] {
            ip(&format!("link set {dev} up"));
        }
        ip("addr add 10.9.0.2/24 dev a0");
        ip("addr add 10.9.1.2/24 dev b0");
        ip("addr add 2001:db8:1::2/64 dev a0 nodad");
        ip("addr add 2001:db8:2::2/64 dev b0 nodad");
        ip("route add default via 10.9.0.1");
        ip("route add 10.79.0.0/16 via 10.9.1.1 metric 7");
        ip("route add 198.51.100.0/24 nexthop via 10.9.1.1 nexthop via 10.9.0.1");
        ip("route add unreachable 10.66.0.0/16");
        ip("route add throw 10.67.0.0/16");
        ip("route add local 10.68.0.0/24 dev lo table main");
        ip("route add 10.8.0.0/24 dev tun0");
        ip("route add 10.77.0.0/16 via 10.9.1.1 table 100");
        ip("route add 10.78.0.0/16 via 10.9.1.1 table 1000");
        ip("-6 route add 2001:db8:9::/48 via 2001:db8:2::1");
        ip("-6 route add 2001:db8:9:5::/64 via 2001:db8:2::1 table 100");
        ip("-6 route add 2001:db8:1::/112 via 2001:db8:2::1 table 100");
    }

    #[test]
    fn the_main_table_as_the_kernel_prints_it_and_no_other() {
        let (dumped, printed) = crate::net::test_netns::in_new_netns(|| {
            policy_routed_namespace();
            // This thread's namespace: /proc/net is the process's.
            let text = std::fs::read_to_string("/proc/thread-self/net/route").unwrap();
            (
                dump_main_table().expect("dump the routing tables"),
                parse(&text),
            )
        });
        let key = |r: &Route| (r.ifname.clone(), r.dest, r.prefix, r.gateway, r.metric);
        let mut v4: Vec<_> = dumped
            .iter()
            .filter(|r| r.dest.is_ipv4())
            .map(key)
            .collect();
        let mut proc: Vec<_> = printed.iter().map(key).collect();
        v4.sort();
        proc.sort();
        assert_eq!(v4, proc, "IPv4: the dump and /proc/net/route");
        let ip = |a: &str| a.parse::<IpAddr>().unwrap();
        for (dest, ifname) in [
            ("10.8.0.0", "tun0"),
            ("198.51.100.0", "b0"),
            ("10.66.0.0", "*"),
            ("10.67.0.0", "*"),
        ] {
            assert!(
                dumped
                    .iter()
                    .any(|r| r.dest == ip(dest) && r.ifname == ifname),
                "{dest} over {ifname}: {dumped:?}"
            );
        }
        assert!(!dumped
            .iter()
            .any(|r| r.dest == ip("10.77.0.0") || r.dest == ip("10.78.0.0")));
        // IPv6: table 100's more specific routes are not the kernel's way.
        let ports = vec!["a0".to_string(), "b0".to_string()];
        let hop = |a: &str| kernel_next_hop(&dumped, ip(a), &ports);
        assert_eq!(hop("2001:db8:9:5::7"), Some((1, ip("2001:db8:2::1"))));
        assert_eq!(hop("2001:db8:1::7"), Some((0, ip("2001:db8:1::7"))));
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
