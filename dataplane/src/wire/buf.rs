//! A frame in the buffer it arrived in (a UMEM frame): room before it
//! (headroom: the kernel starts every received frame XDP_PACKET_HEADROOM,
//! 256 bytes, into its UMEM frame), the frame, room after it. A forwarder
//! prepends an outer header into the headroom (`push_front`), removes one
//! (`pull_front`), or grows the frame at its tail (the FTP helper).

/// `buf[start..start + len]` is the frame; the rest is room.
pub struct FrameBuf<'a> {
    buf: &'a mut [u8],
    start: usize,
    len: usize,
}

impl<'a> FrameBuf<'a> {
    /// `None` if the frame does not lie inside the buffer.
    pub fn new(buf: &'a mut [u8], start: usize, len: usize) -> Option<FrameBuf<'a>> {
        (start.checked_add(len)? <= buf.len()).then_some(FrameBuf { buf, start, len })
    }

    /// A frame filling the whole buffer, with no room either side.
    pub fn whole(buf: &'a mut [u8]) -> FrameBuf<'a> {
        let len = buf.len();
        FrameBuf { buf, start: 0, len }
    }

    /// Where the frame starts in the buffer.
    pub fn start(&self) -> usize {
        self.start
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn headroom(&self) -> usize {
        self.start
    }

    pub fn tailroom(&self) -> usize {
        self.buf.len() - self.start - self.len
    }

    pub fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }

    /// The frame and the room after it, and the frame's length (which a
    /// tail edit may change, up to the room).
    pub fn tail_parts(&mut self) -> (&mut [u8], &mut usize) {
        (&mut self.buf[self.start..], &mut self.len)
    }

    /// Grow the frame by `n` bytes at its head; the new first `n` bytes
    /// are returned for the caller to fill. `None` without the headroom.
    pub fn push_front(&mut self, n: usize) -> Option<&mut [u8]> {
        let start = self.start.checked_sub(n)?;
        self.start = start;
        self.len += n;
        Some(&mut self.buf[start..start + n])
    }

    /// Drop the first `n` bytes of the frame; `false` if it is shorter.
    pub fn pull_front(&mut self, n: usize) -> bool {
        if n > self.len {
            return false;
        }
        self.start += n;
        self.len -= n;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::emit::{EthernetRepr, Ipv4Repr};
    use crate::wire::ETH_P_IPV4;
    use etherparse::{NetSlice, PacketBuilder, SlicedPacket};

    #[test]
    fn an_outer_header_goes_into_the_headroom() {
        // A UDP frame 256 bytes into a 2 KB buffer, as AF_XDP hands it over.
        let mut inner = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 1, 2], [10, 0, 1, 100], 64)
            .udp(40000, 53)
            .write(&mut inner, b"query")
            .unwrap();
        let mut umem = vec![0u8; 2048];
        umem[256..256 + inner.len()].copy_from_slice(&inner);
        let mut f = FrameBuf::new(&mut umem, 256, inner.len()).unwrap();
        assert_eq!(
            (f.headroom(), f.tailroom()),
            (256, 2048 - 256 - inner.len())
        );
        // IP-in-IP: keep the Ethernet header in front, put an outer IPv4
        // header between it and the inner packet.
        let eth = EthernetRepr::LEN;
        let ip_len = (inner.len() - eth) as u16;
        f.push_front(Ipv4Repr::LEN).unwrap();
        let b = f.bytes_mut();
        b.copy_within(Ipv4Repr::LEN..Ipv4Repr::LEN + eth, 0);
        EthernetRepr {
            dst: [2, 0, 0, 0, 0, 9],
            src: [2, 0, 0, 0, 0, 1],
            ethertype: ETH_P_IPV4,
        }
        .emit(b)
        .unwrap();
        Ipv4Repr {
            src: 0x0a00_0201,
            dst: 0x0a00_020b,
            proto: 4,
            ttl: 64,
            tos: 0,
            ident: 0,
            dont_fragment: true,
            payload_len: ip_len,
        }
        .emit(&mut b[eth..])
        .unwrap();
        assert_eq!((f.start(), f.len()), (236, inner.len() + 20));
        let p = SlicedPacket::from_ethernet(f.bytes()).unwrap();
        let Some(NetSlice::Ipv4(outer)) = p.net else {
            panic!("not IPv4")
        };
        assert_eq!(outer.header().protocol(), etherparse::IpNumber::IPV4);
        assert_eq!(
            outer.payload().payload,
            &inner[eth..],
            "the inner packet, whole"
        );
        // And off again.
        assert!(f.pull_front(Ipv4Repr::LEN));
        assert!(!f.pull_front(10_000));
        assert!(FrameBuf::new(&mut [0u8; 4], 2, 3).is_none());
        let mut small = [0u8; 8];
        assert!(
            FrameBuf::whole(&mut small).push_front(1).is_none(),
            "no headroom"
        );
    }
}
