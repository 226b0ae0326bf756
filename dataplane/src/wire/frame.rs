//! One pass over a received frame: every length is checked here, and the
//! result carries the offsets and the flow fields the forwarder needs.

use super::headers::{EthHdr, Ipv4Hdr, Ipv6Hdr, TcpHdr, UdpHdr, VlanHdr};
use super::{ETH_P_8021Q, ETH_P_IPV4, ETH_P_IPV6, IPPROTO_TCP, IPPROTO_UDP};
use xlb_model::Address;
use zerocopy::Ref;

/// Why a frame could not be parsed; each maps to a counted drop reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("frame shorter than its Ethernet/VLAN header")]
    ShortEthernet,
    #[error("ethertype is neither IPv4 nor IPv6")]
    UnknownEthertype,
    #[error("IP header truncated, wrong version or IHL < 5")]
    BadIpHeader,
    #[error("IP length larger than the frame or smaller than the header (or an IPv6 jumbogram)")]
    BadIpLength,
    #[error("IP fragment: no port to classify")]
    Fragment,
    #[error("IPv6 extension headers truncated, more than 8, out of order, or a routing header not yet at its last segment")]
    BadExtensionHeader,
    #[error("protocol other than TCP or UDP")]
    UnsupportedProtocol,
    #[error("TCP/UDP header truncated or with an impossible length")]
    BadL4Header,
}

/// Offsets and flow fields of a parsed TCP/UDP frame, IPv4 or IPv6
/// (`v6`); the addresses are of the frame's family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// Offset of the IP header (14, or 18 with one 802.1Q tag).
    pub l3: usize,
    /// Offset of the TCP/UDP header (past any IPv6 extension headers).
    pub l4: usize,
    /// Offset just past the IP datagram (frames may carry Ethernet padding).
    pub end: usize,
    pub proto: u8,
    pub src: Address,
    pub dst: Address,
    pub sport: u16,
    pub dport: u16,
    /// TCP flags (0 for UDP).
    pub tcp_flags: u8,
    /// IPv4 options, or IPv6 extension headers, present.
    pub ip_options: bool,
    pub v6: bool,
}

/// IPv6 extension headers walked at most: RFC 8200 expects few (each at
/// most once, in order); a longer chain is an attack on parsers.
pub const MAX_EXTENSION_HEADERS: usize = 8;

const NEXT_HOP_BY_HOP: u8 = 0;
const NEXT_ROUTING: u8 = 43;
const NEXT_FRAGMENT: u8 = 44;
const NEXT_DEST_OPTIONS: u8 = 60;

impl Frame {
    pub fn parse(buf: &[u8]) -> Result<Frame, ParseError> {
        let (eth, rest) =
            Ref::<_, EthHdr>::from_prefix(buf).map_err(|_| ParseError::ShortEthernet)?;
        let mut l3 = core::mem::size_of::<EthHdr>();
        let mut ethertype = eth.ethertype.get();
        if ethertype == ETH_P_8021Q {
            let (vlan, _) =
                Ref::<_, VlanHdr>::from_prefix(rest).map_err(|_| ParseError::ShortEthernet)?;
            ethertype = vlan.ethertype.get();
            l3 += core::mem::size_of::<VlanHdr>();
        }
        match ethertype {
            ETH_P_IPV4 => {}
            ETH_P_IPV6 => return Frame::parse_v6(buf, l3),
            _ => return Err(ParseError::UnknownEthertype),
        }
        let ip_bytes = &buf[l3..];
        let (ip, _) =
            Ref::<_, Ipv4Hdr>::from_prefix(ip_bytes).map_err(|_| ParseError::BadIpHeader)?;
        let ihl = ip.header_len();
        if ip.version() != 4 || ihl < 20 || ihl > ip_bytes.len() {
            return Err(ParseError::BadIpHeader);
        }
        let total = usize::from(ip.total_len.get());
        if total < ihl || total > ip_bytes.len() {
            return Err(ParseError::BadIpLength);
        }
        if ip.is_fragment() {
            return Err(ParseError::Fragment);
        }
        let l4 = l3 + ihl;
        let end = l3 + total;
        let (sport, dport, tcp_flags) = ports(ip.proto, &buf[l4..end])?;
        Ok(Frame {
            l3,
            l4,
            end,
            proto: ip.proto,
            src: Address::v4(ip.src.get()),
            dst: Address::v4(ip.dst.get()),
            sport,
            dport,
            tcp_flags,
            ip_options: ihl > 20,
            v6: false,
        })
    }

    /// The IPv6 header, its extension headers (hop-by-hop first, at most
    /// `MAX_EXTENSION_HEADERS`), then TCP or UDP.
    fn parse_v6(buf: &[u8], l3: usize) -> Result<Frame, ParseError> {
        let ip_bytes = &buf[l3..];
        let (ip, _) =
            Ref::<_, Ipv6Hdr>::from_prefix(ip_bytes).map_err(|_| ParseError::BadIpHeader)?;
        if ip.version_class_flow.get() >> 28 != 6 {
            return Err(ParseError::BadIpHeader);
        }
        // Payload length 0 is a jumbogram's (RFC 2675), which no Ethernet
        // frame carries.
        let payload = usize::from(ip.payload_len.get());
        let fixed = core::mem::size_of::<Ipv6Hdr>();
        if payload == 0 || fixed + payload > ip_bytes.len() {
            return Err(ParseError::BadIpLength);
        }
        let end = l3 + fixed + payload;
        // IPv4-mapped addresses never appear on the wire (RFC 4291 2.5.5.2)
        // and would pass for IPv4 ones in `Address`.
        let (src, dst) = (
            Address::v6(u128::from_be_bytes(ip.src)),
            Address::v6(u128::from_be_bytes(ip.dst)),
        );
        if src.is_v4() || dst.is_v4() {
            return Err(ParseError::BadIpHeader);
        }
        let mut next = ip.next_header;
        let mut at = l3 + fixed;
        let mut walked = 0;
        while matches!(
            next,
            NEXT_HOP_BY_HOP | NEXT_ROUTING | NEXT_FRAGMENT | NEXT_DEST_OPTIONS
        ) {
            // Hop-by-hop only first (RFC 8200 4.3); the chain is bounded.
            if (next == NEXT_HOP_BY_HOP && walked > 0) || walked == MAX_EXTENSION_HEADERS {
                return Err(ParseError::BadExtensionHeader);
            }
            let ext = buf.get(at..end).filter(|e| e.len() >= 8);
            let ext = ext.ok_or(ParseError::BadExtensionHeader)?;
            let len = match next {
                NEXT_FRAGMENT => {
                    // Offset or more-fragments set: a piece without ports.
                    // An atomic fragment (both zero, RFC 6946) is whole.
                    if u16::from_be_bytes([ext[2], ext[3]]) & 0xfff9 != 0 {
                        return Err(ParseError::Fragment);
                    }
                    8
                }
                // The destination is not final while segments are left:
                // the packet is only passing through the VIP.
                NEXT_ROUTING if ext[3] != 0 => return Err(ParseError::BadExtensionHeader),
                _ => (usize::from(ext[1]) + 1) * 8,
            };
            if len > ext.len() {
                return Err(ParseError::BadExtensionHeader);
            }
            next = ext[0];
            at += len;
            walked += 1;
        }
        let (sport, dport, tcp_flags) = ports(next, &buf[at..end])?;
        Ok(Frame {
            l3,
            l4: at,
            end,
            proto: next,
            src,
            dst,
            sport,
            dport,
            tcp_flags,
            ip_options: walked > 0,
            v6: true,
        })
    }
}

/// Source port, destination port and TCP flags of a TCP or UDP header
/// that must fit in `l4_bytes` (the rest of the datagram).
#[inline(always)]
fn ports(proto: u8, l4_bytes: &[u8]) -> Result<(u16, u16, u8), ParseError> {
    Ok(match proto {
        IPPROTO_TCP => {
            let (tcp, _) =
                Ref::<_, TcpHdr>::from_prefix(l4_bytes).map_err(|_| ParseError::BadL4Header)?;
            let hl = tcp.header_len();
            if hl < 20 || hl > l4_bytes.len() {
                return Err(ParseError::BadL4Header);
            }
            (tcp.src_port.get(), tcp.dst_port.get(), tcp.flags)
        }
        IPPROTO_UDP => {
            let (udp, _) =
                Ref::<_, UdpHdr>::from_prefix(l4_bytes).map_err(|_| ParseError::BadL4Header)?;
            let ulen = usize::from(udp.len.get());
            if ulen < 8 || ulen > l4_bytes.len() {
                return Err(ParseError::BadL4Header);
            }
            (udp.src_port.get(), udp.dst_port.get(), 0)
        }
        _ => return Err(ParseError::UnsupportedProtocol),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn tcp_frame(vlan: bool) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1]);
        let b = if vlan {
            b.single_vlan(7.try_into().unwrap())
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(1234, 80, 1, 1000)
                .syn()
        } else {
            b.ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .tcp(1234, 80, 1, 1000)
                .syn()
        };
        let mut v = Vec::new();
        b.write(&mut v, b"hi").unwrap();
        v
    }

    #[test]
    fn parses_tcp_with_and_without_vlan() {
        let f = Frame::parse(&tcp_frame(false)).unwrap();
        assert_eq!((f.l3, f.l4, f.proto), (14, 34, IPPROTO_TCP));
        assert_eq!(
            (f.src, f.dst, f.sport, f.dport),
            (Address::v4(0x0a000001), Address::v4(0x0a000002), 1234, 80)
        );
        assert_eq!(f.tcp_flags & TcpHdr::SYN, TcpHdr::SYN);
        let f = Frame::parse(&tcp_frame(true)).unwrap();
        assert_eq!((f.l3, f.l4), (18, 38));
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = tcp_frame(true);
        for n in 0..full.len() {
            assert!(
                Frame::parse(&full[..n]).is_err(),
                "prefix of {n} bytes parsed"
            );
        }
    }

    #[test]
    fn rejects_lies_in_length_fields() {
        let mut f = tcp_frame(false);
        f[16] = 0xff; // total length far beyond the frame
        assert_eq!(Frame::parse(&f), Err(ParseError::BadIpLength));
        let mut f = tcp_frame(false);
        f[14] = 0x44; // IHL 4
        assert_eq!(Frame::parse(&f), Err(ParseError::BadIpHeader));
        let mut f = tcp_frame(false);
        f[14 + 20 + 12] = 0xf0; // TCP data offset 60 > segment
        assert_eq!(Frame::parse(&f), Err(ParseError::BadL4Header));
        let mut f = tcp_frame(false);
        f[20] = 0x20; // MF set
        assert_eq!(Frame::parse(&f), Err(ParseError::Fragment));
        let mut f = tcp_frame(false);
        f[12] = 0x86;
        f[13] = 0xdd;
        // An IPv4 datagram behind the IPv6 ethertype: version 4.
        assert_eq!(Frame::parse(&f), Err(ParseError::BadIpHeader));
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: xorshift bytes with an IPv4 ethertype.
        let mut x: u64 = 0x9e3779b97f4a7c15;
        for _ in 0..20_000 {
            let mut buf = [0u8; 96];
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            buf[12] = 0x08;
            buf[13] = 0x00;
            buf[14] = 0x40 | (buf[14] & 0x0f);
            let len = (x as usize) % buf.len();
            let _ = Frame::parse(&buf[..len]);
        }
    }
}
