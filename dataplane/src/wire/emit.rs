//! The headers the director writes, as smoltcp's `Repr::emit`: a plain
//! description of a header in, its bytes (checksum included where the
//! header has one of its own) out. What `Frame::parse` reads, these write;
//! the tests read the output back with etherparse.

use super::checksum::checksum;
use super::headers::{EthHdr, Ipv4Hdr, Ipv6Hdr, TcpHdr, UdpHdr};
use zerocopy::{IntoBytes, Ref};

/// Not enough room in the buffer for the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("buffer of {have} bytes cannot hold a {need}-byte header")]
pub struct NoRoom {
    pub need: usize,
    pub have: usize,
}

fn place<H: zerocopy::FromBytes + IntoBytes + zerocopy::KnownLayout + zerocopy::Immutable>(
    buf: &mut [u8],
) -> Result<Ref<&mut [u8], H>, NoRoom> {
    let have = buf.len();
    Ref::<_, H>::from_prefix(buf)
        .map(|(h, _)| h)
        .map_err(|_| NoRoom {
            need: size_of::<H>(),
            have,
        })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EthernetRepr {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub ethertype: u16,
}

impl EthernetRepr {
    pub const LEN: usize = size_of::<EthHdr>();

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, NoRoom> {
        let mut h = place::<EthHdr>(buf)?;
        h.dst = self.dst;
        h.src = self.src;
        h.ethertype.set(self.ethertype);
        Ok(Self::LEN)
    }
}

/// An IPv4 header without options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    /// Host order.
    pub src: u32,
    pub dst: u32,
    pub proto: u8,
    pub ttl: u8,
    /// DSCP and ECN.
    pub tos: u8,
    pub ident: u16,
    pub dont_fragment: bool,
    /// Bytes after this header.
    pub payload_len: u16,
}

impl Ipv4Repr {
    pub const LEN: usize = size_of::<Ipv4Hdr>();

    /// Write the header with its checksum.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, NoRoom> {
        let mut h = place::<Ipv4Hdr>(buf)?;
        h.version_ihl = 0x45;
        h.tos = self.tos;
        h.total_len
            .set(self.payload_len.saturating_add(Self::LEN as u16));
        h.id.set(self.ident);
        h.flags_frag
            .set(if self.dont_fragment { 0x4000 } else { 0 });
        h.ttl = self.ttl;
        h.proto = self.proto;
        h.checksum.set(0);
        h.src.set(self.src);
        h.dst.set(self.dst);
        let c = checksum(h.as_bytes());
        h.checksum.set(c);
        Ok(Self::LEN)
    }
}

/// An IPv6 header without extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub src: [u8; 16],
    pub dst: [u8; 16],
    pub next_header: u8,
    pub hop_limit: u8,
    pub traffic_class: u8,
    /// 20 bits.
    pub flow_label: u32,
    pub payload_len: u16,
}

impl Ipv6Repr {
    pub const LEN: usize = size_of::<Ipv6Hdr>();

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, NoRoom> {
        let mut h = place::<Ipv6Hdr>(buf)?;
        h.version_class_flow
            .set((6 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0xf_ffff));
        h.payload_len.set(self.payload_len);
        h.next_header = self.next_header;
        h.hop_limit = self.hop_limit;
        h.src = self.src;
        h.dst = self.dst;
        Ok(Self::LEN)
    }
}

/// A UDP header; its checksum (over a pseudo-header) is the caller's, and
/// 0 (none, RFC 768) until it writes one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpRepr {
    pub sport: u16,
    pub dport: u16,
    /// Bytes after this header.
    pub payload_len: u16,
}

impl UdpRepr {
    pub const LEN: usize = size_of::<UdpHdr>();

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, NoRoom> {
        let mut h = place::<UdpHdr>(buf)?;
        h.src_port.set(self.sport);
        h.dst_port.set(self.dport);
        h.len.set(self.payload_len.saturating_add(Self::LEN as u16));
        h.checksum.set(0);
        Ok(Self::LEN)
    }
}

/// A TCP header without options; its checksum is the caller's (0 here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
}

impl TcpRepr {
    pub const LEN: usize = size_of::<TcpHdr>();

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, NoRoom> {
        let mut h = place::<TcpHdr>(buf)?;
        h.src_port.set(self.sport);
        h.dst_port.set(self.dport);
        h.seq.set(self.seq);
        h.ack.set(self.ack);
        h.offset_reserved = ((Self::LEN / 4) as u8) << 4;
        h.flags = self.flags;
        h.window.set(self.window);
        h.checksum.set(0);
        h.urgent.set(0);
        Ok(Self::LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::ipv4_l4_checksum;
    use crate::wire::{Frame, ETH_P_IPV4, IPPROTO_UDP};
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    #[test]
    fn emitted_headers_parse_back_with_valid_checksums() {
        let mut f = [0u8; 64];
        let payload = 64 - 14 - 20 - 8;
        let mut at = EthernetRepr {
            dst: [2, 0, 0, 0, 0, 1],
            src: [2, 0, 0, 0, 0, 2],
            ethertype: ETH_P_IPV4,
        }
        .emit(&mut f)
        .unwrap();
        at += Ipv4Repr {
            src: 0x0a00_0001,
            dst: 0x0a00_0002,
            proto: IPPROTO_UDP,
            ttl: 64,
            tos: 0,
            ident: 7,
            dont_fragment: true,
            payload_len: (8 + payload) as u16,
        }
        .emit(&mut f[at..])
        .unwrap();
        let l4 = at;
        UdpRepr {
            sport: 1234,
            dport: 53,
            payload_len: payload as u16,
        }
        .emit(&mut f[l4..])
        .unwrap();
        let c = ipv4_l4_checksum([10, 0, 0, 1], [10, 0, 0, 2], IPPROTO_UDP, &f[l4..]);
        f[l4 + 6..l4 + 8].copy_from_slice(&c.to_be_bytes());
        let frame = Frame::parse(&f).unwrap();
        assert_eq!((frame.sport, frame.dport, frame.end), (1234, 53, 64));
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(NetSlice::Ipv4(ip)) = p.net else {
            panic!("not IPv4")
        };
        assert_eq!(
            ip.header().to_header().calc_header_checksum(),
            ip.header().header_checksum()
        );
        assert!(ip.header().dont_fragment());
        let Some(TransportSlice::Udp(udp)) = p.transport else {
            panic!("not UDP")
        };
        let h = udp.to_header();
        assert_eq!(
            h.calc_checksum_ipv4(&ip.header().to_header(), udp.payload())
                .unwrap(),
            h.checksum
        );
    }

    #[test]
    fn ipv6_and_tcp_headers_parse_back() {
        let mut f = [0u8; 14 + 40 + 20];
        let at = EthernetRepr {
            dst: [2; 6],
            src: [4; 6],
            ethertype: crate::wire::ETH_P_IPV6,
        }
        .emit(&mut f)
        .unwrap();
        let src = "2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets();
        let dst = "2001:db8::2"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets();
        Ipv6Repr {
            src,
            dst,
            next_header: 6,
            hop_limit: 64,
            traffic_class: 0x20,
            flow_label: 0x12345,
            payload_len: 20,
        }
        .emit(&mut f[at..])
        .unwrap();
        TcpRepr {
            sport: 40000,
            dport: 443,
            seq: 1,
            ack: 0,
            flags: 0x02,
            window: 65535,
        }
        .emit(&mut f[at + 40..])
        .unwrap();
        let p = SlicedPacket::from_ethernet(&f).unwrap();
        let Some(NetSlice::Ipv6(ip)) = p.net else {
            panic!("not IPv6")
        };
        assert_eq!(ip.header().source(), src);
        assert_eq!(ip.header().flow_label().value(), 0x12345);
        assert_eq!(ip.header().traffic_class(), 0x20);
        let Some(TransportSlice::Tcp(tcp)) = p.transport else {
            panic!("not TCP")
        };
        assert!(tcp.syn() && !tcp.ack());
        assert_eq!((tcp.source_port(), tcp.destination_port()), (40000, 443));
    }

    #[test]
    fn a_short_buffer_is_an_error() {
        let mut b = [0u8; 19];
        let r = Ipv4Repr {
            src: 1,
            dst: 2,
            proto: 6,
            ttl: 1,
            tos: 0,
            ident: 0,
            dont_fragment: false,
            payload_len: 0,
        };
        assert_eq!(r.emit(&mut b), Err(NoRoom { need: 20, have: 19 }));
    }
}
