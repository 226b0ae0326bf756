//! VRRP v2 (RFC 3768) and v3 (RFC 5798): advertisement encoding and
//! decoding with every field checked (`packet`), and the protocol's state
//! machine driven by explicit time (`machine`), so it can be tested with a
//! fake clock. The daemon wiring (sockets, VIPs, gratuitous ARP) builds on
//! these in the high-availability issue.

pub mod machine;
pub mod packet;

pub use machine::{Action, Config, Instance, State};
pub use packet::{Advertisement, DecodeError, Version};
