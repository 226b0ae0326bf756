//! Connection synchronisation with the other director of a pair (IPVS's
//! sync daemon, keepalived's `lvs_sync_daemon`): the LVS sync protocol
//! version 1 (crate `xlb-sync`) over UDP on the sync interface. Each
//! director sends what its workers report (new connections and state
//! changes) and installs what its peer sends; a backup forwards nothing,
//! so it only receives until it takes over, then sends ("both send", as
//! keepalived can run it). docs/sync.md has the operator's side.

mod ftp;
mod hop;
mod receiver;
mod sender;
mod socket;
mod stats;
mod template;

pub use socket::SyncSocket;
pub use stats::SyncStats;

use crate::config::SyncSettings;
use crate::daemon::DataplaneView;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use xlb_model::tcp::Timeouts;

/// The running sync channel: its two threads and their counters.
pub struct SyncChannel {
    pub settings: SyncSettings,
    pub stats: Arc<SyncStats>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl SyncChannel {
    pub fn start(
        settings: &SyncSettings,
        timeouts: Timeouts,
        view: DataplaneView,
    ) -> std::io::Result<SyncChannel> {
        let sock = Arc::new(socket::open(settings).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "sync socket on {} port {}: {e}",
                    settings.interface, settings.port
                ),
            )
        })?);
        let stats = Arc::new(SyncStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        for o in &view.outboxes {
            o.set_enabled(true);
        }
        let mut threads = Vec::new();
        let (s, v, st, sp) = (sock.clone(), view.clone(), stats.clone(), stop.clone());
        let id = settings.sync_id;
        let refresh = sender::refresh_period(&timeouts);
        threads.push(
            std::thread::Builder::new()
                .name("xlb-sync-send".into())
                .spawn(move || sender::run(s, id, refresh, v, st, sp))?,
        );
        let accept = receiver::Accept::new(settings.sync_id, &settings.peers);
        let (s, v, st, sp) = (sock, view, stats.clone(), stop.clone());
        threads.push(
            std::thread::Builder::new()
                .name("xlb-sync-recv".into())
                .spawn(move || receiver::run(s, accept, timeouts, v, st, sp))?,
        );
        tracing::info!(
            interface = %settings.interface,
            sync_id = settings.sync_id,
            port = settings.port,
            "connection sync running"
        );
        Ok(SyncChannel {
            settings: settings.clone(),
            stats,
            stop,
            threads,
        })
    }

    pub fn stop(mut self, view: &DataplaneView) {
        for o in &view.outboxes {
            o.set_enabled(false);
        }
        self.stop.store(true, Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
