//! A pinned worker: polls the AF_XDP sockets of its queue on every dataplane
//! port, forwards in batches, and never blocks on the control thread.
//!
//! Per batch: reclaim TX completions into the free list, top up fill rings,
//! take up to `BATCH` RX descriptors per port, run the forwarder on each
//! frame in place, queue forwarded descriptors on the egress port's TX ring
//! (same UMEM: no copy), then one wakeup syscall per port that needs it.

use crate::conn::SharedTable;
use crate::forward::{Forwarder, Verdict};
use crate::snapshot::Snapshot;
use crate::stats::{DropReason, WorkerStats};
use crate::wire::FrameBuf;
use crate::xsk::{refill, Umem, XdpDesc, XskConfig, XskError, XskSocket};
use arc_swap::ArcSwap;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

pub const BATCH: usize = 64;
/// TX kicks per port per loop at most: enough for two RX batches.
const MAX_TX_KICKS: u32 = 4;
const FRAME_SIZE: u32 = 4096;

#[derive(Debug, Clone)]
pub struct PortSpec {
    pub ifname: String,
    pub ifindex: u32,
}

pub use xlb_model::settings::PollMode;

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub index: usize,
    /// Core to pin to (core_affinity id); `None` leaves it to the scheduler.
    pub core: Option<usize>,
    /// Queue this worker serves on every port.
    pub queue: u32,
    pub ports: Vec<PortSpec>,
    pub xsk: XskConfig,
    pub poll: PollMode,
    pub table_capacity: usize,
}

pub struct Worker {
    cfg: WorkerConfig,
    fwd: Forwarder,
    // Declared before `umem`: sockets must close before their UMEM is unmapped.
    sockets: Vec<XskSocket>,
    umem: Umem,
}

/// A running worker: its counters and thread.
pub struct WorkerHandle {
    pub index: usize,
    pub stats: Arc<WorkerStats>,
    pub zero_copy: bool,
    thread: Option<JoinHandle<()>>,
}

impl WorkerHandle {
    pub fn join(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Worker {
    /// Create the UMEM and bind one socket per port. The caller then points
    /// each port's XSK map entry at `socket_fds()` and calls `spawn`.
    pub fn bind(cfg: WorkerConfig) -> Result<Worker, XskError> {
        let per_port = cfg.xsk.fill_size + cfg.xsk.tx_size;
        let umem = Umem::new(per_port * cfg.ports.len() as u32, FRAME_SIZE).map_err(|e| {
            XskError::Sys {
                what: "allocate UMEM",
                ifname: "-".into(),
                queue: cfg.queue,
                source: e,
                hint: "",
            }
        })?;
        let mut sockets: Vec<XskSocket> = Vec::with_capacity(cfg.ports.len());
        for p in &cfg.ports {
            let s = XskSocket::bind(
                &umem,
                &p.ifname,
                p.ifindex,
                cfg.queue,
                sockets.first(),
                &cfg.xsk,
            )?;
            sockets.push(s);
        }
        let fwd = Forwarder::new(cfg.table_capacity);
        Ok(Worker {
            cfg,
            fwd,
            sockets,
            umem,
        })
    }

    /// This worker's connection table as the other workers read it.
    pub fn conn_table(&self) -> Arc<SharedTable> {
        self.fwd.table.shared()
    }

    /// Persistence templates shared by every worker.
    pub fn set_ftp(&mut self, helper: Arc<crate::ftp::FtpHelper>) {
        self.fwd.set_ftp(helper);
    }

    /// Where connections installed from outside this worker arrive.
    pub fn set_inbox(&mut self, inbox: Arc<crate::inbox::Inbox>) {
        self.fwd.set_inbox(inbox);
    }

    pub fn set_outbox(&mut self, outbox: Arc<crate::outbox::Outbox>) {
        self.fwd.set_outbox(outbox);
    }

    pub fn set_persistence(&mut self, table: Arc<crate::conn::PersistTable>) {
        self.fwd.set_persistence(table);
    }

    /// The other workers' tables, searched when a packet misses this one.
    pub fn set_peers(&mut self, peers: Vec<Arc<SharedTable>>) {
        self.fwd.set_peers(peers);
    }

    pub fn socket_fds(&self) -> Vec<RawFd> {
        self.sockets.iter().map(|s| s.fd()).collect()
    }

    pub fn spawn(
        self,
        snapshot: Arc<ArcSwap<Snapshot>>,
        stop: Arc<AtomicBool>,
    ) -> std::io::Result<WorkerHandle> {
        let stats = Arc::new(WorkerStats::default());
        let index = self.cfg.index;
        let zero_copy = self.sockets.first().is_some_and(|s| s.zero_copy);
        let st = stats.clone();
        let thread = std::thread::Builder::new()
            .name(format!("xlb-worker-{index}"))
            .spawn(move || self.run(&snapshot, &stop, &st))?;
        Ok(WorkerHandle {
            index,
            stats,
            zero_copy,
            thread: Some(thread),
        })
    }

    fn run(mut self, snapshot: &ArcSwap<Snapshot>, stop: &AtomicBool, stats: &WorkerStats) {
        if let Some(core) = self.cfg.core {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: core }) {
                tracing::warn!(
                    worker = self.cfg.index,
                    core,
                    "could not pin worker to core"
                );
            }
        }
        let nports = self.sockets.len();
        let fwd = &mut self.fwd;
        let mut free: Vec<u64> = (0..self.umem.frames())
            .map(|i| self.umem.frame_addr(i))
            .collect();
        let mut pending: Vec<Vec<XdpDesc>> = (0..nports)
            .map(|_| Vec::with_capacity(BATCH * nports))
            .collect();
        let mut rx = [XdpDesc::default(); BATCH];
        let mut comp = [0u64; BATCH * 4];
        let mut pollfds: Vec<libc::pollfd> = self
            .sockets
            .iter()
            .map(|s| libc::pollfd {
                fd: s.fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // Records handed over while this worker sleeps wake it.
        let inbox = fwd.inbox().cloned();
        if let Some(fd) = inbox.as_ref().and_then(|i| i.doorbell_fd()) {
            pollfds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        tracing::info!(worker = self.cfg.index, queue = self.cfg.queue, core = ?self.cfg.core, "worker running");
        let mut kernel_stats_at = 0u32;

        while !stop.load(Ordering::Relaxed) {
            let snap = snapshot.load();
            fwd.adopt(&snap);
            let now_ms = coarse_millis();
            let now = (now_ms / 1000) as u32;
            stats.poll_iterations.add(1);
            let mut received = 0usize;

            for p in 0..nports {
                let sock = &mut self.sockets[p];
                // Frames the kernel finished sending come back to the pool.
                let n = sock.comp.consume(&mut comp);
                for &a in &comp[..n] {
                    free.push(self.umem.frame_base(a));
                }
                // Keep the fill ring topped up from the pool.
                if refill(&mut sock.fill, &mut free, BATCH * 2) > 0 && sock.fill.needs_wakeup() {
                    sock.kick_rx();
                }
                let n = sock.rx.consume(&mut rx);
                received += n;
                let umem = &self.umem;
                fwd.prefetch_batch(rx[..n].iter().filter_map(|d| umem.bytes(d.addr, d.len)));
                for d in &rx[..n] {
                    // The whole UMEM frame: the FTP helper may grow a
                    // segment in place, an encapsulation would prepend.
                    let base = self.umem.frame_base(d.addr);
                    let start = (d.addr - base) as usize;
                    let pkt = self
                        .umem
                        .bytes_mut(base, self.umem.frame_size())
                        .and_then(|frame| FrameBuf::new(frame, start, d.len as usize));
                    let Some(mut pkt) = pkt else {
                        stats.drop(DropReason::ShortEthernet);
                        free.push(base);
                        continue;
                    };
                    match fwd.process_frame(&snap, stats, now, p as u8, &mut pkt) {
                        Verdict::Forward(out) if (out as usize) < nports => {
                            pending[out as usize].push(XdpDesc {
                                addr: base + pkt.start() as u64,
                                len: pkt.len() as u32,
                                options: d.options,
                            });
                        }
                        _ => free.push(base),
                    }
                }
            }
            if received > 0 {
                stats.rx_packets.add(received as u64);
                stats.rx_batches.add(1);
            }

            for (sock, q) in self.sockets.iter_mut().zip(pending.iter_mut()) {
                if !q.is_empty() {
                    let sent = sock.tx.produce(q);
                    stats.tx_packets.add(sent as u64);
                    for d in &q[sent..] {
                        stats.drop(DropReason::TxRingFull);
                        free.push(self.umem.frame_base(d.addr));
                    }
                    q.clear();
                }
                sock.flush_tx(MAX_TX_KICKS);
            }
            fwd.end_batch(&snap, stats, now_ms);
            if now != kernel_stats_at {
                // One getsockopt per socket per second: frames the kernel
                // dropped before they reached the rings.
                kernel_stats_at = now;
                let (mut full, mut dropped) = (0, 0);
                for s in &self.sockets {
                    if let Ok(st) = s.statistics() {
                        full += st.rx_ring_full;
                        dropped += st.rx_dropped;
                    }
                }
                stats.set_kernel_drops(full, dropped);
            }
            drop(snap);

            if received == 0 {
                match self.cfg.poll {
                    PollMode::BusyPoll => std::hint::spin_loop(),
                    PollMode::Wakeup => {
                        let busy_tx = self.sockets.iter().any(|s| s.tx.outstanding() > 0);
                        // Records left after a batch's share: no sleep.
                        let behind = inbox.as_ref().is_some_and(|i| !i.is_empty());
                        let timeout = if busy_tx || behind { 0 } else { 50 };
                        // SAFETY: pollfds is a valid array of pollfds.len() pollfd.
                        unsafe {
                            libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, timeout)
                        };
                        if pollfds.len() > nports && pollfds[nports].revents != 0 {
                            if let Some(i) = &inbox {
                                i.answer();
                            }
                        }
                    }
                }
            }
        }
        tracing::info!(worker = self.cfg.index, "worker stopped");
    }
}

/// Seconds on a monotonic clock, cheap enough to read once per batch.
pub fn coarse_seconds() -> u32 {
    (coarse_millis() / 1000) as u32
}

/// Milliseconds on the same clock (it ticks at the kernel's HZ).
pub fn coarse_millis() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write into.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}
