//! Health checks of proxy servers with HAProxy's semantics: a TCP connect,
//! or with `httpchk` an HTTP request whose answer `http_check_expect`
//! judges; `inter`/`fastinter`/`downinter` pacing from the end of the last
//! check; `rise`/`fall` counted as HAProxy's `check->health` (a server
//! starts up but one failure from down, as HAProxy's does).

use crate::backend::Backend;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use xlb_model::proxy::{HttpCheckDef, HttpExpect, ServerCheck};

/// One check's outcome, in HAProxy's status words (`L4OK`, `L4CON`,
/// `L4TOUT`, `L7OK`, `L7STS`, `L7RSP`, `L7TOUT`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub ok: bool,
    pub status: String,
}

/// Start the checks of every checked server of `backend`, spread over the
/// first interval as HAProxy spreads them (`inter * position / count`).
/// The tasks run until aborted (when the backend is replaced or removed).
pub fn start(backend: &Arc<Backend>) -> Vec<JoinHandle<()>> {
    let checked: Vec<usize> = (0..backend.def.servers.len())
        .filter(|&i| backend.def.servers[i].check.is_some())
        .collect();
    let n = checked.len() as u32;
    checked
        .into_iter()
        .enumerate()
        .map(|(pos, i)| {
            let b = backend.clone();
            tokio::spawn(async move { run(b, i, pos as u32, n).await })
        })
        .collect()
}

async fn run(backend: Arc<Backend>, i: usize, pos: u32, n: u32) {
    let server = &backend.def.servers[i];
    let Some(chk) = server.check else { return };
    let target = SocketAddr::new(
        chk.addr.unwrap_or(server.addr.ip()),
        chk.port.unwrap_or(server.addr.port()),
    );
    tokio::time::sleep(chk.inter * pos / n.max(1)).await;
    loop {
        let started = Instant::now();
        let out = probe(target, &chk, &backend).await;
        let took = started.elapsed();
        tracing::debug!(
            "check {}/{}: {} in {took:?}",
            backend.def.name,
            server.name,
            out.status
        );
        if let Some(st) = backend.check_result(i, out.ok, out.status.clone()) {
            let (up, backups) = live_counts(&backend);
            if st.usable() || st.check.is_some_and(|c| c.up()) {
                tracing::warn!(
                    "Server {}/{} is UP, reason: {}, check duration: {}ms. {up} active and {backups} backup servers online.",
                    backend.def.name,
                    server.name,
                    describe(&out),
                    took.as_millis()
                );
            } else {
                tracing::warn!(
                    "Server {}/{} is DOWN, reason: {}, check duration: {}ms. {up} active and {backups} backup servers left.",
                    backend.def.name,
                    server.name,
                    describe(&out),
                    took.as_millis()
                );
            }
        }
        let health = backend.check_health(i);
        let wait = health.map_or(chk.inter, |h| {
            h.interval(chk.inter, chk.fastinter, chk.downinter)
        });
        tokio::time::sleep(wait).await;
    }
}

fn describe(o: &Outcome) -> String {
    match o.status.split_once(' ') {
        Some((code, rest)) => format!("Layer{} {code}: {rest}", &code[1..2]),
        None => o.status.clone(),
    }
}

/// Usable active and backup servers.
fn live_counts(b: &Backend) -> (usize, usize) {
    let states = b.states();
    let (mut up, mut backups) = (0, 0);
    for (s, st) in b.def.servers.iter().zip(&states) {
        if st.usable() {
            if s.backup {
                backups += 1
            } else {
                up += 1
            }
        }
    }
    (up, backups)
}

/// HAProxy's check timeouts: with `timeout check`, the connect gets
/// min(`timeout connect`, `inter`) and the answer `timeout check`; without
/// it, `inter` bounds the whole check.
fn timeouts(chk: &ServerCheck, b: &Backend) -> (Duration, Duration) {
    match b.def.timeouts.check {
        Some(read) => {
            let connect = b
                .def
                .timeouts
                .connect
                .map_or(chk.inter, |c| c.min(chk.inter));
            (connect, read)
        }
        None => (chk.inter, chk.inter),
    }
}

pub async fn probe(target: SocketAddr, chk: &ServerCheck, b: &Backend) -> Outcome {
    let (connect_t, read_t) = timeouts(chk, b);
    let stream = match tokio::time::timeout(connect_t, TcpStream::connect(target)).await {
        Err(_) => return fail("L4TOUT timeout"),
        Ok(Err(e)) => return fail(&format!("L4CON {e}")),
        Ok(Ok(s)) => s,
    };
    let Some(http) = &b.def.httpchk else {
        return Outcome {
            ok: true,
            status: "L4OK".into(),
        };
    };
    let started = Instant::now();
    match tokio::time::timeout(read_t, http_probe(stream, http)).await {
        Err(_) => fail(&format!(
            "L7TOUT timeout after {}ms",
            started.elapsed().as_millis()
        )),
        Ok(o) => o,
    }
}

fn fail(status: &str) -> Outcome {
    Outcome {
        ok: false,
        status: status.into(),
    }
}

/// The largest answer read: the status line and what `expect string`
/// looks into (HAProxy reads one buffer).
const MAX_ANSWER: usize = 16384;

/// The check request, byte for byte as HAProxy 2.6 sends it (measured
/// against Debian's 2.6.12 in the lab's proxy_regtests, http-check-send):
/// the request line, `host` when set, and `connection: close` on HTTP/1.1
/// (HTTP/1.0 closes by itself).
pub fn request(h: &HttpCheckDef) -> String {
    let mut req = format!("{} {} {}\r\n", h.method, h.uri, h.version);
    if let Some(host) = &h.host {
        req.push_str(&format!("host: {host}\r\n"));
    }
    if h.version == "HTTP/1.1" {
        req.push_str("connection: close\r\n");
    }
    req.push_str("\r\n");
    req
}

async fn http_probe(mut s: TcpStream, h: &HttpCheckDef) -> Outcome {
    let req = request(h);
    if let Err(e) = s.write_all(req.as_bytes()).await {
        return fail(&format!("L4CON {e}"));
    }
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    // Read until the peer closes, the buffer is full, or (for status
    // expectations) the status line is in.
    loop {
        let n = match s.read(&mut chunk).await {
            Ok(n) => n,
            Err(e) => return fail(&format!("L7RSP {e}")),
        };
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let need_body = matches!(h.expect, HttpExpect::String { .. });
        if buf.len() >= MAX_ANSWER || (!need_body && buf.windows(2).any(|w| w == b"\r\n")) {
            break;
        }
    }
    judge(&buf, &h.expect)
}

/// HAProxy's verdict on an answer.
pub fn judge(answer: &[u8], expect: &HttpExpect) -> Outcome {
    let line_end = answer
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(answer.len());
    let line = String::from_utf8_lossy(&answer[..line_end]);
    let mut parts = line.splitn(3, ' ');
    let (version, code) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let status = match (version.starts_with("HTTP/"), code.parse::<u16>()) {
        (true, Ok(c)) if (100..=599).contains(&c) => c,
        _ => return fail("L7RSP Invalid HTTP response"),
    };
    let (ok, why) = match expect {
        HttpExpect::Default => ((200..400).contains(&status), format!("L7STS {status}")),
        HttpExpect::Status { ranges, negate } => {
            let hit = ranges.iter().any(|&(a, b)| (a..=b).contains(&status));
            (hit != *negate, format!("L7STS {status}"))
        }
        HttpExpect::String { text, negate } => {
            let body = answer
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .map_or(&[][..], |p| &answer[p + 4..]);
            let hit = body
                .windows(text.len().max(1))
                .any(|w| w == text.as_bytes());
            (
                hit != *negate,
                format!(
                    "L7RSP content {}",
                    if hit { "matched" } else { "not found" }
                ),
            )
        }
    };
    if ok {
        Outcome {
            ok: true,
            status: format!("L7OK {status}"),
        }
    } else {
        Outcome {
            ok: false,
            status: why,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_judged_as_haproxy_judges_them() {
        let ok = judge(b"HTTP/1.1 200 OK\r\n\r\n", &HttpExpect::Default);
        assert!(ok.ok && ok.status == "L7OK 200", "{ok:?}");
        assert!(judge(b"HTTP/1.0 302 Found\r\n\r\n", &HttpExpect::Default).ok);
        let bad = judge(b"HTTP/1.1 503 Unavailable\r\n\r\n", &HttpExpect::Default);
        assert_eq!(bad.status, "L7STS 503");
        assert!(!bad.ok);
        assert_eq!(
            judge(b"garbage", &HttpExpect::Default).status,
            "L7RSP Invalid HTTP response"
        );
        let only_200 = HttpExpect::Status {
            ranges: vec![(200, 200)],
            negate: false,
        };
        assert!(!judge(b"HTTP/1.1 204 No\r\n\r\n", &only_200).ok);
        let not_5xx = HttpExpect::Status {
            ranges: vec![(500, 599)],
            negate: true,
        };
        assert!(judge(b"HTTP/1.1 404 No\r\n\r\n", &not_5xx).ok);
        let up = HttpExpect::String {
            text: "ready".into(),
            negate: false,
        };
        assert!(judge(b"HTTP/1.1 200 OK\r\n\r\nall ready\n", &up).ok);
        assert!(!judge(b"HTTP/1.1 200 OK\r\n\r\nstarting\n", &up).ok);
    }

    #[test]
    fn requests_are_written_as_haproxy_writes_them() {
        let def = |method: &str, uri: &str, version: &str, host: Option<&str>| HttpCheckDef {
            method: method.into(),
            uri: uri.into(),
            version: version.into(),
            host: host.map(Into::into),
            expect: HttpExpect::Default,
        };
        // reg-tests/checks/http-check-send.vtc's servers, as HAProxy 2.6.12
        // sent to them in the lab.
        assert_eq!(
            request(&def("OPTIONS", "/", "HTTP/1.0", None)),
            "OPTIONS / HTTP/1.0\r\n\r\n"
        );
        assert_eq!(
            request(&def("GET", "/test", "HTTP/1.1", None)),
            "GET /test HTTP/1.1\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            request(&def("GET", "/status", "HTTP/1.1", Some("my-www-host"))),
            "GET /status HTTP/1.1\r\nhost: my-www-host\r\nconnection: close\r\n\r\n"
        );
        assert_eq!(
            request(&def("OPTIONS", "/", "HTTP/1.0", Some("other-www-host"))),
            "OPTIONS / HTTP/1.0\r\nhost: other-www-host\r\n\r\n"
        );
    }

    #[test]
    fn health_moves_as_haproxys() {
        use crate::backend::CheckHealth;
        // rise 2, fall 3: starts at rise, up; one failure takes it down.
        let mut h = CheckHealth::new(2, 3);
        assert!(h.up());
        assert!(h.record(false), "first failure: down at once");
        assert_eq!(h.health, 0);
        assert!(!h.record(true));
        assert!(h.record(true), "rise successes bring it up");
        assert_eq!(h.health, 4, "fully up");
        assert!(!h.record(false) && !h.record(false));
        assert!(h.record(false), "fall failures take it down");
        let (i, f, d) = (
            Duration::from_secs(2),
            Duration::from_millis(500),
            Duration::from_secs(10),
        );
        assert_eq!(h.interval(i, f, d), d, "down: downinter");
        h.record(true);
        assert_eq!(h.interval(i, f, d), f, "coming up: fastinter");
        h.record(true);
        assert_eq!(h.interval(i, f, d), i, "fully up: inter");
    }
}
