//! Interface facts from getifaddrs(3): index, MAC and IPv4 addresses.

use std::ffi::CStr;
use std::io;
use std::net::Ipv4Addr;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Interface {
    pub name: String,
    pub ifindex: u32,
    pub mac: [u8; 6],
    /// (address, prefix length)
    pub ipv4: Vec<(Ipv4Addr, u8)>,
}

impl Interface {
    /// Whether `addr` is on one of this interface's directly connected subnets.
    pub fn on_link(&self, addr: Ipv4Addr) -> bool {
        self.ipv4.iter().any(|&(a, len)| {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(addr) & mask && len < 32
        })
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
            _ => {}
        }
    }
    // SAFETY: head came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    Ok(out)
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
    }

    #[test]
    fn on_link_uses_the_prefix() {
        let i = Interface {
            ipv4: vec![("10.1.2.1".parse().unwrap(), 24)],
            ..Default::default()
        };
        assert!(i.on_link("10.1.2.200".parse().unwrap()));
        assert!(!i.on_link("10.1.3.1".parse().unwrap()));
    }
}
