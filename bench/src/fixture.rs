//! The forwarding state the in-memory benches and tests run against: one
//! NAT TCP service with round-robin real servers behind a director with an
//! outside port (0) and an inside port (1).

use xlb_dataplane::conn::Timeouts;
use xlb_dataplane::sched::SchedulerKind;
use xlb_dataplane::snapshot::{Forwarding, PortInfo, RealServer, Snapshot, VirtualService};
use xlb_dataplane::stats::new_gauges;
use xlb_model::{Address, Protocol, ServiceKey};

/// The director's outside MAC: frames for the VIP are sent to it.
pub const OUTSIDE_MAC: [u8; 6] = [2, 0xd0, 0, 0, 0, 0];
pub const INSIDE_MAC: [u8; 6] = [2, 0xd1, 0, 0, 0, 1];

/// `vip:vport` (TCP, NAT, rr) over `reals` (address, port), all weight 1
/// and resolved, reached through the inside port.
pub fn nat_service(vip: [u8; 4], vport: u16, reals: &[([u8; 4], u16)]) -> Snapshot {
    let reals = reals
        .iter()
        .enumerate()
        .map(|(i, &(addr, port))| RealServer {
            id: i as u32,
            addr: Address::v4(u32::from_be_bytes(addr)),
            port,
            weight: 1,
            egress: 1,
            mac: Some([2, 0x55, 0, 0, 0, i as u8]),
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
        key: ServiceKey::endpoint(std::net::Ipv4Addr::from(vip), vport, Protocol::Tcp),
        forwarding: Forwarding::Nat,
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
            ipv4: None,
            mtu: 1500,
        },
    ];
    Snapshot::new(1, ports, vec![svc], &[], Timeouts::default(), new_gauges())
        .expect("a valid fixture")
}
