//! In-place header rewrites for NAT and DR, IPv4 and IPv6, with RFC 1624
//! incremental checksum updates: only the words that change are touched.

use crate::wire::checksum::{delta128, delta32, update16, update_by};
use crate::wire::{EthHdr, Frame, Ipv4Hdr, Ipv6Hdr, TcpHdr, UdpHdr, IPPROTO_TCP};
use xlb_model::Address;
use zerocopy::Ref;

/// Set the Ethernet addresses (the only change DR makes).
#[inline]
pub fn set_macs(buf: &mut [u8], src: [u8; 6], dst: [u8; 6]) {
    let (mut eth, _) = Ref::<_, EthHdr>::from_prefix(buf).expect("parsed frame");
    eth.src = src;
    eth.dst = dst;
}

/// Decrement the TTL (IPv6: hop limit) like a router; `false` when the
/// packet must not be forwarded (it would reach 0).
#[inline(always)]
pub fn decrement_ttl(buf: &mut [u8], f: &Frame) -> bool {
    if f.v6 {
        // No header checksum in IPv6.
        let (mut ip, _) = Ref::<_, Ipv6Hdr>::from_prefix(&mut buf[f.l3..]).expect("parsed frame");
        if ip.hop_limit <= 1 {
            return false;
        }
        ip.hop_limit -= 1;
        return true;
    }
    let (mut ip, _) = Ref::<_, Ipv4Hdr>::from_prefix(&mut buf[f.l3..]).expect("parsed frame");
    if ip.ttl <= 1 {
        return false;
    }
    let old = u16::from_be_bytes([ip.ttl, ip.proto]);
    ip.ttl -= 1;
    let new = u16::from_be_bytes([ip.ttl, ip.proto]);
    let c = update16(ip.checksum.get(), old, new);
    ip.checksum.set(c);
    true
}

/// Which endpoint of the packet NAT rewrites.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Endpoint {
    Source,
    Destination,
}

/// Replace one endpoint's address and port, fixing the IPv4 header's
/// checksum and the TCP/UDP checksum (whose pseudo-header covers the
/// addresses). `addr` is of the frame's family: NAT never changes it.
#[inline]
pub fn nat(buf: &mut [u8], f: &Frame, which: Endpoint, addr: Address, port: u16) {
    debug_assert_eq!(addr.is_v4(), !f.v6, "NAT of {:?} to {addr}", f.dst);
    let (old_addr, old_port) = match which {
        Endpoint::Source => (f.src, f.sport),
        Endpoint::Destination => (f.dst, f.dport),
    };
    // What the address change adds to every checksum covering it: the
    // IPv4 header's, and the TCP/UDP one through its pseudo-header.
    let delta = if f.v6 {
        let (mut ip, _) = Ref::<_, Ipv6Hdr>::from_prefix(&mut buf[f.l3..]).expect("parsed frame");
        let bytes = addr.bits().to_be_bytes();
        match which {
            Endpoint::Source => ip.src = bytes,
            Endpoint::Destination => ip.dst = bytes,
        }
        delta128(old_addr.bits(), addr.bits())
    } else {
        let (mut ip, _) = Ref::<_, Ipv4Hdr>::from_prefix(&mut buf[f.l3..]).expect("parsed frame");
        match which {
            Endpoint::Source => ip.src.set(addr.low32()),
            Endpoint::Destination => ip.dst.set(addr.low32()),
        }
        let delta = delta32(old_addr.low32(), addr.low32());
        let c = update_by(ip.checksum.get(), delta);
        ip.checksum.set(c);
        delta
    };
    let l4 = &mut buf[f.l4..];
    if f.proto == IPPROTO_TCP {
        let (mut tcp, _) = Ref::<_, TcpHdr>::from_prefix(l4).expect("parsed frame");
        let c = update16(update_by(tcp.checksum.get(), delta), old_port, port);
        tcp.checksum.set(c);
        match which {
            Endpoint::Source => tcp.src_port.set(port),
            Endpoint::Destination => tcp.dst_port.set(port),
        }
    } else {
        let (mut udp, _) = Ref::<_, UdpHdr>::from_prefix(l4).expect("parsed frame");
        // UDP checksum 0 means "none" (RFC 768; over IPv6 the receiver
        // drops it, RFC 8200): leave it so. A computed 0 is sent as 0xffff.
        if udp.checksum.get() != 0 {
            let c = update16(update_by(udp.checksum.get(), delta), old_port, port);
            let c = if c == 0 { 0xffff } else { c };
            udp.checksum.set(c);
        }
        match which {
            Endpoint::Source => udp.src_port.set(port),
            Endpoint::Destination => udp.dst_port.set(port),
        }
    }
}
