//! One AF_XDP socket bound to (interface, queue). The first socket of a
//! worker registers the UMEM; the others share it (XDP_SHARED_UMEM) with
//! their own fill and completion rings, which the kernel requires when the
//! sockets sit on different devices.

use super::ring::{ConsumerRing, Mapping, ProducerRing, RawRing};
use super::sys::*;
use super::umem::Umem;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::AtomicU32;

pub use xlb_model::settings::BindMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct XskConfig {
    pub rx_size: u32,
    pub tx_size: u32,
    pub fill_size: u32,
    pub comp_size: u32,
    pub mode: BindMode,
}

impl Default for XskConfig {
    fn default() -> Self {
        XskConfig {
            rx_size: 2048,
            tx_size: 2048,
            fill_size: 4096,
            comp_size: 4096,
            mode: BindMode::Auto,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum XskError {
    #[error("{what} on {ifname} queue {queue}: {source}{hint}")]
    Sys {
        what: &'static str,
        ifname: String,
        queue: u32,
        source: io::Error,
        hint: &'static str,
    },
}

/// Frames the kernel sends per `sendto` on a copy-mode socket
/// (TX_BATCH_SIZE in net/xdp/xsk.c).
const COPY_TX_BUDGET: u32 = 32;

pub struct XskSocket {
    fd: OwnedFd,
    pub rx: ConsumerRing<XdpDesc>,
    pub tx: ProducerRing<XdpDesc>,
    pub fill: ProducerRing<u64>,
    pub comp: ConsumerRing<u64>,
    pub zero_copy: bool,
}

impl XskSocket {
    /// Bind a socket to `ifindex`/`queue`. `owner` is the worker's first
    /// socket (the UMEM's owner) for every socket after the first.
    pub fn bind(
        umem: &Umem,
        ifname: &str,
        ifindex: u32,
        queue: u32,
        owner: Option<&XskSocket>,
        cfg: &XskConfig,
    ) -> Result<XskSocket, XskError> {
        let err = |what, source, hint| XskError::Sys {
            what,
            ifname: ifname.to_string(),
            queue,
            source,
            hint,
        };
        // SAFETY: plain socket(2) call; the result is checked.
        let raw = unsafe { libc::socket(AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(err(
                "socket(AF_XDP)",
                io::Error::last_os_error(),
                " (is the kernel built with CONFIG_XDP_SOCKETS, and are we root?)",
            ));
        }
        // SAFETY: raw is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let s = fd.as_raw_fd();

        if owner.is_none() {
            let (addr, len) = umem.area();
            let reg = XdpUmemReg {
                addr: addr as u64,
                len: len as u64,
                chunk_size: umem.frame_size(),
                ..Default::default()
            };
            setsockopt(s, XDP_UMEM_REG, &reg)
                .map_err(|e| err("register UMEM", e, " (RLIMIT_MEMLOCK too low? run as root)"))?;
        }
        setsockopt(s, XDP_UMEM_FILL_RING, &cfg.fill_size)
            .map_err(|e| err("size fill ring", e, ""))?;
        setsockopt(s, XDP_UMEM_COMPLETION_RING, &cfg.comp_size)
            .map_err(|e| err("size completion ring", e, ""))?;
        setsockopt(s, XDP_RX_RING, &cfg.rx_size).map_err(|e| err("size RX ring", e, ""))?;
        setsockopt(s, XDP_TX_RING, &cfg.tx_size).map_err(|e| err("size TX ring", e, ""))?;

        let mut off = XdpMmapOffsets::default();
        let mut optlen = size_of::<XdpMmapOffsets>() as libc::socklen_t;
        // SAFETY: off is a properly sized, writable XdpMmapOffsets.
        let rc = unsafe {
            libc::getsockopt(
                s,
                SOL_XDP,
                XDP_MMAP_OFFSETS,
                (&mut off as *mut XdpMmapOffsets).cast(),
                &mut optlen,
            )
        };
        if rc < 0 {
            return Err(err("read ring offsets", io::Error::last_os_error(), ""));
        }

        let merr = |e| err("mmap ring", e, "");
        let rx =
            ConsumerRing::new(map_ring(s, cfg.rx_size, &off.rx, XDP_PGOFF_RX_RING).map_err(merr)?);
        let tx =
            ProducerRing::new(map_ring(s, cfg.tx_size, &off.tx, XDP_PGOFF_TX_RING).map_err(merr)?);
        let fill = ProducerRing::new(
            map_ring::<u64>(s, cfg.fill_size, &off.fr, XDP_UMEM_PGOFF_FILL_RING).map_err(merr)?,
        );
        let comp = ConsumerRing::new(
            map_ring::<u64>(s, cfg.comp_size, &off.cr, XDP_UMEM_PGOFF_COMPLETION_RING)
                .map_err(merr)?,
        );

        let mut sa = SockaddrXdp {
            family: AF_XDP as u16,
            ifindex,
            queue_id: queue,
            ..Default::default()
        };
        let zero_copy;
        if let Some(owner) = owner {
            // Copy/zero-copy/need_wakeup are inherited from the UMEM owner;
            // the kernel rejects them here.
            sa.flags = XDP_SHARED_UMEM;
            sa.shared_umem_fd = owner.fd.as_raw_fd() as u32;
            bind(s, &sa).map_err(|e| {
                err(
                    "bind (shared UMEM)",
                    e,
                    " (a driver that cannot do the owner's copy/zero-copy mode?)",
                )
            })?;
            zero_copy = owner.zero_copy;
        } else {
            let try_bind = |flags: u16| {
                let mut sa = sa;
                sa.flags = flags | XDP_USE_NEED_WAKEUP;
                bind(s, &sa)
            };
            zero_copy = match cfg.mode {
                BindMode::ZeroCopy => try_bind(XDP_ZEROCOPY).map(|_| true),
                BindMode::Copy => try_bind(XDP_COPY).map(|_| false),
                BindMode::Auto => try_bind(XDP_ZEROCOPY)
                    .map(|_| true)
                    .or_else(|_| try_bind(XDP_COPY).map(|_| false)),
            }
            .map_err(|e| {
                err(
                    "bind",
                    e,
                    " (is the XDP program attached, and does the queue exist? see `ethtool -l`)",
                )
            })?;
        }
        Ok(XskSocket {
            fd,
            rx,
            tx,
            fill,
            comp,
            zero_copy,
        })
    }

    pub fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Ask the kernel to transmit what the TX ring holds. In copy mode the
    /// kernel sends a bounded batch per call, so callers repeat it while
    /// descriptors are outstanding.
    pub fn kick_tx(&self) {
        // SAFETY: zero-length sendto on our own socket; errors such as EAGAIN
        // or ENOBUFS only mean "try again next batch".
        unsafe {
            libc::sendto(
                self.fd(),
                std::ptr::null(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null(),
                0,
            )
        };
    }

    /// Have the kernel send what the TX ring holds. Copy mode moves at most
    /// `COPY_TX_BUDGET` frames per `sendto`: one kick per budget
    /// outstanding, at most `max_kicks` (a stuck ring costs no more), so TX
    /// keeps up with a full RX batch instead of filling its ring. Zero-copy
    /// needs one kick, and only when the driver asks for it.
    pub fn flush_tx(&self, max_kicks: u32) {
        let outstanding = self.tx.outstanding();
        if outstanding == 0 {
            return;
        }
        if !self.zero_copy {
            for _ in 0..outstanding.div_ceil(COPY_TX_BUDGET).min(max_kicks) {
                self.kick_tx();
            }
        } else if self.tx.needs_wakeup() {
            self.kick_tx();
        }
    }

    /// Wake the driver's RX path after refilling (need_wakeup set on fill).
    pub fn kick_rx(&self) {
        // SAFETY: zero-length recvfrom on our own socket, non-blocking.
        unsafe {
            libc::recvfrom(
                self.fd(),
                std::ptr::null_mut(),
                0,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
    }

    /// Kernel-side drop counters of this socket.
    pub fn statistics(&self) -> io::Result<XdpStatistics> {
        let mut st = XdpStatistics::default();
        let mut optlen = size_of::<XdpStatistics>() as libc::socklen_t;
        // SAFETY: st is a writable XdpStatistics; the kernel writes at most optlen.
        let rc = unsafe {
            libc::getsockopt(
                self.fd(),
                SOL_XDP,
                XDP_STATISTICS,
                (&mut st as *mut XdpStatistics).cast(),
                &mut optlen,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st)
    }
}

fn setsockopt<T>(fd: RawFd, opt: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: val points to a live T of size_of::<T>() bytes.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            SOL_XDP,
            opt,
            (val as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn bind(fd: RawFd, sa: &SockaddrXdp) -> io::Result<()> {
    // SAFETY: sa is a complete sockaddr_xdp of the size we pass.
    let rc = unsafe {
        libc::bind(
            fd,
            (sa as *const SockaddrXdp).cast(),
            size_of::<SockaddrXdp>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn map_ring<T>(
    fd: RawFd,
    size: u32,
    off: &XdpRingOffset,
    pgoff: libc::off_t,
) -> io::Result<RawRing<T>> {
    let len = off.desc as usize + size as usize * size_of::<T>();
    // SAFETY: maps the ring the kernel allocated for this socket at pgoff;
    // the result is checked.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_POPULATE,
            fd,
            pgoff,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let base = ptr.cast::<u8>();
    // SAFETY: the offsets come from the kernel for this very mapping and lie
    // inside it.
    unsafe {
        Ok(RawRing {
            producer: base.add(off.producer as usize).cast::<AtomicU32>(),
            consumer: base.add(off.consumer as usize).cast::<AtomicU32>(),
            flags: base.add(off.flags as usize).cast::<AtomicU32>(),
            descs: base.add(off.desc as usize).cast::<T>(),
            mask: size - 1,
            size,
            _map: Mapping::Mmap { ptr, len },
        })
    }
}
