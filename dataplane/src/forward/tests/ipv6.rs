//! IPv6 through the same forwarder as IPv4: NAT both ways with the
//! checksums etherparse recomputes, DR's MAC-only change, the hop limit,
//! extension headers walked, and malformed frames counted by reason.

use super::*;
use etherparse::{IpNumber, Ipv6Header};

const CLIENT6: u128 = 0x2001_0db8_0001_0000_0000_0000_0000_0002;
const VIP6: u128 = 0x2001_0db8_0001_0000_0000_0000_0000_0100;
const RS6: [u128; 2] = [
    0xfd00_0000_0000_0002_0000_0000_0000_0011,
    0xfd00_0000_0000_0002_0000_0000_0000_0012,
];

fn snapshot6(forwarding: Forwarding, proto: u8) -> Snapshot {
    with_service(snapshot(forwarding, proto, [1, 1]), |svc| {
        svc.key = ServiceKey::endpoint(
            Address::v6(VIP6).ip(),
            80,
            Protocol::from_number(proto).expect("TCP or UDP"),
        );
        for (r, a) in svc.reals.iter_mut().zip(RS6) {
            r.addr = Address::v6(a);
        }
    })
}

/// The client's SYN to the VIP's port 80, from port 40000.
fn client_syn6() -> Vec<u8> {
    tcp6(
        (CLIENT6, 40000),
        (VIP6, 80),
        (CLIENT_MAC, OUT_MAC),
        "S",
        b"",
    )
}

/// An IPv6 TCP segment with `flags` ("S", "SA", else an ACK) and `payload`.
fn tcp6(
    src: (u128, u16),
    dst: (u128, u16),
    macs: ([u8; 6], [u8; 6]),
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(src.0.to_be_bytes(), dst.0.to_be_bytes(), 64)
        .tcp(src.1, dst.1, 1000, 64000);
    let b = match flags {
        "S" => b.syn(),
        "SA" => b.syn().ack(2000),
        _ => b.ack(2000),
    };
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn udp6(src: (u128, u16), dst: (u128, u16), macs: ([u8; 6], [u8; 6])) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv6(src.0.to_be_bytes(), dst.0.to_be_bytes(), 64)
        .udp(src.1, dst.1)
        .write(&mut v, b"ping")
        .unwrap();
    v
}

/// Insert extension headers (each `(type, bytes)`, bytes a multiple of 8
/// with its own next-header byte filled in here) after the fixed header.
fn with_extensions(frame: &[u8], exts: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let (head, rest) = frame.split_at(14 + 40);
    let mut out = head.to_vec();
    let upper = out[14 + 6];
    out[14 + 6] = exts[0].0;
    for (i, (_, bytes)) in exts.iter().enumerate() {
        let mut b = bytes.clone();
        b[0] = exts.get(i + 1).map_or(upper, |e| e.0);
        out.extend_from_slice(&b);
    }
    out.extend_from_slice(rest);
    let added: usize = exts.iter().map(|e| e.1.len()).sum();
    let plen = u16::from_be_bytes([out[18], out[19]]) + added as u16;
    out[18..20].copy_from_slice(&plen.to_be_bytes());
    out
}

/// Padding-only options header (hop-by-hop or destination options).
fn options(len8: usize) -> Vec<u8> {
    let mut b = vec![0u8; len8 * 8];
    b[1] = (len8 - 1) as u8;
    b[2] = 1; // PadN
    b[3] = (len8 * 8 - 4) as u8;
    b
}

#[derive(Debug, PartialEq)]
struct Seen6 {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: (u128, u16),
    dst: (u128, u16),
    hop_limit: u8,
}

/// The frame as etherparse reads it, its TCP/UDP checksum recomputed.
fn inspect6(frame: &[u8]) -> Seen6 {
    let p = SlicedPacket::from_ethernet(frame).expect("etherparse reads the output");
    let Some(NetSlice::Ipv6(ip)) = &p.net else {
        panic!("not IPv6")
    };
    let h = ip.header().to_header();
    let (sport, dport) = match p.transport.as_ref().unwrap() {
        TransportSlice::Tcp(t) => {
            let want = t.to_header().calc_checksum_ipv6(&h, t.payload()).unwrap();
            assert_eq!(t.checksum(), want, "tcp checksum");
            (t.source_port(), t.destination_port())
        }
        TransportSlice::Udp(u) => {
            let want = u.to_header().calc_checksum_ipv6(&h, u.payload()).unwrap();
            assert_eq!(u.checksum(), want, "udp checksum");
            (u.source_port(), u.destination_port())
        }
        t => panic!("{t:?}"),
    };
    Seen6 {
        src_mac: frame[6..12].try_into().unwrap(),
        dst_mac: frame[..6].try_into().unwrap(),
        src: (u128::from_be_bytes(h.source), sport),
        dst: (u128::from_be_bytes(h.destination), dport),
        hop_limit: h.hop_limit,
    }
}

#[test]
fn nat_rewrites_ipv6_both_ways_with_exact_checksums() {
    let mut rig = Rig::new(snapshot6(Forwarding::Nat, IPPROTO_TCP));
    let mut syn = client_syn6();
    assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
    assert_eq!(
        inspect6(&syn),
        Seen6 {
            src_mac: IN_MAC,
            dst_mac: RS_MAC[0],
            src: (CLIENT6, 40000),
            dst: (RS6[0], 8080),
            hop_limit: 63,
        }
    );
    let mut synack = tcp6(
        (RS6[0], 8080),
        (CLIENT6, 40000),
        (RS_MAC[0], IN_MAC),
        "SA",
        b"",
    );
    assert_eq!(rig.run(INSIDE, &mut synack), Verdict::Forward(OUTSIDE));
    assert_eq!(
        inspect6(&synack),
        Seen6 {
            src_mac: OUT_MAC,
            dst_mac: CLIENT_MAC,
            src: (VIP6, 80),
            dst: (CLIENT6, 40000),
            hop_limit: 63,
        }
    );
    let mut data = tcp6(
        (CLIENT6, 40000),
        (VIP6, 80),
        (CLIENT_MAC, OUT_MAC),
        "A",
        b"GET / HTTP/1.1\r\n\r\n",
    );
    assert_eq!(rig.run(OUTSIDE, &mut data), Verdict::Forward(INSIDE));
    assert_eq!(inspect6(&data).dst, (RS6[0], 8080));
    let conn = rig.fwd.table.iter().next().unwrap();
    assert_eq!(conn.state, TcpState::Established);
    assert_eq!(conn.client, Address::v6(CLIENT6));
    // A second client goes round robin to the other server.
    let mut other = tcp6(
        (CLIENT6 + 1, 40000),
        (VIP6, 80),
        (CLIENT_MAC, OUT_MAC),
        "S",
        b"",
    );
    assert_eq!(rig.run(OUTSIDE, &mut other), Verdict::Forward(INSIDE));
    assert_eq!(inspect6(&other).dst, (RS6[1], 8080));
    assert_eq!(rig.stats.services[3].conns.get(), 2);
}

#[test]
fn nat_rewrites_ipv6_udp() {
    let mut rig = Rig::new(snapshot6(Forwarding::Nat, crate::wire::IPPROTO_UDP));
    let mut q = udp6((CLIENT6, 5353), (VIP6, 80), (CLIENT_MAC, OUT_MAC));
    assert_eq!(rig.run(OUTSIDE, &mut q), Verdict::Forward(INSIDE));
    assert_eq!(inspect6(&q).dst, (RS6[0], 8080));
    let mut reply = udp6((RS6[0], 8080), (CLIENT6, 5353), (RS_MAC[0], IN_MAC));
    assert_eq!(rig.run(INSIDE, &mut reply), Verdict::Forward(OUTSIDE));
    assert_eq!(inspect6(&reply).src, (VIP6, 80));
}

#[test]
fn dr_changes_only_the_destination_mac_of_ipv6() {
    let mut rig = Rig::new(snapshot6(Forwarding::Dr, IPPROTO_TCP));
    let mut syn = client_syn6();
    let before = syn.clone();
    assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
    assert_eq!(&syn[0..6], &RS_MAC[0]);
    assert_eq!(&syn[6..12], &IN_MAC);
    assert_eq!(syn[12..], before[12..], "hop limit and all after untouched");
}

#[test]
fn extension_headers_are_walked_and_kept() {
    let mut rig = Rig::new(snapshot6(Forwarding::Nat, IPPROTO_TCP));
    let plain = client_syn6();
    // Hop-by-hop, destination options, an atomic fragment (RFC 6946).
    let mut atomic = vec![0u8; 8];
    atomic[4..8].copy_from_slice(&7u32.to_be_bytes());
    let mut syn = with_extensions(&plain, &[(0, options(1)), (60, options(2)), (44, atomic)]);
    assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
    let seen = inspect6(&syn);
    assert_eq!((seen.dst, seen.hop_limit), ((RS6[0], 8080), 63));
    assert_eq!(rig.stats.ip_options.get(), 1);
}

#[test]
fn malformed_ipv6_is_counted_by_reason_never_forwarded() {
    let mut rig = Rig::new(snapshot6(Forwarding::Nat, IPPROTO_TCP));
    let plain = client_syn6();
    let mut fragment = vec![0u8; 8];
    fragment[3] = 1; // more fragments
    let mut later = vec![0u8; 8];
    later[2] = 0x05; // offset 160
    let mut routing = vec![0u8; 24];
    routing[1] = 2;
    routing[2] = 4; // segment routing
    routing[3] = 1; // segments left
    let mut jumbo = plain.clone();
    jumbo[18..20].copy_from_slice(&[0, 0]);
    let mut long = plain.clone();
    long[18..20].copy_from_slice(&2000u16.to_be_bytes());
    let mut mapped = plain.clone();
    mapped[14 + 8..14 + 24].copy_from_slice(&(0xffff_0a00_0001u128).to_be_bytes());
    let mut version = plain.clone();
    version[14] = 0x40;
    let mut esp = plain.clone();
    esp[14 + 6] = 50;
    let nine: Vec<(u8, Vec<u8>)> = (0..9).map(|_| (60, options(1))).collect();
    let cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        (
            "first fragment",
            with_extensions(&plain, &[(44, fragment)]),
            DropReason::Fragment,
        ),
        (
            "later fragment",
            with_extensions(&plain, &[(44, later)]),
            DropReason::Fragment,
        ),
        (
            "routing header with a segment left",
            with_extensions(&plain, &[(43, routing)]),
            DropReason::BadExtensionHeader,
        ),
        (
            "hop-by-hop not first",
            with_extensions(&plain, &[(60, options(1)), (0, options(1))]),
            DropReason::BadExtensionHeader,
        ),
        (
            "nine extension headers",
            with_extensions(&plain, &nine),
            DropReason::BadExtensionHeader,
        ),
        ("jumbogram length", jumbo, DropReason::BadIpLength),
        ("payload past the frame", long, DropReason::BadIpLength),
        ("IPv4-mapped source", mapped, DropReason::BadIpHeader),
        (
            "version 4 in an IPv6 frame",
            version,
            DropReason::BadIpHeader,
        ),
        ("ESP", esp, DropReason::UnsupportedProtocol),
    ];
    for (what, mut frame, reason) in cases {
        assert_eq!(
            rig.run(OUTSIDE, &mut frame),
            Verdict::Drop(reason),
            "{what}"
        );
    }
    // A header that claims more than the datagram holds.
    let mut big = options(1);
    big[1] = 30;
    let mut frame = with_extensions(&plain, &[(60, big)]);
    assert_eq!(
        rig.run(OUTSIDE, &mut frame),
        Verdict::Drop(DropReason::BadExtensionHeader)
    );
    // Every truncation of a frame with extension headers is an error.
    let full = with_extensions(&plain, &[(0, options(1)), (60, options(1))]);
    for n in 0..full.len() {
        let mut cut = full[..n].to_vec();
        assert!(
            matches!(rig.run(OUTSIDE, &mut cut), Verdict::Drop(_)),
            "prefix of {n} bytes"
        );
    }
    assert_eq!(rig.fwd.table.len(), 0, "nothing opened a connection");
    assert!(rig.stats.drops(DropReason::BadExtensionHeader) >= 4);
}

#[test]
fn hop_limit_one_is_not_forwarded() {
    let mut rig = Rig::new(snapshot6(Forwarding::Nat, IPPROTO_TCP));
    let b = PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .ip(etherparse::IpHeaders::Ipv6(
            Ipv6Header {
                hop_limit: 1,
                next_header: IpNumber::TCP,
                source: CLIENT6.to_be_bytes(),
                destination: VIP6.to_be_bytes(),
                ..Default::default()
            },
            Default::default(),
        ))
        .tcp(40000, 80, 1, 64000)
        .syn();
    let mut frame = Vec::new();
    b.write(&mut frame, b"").unwrap();
    assert_eq!(
        rig.run(OUTSIDE, &mut frame),
        Verdict::Drop(DropReason::TtlExpired)
    );
}
