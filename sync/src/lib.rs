//! Connection synchronisation between directors, on the wire: the LVS sync
//! protocol, version 1, byte for byte as the Linux kernel's IPVS sends and
//! accepts it (net/netfilter/ipvs/ip_vs_sync.c), so an xlb director can be
//! the master or the backup of a kernel one. docs/sync-wire.md is the
//! layout, field by field, and says where xlb is stricter than the kernel.
//!
//! No I/O here: the daemon owns the multicast socket and the timers. It
//! packs [`SyncConn`]s with an [`Encoder`] (or a [`MessageWriter`] over its
//! own buffer), sends each datagram as one UDP payload, and hands whatever
//! it receives to [`decode`]. [`map`] turns records into xlb's
//! [`ConnRecord`](xlb_model::ConnRecord) and back.
//!
//! ```
//! use std::net::SocketAddr;
//! use xlb_sync::{decode, Encoder, SyncConn};
//!
//! let c: SocketAddr = "198.51.100.7:40000".parse().unwrap();
//! let v: SocketAddr = "192.0.2.10:80".parse().unwrap();
//! let d: SocketAddr = "10.0.0.2:8080".parse().unwrap();
//! let mut conn = SyncConn::new(6, c, v, d).unwrap();
//! conn.timeout = 900;
//!
//! let mut enc = Encoder::new(7, xlb_sync::KERNEL_MASTER_PAYLOAD_V4).unwrap();
//! enc.push(&conn).unwrap();
//! let datagrams = enc.finish();
//! let msg = decode(&datagrams[0]).unwrap();
//! assert_eq!(msg.sync_id(), 7);
//! assert_eq!(msg.records().next(), Some(Ok(conn)));
//! ```

pub mod conn;
pub mod decode;
pub mod encode;
pub mod map;
pub mod wire;

pub use conn::{Addrs, ConnFlags, FwdMethod, PeData, SeqData, SeqOptions, SyncConn};
pub use decode::{decode, DecodeError, Message, RecordError, Records};
pub use encode::{
    encode, payload_for_mtu, EncodeError, Encoder, MessageWriter, KERNEL_MASTER_PAYLOAD_V4,
    KERNEL_MASTER_PAYLOAD_V6, MAX_PAYLOAD, MIN_PAYLOAD,
};

use std::net::Ipv4Addr;

/// The IPv4 group the kernel sends to when none is configured. There is
/// no default IPv6 group: one must be configured.
pub const DEFAULT_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);

/// The UDP port of the first sync thread; with `sync_ports` = n the kernel
/// uses n threads on ports `port .. port + n`, both ways.
pub const DEFAULT_PORT: u16 = 8848;

/// The multicast TTL the kernel uses when none is configured: the group
/// stays on the directors' own segment.
pub const DEFAULT_TTL: u8 = 1;
