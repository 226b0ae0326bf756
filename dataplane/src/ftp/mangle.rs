//! Editing a TCP segment in place: its payload (which moves the end of the
//! frame and needs full IP and TCP checksums), and its sequence and
//! acknowledgement numbers (incremental checksum updates).

use crate::wire::checksum::{checksum, ipv4_l4_checksum, update32};
use crate::wire::{Frame, Ipv4Hdr, TcpHdr};
use zerocopy::{FromBytes, Ref};

/// Offset of the TCP payload in the frame.
pub fn payload_start(buf: &[u8], f: &Frame) -> Option<usize> {
    let (tcp, _) = TcpHdr::ref_from_prefix(buf.get(f.l4..)?).ok()?;
    let start = f.l4 + tcp.header_len();
    (start <= f.end).then_some(start)
}

pub fn seq_ack(buf: &[u8], f: &Frame) -> (u32, u32) {
    let (tcp, _) = TcpHdr::ref_from_prefix(&buf[f.l4..]).expect("parsed frame");
    (tcp.seq.get(), tcp.ack.get())
}

/// Write new sequence and acknowledgement numbers.
pub fn set_seq_ack(buf: &mut [u8], f: &Frame, seq: u32, ack: u32) {
    let (mut tcp, _) = Ref::<_, TcpHdr>::from_prefix(&mut buf[f.l4..]).expect("parsed frame");
    let mut c = tcp.checksum.get();
    c = update32(c, tcp.seq.get(), seq);
    c = update32(c, tcp.ack.get(), ack);
    tcp.seq.set(seq);
    tcp.ack.set(ack);
    tcp.checksum.set(c);
}

/// Replace the bytes `at..at + old_len` of the frame (inside the TCP
/// payload) with `new`, in a buffer of capacity `room.len()`. Fixes the IP
/// total length and both checksums. Returns the new frame length, or `None`
/// when the frame cannot grow that much (nothing is changed then).
pub fn splice(room: &mut [u8], f: &Frame, at: usize, old_len: usize, new: &[u8]) -> Option<usize> {
    let old_end = f.end;
    let new_end = (old_end + new.len()).checked_sub(old_len)?;
    let ip_len = new_end - f.l3;
    if new_end > room.len() || ip_len > usize::from(u16::MAX) || at + old_len > old_end {
        return None;
    }
    room.copy_within(at + old_len..old_end, at + new.len());
    room[at..at + new.len()].copy_from_slice(new);
    {
        let (mut ip, _) = Ref::<_, Ipv4Hdr>::from_prefix(&mut room[f.l3..]).expect("parsed frame");
        ip.total_len.set(ip_len as u16);
        ip.checksum.set(0);
    }
    let ihl = f.l4 - f.l3;
    let c = checksum(&room[f.l3..f.l3 + ihl]);
    room[f.l3 + 10..f.l3 + 12].copy_from_slice(&c.to_be_bytes());
    tcp_checksum(&mut room[..new_end], f);
    Some(new_end)
}

/// The full TCP checksum of the segment that ends the buffer.
fn tcp_checksum(buf: &mut [u8], f: &Frame) {
    buf[f.l4 + 16..f.l4 + 18].copy_from_slice(&[0, 0]);
    // The addresses as they stand in the buffer (the NAT rewrite may have
    // changed them since the frame was parsed).
    let addr = |at: usize| -> [u8; 4] { buf[at..at + 4].try_into().expect("4 bytes") };
    let (src, dst) = (addr(f.l3 + 12), addr(f.l3 + 16));
    let c = ipv4_l4_checksum(src, dst, 6, &buf[f.l4..]);
    buf[f.l4 + 16..f.l4 + 18].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    fn segment(payload: &[u8]) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([1; 6], [2; 6])
            .ipv4([10, 200, 2, 11], [10, 200, 1, 2], 64)
            .tcp(21, 40000, 1000, 64000)
            .ack(5000);
        let mut v = Vec::new();
        b.write(&mut v, payload).unwrap();
        v
    }

    fn valid(frame: &[u8]) -> (Vec<u8>, u32, u32) {
        let p = etherparse::SlicedPacket::from_ethernet(frame).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = &p.net else {
            panic!()
        };
        let Some(etherparse::TransportSlice::Tcp(tcp)) = &p.transport else {
            panic!()
        };
        let want = tcp
            .to_header()
            .calc_checksum_ipv4(&ip.header().to_header(), tcp.payload())
            .unwrap();
        assert_eq!(tcp.checksum(), want, "TCP checksum");
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum(), "IP checksum");
        (
            tcp.payload().to_vec(),
            tcp.sequence_number(),
            tcp.acknowledgment_number(),
        )
    }

    #[test]
    fn a_payload_grows_and_shrinks_with_valid_checksums() {
        let line = b"227 Entering Passive Mode (10,200,2,11,39,16).\r\n";
        let mut room = segment(line);
        let n = room.len();
        room.resize(2048, 0xee);
        let f = Frame::parse(&room[..n]).unwrap();
        let at = payload_start(&room, &f).unwrap() + 27;
        let len = splice(&mut room, &f, at, 17, b"10,200,1,100,39,16").unwrap();
        assert_eq!(len, n + 1);
        let (payload, _, _) = valid(&room[..len]);
        assert_eq!(
            payload,
            b"227 Entering Passive Mode (10,200,1,100,39,16).\r\n"
        );

        let f = Frame::parse(&room[..len]).unwrap();
        let at = payload_start(&room, &f).unwrap() + 27;
        let len = splice(&mut room, &f, at, 18, b"1,2,3,4,0,21").unwrap();
        let (payload, _, _) = valid(&room[..len]);
        assert_eq!(payload, b"227 Entering Passive Mode (1,2,3,4,0,21).\r\n");
    }

    #[test]
    fn no_room_changes_nothing() {
        let mut frame = segment(b"PORT 1,2,3,4,5,6\r\n");
        let before = frame.clone();
        let f = Frame::parse(&frame).unwrap();
        let at = payload_start(&frame, &f).unwrap() + 5;
        assert_eq!(splice(&mut frame, &f, at, 11, b"10,200,100,200,5,6"), None);
        assert_eq!(frame, before);
    }

    #[test]
    fn seq_and_ack_change_with_a_valid_checksum() {
        let mut frame = segment(b"hello\r\n");
        let f = Frame::parse(&frame).unwrap();
        assert_eq!(seq_ack(&frame, &f), (1000, 5000));
        set_seq_ack(&mut frame, &f, 1003, 4999);
        let (_, seq, ack) = valid(&frame);
        assert_eq!((seq, ack), (1003, 4999));
    }
}
