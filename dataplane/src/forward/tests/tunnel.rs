//! TUN: the client's packet, byte for byte, inside an outer IPv4 header;
//! too big for the egress MTU once wrapped, ICMP "fragmentation needed" to
//! the client (DF) or a counted drop.

use super::*;
use crate::wire::FrameBuf;
use etherparse::{IpNumber, Ipv4Header, Ipv4Slice};

const DIRECTOR: [u8; 4] = [10, 0, 2, 1];
/// The headroom AF_XDP leaves before every received frame.
const HEADROOM: usize = 256;

fn tun_snapshot(source: Option<[u8; 4]>, mtu: u16) -> Snapshot {
    let base = snapshot(Forwarding::Dr, IPPROTO_TCP, [1, 1]);
    let mut svc = base.services[0].clone();
    svc.forwarding = Forwarding::Tun;
    let mut ports = base.ports.clone();
    ports[usize::from(INSIDE)].ipv4 = source.map(u32::from_be_bytes);
    ports[usize::from(INSIDE)].mtu = mtu;
    Snapshot::new(2, ports, vec![svc], &[], Timeouts::default(), new_gauges()).unwrap()
}

/// A client TCP segment with `payload` bytes, DF as given.
fn segment(port: u16, flags: &str, payload: usize, df: bool) -> Vec<u8> {
    let mut ip = Ipv4Header::new(0, 64, IpNumber::TCP, CLIENT, VIP).unwrap();
    ip.dont_fragment = df;
    ip.dscp = etherparse::Ipv4Dscp::try_new(10).unwrap();
    ip.identification = 0x1234;
    let b = PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .ip(etherparse::IpHeaders::Ipv4(ip, Default::default()))
        .tcp(port, 80, 1000, 64000);
    let b = if flags == "S" { b.syn() } else { b.ack(2000) };
    let mut v = Vec::new();
    b.write(&mut v, &vec![0x5a; payload]).unwrap();
    v
}

/// Run `frame` as AF_XDP hands it over (256 bytes into its buffer); the
/// verdict and the frame as it leaves.
fn run_in_umem(rig: &mut Rig, ingress: PortId, frame: &[u8]) -> (Verdict, Vec<u8>) {
    let mut umem = vec![0u8; 4096];
    umem[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
    let mut pkt = FrameBuf::new(&mut umem, HEADROOM, frame.len()).unwrap();
    let v = rig
        .fwd
        .process_frame(&rig.snap, &rig.stats, 100, ingress, &mut pkt);
    (v, pkt.bytes().to_vec())
}

#[test]
fn the_packet_goes_whole_inside_an_outer_header_to_its_server() {
    let mut rig = Rig::new(tun_snapshot(Some(DIRECTOR), 1500));
    for (flags, payload, df) in [("S", 0, true), ("A", 1000, true), ("A", 200, false)] {
        let frame = segment(40000, flags, payload, df);
        let (v, out) = run_in_umem(&mut rig, OUTSIDE, &frame);
        assert_eq!(v, Verdict::Forward(INSIDE));
        assert_eq!(out.len(), frame.len() + 20);
        assert_eq!(out[6..12], IN_MAC, "from the inside port");
        assert!(RS_MAC.iter().any(|m| out[..6] == *m), "to a real server");
        assert_eq!(out[12..14], [0x08, 0x00]);
        let outer = Ipv4Slice::from_slice(&out[14..]).expect("an IPv4 packet");
        let h = outer.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(h.protocol, IpNumber::IPV4, "IP in IP");
        assert_eq!(h.source, DIRECTOR);
        assert!(RS.contains(&h.destination));
        // Carried over from the inner header, as the kernel's ipip does.
        assert_eq!((h.time_to_live, h.dont_fragment), (64, df));
        assert_eq!(h.dscp.value(), 10);
        assert_eq!(
            outer.payload().payload,
            &frame[14..],
            "the client's packet, untouched"
        );
    }
    let c = rig.fwd.table.iter().next().expect("tracked");
    assert_eq!(c.forwarding, Forwarding::Tun);
}

#[test]
fn too_big_with_df_answers_fragmentation_needed_and_without_is_dropped() {
    let mut rig = Rig::new(tun_snapshot(Some(DIRECTOR), 1500));
    let (v, _) = run_in_umem(&mut rig, OUTSIDE, &segment(40001, "S", 0, true));
    assert_eq!(v, Verdict::Forward(INSIDE));
    // 20 + 20 + 1441 = 1481 bytes: 1501 once wrapped.
    let big = segment(40001, "A", 1441, true);
    let (v, out) = run_in_umem(&mut rig, OUTSIDE, &big);
    assert_eq!(v, Verdict::Forward(OUTSIDE), "back where it came from");
    assert_eq!(out[..6], CLIENT_MAC);
    assert_eq!(out[6..12], OUT_MAC);
    let ip = Ipv4Slice::from_slice(&out[14..]).expect("an IPv4 packet");
    let h = ip.header().to_header();
    assert_eq!(h.header_checksum, h.calc_header_checksum());
    assert_eq!((h.source, h.destination), (VIP, CLIENT), "from the VIP");
    assert_eq!(h.protocol, IpNumber::ICMP);
    let icmp = ip.payload().payload;
    assert_eq!((icmp[0], icmp[1]), (3, 4), "fragmentation needed");
    assert_eq!(
        u16::from_be_bytes([icmp[6], icmp[7]]),
        1480,
        "the tunnel's MTU"
    );
    assert_eq!(
        crate::wire::checksum::checksum(icmp),
        0,
        "the ICMP checksum covers the message"
    );
    // The client's IP header and its first 8 bytes (the ports), quoted.
    assert_eq!(&icmp[8..], &big[14..14 + 28]);
    let fits = segment(40001, "A", 1440, true);
    let (v, out) = run_in_umem(&mut rig, OUTSIDE, &fits);
    assert_eq!(v, Verdict::Forward(INSIDE));
    assert_eq!(out.len(), 14 + 1500);
    // No DF: the kernel would fragment the outer packet; one frame in,
    // one out, so it is dropped and counted.
    let (v, _) = run_in_umem(&mut rig, OUTSIDE, &segment(40001, "A", 1441, false));
    assert_eq!(v, Verdict::Drop(DropReason::TooBig));
    assert_eq!(rig.stats.frag_needed_sent.get(), 1);
    assert_eq!(rig.stats.drops(DropReason::TooBig), 2);
    assert_eq!(rig.stats.services[3].drops(DropReason::TooBig), 2);
}

#[test]
fn without_a_source_address_or_headroom_nothing_leaves() {
    let mut rig = Rig::new(tun_snapshot(None, 1500));
    let (v, _) = run_in_umem(&mut rig, OUTSIDE, &segment(40002, "S", 0, true));
    assert_eq!(v, Verdict::Drop(DropReason::NoTunnelSource));
    let mut rig = Rig::new(tun_snapshot(Some(DIRECTOR), 1500));
    // A frame with no room before it (not from a UMEM).
    let mut frame = segment(40003, "S", 0, true);
    assert_eq!(
        rig.run(OUTSIDE, &mut frame),
        Verdict::Drop(DropReason::NoHeadroom)
    );
    assert_eq!(rig.stats.drops(DropReason::NoHeadroom), 1);
}

#[test]
fn fragmentation_needed_goes_out_at_the_kernels_rate_and_only_to_unicast() {
    let mut rig = Rig::new(tun_snapshot(Some(DIRECTOR), 1500));
    let (v, _) = run_in_umem(&mut rig, OUTSIDE, &segment(40004, "S", 0, true));
    assert_eq!(v, Verdict::Forward(INSIDE));
    // The batch clock stands still: the bucket's burst, then drops.
    let answered = (0..80)
        .filter(|_| {
            let (v, _) = run_in_umem(&mut rig, OUTSIDE, &segment(40004, "A", 1441, true));
            v == Verdict::Forward(OUTSIDE)
        })
        .count();
    assert_eq!(answered, 50);
    assert_eq!(rig.stats.frag_needed_sent.get(), 50);
    assert_eq!(rig.stats.drops(DropReason::TooBig), 80);
    for (a, ok) in [
        ([10, 0, 1, 2], true),
        ([224, 0, 0, 1], false),
        ([255, 255, 255, 255], false),
        ([0, 1, 2, 3], false),
        ([127, 0, 0, 1], false),
    ] {
        assert_eq!(crate::forward::tunnel::may_answer(ip(a)), ok, "{a:?}");
    }
}

#[test]
fn a_vlan_tagged_frame_keeps_its_tag_outside_the_tunnel() {
    let mut rig = Rig::new(tun_snapshot(Some(DIRECTOR), 1500));
    let mut frame = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, OUT_MAC)
        .single_vlan(7.try_into().unwrap())
        .ipv4(CLIENT, VIP, 64)
        .tcp(40005, 80, 1000, 64000)
        .syn()
        .write(&mut frame, &[])
        .unwrap();
    let (v, out) = run_in_umem(&mut rig, OUTSIDE, &frame);
    assert_eq!(v, Verdict::Forward(INSIDE));
    assert_eq!(out[12..14], [0x81, 0x00], "the tag, still first");
    assert_eq!(out[16..18], [0x08, 0x00]);
    let outer = Ipv4Slice::from_slice(&out[18..]).expect("an IPv4 packet");
    assert_eq!(outer.header().protocol(), IpNumber::IPV4);
    assert_eq!(outer.payload().payload, &frame[18..]);
}
