//! The proxy (HAProxy's half) in the daemon: started with the first
//! configuration that has frontends, reloaded in two halves around the L4
//! swap (so a reload either changes both or neither), stopped when the
//! frontends go.

use super::policy::OverrideOp;
use crate::config::Config;
use xlb_proxy::{Prepared, Proxy, ServerOp};

/// What a reload does to the proxy, prepared before anything changes.
pub enum Change {
    None,
    Start(Proxy),
    Reload(Prepared),
    Stop,
}

pub fn start(cfg: &Config) -> Result<Option<Proxy>, String> {
    if cfg.proxy.frontends.is_empty() {
        return Ok(None);
    }
    Proxy::start(&cfg.proxy)
        .map(Some)
        .map_err(|e| format!("proxy: {e}"))
}

/// Everything that can fail: the new certificates, logs and addresses.
pub fn prepare(running: &Option<Proxy>, new: &Config) -> Result<Change, String> {
    let wanted = !new.proxy.frontends.is_empty();
    Ok(match (running, wanted) {
        (None, false) => Change::None,
        (None, true) => Change::Start(Proxy::start(&new.proxy).map_err(|e| format!("proxy: {e}"))?),
        (Some(_), false) => Change::Stop,
        (Some(p), true) => {
            Change::Reload(p.prepare(&new.proxy).map_err(|e| format!("proxy: {e}"))?)
        }
    })
}

/// Swap the prepared change in; says what changed, if anything did.
pub fn commit(running: &mut Option<Proxy>, change: Change) -> Option<String> {
    match change {
        Change::None => None,
        Change::Start(p) => {
            *running = Some(p);
            Some("proxy started".into())
        }
        Change::Reload(prepared) => running.as_mut().map(|p| p.commit(prepared)),
        Change::Stop => {
            if let Some(p) = running.take() {
                p.shutdown();
            }
            Some("proxy stopped (no frontends left)".into())
        }
    }
}

/// An operator's weight, drain, disable or enable for `server` of
/// `backend`.
pub fn override_server(
    running: &Option<Proxy>,
    backend: &str,
    server: &str,
    op: OverrideOp,
) -> Result<String, String> {
    let Some(p) = running else {
        return Err(format!("no backend {backend:?}: the proxy is not running"));
    };
    let op = match op {
        OverrideOp::Weight(w) if w > xlb_model::config::proxy::MAX_WEIGHT => {
            return Err(format!(
                "weight {w} is out of range for a proxy server: use 0 to {}, as HAProxy",
                xlb_model::config::proxy::MAX_WEIGHT
            ))
        }
        OverrideOp::Weight(w) => ServerOp::Weight(w),
        OverrideOp::Disable => ServerOp::Disable,
        OverrideOp::Enable => ServerOp::Enable,
    };
    p.server_op(backend, server, op)
}
