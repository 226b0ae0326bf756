//! Adding and removing interface addresses over rtnetlink (what
//! `ip addr add/del` does): VRRP's virtual addresses come and go with the
//! master role.

use super::neigh::Netlink;
use super::rtnl;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressHeaderFlags, AddressMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::io;
use std::net::IpAddr;

/// The ifaddrmsg and attributes for `addr/prefix` on `ifindex`: IFA_LOCAL
/// and IFA_ADDRESS both set to `addr` (as `ip addr` does for a non-peer
/// address). IPv6 addresses skip duplicate address detection: the address
/// moves between routers on purpose and must work at once.
fn message(ifindex: u32, addr: IpAddr, prefix: u8) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.family = match addr {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    msg.header.prefix_len = prefix;
    msg.header.index = ifindex;
    if addr.is_ipv6() {
        msg.header.flags = AddressHeaderFlags::Nodad;
    }
    msg.attributes.push(AddressAttribute::Local(addr));
    msg.attributes.push(AddressAttribute::Address(addr));
    msg
}

impl Netlink {
    /// Add `addr/prefix` to an interface. Already present is not an error:
    /// after a restart the address may still be there.
    pub fn add_address(&mut self, ifindex: u32, addr: IpAddr, prefix: u8) -> io::Result<()> {
        let msg = RouteNetlinkMessage::NewAddress(message(ifindex, addr, prefix));
        match self.request_acked(NLM_F_CREATE | NLM_F_EXCL, msg) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r.map_err(rtnl::context(format_args!(
                "add {addr}/{prefix} to interface {ifindex}"
            ))),
        }
    }

    /// Remove `addr/prefix`; already absent is not an error.
    pub fn del_address(&mut self, ifindex: u32, addr: IpAddr, prefix: u8) -> io::Result<()> {
        let msg = RouteNetlinkMessage::DelAddress(message(ifindex, addr, prefix));
        match self.request_acked(0, msg) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(()),
            r => r.map_err(rtnl::context(format_args!(
                "remove {addr}/{prefix} from interface {ifindex}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST};

    /// The request as sent, parsed back by the crate; and its raw payload.
    fn sent(addr: &str, prefix: u8) -> (AddressMessage, Vec<u8>) {
        let addr: IpAddr = addr.parse().unwrap();
        let flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
        let msg = RouteNetlinkMessage::NewAddress(message(7, addr, prefix));
        let buf = rtnl::encode(1, flags, msg);
        let raw = rtnl::messages(&buf).next().unwrap().payload.to_vec();
        let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf).unwrap();
        assert_eq!(parsed.header.message_type, libc::RTM_NEWADDR);
        assert_eq!(parsed.header.flags, flags);
        match parsed.payload {
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewAddress(m)) => (m, raw),
            other => panic!("not RTM_NEWADDR: {other:?}"),
        }
    }

    #[test]
    fn the_request_carries_family_prefix_and_both_address_attributes() {
        let (m, raw) = sent("192.0.2.10", 32);
        assert_eq!(m.header.family, AddressFamily::Inet);
        assert_eq!(m.header.prefix_len, 32);
        assert_eq!(m.header.index, 7);
        assert_eq!(m.header.flags, AddressHeaderFlags::empty());
        let a: IpAddr = "192.0.2.10".parse().unwrap();
        assert_eq!(
            m.attributes,
            vec![AddressAttribute::Local(a), AddressAttribute::Address(a)]
        );
        // ifaddrmsg, then IFA_LOCAL (2) and IFA_ADDRESS (1), 4 + 4 bytes each.
        assert_eq!(raw[..2], [libc::AF_INET as u8, 32]);
        assert_eq!(u32::from_ne_bytes(raw[4..8].try_into().unwrap()), 7);
        assert_eq!(raw.len(), 8 + 2 * 8);
        let mut local = Vec::new();
        local.extend_from_slice(&8u16.to_ne_bytes());
        local.extend_from_slice(&2u16.to_ne_bytes());
        local.extend_from_slice(&[192, 0, 2, 10]);
        assert_eq!(raw[8..16], local[..]);

        let (m6, raw6) = sent("2001:db8::1", 64);
        assert_eq!(m6.header.family, AddressFamily::Inet6);
        assert_eq!(m6.header.prefix_len, 64);
        assert_eq!(m6.header.flags, AddressHeaderFlags::Nodad);
        let a6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(
            m6.attributes,
            vec![AddressAttribute::Local(a6), AddressAttribute::Address(a6)]
        );
        // IFA_F_NODAD is 0x02.
        assert_eq!(raw6[..3], [libc::AF_INET6 as u8, 64, 0x02]);
        assert_eq!(raw6.len(), 8 + 2 * 20);
    }
}
