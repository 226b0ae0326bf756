//! The forwarding decision for one frame, with no I/O: parse, find or create
//! the connection, rewrite in place, and say which port the frame leaves by.
//! The worker wraps this around its rings; tests feed it frames directly.

mod ftp_control;
mod rate;
pub mod rewrite;
mod syn_proxy;
mod tunnel;

use crate::conn::record::{self, UNKNOWN_PORT};
use crate::conn::{
    persist, Conn, ConnTable, Direction, FlowKey, PersistTable, RemoteNote, SharedTable, Side,
    SynProxied, TcpState,
};
use crate::inbox::Inbox;
use crate::sched::{Candidates, Scheduler};
use crate::snapshot::{Forwarding, PortId, ServiceId, Snapshot};
use crate::stats::{ConnGauge, DropReason, WorkerStats};
use crate::wire::{Frame, FrameBuf, ParseError, TcpHdr, IPPROTO_TCP};
use rewrite::Endpoint;
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (rewritten) frame out of this port.
    Forward(PortId),
    Drop(DropReason),
}

/// Live connections from which a batch's lookups are prefetched: about
/// 3 MB of table, beyond which lookups start missing the caches.
pub const PREFETCH_FROM: usize = 32 * 1024;
/// Frames prefetched per batch at most (the RX batch size).
pub const PREFETCH_BATCH: usize = 64;

/// The expiry sweep visits every slot of the table once per this many
/// milliseconds, however many batches that takes: its cost follows time,
/// not the loop rate (a busy-polling worker loops millions of times a
/// second, a sleeping one a few times), and other workers' notes are folded
/// in within this time either way.
pub const SWEEP_PASS_MS: u64 = 2000;
/// Slots one batch's sweep visits at most (bounds the pause it adds).
pub const SWEEP_MAX_PER_BATCH: usize = 8192;
/// Slots examined for a half-open entry to recycle when the table is full.
const EVICT_SCAN: usize = 64;

/// One worker's forwarding state: its connection table, read-only views of
/// the other workers' tables, and its schedulers for the current snapshot.
pub struct Forwarder {
    pub table: ConnTable,
    peers: Vec<Arc<SharedTable>>,
    /// Persistence templates, shared by all workers.
    persist: Option<Arc<PersistTable>>,
    schedulers: Vec<Box<dyn Scheduler>>,
    generation: Option<u64>,
    /// The FTP helper's sessions and expected data connections, shared by
    /// all workers.
    ftp: Option<Arc<crate::ftp::FtpHelper>>,
    /// Connections handed over from outside this worker.
    inbox: Option<Arc<Inbox>>,
    /// Where new connections and state changes go for synchronisation
    /// (None: sync is off).
    outbox: Option<Arc<crate::outbox::Outbox>>,
    /// Scratch for `prefetch_batch` (no allocation per batch).
    places: [crate::conn::Place; PREFETCH_BATCH],
    /// When the sweep last ran (monotonic milliseconds), and the slots it
    /// owes since, in slot-milliseconds.
    swept_at_ms: u64,
    sweep_credit: u64,
    /// When `auto` services are SYN-proxied.
    guard: crate::synproxy::Guard,
    /// Early data of SYN-proxied connections.
    parking: crate::synproxy::park::Parking,
    /// Services' new-connection rate limits.
    rates: rate::RateLimits,
    /// Identification of the last tunnel header sent without DF (from a
    /// random start: workers do not share a sequence).
    tunnel_ident: u16,
    /// ICMP errors this worker may still send (a bucket refilled one per
    /// millisecond of the batch clock), and when it was last refilled.
    icmp_tokens: u32,
    icmp_at_ms: u64,
}

/// ICMP errors per worker: at most one per millisecond on average, in
/// bursts of 50 (the kernel's icmp_msgs_per_sec is 1000, burst 50).
const ICMP_BURST: u32 = 50;

/// Where the connection a packet belongs to lives.
#[derive(Clone, Copy)]
enum Owner {
    Local(u32),
    Peer(usize, u32),
}

impl Forwarder {
    pub fn new(table_capacity: usize) -> Forwarder {
        Forwarder {
            table: ConnTable::with_capacity(table_capacity),
            peers: Vec::new(),
            persist: None,
            schedulers: Vec::new(),
            generation: None,
            ftp: None,
            inbox: None,
            outbox: None,
            places: [crate::conn::Place::default(); PREFETCH_BATCH],
            swept_at_ms: 0,
            sweep_credit: 0,
            guard: crate::synproxy::Guard::new(default_syn_proxy_threshold(table_capacity)),
            parking: crate::synproxy::park::Parking::new(),
            rates: rate::RateLimits::default(),
            tunnel_ident: {
                use std::hash::{BuildHasher, Hasher};
                std::collections::hash_map::RandomState::new()
                    .build_hasher()
                    .finish() as u16
            },
            icmp_tokens: ICMP_BURST,
            icmp_at_ms: 0,
        }
    }

    /// Batched lookups for tables larger than the caches: before
    /// processing a batch, start every frame's table cache misses at once
    /// (buckets for all, then slots for all) so they overlap instead of
    /// stalling packet after packet. A small table is in cache anyway and
    /// skips this (it would only add work).
    pub fn prefetch_batch<'a>(&mut self, frames: impl Iterator<Item = &'a [u8]>) {
        if self.table.len() < PREFETCH_FROM {
            return;
        }
        let t = self.table.shared_ref();
        let mut n = 0;
        for buf in frames.take(PREFETCH_BATCH) {
            if let Ok(f) = Frame::parse(buf) {
                self.places[n] = t.prefetch_buckets(&FlowKey::of(&f));
                n += 1;
            }
        }
        for p in &self.places[..n] {
            t.prefetch_slots(*p);
        }
    }

    pub fn set_ftp(&mut self, helper: Arc<crate::ftp::FtpHelper>) {
        self.ftp = Some(helper);
    }

    /// Where connections installed from outside this worker arrive.
    pub fn set_inbox(&mut self, inbox: Arc<Inbox>) {
        self.inbox = Some(inbox);
    }

    pub(crate) fn inbox(&self) -> Option<&Arc<Inbox>> {
        self.inbox.as_ref()
    }

    /// Report new connections and state changes there (connection sync).
    pub fn set_outbox(&mut self, outbox: Arc<crate::outbox::Outbox>) {
        self.outbox = Some(outbox);
    }

    /// Insert what the inbox holds (a bounded number per batch).
    fn drain_inbox(&mut self, snap: &Snapshot, stats: &WorkerStats, now: u32) {
        let Some(inbox) = self.inbox.clone() else {
            return;
        };
        for _ in 0..crate::inbox::PER_BATCH {
            let Some(rec) = inbox.pop() else {
                return;
            };
            let conn = match record::install(&rec, snap, now) {
                Ok(c) => c,
                Err(_) => {
                    stats.installs_refused.add(1);
                    continue;
                }
            };
            // The same connection already here (a repeated record): its
            // state and deadline follow the record. A record naming
            // another server is a new connection on the same ports (the
            // client reused them after TIME_WAIT): it replaces the entry,
            // unless that one is established here (a forged record, or both
            // directors scheduled it), which stays as it is.
            let key = conn.client_key();
            if let Some((idx, _, mut have)) = self.table.lookup(&key, now, |_| {}) {
                if (have.real_addr, have.real_port) != (conn.real_addr, conn.real_port) {
                    if have.is_active() || have.proto != IPPROTO_TCP {
                        stats.installs_refused.add(1);
                        continue;
                    }
                    let old = self.table.remove(idx).expect("live");
                    snap.gauges[old.real as usize].change(Some(old.is_active()), None);
                    self.insert_installed(snap, stats, now, conn);
                    continue;
                }
                have.state = conn.state;
                have.expires = conn.expires;
                if conn.syn_proxy == SynProxied::Spliced {
                    have.syn_proxy = conn.syn_proxy;
                    have.seq_delta = conn.seq_delta;
                }
                // A record resolved since (the client's next hop): replies
                // may leave before the client's next frame.
                if have.client_port == UNKNOWN_PORT && conn.client_port != UNKNOWN_PORT {
                    have.client_port = conn.client_port;
                    have.client_mac = conn.client_mac;
                }
                self.table.update(idx, &have);
                stats.conns_installed.add(1);
                continue;
            }
            // A connection another worker of this director holds (its
            // packets' queue chose that one): not installed twice.
            if self.find_in_peers(&key, now).is_some() {
                stats.installs_refused.add(1);
                continue;
            }
            self.insert_installed(snap, stats, now, conn);
        }
    }

    fn insert_installed(&mut self, snap: &Snapshot, stats: &WorkerStats, now: u32, conn: Conn) {
        self.claim_replies(snap, stats, now, &conn);
        match self.table.insert(conn) {
            Ok(_) => {
                snap.gauges[conn.real as usize].change(None, Some(conn.is_active()));
                stats.conns_installed.add(1);
            }
            Err(_) => stats.installs_refused.add(1),
        }
    }

    /// The other workers' tables, searched when a packet misses this one
    /// (a NAT reply that RSS put on this worker's queue).
    pub fn set_peers(&mut self, peers: Vec<Arc<SharedTable>>) {
        self.peers = peers;
    }

    pub fn set_persistence(&mut self, table: Arc<PersistTable>) {
        self.persist = Some(table);
    }

    /// Adopt a snapshot: rebuild per-service scheduler state when it changed.
    /// Called at batch boundaries, never per packet.
    pub fn adopt(&mut self, snap: &Snapshot) {
        if self.generation == Some(snap.generation) {
            return;
        }
        self.schedulers = snap
            .services
            .iter()
            .map(|s| crate::sched::build(s.scheduler, &s.reals))
            .collect();
        self.rates.adopt(snap, self.swept_at_ms);
        self.guard.set_threshold(match snap.syn_proxy_threshold {
            0 => default_syn_proxy_threshold(self.table.capacity()),
            n => n,
        });
        self.generation = Some(snap.generation);
    }

    /// Housekeeping once per batch: fold in other workers' notes and expire
    /// idle entries, sweeping the table at the pace `SWEEP_PASS_MS` sets.
    /// `now_ms` is the worker's monotonic clock in milliseconds (the
    /// seconds `process` takes are `now_ms / 1000`).
    pub fn end_batch(&mut self, snap: &Snapshot, stats: &WorkerStats, now_ms: u64) {
        let now = (now_ms / 1000) as u32;
        if self.inbox.as_ref().is_some_and(|i| !i.is_empty()) {
            self.drain_inbox(snap, stats, now);
        }
        self.take_splices(snap, stats, now);
        let capacity = self.table.capacity() as u64;
        // Credit in slot-milliseconds; at most one pass is ever owed, and a
        // backlog (after an idle worker's sleep) is paid over the next
        // batches rather than in one long pause.
        let elapsed = now_ms.saturating_sub(self.swept_at_ms);
        self.swept_at_ms = now_ms;
        self.sweep_credit = self
            .sweep_credit
            .saturating_add(capacity.saturating_mul(elapsed))
            .min(capacity * SWEEP_PASS_MS);
        let budget = (self.sweep_credit / SWEEP_PASS_MS).min(SWEEP_MAX_PER_BATCH as u64);
        if budget > 0 {
            self.sweep_credit -= budget * SWEEP_PASS_MS;
            let persist = self.persist.as_deref();
            let outbox = self.outbox.as_deref();
            let pass = self.table.sweep(
                now,
                budget as usize,
                |c, note| {
                    // Another worker's packets moved its state: the other
                    // director hears of it as of the owner's own packets.
                    let before = c.state;
                    merge_note(c, note, snap);
                    if let Some(out) = outbox {
                        if worth_syncing(c, Some(before)) && !out.offer(c) {
                            stats.sync_overflow.add(1);
                        }
                    }
                },
                |c| count_expired(snap, stats, persist, c, now),
            );
            if let Some(half_open) = pass {
                self.guard.pass_done(half_open);
            }
        }
        stats.set_conns_live(self.table.len() as u64);
        stats.set_syn_proxy_engaged(self.guard.engaged());
    }

    /// Decide and rewrite one frame that arrived on `ingress`, in a buffer
    /// with no room around it (see `process_frame`).
    pub fn process(
        &mut self,
        snap: &Snapshot,
        stats: &WorkerStats,
        now: u32,
        ingress: PortId,
        buf: &mut [u8],
    ) -> Verdict {
        self.process_frame(snap, stats, now, ingress, &mut FrameBuf::whole(buf))
    }

    /// Decide and rewrite one frame in its UMEM frame: the FTP helper may
    /// grow or shrink it at its tail; an encapsulating forwarder would
    /// prepend into its headroom. The frame leaves as `pkt` then says.
    pub fn process_frame(
        &mut self,
        snap: &Snapshot,
        stats: &WorkerStats,
        now: u32,
        ingress: PortId,
        pkt: &mut FrameBuf<'_>,
    ) -> Verdict {
        debug_assert_eq!(self.generation, Some(snap.generation), "adopt() first");
        let headroom = pkt.headroom();
        let (room, len) = pkt.tail_parts();
        let buf = &mut room[..*len];
        let mut f = match Frame::parse(buf) {
            Ok(f) => f,
            Err(e) => return drop(stats, parse_drop(e)),
        };
        if f.ip_options {
            stats.ip_options.add(1);
        }
        let key = FlowKey::of(&f);
        let gauges = &snap.gauges;
        let persist = self.persist.as_deref();
        // A connection leaving the table: counts and its template.
        let ended = |c: &Conn| count_expired(snap, stats, persist, c, now);
        let hit = self.table.lookup(&key, now, ended);
        // A client reusing the ports of a connection in TIME_WAIT (or reset)
        // starts a new one: schedule it afresh, as IPVS's conn_reuse_mode
        // does, rather than send it to the old (maybe removed) server.
        let hit = match hit {
            Some((idx, Side::Client, c)) if reuses_ports(&c, &f) => {
                ended(&self.table.remove(idx).expect("live"));
                None
            }
            // The server's side of an ended connection, while another
            // worker holds a newer one on the same ports (another
            // service's, NATed to the same server port): the server
            // answers that one.
            Some((_, Side::Real, c))
                if c.has_ended() && self.open_in_peers_from(0, &key, now).is_some() =>
            {
                None
            }
            h => h,
        };
        // What the table holds, to write back only what changed.
        let mut stored = None;
        // The SYN proxy turned the client's ACK into the server's SYN.
        let mut proxy_opened = false;
        let (owner, side, mut conn) = match hit {
            Some((idx, side, mut c)) => {
                if let Some(note) = self.table.take_note(idx) {
                    // Written back at once: the gauges moved with it, and
                    // this packet may yet be dropped before the write at
                    // the end (a state counted twice otherwise).
                    merge_note(&mut c, note, snap);
                    self.table.update(idx, &c);
                }
                stored = Some((c.state, c.expires, c.client_port));
                (Owner::Local(idx), side, c)
            }
            None => match self.find_in_peers(&key, now) {
                Some(found) => {
                    stats.remote_hits.add(1);
                    found
                }
                None => {
                    let mut opened = None;
                    // A SYN only while some service may be proxied now
                    // (no second classification of every SYN otherwise);
                    // an ACK that may carry a cookie.
                    let maybe = f.proto == IPPROTO_TCP
                        && snap.syn_proxy
                        && if is_bare_syn(&f) {
                            snap.syn_proxy_on || self.guard.engaged()
                        } else {
                            syn_proxy::is_handshake_ack(f.tcp_flags)
                        };
                    if maybe {
                        match self.syn_proxy_miss(snap, stats, now, ingress, &f, room, len) {
                            syn_proxy::Miss::Pass => {}
                            syn_proxy::Miss::Answered => return Verdict::Forward(ingress),
                            syn_proxy::Miss::Opened(syn, isn) => {
                                f = syn;
                                opened = Some(isn);
                                proxy_opened = true;
                            }
                            syn_proxy::Miss::Drop(reason, service) => {
                                stats.drop_at(reason, service, None);
                                return Verdict::Drop(reason);
                            }
                        }
                    }
                    let buf = &room[..*len];
                    match self.new_conn(snap, stats, now, ingress, &f, &key, buf) {
                        Ok((idx, mut c)) => {
                            if let Some(isn) = opened {
                                c.syn_proxy = SynProxied::AwaitingServer;
                                c.seq_delta = isn;
                                self.table.update(idx, &c);
                                stats.syn_cookies_accepted.add(1);
                            }
                            (Owner::Local(idx), Side::Client, c)
                        }
                        // The client thinks it is connected: it hears
                        // that it is not (the limits, a full table, no
                        // server), rather than wait for nothing.
                        Err((reason, service)) if opened.is_some() => {
                            let isn = opened.unwrap_or_default();
                            if let Some(s) = service {
                                stats.drop_at(reason, s, None);
                            } else {
                                stats.drop(reason);
                            }
                            return match syn_proxy::reset_client(snap, ingress, &f, room, len, isn)
                            {
                                Some(()) => Verdict::Forward(ingress),
                                None => Verdict::Drop(reason),
                            };
                        }
                        Err((DropReason::NoService, None)) if snap.ftp => {
                            match self.expected_conn(snap, stats, now, ingress, &f, buf) {
                                Some(found) => found,
                                None => return drop(stats, DropReason::NoService),
                            }
                        }
                        Err((reason, None)) => return drop(stats, reason),
                        Err((reason, Some(service))) => {
                            stats.drop_at(reason, service, None);
                            return Verdict::Drop(reason);
                        }
                    }
                }
            },
        };
        let Some(route) = snap.real(conn.real).copied() else {
            // Its real server left the configuration: the connection goes
            // (IPVS expire_nodest_conn), a retried SYN gets a new server.
            // A peer's connection is left to its owner.
            if let Owner::Local(idx) = owner {
                let c = self.table.remove(idx).expect("live");
                gauges[c.real as usize].change(Some(c.is_active()), None);
            }
            stats.drop_at(DropReason::RealRemoved, conn.service, None);
            return Verdict::Drop(DropReason::RealRemoved);
        };
        // The SYN proxy's connections: numbers translated, or the server's
        // handshake completed here.
        let mut handshake = None;
        if conn.syn_proxy != SynProxied::No && !proxy_opened {
            let awaiting = conn.syn_proxy == SynProxied::AwaitingServer;
            let from_client = side == Side::Client;
            match self.syn_proxy_segment(
                snap,
                stats,
                now,
                &mut conn,
                from_client,
                &route,
                &f,
                room,
                len,
            ) {
                syn_proxy::Step::Forward => {}
                // Not a loss: it leaves with the server's handshake.
                syn_proxy::Step::Parked => return Verdict::Drop(DropReason::SynProxyWait),
                syn_proxy::Step::SynAgain(syn) => f = syn,
                syn_proxy::Step::Handshake(port) => {
                    // Another worker holds the connection (RSS put the
                    // server's side here): it takes the offset at its next
                    // batch. Without room for it, the server's SYN-ACK
                    // comes again.
                    if let (Owner::Peer(p, idx), true) = (owner, awaiting) {
                        let splice = crate::conn::Splice {
                            slot: idx,
                            client: conn.client,
                            cport: conn.cport,
                            seq_delta: conn.seq_delta,
                        };
                        if !self.peers[p].post_splice(splice) {
                            stats.drop_at(DropReason::SynProxyWait, conn.service, Some(conn.real));
                            return Verdict::Drop(DropReason::SynProxyWait);
                        }
                    }
                    handshake = Some(port);
                }
                syn_proxy::Step::Drop(reason) => {
                    stats.drop_at(reason, conn.service, Some(conn.real));
                    return Verdict::Drop(reason);
                }
            }
        }
        // The FTP helper edits control connections before NAT does.
        let f = if snap.ftp && f.proto == IPPROTO_TCP {
            match self.ftp_control(snap, stats, now, side, &conn, room, len, f) {
                Some(f) => f,
                None => return drop(stats, DropReason::BadL4Header),
            }
        } else {
            f
        };
        let buf = &mut room[..*len];
        let ip_bytes = (f.end - f.l3) as u64;
        let (real, service) = (conn.real as usize, conn.service as usize);
        let drop = |reason| {
            stats.drop_at(reason, conn.service, Some(conn.real));
            Verdict::Drop(reason)
        };
        // TUN: the outer header, written once the frame is free to grow.
        let mut tunnel = None;
        let verdict = match (handshake, side) {
            (Some(port), _) => Verdict::Forward(port),
            (None, Side::Client) => {
                let Some(mac) = route.mac else {
                    return drop(DropReason::NoNeighbour);
                };
                if conn.client_port == UNKNOWN_PORT {
                    // Installed from a record: the client's first frame
                    // tells where its replies go.
                    conn.client_port = ingress;
                    conn.client_mac.copy_from_slice(&buf[6..12]);
                }
                if conn.forwarding == Forwarding::Nat && !rewrite::decrement_ttl(buf, &f) {
                    return drop(DropReason::TtlExpired);
                }
                if conn.forwarding == Forwarding::Nat {
                    // The connection's port: a firewall-mark server (port 0)
                    // keeps the one the client asked for.
                    rewrite::nat(buf, &f, Endpoint::Destination, route.addr, conn.real_port);
                }
                if conn.forwarding == Forwarding::Tun {
                    // IPv4 in IPv4 only: the configuration refuses TUN for
                    // IPv6 services, so this is a record from elsewhere.
                    if f.v6 {
                        return drop(DropReason::NoTunnelSource);
                    }
                    if headroom < tunnel::IPV4_HEADER {
                        return drop(DropReason::NoHeadroom);
                    }
                    let port = &snap.ports[route.egress as usize];
                    match tunnel::outer_header(
                        buf,
                        &f,
                        port,
                        route.addr.low32(),
                        &mut self.tunnel_ident,
                    ) {
                        Ok(outer) => tunnel = Some(outer),
                        Err(tunnel::Refusal::TooBig { df, tunnel_mtu }) => {
                            // An ICMP error only to a unicast sender, and
                            // at the kernel's rate: it must not become a
                            // reflector for spoofed sources.
                            if !df || !tunnel::may_answer(f.src) || !self.icmp_token() {
                                return drop(DropReason::TooBig);
                            }
                            let mac = snap.ports[usize::from(ingress)].mac;
                            let Some(n) = tunnel::frag_needed(buf, &f, mac, tunnel_mtu) else {
                                return drop(DropReason::TooBig);
                            };
                            stats.drop_at(DropReason::TooBig, conn.service, Some(conn.real));
                            stats.frag_needed_sent.add(1);
                            *len = n;
                            return Verdict::Forward(ingress);
                        }
                        Err(tunnel::Refusal::NoSource) => return drop(DropReason::NoTunnelSource),
                    }
                }
                rewrite::set_macs(buf, snap.ports[route.egress as usize].mac, mac);
                if conn.persistent {
                    keep_template_fresh(self.persist.as_deref(), snap, &conn, now);
                }
                stats.reals[real].packets_in.add(1);
                stats.reals[real].bytes_in.add(ip_bytes);
                stats.services[service].packets_in.add(1);
                stats.services[service].bytes_in.add(ip_bytes);
                Verdict::Forward(route.egress)
            }
            (None, Side::Real) => {
                let port = conn.client_port;
                if usize::from(port) >= snap.ports.len() {
                    // Installed from a record and no client frame yet:
                    // nowhere known to send the reply.
                    return drop(DropReason::NoNeighbour);
                }
                if !rewrite::decrement_ttl(buf, &f) {
                    return drop(DropReason::TtlExpired);
                }
                rewrite::nat(buf, &f, Endpoint::Source, conn.vip, conn.vport);
                rewrite::set_macs(buf, snap.ports[port as usize].mac, conn.client_mac);
                stats.reals[real].packets_out.add(1);
                stats.reals[real].bytes_out.add(ip_bytes);
                stats.services[service].packets_out.add(1);
                stats.services[service].bytes_out.add(ip_bytes);
                Verdict::Forward(port)
            }
        };
        let dir = match (side, conn.forwarding) {
            (Side::Real, _) => Direction::Output,
            (Side::Client, Forwarding::Nat) => Direction::Input,
            (Side::Client, Forwarding::Dr | Forwarding::Tun) => Direction::InputOnly,
        };
        // The server's SYN-ACK left as the client's ACK: that is what the
        // connection saw (SYN_RECV -> ESTABLISHED).
        let (dir, flags) = match handshake {
            Some(_) => (Direction::Input, TcpHdr::ACK),
            None => (dir, f.tcp_flags),
        };
        match owner {
            Owner::Local(idx) => {
                track(&mut conn, Some(gauges), dir, flags, now, snap);
                // The deadline is in coarse seconds and the state rarely
                // moves: most packets leave the slot alone, sparing the
                // seqlock write and other workers' read retries.
                if stored != Some((conn.state, conn.expires, conn.client_port))
                    || handshake.is_some()
                {
                    self.table.update(idx, &conn);
                }
                // New, or in a new state that matters: the other director
                // hears of it (a full queue loses it, counted).
                if let Some(out) = &self.outbox {
                    if worth_syncing(&conn, stored.map(|s| s.0)) && !out.offer(&conn) {
                        stats.sync_overflow.add(1);
                    }
                }
            }
            Owner::Peer(p, idx) => {
                // The owner applies the flags (and the gauges) later; the
                // deadline is computed here so the owner keeps it alive.
                track(&mut conn, None, dir, flags, now, snap);
                let input = side == Side::Client;
                self.peers[p].note_remote(idx, input, flags, conn.expires);
            }
        }
        if let Some(outer) = tunnel {
            // The headroom was checked before anything was tracked.
            let wrapped = tunnel::encapsulate(pkt, f.l3, f.end, &outer);
            debug_assert!(wrapped);
        }
        verdict
    }

    /// The connection a peer holds for `key`. On the server's side, one
    /// that has not ended comes before one that has: the server answers
    /// the newest connection on its ports (see `ConnTable::yield_real_key`).
    #[inline]
    fn find_in_peers(&self, key: &FlowKey, now: u32) -> Option<(Owner, Side, Conn)> {
        for (p, t) in self.peers.iter().enumerate() {
            let Some((idx, side, c)) = t.find(key) else {
                continue;
            };
            // A connection idle past its own deadline is the owner's to
            // expire; but a remote note may have extended it, so only a
            // long-dead one is skipped.
            if now.wrapping_sub(c.expires) as i32 > 3600 {
                continue;
            }
            let found = (Owner::Peer(p, idx), side, c);
            if side == Side::Real && c.has_ended() {
                return self.open_in_peers_from(p + 1, key, now).or(Some(found));
            }
            return Some(found);
        }
        None
    }

    /// A connection for `key` that has not ended, in a peer from `first` on.
    #[cold]
    fn open_in_peers_from(
        &self,
        first: usize,
        key: &FlowKey,
        now: u32,
    ) -> Option<(Owner, Side, Conn)> {
        let peers = self.peers.iter().enumerate().skip(first);
        peers.into_iter().find_map(|(p, t)| {
            let (idx, side, c) = t.find(key)?;
            let live = now.wrapping_sub(c.expires) as i32 <= 3600 && !c.has_ended();
            live.then_some((Owner::Peer(p, idx), side, c))
        })
    }

    #[allow(clippy::too_many_arguments)] // the pieces of one packet's context
    fn new_conn(
        &mut self,
        snap: &Snapshot,
        stats: &WorkerStats,
        now: u32,
        ingress: PortId,
        f: &Frame,
        key: &FlowKey,
        buf: &[u8],
    ) -> Result<(u32, Conn), (DropReason, Option<ServiceId>)> {
        let (si, svc) = snap
            .classify(f.dst, f.dport, f.proto)
            .ok_or((DropReason::NoService, None))?;
        let fail = |r| (r, Some(svc.id));
        // Only a SYN starts a TCP connection, as in IPVS; with sloppy_tcp
        // any segment but a RST or SYN-ACK does: a flow that another
        // director started (ECMP moved it here), which the service's
        // hash sends to the server that director chose. It starts in
        // CLOSE, as in IPVS (10 s idle: a flood of made-up ACKs does not
        // hold the table for long), and is not refused by the limits on new
        // connections: it is not new.
        let picked_up = f.proto == IPPROTO_TCP && !is_bare_syn(f);
        if picked_up && !(svc.sloppy_tcp && f.tcp_flags & (TcpHdr::RST | TcpHdr::SYN) == 0) {
            return Err(fail(DropReason::NoConnection));
        }
        // This worker's share of the cap, rounded up: a client's
        // connections spread over the workers by RSS, and counting them
        // together would put a shared write on every new connection.
        let per_client = svc.max_conns_per_client > 0;
        if per_client && !picked_up {
            let share = svc
                .max_conns_per_client
                .div_ceil(snap.workers.max(1) as u32);
            if self.table.client_conns(svc.id, f.src) >= share {
                return Err(fail(DropReason::ClientCap));
            }
        }
        // The batch's clock: close enough for a per-second rate.
        if !picked_up && !self.rates.admit(si, self.swept_at_ms) {
            return Err(fail(DropReason::RateLimited));
        }
        let cands = Candidates {
            reals: &svc.reals,
            gauges: &snap.gauges,
        };
        // A live template sends the client back to its server, if that
        // server may still take connections (quiesced or failed: schedule
        // afresh and replace the template).
        let template = match (svc.persistence, self.persist.as_deref()) {
            (Some(p), Some(t)) => Some((p, t, persist::masked(f.src, p.prefix))),
            _ => None,
        };
        let remembered = template.and_then(|(_, t, client)| {
            let id = t.get(svc.id, client, now)?;
            svc.reals.iter().find(|r| r.id == id && r.schedulable())
        });
        let real = match remembered {
            Some(r) => r,
            None => match self.schedulers[si].schedule(&cands, key) {
                Some(ri) => &svc.reals[ri],
                None => svc
                    .sorry
                    .as_ref()
                    .filter(|s| s.schedulable())
                    .ok_or(fail(DropReason::NoRealServer))?,
            },
        };
        if let Some((p, t, client)) = template {
            t.set(svc.id, client, real.id, now.wrapping_add(p.timeout), now);
        }
        let mut client_mac = [0u8; 6];
        client_mac.copy_from_slice(&buf[6..12]);
        let conn = Conn {
            client: f.src,
            cport: f.sport,
            vip: f.dst,
            vport: f.dport,
            proto: f.proto,
            forwarding: svc.forwarding,
            real: real.id,
            real_addr: real.addr,
            real_port: if real.port == 0 { f.dport } else { real.port },
            service: svc.id,
            client_port: ingress,
            client_mac,
            state: TcpState::None,
            expires: now,
            persistent: template.is_some(),
            syn_proxy: SynProxied::No,
            seq_delta: 0,
            per_client,
        };
        let idx = self.admit(snap, stats, now, conn).map_err(fail)?;
        if picked_up {
            stats.conns_picked_up.add(1);
        }
        Ok((idx, conn))
    }

    /// Take one ICMP error from the bucket, refilled on the batch clock.
    fn icmp_token(&mut self) -> bool {
        let now = self.swept_at_ms;
        let refill = now.saturating_sub(self.icmp_at_ms);
        if refill > 0 {
            self.icmp_tokens =
                (u64::from(self.icmp_tokens) + refill).min(u64::from(ICMP_BURST)) as u32;
            self.icmp_at_ms = now;
        }
        if self.icmp_tokens == 0 {
            return false;
        }
        self.icmp_tokens -= 1;
        true
    }

    /// A NAT connection about to be inserted gets its server's replies
    /// (see `ConnTable::yield_real_key`); an ended connection that had
    /// them leaves, counted as expired.
    fn claim_replies(&mut self, snap: &Snapshot, stats: &WorkerStats, now: u32, conn: &Conn) {
        if conn.forwarding != Forwarding::Nat {
            return;
        }
        if let Some(old) = self.table.yield_real_key(&conn.real_key()) {
            count_expired(snap, stats, self.persist.as_deref(), &old, now);
        }
    }

    /// Insert a new connection and count it.
    fn admit(
        &mut self,
        snap: &Snapshot,
        stats: &WorkerStats,
        now: u32,
        conn: Conn,
    ) -> Result<u32, DropReason> {
        self.claim_replies(snap, stats, now, &conn);
        let idx = match self.table.insert(conn) {
            Ok(idx) => idx,
            Err(_) => {
                // Full: recycle a half-open entry (SYN flood defence), else
                // drop; either way, `auto` services now get the SYN proxy.
                self.guard.table_overflowed();
                let victim = self
                    .table
                    .evict_half_open(EVICT_SCAN)
                    .ok_or(DropReason::ConnTableFull)?;
                snap.gauges[victim.real as usize].change(Some(victim.is_active()), None);
                stats.conns_evicted.add(1);
                self.table
                    .insert(conn)
                    .map_err(|_| DropReason::ConnTableFull)?
            }
        };
        snap.gauges[conn.real as usize].change(None, Some(conn.is_active()));
        stats.conns_created.add(1);
        stats.reals[conn.real as usize].conns.add(1);
        stats.services[conn.service as usize].conns.add(1);
        Ok(idx)
    }
}

/// Half-open connections per worker above which `auto` services are
/// SYN-proxied, unless configured: an eighth of the table.
fn default_syn_proxy_threshold(capacity: usize) -> usize {
    (capacity / 8).max(64)
}

/// A client's bare SYN on a TCP connection that has ended.
#[inline]
fn reuses_ports(c: &Conn, f: &Frame) -> bool {
    c.has_ended() && is_bare_syn(f)
}

/// SYN without ACK: the only TCP segment that may open a connection.
#[inline]
fn is_bare_syn(f: &Frame) -> bool {
    f.tcp_flags & (TcpHdr::SYN | TcpHdr::ACK) == TcpHdr::SYN
}

/// The persistence of the service a connection belongs to.
fn persistence_of(snap: &Snapshot, c: &Conn) -> Option<crate::snapshot::Persistence> {
    snap.classify(c.vip, c.vport, c.proto)?.1.persistence
}

/// A connection left the table (idle, ended, or made way for a newer one):
/// its server's gauges, the expired count and its template.
fn count_expired(
    snap: &Snapshot,
    stats: &WorkerStats,
    persist: Option<&PersistTable>,
    c: &Conn,
    now: u32,
) {
    snap.gauges[c.real as usize].change(Some(c.is_active()), None);
    stats.conns_expired.add(1);
    template_outlives(persist, snap, c, now);
}

/// A connection ended: its template lives the full timeout from now (IPVS:
/// the template outlives its connections).
fn template_outlives(persist: Option<&PersistTable>, snap: &Snapshot, c: &Conn, now: u32) {
    if let (true, Some(t)) = (c.persistent, persist) {
        if let Some(p) = persistence_of(snap, c) {
            let client = persist::masked(c.client, p.prefix);
            t.extend(c.service, client, c.real, now.wrapping_add(p.timeout));
        }
    }
}

/// While a persistent connection carries traffic its template must not run
/// out; refreshed when less than half the timeout is left (one shared write
/// per client per half-timeout, not per packet).
#[inline]
fn keep_template_fresh(persist: Option<&PersistTable>, snap: &Snapshot, c: &Conn, now: u32) {
    let (Some(t), Some(p)) = (persist, persistence_of(snap, c)) else {
        return;
    };
    let client = persist::masked(c.client, p.prefix);
    if t.remaining(c.service, client, c.real, now)
        .is_some_and(|left| left < p.timeout / 2)
    {
        t.extend(c.service, client, c.real, now.wrapping_add(p.timeout));
    }
}

/// Advance the connection's state and idle deadline; with `gauges`, keep
/// the shared active/inactive counts in step (only the owner does).
#[inline]
fn track(
    conn: &mut Conn,
    gauges: Option<&[ConnGauge]>,
    dir: Direction,
    flags: u8,
    now: u32,
    snap: &Snapshot,
) {
    let timeout = if conn.proto == IPPROTO_TCP {
        let was = conn.is_active();
        conn.state = conn.state.next(dir, flags);
        if let Some(g) = gauges {
            if was != conn.is_active() {
                g[conn.real as usize].change(Some(was), Some(conn.is_active()));
            }
        }
        snap.timeouts.tcp(conn.state)
    } else {
        snap.timeouts.udp
    };
    conn.expires = now.wrapping_add(timeout);
}

/// Fold what other workers saw into the owner's copy: their TCP flags
/// (client side first, then the real server's, in IPVS's event priority)
/// and the later of the two deadlines.
fn merge_note(conn: &mut Conn, note: RemoteNote, snap: &Snapshot) {
    let g = Some(&snap.gauges[..]);
    let expires = conn.expires;
    let input_dir = match conn.forwarding {
        Forwarding::Nat => Direction::Input,
        Forwarding::Dr | Forwarding::Tun => Direction::InputOnly,
    };
    for (dir, flags) in [
        (input_dir, note.input_flags),
        (Direction::Output, note.output_flags),
    ] {
        for bit in [TcpHdr::SYN, TcpHdr::ACK, TcpHdr::FIN, TcpHdr::RST] {
            if flags & bit != 0 {
                track(conn, g, dir, bit, 0, snap);
            }
        }
    }
    conn.expires = match note.expires {
        Some(e) if (e.wrapping_sub(expires) as i32) > 0 => e,
        _ => expires,
    };
}

#[inline]
fn drop(stats: &WorkerStats, reason: DropReason) -> Verdict {
    stats.drop(reason);
    Verdict::Drop(reason)
}

fn parse_drop(e: ParseError) -> DropReason {
    match e {
        ParseError::ShortEthernet => DropReason::ShortEthernet,
        ParseError::UnknownEthertype => DropReason::UnknownEthertype,
        ParseError::BadIpHeader => DropReason::BadIpHeader,
        ParseError::BadIpLength => DropReason::BadIpLength,
        ParseError::Fragment => DropReason::Fragment,
        ParseError::BadExtensionHeader => DropReason::BadExtensionHeader,
        ParseError::UnsupportedProtocol => DropReason::UnsupportedProtocol,
        ParseError::BadL4Header => DropReason::BadL4Header,
    }
}

#[cfg(test)]
mod tests;

/// Whether the other director hears of `c`, whose state was `before`
/// (`None`: it is new). UDP: when it starts. TCP: once established, and
/// on each later change; never while half-open, as IPVS's sync threshold
/// keeps half-open connections to itself: a SYN flood does not reach the
/// sync link or the peer's table, and a handshake that fails (reset,
/// timeout) was never sent.
fn worth_syncing(c: &Conn, before: Option<TcpState>) -> bool {
    if c.proto != IPPROTO_TCP {
        return before.is_none();
    }
    // Without its offset yet, useless elsewhere: it goes once spliced.
    if c.syn_proxy == SynProxied::AwaitingServer {
        return false;
    }
    if before == Some(c.state) || c.is_half_open() {
        return false;
    }
    // Opened mid-flow (sloppy_tcp): maybe made up; the peer hears of it
    // once a SYN has started it properly.
    if before.is_none() && c.state == TcpState::Close {
        return false;
    }
    c.state == TcpState::Established || !before.is_some_and(TcpState::is_half_open)
}
