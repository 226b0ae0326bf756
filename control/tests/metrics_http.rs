//! The metrics endpoint under scrapers and hostile clients, on 127.0.0.1
//! with a port of the kernel's choosing, spoken to byte by byte.

mod common;

use common::{room_for_sockets, FakeDaemon};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use xlb_control::api::server::StatusSource;
use xlb_control::metrics::{render, render_vrrp, Limits, MetricsServer};

fn server(limits: Limits) -> MetricsServer {
    MetricsServer::start("127.0.0.1:0".parse().unwrap(), limits, FakeDaemon::new(10)).unwrap()
}

fn connect(m: &MetricsServer) -> TcpStream {
    let s = TcpStream::connect(m.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

struct Answer {
    status: u16,
    headers: Vec<String>,
    body: String,
}

/// One response, read by its Content-Length so the connection stays usable.
fn answer(r: &mut BufReader<TcpStream>) -> Answer {
    let mut head = String::new();
    r.read_line(&mut head).expect("a response in time");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {head:?}"));
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        if h == "\r\n" {
            break;
        }
        headers.push(h.trim_end().to_ascii_lowercase());
    }
    let len: usize = headers
        .iter()
        .find_map(|h| h.strip_prefix("content-length: "))
        .map(|l| l.parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

fn get(m: &MetricsServer, request: &str) -> Answer {
    let mut s = connect(m);
    s.write_all(request.as_bytes()).unwrap();
    answer(&mut BufReader::new(s))
}

fn scrape(m: &MetricsServer) -> Answer {
    get(m, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// The server closed the connection (whatever it said first).
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(limit)).unwrap();
    let mut rest = Vec::new();
    match s.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    }
}

#[test]
fn a_scrape_gets_the_rendered_text_twice_on_one_connection() {
    let m = server(Limits::default());
    let fake = FakeDaemon::new(10);
    let expected = render(&fake.status()) + &render_vrrp(&fake.vrrp());
    let s = connect(&m);
    let mut r = BufReader::new(s.try_clone().unwrap());
    for path in ["/metrics", "/"] {
        (&s).write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
            .unwrap();
        let a = answer(&mut r);
        assert_eq!(a.status, 200, "{path}");
        assert!(
            a.headers
                .contains(&"content-type: text/plain; version=0.0.4".to_string()),
            "{:?}",
            a.headers
        );
        assert_eq!(a.body, expected, "{path}");
    }
}

#[test]
fn other_paths_are_404_and_other_methods_405() {
    let m = server(Limits::default());
    let a = get(&m, "GET /admin HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((a.status, a.body.as_str()), (404, "try GET /metrics\n"));
    let a = get(
        &m,
        "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(a.status, 405);
    assert!(
        a.headers.contains(&"allow: get, head".to_string()),
        "{:?}",
        a.headers
    );
}

#[test]
fn a_garbage_request_gets_400_and_the_next_scrape_succeeds() {
    let m = server(Limits::default());
    let mut s = connect(&m);
    s.write_all(b"\x16\x03\x01\x02\x00garbage\xff\r\n\r\n")
        .unwrap();
    let mut head = String::new();
    let mut r = BufReader::new(s.try_clone().unwrap());
    r.read_line(&mut head).unwrap();
    assert!(head.starts_with("HTTP/1.1 400"), "{head:?}");
    assert!(closed_within(&mut s, Duration::from_secs(5)));
    assert_eq!(scrape(&m).status, 200);
}

#[test]
fn a_slowloris_is_closed_after_the_header_timeout() {
    let m = server(Limits {
        header_timeout: Duration::from_millis(500),
        ..Limits::default()
    });
    let mut s = connect(&m);
    let mut out = s.try_clone().unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    // A header line every 100 ms, for ever unless the server hangs up.
    let dribble = std::thread::spawn(move || {
        for i in 0..100 {
            std::thread::sleep(Duration::from_millis(100));
            if out
                .write_all(format!("X-Slow-{i}: 1\r\n").as_bytes())
                .is_err()
            {
                return;
            }
        }
    });
    let start = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(5)), "still open");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "closed only after {:?}",
        start.elapsed()
    );
    drop(s);
    dribble.join().unwrap();
    assert_eq!(scrape(&m).status, 200);
}

#[test]
fn an_idle_keep_alive_connection_closes_after_the_header_timeout() {
    let m = server(Limits {
        header_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let mut s = connect(&m);
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(answer(&mut r).status, 200);
    let start = Instant::now();
    assert!(closed_within(&mut s, Duration::from_secs(5)), "still open");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn a_thousand_idle_connections_do_not_keep_a_scrape_out() {
    room_for_sockets(1100);
    let m = server(Limits {
        // They must stay idle, not be timed out, while the scrape is made.
        header_timeout: Duration::from_secs(120),
        ..Limits::default()
    });
    let mut idle: Vec<TcpStream> = (0..1000).map(|_| connect(&m)).collect();
    let start = Instant::now();
    assert_eq!(scrape(&m).status, 200);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "answered after {:?}",
        start.elapsed()
    );
    // The idle ones are served too when they speak.
    for i in [0, idle.len() - 1] {
        idle[i]
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let a = answer(&mut BufReader::new(idle[i].try_clone().unwrap()));
        assert_eq!(a.status, 200);
    }
}

#[test]
fn beyond_the_connection_cap_a_new_connection_gets_503() {
    let m = server(Limits {
        max_conns: 2,
        ..Limits::default()
    });
    let held: Vec<TcpStream> = (0..2).map(|_| connect(&m)).collect();
    // Accepted in order: once the second answers, both hold their places.
    for mut s in held.iter() {
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        assert_eq!(
            answer(&mut BufReader::new(s.try_clone().unwrap())).status,
            200
        );
    }
    let a = scrape(&m);
    assert_eq!(
        (a.status, a.body.as_str()),
        (503, "too many connections; try again\r\n")
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while scrape(&m).status != 200 {
        assert!(Instant::now() < deadline, "the places were never freed");
        std::thread::sleep(Duration::from_millis(20));
    }
}
