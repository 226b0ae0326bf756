//! The HTTP endpoints' server (metrics, dashboard) on hyper (HTTP/1.1 with
//! keep-alive), one task per connection on a small runtime of its own: a
//! request head must arrive within the header timeout, a response must be
//! taken within the write timeout, and connections are capped. What each
//! endpoint answers is a [`Handler`]'s business, run off the I/O thread.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};
use tokio::time::Sleep;

/// What one client may cost.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections at once; one more is answered 503 and closed.
    pub max_conns: usize,
    /// From a connection's start, or the end of its last response, to the
    /// end of the next request's head; idle keep-alive connections close
    /// after it too.
    pub header_timeout: Duration,
    /// A response the client does not take within this closes the connection.
    pub write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_conns: 1024,
            header_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
        }
    }
}

/// An endpoint's answers: read-only, so only GET (and HEAD) reach it.
pub trait Handler: Send + Sync + 'static {
    /// The answer to `GET path?query` (`query` is empty without one).
    /// Runs on a blocking thread: it may take a while to render.
    fn get(&self, path: &str, query: &str) -> Reply;
}

/// One answer: status, type, body and any further headers.
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Bytes,
    pub headers: &'static [(&'static str, &'static str)],
}

impl Reply {
    pub fn ok(content_type: &'static str, body: impl Into<Bytes>) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type,
            body: body.into(),
            headers: &[],
        }
    }

    /// A short plain-text answer (an error, a hint).
    pub fn text(status: StatusCode, body: &'static str) -> Reply {
        Reply {
            status,
            content_type: "text/plain",
            body: Bytes::from_static(body.as_bytes()),
            headers: &[],
        }
    }

    fn into_response(self) -> Response<Full<Bytes>> {
        let mut r = Response::new(Full::new(self.body));
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static(self.content_type));
        for (name, value) in self.headers {
            h.insert(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        r
    }
}

/// A running endpoint; dropping it stops it.
pub struct WebServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl WebServer {
    /// Listen on `addr` and answer with `handler` on a thread named `name`
    /// (its renderers are `name-render`).
    pub fn start(
        name: &str,
        addr: SocketAddr,
        limits: Limits,
        handler: Arc<dyn Handler>,
    ) -> std::io::Result<WebServer> {
        let listener = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            None,
        )?;
        listener.set_reuse_address(true)?;
        listener.bind(&addr.into())?;
        // std's 128 drops the SYNs of a burst, which then wait a second to
        // be sent again; a queue as deep as the connection cap does not.
        listener.listen(limits.max_conns.min(4096) as i32)?;
        listener.set_nonblocking(true)?;
        let listener = std::net::TcpListener::from(listener);
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            // Rendering runs off the I/O thread, one answer at a time or two.
            .max_blocking_threads(2)
            .thread_name(format!("{name}-render"))
            .build()?;
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(listener) {
                        Ok(l) => serve(l, limits, handler, stopped).await,
                        Err(e) => tracing::error!(error = %e, "HTTP endpoint socket unusable"),
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(WebServer {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where it listens (the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const BUSY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
Content-Length: 33\r\nConnection: close\r\n\r\ntoo many connections; try again\r\n";

async fn serve(
    listener: TcpListener,
    limits: Limits,
    handler: Arc<dyn Handler>,
    mut stop: oneshot::Receiver<()>,
) {
    let conns = Arc::new(Semaphore::new(limits.max_conns));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        // Requests are a GET line and a few headers.
        .max_buf_size(16 * 1024)
        .keep_alive(true);
    loop {
        let stream = tokio::select! {
            _ = &mut stop => return,
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP endpoint: cannot accept");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = conns.clone().try_acquire_owned() else {
            // Never wait on a connection we are turning away.
            let _ = stream.try_write(BUSY);
            continue;
        };
        let io = TokioIo::new(WriteDeadline::new(stream, limits.write_timeout));
        let handler = handler.clone();
        let conn = http.serve_connection(
            io,
            hyper::service::service_fn(move |req| respond(req, handler.clone())),
        );
        tokio::spawn(async move {
            // Errors are the client's (a bad request is answered 400 by
            // hyper itself, a timeout closes): nothing for the log.
            let _ = conn.await;
            drop(permit);
        });
    }
}

async fn respond(
    req: Request<Incoming>,
    handler: Arc<dyn Handler>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r =
            Reply::text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n").into_response();
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return Ok(r);
    }
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let reply = tokio::task::spawn_blocking(move || handler.get(&path, &query)).await;
    Ok(reply
        .unwrap_or_else(|_| Reply::text(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n"))
        .into_response())
}

/// A stream whose writes fail once they have waited `limit` for the peer
/// to read: hyper has no write timeout of its own, and a scraper that
/// stops reading would otherwise hold its connection slot for ever.
struct WriteDeadline<S> {
    inner: S,
    limit: Duration,
    waiting: Option<Pin<Box<Sleep>>>,
}

impl<S> WriteDeadline<S> {
    fn new(inner: S, limit: Duration) -> Self {
        WriteDeadline {
            inner,
            limit,
            waiting: None,
        }
    }

    fn pending<T>(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if r.is_ready() {
            self.waiting = None;
            return r;
        }
        let limit = self.limit;
        let sleep = self
            .waiting
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        ready!(sleep.as_mut().poll(cx));
        Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.pending(cx, r)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.inner).poll_flush(cx);
        self.pending(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn a_write_the_peer_never_reads_fails_after_the_limit() {
        let (near, _far) = tokio::io::duplex(64);
        let mut w = WriteDeadline::new(near, Duration::from_millis(100));
        let r = tokio::time::timeout(Duration::from_secs(5), w.write_all(&[0; 1024])).await;
        let e = r.expect("the write gave up by itself").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::TimedOut);
    }

    #[tokio::test]
    async fn a_peer_that_reads_is_never_cut_off() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut w = WriteDeadline::new(near, Duration::from_millis(100));
        let reader = tokio::spawn(async move {
            let (mut got, mut buf) = (0, [0; 64]);
            loop {
                tokio::time::sleep(Duration::from_millis(30)).await;
                match tokio::io::AsyncReadExt::read(&mut far, &mut buf)
                    .await
                    .unwrap()
                {
                    0 => return got,
                    n => got += n,
                }
            }
        });
        // Each wait for the slow reader is shorter than the limit; together
        // they are many times it.
        w.write_all(&[1; 20 * 64]).await.unwrap();
        drop(w);
        assert_eq!(reader.await.unwrap(), 20 * 64);
    }
}
