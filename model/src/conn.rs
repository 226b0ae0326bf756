//! A connection as any director can install it: named by the service key,
//! the real server's address and port, and the client's tuple (never by
//! the ids or port numbers one process gave them), with its TCP state and
//! the idle time it has left. Connection sync ships these between
//! directors; a worker's inbox takes them from the control thread.

use crate::addr::Address;
use crate::keys::ServiceKey;
use crate::proto::Protocol;
use crate::service::Forwarding;
use crate::tcp::TcpState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnRecord {
    pub service: ServiceKey,
    pub proto: Protocol,
    pub client: Address,
    pub cport: u16,
    /// What the client connected to: the VIP and port (for a firewall-mark
    /// service, the address and port the rule matched).
    pub vaddr: Address,
    pub vport: u16,
    pub real: Address,
    pub real_port: u16,
    pub forwarding: Forwarding,
    /// TCP state (`TcpState::None` for UDP).
    pub state: TcpState,
    /// Seconds of idleness left before it expires.
    pub timeout: u32,
    /// It was scheduled through a persistence template.
    pub persistent: bool,
    /// The MAC the client's packets came from (its router, usually), when
    /// known: directors of one pair share the client-side segment.
    pub client_mac: Option<[u8; 6]>,
    /// The interface (this host's index) the client's frames arrive on:
    /// with `client_mac`, where the replies go before the client's next
    /// frame says so (a synced connection's server may speak first).
    pub client_ifindex: Option<u32>,
    /// Opened by the SYN proxy: what is added to the server's sequence
    /// numbers on their way to the client (and taken from the client's
    /// acknowledgements). On the wire: the sync record's sequence option,
    /// `out_seq` with the same delta before and after.
    pub seq_offset: Option<u32>,
}

/// The ports of an FTP helper's data connection (which names no service of
/// its own and belongs to the FTP service on its virtual address): the same
/// on both sides (the helper never changes them), 20 (active mode from the
/// server's port 20) or unprivileged (passive, or an active server that
/// connects from a high port). Nothing else on a virtual address may be
/// reached as an FTP data connection.
pub fn ftp_data_ports(vport: u16, real_port: u16) -> bool {
    vport == real_port && (vport == 20 || vport >= 1024)
}
