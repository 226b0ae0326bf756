//! HTTP/1.1 to servers on our own codec: a slot and a connection (an idle
//! pooled one, else a new one, with HAProxy's retries), the request head
//! written with the body bytes at hand, the response head read and judged
//! with HAProxy's rules, the body relayed piece by piece.
//!
//! All of it runs in the client connection's task: no task per server
//! connection and no channel between the client's reader and the server's
//! writer (hyper's client had both; they cost more per request than the
//! rest of the exchange, see bench/README.md).

mod pool;
mod request;
mod response;

pub use pool::Pool;
pub use request::{request_head, BodyOut, NoBody, RequestBody, Sent};
pub use response::{BodyReader, Piece};

use crate::backend::{Backend, Refused, Slot};
use crate::balance::KeySource;
use crate::connect::{self, with_retries, ConnectError};
use crate::http1::{self, ServerHead};
use bytes::BytesMut;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// A connection to a server with what was read from it and not used yet,
/// and the timer its waits for response heads share.
pub struct ServerConn {
    pub io: TcpStream,
    pub buf: BytesMut,
    timer: Deadline,
}

/// Room a read gets (HAProxy's bufsize); a response head must fit in it.
const READ_BUF: usize = 16 * 1024;
/// Less room than this and a read gets `READ_BUF` more.
const MIN_READ: usize = 1024;

impl ServerConn {
    async fn fresh(addr: std::net::SocketAddr, timeout: Option<Duration>) -> Result<Self, ()> {
        let io = connect::tcp(addr, timeout).await.map_err(|_| ())?;
        Ok(ServerConn {
            io,
            buf: BytesMut::new(),
            timer: Deadline::new(),
        })
    }

    /// Neither closed nor written to by the server since its last
    /// response: a read would block.
    fn still_idle(&self) -> bool {
        let mut probe = [0u8; 1];
        matches!(self.io.try_read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }

    /// Read what the socket has into `buf`; Ready(Ok(0)) at its end.
    pub fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        if self.buf.capacity() - self.buf.len() < MIN_READ {
            self.buf.reserve(READ_BUF);
        }
        loop {
            match self.io.try_read_buf(&mut self.buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::task::ready!(self.io.poll_read_ready(cx))?;
                }
                r => return Poll::Ready(r),
            }
        }
    }
}

pub struct Upstream {
    pub conn: ServerConn,
    pub head: ServerHead,
    pub slot: Slot,
    pub queued: Duration,
    pub connecting: Duration,
    /// Waiting for the response head (HAProxy's Tr).
    pub waited: Duration,
    pub retries: u32,
    pub redispatched: bool,
    /// The whole request body reached the server (else the connection
    /// cannot carry another request).
    pub sent_whole: bool,
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

/// The request body could not be read from the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedError {
    /// A malformed body (bad chunk size): HAProxy's status.
    Bad(u16),
    /// The client went away (false) or idled past `timeout client` (true).
    Client(bool),
}

/// `fut` within `limit` (none: no limit); None when the time ran out.
/// A plain future, not an `async fn`: one of these waits in every idle
/// connection, and an `async fn` would hold `fut` and `limit` twice.
pub fn bounded<F: std::future::Future>(limit: Option<Duration>, fut: F) -> Bounded<F> {
    Bounded {
        inner: tokio::time::timeout(limit.unwrap_or(Duration::MAX), fut),
    }
}

pub struct Bounded<F> {
    inner: tokio::time::Timeout<F>,
}

impl<F: std::future::Future> std::future::Future for Bounded<F> {
    type Output = Option<F::Output>;

    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // SAFETY: `inner` is pinned with its Bounded: it is never moved out
        // nor given out unpinned, and Bounded has no Drop of its own.
        let inner = unsafe { self.map_unchecked_mut(|b| &mut b.inner) };
        inner.poll(cx).map(Result::ok)
    }
}

/// A timer kept for the waits of one connection and moved from one to the
/// next: a registered tokio timer moved to a later deadline is one atomic
/// update, where a `timeout` per wait inserted a timer wheel entry and
/// removed it again under the driver's lock (two per keep-alive request:
/// ~7 % of the proxy's instructions per request, callgrind). A wait that
/// ends sooner than the last one's deadline re-registers it, as before.
pub struct Deadline(std::pin::Pin<Box<tokio::time::Sleep>>);

impl Deadline {
    /// Unarmed: nothing is registered until a wait has to wait.
    pub fn new() -> Self {
        // A year ahead: moved to the first wait's deadline before it is
        // registered.
        let far = tokio::time::Instant::now() + Duration::from_secs(365 * 86_400);
        Deadline(Box::pin(tokio::time::sleep_until(far)))
    }

    /// `fut` until `at` (none: no limit); None when `at` came first. The
    /// timer is moved only if `fut` does not complete at once.
    pub async fn within<F: std::future::Future>(
        &mut self,
        at: Option<tokio::time::Instant>,
        fut: F,
    ) -> Option<F::Output> {
        let mut fut = std::pin::pin!(fut);
        let Some(at) = at else {
            return Some(fut.await);
        };
        let timer = &mut self.0;
        let mut armed = false;
        std::future::poll_fn(|cx| {
            if let Poll::Ready(v) = fut.as_mut().poll(cx) {
                return Poll::Ready(Some(v));
            }
            if !armed {
                armed = true;
                if timer.deadline() != at {
                    timer.as_mut().reset(at);
                }
            }
            std::future::Future::poll(timer.as_mut(), cx).map(|()| None)
        })
        .await
    }
}

impl Default for Deadline {
    fn default() -> Self {
        Self::new()
    }
}

/// Why no response head came on a connection.
enum NoHead {
    Timeout,
    /// Closed (or reset) before a byte of a response.
    Empty,
    Bad(String),
}

/// Send the request (`head`, then `body`) to a server of `backend` and read
/// the response head. The body's outcome comes back beside the response's:
/// a client that fails mid-body ends the exchange whatever the server did.
/// `plain`: the caller takes a plain response head as it came
/// ([`http1::parse_response_plain`]).
pub async fn forward<B: RequestBody>(
    backend: &Arc<Backend>,
    head: &[u8],
    body: &mut B,
    key: &(dyn KeySource + Sync),
    prefer: Option<usize>,
    plain: bool,
) -> (Result<Sent, FeedError>, Result<Upstream, Failure>) {
    let connect_timeout = backend.def.timeouts.connect;
    let c = with_retries(backend, key, prefer, |slot: &Slot| {
        let b = backend.clone();
        let (i, addr) = (slot.server, slot.def().addr);
        async move {
            match b.pools[i].take() {
                Some(s) => Ok((s, true)),
                None => ServerConn::fresh(addr, connect_timeout)
                    .await
                    .map(|s| (s, false)),
            }
        }
    })
    .await;
    let c = match c {
        Ok(c) => c,
        Err(e) => {
            // The client's body is read (and dropped) so that the error
            // reply is not lost to a reset.
            let fed = body.send(head, &mut tokio::io::sink(), None).await;
            let f = match e {
                ConnectError::Refused(Refused::NoServer) => Failure::NoServer,
                ConnectError::Refused(Refused::QueueTimeout) => Failure::QueueTimeout,
                ConnectError::Failed { retries } => Failure::ConnectFailed { retries },
            };
            return (fed, Err(f));
        }
    };
    let (mut conn, reused) = c.stream;
    let server = c.slot.server;
    let server_timeout = backend.def.timeouts.server;
    let started = Instant::now();
    let (mut fed, mut got) = exchange(&mut conn, head, body, server_timeout, plain).await;
    let mut retries = c.retries;
    // A pooled connection the server closed as the request left (its FIN
    // was on its way while the connection looked idle): nothing was
    // answered, so a request that can go again (no body, or one still
    // whole in our buffer) goes once more on a new connection, counted as
    // a retry. A body already streamed from the client cannot be replayed:
    // 502 as before.
    if reused && matches!(got, Err(NoHead::Empty)) && body.replayable() {
        retries += 1;
        backend.counters.retries.fetch_add(1, Relaxed);
        backend.server_counters[server]
            .retries
            .fetch_add(1, Relaxed);
        match ServerConn::fresh(c.slot.def().addr, connect_timeout).await {
            Ok(fresh) => {
                conn = fresh;
                (fed, got) = exchange(&mut conn, head, body, server_timeout, plain).await;
            }
            Err(()) => {
                backend.counters.connect_errors.fetch_add(1, Relaxed);
                return (fed, Err(Failure::ConnectFailed { retries }));
            }
        }
    }
    let sent_whole = matches!(fed, Ok(Sent { whole: true, .. }));
    let got = match got {
        Ok(h) => Ok(Upstream {
            conn,
            head: h,
            slot: c.slot,
            queued: c.queued,
            connecting: c.connecting,
            waited: started.elapsed(),
            retries,
            redispatched: c.redispatched,
            sent_whole,
        }),
        Err(NoHead::Timeout) => Err(Failure::ServerTimeout { server }),
        Err(NoHead::Empty) => Err(Failure::ServerBroken {
            server,
            why: "connection closed before a response".into(),
        }),
        Err(NoHead::Bad(why)) => Err(Failure::ServerBroken { server, why }),
    };
    (fed, got)
}

/// One request and its response head on `conn`. The body and the response
/// head are read side by side (a server may answer before the body ends);
/// a client failing mid-body abandons the response.
async fn exchange<B: RequestBody>(
    conn: &mut ServerConn,
    head: &[u8],
    body: &mut B,
    limit: Option<Duration>,
    plain: bool,
) -> (Result<Sent, FeedError>, Result<ServerHead, NoHead>) {
    if body.is_empty() {
        let wrote = bounded(limit, conn.io.write_all(head)).await;
        let fed = Ok(Sent {
            bytes: 0,
            whole: matches!(wrote, Some(Ok(()))),
        });
        return match wrote {
            Some(Ok(())) => (fed, read_head(conn, limit, plain).await),
            // Written into a closed connection: as if it answered nothing.
            Some(Err(_)) => (fed, Err(NoHead::Empty)),
            None => (fed, Err(NoHead::Timeout)),
        };
    }
    let ServerConn { io, buf, timer } = conn;
    let (mut rd, mut wr) = io.split();
    let send = body.send(head, &mut wr, limit);
    let answer = read_head_from(&mut rd, buf, timer, limit, plain);
    tokio::pin!(send, answer);
    let mut fed = None;
    let mut got = None;
    loop {
        tokio::select! {
            f = &mut send, if fed.is_none() => {
                if f.is_err() {
                    return (f, Err(NoHead::Empty));
                }
                fed = Some(f);
            }
            h = &mut answer, if got.is_none() => got = Some(h),
        }
        if let (Some(_), Some(_)) = (&fed, &got) {
            break;
        }
    }
    (fed.expect("set above"), got.expect("set above"))
}

async fn read_head(
    conn: &mut ServerConn,
    limit: Option<Duration>,
    plain: bool,
) -> Result<ServerHead, NoHead> {
    let ServerConn { io, buf, timer } = conn;
    read_head_from(io, buf, timer, limit, plain).await
}

/// A response head, past any interim (1xx but 101) responses.
async fn read_head_from<R: tokio::io::AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    timer: &mut Deadline,
    limit: Option<Duration>,
    plain: bool,
) -> Result<ServerHead, NoHead> {
    use tokio::io::AsyncReadExt;
    let deadline = limit.map(|l| tokio::time::Instant::now() + l);
    loop {
        if !buf.is_empty() {
            let parsed = if plain {
                http1::parse_response_plain(buf, MAX_HEADERS)
            } else {
                http1::parse_response(buf, MAX_HEADERS)
            };
            match parsed {
                Ok(Some(h)) => {
                    let _ = buf.split_to(h.head_len);
                    if h.status.is_informational()
                        && h.status != http::StatusCode::SWITCHING_PROTOCOLS
                    {
                        continue;
                    }
                    return Ok(h);
                }
                Ok(None) if buf.len() >= READ_BUF => {
                    return Err(NoHead::Bad("response head too large".into()))
                }
                Ok(None) => {}
                Err(e) => return Err(NoHead::Bad(e.0.into())),
            }
        }
        if buf.capacity() - buf.len() < MIN_READ {
            buf.reserve(READ_BUF);
        }
        let Some(read) = timer.within(deadline, rd.read_buf(buf)).await else {
            return Err(NoHead::Timeout);
        };
        match read {
            Ok(0) | Err(_) if buf.is_empty() => return Err(NoHead::Empty),
            Ok(0) => return Err(NoHead::Bad("closed in the response head".into())),
            Err(e) => return Err(NoHead::Bad(e.to_string())),
            Ok(_) => {}
        }
    }
}

/// `tune.http.maxhdr`'s default, for response heads as for requests.
const MAX_HEADERS: usize = 101;
