//! Reuse of idle server connections against a scripted local server: an
//! exchange that closes leaves nothing to reuse, and a request that meets
//! a reused connection the server has just closed goes again on a new one.
//!
//! The server closes a connection only once the next request is on it, so
//! the race a loaded machine loses now and then (the server's FIN still on
//! its way while the connection looks idle) is lost every time here.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread;
use std::time::Duration;
use xlb_model::proxy::{
    BackendDef, Balance, BindDef, FrontendDef, HashSpec, LogFormat, Mode, ProxySettings,
    ProxyTimeouts, ServerDef,
};
use xlb_proxy::Proxy;

const WAIT: Duration = Duration::from_secs(5);

fn timeouts() -> ProxyTimeouts {
    ProxyTimeouts {
        client: Some(WAIT),
        connect: Some(WAIT),
        server: Some(WAIT),
        ..Default::default()
    }
}

/// A port free a moment ago, for the proxy's frontend to bind.
fn free_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// An HTTP proxy on a free port, one backend with one server at `server`.
fn proxy(server: SocketAddr) -> (Proxy, SocketAddr) {
    let front = free_port();
    let settings = ProxySettings {
        threads: 1,
        maxconn: 0,
        frontends: vec![FrontendDef {
            name: "f".into(),
            mode: Mode::Http,
            binds: vec![BindDef {
                addr: front,
                tls: None,
            }],
            maxconn: 100,
            acls: vec![],
            use_backend: vec![],
            default_backend: Some("b".into()),
            timeouts: timeouts(),
            log: None,
            log_format: LogFormat::default(),
            dontlognull: false,
            forwardfor: false,
            stats_uri: None,
            inspect_delay: None,
        }],
        backends: vec![BackendDef {
            name: "b".into(),
            mode: Mode::Http,
            balance: Balance::RoundRobin,
            hash: HashSpec::default(),
            servers: vec![ServerDef {
                name: "s".into(),
                addr: server,
                id: 1,
                weight: 1,
                backup: false,
                maxconn: 0,
                disabled: false,
                cookie: None,
                check: None,
            }],
            cookie: None,
            httpchk: None,
            allbackups: false,
            redispatch: false,
            retries: 3,
            forwardfor: false,
            timeouts: timeouts(),
        }],
    };
    (Proxy::start(&settings).expect("proxy starts"), front)
}

/// The next connection to `server`, within `WAIT` (None: the proxy did
/// not connect; a bare accept would wait for ever).
fn accept(server: &TcpListener) -> Option<TcpStream> {
    server.set_nonblocking(true).unwrap();
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline {
        match server.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return Some(s);
            }
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
    None
}

/// One request read from `s`: its head, and a chunked body to its last
/// chunk. None: the connection closed (or stayed silent) first.
fn read_request(s: &mut TcpStream) -> Option<String> {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let chunked = text[..end].to_ascii_lowercase().contains("chunked");
            if !chunked || text[end + 4..].contains("0\r\n\r\n") {
                return Some(text);
            }
        }
        match s.read(&mut b) {
            Ok(0) | Err(_) => return None,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
}

/// A whole response to `req` on a new client connection: up to the end
/// of its two-byte body, or to the close.
fn ask(front: SocketAddr, req: &[u8]) -> String {
    let mut c = TcpStream::connect(front).unwrap();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.write_all(req).unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if text.contains("\r\n\r\nok") {
            return text;
        }
        match c.read(&mut b) {
            Ok(0) | Err(_) => return text,
            Ok(n) => got.extend_from_slice(&b[..n]),
        }
    }
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn first_line(r: &str) -> &str {
    r.lines().next().unwrap_or("")
}

/// HAProxy's regtest http_transfer_encoding, c1 then c2: a request with
/// both Transfer-Encoding and Content-Length closes its exchange, so its
/// server connection must not be handed to the next request.
#[test]
fn a_closing_exchange_leaves_its_server_connection_out_of_the_pool() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let script = thread::spawn(move || {
        let mut a = accept(&server).expect("the proxy connects");
        let first = read_request(&mut a).expect("c1 reaches the server");
        a.write_all(OK).unwrap();
        // Kept open: what came next on it (None: the proxy closed it).
        let then_on_a = read_request(&mut a);
        drop(a);
        let mut b = accept(&server);
        let second = b.as_mut().and_then(read_request);
        if let (Some(b), Some(_)) = (b.as_mut(), &second) {
            b.write_all(OK).unwrap();
        }
        (first, then_on_a, second)
    });
    let (p, front) = proxy(addr);
    let c1 = ask(
        front,
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
    );
    assert_eq!(first_line(&c1), "HTTP/1.1 200 OK", "c1: {c1}");
    assert!(
        c1.to_ascii_lowercase().contains("connection: close"),
        "{c1}"
    );
    let c2 = ask(
        front,
        b"POST /http10 HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    );
    let (first, then_on_a, second) = script.join().unwrap();
    p.shutdown();
    assert!(first.starts_with("POST / HTTP/1.1\r\n"), "{first}");
    assert_eq!(then_on_a, None, "c2 was sent on c1's server connection");
    assert!(
        second
            .as_deref()
            .is_some_and(|r| r.starts_with("POST /http10 ")),
        "{second:?}"
    );
    // Sent on as HTTP/1.1 (chunked), answered in the server's version.
    assert_eq!(first_line(&c2), "HTTP/1.1 200 OK", "c2: {c2}");
    assert!(c2.ends_with("\r\n\r\nok"), "c2: {c2}");
}

/// A keep-alive connection is reused; the server closes it as the next
/// request arrives, unanswered. That request, its body whole in the
/// proxy's buffer, goes again on a new connection: the client gets the
/// answer, not a 502, and the backend counts a retry.
#[test]
fn a_request_on_a_reused_connection_the_server_closed_goes_again_on_a_new_one() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let script = thread::spawn(move || {
        let mut a = accept(&server).expect("the proxy connects");
        let first = read_request(&mut a).expect("r1 reaches the server");
        a.write_all(OK).unwrap();
        // The close races the next request: it is on the connection, not
        // answered.
        let on_a = read_request(&mut a);
        drop(a);
        let mut b = accept(&server);
        let on_b = b.as_mut().and_then(read_request);
        if let (Some(b), Some(_)) = (b.as_mut(), &on_b) {
            b.write_all(OK).unwrap();
        }
        (first, on_a, on_b)
    });
    let (p, front) = proxy(addr);
    let r1 = ask(front, b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(first_line(&r1), "HTTP/1.1 200 OK", "r1: {r1}");
    let r2 = ask(
        front,
        b"POST /2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    let (_, on_a, on_b) = script.join().unwrap();
    let status = p.status();
    p.shutdown();
    let on_a = on_a.expect("r2 was sent on the reused connection");
    assert!(on_a.starts_with("POST /2 "), "{on_a}");
    assert_eq!(
        on_b.as_deref(),
        Some(on_a.as_str()),
        "the same request again"
    );
    assert!(on_a.ends_with("5\r\nhello\r\n0\r\n\r\n"), "{on_a}");
    assert_eq!(first_line(&r2), "HTTP/1.1 200 OK", "r2: {r2}");
    let b = &status.backends[0];
    assert_eq!(b.counters.retries, 1);
    assert_eq!(b.counters.http_responses[4], 0, "no 5xx");
}
