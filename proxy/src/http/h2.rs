//! h2 from clients (TLS with ALPN `h2`), served by hyper: each stream is
//! routed, balanced and forwarded to an HTTP/1.1 server as an HTTP/1
//! request would be (HAProxy's h2-to-h1 path).

use super::body::{BodyError, RespBody};
use super::server::{
    self, bounded, forward, BodyOut, BodyReader, FeedError, NoBody, Piece, RequestBody, Sent,
    ServerConn,
};
use super::{cache, cookie, for_server, strip_hop_by_hop, View};
use crate::frontend::Frontend;
use crate::http1;
use crate::log::{ms, Entry};
use crate::runtime::Shared;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{Response, StatusCode, Version};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite};

pub async fn serve_h2<C>(
    shared: Arc<Shared>,
    fe: Arc<Frontend>,
    io: C,
    peer: SocketAddr,
    local: SocketAddr,
) where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let keep_alive = fe.def.timeouts.keep_alive();
    let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let (shared, fe) = (shared.clone(), fe.clone());
        async move { Ok::<_, std::convert::Infallible>(handle(shared, fe, req, peer, local).await) }
    });
    let mut b = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    b.timer(hyper_util::rt::TokioTimer::new());
    if let Some(t) = keep_alive {
        b.keep_alive_interval(None).keep_alive_timeout(t);
    }
    let _ = b.serve_connection(TokioIo::new(io), service).await;
}

fn error(status: u16) -> Response<RespBody> {
    // HAProxy's message body, without its HTTP/1 head.
    let msg = http1::error_message(status);
    let body_at = msg
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(msg.len(), |p| p + 4);
    let mut r = Response::new(super::body::full(Bytes::from_static(&msg[body_at..])));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    r.headers_mut()
        .insert("content-type", HeaderValue::from_static("text/html"));
    r.headers_mut()
        .insert("cache-control", HeaderValue::from_static("no-cache"));
    r
}

async fn handle(
    shared: Arc<Shared>,
    fe: Arc<Frontend>,
    req: http::Request<Incoming>,
    peer: SocketAddr,
    local: SocketAddr,
) -> Response<RespBody> {
    let started = Instant::now();
    let (parts, body) = req.into_parts();
    // HAProxy holds an h2 request's target in absolute form: ACLs' `path`
    // and the uri hash see what HAProxy's do, without the scheme's default
    // port (http_scheme_based_normalize); the authority is the Host.
    let (target, authority) = match http1::scheme_based_normalize(parts.uri.to_string().as_bytes())
    {
        Some((t, host)) => (
            String::from_utf8_lossy(&t).into_owned(),
            Some(String::from_utf8_lossy(&host).into_owned()),
        ),
        None => (
            parts.uri.to_string(),
            parts.uri.authority().map(|a| a.as_str().to_string()),
        ),
    };
    let mut entry = Entry {
        client: Some(peer),
        frontend_addr: Some(local),
        accepted: Some(SystemTime::now()),
        frontend: fe.name.clone(),
        tls: true,
        backend: fe.name.clone(),
        server: crate::log::no_server(),
        tw: -1,
        tc: -1,
        tr: -1,
        term: *b"--",
        request_line: format!("{} {} HTTP/2.0", parts.method, target),
        ..Default::default()
    };
    let view = View {
        method: &parts.method,
        target: &target,
        version: Version::HTTP_2,
        headers: &parts.headers,
        src: peer.ip(),
        dst_port: local.port(),
        tls: true,
        has_body: !hyper::body::Body::is_end_stream(&body),
    };
    let view_has_body = view.has_body;
    let done = |shared: &Shared, entry: &mut Entry, status: u16, r: Response<RespBody>| {
        entry.status = Some(status);
        entry.ta = ms(started.elapsed());
        entry.tt = entry.ta;
        fe.counters.response(status);
        shared.log(&fe, entry);
        r
    };
    let Some(backend) = fe.route(&view).cloned() else {
        entry.term = *b"SC";
        return done(&shared, &mut entry, 503, error(503));
    };
    entry.backend = backend.name.clone();
    let prefer = backend
        .def
        .cookie
        .as_ref()
        .and_then(|ck| cookie::server_of(ck, &parts.headers, &backend.def.servers));
    let mut headers = parts.headers.clone();
    strip_hop_by_hop(&mut headers, false);
    for_server(
        &mut headers,
        backend.def.cookie.as_ref(),
        (fe.def.forwardfor || backend.def.forwardfor).then_some(peer.ip()),
    );
    // :authority wins over a Host header (RFC 9113 8.3.1; HAProxy): a
    // request must not name one host to the proxy and another to the server.
    if let Some(v) = authority.and_then(|a| HeaderValue::from_str(&a).ok()) {
        headers.insert(HOST, v);
    }
    // A body of unknown length is sent chunked: hyper would send a GET's
    // as none at all.
    if view_has_body && !headers.contains_key(CONTENT_LENGTH) {
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    }
    let origin = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let req_head = server::request_head(&parts.method, origin, Version::HTTP_11, &headers, None);
    backend.counters.started();
    let (fed, up) = if view_has_body {
        let mut b = StreamBody {
            inner: body,
            chunked: headers.contains_key(TRANSFER_ENCODING),
            client_timeout: fe.def.timeouts.client,
            started: false,
        };
        forward(&backend, &req_head, &mut b, &view, prefer, false).await
    } else {
        forward(&backend, &req_head, &mut NoBody, &view, prefer, false).await
    };
    backend.counters.finished();
    let up = match (fed, up) {
        (Err(_), _) => {
            entry.term = *b"CD";
            return done(&shared, &mut entry, 400, error(400));
        }
        (Ok(_), Err(f)) => {
            entry.term = f.term();
            return done(&shared, &mut entry, f.status(), error(f.status()));
        }
        (Ok(_), Ok(u)) => u,
    };
    let slot = up.slot;
    entry.server = slot.name();
    entry.tw = ms(up.queued);
    entry.tc = ms(up.connecting);
    entry.tr = ms(up.waited);
    let mut rheaders = up.head.headers;
    let rstatus = up.head.status;
    let framing = http1::response_framing(&parts.method, rstatus, &rheaders);
    strip_hop_by_hop(&mut rheaders, false);
    if let Some(ck) = &backend.def.cookie {
        let cacheable = cache::request_cacheable(&parts.method, &parts.headers)
            && cache::response_cacheable(rstatus, &rheaders);
        cookie::on_response(
            ck,
            slot.def(),
            prefer == Some(slot.server),
            cacheable,
            &mut rheaders,
        );
    }
    let status = rstatus.as_u16();
    backend.counters.response(status);
    backend.server_counters[slot.server].response(status);
    backend.server_counters[slot.server]
        .total
        .fetch_add(1, Relaxed);
    let stream = ServerBody {
        reader: BodyReader::new(&framing),
        conn: Some(up.conn),
        limit: backend.def.timeouts.server,
        sleep: None,
        // A body that ends with the connection leaves nothing to reuse.
        reusable: up.head.reusable
            && up.sent_whole
            && !matches!(framing, http1::Framing::UntilClose),
        held: Some((backend.clone(), slot)),
    };
    let mut r = Response::new(stream.boxed());
    *r.status_mut() = rstatus;
    *r.version_mut() = Version::HTTP_2;
    *r.headers_mut() = rheaders;
    done(&shared, &mut entry, status, r)
}

/// A request body from an h2 stream, sent on as the head announced it
/// (its Content-Length, else chunked).
struct StreamBody {
    inner: Incoming,
    chunked: bool,
    client_timeout: Option<std::time::Duration>,
    started: bool,
}

impl RequestBody for StreamBody {
    fn is_empty(&self) -> bool {
        false
    }

    fn replayable(&self) -> bool {
        !self.started
    }

    async fn send<W: AsyncWrite + Unpin + Send>(
        &mut self,
        head: &[u8],
        w: &mut W,
        limit: Option<std::time::Duration>,
    ) -> Result<Sent, FeedError> {
        self.started = true;
        let mut out = BodyOut::new(head, self.chunked, 0);
        loop {
            let frame = match bounded(self.client_timeout, self.inner.frame()).await {
                None => return Err(FeedError::Client(true)),
                Some(Some(Err(_))) => return Err(FeedError::Client(false)),
                Some(None) => return Ok(out.finish(w, limit).await),
                Some(Some(Ok(f))) => f,
            };
            match frame.into_data() {
                Ok(d) => out.data(&d),
                Err(f) => {
                    if let Ok(t) = f.into_trailers() {
                        out.trailers(t);
                    }
                }
            }
            out.flush(w, limit).await;
        }
    }
}

/// The server's body as the h2 response's, bounded per piece by `timeout
/// server`; at its clean end the connection returns to the pool, and the
/// slot is freed (dropped early, both are freed without returning).
struct ServerBody {
    reader: BodyReader,
    conn: Option<ServerConn>,
    limit: Option<std::time::Duration>,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    reusable: bool,
    held: Option<(Arc<crate::backend::Backend>, crate::backend::Slot)>,
}

impl hyper::body::Body for ServerBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BodyError>>> {
        use std::task::Poll;
        let this = &mut *self;
        let Some(conn) = this.conn.as_mut() else {
            return Poll::Ready(None);
        };
        match this.reader.poll_next(conn, cx) {
            Poll::Ready(Ok(None)) => {
                let conn = this.conn.take();
                if let (Some((backend, slot)), Some(conn)) = (this.held.take(), conn) {
                    if this.reusable && conn.buf.is_empty() {
                        backend.pools[slot.server].put(conn);
                    }
                }
                Poll::Ready(None)
            }
            Poll::Ready(Ok(Some(p))) => {
                this.sleep = None;
                Poll::Ready(Some(Ok(match p {
                    Piece::Data(d) => hyper::body::Frame::data(d),
                    Piece::Trailers(t) => hyper::body::Frame::trailers(t),
                })))
            }
            Poll::Ready(Err(e)) => {
                this.conn = None;
                this.held = None;
                Poll::Ready(Some(Err(BodyError(format!("server body: {e:?}")))))
            }
            Poll::Pending => {
                if let Some(limit) = this.limit {
                    let sleep = this
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                    if sleep.as_mut().poll(cx).is_ready() {
                        this.conn = None;
                        this.held = None;
                        return Poll::Ready(Some(Err(BodyError("server timeout".into()))));
                    }
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.conn.is_none() || self.reader.is_done()
    }
}
