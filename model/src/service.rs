//! What a virtual service is made of, beside its real servers: how it
//! forwards, how it keeps clients on a server, and xlb's own firewall-mark
//! classification.

use crate::addr::Address;
use crate::proto::Protocol;
use std::fmt;

/// Highest number of real servers / virtual services a director holds;
/// their ids index fixed counter arrays so the hot path never allocates.
pub const MAX_REALS: usize = 16384;
pub const MAX_SERVICES: usize = 4096;

/// How a packet reaches its real server (LVS's packet-forwarding methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Forwarding {
    /// Masquerading: destination (and on the way back, source) rewritten.
    Nat,
    /// Direct routing: only the destination MAC changes; the real server
    /// holds the VIP and answers the client itself.
    Dr,
    /// IP-in-IP tunnelling: the packet, unchanged, inside an outer IPv4
    /// header to the real server, which may sit on another network,
    /// holds the VIP and answers the client itself.
    Tun,
}

impl Forwarding {
    /// As ipvsadm lists it.
    pub fn label(self) -> &'static str {
        match self {
            Forwarding::Nat => "Masq",
            Forwarding::Dr => "Route",
            Forwarding::Tun => "Tunnel",
        }
    }

    /// As written in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            Forwarding::Nat => "nat",
            Forwarding::Dr => "dr",
            Forwarding::Tun => "tun",
        }
    }

    /// As documents write it: NAT, DR, TUN.
    pub fn label_upper(self) -> &'static str {
        match self {
            Forwarding::Nat => "NAT",
            Forwarding::Dr => "DR",
            Forwarding::Tun => "TUN",
        }
    }

    /// The real server answers the client directly (DR, TUN): the
    /// director sees one direction and cannot change the port.
    pub fn replies_bypass(self) -> bool {
        self != Forwarding::Nat
    }
}

impl fmt::Display for Forwarding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether a NAT TCP service answers SYNs itself with SYN cookies and
/// opens the connection to a real server only once the client's ACK proves
/// its address (docs/security.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SynProxy {
    Off,
    /// Only while the worker holds more half-open connections than the
    /// threshold, or has had to recycle one (a flood).
    #[default]
    Auto,
    On,
}

impl SynProxy {
    pub const NAMES: [&'static str; 3] = ["off", "auto", "on"];

    pub fn name(self) -> &'static str {
        match self {
            SynProxy::Off => "off",
            SynProxy::Auto => "auto",
            SynProxy::On => "on",
        }
    }

    pub fn parse(s: &str) -> Option<SynProxy> {
        match s {
            "off" => Some(SynProxy::Off),
            "auto" => Some(SynProxy::Auto),
            "on" => Some(SynProxy::On),
            _ => None,
        }
    }
}

/// IPVS persistence: a client (masked to `prefix` bits of its family)
/// returns to the same real server for `timeout` seconds after its last
/// connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Persistence {
    pub timeout: u32,
    pub prefix: u8,
}

/// Packets to one of `addrs` with `proto` and a port in `ports` (inclusive
/// ranges) get `mark`: xlb's own classification, since iptables marks never
/// see packets that bypass the kernel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkRule {
    pub mark: u32,
    pub addrs: Vec<Address>,
    pub proto: Protocol,
    pub ports: Vec<(u16, u16)>,
}

impl MarkRule {
    /// `proto` is the IP header's protocol number.
    #[inline]
    pub fn matches(&self, dst: Address, dport: u16, proto: u8) -> bool {
        self.proto.number() == proto
            && self.addrs.contains(&dst)
            && self
                .ports
                .iter()
                .any(|&(lo, hi)| (lo..=hi).contains(&dport))
    }
}
