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
    while !stop.load(Relaxed) {
        std::thread::sleep(TICK);
        let snap = view.snapshot.load_full();
        let now = coarse_seconds();
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
