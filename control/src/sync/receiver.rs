//! The receiving side: datagrams from the sync interface (the socket is
//! bound to it), from a configured peer when peers are configured, with
//! this pair's sync id; each record mapped to a connection of a local
//! service and handed to a worker's inbox. Whatever does not fit is
//! counted by reason and dropped: a datagram cannot make the receiver
//! evict its own connections (an inbox only inserts into free room).

use super::hop::{Hops, Unresolved};
use super::stats::SyncStats;
use super::SyncSocket;
use crate::config::SyncPeers;
use crate::daemon::DataplaneView;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use xlb_model::tcp::Timeouts;
use xlb_sync::map::LocalService;

pub struct Accept {
    pub sync_id: u8,
    /// Unicast peers: nobody else is heard.
    pub only: Option<Vec<IpAddr>>,
}

impl Accept {
    pub fn new(sync_id: u8, peers: &SyncPeers) -> Accept {
        Accept {
            sync_id,
            only: match peers {
                SyncPeers::Unicast(p) => Some(p.clone()),
                SyncPeers::Group(_) => None,
            },
        }
    }
}

pub fn run(
    sock: Arc<SyncSocket>,
    accept: Accept,
    timeouts: Timeouts,
    view: DataplaneView,
    stats: Arc<SyncStats>,
    stop: Arc<AtomicBool>,
) {
    let mut buf = vec![0u8; 65536];
    let mut hops = Hops::new();
    while !stop.load(Relaxed) {
        if hops.waiting() {
            let snap = view.snapshot.load_full();
            let (resolved, given_up) = hops.retry(&snap.ports);
            for rec in resolved {
                hand_over(rec, &view, &stats);
            }
            if given_up > 0 {
                stats.drop_for("client_unresolved", given_up);
            }
            wake_workers(&view);
        }
        let (n, from) = match sock.socket.recv_from(&mut buf) {
            Ok(x) => x,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => {
                tracing::warn!(error = %e, "sync: receive failed");
                std::thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        SyncStats::add(&stats.received_datagrams, 1);
        if let Some(only) = &accept.only {
            if !only.contains(&from.ip()) {
                stats.drop_for("stranger", 1);
                continue;
            }
        }
        take(
            &buf[..n],
            from.ip(),
            &accept,
            &timeouts,
            &view,
            &stats,
            &mut hops,
        );
        wake_workers(&view);
    }
}

/// Ring the doorbell of every worker with records waiting: once per
/// datagram, not per record.
fn wake_workers(view: &DataplaneView) {
    for inbox in view.inboxes.iter().filter(|i| !i.is_empty()) {
        inbox.ring();
    }
}

/// One datagram's records into the workers' inboxes.
pub fn take(
    datagram: &[u8],
    from: IpAddr,
    accept: &Accept,
    timeouts: &Timeouts,
    view: &DataplaneView,
    stats: &SyncStats,
    hops: &mut Hops,
) {
    let msg = match xlb_sync::decode(datagram) {
        Ok(m) => m,
        Err(e) => {
            stats.drop_for(e.reason(), 1);
            return;
        }
    };
    if !msg.accepted_by(accept.sync_id) {
        stats.drop_for("other_sync_id", 1);
        return;
    }
    // A peer silent for longer than this (two hellos missed) is new
    // again: it restarted, or the link came back, and misses our table.
    let silent = super::sender::HELLO_EVERY * 5 / 2;
    if stats.heard_from(from, silent) {
        tracing::info!(peer = %from, "sync: a peer appeared; sending it the whole table");
        stats.transfer_wanted.store(true, Relaxed);
    }
    let snap = view.snapshot.load_full();
    let services = |k: &xlb_model::ServiceKey| {
        snap.service_by_key(k).map(|s| LocalService {
            persistent: s.persistence.is_some(),
            ftp: s.ftp,
        })
    };
    for r in msg.records() {
        SyncStats::add(&stats.received_conns, 1);
        let conn = match r {
            Ok(c) => c,
            Err(e) => {
                stats.drop_for(e.reason(), 1);
                continue;
            }
        };
        if conn.template {
            let installed = xlb_sync::map::to_template(&conn, services)
                .map_err(|e| e.reason())
                .and_then(|t| {
                    let table = view.templates.as_deref().ok_or("no_template_table")?;
                    let now = xlb_dataplane::worker::coarse_seconds();
                    super::template::install(&t, &snap, table, now)
                });
            match installed {
                Ok(()) => SyncStats::add(&stats.templates_installed, 1),
                Err(reason) => stats.drop_for(reason, 1),
            }
            continue;
        }
        let rec = match xlb_sync::map::to_record(&conn, services, timeouts) {
            // An FTP data connection: the FTP service on its address.
            Err(xlb_sync::map::MapError::UnknownService) if snap.ftp => {
                let v = conn.addrs.vaddr();
                let ftp = snap.services.iter().find(|s| {
                    s.ftp && matches!(s.key, xlb_model::ServiceKey::Endpoint { addr, .. } if addr == v)
                });
                match ftp {
                    Some(s) => {
                        let local = LocalService {
                            persistent: s.persistence.is_some(),
                            ftp: true,
                        };
                        xlb_sync::map::to_ftp_data_record(&conn, (s.key, local), timeouts)
                    }
                    None => Err(xlb_sync::map::MapError::UnknownService),
                }
            }
            r => r,
        };
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                stats.drop_for(e.reason(), 1);
                continue;
            }
        };
        // Offsets only for an FTP service's control connection: a record of
        // anything else has none to take (and may not fill the table).
        let control = snap.service_by_key(&rec.service).is_some_and(|s| {
            s.ftp
                && rec.service
                    == xlb_model::ServiceKey::endpoint(rec.vaddr.ip(), rec.vport, rec.proto)
        });
        if let (Some(seq), Some(helper), true) = (&conn.seq, view.ftp.as_deref(), control) {
            let now = xlb_dataplane::worker::coarse_seconds();
            if !super::ftp::install(&rec, seq, helper, now) {
                stats.drop_for("ftp_offsets_unplaced", 1);
            }
        }
        let mut rec = rec;
        match hops.resolve(rec.client.ip(), &snap.ports) {
            Ok((ix, mac)) => {
                rec.client_ifindex = Some(ix);
                rec.client_mac = Some(mac);
            }
            // Installed now all the same; again once the hop is known.
            Err(Unresolved::Pending) => hops.later(rec),
            Err(Unresolved::NoRoute) => {}
        }
        hand_over(rec, view, stats);
    }
}

/// Into a worker's inbox: any worker may own it (the others find it on a
/// miss); spread by client, so one client's connections stay together.
fn hand_over(rec: xlb_model::ConnRecord, view: &DataplaneView, stats: &SyncStats) {
    if view.inboxes.is_empty() {
        stats.drop_for("no_worker", 1);
        return;
    }
    let i = worker_for(&rec, view.inboxes.len());
    match view.inboxes[i].push(rec) {
        Ok(()) => SyncStats::add(&stats.installed, 1),
        Err(_) => stats.drop_for("inbox_full", 1),
    }
}

fn worker_for(rec: &xlb_model::ConnRecord, n: usize) -> usize {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (rec.client, rec.cport).hash(&mut h);
    (h.finish() % n as u64) as usize
}
