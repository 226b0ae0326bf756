//! Connection sync in the daemon: started with a configuration that has
//! `[sync]`, restarted by a reload that changes it, stopped when it goes.

use super::DataplaneView;
use crate::config::Config;
use crate::sync::SyncChannel;
use std::sync::Arc;

pub fn start(cfg: &Config, view: &DataplaneView) -> Result<Option<SyncChannel>, String> {
    let Some(s) = &cfg.sync else {
        return Ok(None);
    };
    SyncChannel::start(s, cfg.timeouts, view.clone())
        .map(Some)
        .map_err(|e| format!("sync: {e}"))
}

/// Follow a reload: the channel restarts only if its settings changed.
/// A failure leaves sync off (logged), not the reload refused: the
/// forwarding configuration was already accepted.
pub fn follow(
    running: &mut Option<SyncChannel>,
    new: &Config,
    view: &DataplaneView,
) -> Option<String> {
    let same = match (&running, &new.sync) {
        (Some(r), Some(s)) => r.settings == *s,
        (None, None) => true,
        _ => false,
    };
    if same {
        return None;
    }
    if let Some(old) = running.take() {
        old.stop(view);
    }
    match start(new, view) {
        Ok(Some(c)) => {
            *running = Some(c);
            Some("sync restarted".into())
        }
        Ok(None) => Some("sync stopped".into()),
        Err(e) => {
            tracing::error!(error = %e, "connection sync is off");
            Some(format!("sync off: {e}"))
        }
    }
}

pub fn publish(shared: &super::Shared, running: &Option<SyncChannel>) {
    shared.sync.store(
        running
            .as_ref()
            .map(|c| Arc::new((c.settings.clone(), c.stats.clone()))),
    );
}
