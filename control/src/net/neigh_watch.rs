//! The kernel's neighbour table, followed by its change notifications
//! (RTNLGRP_NEIGH) rather than dumped over and over: a thread applies each
//! RTM_NEWNEIGH / RTM_DELNEIGH to a copy and publishes it.
//!
//! Consistency: the socket joins the group before the first dump, so every
//! change after the dump's start is also seen as an event. Events arriving
//! while a dump is in flight are applied to the dump's table as well, in
//! arrival order; an entry's last word is then the kernel's current one
//! whatever the order of dump reply and event. When the kernel drops
//! notifications (ENOBUFS: the socket buffer overran), nothing can tell
//! what was lost, so the table is dumped again.
//!
//! What the kernel does not announce, the watch cannot know until the next
//! dump: entries are announced when updated (resolved, changed, FAILED,
//! set by `ip neigh`) and when removed, but not when merely created. An
//! entry a poke creates shows up once resolved or FAILED, not while
//! INCOMPLETE; NOARP entries the kernel makes for multicast addresses
//! never do. Some timer transitions (REACHABLE -> DELAY -> PROBE) are not
//! announced either, so `state` can lag; the MAC never does.

use super::neigh::{self, NeighbourTable, RTM_NEWNEIGH};
use super::rtnl;
use arc_swap::ArcSwap;
use netlink_packet_core::NLM_F_DUMP;
use netlink_packet_core::NLM_F_REQUEST;
use netlink_sys::Socket;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

const RTM_DELNEIGH: u16 = libc::RTM_DELNEIGH;

/// The receive timeout: how long the thread may take to notice `Drop`, and
/// how soon a failed dump is retried.
const POLL: Duration = Duration::from_millis(200);
/// A dump without its DONE after this long is abandoned and started again.
const DUMP_DEADLINE: Duration = Duration::from_secs(5);
/// Datagrams read in one go (non-blocking after the first) before the
/// table is published: one copy of the table per burst, not per event.
const BATCH: usize = 256;
/// Asked-for socket receive buffer, so bursts of events (a link going down
/// flushes all its entries) do not overrun it. The kernel caps it at
/// net.core.rmem_max.
const RCVBUF: usize = 4 << 20;

/// Follows the kernel's neighbour table by events instead of dumping it
/// periodically.
pub struct NeighbourWatch {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    table: ArcSwap<NeighbourTable>,
    generation: AtomicU64,
    /// Times the kernel dropped events (each followed by a new dump).
    overruns: AtomicU64,
    stop: AtomicBool,
}

impl NeighbourWatch {
    /// Opens a netlink socket bound to the neighbour multicast group
    /// (RTNLGRP_NEIGH), dumps the table once, then a thread named
    /// "xlb-neigh" applies RTM_NEWNEIGH / RTM_DELNEIGH events to it. On
    /// ENOBUFS (the kernel dropped events: socket buffer overrun) it dumps
    /// again. The socket, and so the table, is that of the calling thread's
    /// network namespace.
    pub fn start() -> io::Result<NeighbourWatch> {
        NeighbourWatch::start_with(RCVBUF)
    }

    fn start_with(rcvbuf: usize) -> io::Result<NeighbourWatch> {
        let (socket, _port) = rtnl::open(POLL)?;
        if let Err(e) = socket2::SockRef::from(&socket).set_recv_buffer_size(rcvbuf) {
            tracing::debug!(error = %e, "cannot enlarge the neighbour event socket's buffer");
        }
        // Before the dump: no change may fall between the two.
        socket
            .add_membership(libc::RTNLGRP_NEIGH)
            .map_err(rtnl::context("join the rtnetlink neighbour group"))?;
        let mut follower = Follower {
            socket,
            buf: vec![0; rtnl::RECV_BUF],
            seq: 0,
            state: State::new(Instant::now()),
        };
        let deadline = Instant::now() + DUMP_DEADLINE;
        while !follower.state.synced {
            if Instant::now() > deadline {
                let why = follower.state.last_error.take().unwrap_or_default();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no complete neighbour table dump within {DUMP_DEADLINE:?} {why}"),
                ));
            }
            follower.step();
        }
        let shared = Arc::new(Shared {
            table: ArcSwap::from_pointee(follower.state.table.clone()),
            generation: AtomicU64::new(0),
            overruns: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        });
        let thread = thread::Builder::new()
            .name("xlb-neigh".into())
            .spawn({
                let shared = shared.clone();
                move || follower.run(&shared)
            })
            .map_err(rtnl::context("start the neighbour thread"))?;
        Ok(NeighbourWatch {
            shared,
            thread: Some(thread),
        })
    }

    /// The table as of the last event (cheap: an Arc clone).
    pub fn table(&self) -> Arc<NeighbourTable> {
        self.shared.table.load_full()
    }

    /// Bumped on every change that was applied (0 for the table `start`
    /// dumped), so a caller can tell whether anything changed since it last
    /// looked. Read before `table()`, a generation is never newer than the
    /// table that follows.
    pub fn generation(&self) -> u64 {
        self.shared.generation.load(Ordering::Acquire)
    }
}

impl Drop for NeighbourWatch {
    /// Stops the thread; it notices within one receive timeout (200 ms).
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("the neighbour thread panicked");
            }
        }
    }
}

/// The socket side: receiving, and sending the dump requests the state asks for.
struct Follower {
    socket: Socket,
    buf: Vec<u8>,
    seq: u32,
    state: State,
}

impl Follower {
    fn run(mut self, shared: &Shared) {
        while !shared.stop.load(Ordering::Relaxed) {
            if self.step() {
                shared.table.store(Arc::new(self.state.table.clone()));
                shared.generation.fetch_add(1, Ordering::Release);
            }
            shared
                .overruns
                .store(self.state.overruns, Ordering::Relaxed);
        }
    }

    /// Start a dump if one is due, then wait (at most one receive timeout)
    /// for datagrams and apply them and whatever else is queued. Returns
    /// whether the table changed.
    fn step(&mut self) -> bool {
        let now = Instant::now();
        if self.state.dump_due(now) {
            self.seq = self.seq.wrapping_add(1).max(1);
            let flags = NLM_F_REQUEST | NLM_F_DUMP;
            match rtnl::send(&self.socket, self.seq, flags, neigh::dump_request()) {
                Ok(()) => self.state.dump_started(self.seq, now),
                Err(e) => self.state.dump_failed(&e, now),
            }
        }
        let mut changed = false;
        let mut flags = 0;
        for _ in 0..BATCH {
            match self.socket.recv(&mut &mut self.buf[..], flags) {
                Ok(n) => {
                    let data = &self.buf[..n.min(self.buf.len())];
                    changed |= self.state.handle(data, Instant::now());
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    self.state.overrun(Instant::now());
                    tracing::info!(
                        overruns = self.state.overruns,
                        "neighbour events were lost (socket buffer overrun); dumping the table again"
                    );
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if rtnl::timed_out(&e) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot receive neighbour events");
                    if flags == 0 {
                        thread::sleep(POLL);
                    }
                    break;
                }
            }
            flags = libc::MSG_DONTWAIT;
        }
        changed
    }
}

/// What the thread knows, apart from the socket: the table, and the dump in
/// flight if any.
struct State {
    table: NeighbourTable,
    dump: Option<Dump>,
    /// When to start a dump (none in flight): now at first, after an
    /// overrun, or a while after a failure.
    dump_wanted: Option<Instant>,
    /// A dump has completed: the table is the kernel's.
    synced: bool,
    last_error: Option<String>,
    overruns: u64,
}

struct Dump {
    seq: u32,
    table: NeighbourTable,
    /// Events were lost while it ran: dump again when it ends.
    lost: bool,
    started: Instant,
}

impl State {
    fn new(now: Instant) -> State {
        State {
            table: NeighbourTable::new(),
            dump: None,
            dump_wanted: Some(now),
            synced: false,
            last_error: None,
            overruns: 0,
        }
    }

    /// Whether to send a dump request now. Gives up on a dump in flight for
    /// too long (its DONE will never come).
    fn dump_due(&mut self, now: Instant) -> bool {
        if let Some(d) = &self.dump {
            if now.duration_since(d.started) < DUMP_DEADLINE {
                return false;
            }
            tracing::warn!("the neighbour table dump never finished; starting again");
            self.dump = None;
            self.dump_wanted = Some(now);
        }
        self.dump_wanted.is_some_and(|t| now >= t)
    }

    fn dump_started(&mut self, seq: u32, now: Instant) {
        self.dump = Some(Dump {
            seq,
            table: NeighbourTable::new(),
            lost: false,
            started: now,
        });
        self.dump_wanted = None;
    }

    fn dump_failed(&mut self, e: &io::Error, now: Instant) {
        tracing::warn!(error = %e, "cannot dump the neighbour table; retrying");
        self.last_error = Some(format!("({e})"));
        self.dump = None;
        self.dump_wanted = Some(now + POLL);
    }

    /// The kernel dropped notifications.
    fn overrun(&mut self, now: Instant) {
        self.overruns += 1;
        match &mut self.dump {
            Some(d) => d.lost = true,
            None => self.dump_wanted = Some(now),
        }
    }

    /// Apply one datagram. Returns whether the table changed.
    fn handle(&mut self, data: &[u8], now: Instant) -> bool {
        let mut changed = false;
        for m in rtnl::messages(data) {
            if let Some(d) = self.dump.as_mut().filter(|d| d.seq == m.seq) {
                match m.outcome() {
                    None if m.kind == RTM_NEWNEIGH => d.table.extend(neigh::parse_entry(m.payload)),
                    None => {}
                    Some(Ok(())) => changed |= self.dump_done(now),
                    Some(Err(e)) => self.dump_failed(&e, now),
                }
                continue;
            }
            // Notifications carry sequence number 0; anything else is a
            // reply to an abandoned dump.
            if m.seq != 0 || !matches!(m.kind, RTM_NEWNEIGH | RTM_DELNEIGH) {
                continue;
            }
            let Some((key, entry)) = neigh::parse_entry(m.payload) else {
                continue;
            };
            if m.kind == RTM_NEWNEIGH {
                if let Some(d) = &mut self.dump {
                    d.table.insert(key, entry);
                }
                changed |= self.table.insert(key, entry) != Some(entry);
            } else {
                if let Some(d) = &mut self.dump {
                    d.table.remove(&key);
                }
                changed |= self.table.remove(&key).is_some();
            }
        }
        changed
    }

    /// The dump in flight ended well: it becomes the table, unless events
    /// were lost meanwhile. Returns whether the table changed.
    fn dump_done(&mut self, now: Instant) -> bool {
        let Some(d) = self.dump.take() else {
            return false;
        };
        if d.lost {
            self.dump_wanted = Some(now);
            return false;
        }
        self.synced = true;
        self.last_error = None;
        let changed = d.table != self.table;
        self.table = d.table;
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::neigh::{Neighbour, Netlink};
    use crate::net::test_netns::{in_new_netns, ip};
    use netlink_packet_core::{
        DoneMessage, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_MULTIPART,
    };
    use netlink_packet_route::neighbour::{NeighbourAttribute, NeighbourMessage};
    use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
    use std::net::IpAddr;

    // ---- the state machine, fed synthetic datagrams ----

    fn frame(seq: u32, payload: NetlinkPayload<RouteNetlinkMessage>) -> Vec<u8> {
        let mut header = NetlinkHeader::default();
        header.sequence_number = seq;
        header.flags = NLM_F_MULTIPART;
        let mut msg = NetlinkMessage::new(header, payload);
        msg.finalize();
        let mut buf = vec![0; msg.buffer_len()];
        msg.serialize(&mut buf);
        buf
    }

    fn entry_msg(addr: &str, last: u8) -> NeighbourMessage {
        let addr: IpAddr = addr.parse().unwrap();
        let mut m = NeighbourMessage::default();
        m.header.family = if addr.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        };
        m.header.ifindex = 4;
        m.header.state = 0x02u16.into();
        m.attributes
            .push(NeighbourAttribute::Destination(addr.into()));
        m.attributes.push(NeighbourAttribute::LinkLayerAddress(vec![
            2, 0, 0, 0, 0, last,
        ]));
        m
    }

    fn new(seq: u32, addr: &str, last: u8) -> Vec<u8> {
        let m = RouteNetlinkMessage::NewNeighbour(entry_msg(addr, last));
        frame(seq, NetlinkPayload::InnerMessage(m))
    }

    fn del(addr: &str) -> Vec<u8> {
        let m = RouteNetlinkMessage::DelNeighbour(entry_msg(addr, 0));
        frame(0, NetlinkPayload::InnerMessage(m))
    }

    fn done(seq: u32) -> Vec<u8> {
        frame(seq, NetlinkPayload::Done(DoneMessage::default()))
    }

    fn mac_of(s: &State, addr: &str) -> Option<u8> {
        let n = s.table.get(&(4, addr.parse().unwrap()))?;
        Some(n.mac.unwrap()[5])
    }

    #[test]
    fn events_during_a_dump_apply_to_it_in_arrival_order() {
        let now = Instant::now();
        let mut s = State::new(now);
        assert!(s.dump_due(now));
        s.dump_started(5, now);
        assert!(!s.dump_due(now));
        // The dump reads A, then A changes and B goes (events), then the
        // dump reads B's replacement C, then DONE.
        let mut datagram = new(5, "10.0.0.1", 1);
        datagram.extend(new(5, "10.0.0.2", 1));
        assert!(
            !s.handle(&datagram, now),
            "a dump in flight changes nothing yet"
        );
        assert!(
            s.handle(&new(0, "10.0.0.1", 2), now),
            "events apply at once"
        );
        s.handle(&del("10.0.0.2"), now);
        s.handle(&new(5, "2001:db8::3", 1), now);
        assert!(!s.synced);
        assert!(s.handle(&done(5), now));
        assert!(s.synced);
        assert_eq!(mac_of(&s, "10.0.0.1"), Some(2));
        assert_eq!(mac_of(&s, "10.0.0.2"), None);
        assert_eq!(mac_of(&s, "2001:db8::3"), Some(1));
        assert_eq!(s.table.len(), 2);
        // Only real changes count.
        assert!(!s.handle(&new(0, "10.0.0.1", 2), now));
        assert!(!s.handle(&del("10.0.0.9"), now));
        assert!(s.handle(&del("10.0.0.1"), now));
        // Late replies of another dump are ignored.
        assert!(!s.handle(&new(4, "10.0.0.7", 1), now));
        assert!(!s.dump_due(now));
    }

    #[test]
    fn an_overrun_dumps_again_even_when_it_hits_a_dump_in_flight() {
        let now = Instant::now();
        let mut s = State::new(now);
        s.dump_started(1, now);
        s.handle(&new(1, "10.0.0.1", 1), now);
        s.overrun(now);
        s.handle(&done(1), now);
        assert!(!s.synced, "a dump that lost events is not adopted");
        assert!(s.dump_due(now));
        s.dump_started(2, now);
        s.handle(&new(2, "10.0.0.1", 1), now);
        assert!(s.handle(&done(2), now));
        assert!(s.synced);
        // Outside a dump, an overrun asks for one at once.
        assert!(!s.dump_due(now));
        s.overrun(now);
        assert!(s.dump_due(now));
        // A dump that never ends is given up.
        s.dump_started(3, now);
        assert!(!s.dump_due(now + POLL));
        assert!(s.dump_due(now + DUMP_DEADLINE));
    }

    #[test]
    fn a_failed_dump_is_retried_later() {
        let now = Instant::now();
        let mut s = State::new(now);
        s.dump_started(1, now);
        let mut err = netlink_packet_core::ErrorMessage::default();
        err.code = std::num::NonZeroI32::new(-libc::EBUSY);
        s.handle(&frame(1, NetlinkPayload::Error(err)), now);
        assert!(!s.synced);
        assert!(!s.dump_due(now));
        assert!(s.dump_due(now + 2 * POLL));
        assert!(s.last_error.as_deref().unwrap().contains("busy"));
    }

    // ---- against the kernel, in a throwaway network namespace ----

    /// A veth pair, its first end with ifindex 42, both up.
    const IFINDEX: u32 = 42;
    fn veth() {
        ip("link add name xlbt0 index 42 type veth peer name xlbt1");
        ip("link set xlbt0 up");
        ip("link set xlbt1 up");
    }

    /// Wait (at most 5 s) for the table to satisfy `ok`, looking again at
    /// every generation.
    fn wait_for(w: &NeighbourWatch, what: &str, ok: impl Fn(&NeighbourTable) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let generation = w.generation();
            let table = w.table();
            if ok(&table) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: never seen; table of {} entries, some: {:?}",
                table.len(),
                table.iter().take(8).collect::<Vec<_>>()
            );
            while w.generation() == generation && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
        }
    }

    const PERMANENT: u16 = 0x80;

    fn permanent(last: u8) -> Neighbour {
        Neighbour {
            mac: Some([2, 0, 0, 0, 0, last]),
            state: PERMANENT,
        }
    }

    #[test]
    fn the_watch_follows_additions_and_removals_of_both_families() {
        in_new_netns(|| {
            veth();
            let before: IpAddr = "192.0.2.8".parse().unwrap();
            ip("neigh replace 192.0.2.8 lladdr 02:00:00:00:00:08 dev xlbt0 nud permanent");
            let w = NeighbourWatch::start().unwrap();
            // The initial dump.
            assert_eq!(w.table().get(&(IFINDEX, before)), Some(&permanent(8)));
            assert_eq!(w.generation(), 0);

            let v4: IpAddr = "192.0.2.9".parse().unwrap();
            let v6: IpAddr = "2001:db8::9".parse().unwrap();
            ip("neigh replace 192.0.2.9 lladdr 02:00:00:00:00:09 dev xlbt0 nud permanent");
            ip("neigh replace 2001:db8::9 lladdr 02:00:00:00:00:0a dev xlbt0 nud permanent");
            wait_for(&w, "both new entries", |t| {
                t.get(&(IFINDEX, v4)) == Some(&permanent(9))
                    && t.get(&(IFINDEX, v6)) == Some(&permanent(10))
            });
            assert!(w.generation() > 0);

            ip("neigh replace 2001:db8::9 lladdr 02:00:00:00:00:0b dev xlbt0 nud permanent");
            wait_for(&w, "the changed MAC", |t| {
                t.get(&(IFINDEX, v6)) == Some(&permanent(11))
            });

            ip("neigh del 192.0.2.9 dev xlbt0");
            wait_for(&w, "the removal", |t| {
                !t.contains_key(&(IFINDEX, v4)) && t.contains_key(&(IFINDEX, v6))
            });

            // What the watch holds is what a fresh dump says, but for the
            // multicast entries IPv6 makes for itself (MLD reports): the
            // kernel creates them NOARP without a word.
            let unicast = |t: &NeighbourTable| {
                let mut t = t.clone();
                t.retain(|(_, addr), _| !addr.is_multicast());
                t
            };
            let dumped = unicast(&Netlink::open().unwrap().neighbours().unwrap());
            wait_for(&w, &format!("the dump {dumped:?}"), |t| {
                unicast(t) == dumped
            });

            // Dropping it stops the thread promptly.
            let t = Instant::now();
            drop(w);
            assert!(t.elapsed() < Duration::from_secs(1));
        });
    }

    #[test]
    fn after_lost_events_the_watch_dumps_again() {
        in_new_netns(|| {
            veth();
            // The smallest buffer the kernel allows holds a handful of
            // events: a burst from another process overruns it.
            let w = NeighbourWatch::start_with(0).unwrap();
            let n = 2000;
            let batch: String = (0..n)
                .map(|i| {
                    let (hi, lo) = (i / 256, i % 256);
                    format!("neigh replace 198.18.{hi}.{lo} lladdr 02:00:00:00:{hi:02x}:{lo:02x} dev xlbt0 nud permanent\n")
                })
                .collect();
            let file = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(file.path(), batch).unwrap();
            ip(&format!("-batch {}", file.path().display()));
            wait_for(&w, "every entry of the burst", |t| {
                // (After a dump, IPv6's multicast entries are there too.)
                t.keys().filter(|(_, a)| a.is_ipv4()).count() == n
            });
            let t = w.table();
            assert_eq!(
                t.get(&(IFINDEX, "198.18.7.207".parse().unwrap())),
                Some(&Neighbour {
                    mac: Some([2, 0, 0, 0, 7, 207]),
                    state: PERMANENT
                })
            );
            assert!(
                w.shared.overruns.load(Ordering::Relaxed) > 0,
                "the burst never overran the buffer: nothing tested"
            );
        });
    }

    #[test]
    fn a_poke_creates_an_entry_of_either_family() {
        in_new_netns(|| {
            veth();
            let mut nl = Netlink::open().unwrap();
            let v6: IpAddr = "2001:db8::5".parse().unwrap();
            let v4: IpAddr = "192.0.2.5".parse().unwrap();
            nl.poke(IFINDEX, v6).unwrap();
            nl.poke(IFINDEX, v4).unwrap();
            let table = nl.neighbours().unwrap();
            assert!(table.contains_key(&(IFINDEX, v6)), "{table:?}");
            assert!(table.contains_key(&(IFINDEX, v4)), "{table:?}");
            // Nobody answers on the other end: no MAC yet.
            assert_eq!(table[&(IFINDEX, v6)].usable_mac(), None);
            // A poke on an interface that does not exist is an error that says what was asked.
            let e = nl.poke(4242, v6).unwrap_err();
            assert!(e.to_string().contains("2001:db8::5"), "{e}");
        });
    }
}
