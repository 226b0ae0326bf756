//! The kernel's neighbour tables (ARP and NDP) over rtnetlink. The dataplane
//! takes real servers' MACs from here and never resolves addresses itself;
//! `poke` asks the kernel to resolve (or re-confirm) an address with
//! NTF_USE, as if it had a packet for it, so entries stay fresh although the
//! kernel forwards none of our traffic.

use super::rtnl;
use netlink_packet_core::{
    Emitable, NlasIterator, ParseableParametrized, NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP,
    NLM_F_REQUEST,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourHeader, NeighbourMessage,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::Socket;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::time::Duration;

pub(super) const RTM_NEWNEIGH: u16 = libc::RTM_NEWNEIGH;

const NUD_REACHABLE: u16 = 0x02;
const NUD_STALE: u16 = 0x04;
const NUD_DELAY: u16 = 0x08;
const NUD_PROBE: u16 = 0x10;
const NUD_NOARP: u16 = 0x40;
const NUD_PERMANENT: u16 = 0x80;
/// States whose MAC may be used.
const NUD_USABLE: u16 =
    NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_NOARP | NUD_PERMANENT;

/// How long a request waits for the kernel's answer.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// One kernel neighbour entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Neighbour {
    pub mac: Option<[u8; 6]>,
    /// NUD_* state bits.
    pub state: u16,
}

impl Neighbour {
    /// The MAC, if the entry's state makes it usable.
    pub fn usable_mac(&self) -> Option<[u8; 6]> {
        self.mac.filter(|_| self.state & NUD_USABLE != 0)
    }
}

/// Whether the kernel should be asked to (re)resolve an address with this
/// entry (`None`: no entry). Static entries (PERMANENT, NOARP) are the
/// operator's and are never touched: NTF_USE would turn them into dynamic
/// ones. Entries being confirmed (REACHABLE, DELAY, PROBE) need nothing.
pub fn needs_poke(entry: Option<&Neighbour>) -> bool {
    match entry {
        None => true,
        Some(n) => {
            n.state & (NUD_PERMANENT | NUD_NOARP | NUD_REACHABLE | NUD_DELAY | NUD_PROBE) == 0
        }
    }
}

/// (ifindex, address) -> entry, for every IPv4 (ARP) and IPv6 (NDP)
/// neighbour entry.
pub type NeighbourTable = HashMap<(u32, IpAddr), Neighbour>;

/// The table key and entry an RTM_NEWNEIGH / RTM_DELNEIGH payload describes.
/// `None` for what is not an IPv4/IPv6 neighbour entry (bridge FDB entries
/// share the message types and multicast group, proxy entries are not in
/// the dump) or does not parse. Attributes that do not parse are skipped
/// one by one, so one odd attribute cannot hide a deletion.
pub(super) fn parse_entry(payload: &[u8]) -> Option<((u32, IpAddr), Neighbour)> {
    let header = NeighbourHeader::parse(payload).ok()?;
    if !matches!(header.family, AddressFamily::Inet | AddressFamily::Inet6)
        || header.flags.contains(NeighbourFlags::Proxy)
    {
        return None;
    }
    let (mut dst, mut mac) = (None, None);
    for nla in NlasIterator::new(payload.get(header.buffer_len()..)?) {
        let Ok(nla) = nla else { break };
        match NeighbourAttribute::parse_with_param(&nla, header.family) {
            Ok(NeighbourAttribute::Destination(NeighbourAddress::Inet(a))) => {
                dst = Some(IpAddr::V4(a))
            }
            Ok(NeighbourAttribute::Destination(NeighbourAddress::Inet6(a))) => {
                dst = Some(IpAddr::V6(a))
            }
            Ok(NeighbourAttribute::LinkLayerAddress(l)) => mac = <[u8; 6]>::try_from(&l[..]).ok(),
            _ => {}
        }
    }
    let entry = Neighbour {
        mac,
        state: header.state.into(),
    };
    Some(((header.ifindex, dst?), entry))
}

/// RTM_GETNEIGH for a dump of every family's table.
pub(super) fn dump_request() -> RouteNetlinkMessage {
    // AF_UNSPEC: the kernel walks the ARP and the NDP table in one dump.
    RouteNetlinkMessage::GetNeighbour(NeighbourMessage::default())
}

/// RTM_NEWNEIGH with NTF_USE for `addr` on `ifindex`.
fn poke_request(ifindex: u32, addr: IpAddr) -> RouteNetlinkMessage {
    let mut msg = NeighbourMessage::default();
    msg.header.family = match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    msg.header.ifindex = ifindex;
    msg.header.flags = NeighbourFlags::Use;
    msg.attributes
        .push(NeighbourAttribute::Destination(addr.into()));
    RouteNetlinkMessage::NewNeighbour(msg)
}

/// A blocking rtnetlink request socket: one request at a time, each waiting
/// at most 2 s for the kernel's answer.
pub struct Netlink {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Netlink {
    /// A socket of the calling thread's network namespace.
    pub fn open() -> io::Result<Netlink> {
        let (socket, _port) = rtnl::open(REPLY_TIMEOUT)?;
        Ok(Netlink {
            socket,
            seq: 0,
            buf: vec![0; rtnl::RECV_BUF],
        })
    }

    /// Send `msg` and read the replies to it until the kernel's DONE (a dump)
    /// or NLMSG_ERROR (an acknowledgement, or the request's failure, returned
    /// with its errno untouched). `each` sees every other reply's type and
    /// payload.
    pub(super) fn request(
        &mut self,
        flags: u16,
        msg: RouteNetlinkMessage,
        mut each: impl FnMut(u16, &[u8]),
    ) -> io::Result<()> {
        // Replies to an earlier request that timed out carry its number and
        // are skipped; 0 is what notifications carry.
        self.seq = self.seq.wrapping_add(1).max(1);
        let seq = self.seq;
        rtnl::send(&self.socket, seq, flags | NLM_F_REQUEST, msg)?;
        loop {
            let n = match self.socket.recv(&mut &mut self.buf[..], 0) {
                Ok(n) => n.min(self.buf.len()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if rtnl::timed_out(&e) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no answer from rtnetlink within {REPLY_TIMEOUT:?}"),
                    ))
                }
                Err(e) => return Err(rtnl::context("receive from rtnetlink")(e)),
            };
            for m in rtnl::messages(&self.buf[..n]) {
                if m.seq != seq {
                    continue;
                }
                match m.outcome() {
                    Some(r) => return r,
                    None => each(m.kind, m.payload),
                }
            }
        }
    }

    /// Send a request and wait for its acknowledgement.
    pub(super) fn request_acked(&mut self, flags: u16, msg: RouteNetlinkMessage) -> io::Result<()> {
        self.request(flags | NLM_F_ACK, msg, |_, _| {})
    }

    /// Every IPv4 and IPv6 neighbour entry of this network namespace.
    pub fn neighbours(&mut self) -> io::Result<NeighbourTable> {
        let mut table = NeighbourTable::new();
        self.request(NLM_F_DUMP, dump_request(), |kind, payload| {
            if kind == RTM_NEWNEIGH {
                table.extend(parse_entry(payload));
            }
        })
        .map_err(rtnl::context("dump the neighbour table"))?;
        Ok(table)
    }

    /// Ask the kernel to resolve `addr` on `ifindex` (creating the entry if
    /// needed), exactly as if it had a packet to send there.
    pub fn poke(&mut self, ifindex: u32, addr: IpAddr) -> io::Result<()> {
        self.request_acked(NLM_F_CREATE, poke_request(ifindex, addr))
            .map_err(rtnl::context(format_args!(
                "resolve {addr} on interface {ifindex}"
            )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::NetlinkMessage;

    #[test]
    fn dump_of_this_namespace_succeeds() {
        // Whatever the table holds, the dump must parse and end with DONE.
        let mut nl = Netlink::open().unwrap();
        nl.neighbours().unwrap();
    }

    #[test]
    fn static_and_confirmed_entries_are_never_poked() {
        let n = |state| {
            Some(Neighbour {
                mac: Some([2, 0, 0, 0, 0, 1]),
                state,
            })
        };
        assert!(!needs_poke(n(NUD_PERMANENT).as_ref()));
        assert!(!needs_poke(n(NUD_NOARP).as_ref()));
        assert!(!needs_poke(n(NUD_REACHABLE).as_ref()));
        assert!(needs_poke(n(NUD_STALE).as_ref()));
        assert!(needs_poke(n(0x20).as_ref()), "FAILED is retried");
        assert!(needs_poke(None));
        assert_eq!(n(0x20).unwrap().usable_mac(), None);
        assert_eq!(n(NUD_STALE).unwrap().usable_mac(), Some([2, 0, 0, 0, 0, 1]));
    }

    /// The payload (ndmsg and attributes) of a framed message.
    fn payload(msg: RouteNetlinkMessage) -> Vec<u8> {
        let buf = rtnl::encode(1, 0, msg);
        let payload = rtnl::messages(&buf).next().unwrap().payload.to_vec();
        payload
    }

    #[test]
    fn a_poke_is_a_use_request_of_the_address_family() {
        let buf = rtnl::encode(
            9,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
            poke_request(3, "2001:db8::7".parse().unwrap()),
        );
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf).unwrap();
        assert_eq!(msg.header.message_type, RTM_NEWNEIGH);
        assert_eq!(msg.header.flags, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE);
        let netlink_packet_core::NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(n)) =
            msg.payload
        else {
            panic!("not RTM_NEWNEIGH: {msg:?}");
        };
        assert_eq!(n.header.family, AddressFamily::Inet6);
        assert_eq!(n.header.ifindex, 3);
        assert_eq!(n.header.flags, NeighbourFlags::Use);
        assert_eq!(
            n.attributes,
            vec![NeighbourAttribute::Destination(NeighbourAddress::Inet6(
                "2001:db8::7".parse().unwrap()
            ))]
        );
    }

    #[test]
    fn entries_of_both_families_parse_and_others_are_skipped() {
        let entry = |family, ifindex, dst: Option<IpAddr>, mac: &[u8], flags| {
            let mut m = NeighbourMessage::default();
            m.header.family = family;
            m.header.ifindex = ifindex;
            m.header.state = NUD_STALE.into();
            m.header.flags = flags;
            m.attributes
                .extend(dst.map(|d| NeighbourAttribute::Destination(d.into())));
            m.attributes
                .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
            payload(RouteNetlinkMessage::NewNeighbour(m))
        };
        let mac = [2, 0, 0, 0, 0, 5];
        let v4: IpAddr = "192.0.2.5".parse().unwrap();
        let v6: IpAddr = "2001:db8::5".parse().unwrap();
        let none = NeighbourFlags::empty();
        let want = |k, m| {
            Some((
                k,
                Neighbour {
                    mac: m,
                    state: NUD_STALE,
                },
            ))
        };
        assert_eq!(
            parse_entry(&entry(AddressFamily::Inet, 4, Some(v4), &mac, none)),
            want((4, v4), Some(mac))
        );
        assert_eq!(
            parse_entry(&entry(AddressFamily::Inet6, 4, Some(v6), &mac, none)),
            want((4, v6), Some(mac))
        );
        // A link-layer address that is not Ethernet's is no MAC.
        assert_eq!(
            parse_entry(&entry(
                AddressFamily::Inet,
                4,
                Some(v4),
                &[1, 2, 3, 4],
                none
            )),
            want((4, v4), None)
        );
        // Bridge FDB entries, proxy entries, entries without a destination.
        assert_eq!(
            parse_entry(&entry(AddressFamily::Bridge, 4, None, &mac, none)),
            None
        );
        let proxy = NeighbourFlags::Proxy;
        assert_eq!(
            parse_entry(&entry(AddressFamily::Inet, 4, Some(v4), &mac, proxy)),
            None
        );
        assert_eq!(
            parse_entry(&entry(AddressFamily::Inet, 4, None, &mac, none)),
            None
        );
        // Malformed: too short for the header, a garbled attribute list.
        assert_eq!(parse_entry(&[2, 0, 0]), None);
        let mut bad = entry(AddressFamily::Inet, 4, Some(v4), &mac, none);
        bad.extend_from_slice(&[0xff, 0xff, 1, 0]);
        assert_eq!(parse_entry(&bad), want((4, v4), Some(mac)));
        let mut wrong_len = entry(AddressFamily::Inet6, 4, None, &mac, none);
        // NDA_DST of IPv4 size in an IPv6 entry: skipped, so no destination.
        wrong_len.extend_from_slice(&[8, 0, 1, 0, 192, 0, 2, 5]);
        assert_eq!(parse_entry(&wrong_len), None);
    }
}
