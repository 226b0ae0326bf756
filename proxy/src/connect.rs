//! Getting a server connection for a session: a slot from the balancer,
//! then a TCP connect bounded by `timeout connect`, retried `retries` times
//! as HAProxy retries (the same server after min(1s, timeout connect), or
//! another one with `option redispatch`).

use crate::backend::{Backend, Refused, Slot};
use crate::balance::KeySource;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use xlb_model::proxy::Balance;

pub struct Connected<T = TcpStream> {
    pub slot: Slot,
    pub stream: T,
    /// Time waiting in a queue (HAProxy's Tw) and connecting (Tc).
    pub queued: Duration,
    pub connecting: Duration,
    /// Retries made (HAProxy's retries log field).
    pub retries: u32,
    pub redispatched: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// No usable server, or the queue timed out: HAProxy's 503.
    Refused(Refused),
    /// Every attempt failed: HAProxy's 503 ("SC" termination).
    Failed { retries: u32 },
}

/// A TCP connection to a server of `backend`, or why there is none.
pub async fn connect(
    backend: &Arc<Backend>,
    key: &(dyn KeySource + Sync),
    prefer: Option<usize>,
) -> Result<Connected, ConnectError> {
    let timeout = backend.def.timeouts.connect;
    with_retries(backend, key, prefer, |slot: &Slot| {
        let addr = slot.def().addr;
        async move { tcp(addr, timeout).await.map_err(|_| ()) }
    })
    .await
}

/// A TCP connect bounded by `timeout`.
pub async fn tcp(
    addr: std::net::SocketAddr,
    timeout: Option<Duration>,
) -> std::io::Result<TcpStream> {
    let s = match timeout {
        Some(ct) => tokio::time::timeout(ct, TcpStream::connect(addr))
            .await
            .unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))?,
        None => TcpStream::connect(addr).await?,
    };
    let _ = s.set_nodelay(true);
    Ok(s)
}

/// A slot, then `attempt` on its server (a TCP connect, or the reuse of a
/// pooled HTTP connection), retried as HAProxy retries.
pub async fn with_retries<T, F, Fut>(
    backend: &Arc<Backend>,
    key: &(dyn KeySource + Sync),
    prefer: Option<usize>,
    mut attempt: F,
) -> Result<Connected<T>, ConnectError>
where
    F: FnMut(&Slot) -> Fut,
    Fut: std::future::Future<Output = Result<T, ()>>,
{
    let t = &backend.def.timeouts;
    let started = Instant::now();
    let mut slot = backend
        .acquire(key, None, prefer, t.in_queue())
        .await
        .map_err(ConnectError::Refused)?;
    let queued = started.elapsed();
    let connect_timeout = t.connect;
    let mut retries_left = backend.def.retries;
    let mut retries = 0;
    let mut redispatched = false;
    loop {
        let tried = Instant::now();
        match attempt(&slot).await {
            Ok(stream) => {
                return Ok(Connected {
                    slot,
                    stream,
                    queued,
                    connecting: tried.elapsed(),
                    retries,
                    redispatched,
                });
            }
            Err(()) => {
                backend.counters.connect_errors.fetch_add(1, Relaxed);
                backend.server_counters[slot.server]
                    .connect_errors
                    .fetch_add(1, Relaxed);
            }
        }
        if retries_left == 0 {
            return Err(ConnectError::Failed { retries });
        }
        retries_left -= 1;
        retries += 1;
        if redispatch_now(backend, &slot, retries_left) {
            let failed = slot.server;
            drop(slot);
            slot = backend
                .acquire(key, Some(failed), None, t.in_queue())
                .await
                .map_err(ConnectError::Refused)?;
            redispatched = true;
            backend.counters.redispatches.fetch_add(1, Relaxed);
            backend.server_counters[failed]
                .redispatches
                .fetch_add(1, Relaxed);
        } else {
            backend.counters.retries.fetch_add(1, Relaxed);
            backend.server_counters[slot.server]
                .retries
                .fetch_add(1, Relaxed);
            // HAProxy's turn-around: the same server would likely fail the
            // same way at once.
            let pause =
                connect_timeout.map_or(Duration::from_secs(1), |c| c.min(Duration::from_secs(1)));
            tokio::time::sleep(pause).await;
        }
    }
}

/// HAProxy's back_handle_st_cer: with `option redispatch`, a retry goes to
/// another server when this one is no longer usable, at the last retry,
/// and on every retry of a round-robin backend with more than one active
/// server.
fn redispatch_now(backend: &Backend, slot: &Slot, retries_left: u32) -> bool {
    if !backend.def.redispatch {
        return false;
    }
    let states = backend.states();
    let usable = states.get(slot.server).is_some_and(|s| s.usable());
    let rr = matches!(backend.def.balance, Balance::RoundRobin | Balance::StaticRr);
    let active = backend
        .def
        .servers
        .iter()
        .zip(&states)
        .filter(|(s, st)| !s.backup && st.usable())
        .count();
    !usable || retries_left == 0 || (rr && active > 1)
}
