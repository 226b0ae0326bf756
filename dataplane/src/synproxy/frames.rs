//! The segments the SYN proxy writes, each in the buffer of the segment it
//! answers or replaces: the SYN-ACK to a client (in its SYN's buffer), the
//! SYN to the real server (in the client's ACK's), the ACK completing the
//! server's handshake (in the server's SYN-ACK's, carrying the client's
//! first data when it came early). All get fresh IPv4 and TCP headers with
//! full checksums.

use crate::wire::checksum::ipv4_l4_checksum;
use crate::wire::emit::{Ipv4Repr, TcpRepr};
use crate::wire::{EthHdr, Frame, Ipv4Hdr, TcpHdr, IPPROTO_TCP};
use zerocopy::{FromBytes, Ref};

const OPT_END: u8 = 0;
const OPT_NOP: u8 = 1;
const OPT_MSS: u8 = 2;

/// The MSS option of a SYN, if it has a well-formed one.
pub fn syn_mss(buf: &[u8], f: &Frame) -> Option<u16> {
    let (tcp, _) = TcpHdr::ref_from_prefix(buf.get(f.l4..)?).ok()?;
    let mut opts = buf.get(f.l4 + size_of::<TcpHdr>()..f.l4 + tcp.header_len())?;
    while let [kind, rest @ ..] = opts {
        match *kind {
            OPT_END => return None,
            OPT_NOP => opts = rest,
            _ => {
                let len = usize::from(*rest.first()?);
                if len < 2 || len > opts.len() {
                    return None;
                }
                if *kind == OPT_MSS && len == 4 {
                    return Some(u16::from_be_bytes([opts[2], opts[3]]));
                }
                opts = &opts[len..];
            }
        }
    }
    None
}

/// The TCP fields of a segment the proxy writes.
pub struct Segment<'a> {
    /// Host order.
    pub src: u32,
    pub dst: u32,
    pub ttl: u8,
    pub tcp: TcpRepr,
    /// An MSS option (SYN and SYN-ACK only).
    pub mss: Option<u16>,
    pub payload: &'a [u8],
}

/// Write `s` as the frame's IPv4 datagram (after its Ethernet header,
/// which is left as it is), dropping the old one's options and payload.
/// Returns the new frame length, or `None` when `room` is too small.
pub fn write(room: &mut [u8], f: &Frame, s: &Segment) -> Option<usize> {
    let opt_len = if s.mss.is_some() { 4 } else { 0 };
    let tcp_len = TcpRepr::LEN + opt_len;
    let end = f.l3 + Ipv4Repr::LEN + tcp_len + s.payload.len();
    if room.len() < end {
        return None;
    }
    let (tos, ident) = {
        let (ip, _) = Ipv4Hdr::ref_from_prefix(&room[f.l3..]).ok()?;
        (ip.tos, ip.id.get())
    };
    Ipv4Repr {
        src: s.src,
        dst: s.dst,
        proto: IPPROTO_TCP,
        ttl: s.ttl,
        tos,
        ident,
        dont_fragment: true,
        payload_len: (tcp_len + s.payload.len()) as u16,
    }
    .emit(&mut room[f.l3..])
    .ok()?;
    let l4 = f.l3 + Ipv4Repr::LEN;
    let seg = &mut room[l4..end];
    s.tcp.emit(seg).ok()?;
    if let Some(mss) = s.mss {
        let m = mss.to_be_bytes();
        seg[TcpRepr::LEN..tcp_len].copy_from_slice(&[OPT_MSS, 4, m[0], m[1]]);
        seg[12] = ((tcp_len / 4) as u8) << 4;
    }
    seg[tcp_len..].copy_from_slice(s.payload);
    let c = ipv4_l4_checksum(s.src.to_be_bytes(), s.dst.to_be_bytes(), IPPROTO_TCP, seg);
    seg[16..18].copy_from_slice(&c.to_be_bytes());
    Some(end)
}

/// Swap the Ethernet addresses: the frame goes back where it came from,
/// from `our_mac`.
pub fn reflect_macs(buf: &mut [u8], our_mac: [u8; 6]) {
    let (mut eth, _) = Ref::<_, EthHdr>::from_prefix(buf).expect("parsed frame");
    eth.dst = eth.src;
    eth.src = our_mac;
}

/// The TCP payload of a parsed frame.
pub fn payload<'a>(buf: &'a [u8], f: &Frame) -> &'a [u8] {
    let (tcp, _) = TcpHdr::ref_from_prefix(&buf[f.l4..]).expect("parsed frame");
    &buf[(f.l4 + tcp.header_len()).min(f.end)..f.end]
}

/// The fields a SYN proxy decision needs from a TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub seq: u32,
    pub ack: u32,
    pub window: u16,
    pub ttl: u8,
    /// Payload bytes.
    pub payload: usize,
}

pub fn seen(buf: &[u8], f: &Frame) -> Seen {
    let (ip, _) = Ipv4Hdr::ref_from_prefix(&buf[f.l3..]).expect("parsed frame");
    let (tcp, _) = TcpHdr::ref_from_prefix(&buf[f.l4..]).expect("parsed frame");
    Seen {
        seq: tcp.seq.get(),
        ack: tcp.ack.get(),
        window: tcp.window.get(),
        ttl: ip.ttl,
        payload: f.end.saturating_sub(f.l4 + tcp.header_len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};

    fn syn(options: &[etherparse::TcpOptionElement]) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 0, 1], [10, 0, 0, 100], 64)
            .tcp(40000, 80, 1000, 64240)
            .syn()
            .options(options)
            .unwrap()
            .write(&mut v, &[])
            .unwrap();
        v
    }

    #[test]
    fn the_mss_option_is_found_among_others() {
        use etherparse::TcpOptionElement::*;
        let b = syn(&[
            SelectiveAcknowledgementPermitted,
            Noop,
            WindowScale(7),
            MaximumSegmentSize(1400),
        ]);
        let f = Frame::parse(&b).unwrap();
        assert_eq!(syn_mss(&b, &f), Some(1400));
        let b = syn(&[Noop, WindowScale(7)]);
        assert_eq!(syn_mss(&b, &Frame::parse(&b).unwrap()), None);
    }

    #[test]
    fn a_written_segment_parses_back_with_valid_checksums() {
        use etherparse::TcpOptionElement::*;
        let mut b = syn(&[MaximumSegmentSize(1460), Noop, WindowScale(7), Noop, Noop]);
        b.extend_from_slice(&[0; 16]);
        let f = Frame::parse(&b).unwrap();
        let end = write(
            &mut b,
            &f,
            &Segment {
                src: 0x0a00_0064,
                dst: 0x0a00_0001,
                ttl: 64,
                tcp: TcpRepr {
                    sport: 80,
                    dport: 40000,
                    seq: 0xdead_beef,
                    ack: 1001,
                    flags: TcpHdr::SYN | TcpHdr::ACK,
                    window: 65535,
                },
                mss: Some(1440),
                payload: b"",
            },
        )
        .unwrap();
        assert_eq!(end, 14 + 20 + 24);
        let p = SlicedPacket::from_ethernet(&b[..end]).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
            panic!("not IPv4")
        };
        assert_eq!(ip.header().source(), [10, 0, 0, 100]);
        assert!(ip.header().to_header().calc_header_checksum() == ip.header().header_checksum());
        let Some(TransportSlice::Tcp(t)) = p.transport else {
            panic!("not TCP")
        };
        assert!(t.syn() && t.ack());
        assert_eq!(
            (t.sequence_number(), t.acknowledgment_number()),
            (0xdead_beef, 1001)
        );
        assert_eq!(t.options(), &[2, 4, 0x05, 0xa0]);
        assert_eq!(
            t.calc_checksum_ipv4(ip.header().source(), ip.header().destination())
                .unwrap(),
            t.checksum()
        );
        // Too little room: nothing written.
        let mut small = syn(&[]);
        assert_eq!(small.len(), 54);
        let f = Frame::parse(&small).unwrap();
        let s = Segment {
            src: 1,
            dst: 2,
            ttl: 64,
            tcp: TcpRepr {
                sport: 1,
                dport: 2,
                seq: 0,
                ack: 0,
                flags: TcpHdr::SYN,
                window: 0,
            },
            mss: Some(536),
            payload: b"",
        };
        assert_eq!(write(&mut small, &f, &s), None);
    }
}
