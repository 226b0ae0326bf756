//! A `mode tcp` session: route by the connection's ACLs, get a server,
//! and tunnel bytes both ways until both sides close or the tunnel idles.

use crate::acl::Sample;
use crate::balance::KeySource;
use crate::connect::{connect, ConnectError};
use crate::frontend::Frontend;
use crate::log::{ms, Entry};
use crate::runtime::Shared;
use crate::tunnel::{self, End};
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use xlb_model::proxy::Balance;

/// What a tcp connection shows ACLs and the balancer.
pub struct Conn {
    pub src: IpAddr,
    pub dst_port: u16,
    pub tls: bool,
    /// The client's first bytes, when the session waited for them.
    pub payload: Vec<u8>,
}

impl Sample for Conn {
    fn src(&self) -> IpAddr {
        self.src
    }
    fn dst_port(&self) -> u16 {
        self.dst_port
    }
    fn tls(&self) -> bool {
        self.tls
    }
}

impl KeySource for Conn {
    fn src(&self) -> IpAddr {
        self.src
    }
    fn payload(&self) -> Option<&[u8]> {
        Some(&self.payload)
    }
}

/// Whether waiting longer could still bring an RDP cookie: the X.224
/// header (11 bytes), then `Cookie:` up to its CRLF (HAProxy's
/// fetch_rdp_cookie_name reads exactly that).
fn rdp_cookie_pending(p: &[u8]) -> bool {
    const HEADER: usize = 11;
    let after = &p[p.len().min(HEADER)..];
    let word = b"cookie:";
    let n = after.len().min(word.len());
    if !after[..n].eq_ignore_ascii_case(&word[..n]) {
        return false;
    }
    p.len() < 4096 && !after.windows(2).any(|w| w == b"\r\n")
}

pub async fn serve<C>(
    shared: Arc<Shared>,
    fe: Arc<Frontend>,
    mut client: C,
    peer: SocketAddr,
    local: SocketAddr,
    tls: bool,
) where
    C: AsyncRead + AsyncWrite + Unpin,
{
    let accepted = Instant::now();
    let mut entry = Entry {
        client: Some(peer),
        frontend_addr: Some(local),
        accepted: Some(SystemTime::now()),
        frontend: fe.name.clone(),
        tls,
        backend: fe.name.clone(),
        server: crate::log::no_server(),
        tw: -1,
        tc: -1,
        term: *b"--",
        ..Default::default()
    };
    let mut conn = Conn {
        src: peer.ip(),
        dst_port: local.port(),
        tls,
        payload: Vec::new(),
    };
    let Some(backend) = fe.route(&conn).cloned() else {
        entry.term = *b"SC";
        entry.tt = ms(accepted.elapsed());
        shared.log(&fe, &entry);
        return;
    };
    entry.backend = backend.name.clone();
    // `tcp-request inspect-delay` + `accept if RDP_COOKIE`: wait for the
    // cookie the balancer hashes (or the delay, or the client's close).
    if let (Some(delay), Balance::RdpCookie { .. }) = (fe.def.inspect_delay, &backend.def.balance) {
        let until = tokio::time::Instant::now() + delay;
        let mut chunk = [0u8; 2048];
        while rdp_cookie_pending(&conn.payload) {
            match tokio::time::timeout_at(until, client.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => conn.payload.extend_from_slice(&chunk[..n]),
                _ => break,
            }
        }
    }
    backend.counters.started();
    let outcome = connect(&backend, &conn, None).await;
    let c = match outcome {
        Ok(c) => c,
        Err(e) => {
            backend.counters.finished();
            backend.counters.request_errors.fetch_add(1, Relaxed);
            entry.term = match e {
                ConnectError::Refused(crate::backend::Refused::QueueTimeout) => *b"sQ",
                _ => *b"SC",
            };
            if let ConnectError::Failed { retries } = e {
                entry.retries = retries;
            }
            entry.tt = ms(accepted.elapsed());
            shared.log(&fe, &entry);
            return;
        }
    };
    let server = c.slot.server;
    let sc = backend.server_counters[server].clone();
    sc.started();
    entry.server = c.slot.name();
    entry.tw = ms(c.queued);
    entry.tc = ms(c.connecting);
    entry.retries = c.retries;
    entry.redispatched = c.redispatched;
    entry.feconn = fe.counters.current.load(Relaxed);
    entry.beconn = backend.counters.current.load(Relaxed);
    entry.srvconn = sc.current.load(Relaxed);
    let idle = backend
        .def
        .timeouts
        .tunnel_idle()
        .or(fe.def.timeouts.client);
    let mut server_stream = c.stream;
    if !conn.payload.is_empty() && server_stream.write_all(&conn.payload).await.is_err() {
        entry.term = *b"SD";
    }
    let t = tunnel::run(client, server_stream, idle).await;
    drop(c.slot);
    sc.finished();
    backend.counters.finished();
    let up = t.client_to_server + conn.payload.len() as u64;
    for counters in [&fe.counters, &backend.counters, &sc] {
        counters.bytes(up, t.server_to_client);
    }
    entry.bytes = t.server_to_client;
    entry.term = match t.end {
        End::Closed => *b"--",
        End::Idle => *b"cD",
        End::Error => *b"CD",
    };
    entry.tt = ms(accepted.elapsed());
    let null = t.client_to_server == 0 && t.server_to_client == 0;
    if !(null && fe.def.dontlognull) {
        shared.log(&fe, &entry);
    }
}
