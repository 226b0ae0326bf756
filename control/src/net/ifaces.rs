//! Interface facts from getifaddrs(3): index, MAC, link state, addresses.

use std::ffi::CStr;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interface {
    pub name: String,
    pub ifindex: u32,
    pub mac: [u8; 6],
    /// (address, prefix length)
    pub ipv4: Vec<(Ipv4Addr, u8)>,
    /// (address, prefix length)
    pub ipv6: Vec<(Ipv6Addr, u8)>,
    /// IFF_* flags.
    pub flags: u32,
    /// Largest IP datagram it sends (0 if the kernel would not say).
    pub mtu: u32,
}

impl Interface {
    /// Administratively up and with carrier: what `track_interface` needs.
    pub fn is_running(&self) -> bool {
        let want = (libc::IFF_UP | libc::IFF_RUNNING) as u32;
        self.flags & want == want
    }

    /// The address this interface sends from on its own behalf: the first
    /// IPv4 address of a subnet (a /32 is a VIP or a service address
    /// added beside it).
    pub fn primary_ipv4(&self) -> Option<Ipv4Addr> {
        self.ipv4.iter().find(|(_, len)| *len < 32).map(|(a, _)| *a)
    }

    /// The first IPv6 link-local address (VRRPv3 over IPv6 sends from it).
    pub fn link_local(&self) -> Option<Ipv6Addr> {
        self.ipv6
            .iter()
            .map(|a| a.0)
            .find(|a| a.segments()[0] & 0xffc0 == 0xfe80)
    }

    /// Whether `addr` is on one of this interface's directly connected
    /// subnets (of its family; a host route, /32 or /128, is no subnet).
    pub fn on_link(&self, addr: impl Into<IpAddr>) -> bool {
        match addr.into() {
            IpAddr::V4(addr) => self.ipv4.iter().any(|&(a, len)| {
                let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
                u32::from(a) & mask == u32::from(addr) & mask && len < 32
            }),
            IpAddr::V6(addr) => self.ipv6.iter().any(|&(a, len)| {
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                u128::from(a) & mask == u128::from(addr) & mask && len < 128
            }),
        }
    }
}

/// Every interface of this network namespace.
pub fn all() -> io::Result<Vec<Interface>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we free below with freeifaddrs.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut out: Vec<Interface> = Vec::new();
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned, still alive.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(ifa.ifa_name) }
            .to_string_lossy()
            .into_owned();
        let pos = match out.iter().position(|i| i.name == name) {
            Some(p) => p,
            None => {
                out.push(Interface {
                    name: name.clone(),
                    ..Default::default()
                });
                out.len() - 1
            }
        };
        let entry = &mut out[pos];
        entry.flags = ifa.ifa_flags;
        // SAFETY: ifa_addr is non-null and points at a sockaddr whose family
        // tells its real type.
        let family = i32::from(unsafe { (*ifa.ifa_addr).sa_family });
        match family {
            libc::AF_PACKET => {
                // SAFETY: family AF_PACKET means a sockaddr_ll.
                let ll = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_ll) };
                entry.ifindex = ll.sll_ifindex as u32;
                if ll.sll_halen == 6 {
                    entry.mac.copy_from_slice(&ll.sll_addr[..6]);
                }
            }
            libc::AF_INET => {
                // SAFETY: family AF_INET means a sockaddr_in; the netmask of an
                // AF_INET address is a sockaddr_in too.
                let (a, m) = unsafe {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    let m = ifa.ifa_netmask as *const libc::sockaddr_in;
                    (
                        a.sin_addr.s_addr,
                        if m.is_null() {
                            u32::MAX
                        } else {
                            (*m).sin_addr.s_addr
                        },
                    )
                };
                let prefix = u32::from_be(m).leading_ones() as u8;
                entry.ipv4.push((Ipv4Addr::from(u32::from_be(a)), prefix));
            }
            libc::AF_INET6 => {
                // SAFETY: family AF_INET6 means a sockaddr_in6, and so is its
                // netmask.
                let (a, m) = unsafe {
                    let a = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    let m = ifa.ifa_netmask as *const libc::sockaddr_in6;
                    (
                        a.sin6_addr.s6_addr,
                        if m.is_null() {
                            [0xff; 16]
                        } else {
                            (*m).sin6_addr.s6_addr
                        },
                    )
                };
                let prefix = u128::from_be_bytes(m).leading_ones() as u8;
                entry.ipv6.push((Ipv6Addr::from(a), prefix));
            }
            _ => {}
        }
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    for i in &mut out {
        i.mtu = mtu_of(&i.name).unwrap_or(0);
    }
    Ok(out)
}

/// The interface's MTU (SIOCGIFMTU).
fn mtu_of(name: &str) -> Option<u32> {
    if name.len() >= libc::IFNAMSIZ {
        return None;
    }
    // SAFETY: a plain datagram socket, closed below; it only carries the
    // ioctl.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: ifreq is plain data, all-zero is valid; the name is shorter
    // than IFNAMSIZ so it stays NUL-terminated; SIOCGIFMTU writes
    // ifru_mtu of the ifreq it is given and nothing else.
    let mtu = unsafe {
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *d = s as libc::c_char;
        }
        let r = libc::ioctl(fd, libc::SIOCGIFMTU, &mut req);
        libc::close(fd);
        (r == 0).then_some(req.ifr_ifru.ifru_mtu)
    };
    mtu.and_then(|m| u32::try_from(m).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_listed_with_its_address() {
        let all = all().unwrap();
        let lo = all.iter().find(|i| i.name == "lo").expect("lo exists");
        assert!(lo.ifindex > 0);
        assert!(lo.ipv4.contains(&(Ipv4Addr::LOCALHOST, 8)), "{lo:?}");
        assert!(lo.mtu >= 1280, "the kernel tells lo's MTU: {lo:?}");
        assert_eq!(lo.primary_ipv4(), Some(Ipv4Addr::LOCALHOST));
        assert!(lo.is_running() || lo.flags & libc::IFF_UP as u32 == 0);
    }

    #[test]
    fn on_link_uses_the_prefix() {
        let i = Interface {
            ipv4: vec![("10.1.2.1".parse().unwrap(), 24)],
            ..Default::default()
        };
        assert!(i.on_link("10.1.2.200".parse::<Ipv4Addr>().unwrap()));
        assert!(!i.on_link("10.1.3.1".parse::<Ipv4Addr>().unwrap()));
        let six = Interface {
            ipv6: vec![("2001:db8:2::1".parse().unwrap(), 64)],
            ..Default::default()
        };
        assert!(six.on_link("2001:db8:2::11".parse::<Ipv6Addr>().unwrap()));
        assert!(!six.on_link("2001:db8:3::11".parse::<Ipv6Addr>().unwrap()));
        assert!(!six.on_link("10.1.2.200".parse::<Ipv4Addr>().unwrap()));
    }
}
