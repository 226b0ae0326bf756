//! Adding and removing interface addresses over rtnetlink (what
//! `ip addr add/del` does): VRRP's virtual addresses come and go with the
//! master role.

use super::neigh::{as_bytes, push_attr, Netlink};
use std::io;
use std::net::IpAddr;

const RTM_NEWADDR: u16 = 20;
const RTM_DELADDR: u16 = 21;
const NLM_F_CREATE: u16 = 0x400;
const NLM_F_EXCL: u16 = 0x200;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
/// IPv6: no duplicate address detection (the address moves between routers
/// on purpose and must work at once).
const IFA_F_NODAD: u8 = 0x02;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct IfAddrMsg {
    family: u8,
    prefixlen: u8,
    flags: u8,
    scope: u8,
    index: u32,
}

fn body(ifindex: u32, addr: IpAddr, prefix: u8) -> Vec<u8> {
    let (family, octets): (u8, Vec<u8>) = match addr {
        IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
        IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
    };
    let msg = IfAddrMsg {
        family,
        prefixlen: prefix,
        flags: if addr.is_ipv6() { IFA_F_NODAD } else { 0 },
        scope: 0,
        index: ifindex,
    };
    let mut b = as_bytes(&msg).to_vec();
    push_attr(&mut b, IFA_LOCAL, &octets);
    push_attr(&mut b, IFA_ADDRESS, &octets);
    b
}

impl Netlink {
    /// Add `addr/prefix` to an interface. Already present is not an error:
    /// after a restart the address may still be there.
    pub fn add_address(&mut self, ifindex: u32, addr: IpAddr, prefix: u8) -> io::Result<()> {
        match self.request_acked(
            RTM_NEWADDR,
            NLM_F_CREATE | NLM_F_EXCL,
            &body(ifindex, addr, prefix),
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            r => r,
        }
    }

    /// Remove `addr/prefix`; already absent is not an error.
    pub fn del_address(&mut self, ifindex: u32, addr: IpAddr, prefix: u8) -> io::Result<()> {
        match self.request_acked(RTM_DELADDR, 0, &body(ifindex, addr, prefix)) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRNOTAVAIL) => Ok(()),
            r => r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_carries_family_prefix_and_both_address_attributes() {
        let b = body(7, "192.0.2.10".parse().unwrap(), 32);
        assert_eq!(b[0], libc::AF_INET as u8);
        assert_eq!(b[1], 32);
        assert_eq!(u32::from_ne_bytes(b[4..8].try_into().unwrap()), 7);
        // Two attributes of 4 + 4 bytes each.
        assert_eq!(b.len(), 8 + 16);
        assert_eq!(&b[12..16], &[192, 0, 2, 10]);
        let b6 = body(1, "2001:db8::1".parse().unwrap(), 64);
        assert_eq!(b6[2], IFA_F_NODAD);
        assert_eq!(b6.len(), 8 + 2 * 20);
    }
}
