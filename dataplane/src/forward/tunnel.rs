//! TUN forwarding (IPVS's `-i`, keepalived's `lb_kind TUN`): the client's
//! IPv4 packet, unchanged, inside an outer IPv4 header from the director's
//! address on the egress port to the real server (RFC 2003). The outer
//! header goes into the UMEM frame's headroom, so nothing is copied but the
//! Ethernet header.
//!
//! A packet that no longer fits the egress MTU once wrapped is dropped; if
//! the client set DF it gets ICMP "fragmentation needed" with the tunnel's
//! MTU (RFC 1191), from the VIP as the kernel's IPVS sends it, and its path
//! MTU shrinks. Without DF the kernel would fragment the outer packet; the
//! dataplane sends one frame per frame, so it drops (counted `too_big`).

use crate::snapshot::PortInfo;
use crate::wire::checksum::checksum;
use crate::wire::emit::Ipv4Repr;
use crate::wire::{Frame, FrameBuf, Ipv4Hdr};
use zerocopy::Ref;

const IPPROTO_ICMP: u8 = 1;
/// The outer header's protocol: IPv4 in IPv4.
pub const IPPROTO_IPIP: u8 = 4;
/// What wrapping adds.
pub const IPV4_HEADER: usize = Ipv4Repr::LEN;
/// ICMP destination unreachable, fragmentation needed and DF set.
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_FRAG_NEEDED: u8 = 4;
/// What an ICMP error quotes of the packet: its IP header and the first
/// 8 bytes after it (RFC 792), enough for the client to find its socket.
const QUOTED_PAYLOAD: usize = 8;
const ICMP_HEADER: usize = 8;

/// Why a packet cannot go through the tunnel as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Bigger than the egress MTU once wrapped; `df`: the client asked not
    /// to fragment (it gets ICMP).
    TooBig { df: bool, tunnel_mtu: u16 },
    /// The egress port has no IPv4 address to send the tunnel from.
    NoSource,
}

/// The outer header for `f` (parsed from `buf`) to `real` out of `port`:
/// the inner packet's DSCP/ECN, TTL and DF carried over (as the kernel's
/// ipip does), the identification from `ident` when DF is clear.
#[inline]
pub fn outer_header(
    buf: &[u8],
    f: &Frame,
    port: &PortInfo,
    real: u32,
    ident: &mut u16,
) -> Result<Ipv4Repr, Refusal> {
    let inner_len = f.end - f.l3;
    let (ip, _) = Ref::<_, Ipv4Hdr>::from_prefix(&buf[f.l3..]).expect("parsed frame");
    let df = ip.flags_frag.get() & 0x4000 != 0;
    if inner_len + Ipv4Repr::LEN > usize::from(port.mtu) {
        return Err(Refusal::TooBig {
            df,
            tunnel_mtu: port.mtu.saturating_sub(Ipv4Repr::LEN as u16),
        });
    }
    let src = port.ipv4.ok_or(Refusal::NoSource)?;
    if !df {
        *ident = ident.wrapping_add(1);
    }
    Ok(Ipv4Repr {
        src,
        dst: real,
        proto: IPPROTO_IPIP,
        ttl: ip.ttl,
        tos: ip.tos,
        ident: if df { 0 } else { *ident },
        dont_fragment: df,
        payload_len: inner_len as u16,
    })
}

/// Wrap the frame (its IP datagram ends at `ip_end`; Ethernet padding is
/// left out): the L2 header moves `Ipv4Repr::LEN` bytes to the front and
/// `outer` goes between it and the inner packet. `false` without the
/// headroom (a frame that did not come from a UMEM).
#[inline]
pub fn encapsulate(pkt: &mut FrameBuf<'_>, l3: usize, ip_end: usize, outer: &Ipv4Repr) -> bool {
    let (_, len) = pkt.tail_parts();
    *len = ip_end;
    if pkt.push_front(Ipv4Repr::LEN).is_none() {
        return false;
    }
    let b = pkt.bytes_mut();
    b.copy_within(Ipv4Repr::LEN..Ipv4Repr::LEN + l3, 0);
    outer
        .emit(&mut b[l3..])
        .expect("the frame holds the inner packet");
    true
}

/// Whether an ICMP error may go to `src` (RFC 1122 3.2.2: never to a
/// broadcast, multicast, "this network" or loopback source).
pub fn may_answer(src: xlb_model::Address) -> bool {
    src.v4_bits().is_some_and(|a| {
        let first = a >> 24;
        first != 0 && first != 127 && first < 224
    })
}

/// Turn the frame, in place, into ICMP "fragmentation needed" for its
/// sender: from the address it was sent to, quoting its IP header and
/// first bytes, the Ethernet addresses swapped (the reply goes back where
/// the packet came from; `port_mac` is the port it arrived on). Returns the
/// new length; `None` if the reply would not fit where the packet lay
/// (only with an MTU below any real link's).
pub fn frag_needed(buf: &mut [u8], f: &Frame, port_mac: [u8; 6], tunnel_mtu: u16) -> Option<usize> {
    let ihl = usize::from(buf[f.l3] & 0x0f) * 4;
    let quote = (ihl + QUOTED_PAYLOAD).min(f.end - f.l3);
    let icmp = f.l3 + Ipv4Repr::LEN;
    let quoted = icmp + ICMP_HEADER;
    if quoted + quote > f.end {
        return None;
    }
    buf.copy_within(f.l3..f.l3 + quote, quoted);
    let (src, dst) = {
        let (ip, _) = Ref::<_, Ipv4Hdr>::from_prefix(&buf[quoted..]).expect("quoted header");
        (ip.dst.get(), ip.src.get())
    };
    buf.copy_within(6..12, 0);
    buf[6..12].copy_from_slice(&port_mac);
    let ip_len = Ipv4Repr::LEN + ICMP_HEADER + quote;
    Ipv4Repr {
        src,
        dst,
        proto: IPPROTO_ICMP,
        ttl: 64,
        tos: 0,
        ident: 0,
        dont_fragment: true,
        payload_len: (ICMP_HEADER + quote) as u16,
    }
    .emit(&mut buf[f.l3..])
    .expect("room checked");
    let h = &mut buf[icmp..icmp + ICMP_HEADER];
    h[0] = ICMP_DEST_UNREACH;
    h[1] = ICMP_FRAG_NEEDED;
    h[2..6].fill(0);
    h[6..8].copy_from_slice(&tunnel_mtu.to_be_bytes());
    let c = checksum(&buf[icmp..quoted + quote]);
    buf[icmp + 2..icmp + 4].copy_from_slice(&c.to_be_bytes());
    Some(f.l3 + ip_len)
}
