//! One connection (or persistence template) as a sync record carries it:
//! the kernel's terms, kept whole, so that what a kernel master sends
//! comes out of the decoder unchanged and what xlb sends is what a kernel
//! backup expects. Turning it into xlb's own terms is [`crate::map`]'s job.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use xlb_model::{Family, Protocol};

/// How the director forwards the connection's packets: the low three
/// bits of the record's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FwdMethod {
    /// NAT.
    Masq = 0,
    /// The real server is the director itself.
    LocalNode = 1,
    /// IP-in-IP (or GUE/GRE) tunnel.
    Tunnel = 2,
    /// Direct routing: only the MAC changes.
    DirectRoute = 3,
    /// Cache bypass (firewall-mark services without a real server).
    Bypass = 4,
}

impl FwdMethod {
    /// The bits of the flags that hold the method.
    pub const MASK: u32 = 0x7;

    /// 5 to 7 name no method.
    pub const fn from_bits(bits: u32) -> Option<FwdMethod> {
        match bits & Self::MASK {
            0 => Some(FwdMethod::Masq),
            1 => Some(FwdMethod::LocalNode),
            2 => Some(FwdMethod::Tunnel),
            3 => Some(FwdMethod::DirectRoute),
            4 => Some(FwdMethod::Bypass),
            _ => None,
        }
    }

    pub const fn bits(self) -> u32 {
        self as u32
    }
}

/// The flag bits of a record other than the forwarding method and the
/// template bit (those are [`SyncConn::forwarding`] and
/// [`SyncConn::template`]). Kept as sent, unknown bits included: the
/// kernel sends all 32 bits of its connection's flags and a receiver
/// keeps only [`ConnFlags::BACKUP_MASK`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ConnFlags(u32);

/// The template bit; [`SyncConn::template`] on this side.
pub(crate) const TEMPLATE_BIT: u32 = 0x1000;

impl ConnFlags {
    /// The entry was created by sync (set by a receiver, not meaningful on
    /// the wire).
    pub const SYNC: ConnFlags = ConnFlags(0x0020);
    /// Kernel-internal: hashed in its table. The kernel clears it before
    /// sending.
    pub const HASHED: ConnFlags = ConnFlags(0x0040);
    /// Replies do not cross the director (every method but NAT).
    pub const NOOUTPUT: ConnFlags = ConnFlags(0x0080);
    /// Not established: counted among the real server's inactive
    /// connections (UDP connections always are).
    pub const INACTIVE: ConnFlags = ConnFlags(0x0100);
    /// Sequence numbers of the outgoing direction are adjusted.
    pub const OUT_SEQ: ConnFlags = ConnFlags(0x0200);
    /// Sequence numbers of the incoming direction are adjusted.
    pub const IN_SEQ: ConnFlags = ConnFlags(0x0400);
    /// Both adjustments; a kernel master sends the sequence option exactly
    /// when one of these is set.
    pub const SEQ_MASK: ConnFlags = ConnFlags(0x0600);
    /// The client port is not known yet (FTP data connections).
    pub const NO_CPORT: ConnFlags = ConnFlags(0x0800);
    /// One-packet scheduling; a kernel master never syncs such entries.
    pub const ONE_PACKET: ConnFlags = ConnFlags(0x2000);
    /// Kernel-internal: the entry uses netfilter conntrack. Sent, ignored.
    pub const NFCT: ConnFlags = ConnFlags(1 << 16);

    /// What a kernel receiver keeps of the bits here (it also keeps the
    /// method and the template bit).
    pub const BACKUP_MASK: ConnFlags = ConnFlags(0x0080 | 0x0100 | 0x0600 | 0x0800);

    const NAMES: [(ConnFlags, &'static str); 9] = [
        (ConnFlags::SYNC, "SYNC"),
        (ConnFlags::HASHED, "HASHED"),
        (ConnFlags::NOOUTPUT, "NOOUTPUT"),
        (ConnFlags::INACTIVE, "INACTIVE"),
        (ConnFlags::OUT_SEQ, "OUT_SEQ"),
        (ConnFlags::IN_SEQ, "IN_SEQ"),
        (ConnFlags::NO_CPORT, "NO_CPORT"),
        (ConnFlags::ONE_PACKET, "ONE_PACKET"),
        (ConnFlags::NFCT, "NFCT"),
    ];

    pub const fn empty() -> ConnFlags {
        ConnFlags(0)
    }

    /// From the record's 32 bits: the method and template bits are left
    /// out, everything else is kept.
    pub const fn from_wire(bits: u32) -> ConnFlags {
        ConnFlags(bits & !(FwdMethod::MASK | TEMPLATE_BIT))
    }

    pub const fn bits(self) -> u32 {
        self.0
    }

    pub const fn contains(self, other: ConnFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub const fn intersects(self, other: ConnFlags) -> bool {
        self.0 & other.0 != 0
    }

    pub fn insert(&mut self, other: ConnFlags) {
        self.0 |= other.0;
    }

    pub fn remove(&mut self, other: ConnFlags) {
        self.0 &= !other.0;
    }

    /// What a kernel backup would keep.
    pub const fn backup(self) -> ConnFlags {
        ConnFlags(self.0 & Self::BACKUP_MASK.0)
    }
}

impl std::ops::BitOr for ConnFlags {
    type Output = ConnFlags;
    fn bitor(self, rhs: ConnFlags) -> ConnFlags {
        ConnFlags(self.0 | rhs.0)
    }
}

impl std::ops::BitAnd for ConnFlags {
    type Output = ConnFlags;
    fn bitand(self, rhs: ConnFlags) -> ConnFlags {
        ConnFlags(self.0 & rhs.0)
    }
}

/// `NOOUTPUT | INACTIVE`, unknown bits in hex.
impl fmt::Debug for ConnFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        let mut first = true;
        for (flag, name) in Self::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str(" | ")?;
                }
                f.write_str(name)?;
                rest &= !flag.0;
                first = false;
            }
        }
        if rest != 0 {
            if !first {
                f.write_str(" | ")?;
            }
            write!(f, "{rest:#x}")?;
        } else if first {
            f.write_str("(empty)")?;
        }
        Ok(())
    }
}

/// The three addresses of a record: one family for all three, as the
/// wire has one record type per family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Addrs {
    V4 {
        client: Ipv4Addr,
        vaddr: Ipv4Addr,
        daddr: Ipv4Addr,
    },
    V6 {
        client: Ipv6Addr,
        vaddr: Ipv6Addr,
        daddr: Ipv6Addr,
    },
}

impl Addrs {
    /// `None` when the three are not of one family. An IPv4-mapped IPv6
    /// address counts as IPv6 here: the wire would carry it so.
    pub fn new(client: IpAddr, vaddr: IpAddr, daddr: IpAddr) -> Option<Addrs> {
        match (client, vaddr, daddr) {
            (IpAddr::V4(client), IpAddr::V4(vaddr), IpAddr::V4(daddr)) => Some(Addrs::V4 {
                client,
                vaddr,
                daddr,
            }),
            (IpAddr::V6(client), IpAddr::V6(vaddr), IpAddr::V6(daddr)) => Some(Addrs::V6 {
                client,
                vaddr,
                daddr,
            }),
            _ => None,
        }
    }

    pub fn family(&self) -> Family {
        match self {
            Addrs::V4 { .. } => Family::V4,
            Addrs::V6 { .. } => Family::V6,
        }
    }

    pub fn client(&self) -> IpAddr {
        match *self {
            Addrs::V4 { client, .. } => client.into(),
            Addrs::V6 { client, .. } => client.into(),
        }
    }

    pub fn vaddr(&self) -> IpAddr {
        match *self {
            Addrs::V4 { vaddr, .. } => vaddr.into(),
            Addrs::V6 { vaddr, .. } => vaddr.into(),
        }
    }

    pub fn daddr(&self) -> IpAddr {
        match *self {
            Addrs::V4 { daddr, .. } => daddr.into(),
            Addrs::V6 { daddr, .. } => daddr.into(),
        }
    }
}

/// One direction's sequence-number adjustment (the kernel's `ip_vs_seq`),
/// left by an application helper (FTP) that resized a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqData {
    /// The sequence number from which `delta` applies.
    pub init_seq: u32,
    /// Added to sequence numbers after `init_seq` (two's complement).
    pub delta: u32,
    /// Added to those before it.
    pub previous_delta: u32,
}

/// The sequence option: the client-to-server direction first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqOptions {
    pub in_seq: SeqData,
    pub out_seq: SeqData,
}

/// A persistence engine's name (the kernel has one: `sip`) and its data
/// (for SIP, the Call-ID). Travel together or not at all: a kernel backup
/// drops a record with data and no name, and ignores a name without data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeData {
    /// 1 to 16 bytes, no terminating NUL.
    pub name: Vec<u8>,
    /// 1 to 255 bytes.
    pub data: Vec<u8>,
}

/// One record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SyncConn {
    /// The IP protocol number; 0 (IPPROTO_IP) in a firewall-mark
    /// service's template.
    pub protocol: u8,
    pub forwarding: FwdMethod,
    /// A persistence template rather than a connection.
    pub template: bool,
    pub flags: ConnFlags,
    /// A TCP state as [`xlb_model::tcp::TcpState`] numbers it (the numbers
    /// are IPVS's), 0 for UDP, [`state::TEMPLATE_NONE`] or
    /// [`state::TEMPLATE_ASSURED`] for a template.
    pub state: u16,
    pub addrs: Addrs,
    pub cport: u16,
    pub vport: u16,
    pub dport: u16,
    /// The packet's mark when the connection was scheduled (the service's
    /// mark for a firewall-mark service); 0 for none.
    pub fwmark: u32,
    /// Seconds. What a kernel master sends is the connection's timeout in
    /// its current state, not what is left of it; a kernel backup arms
    /// that much from reception, and reads 0 as "my own default".
    pub timeout: u32,
    pub seq: Option<SeqOptions>,
    pub pe: Option<PeData>,
}

/// State numbers that are not TCP's.
pub mod state {
    /// TCP states 0 to 10, NONE to SYNACK.
    pub const TCP_STATES: u16 = 11;
    /// UDP has one state.
    pub const UDP_NORMAL: u16 = 0;
    pub const UDP_STATES: u16 = 1;
    /// A template's state is a bit set: ASSURED once a connection it
    /// controls was answered.
    pub const TEMPLATE_NONE: u16 = 0;
    pub const TEMPLATE_ASSURED: u16 = 1;
}

impl SyncConn {
    /// A NAT connection of `protocol` between these endpoints, with no
    /// flags, state 0, no mark, timeout 0, no options; `None` when the
    /// three are not of one family.
    pub fn new(
        protocol: u8,
        client: SocketAddr,
        vaddr: SocketAddr,
        daddr: SocketAddr,
    ) -> Option<SyncConn> {
        Some(SyncConn {
            protocol,
            forwarding: FwdMethod::Masq,
            template: false,
            flags: ConnFlags::empty(),
            state: 0,
            addrs: Addrs::new(client.ip(), vaddr.ip(), daddr.ip())?,
            cport: client.port(),
            vport: vaddr.port(),
            dport: daddr.port(),
            fwmark: 0,
            timeout: 0,
            seq: None,
            pe: None,
        })
    }

    /// TCP or UDP; `None` for any other protocol (and for a firewall-mark
    /// template's 0).
    pub fn proto(&self) -> Option<Protocol> {
        Protocol::from_number(self.protocol)
    }

    /// The 32 flag bits as the record carries them.
    pub fn wire_flags(&self) -> u32 {
        self.flags.bits() | self.forwarding.bits() | if self.template { TEMPLATE_BIT } else { 0 }
    }

    /// The record's length on the wire (its `ver_size` size), without the
    /// padding that precedes a following record.
    pub fn wire_len(&self) -> usize {
        crate::wire::conn::len(self)
    }
}
