//! Telling the link that a virtual address moved: gratuitous ARP (IPv4)
//! and unsolicited neighbour advertisements (IPv6, RFC 4861 7.2.6), written
//! as whole Ethernet frames to an AF_PACKET socket.

use std::io;
use std::mem::size_of;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use xlb_dataplane::wire::checksum::checksum_of;
use xlb_dataplane::wire::emit::{EthernetRepr, Ipv6Repr};
use xlb_dataplane::wire::ETH_P_IPV6;

const BROADCAST: [u8; 6] = [0xff; 6];
/// 33:33 + the low 32 bits of ff02::1 (all nodes).
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A gratuitous ARP request: sender and target are both `addr`, broadcast,
/// the form every switch and host updates its tables from.
pub fn garp_frame(mac: [u8; 6], addr: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&BROADCAST);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&0x0806u16.to_be_bytes());
    // Ethernet, IPv4, lengths 6 and 4, request.
    f.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&addr.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&addr.octets());
    f.resize(60, 0);
    f
}

/// An unsolicited neighbour advertisement for `addr` to all nodes, with
/// the Override flag so neighbours replace the old router's MAC.
pub fn unsolicited_na_frame(mac: [u8; 6], addr: Ipv6Addr) -> Vec<u8> {
    // ICMPv6: type 136, code 0, checksum, flags (O), target, option 2 (TLLA).
    let mut icmp = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    icmp.extend_from_slice(&addr.octets());
    icmp.extend_from_slice(&[2, 1]);
    icmp.extend_from_slice(&mac);
    // Pseudo-header: source, destination, upper-layer length, next header.
    let mut tail = [0u8; 8];
    tail[..4].copy_from_slice(&(icmp.len() as u32).to_be_bytes());
    tail[7] = 58;
    let c = checksum_of(&[&addr.octets(), &ALL_NODES.octets(), &tail, &icmp]);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());

    let mut f = vec![0u8; EthernetRepr::LEN + Ipv6Repr::LEN];
    let eth = EthernetRepr {
        dst: ALL_NODES_MAC,
        src: mac,
        ethertype: ETH_P_IPV6,
    };
    // Hop limit 255: RFC 4861 7.1.2, receivers drop anything less.
    let ip = Ipv6Repr {
        src: addr.octets(),
        dst: ALL_NODES.octets(),
        next_header: 58,
        hop_limit: 255,
        traffic_class: 0,
        flow_label: 0,
        payload_len: icmp.len() as u16,
    };
    let n = eth.emit(&mut f).expect("sized above");
    ip.emit(&mut f[n..]).expect("sized above");
    f.extend_from_slice(&icmp);
    f
}

pub fn frame_for(mac: [u8; 6], addr: IpAddr) -> Vec<u8> {
    match addr {
        IpAddr::V4(a) => garp_frame(mac, a),
        IpAddr::V6(a) => unsolicited_na_frame(mac, a),
    }
}

/// An AF_PACKET socket that sends ready-made frames on any interface.
pub struct Announcer {
    fd: OwnedFd,
}

impl Announcer {
    pub fn open() -> io::Result<Announcer> {
        // SAFETY: plain socket(2); protocol 0 = send only, receive nothing.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: raw is a fresh descriptor we own.
        Ok(Announcer {
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
        })
    }

    pub fn send(&self, ifindex: u32, frame: &[u8]) -> io::Result<()> {
        // SAFETY: all-zero is a valid sockaddr_ll; the fields are set below.
        let mut to: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        to.sll_family = libc::AF_PACKET as u16;
        to.sll_ifindex = ifindex as i32;
        to.sll_halen = 6;
        to.sll_addr[..6].copy_from_slice(&frame[..6]);
        // SAFETY: frame and the sockaddr_ll are valid for their lengths.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&to as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as libc::socklen_t,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garp_names_the_address_as_sender_and_target() {
        let mac = [2, 0, 0, 0, 0, 9];
        let f = garp_frame(mac, Ipv4Addr::new(192, 0, 2, 10));
        // etherparse has no ARP: read RFC 826's fields by offset.
        assert_eq!(f.len(), 60, "padded to the Ethernet minimum");
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(
            &f[14..22],
            &[0, 1, 8, 0, 6, 4, 0, 1],
            "Ethernet/IPv4 request"
        );
        assert_eq!(&f[22..28], &mac, "sender MAC");
        assert_eq!(&f[28..32], &[192, 0, 2, 10], "sender address");
        assert_eq!(&f[38..42], &[192, 0, 2, 10], "target address");
        assert_eq!(&f[..6], &BROADCAST);
    }

    #[test]
    fn unsolicited_na_has_a_valid_checksum_and_the_override_flag() {
        let mac = [2, 0, 0, 0, 0, 9];
        let addr: Ipv6Addr = "2001:db8::10".parse().unwrap();
        let f = unsolicited_na_frame(mac, addr);
        let p = etherparse::SlicedPacket::from_ethernet(&f).unwrap();
        let Some(etherparse::TransportSlice::Icmpv6(icmp)) = p.transport else {
            panic!("not ICMPv6: {p:?}");
        };
        let Some(etherparse::NetSlice::Ipv6(ip)) = &p.net else {
            panic!()
        };
        assert_eq!(ip.header().hop_limit(), 255, "RFC 4861 requires 255");
        let h = ip.header();
        let want = icmp
            .icmp_type()
            .calc_checksum(h.source(), h.destination(), icmp.payload())
            .unwrap();
        assert_eq!(icmp.checksum(), want);
        assert_eq!(icmp.type_u8(), 136);
        assert_eq!(
            f[14 + 40 + 4],
            0x20,
            "override set, router and solicited clear"
        );
        assert_eq!(&f[f.len() - 6..], &mac, "target link-layer address option");
    }
}
