//! Zero-copy views of the frames the dataplane forwards: Ethernet (+802.1Q),
//! IPv4, TCP and UDP headers, and RFC 1624 incremental checksums; the
//! headers it writes (`emit`), and the frame in its buffer with room on
//! both sides (`buf`).
//!
//! `Frame::parse` is the one place that checks lengths; everything after it
//! trusts the offsets it returns. IPv6 is recognised and reported as
//! unsupported (the steering program passes it to the kernel).

pub mod buf;
pub mod checksum;
pub mod emit;
pub mod frame;
pub mod headers;

pub use buf::FrameBuf;
pub use frame::{Frame, ParseError};
pub use headers::{EthHdr, Ipv4Hdr, Ipv6Hdr, TcpHdr, UdpHdr, VlanHdr};

pub const ETH_P_IPV4: u16 = 0x0800;
pub const ETH_P_IPV6: u16 = 0x86dd;
pub const ETH_P_8021Q: u16 = 0x8100;
pub use xlb_model::proto::{IPPROTO_TCP, IPPROTO_UDP};
