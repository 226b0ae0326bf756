//! Frames from the wire through the forwarder: a director with a NAT TCP
//! service, a DR UDP service, an NAT FTP service (helper on), a SYN-proxied
//! one and an IPv6 NAT TCP service, fed a
//! sequence of frames on its two ports, so that replies, FTP commands and
//! data connections meet the connections earlier frames opened.
//!
//! Invariants: no panic; a forwarded frame is a well-formed Ethernet/IPv4
//! or IPv6 frame whose checksums are valid when the input's were (computed over
//! the raw bytes); a frame that is not a reply from the VIP goes only to a
//! configured real server (its MAC, by the inside port; NAT: its address,
//! DR: still the VIP): nothing is forwarded to an address not in the
//! configuration.
#![no_main]
use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};
use xlb_dataplane::conn::Timeouts;
use xlb_dataplane::forward::{Forwarder, Verdict};
use xlb_dataplane::sched::SchedulerKind;
use xlb_dataplane::snapshot::{
    Forwarding, PortInfo, RealServer, Snapshot, SynProxy, VirtualService,
};
use xlb_dataplane::stats::{new_gauges, WorkerStats};
use xlb_dataplane::wire::FrameBuf;
use xlb_model::{Address, Protocol, ServiceKey};

const VIP: [u8; 4] = [10, 0, 1, 100];
const REALS: [[u8; 4]; 2] = [[10, 0, 2, 11], [10, 0, 2, 12]];
const REAL_MACS: [[u8; 6]; 2] = [[2, 0x55, 0, 0, 0, 1], [2, 0x55, 0, 0, 0, 2]];
const VIP6: u128 = 0x2001_0db8_0001_0000_0000_0000_0000_0100;
const REALS6: [u128; 2] = [
    0xfd00_0000_0000_0002_0000_0000_0000_0011,
    0xfd00_0000_0000_0002_0000_0000_0000_0012,
];

fn service(
    id: u32,
    port: u16,
    proto: Protocol,
    fwd: Forwarding,
    real_port: u16,
    ftp: bool,
) -> VirtualService {
    VirtualService {
        id,
        name: format!("s{id}"),
        key: ServiceKey::endpoint(Ipv4Addr::from(VIP), port, proto),
        forwarding: fwd,
        scheduler: SchedulerKind::Rr,
        reals: (0..2)
            .map(|i| RealServer {
                id: id * 2 + i as u32,
                addr: Address::v4(u32::from_be_bytes(REALS[i])),
                port: real_port,
                weight: 1,
                egress: 1,
                mac: Some(REAL_MACS[i]),
                gateway: None,
                enabled: true,
                u_threshold: 0,
                l_threshold: 0,
            })
            .collect(),
        sorry: None,
        persistence: None,
        ftp,
        syn_proxy: SynProxy::Off,
        max_conn_rate: 0,
        max_conns_per_client: 0,
        sloppy_tcp: false,
    }
}

fn snapshot() -> Snapshot {
    let services = vec![
        service(0, 80, Protocol::Tcp, Forwarding::Nat, 8080, false),
        service(1, 53, Protocol::Udp, Forwarding::Dr, 53, false),
        service(2, 21, Protocol::Tcp, Forwarding::Nat, 21, true),
        VirtualService {
            syn_proxy: SynProxy::On,
            ..service(3, 443, Protocol::Tcp, Forwarding::Nat, 8443, false)
        },
        {
            let mut s = service(4, 80, Protocol::Tcp, Forwarding::Nat, 8080, false);
            s.key = ServiceKey::endpoint(Ipv6Addr::from(VIP6), 80, Protocol::Tcp);
            for (r, a) in s.reals.iter_mut().zip(REALS6) {
                r.addr = Address::v6(a);
            }
            s
        },
    ];
    let ports = vec![
        PortInfo {
            name: "out".into(),
            ifindex: 1,
            mac: [2, 0xd0, 0, 0, 0, 0],
            ipv4: None,
            mtu: 1500,
        },
        PortInfo {
            name: "in".into(),
            ifindex: 2,
            mac: [2, 0xd1, 0, 0, 0, 1],
            ipv4: None,
            mtu: 1500,
        },
    ];
    Snapshot::new(1, ports, services, &[], Timeouts::default(), new_gauges()).expect("valid")
}

/// The ones' complement sum of `b` (16-bit words, big-endian), folded.
fn sum16(b: &[u8], mut acc: u32) -> u32 {
    for pair in b.chunks(2) {
        acc += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
    }
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

/// The frame's IP source and destination, and whether its IPv4 header's
/// and TCP/UDP checksums hold, computed over the raw bytes (every header
/// bit counts); None if it is not IP that etherparse reads.
fn inspect(frame: &[u8]) -> Option<(IpAddr, IpAddr, bool)> {
    let p = SlicedPacket::from_ethernet(frame).ok()?;
    let (src, dst, mut ok, payload) = match &p.net {
        Some(NetSlice::Ipv4(ip)) => {
            let h = ip.header();
            (
                IpAddr::from(h.source()),
                IpAddr::from(h.destination()),
                sum16(h.slice(), 0) == 0xffff,
                ip.payload(),
            )
        }
        Some(NetSlice::Ipv6(ip)) => {
            let h = ip.header();
            (
                IpAddr::from(h.source()),
                IpAddr::from(h.destination()),
                true,
                ip.payload(),
            )
        }
        _ => return None,
    };
    let segment = payload.payload;
    // The pseudo-header: RFC 793's for IPv4, RFC 8200 8.1's for IPv6.
    let pseudo = |proto: u8| {
        let mut v = Vec::with_capacity(40);
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                v.extend_from_slice(&s.octets());
                v.extend_from_slice(&d.octets());
                v.extend_from_slice(&[0, proto]);
                v.extend_from_slice(&(segment.len() as u16).to_be_bytes());
            }
            (s, d) => {
                let o = |a: IpAddr| match a {
                    IpAddr::V6(a) => a.octets(),
                    IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
                };
                v.extend_from_slice(&o(s));
                v.extend_from_slice(&o(d));
                v.extend_from_slice(&(segment.len() as u32).to_be_bytes());
                v.extend_from_slice(&[0, 0, 0, proto]);
            }
        }
        sum16(&v, 0)
    };
    match &p.transport {
        Some(TransportSlice::Tcp(_)) if !payload.fragmented => {
            ok &= sum16(segment, pseudo(6)) == 0xffff;
        }
        Some(TransportSlice::Udp(u)) if !payload.fragmented => {
            ok &= u.checksum() == 0 || sum16(segment, pseudo(17)) == 0xffff;
        }
        _ => {}
    }
    Some((src, dst, ok))
}

// Built once: both are large (a counter per possible service and server),
// and neither changes what the forwarder decides (round robin reads no
// gauge; counters are only counted). The forwarder and its tables are new
// for every input, so that an input replays alone.
static SNAP: OnceLock<Snapshot> = OnceLock::new();
static STATS: OnceLock<WorkerStats> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let snap = SNAP.get_or_init(snapshot);
    let stats = STATS.get_or_init(WorkerStats::default);
    let mut fwd = Forwarder::new(1024);
    fwd.set_ftp(Arc::new(xlb_dataplane::ftp::FtpHelper::with_capacity(
        64, 64,
    )));
    fwd.adopt(snap);
    let mut rest = data;
    let mut umem = vec![0u8; 2048];
    for _ in 0..16 {
        let [ingress, hi, lo, tail @ ..] = rest else {
            return;
        };
        let len = (usize::from(*hi) << 8 | usize::from(*lo))
            .min(tail.len())
            .min(1514);
        let (frame, next) = tail.split_at(len);
        rest = next;
        let before = inspect(frame);
        umem.fill(0);
        umem[256..256 + len].copy_from_slice(frame);
        let Some(mut pkt) = FrameBuf::new(&mut umem, 256, len) else {
            continue;
        };
        let port = ingress & 1;
        match fwd.process_frame(snap, stats, 100, port, &mut pkt) {
            Verdict::Drop(_) => {}
            Verdict::Forward(out) => {
                let bytes = pkt.bytes();
                let (src, dst, sums) = inspect(bytes).expect("a forwarded frame is IP");
                if before.is_some_and(|b| b.2) {
                    assert!(
                        sums,
                        "valid checksums in, invalid out: in {frame:02x?} out {bytes:02x?}"
                    );
                }
                assert!(out <= 1, "no port {out}");
                let vip = [IpAddr::from(VIP), IpAddr::from(Ipv6Addr::from(VIP6))];
                let reals = REALS
                    .map(IpAddr::from)
                    .into_iter()
                    .chain(REALS6.map(|a| IpAddr::from(Ipv6Addr::from(a))));
                if !vip.contains(&src) {
                    // Towards a server: only a configured one (NAT: its
                    // address; DR: the VIP, to its MAC), by the inside port.
                    let mac_ok = REAL_MACS.iter().any(|m| bytes[..6] == m[..]);
                    assert!(
                        out == 1 && mac_ok,
                        "to a server not configured: in {frame:02x?} out {bytes:02x?}"
                    );
                    assert!(
                        reals.clone().any(|r| r == dst) || vip.contains(&dst),
                        "to {dst:?}"
                    );
                }
                // From the VIP: a reply, to the client, by the port and MAC
                // its frames came from.
            }
        }
    }
});
