//! Header layouts as `zerocopy` structs in network byte order. They are only
//! ever read through `Ref`s that `Frame::parse` has length-checked.

use zerocopy::network_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct EthHdr {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub ethertype: U16,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct VlanHdr {
    pub tci: U16,
    pub ethertype: U16,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct Ipv4Hdr {
    pub version_ihl: u8,
    pub tos: u8,
    pub total_len: U16,
    pub id: U16,
    pub flags_frag: U16,
    pub ttl: u8,
    pub proto: u8,
    pub checksum: U16,
    pub src: U32,
    pub dst: U32,
}

impl Ipv4Hdr {
    pub const MORE_FRAGMENTS: u16 = 0x2000;
    pub const OFFSET_MASK: u16 = 0x1fff;

    pub fn version(&self) -> u8 {
        self.version_ihl >> 4
    }
    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        usize::from(self.version_ihl & 0x0f) * 4
    }
    pub fn is_fragment(&self) -> bool {
        self.flags_frag.get() & (Self::MORE_FRAGMENTS | Self::OFFSET_MASK) != 0
    }
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct TcpHdr {
    pub src_port: U16,
    pub dst_port: U16,
    pub seq: U32,
    pub ack: U32,
    pub offset_reserved: u8,
    pub flags: u8,
    pub window: U16,
    pub checksum: U16,
    pub urgent: U16,
}

impl TcpHdr {
    pub const FIN: u8 = xlb_model::tcp::flags::FIN;
    pub const SYN: u8 = xlb_model::tcp::flags::SYN;
    pub const RST: u8 = xlb_model::tcp::flags::RST;
    pub const ACK: u8 = xlb_model::tcp::flags::ACK;

    pub fn header_len(&self) -> usize {
        usize::from(self.offset_reserved >> 4) * 4
    }
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct UdpHdr {
    pub src_port: U16,
    pub dst_port: U16,
    pub len: U16,
    pub checksum: U16,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub struct Ipv6Hdr {
    /// Version (4 bits), traffic class (8), flow label (20).
    pub version_class_flow: U32,
    pub payload_len: U16,
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
}
