//! The sync socket: UDP on the sync interface only, joined to the group
//! (or unicast to the peers), multicast TTL as configured and loopback off
//! (a director never hears itself), one socket both ways on the sync port.

use crate::config::{SyncPeers, SyncSettings};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

pub struct SyncSocket {
    pub socket: std::net::UdpSocket,
    /// Where each datagram goes.
    pub targets: Vec<SocketAddr>,
    /// The largest payload a datagram carries.
    pub max_payload: usize,
}

fn ifindex(name: &str) -> std::io::Result<u32> {
    let c = std::ffi::CString::new(name).map_err(std::io::Error::other)?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(std::io::Error::other(format!(
            "no interface {name:?} (sync interface)"
        )));
    }
    Ok(i)
}

fn mtu(name: &str) -> u32 {
    std::fs::read_to_string(format!("/sys/class/net/{name}/mtu"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1500)
}

/// IP_MULTICAST_IF by interface index (ip_mreqn): the group's datagrams
/// leave on the sync interface whatever its addresses.
fn multicast_if_v4(sock: &Socket, index: u32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let mreq = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: index as libc::c_int,
    };
    // SAFETY: a valid socket descriptor, and a pointer to an ip_mreqn that
    // lives through the call with its exact size.
    let r = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&mreq as *const libc::ip_mreqn).cast(),
            std::mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub fn open(s: &SyncSettings) -> std::io::Result<SyncSocket> {
    let index = ifindex(&s.interface)?;
    let v6 = match &s.peers {
        SyncPeers::Group(g) => g.is_ipv6(),
        SyncPeers::Unicast(p) => p.first().is_some_and(|a| a.is_ipv6()),
    };
    let domain = if v6 { Domain::IPV6 } else { Domain::IPV4 };
    let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_reuse_address(true)?;
    // A whole-table transfer arrives as a burst.
    let _ = sock.set_recv_buffer_size(8 << 20);
    sock.bind_device(Some(s.interface.as_bytes()))?;
    let any: IpAddr = if v6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    if v6 {
        sock.set_only_v6(true)?;
    }
    sock.bind(&SockAddr::from(SocketAddr::new(any, s.port)))?;
    let targets = match &s.peers {
        SyncPeers::Group(IpAddr::V4(g)) => {
            sock.join_multicast_v4_n(g, &socket2::InterfaceIndexOrAddress::Index(index))?;
            multicast_if_v4(&sock, index)?;
            sock.set_multicast_ttl_v4(u32::from(s.ttl))?;
            sock.set_multicast_loop_v4(false)?;
            vec![SocketAddr::new(IpAddr::V4(*g), s.port)]
        }
        SyncPeers::Group(IpAddr::V6(g)) => {
            sock.join_multicast_v6(g, index)?;
            sock.set_multicast_if_v6(index)?;
            sock.set_multicast_hops_v6(u32::from(s.ttl))?;
            sock.set_multicast_loop_v6(false)?;
            vec![SocketAddr::new(IpAddr::V6(*g), s.port)]
        }
        SyncPeers::Unicast(peers) => {
            if v6 {
                sock.set_unicast_hops_v6(u32::from(s.ttl))?;
            } else {
                sock.set_ttl_v4(u32::from(s.ttl))?;
            }
            peers.iter().map(|p| SocketAddr::new(*p, s.port)).collect()
        }
    };
    // The receiver wakes this often to see whether it should stop.
    sock.set_read_timeout(Some(Duration::from_millis(100)))?;
    let family = if v6 {
        xlb_model::Family::V6
    } else {
        xlb_model::Family::V4
    };
    let max_payload = match s.maxlen {
        Some(m) => (m as usize).clamp(xlb_sync::MIN_PAYLOAD, xlb_sync::MAX_PAYLOAD),
        None => xlb_sync::payload_for_mtu(mtu(&s.interface), family),
    };
    Ok(SyncSocket {
        socket: sock.into(),
        targets,
        max_payload,
    })
}
