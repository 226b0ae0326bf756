//! Sending one request to a server of a backend and getting its response
//! head: a slot and a connection (an idle pooled one, else a new one, with
//! HAProxy's retries), then the request, bounded by `timeout server`.

use super::body::ReqBody;
use super::pool::Sender;
use crate::backend::{Backend, Refused, Slot};
use crate::balance::KeySource;
use crate::connect::{self, with_retries, ConnectError};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Upstream {
    pub response: http::Response<Incoming>,
    pub slot: Slot,
    /// Back to the pool once the response body is read whole.
    pub sender: Sender,
    pub queued: Duration,
    pub connecting: Duration,
    /// Waiting for the response head (HAProxy's Tr).
    pub waited: Duration,
    pub retries: u32,
    pub redispatched: bool,
}

/// Why there is no response, with the status HAProxy answers and its
/// termination code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    NoServer,
    QueueTimeout,
    ConnectFailed {
        retries: u32,
    },
    /// No response head within `timeout server`.
    ServerTimeout {
        server: usize,
    },
    /// The server closed or sent garbage before a response head.
    ServerBroken {
        server: usize,
        why: String,
    },
}

impl Failure {
    pub fn status(&self) -> u16 {
        match self {
            Failure::NoServer | Failure::QueueTimeout | Failure::ConnectFailed { .. } => 503,
            Failure::ServerTimeout { .. } => 504,
            Failure::ServerBroken { .. } => 502,
        }
    }

    /// HAProxy's two-letter termination state.
    pub fn term(&self) -> [u8; 2] {
        match self {
            Failure::NoServer => *b"SC",
            Failure::QueueTimeout => *b"sQ",
            Failure::ConnectFailed { .. } => *b"SC",
            Failure::ServerTimeout { .. } => *b"sH",
            Failure::ServerBroken { .. } => *b"SH",
        }
    }

    pub fn server(&self) -> Option<usize> {
        match self {
            Failure::ServerTimeout { server } | Failure::ServerBroken { server, .. } => {
                Some(*server)
            }
            _ => None,
        }
    }
}

/// A new connection to `addr` with its HTTP/1.1 handshake; the connection
/// task runs on the runtime (with upgrades, for websockets).
async fn fresh(addr: std::net::SocketAddr, timeout: Option<Duration>) -> Result<Sender, ()> {
    let tcp = connect::tcp(addr, timeout).await.map_err(|_| ())?;
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .preserve_header_case(false)
        .handshake(TokioIo::new(tcp))
        .await
        .map_err(|_| ())?;
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    Ok(sender)
}

/// `fut` within `limit`; None when the time ran out.
pub async fn bounded<F: std::future::Future>(limit: Option<Duration>, fut: F) -> Option<F::Output> {
    match limit {
        Some(t) => tokio::time::timeout(t, fut).await.ok(),
        None => Some(fut.await),
    }
}

pub async fn forward(
    backend: &Arc<Backend>,
    req: http::Request<ReqBody>,
    key: &(dyn KeySource + Sync),
    prefer: Option<usize>,
) -> Result<Upstream, Failure> {
    let connect_timeout = backend.def.timeouts.connect;
    let c = with_retries(backend, key, prefer, |slot: &Slot| {
        let b = backend.clone();
        let (i, addr) = (slot.server, slot.def().addr);
        async move {
            match b.pools[i].take() {
                Some(s) => Ok((s, true)),
                None => fresh(addr, connect_timeout).await.map(|s| (s, false)),
            }
        }
    })
    .await
    .map_err(|e| match e {
        ConnectError::Refused(Refused::NoServer) => Failure::NoServer,
        ConnectError::Refused(Refused::QueueTimeout) => Failure::QueueTimeout,
        ConnectError::Failed { retries } => Failure::ConnectFailed { retries },
    })?;
    let (mut sender, reused) = c.stream;
    let server = c.slot.server;
    let addr = c.slot.def().addr;
    let server_timeout = backend.def.timeouts.server;
    let started = Instant::now();
    let mut result = bounded(server_timeout, sender.try_send_request(req)).await;
    // A pooled connection the server closed while idle: the request was not
    // sent, so it goes again on a new connection (HAProxy's reuse retry).
    if let (true, Some(Err(e))) = (reused, &result) {
        if e.message().is_some() {
            let Some(Err(mut e)) = result else {
                unreachable!()
            };
            let req = e.take_message().expect("checked above");
            sender = fresh(addr, connect_timeout).await.map_err(|()| {
                backend.counters.connect_errors.fetch_add(1, Relaxed);
                Failure::ConnectFailed { retries: c.retries }
            })?;
            result = bounded(server_timeout, sender.try_send_request(req)).await;
        }
    }
    let Some(response) = result else {
        return Err(Failure::ServerTimeout { server });
    };
    let response = response.map_err(|e| Failure::ServerBroken {
        server,
        why: e.into_error().to_string(),
    })?;
    Ok(Upstream {
        response,
        slot: c.slot,
        sender,
        queued: c.queued,
        connecting: c.connecting,
        waited: started.elapsed(),
        retries: c.retries,
        redispatched: c.redispatched,
    })
}
