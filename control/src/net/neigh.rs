//! The kernel's IPv4 neighbour table over rtnetlink. The dataplane takes real
//! servers' MACs from here and never sends ARP itself; `poke` asks the kernel
//! to resolve (or re-confirm) an address with NTF_USE, as if it had a packet
//! for it, so entries stay fresh although the kernel forwards none of our
//! traffic.

use std::collections::HashMap;
use std::io;
use std::mem::size_of;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const RTM_NEWNEIGH: u16 = 28;
const RTM_GETNEIGH: u16 = 30;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x01;
const NLM_F_ACK: u16 = 0x04;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CREATE: u16 = 0x400;
const NDA_DST: u16 = 1;
const NDA_LLADDR: u16 = 2;
const NTF_USE: u8 = 0x01;
const NUD_REACHABLE: u16 = 0x02;
const NUD_STALE: u16 = 0x04;
const NUD_DELAY: u16 = 0x08;
const NUD_PROBE: u16 = 0x10;
const NUD_NOARP: u16 = 0x40;
const NUD_PERMANENT: u16 = 0x80;
/// States whose MAC may be used.
const NUD_USABLE: u16 =
    NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_NOARP | NUD_PERMANENT;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct NlMsgHdr {
    len: u32,
    kind: u16,
    flags: u16,
    seq: u32,
    pid: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct NdMsg {
    family: u8,
    pad1: u8,
    pad2: u16,
    ifindex: i32,
    state: u16,
    flags: u8,
    kind: u8,
}

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

/// (ifindex, address) -> entry, for every IPv4 neighbour entry.
pub type NeighbourTable = HashMap<(u32, Ipv4Addr), Neighbour>;

pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket(2); checked below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is fresh and ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let tv = libc::timeval {
            tv_sec: 2,
            tv_usec: 0,
        };
        // SAFETY: a timeval of the size passed.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as u32,
            )
        };
        Ok(Netlink { fd, seq: 1 })
    }

    fn send(&mut self, kind: u16, flags: u16, nd: NdMsg, dst: Option<Ipv4Addr>) -> io::Result<u32> {
        let mut body = Vec::with_capacity(32);
        body.extend_from_slice(as_bytes(&nd));
        if let Some(a) = dst {
            push_attr(&mut body, NDA_DST, &a.octets());
        }
        self.send_raw(kind, flags, &body)
    }

    /// Send one message with `body` (the family header and attributes).
    pub(super) fn send_raw(&mut self, kind: u16, flags: u16, body: &[u8]) -> io::Result<u32> {
        self.seq = self.seq.wrapping_add(1);
        let mut buf = Vec::with_capacity(size_of::<NlMsgHdr>() + body.len());
        let hdr = NlMsgHdr {
            len: (size_of::<NlMsgHdr>() + body.len()) as u32,
            kind,
            flags,
            seq: self.seq,
            pid: 0,
        };
        buf.extend_from_slice(as_bytes(&hdr));
        buf.extend_from_slice(body);
        // SAFETY: buf is a complete netlink message; the kernel is the peer.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(self.seq)
    }

    /// Send a request and wait for its acknowledgement.
    pub(super) fn request_acked(&mut self, kind: u16, flags: u16, body: &[u8]) -> io::Result<()> {
        let seq = self.send_raw(kind, flags | NLM_F_REQUEST | NLM_F_ACK, body)?;
        self.recv_until_done(seq, |_, _| {})
    }

    /// Read replies to `seq` until DONE (dump) or the ACK/error (request).
    fn recv_until_done(
        &mut self,
        seq: u32,
        mut each: impl FnMut(&NlMsgHdr, &[u8]),
    ) -> io::Result<()> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: buf is writable for its length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut msgs = &buf[..n as usize];
            while msgs.len() >= size_of::<NlMsgHdr>() {
                let hdr: NlMsgHdr = read(msgs);
                let len = hdr.len as usize;
                if len < size_of::<NlMsgHdr>() || len > msgs.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated netlink message",
                    ));
                }
                let body = &msgs[size_of::<NlMsgHdr>()..len];
                if hdr.seq == seq {
                    match hdr.kind {
                        NLMSG_DONE => return Ok(()),
                        NLMSG_ERROR => {
                            let code = i32::from_ne_bytes(body[..4].try_into().unwrap_or([0; 4]));
                            return if code == 0 {
                                Ok(())
                            } else {
                                Err(io::Error::from_raw_os_error(-code))
                            };
                        }
                        _ => each(&hdr, body),
                    }
                }
                msgs = &msgs[align4(len).min(msgs.len())..];
            }
        }
    }

    pub fn neighbours(&mut self) -> io::Result<NeighbourTable> {
        let nd = NdMsg {
            family: libc::AF_INET as u8,
            ..Default::default()
        };
        let seq = self.send(RTM_GETNEIGH, NLM_F_REQUEST | NLM_F_DUMP, nd, None)?;
        let mut table = NeighbourTable::new();
        self.recv_until_done(seq, |hdr, body| {
            if hdr.kind != RTM_NEWNEIGH || body.len() < size_of::<NdMsg>() {
                return;
            }
            let nd: NdMsg = read(body);
            let (mut dst, mut mac) = (None, None);
            let mut attrs = &body[size_of::<NdMsg>()..];
            while attrs.len() >= 4 {
                let alen = u16::from_ne_bytes([attrs[0], attrs[1]]) as usize;
                let akind = u16::from_ne_bytes([attrs[2], attrs[3]]);
                if alen < 4 || alen > attrs.len() {
                    break;
                }
                let val = &attrs[4..alen];
                match (akind, val.len()) {
                    (NDA_DST, 4) => dst = Some(Ipv4Addr::new(val[0], val[1], val[2], val[3])),
                    (NDA_LLADDR, 6) => mac = Some([val[0], val[1], val[2], val[3], val[4], val[5]]),
                    _ => {}
                }
                attrs = &attrs[align4(alen).min(attrs.len())..];
            }
            if let Some(d) = dst {
                table.insert(
                    (nd.ifindex as u32, d),
                    Neighbour {
                        mac,
                        state: nd.state,
                    },
                );
            }
        })?;
        Ok(table)
    }

    /// Ask the kernel to resolve `addr` on `ifindex` (creating the entry if
    /// needed), exactly as if it had a packet to send there.
    pub fn poke(&mut self, ifindex: u32, addr: Ipv4Addr) -> io::Result<()> {
        let nd = NdMsg {
            family: libc::AF_INET as u8,
            ifindex: ifindex as i32,
            flags: NTF_USE,
            ..Default::default()
        };
        let seq = self.send(
            RTM_NEWNEIGH,
            NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE,
            nd,
            Some(addr),
        )?;
        self.recv_until_done(seq, |_, _| {})
    }
}

/// Append one rtattr (length, type, value, padding).
pub(super) fn push_attr(buf: &mut Vec<u8>, kind: u16, val: &[u8]) {
    buf.extend_from_slice(&((4 + val.len()) as u16).to_ne_bytes());
    buf.extend_from_slice(&kind.to_ne_bytes());
    buf.extend_from_slice(val);
    buf.resize(align4(buf.len()), 0);
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

pub(super) fn as_bytes<T: Copy>(v: &T) -> &[u8] {
    // SAFETY: T is a repr(C) plain-old-data struct without padding holes
    // that matter to the kernel (padding fields are explicit and zeroed).
    unsafe { std::slice::from_raw_parts((v as *const T).cast(), size_of::<T>()) }
}

fn read<T: Copy + Default>(b: &[u8]) -> T {
    let mut v = T::default();
    let n = size_of::<T>().min(b.len());
    // SAFETY: copies at most size_of::<T>() bytes into a plain-old-data T.
    unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), (&mut v as *mut T).cast(), n) };
    v
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
