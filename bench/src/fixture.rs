//! The forwarding state the in-memory benches and tests run against: one
//! TCP service (NAT unless asked otherwise) with round-robin real servers behind a director with an
//! outside port (0) and an inside port (1).

use std::net::{IpAddr, Ipv6Addr};
use xlb_dataplane::conn::Timeouts;
use xlb_dataplane::sched::SchedulerKind;
use xlb_dataplane::snapshot::{Forwarding, PortInfo, RealServer, Snapshot, VirtualService};
use xlb_dataplane::stats::new_gauges;
use xlb_model::{Address, Protocol, ServiceKey};

/// The director's outside MAC: frames for the VIP are sent to it.
pub const OUTSIDE_MAC: [u8; 6] = [2, 0xd0, 0, 0, 0, 0];
pub const INSIDE_MAC: [u8; 6] = [2, 0xd1, 0, 0, 0, 1];

/// The inside port's address (the source of TUN packets).
pub const INSIDE_ADDR: [u8; 4] = [10, 0, 2, 1];

/// `vip:vport` (TCP, NAT, rr) over `reals` (address, port), all weight 1
/// and resolved, reached through the inside port.
pub fn nat_service(vip: [u8; 4], vport: u16, reals: &[([u8; 4], u16)]) -> Snapshot {
    service(vip, vport, reals, Forwarding::Nat)
}

/// The same service forwarding as `forwarding` says.
pub fn service(
    vip: [u8; 4],
    vport: u16,
    reals: &[([u8; 4], u16)],
    forwarding: Forwarding,
) -> Snapshot {
    let reals: Vec<(IpAddr, u16)> = reals.iter().map(|&(a, p)| (a.into(), p)).collect();
    service_at(vip.into(), vport, &reals, forwarding)
}

/// The same of either family (the VIP's and the servers' the same).
pub fn service_at(
    vip: IpAddr,
    vport: u16,
    reals: &[(IpAddr, u16)],
    forwarding: Forwarding,
) -> Snapshot {
    let reals = reals
        .iter()
        .enumerate()
        .map(|(i, &(addr, port))| RealServer {
            id: i as u32,
            addr: Address::from(addr),
            port,
            weight: 1,
            egress: 1,
            mac: Some([2, 0x55, 0, 0, 0, i as u8]),
            gateway: None,
            enabled: true,
            u_threshold: 0,
            l_threshold: 0,
        })
        .collect();
    let svc = VirtualService {
        ftp: false,
        syn_proxy: xlb_dataplane::snapshot::SynProxy::Auto,
        max_conn_rate: 0,
        max_conns_per_client: 0,
        sloppy_tcp: false,
        id: 0,
        name: "bench".into(),
        key: ServiceKey::endpoint(vip, vport, Protocol::Tcp),
        forwarding,
        scheduler: SchedulerKind::Rr,
        reals,
        sorry: None,
        persistence: None,
    };
    let ports = vec![
        PortInfo {
            name: "out".into(),
            ifindex: 1,
            mac: OUTSIDE_MAC,
            ipv4: None,
            mtu: 1500,
        },
        PortInfo {
            name: "in".into(),
            ifindex: 2,
            mac: INSIDE_MAC,
            ipv4: Some(u32::from_be_bytes(INSIDE_ADDR)),
            mtu: 1500,
        },
    ];
    Snapshot::new(1, ports, vec![svc], &[], Timeouts::default(), new_gauges())
        .expect("a valid fixture")
}

/// Frame `i` of the lab's TCP mix to `vip`:80 (flow `i`'s SYN or one of its
/// ACKs, carrying `payload`): 50,000 source ports per source address from
/// 11.0.0.0.
pub fn tcp_mix_frame(vip: [u8; 4], i: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
    let src = (
        (0x0b00_0000 + i / 50_000).to_be_bytes(),
        10_000 + (i % 50_000) as u16,
    );
    let b = etherparse::PacketBuilder::ethernet2([2, 0xc1, 0, 0, 0, 1], OUTSIDE_MAC)
        .ipv4(src.0, vip, 64)
        .tcp(src.1, 80, 1, 64000);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("a valid frame");
    v
}

/// The same mix over IPv6 to `vip`:80: 50,000 source ports per source
/// address from 2001:db8:b::.
pub fn tcp_mix_frame6(vip: Ipv6Addr, i: u32, syn: bool, payload: &[u8]) -> Vec<u8> {
    let client = 0x2001_0db8_000b_0000_0000_0000_0000_0000u128 + u128::from(i / 50_000);
    let b = etherparse::PacketBuilder::ethernet2([2, 0xc1, 0, 0, 0, 1], OUTSIDE_MAC)
        .ipv6(client.to_be_bytes(), vip.octets(), 64)
        .tcp(10_000 + (i % 50_000) as u16, 80, 1, 64000);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("a valid frame");
    v
}
