//! The sending side: every tick, drain what the workers reported (new
//! connections, state changes), describe each in portable terms, pack
//! them into as few datagrams as fit, and send them. A tick is short
//! (`TICK`) so that a connection reaches the peer well within 100 ms of
//! its creation; under load a tick fills whole datagrams.

use super::stats::SyncStats;
use super::SyncSocket;
use crate::daemon::DataplaneView;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;
use xlb_dataplane::conn::record;
use xlb_dataplane::worker::coarse_seconds;
use xlb_sync::Encoder;

pub const TICK: Duration = Duration::from_millis(10);

/// A message without records goes out this often (and at start): the
/// peer knows this director is there, and sends its whole table to a
/// director it had not heard from (one that started or came back).
pub const HELLO_EVERY: Duration = Duration::from_secs(1);

/// Connections taken from the outboxes per tick at most (the rest wait
/// for the next; the outboxes themselves are bounded).
const PER_TICK: usize = 65536;

/// How often the whole table goes again, so that a connection that stays
/// in one state longer than the peer's copy lives is not lost there (the
/// idea of IPVS's sync_refresh_period): a third of the established TCP
/// timeout, between 10 s and 5 min.
pub fn refresh_period(timeouts: &xlb_model::tcp::Timeouts) -> Duration {
    let established = timeouts.tcp(xlb_model::tcp::TcpState::Established);
    Duration::from_secs(u64::from(established / 3).clamp(10, 300))
}

pub fn run(
    sock: Arc<SyncSocket>,
    sync_id: u8,
    refresh: Duration,
    view: DataplaneView,
    stats: Arc<SyncStats>,
    stop: Arc<AtomicBool>,
) {
    let mut enc = match Encoder::new(sync_id, sock.max_payload) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "sync: cannot encode with this datagram size");
            return;
        }
    };
    let mut hello_at: Option<std::time::Instant> = None;
    let mut refreshed_at = std::time::Instant::now();
    let forwarded = || -> u64 { view.workers.iter().map(|(w, _)| w.rx_packets.get()).sum() };
    let mut forwarded_at_refresh = forwarded();
    while !stop.load(Relaxed) {
        if refreshed_at.elapsed() >= refresh {
            // Only a director that forwards refreshes its peer: a backup's
            // table is the master's copy, and sending it back would set
            // the master's live entries to older states.
            let now_forwarded = forwarded();
            if now_forwarded != forwarded_at_refresh {
                stats.transfer_wanted.store(true, Relaxed);
            }
            forwarded_at_refresh = now_forwarded;
            refreshed_at = std::time::Instant::now();
        }
        if hello_at.is_none_or(|t| t.elapsed() >= HELLO_EVERY) {
            hello(&sock, sync_id, &stats);
            hello_at = Some(std::time::Instant::now());
        }
        std::thread::sleep(TICK);
        let snap = view.snapshot.load_full();
        let now = coarse_seconds();
        if stats.transfer_wanted.swap(false, Relaxed) {
            transfer(&sock, &mut enc, &view, &snap, now, &stats);
        }
        let mut taken = 0;
        for out in &view.outboxes {
            while taken < PER_TICK {
                let Some(c) = out.pop() else { break };
                taken += 1;
                match wire_conn(&c, &snap, now, &view).map(|sc| enc.push(&sc)) {
                    Some(Ok(())) => SyncStats::add(&stats.sent_conns, 1),
                    _ => SyncStats::add(&stats.unsendable, 1),
                }
                // A persistent connection's template goes with it.
                let template = view
                    .templates
                    .as_deref()
                    .and_then(|t| super::template::of_conn(&c, &snap, t, now))
                    .and_then(|t| xlb_sync::map::from_template(&t).ok());
                if let Some(t) = template {
                    if enc.push(&t).is_ok() {
                        SyncStats::add(&stats.sent_conns, 1);
                    }
                }
            }
        }
        if enc.pending() > 0 {
            for d in enc.finish() {
                send(&sock, &d, &stats);
            }
        }
    }
}

/// What goes on the wire for `c`: its portable record as a kernel master
/// would send it, with an FTP control connection's sequence offsets.
fn wire_conn(
    c: &xlb_dataplane::conn::Conn,
    snap: &xlb_dataplane::snapshot::Snapshot,
    now: u32,
    view: &DataplaneView,
) -> Option<xlb_sync::SyncConn> {
    let rec = record::describe(c, snap, now)?;
    let mut sc = xlb_sync::map::from_record(&rec).ok()?;
    if let Some(helper) = view.ftp.as_deref().filter(|_| snap.ftp) {
        super::ftp::attach(&mut sc, c, helper, now);
    }
    Some(sc)
}

/// A header-only message: "this director is here".
fn hello(sock: &SyncSocket, sync_id: u8, stats: &SyncStats) {
    let mut buf = [0u8; 64];
    if let Ok(w) = xlb_sync::MessageWriter::new(&mut buf, sync_id) {
        let d = w.finish().to_vec();
        send(sock, &d, stats);
    }
}

/// Every live connection of every worker, to a peer that just appeared,
/// paced so that its receive buffer keeps up.
fn transfer(
    sock: &SyncSocket,
    enc: &mut Encoder,
    view: &DataplaneView,
    snap: &xlb_dataplane::snapshot::Snapshot,
    now: u32,
    stats: &SyncStats,
) {
    let mut n = 0u64;
    for t in &view.tables {
        // Half-open entries stay here, as they do when they are new.
        for c in t.iter().filter(|c| !c.is_half_open()) {
            let Some(sc) = wire_conn(&c, snap, now, view) else {
                continue;
            };
            if enc.push(&sc).is_ok() {
                n += 1;
            }
            let ready = enc.take_ready();
            if !ready.is_empty() {
                for d in ready {
                    send(sock, &d, stats);
                }
                // ~50 datagrams (~70 kB) a millisecond at most.
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }
    if let Some(table) = view.templates.as_deref() {
        for t in table.iter(now) {
            let Some(sc) = super::template::of_template(&t, snap, now)
                .and_then(|r| xlb_sync::map::from_template(&r).ok())
            else {
                continue;
            };
            if enc.push(&sc).is_ok() {
                n += 1;
            }
            for d in enc.take_ready() {
                send(sock, &d, stats);
            }
        }
    }
    for d in enc.finish() {
        send(sock, &d, stats);
    }
    SyncStats::add(&stats.sent_conns, n);
    SyncStats::add(&stats.table_transfers, 1);
    tracing::debug!(connections = n, "sync: whole table sent");
}

fn send(sock: &SyncSocket, datagram: &[u8], stats: &SyncStats) {
    for t in &sock.targets {
        match sock.socket.send_to(datagram, t) {
            Ok(_) => SyncStats::add(&stats.sent_datagrams, 1),
            Err(e) => {
                SyncStats::add(&stats.send_errors, 1);
                tracing::debug!(target = %t, error = %e, "sync: send failed");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_table_goes_again_well_within_an_established_connections_timeout() {
        let mut t = xlb_model::tcp::Timeouts::default();
        assert_eq!(super::refresh_period(&t).as_secs(), 300); // 900 s / 3
        t.tcp[xlb_model::tcp::TcpState::Established as usize] = 60;
        assert_eq!(super::refresh_period(&t).as_secs(), 20);
        t.tcp[xlb_model::tcp::TcpState::Established as usize] = 5;
        assert_eq!(super::refresh_period(&t).as_secs(), 10);
    }

    #[test]
    fn a_hello_is_a_valid_message_without_records() {
        let mut buf = [0u8; 64];
        let w = xlb_sync::MessageWriter::new(&mut buf, 7).unwrap();
        let d = w.finish().to_vec();
        let m = xlb_sync::decode(&d).expect("a kernel or xlb peer accepts it");
        assert!(m.is_empty());
        assert!(m.accepted_by(7) && !m.accepted_by(8));
    }
}
