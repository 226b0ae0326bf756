//! The live dashboard (off unless `[dashboard] listen` is set): a page
//! embedded in the binary that polls `api/state` every second. A sampler
//! thread reads the same status the API and metrics serve once a second,
//! whoever watches, and keeps the rates of the last minutes (`history`).

pub mod history;

use crate::api::server::StatusSource;
use crate::api::Status;
use crate::ha::InstanceStatus;
use crate::web::{Handler, Limits, Reply, WebServer};
use arc_swap::ArcSwapOption;
use history::History;
use hyper::StatusCode;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the sampler reads the status, and the page asks for it.
pub const PERIOD: Duration = Duration::from_secs(1);

const PAGE: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/dashboard.js");
const STYLE: &str = include_str!("assets/dashboard.css");

/// Everything comes from this origin: a page that loads nothing else
/// cannot leak what it shows.
const HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; \
         connect-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("cache-control", "no-store"),
];

/// The running dashboard; dropping it stops the endpoint and the sampler.
pub struct Dashboard {
    server: Option<WebServer>,
    stop: Option<mpsc::Sender<()>>,
    sampler: Option<std::thread::JoinHandle<()>>,
}

impl Dashboard {
    /// Serve the dashboard on `addr` from `source`'s status.
    pub fn start(
        addr: SocketAddr,
        limits: Limits,
        source: Arc<dyn StatusSource>,
    ) -> std::io::Result<Dashboard> {
        let state = Arc::new(State::default());
        let server = WebServer::start("xlb-dashboard", addr, limits, state.clone())?;
        let (stop, stopped) = mpsc::channel();
        let sampler = std::thread::Builder::new()
            .name("xlb-dash-sample".into())
            .spawn(move || sample(&*source, &state, &stopped))?;
        Ok(Dashboard {
            server: Some(server),
            stop: Some(stop),
            sampler: Some(sampler),
        })
    }

    /// Where it listens (the port the kernel chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.as_ref().expect("running").local_addr()
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.server.take();
        self.stop.take(); // the sampler's channel hangs up
        if let Some(t) = self.sampler.take() {
            let _ = t.join();
        }
    }
}

/// The last reading and the history, shared by the sampler and the endpoint.
#[derive(Default)]
struct State {
    latest: ArcSwapOption<Reading>,
    history: Mutex<History>,
}

struct Reading {
    time: u64,
    status: Status,
    vrrp: Vec<InstanceStatus>,
}

/// What `GET api/state[?since=MS]` answers: the latest reading and the
/// history after `since` (all of it without).
#[derive(Serialize)]
struct Answer<'a> {
    time: u64,
    period_ms: u64,
    status: &'a Status,
    vrrp: &'a [InstanceStatus],
    history: history::Slice<'a>,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Read the status every `PERIOD` until `stop` hangs up.
fn sample(source: &dyn StatusSource, state: &State, stop: &mpsc::Receiver<()>) {
    let start = Instant::now();
    loop {
        let status = source.status();
        let time = wall_ms();
        let counters = history::counters(&status);
        state
            .history
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .record(time, start.elapsed(), counters);
        let vrrp = source.vrrp();
        state
            .latest
            .store(Some(Arc::new(Reading { time, status, vrrp })));
        if stop.recv_timeout(PERIOD) != Err(mpsc::RecvTimeoutError::Timeout) {
            return;
        }
    }
}

impl Handler for State {
    fn get(&self, path: &str, query: &str) -> Reply {
        let asset = |content_type, body: &'static str| Reply {
            headers: HEADERS,
            ..Reply::ok(content_type, body)
        };
        match path {
            "/" | "/index.html" => asset("text/html; charset=utf-8", PAGE),
            "/dashboard.js" => asset("text/javascript; charset=utf-8", SCRIPT),
            "/dashboard.css" => asset("text/css; charset=utf-8", STYLE),
            "/api/state" => self.answer(query),
            _ => Reply::text(StatusCode::NOT_FOUND, "try GET / or GET /api/state\n"),
        }
    }
}

impl State {
    fn answer(&self, query: &str) -> Reply {
        let since = match parse_since(query) {
            Ok(s) => s,
            Err(()) => {
                return Reply::text(
                    StatusCode::BAD_REQUEST,
                    "since=MS: milliseconds since 1970, the last `t` of the previous answer\n",
                )
            }
        };
        let Some(latest) = self.latest.load_full() else {
            return Reply::text(StatusCode::SERVICE_UNAVAILABLE, "no reading yet\n");
        };
        let history = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let body = serde_json::to_vec(&Answer {
            time: latest.time,
            period_ms: PERIOD.as_millis() as u64,
            status: &latest.status,
            vrrp: &latest.vrrp,
            history: history.since(since),
        });
        match body {
            Ok(b) => Reply {
                headers: HEADERS,
                ..Reply::ok("application/json", b)
            },
            Err(_) => Reply::text(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n"),
        }
    }
}

/// `since=MS` among the query's parameters (others are ignored).
fn parse_since(query: &str) -> Result<Option<u64>, ()> {
    match query.split('&').find_map(|p| p.strip_prefix("since=")) {
        None => Ok(None),
        Some(v) => v.parse().map(Some).map_err(|_| ()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_read_from_the_query() {
        assert_eq!(parse_since(""), Ok(None));
        assert_eq!(parse_since("since=1700000000123"), Ok(Some(1700000000123)));
        assert_eq!(parse_since("x=1&since=5"), Ok(Some(5)));
        assert_eq!(parse_since("since=yesterday"), Err(()));
    }

    #[test]
    fn the_page_loads_only_what_the_binary_serves() {
        // No CDN, no other origin: every src and href is one of ours.
        let state = State::default();
        for cap in PAGE.split(['"', '\'']).filter(|s| s.contains('.')) {
            if cap.ends_with(".js") || cap.ends_with(".css") {
                assert!(!cap.contains("//"), "{cap} is not ours");
                assert_eq!(
                    state.get(&format!("/{cap}"), "").status,
                    StatusCode::OK,
                    "{cap}"
                );
            }
        }
        assert!(!SCRIPT.contains("http://") && !SCRIPT.contains("https://"));
        assert!(!STYLE.contains("url("), "the style loads nothing");
    }
}
