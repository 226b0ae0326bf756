//! Raw sockets for IP protocol 112 on one interface, one per family. The
//! kernel stack carries VRRP (the XDP program passes it), so these are
//! ordinary raw sockets: bound to the device, joined to the VRRP group,
//! multicast loop off, TTL / hop limit 255 as the RFCs require.
//!
//! IPv4 sends with IP_HDRINCL so the source is always the interface's
//! primary address, never a virtual one the kernel might prefer. IPv6 picks
//! the link-local source per message with IPV6_PKTINFO. Binding to an
//! address instead would also filter what the socket receives.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use xlb_dataplane::wire::emit::Ipv4Repr;
use xlb_vrrp::packet::IPPROTO_VRRP;

pub const GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
pub const GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// One received packet's facts the codec needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub ttl: u8,
    /// The VRRP message (after the IP header).
    pub msg: Vec<u8>,
}

pub struct VrrpSocket {
    fd: OwnedFd,
    ifindex: u32,
    v6: bool,
}

fn check(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn setopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: val points at a T of the size passed, as the option expects.
    check(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(|_| ())
}

impl VrrpSocket {
    pub fn open(ifname: &str, ifindex: u32, v6: bool) -> io::Result<VrrpSocket> {
        let family = if v6 { libc::AF_INET6 } else { libc::AF_INET };
        // SAFETY: plain socket(2); the result is checked.
        let raw = check(unsafe {
            libc::socket(
                family,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                libc::c_int::from(IPPROTO_VRRP),
            )
        })?;
        // SAFETY: raw is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let s = fd.as_raw_fd();
        let name = ifname.as_bytes();
        // SAFETY: the name buffer and its length.
        check(unsafe {
            libc::setsockopt(
                s,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                name.as_ptr().cast(),
                name.len() as libc::socklen_t,
            )
        })?;
        let one: libc::c_int = 1;
        let zero: libc::c_int = 0;
        let hops: libc::c_int = 255;
        if v6 {
            setopt(
                s,
                libc::IPPROTO_IPV6,
                libc::IPV6_MULTICAST_IF,
                &(ifindex as libc::c_int),
            )?;
            setopt(s, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &hops)?;
            setopt(s, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, &hops)?;
            setopt(s, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, &zero)?;
            setopt(s, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &one)?;
            setopt(s, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, &one)?;
            let mreq = libc::ipv6_mreq {
                ipv6mr_multiaddr: libc::in6_addr {
                    s6_addr: GROUP_V6.octets(),
                },
                ipv6mr_interface: ifindex,
            };
            setopt(s, libc::IPPROTO_IPV6, libc::IPV6_ADD_MEMBERSHIP, &mreq)?;
        } else {
            setopt(s, libc::IPPROTO_IP, libc::IP_HDRINCL, &one)?;
            setopt(s, libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, &zero)?;
            let mreq = libc::ip_mreqn {
                imr_multiaddr: libc::in_addr {
                    s_addr: u32::from(GROUP_V4).to_be(),
                },
                imr_address: libc::in_addr { s_addr: 0 },
                imr_ifindex: ifindex as libc::c_int,
            };
            setopt(s, libc::IPPROTO_IP, libc::IP_MULTICAST_IF, &mreq)?;
            setopt(s, libc::IPPROTO_IP, libc::IP_ADD_MEMBERSHIP, &mreq)?;
        }
        Ok(VrrpSocket { fd, ifindex, v6 })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Send one VRRP message from `src` to `dst` (the group or a peer).
    pub fn send(&self, msg: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) if !self.v6 => self.send_v4(msg, s, d),
            (IpAddr::V6(s), IpAddr::V6(d)) if self.v6 => self.send_v6(msg, s, d),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "address family differs from the socket's",
            )),
        }
    }

    fn send_v4(&self, msg: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> io::Result<()> {
        let packet = ipv4_packet(msg, src, dst);
        let to = libc::sockaddr_in {
            sin_family: libc::AF_INET as libc::sa_family_t,
            sin_port: 0,
            sin_addr: libc::in_addr {
                s_addr: u32::from(dst).to_be(),
            },
            sin_zero: [0; 8],
        };
        // SAFETY: packet and the sockaddr_in are valid for their lengths.
        let n = unsafe {
            libc::sendto(
                self.fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&to as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn send_v6(&self, msg: &[u8], src: Ipv6Addr, dst: Ipv6Addr) -> io::Result<()> {
        let mut to: libc::sockaddr_in6 =
            // SAFETY: all-zero is a valid sockaddr_in6.
            unsafe { std::mem::zeroed() };
        to.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        to.sin6_addr.s6_addr = dst.octets();
        to.sin6_scope_id = self.ifindex;
        let info = libc::in6_pktinfo {
            ipi6_addr: libc::in6_addr {
                s6_addr: src.octets(),
            },
            ipi6_ifindex: self.ifindex,
        };
        // u64 elements keep the control buffer aligned for cmsghdr.
        let mut cbuf = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: msg.as_ptr() as *mut libc::c_void,
            iov_len: msg.len(),
        };
        // SAFETY: all-zero is a valid msghdr; the fields are set below.
        let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
        mh.msg_name = (&mut to as *mut libc::sockaddr_in6).cast();
        mh.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE is a pure computation.
        mh.msg_controllen = unsafe { libc::CMSG_SPACE(size_of::<libc::in6_pktinfo>() as u32) } as _;
        // SAFETY: the control buffer is large enough for one in6_pktinfo
        // cmsg (64 bytes > CMSG_SPACE(20)) and aligned; mh points at it.
        let n = unsafe {
            let c = libc::CMSG_FIRSTHDR(&mh);
            (*c).cmsg_level = libc::IPPROTO_IPV6;
            (*c).cmsg_type = libc::IPV6_PKTINFO;
            (*c).cmsg_len = libc::CMSG_LEN(size_of::<libc::in6_pktinfo>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(c).cast::<libc::in6_pktinfo>(), info);
            libc::sendmsg(self.fd(), &mh, 0)
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The next waiting packet; `Ok(None)` when there is none. Packets that
    /// are not even IP are `Err(InvalidData)` for the caller to count.
    pub fn recv(&self) -> io::Result<Option<Received>> {
        if self.v6 {
            self.recv_v6()
        } else {
            self.recv_v4()
        }
    }

    fn recv_v4(&self) -> io::Result<Option<Received>> {
        let mut buf = [0u8; 2048];
        // SAFETY: buf is writable for its length.
        let n = unsafe { libc::recv(self.fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return nothing_or_error();
        }
        parse_ipv4(&buf[..n as usize])
            .map(Some)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IPv4 packet"))
    }

    fn recv_v6(&self) -> io::Result<Option<Received>> {
        let mut buf = [0u8; 2048];
        let mut cbuf = [0u64; 16];
        // SAFETY: all-zero is a valid sockaddr_in6 / msghdr.
        let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: as above.
        let mut mh: libc::msghdr = unsafe { std::mem::zeroed() };
        mh.msg_name = (&mut from as *mut libc::sockaddr_in6).cast();
        mh.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        mh.msg_iov = &mut iov;
        mh.msg_iovlen = 1;
        mh.msg_control = cbuf.as_mut_ptr().cast();
        mh.msg_controllen = std::mem::size_of_val(&cbuf) as _;
        // SAFETY: every pointer in mh is valid for the lengths given.
        let n = unsafe { libc::recvmsg(self.fd(), &mut mh, 0) };
        if n < 0 {
            return nothing_or_error();
        }
        let (mut ttl, mut dst) = (0u8, Ipv6Addr::UNSPECIFIED);
        // SAFETY: walking the control messages the kernel wrote into cbuf,
        // with the CMSG_* helpers that bound every step by msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&mh);
            while !c.is_null() {
                match ((*c).cmsg_level, (*c).cmsg_type) {
                    (libc::IPPROTO_IPV6, libc::IPV6_HOPLIMIT) => {
                        let v: libc::c_int = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                        ttl = v as u8;
                    }
                    (libc::IPPROTO_IPV6, libc::IPV6_PKTINFO) => {
                        let p: libc::in6_pktinfo =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c).cast());
                        dst = Ipv6Addr::from(p.ipi6_addr.s6_addr);
                    }
                    _ => {}
                }
                c = libc::CMSG_NXTHDR(&mh, c);
            }
        }
        Ok(Some(Received {
            src: IpAddr::V6(Ipv6Addr::from(from.sin6_addr.s6_addr)),
            dst: IpAddr::V6(dst),
            ttl,
            msg: buf[..n as usize].to_vec(),
        }))
    }
}

/// A failed receive: nothing waiting (`Ok(None)`) or a real error.
fn nothing_or_error() -> io::Result<Option<Received>> {
    let e = io::Error::last_os_error();
    if e.kind() == io::ErrorKind::WouldBlock {
        Ok(None)
    } else {
        Err(e)
    }
}

/// An IPv4 header (no options) in front of a VRRP message. The kernel
/// fills the identification (it is zero).
pub fn ipv4_packet(msg: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut p = vec![0u8; Ipv4Repr::LEN];
    Ipv4Repr {
        src: u32::from(src),
        dst: u32::from(dst),
        proto: IPPROTO_VRRP,
        // RFC 5798 5.1.1.3: TTL 255, receivers drop anything else.
        ttl: 255,
        // Precedence "internetwork control", as keepalived sends.
        tos: 0xc0,
        ident: 0,
        dont_fragment: false,
        payload_len: msg.len() as u16,
    }
    .emit(&mut p)
    .expect("sized above");
    p.extend_from_slice(msg);
    p
}

/// The facts of a received IPv4 packet, or `None` if it is not one.
pub fn parse_ipv4(p: &[u8]) -> Option<Received> {
    if p.len() < 20 || p[0] >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(p[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if ihl < 20 || p.len() < ihl || total < ihl || total > p.len() {
        return None;
    }
    Some(Received {
        src: IpAddr::from([p[12], p[13], p[14], p[15]]),
        dst: IpAddr::from([p[16], p[17], p[18], p[19]]),
        ttl: p[8],
        msg: p[ihl..total].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_packets_round_trip_and_truncation_is_refused() {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let p = ipv4_packet(&[0x31, 1, 100, 0], src, GROUP_V4);
        let r = parse_ipv4(&p).unwrap();
        assert_eq!((r.src, r.dst, r.ttl), (src.into(), GROUP_V4.into(), 255));
        assert_eq!(r.msg, [0x31, 1, 100, 0]);
        assert_eq!(
            parse_ipv4(&p[..p.len() - 1]),
            None,
            "total length beyond the data"
        );
        assert_eq!(parse_ipv4(&p[..19]), None);
        let mut v6 = p.clone();
        v6[0] = 0x65;
        assert_eq!(parse_ipv4(&v6), None);
    }
}
