//! An HTTP/1 client connection: requests read with our codec (HAProxy's
//! rules and statuses for malformed input and timeouts), forwarded one at
//! a time (pipelined ones wait their turn), responses written back with
//! HAProxy's framing, keep-alive, and websocket upgrades tunnelled.

use super::server::{
    self, bounded, forward, BodyOut, BodyReader, Deadline, Failure, FeedError, Piece, RequestBody,
    Sent, ServerConn, Upstream,
};
use super::{cache, cookie, for_server, stats_page, strip_hop_by_hop, View};
use crate::frontend::Frontend;
use crate::http1::{self, BodyDecoder, BodyEvent, Framing, HeadParser, Limits, RequestHead};
use crate::log::{ms, Entry};
use crate::runtime::Shared;
use bytes::{Buf, BytesMut};
use http::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, EXPECT, HOST, TE, TRANSFER_ENCODING};
use http::{HeaderMap, StatusCode, Version};
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Why no request head came.
enum NoHead {
    /// The client closed between requests, or idled out before a byte.
    Closed,
    /// `timeout http-request` with part of a head received: 408.
    Timeout,
    /// A malformed or too large head: HAProxy's status.
    Bad(u16),
}

struct Conn<C> {
    io: C,
    buf: BytesMut,
    /// The wait for the next request's first byte, moved from request to
    /// request (see [`Deadline`]); made at the first such wait, so that a
    /// connection that makes one request never has one.
    idle_timer: Option<Deadline>,
}

/// An HTTP/1 client connection, served until it closes. `hold` is kept
/// for as long (the caller's permits and session count), so that this
/// future can be a connection's whole task: every layer around it would
/// hold its own copy of the arguments.
///
/// A plain fn returning an `async move` block, not an `async fn`: an
/// `async fn` keeps each argument twice in its future (as given, and as
/// moved into its body), 150 bytes more in every connection's task.
pub fn serve<C, H>(
    shared: Arc<Shared>,
    fe: Arc<Frontend>,
    io: C,
    peer: SocketAddr,
    local: SocketAddr,
    tls: bool,
    hold: H,
) -> impl std::future::Future<Output = ()> + Send
where
    C: ClientIo,
    H: Send + 'static,
{
    let mut c = Conn {
        io,
        buf: BytesMut::with_capacity(IDLE_BUF),
        idle_timer: None,
    };
    // Since when the connection waits for its next request: the accept,
    // then each response's end (one instant in the task, not two).
    let mut waiting = Instant::now();
    async move {
        let _hold = &hold;
        let mut first = true;
        loop {
            let head = read_head(&mut c, &fe, first, waiting).await;
            // Boxed: a connection waiting for its next request holds only
            // this loop and the head reader, not a whole exchange's state
            // (its log entry, the server's response, the body's futures).
            let go_on = Box::pin(request(
                &shared, &fe, &mut c, head, peer, local, tls, waiting,
            ))
            .await;
            if !go_on {
                return;
            }
            first = false;
            waiting = Instant::now();
        }
    }
}

/// One request after its head was read (or was not): answered, logged;
/// returns whether the connection takes another.
#[allow(clippy::too_many_arguments)] // one request's whole context
async fn request<C>(
    shared: &Shared,
    fe: &Frontend,
    c: &mut Conn<C>,
    head: Result<RequestHead, NoHead>,
    peer: SocketAddr,
    local: SocketAddr,
    tls: bool,
    waiting: Instant,
) -> bool
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut entry = Entry {
        client: Some(peer),
        frontend_addr: Some(local),
        frontend: fe.name.clone(),
        tls,
        backend: fe.name.clone(),
        server: crate::log::no_server(),
        treq: ms(waiting.elapsed()),
        tw: -1,
        tc: -1,
        tr: -1,
        term: *b"--",
        ..Default::default()
    };
    let head = match head {
        Ok(h) => h,
        Err(NoHead::Closed) => return false,
        Err(NoHead::Timeout) => {
            entry.term = *b"cR";
            reject(shared, fe, c, &mut entry, 408, waiting).await;
            return false;
        }
        Err(NoHead::Bad(status)) => {
            entry.term = *b"PR";
            reject(shared, fe, c, &mut entry, status, waiting).await;
            return false;
        }
    };
    if shared.logs(fe) {
        entry.accepted = Some(SystemTime::now() - waiting.elapsed());
        entry.request_line = format!(
            "{} {} {}",
            head.method,
            head.target,
            version_text(head.version)
        );
    }
    let keep = match exchange(shared, fe, c, head, peer, local, tls, &mut entry, waiting).await {
        Next::KeepAlive => true,
        Next::Close => false,
        Next::Upgraded => return false,
    };
    entry.ta = ms(waiting.elapsed());
    entry.tt = entry.ta;
    shared.log(fe, &entry);
    if !keep {
        let _ = c.io.shutdown().await;
    }
    keep
}

enum Next {
    KeepAlive,
    Close,
    Upgraded,
}

fn version_text(v: Version) -> &'static str {
    if v == Version::HTTP_10 {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    }
}

/// The next request's head (a plain fn returning a future, as [`serve`],
/// for the size of every idle connection's task).
fn read_head<'a, C: ClientIo>(
    c: &'a mut Conn<C>,
    fe: &'a Frontend,
    first: bool,
    accepted: Instant,
) -> impl std::future::Future<Output = Result<RequestHead, NoHead>> + Send + 'a {
    let t = &fe.def.timeouts;
    // The first request's head must be in within `timeout http-request`
    // of the accept; later ones may idle `timeout http-keep-alive` first,
    // then have `timeout http-request` from their first byte.
    let mut deadline = if first {
        t.request_headers().map(|d| accepted + d)
    } else {
        None
    };
    // (`LIMITS` and `incomplete` named where used, not held in locals:
    // every byte of this future is in every idle connection's task.)
    async move {
        // HAProxy judges header fields from the bytes of its first read: a
        // parser per head, fed as the buffer grows.
        let mut parser = HeadParser::new();
        // A connection waiting for its next request holds no buffer (HAProxy
        // releases its buffers between requests too): it waits until the
        // socket is readable, then reads into a small one.
        if c.buf.is_empty() && !first {
            c.buf = BytesMut::new();
            let until = t.keep_alive().map(|d| tokio::time::Instant::now() + d);
            let timer = c.idle_timer.get_or_insert_with(Deadline::new);
            match timer.within(until, c.io.readable()).await {
                None => return Err(incomplete(http1::Incomplete::Timeout, 0, first)),
                Some(Err(_)) => return Err(NoHead::Closed),
                Some(Ok(())) => {}
            }
            c.buf.reserve(IDLE_BUF);
        }
        loop {
            if !c.buf.is_empty() {
                match parser.parse(&c.buf, &LIMITS) {
                    Ok(Some(h)) => return Ok(h),
                    Ok(None) if http1::too_large(c.buf.len(), &LIMITS) => {
                        return Err(NoHead::Bad(400))
                    }
                    Ok(None) => {}
                    Err(e) => return Err(NoHead::Bad(e.status())),
                }
            }
            let limit = match (c.buf.is_empty(), deadline) {
                (_, Some(d)) => Some(d.saturating_duration_since(Instant::now())),
                (true, None) => t.keep_alive(),
                (false, None) => {
                    deadline = t.request_headers().map(|d| Instant::now() + d);
                    t.request_headers()
                }
            };
            let was_empty = c.buf.is_empty();
            if c.buf.capacity() - c.buf.len() < MIN_READ {
                c.buf.reserve(READ_BUF);
            }
            let n = match bounded(limit, c.io.read_buf(&mut c.buf)).await {
                None => return Err(incomplete(http1::Incomplete::Timeout, c.buf.len(), first)),
                Some(Err(_)) => return Err(NoHead::Closed),
                Some(Ok(n)) => n,
            };
            if n == 0 {
                return Err(incomplete(
                    http1::Incomplete::ReadClosed,
                    c.buf.len(),
                    first,
                ));
            }
            if was_empty && !first && deadline.is_none() {
                deadline = t.request_headers().map(|d| Instant::now() + d);
            }
        }
    }
}

/// What a head cut short by `why` with `buffered` bytes in gets.
fn incomplete(why: http1::Incomplete, buffered: usize, first: bool) -> NoHead {
    match http1::incomplete_request_reply(why, buffered, !first, false) {
        None => NoHead::Closed,
        Some(408) => NoHead::Timeout,
        Some(s) => NoHead::Bad(s),
    }
}

/// Answer with HAProxy's error message and close.
async fn reject<C: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    fe: &Frontend,
    c: &mut Conn<C>,
    entry: &mut Entry,
    status: u16,
    since: Instant,
) {
    let msg = http1::error_message(status);
    let _ = bounded(fe.def.timeouts.client, c.io.write_all(msg)).await;
    let _ = c.io.shutdown().await;
    fe.counters.request_errors.fetch_add(1, Relaxed);
    fe.counters.response(status);
    entry.status = Some(status);
    entry.bytes = msg.len() as u64;
    entry.ta = ms(since.elapsed());
    entry.tt = entry.ta;
    entry
        .accepted
        .get_or_insert_with(|| SystemTime::now() - since.elapsed());
    if entry.request_line.is_empty() {
        entry.request_line = "<BADREQ>".into();
    }
    shared.log(fe, entry);
}

#[allow(clippy::too_many_arguments)] // one request's whole context
async fn exchange<C>(
    shared: &Shared,
    fe: &Frontend,
    c: &mut Conn<C>,
    head: RequestHead,
    peer: SocketAddr,
    local: SocketAddr,
    tls: bool,
    entry: &mut Entry,
    waiting: Instant,
) -> Next
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    c.buf.advance(head.head_len);
    let head_bytes = head.head_len as u64;
    let is11 = head.version != Version::HTTP_10;
    let has_body = !matches!(head.framing, Framing::None | Framing::Length(0));
    let view = View {
        method: &head.method,
        target: &head.target,
        version: head.version,
        headers: &head.headers,
        src: peer.ip(),
        dst_port: local.port(),
        tls,
        has_body,
    };
    if let Some(uri) = &fe.def.stats_uri {
        if head.target.starts_with(uri.as_str()) {
            let (status, bytes) =
                stats_page::serve(shared, &mut c.io, &head, uri, fe.def.timeouts.client).await;
            entry.status = Some(status);
            entry.bytes = bytes;
            entry.backend = "<STATS>".into();
            fe.counters.response(status);
            return if head.keep_alive && drain_body(c, &head, fe.def.timeouts.client).await {
                Next::KeepAlive
            } else {
                Next::Close
            };
        }
    }
    let Some(backend) = fe.route(&view).cloned() else {
        entry.term = *b"SC";
        reject_keep(shared, fe, c, entry, 503, is11).await;
        return Next::Close;
    };
    entry.backend = backend.name.clone();
    let prefer = backend
        .def
        .cookie
        .as_ref()
        .and_then(|ck| cookie::server_of(ck, &head.headers, &backend.def.servers));
    if head.expect_continue && has_body {
        // The client waits for this before sending its body; the server
        // gets the body without having to say it (nginx does the same).
        let _ = bounded(
            fe.def.timeouts.client,
            c.io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n"),
        )
        .await;
    }
    let forwardfor = fe.def.forwardfor || backend.def.forwardfor;
    let Some(req_head) = upstream_head(&head, &backend.def, peer, forwardfor) else {
        entry.term = *b"PR";
        reject_keep(shared, fe, c, entry, 400, is11).await;
        return Next::Close;
    };
    // Body bytes that came with the head are judged before any server is
    // contacted: a malformed one gets HAProxy's 400 and never leaves.
    let decoder = BodyDecoder::new(&head.framing);
    if let Err(status) = precheck(&decoder, &c.buf, has_body) {
        entry.term = *b"PR";
        reject_keep(shared, fe, c, entry, status, is11).await;
        return Next::Close;
    }
    backend.counters.started();
    let mut body = ClientBody::new(&mut c.io, &mut c.buf, decoder, fe.def.timeouts.client);
    // What `respond` writes without the server head's map: no cookie to
    // set, no upgrade, no HEAD or CONNECT framing.
    let plain = backend.def.cookie.is_none()
        && head.upgrade.is_none()
        && head.method != http::Method::HEAD
        && head.method != http::Method::CONNECT;
    let (fed, upstream) = forward(&backend, &req_head, &mut body, &view, prefer, plain).await;
    entry.tw = -1;
    let up = match (fed, upstream) {
        (Err(FeedError::Bad(status)), _) => {
            backend.counters.finished();
            entry.term = *b"PR";
            reject_keep(shared, fe, c, entry, status, is11).await;
            return Next::Close;
        }
        (Err(FeedError::Client(timeout)), up) => {
            backend.counters.finished();
            entry.term = if timeout { *b"cD" } else { *b"CD" };
            if let Ok(u) = up {
                entry.server = u.slot.name();
            }
            return Next::Close;
        }
        (Ok(_), Err(f)) => {
            backend.counters.finished();
            if let Some(i) = f.server() {
                entry.server = backend.server_names[i].clone();
                backend.server_counters[i]
                    .response_errors
                    .fetch_add(1, Relaxed);
            }
            backend
                .counters
                .response_errors
                .fetch_add(u64::from(f.status() != 503), Relaxed);
            entry.term = f.term();
            if let Failure::ConnectFailed { retries } = f {
                entry.retries = retries;
            }
            reject_keep(shared, fe, c, entry, f.status(), is11).await;
            return Next::Close;
        }
        (Ok(sent), Ok(up)) => {
            let received = head_bytes + sent.bytes;
            fe.counters.bytes(received, 0);
            backend.counters.bytes(received, 0);
            backend.server_counters[up.slot.server].bytes(received, 0);
            up
        }
    };
    let server = up.slot.server;
    let sc = backend.server_counters[server].clone();
    sc.started();
    entry.server = up.slot.name();
    entry.tw = ms(up.queued);
    entry.tc = ms(up.connecting);
    entry.tr = ms(up.waited);
    entry.retries = up.retries;
    entry.redispatched = up.redispatched;
    entry.feconn = fe.counters.current.load(Relaxed);
    entry.beconn = backend.counters.current.load(Relaxed);
    entry.srvconn = sc.current.load(Relaxed);
    let had_cookie = prefer == Some(server);
    let next = respond(
        c,
        &head,
        up,
        &backend,
        had_cookie,
        entry,
        fe.def.timeouts.client,
    )
    .await;
    sc.finished();
    backend.counters.finished();
    if let Some(status) = entry.status {
        fe.counters.response(status);
        backend.counters.response(status);
        sc.response(status);
    }
    fe.counters.bytes(0, entry.bytes);
    backend.counters.bytes(0, entry.bytes);
    sc.bytes(0, entry.bytes);
    let _ = waiting;
    next
}

/// An error page after the head was read (no server, 502/503/504): HAProxy
/// renders those through its stream layer, lowercase headers and
/// `connection: close`; the connection closes after it.
async fn reject_keep<C: AsyncRead + AsyncWrite + Unpin>(
    shared: &Shared,
    fe: &Frontend,
    c: &mut Conn<C>,
    entry: &mut Entry,
    status: u16,
    request_is_11: bool,
) {
    let mut msg = Vec::with_capacity(256);
    if status == 400 || status == 413 || status == 422 {
        msg.extend_from_slice(http1::error_message(status));
    } else {
        http1::stream_error_message(status, false, request_is_11, &mut msg);
    }
    let _ = bounded(fe.def.timeouts.client, c.io.write_all(&msg)).await;
    fe.counters.response(status);
    if status == 400 {
        fe.counters.request_errors.fetch_add(1, Relaxed);
    }
    entry.status = Some(status);
    entry.bytes = msg.len() as u64;
    let _ = shared;
}

/// Decode what is already buffered on a copy of the decoder: an error
/// there is HAProxy's error before forwarding.
fn precheck(decoder: &BodyDecoder, buffered: &BytesMut, has_body: bool) -> Result<(), u16> {
    if !has_body || buffered.is_empty() {
        return Ok(());
    }
    let mut probe = decoder.clone();
    let mut copy = buffered.clone();
    loop {
        match probe.decode(&mut copy) {
            Err(e) => return Err(e.status()),
            Ok(None) | Ok(Some(BodyEvent::End)) => return Ok(()),
            Ok(Some(_)) => {}
        }
    }
}

/// Read and drop a request body we answered ourselves, so the next
/// request on the connection can be read. False if it could not be.
async fn drain_body<C: AsyncRead + AsyncWrite + Unpin + Send>(
    c: &mut Conn<C>,
    head: &RequestHead,
    client_timeout: Option<Duration>,
) -> bool {
    let decoder = BodyDecoder::new(&head.framing);
    let mut body = ClientBody::new(&mut c.io, &mut c.buf, decoder, client_timeout);
    body.send(&[], &mut tokio::io::sink(), None).await.is_ok()
}

/// A request body read from the client's connection as the server takes
/// it (a slow server slows the client's reads), decoded with HAProxy's
/// rules and sent on in the framing the head announced.
struct ClientBody<'a, C> {
    io: &'a mut C,
    buf: &'a mut BytesMut,
    decoder: BodyDecoder,
    client_timeout: Option<Duration>,
    chunked: bool,
    /// No body at all (decided once: the decoder is done after a send too).
    bodyless: bool,
    started: bool,
    /// The buffer and decoder as the first send found them, when the whole
    /// body was already buffered (within one read buffer, as HAProxy keeps
    /// a request for a retry only when it fits its buffer): the request
    /// can then go again, on another connection, from this copy.
    replay: Option<(BytesMut, BodyDecoder)>,
}

impl<'a, C> ClientBody<'a, C> {
    fn new(
        io: &'a mut C,
        buf: &'a mut BytesMut,
        decoder: BodyDecoder,
        client_timeout: Option<Duration>,
    ) -> Self {
        ClientBody {
            chunked: decoder.is_chunked(),
            bodyless: decoder.is_done(),
            io,
            buf,
            decoder,
            client_timeout,
            started: false,
            replay: None,
        }
    }
}

/// Whether `buffered` holds the whole of the body `decoder` is at.
fn whole_body_in(decoder: &BodyDecoder, buffered: &BytesMut) -> bool {
    let mut probe = decoder.clone();
    let mut copy = buffered.clone();
    loop {
        match probe.decode(&mut copy) {
            Ok(Some(BodyEvent::End)) => return true,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return false,
        }
    }
}

impl<C: AsyncRead + Unpin + Send> RequestBody for ClientBody<'_, C> {
    fn is_empty(&self) -> bool {
        self.bodyless
    }

    fn replayable(&self) -> bool {
        !self.started || self.replay.is_some()
    }

    async fn send<W: AsyncWrite + Unpin + Send>(
        &mut self,
        head: &[u8],
        w: &mut W,
        limit: Option<Duration>,
    ) -> Result<Sent, FeedError> {
        if !self.started {
            self.started = true;
            if self.buf.len() <= READ_BUF && whole_body_in(&self.decoder, self.buf) {
                self.replay = Some((self.buf.clone(), self.decoder.clone()));
            }
        } else if let Some((buf, decoder)) = &self.replay {
            // Sent again: from where the first send started.
            *self.buf = buf.clone();
            self.decoder = decoder.clone();
        }
        let mut out = BodyOut::new(head, self.chunked, self.buf.len().min(BIG_FRAME) + 32);
        loop {
            match self.decoder.decode(self.buf) {
                Err(e) => return Err(FeedError::Bad(e.status())),
                Ok(Some(BodyEvent::Data(d))) => {
                    out.data(&d);
                    if out.pending() >= BIG_FRAME {
                        out.flush(w, limit).await;
                    }
                    continue;
                }
                Ok(Some(BodyEvent::Trailers(t))) => {
                    out.trailers(t);
                    continue;
                }
                Ok(Some(BodyEvent::End)) => return Ok(out.finish(w, limit).await),
                Ok(None) => {}
            }
            // What is decoded leaves before waiting on the client.
            out.flush(w, limit).await;
            if self.buf.capacity() - self.buf.len() < MIN_READ {
                self.buf.reserve(READ_BUF);
            }
            match bounded(self.client_timeout, self.io.read_buf(self.buf)).await {
                None => return Err(FeedError::Client(true)),
                Some(Ok(0)) | Some(Err(_)) => return Err(FeedError::Client(false)),
                Some(Ok(_)) => {}
            }
        }
    }
}

/// The request head as the server gets it: hop-by-hop headers dropped,
/// our cookie stripped (`indirect`), `X-Forwarded-For` added. None: a
/// target that is not a URI (400).
fn upstream_head(
    head: &RequestHead,
    be: &xlb_model::proxy::BackendDef,
    peer: SocketAddr,
    forwardfor: bool,
) -> Option<Vec<u8>> {
    let uri: http::Uri = head.target.parse().ok()?;
    let length = match head.framing {
        Framing::Length(n) => Some(n),
        _ => None,
    };
    let upgrade = head.upgrade.is_some();
    // Nothing below would change the head (no field to drop or add, an
    // HTTP/1.1 request in origin form): it goes as it is, without a copy of
    // its map.
    if !upgrade
        && head.version == Version::HTTP_11
        && !matches!(head.framing, Framing::Chunked)
        && head.target.starts_with('/')
        && be.cookie.is_none()
        && !forwardfor
        && head.headers.contains_key(HOST)
        && !head.headers.contains_key(EXPECT)
        && !head.headers.contains_key(CONTENT_LENGTH)
        && !super::has_hop_by_hop(&head.headers)
    {
        return Some(server::request_head(
            &head.method,
            &head.target,
            Version::HTTP_11,
            &head.headers,
            length,
        ));
    }
    let mut headers = head.headers.clone();
    strip_hop_by_hop(&mut headers, upgrade);
    // The codec left TE only as "trailers", which servers may be told.
    if let Some(te) = head.headers.get(TE) {
        headers.insert(TE, te.clone());
    }
    headers.remove(EXPECT);
    headers.remove(CONTENT_LENGTH);
    if matches!(head.framing, Framing::Chunked) {
        headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    }
    if upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    }
    for_server(
        &mut headers,
        be.cookie.as_ref(),
        forwardfor.then_some(peer.ip()),
    );
    if !headers.contains_key(HOST) {
        if let Some(a) = uri.authority() {
            if let Ok(v) = HeaderValue::from_str(a.as_str()) {
                headers.insert(HOST, v);
            }
        }
    }
    // An HTTP/1.0 request goes on as HTTP/1.0, with the server connection
    // kept alive by saying so, as HAProxy does (a chunked 1.0 request,
    // which HTTP/1.0 cannot carry, goes as 1.1).
    let version = if head.version == Version::HTTP_11 || matches!(head.framing, Framing::Chunked) {
        Version::HTTP_11
    } else {
        if !upgrade {
            headers.insert(CONNECTION, HeaderValue::from_static("keep-alive"));
        }
        Version::HTTP_10
    };
    let absolute;
    let target = if head.target.starts_with('/') {
        head.target.as_str()
    } else {
        absolute = uri.to_string();
        absolute.as_str()
    };
    Some(server::request_head(
        &head.method,
        target,
        version,
        &headers,
        length,
    ))
}

/// Write the server's response to the client; returns whether the client
/// connection goes on.
async fn respond<C>(
    c: &mut Conn<C>,
    head: &RequestHead,
    up: Upstream,
    backend: &crate::backend::Backend,
    had_cookie: bool,
    entry: &mut Entry,
    client_timeout: Option<Duration>,
) -> Next
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let Upstream {
        mut conn,
        head: mut server_head,
        slot,
        sent_whole,
        ..
    } = up;
    let status = server_head.status;
    entry.status = Some(status.as_u16());
    let upgraded = status == StatusCode::SWITCHING_PROTOCOLS && head.upgrade.is_some();
    // A websocket handshake the server did not complete (no accept for the
    // client's key) is a bad response, as HAProxy judges it.
    if upgraded
        && head.headers.contains_key("sec-websocket-key")
        && !server_head.headers.contains_key("sec-websocket-accept")
    {
        entry.term = *b"PH";
        entry.status = Some(502);
        backend.counters.response_errors.fetch_add(1, Relaxed);
        backend.server_counters[slot.server]
            .response_errors
            .fetch_add(1, Relaxed);
        let msg = http1::error_message(502);
        let _ = write(c, msg, client_timeout).await;
        entry.bytes = msg.len() as u64;
        return Next::Close;
    }
    let framing = if upgraded {
        Framing::None
    } else if let Some(p) = &server_head.plain {
        http1::plain_response_framing(&head.method, status, p)
    } else {
        http1::response_framing(&head.method, status, &server_head.headers)
    };
    // As HAProxy: the server's version and framing go to the client as they
    // are (a close-delimited body closes the client's connection too), and
    // Connection says what the versions would not.
    let version = server_head.version;
    let keep_alive = head.keep_alive
        && !matches!(framing, Framing::UntilClose)
        && !upgraded
        && !server_head.forced_close;
    let mut out = Vec::with_capacity(1024);
    if let Some(p) = &server_head.plain {
        let connection = http1::connection_header(
            keep_alive,
            head.version == Version::HTTP_11,
            version == Version::HTTP_11,
        );
        http1::write_plain_response_head(
            status,
            version,
            &server_head.reason,
            p,
            &framing,
            connection,
            &mut out,
        );
    } else {
        let mut headers = std::mem::take(&mut server_head.headers);
        // An answer to HEAD keeps the framing headers of the body it stands for.
        let head_answer = head.method == http::Method::HEAD;
        let chunked_answer = head_answer
            && http1::response_framing(&http::Method::GET, status, &headers) == Framing::Chunked;
        strip_hop_by_hop(&mut headers, upgraded);
        if !matches!(framing, Framing::Length(_)) && !head_answer {
            headers.remove(CONTENT_LENGTH);
        }
        if chunked_answer {
            headers.insert(TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        }
        if let Some(ck) = &backend.def.cookie {
            let cacheable = cache::request_cacheable(&head.method, &head.headers)
                && cache::response_cacheable(status, &headers);
            cookie::on_response(ck, slot.def(), had_cookie, cacheable, &mut headers);
        }
        if upgraded {
            headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
        } else if let Some(v) = http1::connection_header(
            keep_alive,
            head.version == Version::HTTP_11,
            version == Version::HTTP_11,
        ) {
            headers.insert(CONNECTION, HeaderValue::from_static(v));
        }
        let out_head = http1::ResponseHead {
            status,
            version,
            headers,
            framing,
            // The server's own phrase when it was not the usual one.
            reason: Some(std::mem::take(&mut server_head.reason)),
        };
        http1::write_response_head(&out_head, &mut out);
    }
    let ct = client_timeout;
    if upgraded {
        if write(c, &out, ct).await.is_err() {
            entry.term = *b"CH";
            return Next::Close;
        }
        entry.bytes = out.len() as u64;
        return tunnel_upgrade(c, conn, slot, backend, entry).await;
    }
    // The head and the body already received leave in one write (a small
    // answer in one segment, as HAProxy sends it); what is pending goes out
    // before waiting on the server.
    let server_timeout = backend.def.timeouts.server;
    let chunked = matches!(framing, Framing::Chunked);
    let mut reader = BodyReader::new(&framing);
    let mut trailers: Option<HeaderMap> = None;
    let mut sent = 0u64;
    loop {
        let piece = match reader.ready_now(&mut conn) {
            Some(p) => Some(p),
            None => {
                if !out.is_empty() {
                    if let Err(term) = send(c, &out, ct, &mut sent).await {
                        entry.term = term;
                        return Next::Close;
                    }
                    out.clear();
                }
                bounded(server_timeout, reader.next(&mut conn)).await
            }
        };
        let piece = match piece {
            None => {
                entry.term = *b"sD";
                backend.counters.response_errors.fetch_add(1, Relaxed);
                let _ = send(c, &out, ct, &mut sent).await;
                entry.bytes = sent;
                return Next::Close;
            }
            Some(Ok(None)) => break,
            Some(Err(_)) => {
                // The server died mid-response: the client's response is cut
                // (no last chunk), as HAProxy cuts it.
                entry.term = *b"SD";
                backend.counters.response_errors.fetch_add(1, Relaxed);
                backend.server_counters[slot.server]
                    .response_errors
                    .fetch_add(1, Relaxed);
                let _ = send(c, &out, ct, &mut sent).await;
                entry.bytes = sent;
                return Next::Close;
            }
            Some(Ok(Some(p))) => p,
        };
        let d = match piece {
            Piece::Data(d) => d,
            Piece::Trailers(t) => {
                trailers = Some(t);
                continue;
            }
        };
        if chunked {
            http1::encode_chunk(&d, &mut out);
        } else if d.len() < BIG_FRAME {
            out.extend_from_slice(&d);
        } else {
            // Large pieces are written as they are, not copied.
            if !out.is_empty() {
                if let Err(term) = send(c, &out, ct, &mut sent).await {
                    entry.term = term;
                    return Next::Close;
                }
                out.clear();
            }
            if let Err(term) = send(c, &d, ct, &mut sent).await {
                entry.term = term;
                return Next::Close;
            }
        }
        if out.len() >= BIG_FRAME {
            if let Err(term) = send(c, &out, ct, &mut sent).await {
                entry.term = term;
                return Next::Close;
            }
            out.clear();
        }
    }
    if chunked {
        http1::encode_last_chunk(trailers.as_ref(), &mut out);
    }
    if !out.is_empty() {
        if let Err(term) = send(c, &out, ct, &mut sent).await {
            entry.term = term;
            return Next::Close;
        }
    }
    entry.bytes = sent;
    // Reused only at a response's clean end with nothing after it, and
    // never after an exchange whose framing closes (TE beside CL, chunked
    // HTTP/1.0, a body until close): the server may be closing it as we
    // finish, and a request sent on it then meets the close instead of an
    // answer. A client's plain "close" is not one: the server was not told
    // (hop-by-hop), and closing its connection here left a TIME_WAIT on the
    // director per request (~20 000 in a 6 s close benchmark, until
    // connect() crawled through a port range half full of them).
    let ends_here = head.close_forced || matches!(framing, Framing::UntilClose);
    if server_head.reusable && !ends_here && sent_whole && reader.is_done() && conn.buf.is_empty() {
        backend.pools[slot.server].put(conn);
    }
    drop(slot);
    if keep_alive {
        Next::KeepAlive
    } else {
        Next::Close
    }
}

/// A client connection: a stream that can also say when it is readable,
/// so that an idle keep-alive connection waits without a buffer.
pub trait ClientIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send;
}

/// The socket's own read-readiness slot, not `TcpStream::readable`'s
/// waiter (152 bytes in every idle connection's task; this is 8).
impl ClientIo for tokio::net::TcpStream {
    fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        std::future::poll_fn(|cx| self.poll_read_ready(cx))
    }
}

/// TLS may hold decrypted bytes the socket no longer shows: no waiting
/// here, the read (and its buffer) waits instead.
impl ClientIo for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    fn readable(&self) -> impl std::future::Future<Output = std::io::Result<()>> + Send {
        std::future::ready(Ok(()))
    }
}

/// HAProxy's default buffer limits, shared.
static LIMITS: Limits = Limits::from_tune(16384, 1024, 101);

/// The buffer a request's head is first read into: most heads fit.
const IDLE_BUF: usize = 1024;
/// What a read that needs room gets (HAProxy's bufsize).
const READ_BUF: usize = 16 * 1024;
/// Less room than this and a read gets `READ_BUF` more.
const MIN_READ: usize = 256;

/// Frames of at least this size are written as they come, not gathered.
const BIG_FRAME: usize = 16 * 1024;

/// Write part of a response, counting it in `sent`; a failure is the
/// client's, in the head (`CH`) or the body (`CD`).
async fn send<C: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Conn<C>,
    data: &[u8],
    limit: Option<Duration>,
    sent: &mut u64,
) -> Result<(), [u8; 2]> {
    match write(c, data, limit).await {
        Ok(()) => {
            *sent += data.len() as u64;
            Ok(())
        }
        Err(()) if *sent == 0 => Err(*b"CH"),
        Err(()) => Err(*b"CD"),
    }
}

async fn write<C: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Conn<C>,
    data: &[u8],
    limit: Option<Duration>,
) -> Result<(), ()> {
    match bounded(limit, c.io.write_all(data)).await {
        Some(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// After a 101: bytes both ways between the client (what it already sent
/// first) and the server's connection (what it sent after its head
/// first), until both close or the tunnel idles (`timeout tunnel`).
async fn tunnel_upgrade<C>(
    c: &mut Conn<C>,
    mut conn: ServerConn,
    slot: crate::backend::Slot,
    backend: &crate::backend::Backend,
    entry: &mut Entry,
) -> Next
where
    C: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    if !conn.buf.is_empty() {
        let early = std::mem::take(&mut conn.buf);
        if c.io.write_all(&early).await.is_err() {
            return Next::Close;
        }
        entry.bytes += early.len() as u64;
    }
    if !c.buf.is_empty() {
        let early = std::mem::take(&mut c.buf);
        if conn.io.write_all(&early).await.is_err() {
            return Next::Close;
        }
    }
    let idle = backend.def.timeouts.tunnel_idle();
    let t = crate::tunnel::run(&mut c.io, conn.io, idle).await;
    entry.bytes += t.server_to_client;
    drop(slot);
    Next::Upgraded
}
