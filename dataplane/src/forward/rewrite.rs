//! In-place header rewrites for NAT and DR, with RFC 1624 incremental
//! checksum updates: only the words that change are touched.

use crate::wire::checksum::{update16, update32};
use crate::wire::{EthHdr, Frame, Ipv4Hdr, TcpHdr, UdpHdr, IPPROTO_TCP};
use xlb_model::Address;
use zerocopy::Ref;

/// Set the Ethernet addresses (the only change DR makes).
#[inline]
pub fn set_macs(buf: &mut [u8], src: [u8; 6], dst: [u8; 6]) {
    let (mut eth, _) = Ref::<_, EthHdr>::from_prefix(buf).expect("parsed frame");
    eth.src = src;
    eth.dst = dst;
}

/// Decrement the TTL like a router; `false` when the packet must not be
/// forwarded (TTL would reach 0).
#[inline(always)]
pub fn decrement_ttl(buf: &mut [u8], f: &Frame) -> bool {
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

/// Replace one endpoint's address and port, fixing the IP checksum and the
/// TCP/UDP checksum (whose pseudo-header covers the addresses). The frame
/// is IPv4 (`Frame::parse` yields no other yet), and so is `addr`: NAT
/// never changes a packet's family.
#[inline]
pub fn nat(buf: &mut [u8], f: &Frame, which: Endpoint, addr: Address, port: u16) {
    debug_assert!(addr.is_v4(), "NAT of an IPv4 frame to {addr}");
    let addr = addr.low32();
    let (old_addr, old_port) = match which {
        Endpoint::Source => (f.src.low32(), f.sport),
        Endpoint::Destination => (f.dst.low32(), f.dport),
    };
    {
        let (mut ip, _) = Ref::<_, Ipv4Hdr>::from_prefix(&mut buf[f.l3..]).expect("parsed frame");
        match which {
            Endpoint::Source => ip.src.set(addr),
            Endpoint::Destination => ip.dst.set(addr),
        }
        let c = update32(ip.checksum.get(), old_addr, addr);
        ip.checksum.set(c);
    }
    let l4 = &mut buf[f.l4..];
    if f.proto == IPPROTO_TCP {
        let (mut tcp, _) = Ref::<_, TcpHdr>::from_prefix(l4).expect("parsed frame");
        let c = update16(update32(tcp.checksum.get(), old_addr, addr), old_port, port);
        tcp.checksum.set(c);
        match which {
            Endpoint::Source => tcp.src_port.set(port),
            Endpoint::Destination => tcp.dst_port.set(port),
        }
    } else {
        let (mut udp, _) = Ref::<_, UdpHdr>::from_prefix(l4).expect("parsed frame");
        // UDP checksum 0 means "none" (RFC 768): leave it so. A computed 0 is
        // sent as 0xffff.
        if udp.checksum.get() != 0 {
            let c = update16(update32(udp.checksum.get(), old_addr, addr), old_port, port);
            let c = if c == 0 { 0xffff } else { c };
            udp.checksum.set(c);
        }
        match which {
            Endpoint::Source => udp.src_port.set(port),
            Endpoint::Destination => udp.dst_port.set(port),
        }
    }
}
