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

pub fn run(
    sock: Arc<SyncSocket>,
    sync_id: u8,
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
    while !stop.load(Relaxed) {
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
                let conn = record::describe(&c, &snap, now)
                    .ok_or(())
                    .and_then(|r| xlb_sync::map::from_record(&r).map_err(|_| ()));
                match conn.map(|sc| enc.push(&sc).map_err(|_| ())) {
                    Ok(Ok(())) => SyncStats::add(&stats.sent_conns, 1),
                    _ => SyncStats::add(&stats.unsendable, 1),
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
        for c in t.iter() {
            let Some(sc) =
                record::describe(&c, snap, now).and_then(|r| xlb_sync::map::from_record(&r).ok())
            else {
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
    for d in enc.finish() {
        send(sock, &d, stats);
    }
    SyncStats::add(&stats.sent_conns, n);
    SyncStats::add(&stats.table_transfers, 1);
    tracing::info!(connections = n, "sync: whole table sent to a new peer");
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
    fn a_hello_is_a_valid_message_without_records() {
        let mut buf = [0u8; 64];
        let w = xlb_sync::MessageWriter::new(&mut buf, 7).unwrap();
        let d = w.finish().to_vec();
        let m = xlb_sync::decode(&d).expect("a kernel or xlb peer accepts it");
        assert!(m.is_empty());
        assert!(m.accepted_by(7) && !m.accepted_by(8));
    }
}
