//! The forwarding decision for one frame, with no I/O: parse, find or create
//! the connection, rewrite in place, and say which port the frame leaves by.
//! The worker wraps this around its rings; tests feed it frames directly.

pub mod rewrite;

use crate::conn::{Conn, ConnTable, Direction, FlowKey, Side, TcpState};
use crate::sched::{Candidates, Scheduler};
use crate::snapshot::{Forwarding, PortId, Snapshot};
use crate::stats::{DropReason, WorkerStats};
use crate::wire::{Frame, ParseError, IPPROTO_TCP};
use rewrite::Endpoint;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (rewritten) frame out of this port.
    Forward(PortId),
    Drop(DropReason),
}

/// Connections examined by the expiry sweep per batch.
pub const SWEEP_BUDGET: usize = 64;

/// One worker's forwarding state: its connection table and its schedulers
/// for the snapshot it forwards with.
pub struct Forwarder {
    pub table: ConnTable,
    schedulers: Vec<Box<dyn Scheduler>>,
    generation: Option<u64>,
}

impl Forwarder {
    pub fn new(table_capacity: usize) -> Forwarder {
        Forwarder {
            table: ConnTable::with_capacity(table_capacity),
            schedulers: Vec::new(),
            generation: None,
        }
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
            .map(|s| s.scheduler.build(&s.reals))
            .collect();
        self.generation = Some(snap.generation);
    }

    /// Housekeeping once per batch: expire a bounded number of entries.
    pub fn end_batch(&mut self, snap: &Snapshot, stats: &WorkerStats, now: u32) {
        let gauges = &snap.gauges;
        self.table.sweep(now, SWEEP_BUDGET, |c| {
            gauges[c.real as usize].change(Some(c.is_active()), None);
            stats.conns_expired.add(1);
        });
        stats.set_conns_live(self.table.len() as u64);
    }

    /// Decide and rewrite one frame that arrived on `ingress`.
    pub fn process(
        &mut self,
        snap: &Snapshot,
        stats: &WorkerStats,
        now: u32,
        ingress: PortId,
        buf: &mut [u8],
    ) -> Verdict {
        debug_assert_eq!(self.generation, Some(snap.generation), "adopt() first");
        let f = match Frame::parse(buf) {
            Ok(f) => f,
            Err(e) => return drop(stats, parse_drop(e)),
        };
        if f.ip_options {
            stats.ip_options.add(1);
        }
        let key = FlowKey {
            src: f.src,
            dst: f.dst,
            sport: f.sport,
            dport: f.dport,
            proto: f.proto,
        };
        let gauges = &snap.gauges;
        let hit = self.table.lookup(&key, now, |c| {
            gauges[c.real as usize].change(Some(c.is_active()), None);
            stats.conns_expired.add(1);
        });
        let (idx, side) = match hit {
            Some(h) => h,
            None => match self.new_conn(snap, stats, now, ingress, &f, &key, buf) {
                Ok(idx) => (idx, Side::Client),
                Err(reason) => return drop(stats, reason),
            },
        };
        let len = (f.end - f.l3) as u64;
        let conn = self.table.get_mut(idx);
        let Some(route) = snap.real(conn.real).copied() else {
            // Its real server left the configuration: the connection goes
            // (IPVS expire_nodest_conn), a retried SYN gets a new server.
            let c = self.table.remove(idx).expect("live");
            gauges[c.real as usize].change(Some(c.is_active()), None);
            return drop(stats, DropReason::RealRemoved);
        };
        match side {
            Side::Client => {
                let Some(mac) = route.mac else {
                    return drop(stats, DropReason::NoNeighbour);
                };
                if conn.forwarding == Forwarding::Nat && !rewrite::decrement_ttl(buf, &f) {
                    return drop(stats, DropReason::TtlExpired);
                }
                let dir = match conn.forwarding {
                    Forwarding::Nat => Direction::Input,
                    Forwarding::Dr => Direction::InputOnly,
                };
                track(conn, snap, dir, f.tcp_flags, now);
                if conn.forwarding == Forwarding::Nat {
                    rewrite::nat(buf, &f, Endpoint::Destination, route.addr, route.port);
                }
                let src_mac = snap.ports[route.egress as usize].mac;
                rewrite::set_macs(buf, src_mac, mac);
                let (real, service) = (conn.real as usize, conn.service as usize);
                stats.reals[real].packets_in.add(1);
                stats.reals[real].bytes_in.add(len);
                stats.services[service].packets_in.add(1);
                stats.services[service].bytes_in.add(len);
                Verdict::Forward(route.egress)
            }
            Side::Real => {
                if !rewrite::decrement_ttl(buf, &f) {
                    return drop(stats, DropReason::TtlExpired);
                }
                track(conn, snap, Direction::Output, f.tcp_flags, now);
                let (vip, vport, port, mac) =
                    (conn.vip, conn.vport, conn.client_port, conn.client_mac);
                let (real, service) = (conn.real as usize, conn.service as usize);
                rewrite::nat(buf, &f, Endpoint::Source, vip, vport);
                rewrite::set_macs(buf, snap.ports[port as usize].mac, mac);
                stats.reals[real].packets_out.add(1);
                stats.reals[real].bytes_out.add(len);
                stats.services[service].packets_out.add(1);
                stats.services[service].bytes_out.add(len);
                Verdict::Forward(port)
            }
        }
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
    ) -> Result<u32, DropReason> {
        let (si, svc) = snap
            .service(f.dst, f.dport, f.proto)
            .ok_or(DropReason::NoService)?;
        // As IPVS without sloppy_tcp: only a SYN starts a TCP connection.
        if f.proto == IPPROTO_TCP
            && f.tcp_flags & (crate::wire::TcpHdr::SYN | crate::wire::TcpHdr::ACK)
                != crate::wire::TcpHdr::SYN
        {
            return Err(DropReason::NoConnection);
        }
        let cands = Candidates {
            reals: &svc.reals,
            gauges: &snap.gauges,
        };
        let ri = self.schedulers[si]
            .schedule(&cands, key)
            .ok_or(DropReason::NoRealServer)?;
        let real = &svc.reals[ri];
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
            real_port: real.port,
            service: svc.id,
            client_port: ingress,
            client_mac,
            state: TcpState::None,
            expires: now,
        };
        let idx = self
            .table
            .insert(conn)
            .map_err(|_| DropReason::ConnTableFull)?;
        snap.gauges[real.id as usize].change(None, Some(conn.is_active()));
        stats.conns_created.add(1);
        stats.reals[real.id as usize].conns.add(1);
        stats.services[svc.id as usize].conns.add(1);
        Ok(idx)
    }
}

/// Advance the connection's state and idle deadline, keeping the shared
/// active/inactive gauges in step.
#[inline]
fn track(conn: &mut Conn, snap: &Snapshot, dir: Direction, flags: u8, now: u32) {
    let timeout = if conn.proto == IPPROTO_TCP {
        let was = conn.is_active();
        conn.state = conn.state.next(dir, flags);
        if was != conn.is_active() {
            snap.gauges[conn.real as usize].change(Some(was), Some(conn.is_active()));
        }
        snap.timeouts.tcp(conn.state)
    } else {
        snap.timeouts.udp
    };
    conn.expires = now.wrapping_add(timeout);
}

#[inline]
fn drop(stats: &WorkerStats, reason: DropReason) -> Verdict {
    stats.drop(reason);
    Verdict::Drop(reason)
}

fn parse_drop(e: ParseError) -> DropReason {
    match e {
        ParseError::ShortEthernet => DropReason::ShortEthernet,
        ParseError::Ipv6 => DropReason::Ipv6,
        ParseError::UnknownEthertype => DropReason::UnknownEthertype,
        ParseError::BadIpHeader => DropReason::BadIpHeader,
        ParseError::BadIpLength => DropReason::BadIpLength,
        ParseError::Fragment => DropReason::Fragment,
        ParseError::UnsupportedProtocol => DropReason::UnsupportedProtocol,
        ParseError::BadL4Header => DropReason::BadL4Header,
    }
}

#[cfg(test)]
mod tests;
