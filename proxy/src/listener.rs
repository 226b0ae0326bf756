//! Listening sockets. Bound with IP_FREEBIND, so a frontend may bind a VIP
//! that VRRP has not given this director yet (the document's non-local
//! bind note: HAProxy needs `net.ipv4.ip_nonlocal_bind=1` for that; a
//! socket option does it for xlb alone).

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;

/// HAProxy's default listen backlog (its `backlog` falls back to maxconn;
/// the kernel caps it at somaxconn).
const BACKLOG: i32 = 1024;

pub fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv4() {
        s.set_freebind_v4(true)?;
    } else {
        s.set_freebind_v6(true)?;
        // [::]:80 and 0.0.0.0:80 are two frontends' binds, as in HAProxy
        // with v6only.
        s.set_only_v6(true)?;
    }
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    Ok(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An address this host does not have binds all the same (a VIP VRRP
    /// will bring), and the socket accepts once the address exists; here
    /// loopback's 127.0.0.0/8 stands in for "exists".
    #[test]
    fn a_vip_not_held_yet_binds() {
        // TEST-NET-3: assigned to no interface of this machine.
        let l = bind("203.0.113.77:0".parse().unwrap()).expect("freebind");
        assert_eq!(
            l.local_addr().unwrap().ip(),
            "203.0.113.77".parse::<std::net::IpAddr>().unwrap()
        );
        let l = bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let port = l.local_addr().unwrap().port();
        let c = std::net::TcpStream::connect(("127.0.0.1", port));
        assert!(c.is_ok());
    }
}
