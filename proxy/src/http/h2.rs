//! h2 from clients (TLS with ALPN `h2`), served by hyper: each stream is
//! routed, balanced and forwarded to an HTTP/1.1 server as an HTTP/1
//! request would be (HAProxy's h2-to-h1 path).

use super::body::{BodyError, ReqBody};
use super::forward::forward;
use super::{cache, cookie, for_server, strip_hop_by_hop, View};
use crate::frontend::Frontend;
use crate::http1;
use crate::log::{ms, Entry};
use crate::runtime::Shared;
use bytes::Bytes;
use http::header::{HeaderValue, CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::{Response, StatusCode, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncWrite};

type RespBody = BoxBody<Bytes, BodyError>;

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
        frontend: fe.def.name.clone(),
        tls: true,
        backend: fe.def.name.clone(),
        server: "<NOSRV>".into(),
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
    entry.backend = backend.def.name.clone();
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
    let origin: http::Uri = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .unwrap_or_else(|_| http::Uri::from_static("/"));
    let req_body: ReqBody = body.map_err(|e| BodyError(e.to_string())).boxed();
    let mut up_req = http::Request::new(req_body);
    *up_req.method_mut() = parts.method.clone();
    *up_req.uri_mut() = origin;
    *up_req.version_mut() = Version::HTTP_11;
    *up_req.headers_mut() = headers;
    backend.counters.started();
    let up = forward(&backend, up_req, &view, prefer).await;
    backend.counters.finished();
    let up = match up {
        Ok(u) => u,
        Err(f) => {
            entry.term = f.term();
            return done(&shared, &mut entry, f.status(), error(f.status()));
        }
    };
    let slot = up.slot;
    entry.server = slot.def().name.clone();
    entry.tw = ms(up.queued);
    entry.tc = ms(up.connecting);
    entry.tr = ms(up.waited);
    let (mut rparts, rbody) = up.response.into_parts();
    strip_hop_by_hop(&mut rparts.headers, false);
    if let Some(ck) = &backend.def.cookie {
        let cacheable = cache::request_cacheable(&parts.method, &parts.headers)
            && cache::response_cacheable(rparts.status, &rparts.headers);
        cookie::on_response(
            ck,
            slot.def(),
            prefer == Some(slot.server),
            cacheable,
            &mut rparts.headers,
        );
    }
    let status = rparts.status.as_u16();
    backend.counters.response(status);
    backend.server_counters[slot.server].response(status);
    backend.server_counters[slot.server]
        .total
        .fetch_add(1, Relaxed);
    let server_timeout = backend.def.timeouts.server;
    // The slot and pooled connection are held until the body is read whole.
    let pool_back = (backend.clone(), slot, up.sender);
    let stream = futures_body(rbody, server_timeout, pool_back);
    rparts.version = Version::HTTP_2;
    let r = Response::from_parts(rparts, stream);
    done(&shared, &mut entry, status, r)
}

/// The server's body as the h2 response's, bounded per frame by `timeout
/// server`; when it ends, the connection returns to the pool and the slot
/// is freed (dropped early, they are freed without returning).
fn futures_body(
    body: Incoming,
    limit: Option<std::time::Duration>,
    held: (
        Arc<crate::backend::Backend>,
        crate::backend::Slot,
        super::pool::Sender,
    ),
) -> RespBody {
    Guarded {
        inner: body,
        limit,
        sleep: None,
        held: Some(held),
    }
    .boxed()
}

type Held = (
    Arc<crate::backend::Backend>,
    crate::backend::Slot,
    super::pool::Sender,
);

struct Guarded {
    inner: Incoming,
    limit: Option<std::time::Duration>,
    sleep: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    held: Option<Held>,
}

impl hyper::body::Body for Guarded {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, BodyError>>> {
        use std::task::Poll;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(None) => {
                if let Some((backend, slot, sender)) = this.held.take() {
                    backend.pools[slot.server].put(sender);
                }
                Poll::Ready(None)
            }
            Poll::Ready(Some(r)) => {
                this.sleep = None;
                Poll::Ready(Some(r.map_err(|e| {
                    this.held = None;
                    BodyError(e.to_string())
                })))
            }
            Poll::Pending => {
                if let Some(limit) = this.limit {
                    let sleep = this
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                    if sleep.as_mut().poll(cx).is_ready() {
                        this.held = None;
                        return Poll::Ready(Some(Err(BodyError("server timeout".into()))));
                    }
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}
