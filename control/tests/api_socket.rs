//! The API socket under hostile and broken clients: each test starts a
//! server on a socket in a temporary directory, with a control loop that
//! answers every command, and checks that the server keeps answering.

mod common;

use common::{room_for_sockets, FakeDaemon};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use xlb_control::api::access::SocketAccess;
use xlb_control::api::server::{ApiServer, Command, Limits, StatusSource};
use xlb_control::api::Response;

struct Rig {
    _dir: tempfile::TempDir,
    path: PathBuf,
    server: ApiServer,
}

fn rig_with(limits: Limits, source: Arc<dyn StatusSource>, access: SocketAccess) -> Rig {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/xlbd.sock");
    let (commands, requests) = mpsc::channel::<Command>();
    std::thread::spawn(move || {
        for c in requests {
            let _ = c.reply.send(Response {
                message: Some(format!("control loop did {:?}", c.request)),
                ..Response::ok()
            });
        }
    });
    let server = ApiServer::start(&path, access, limits, source, commands).unwrap();
    Rig {
        _dir: dir,
        path,
        server,
    }
}

fn rig(limits: Limits) -> Rig {
    rig_with(limits, FakeDaemon::new(10), SocketAccess::default())
}

/// A client whose reads give up after a generous deadline, so a server
/// that stops answering fails the test instead of hanging it.
struct Client {
    out: UnixStream,
    lines: BufReader<UnixStream>,
}

impl Client {
    fn connect(path: &Path) -> Client {
        let s = UnixStream::connect(path).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            out: s.try_clone().unwrap(),
            lines: BufReader::new(s),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.out.write_all(bytes).unwrap();
    }

    fn answer(&mut self) -> Response {
        let mut line = String::new();
        self.lines.read_line(&mut line).expect("an answer in time");
        assert!(line.ends_with('\n'), "no whole answer line: {line:?}");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn ask(&mut self, bytes: &[u8]) -> Response {
        self.send(bytes);
        self.answer()
    }

    /// The server closed its end (after what it had to say); a close
    /// with our bytes still unread reaches us as a reset.
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.lines.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

fn ping(path: &Path) {
    let r = Client::connect(path).ask(b"{\"cmd\":\"ping\"}\n");
    assert!(r.ok, "{r:?}");
}

#[test]
fn garbage_and_non_utf8_get_an_error_and_the_connection_stays_usable() {
    let rig = rig(Limits::default());
    let mut c = Client::connect(&rig.path);
    let r = c.ask(b"hello there\n");
    assert!(
        !r.ok && r.error.as_deref().unwrap().starts_with("bad request"),
        "{r:?}"
    );
    let r = c.ask(b"\xff\xfe{\"cmd\":\"ping\"}\n");
    assert!(r.error.as_deref().unwrap().contains("not UTF-8"), "{r:?}");
    let r = c.ask(b"{\"cmd\":\"rm-rf\"}\n");
    assert!(
        r.error.as_deref().unwrap().contains("unknown variant"),
        "{r:?}"
    );
    let r = c.ask(b"{\"cmd\":\"show\"}\r\n");
    assert_eq!(
        r.status.unwrap().generation,
        7,
        "a CRLF line is still a request"
    );
    let r = c.ask(b"\n\n{\"cmd\":\"ping\"}\n");
    assert!(r.ok, "empty lines are skipped, not answered: {r:?}");
    ping(&rig.path);
}

#[test]
fn commands_go_through_the_control_loop() {
    let rig = rig(Limits::default());
    let r = Client::connect(&rig.path).ask(b"{\"cmd\":\"save\"}\n");
    assert_eq!(r.message.as_deref(), Some("control loop did Save"), "{r:?}");
}

#[test]
fn an_oversized_line_is_cut_off_with_an_error_naming_the_limit() {
    let rig = rig(Limits::default());
    let mut c = Client::connect(&rig.path);
    let mut out = c.out.try_clone().unwrap();
    // 10 MB without a newline, from a thread: the server stops reading
    // long before the end, so this write must fail, not finish.
    let flood = std::thread::spawn(move || out.write_all(&vec![b'{'; 10 << 20]));
    let r = c.answer();
    assert_eq!(
        r.error.as_deref(),
        Some("request line longer than 65536 bytes: closing; send one JSON object per line")
    );
    assert!(c.closed(), "the client is disconnected");
    assert!(
        flood.join().unwrap().is_err(),
        "the server read all 10 MB instead of stopping at the limit"
    );
    assert_eq!(rig.server.counters().too_long.load(Ordering::Relaxed), 1);
    ping(&rig.path);
}

#[test]
fn two_thousand_idle_clients_do_not_keep_another_from_its_answer() {
    room_for_sockets(2100);
    let rig = rig(Limits {
        max_clients: 4096,
        ..Limits::default()
    });
    let mut idle: Vec<Client> = (0..2000).map(|_| Client::connect(&rig.path)).collect();
    let start = Instant::now();
    ping(&rig.path);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "answered after {:?}",
        start.elapsed()
    );
    // They were all let in, and are still served.
    assert_eq!(rig.server.counters().refused.load(Ordering::Relaxed), 0);
    for i in [0, idle.len() - 1] {
        assert!(idle[i].ask(b"{\"cmd\":\"ping\"}\n").ok);
    }
}

#[test]
fn a_client_that_never_reads_its_answer_does_not_delay_another() {
    // 8 MB answers: far beyond what the socket buffers hold.
    let rig = rig_with(
        Limits {
            write: Duration::from_secs(60),
            ..Limits::default()
        },
        FakeDaemon::new(8 << 20),
        SocketAccess::default(),
    );
    let mut stuck = Client::connect(&rig.path);
    stuck.send(b"{\"cmd\":\"show\"}\n{\"cmd\":\"show\"}\n");
    std::thread::sleep(Duration::from_millis(500));
    let start = Instant::now();
    let r = Client::connect(&rig.path).ask(b"{\"cmd\":\"show\"}\n");
    assert_eq!(r.status.unwrap().config.len(), 8 << 20);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "answered after {:?}",
        start.elapsed()
    );
    assert_eq!(
        rig.server.counters().write_timeouts.load(Ordering::Relaxed),
        0,
        "the stuck client was still being written to"
    );
}

#[test]
fn a_client_that_never_reads_is_closed_after_the_write_timeout() {
    let rig = rig_with(
        Limits {
            write: Duration::from_millis(300),
            ..Limits::default()
        },
        FakeDaemon::new(8 << 20),
        SocketAccess::default(),
    );
    let mut stuck = Client::connect(&rig.path);
    stuck.send(b"{\"cmd\":\"show\"}\n");
    let deadline = Instant::now() + Duration::from_secs(10);
    while rig.server.counters().write_timeouts.load(Ordering::Relaxed) == 0 {
        assert!(Instant::now() < deadline, "never cut off");
        std::thread::sleep(Duration::from_millis(50));
    }
    ping(&rig.path);
}

#[test]
fn beyond_the_client_cap_a_new_client_gets_an_error_and_is_closed() {
    let rig = rig(Limits {
        max_clients: 4,
        ..Limits::default()
    });
    let mut admitted: Vec<Client> = (0..4).map(|_| Client::connect(&rig.path)).collect();
    for c in &mut admitted {
        assert!(c.ask(b"{\"cmd\":\"ping\"}\n").ok);
    }
    let mut extra = Client::connect(&rig.path);
    let r = extra.answer();
    assert_eq!(
        r.error.as_deref(),
        Some("xlbd already serves 4 API clients, its limit; try again later")
    );
    assert!(extra.closed());
    assert_eq!(rig.server.counters().refused.load(Ordering::Relaxed), 1);
    // A client leaving frees its place.
    drop(admitted.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let r = Client::connect(&rig.path).ask(b"{\"cmd\":\"ping\"}\n");
        if r.ok {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the place was never freed: {r:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_idle_client_is_told_and_closed_after_the_idle_timeout() {
    let rig = rig(Limits {
        idle: Duration::from_millis(300),
        ..Limits::default()
    });
    let mut c = Client::connect(&rig.path);
    // Half a request is no request.
    c.send(b"{\"cmd\":");
    let r = c.answer();
    assert_eq!(r.error.as_deref(), Some("no request for 0.3 s: closing"));
    assert!(c.closed());
    assert_eq!(rig.server.counters().idle.load(Ordering::Relaxed), 1);
}

#[test]
fn the_socket_and_a_directory_it_creates_get_the_configured_access() {
    // SAFETY: getgid has no preconditions.
    let gid = unsafe { libc::getgid() };
    let rig = rig_with(
        Limits::default(),
        FakeDaemon::new(10),
        SocketAccess {
            mode: 0o660,
            uid: None,
            gid: Some(gid),
        },
    );
    let sock = std::fs::metadata(&rig.path).unwrap();
    assert_eq!(sock.permissions().mode() & 0o7777, 0o660);
    assert_eq!(sock.gid(), gid);
    let dir = std::fs::metadata(rig.path.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o7777, 0o710);
    ping(&rig.path);
}

#[test]
fn by_default_the_socket_is_its_owners_alone() {
    let rig = rig(Limits::default());
    let sock = std::fs::metadata(&rig.path).unwrap();
    assert_eq!(sock.permissions().mode() & 0o7777, 0o600);
    let dir = std::fs::metadata(rig.path.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o7777, 0o700);
}

#[test]
fn dropping_the_server_removes_its_socket() {
    let rig = rig(Limits::default());
    ping(&rig.path);
    let Rig { _dir, path, server } = rig;
    drop(server);
    assert!(!path.exists());
    assert!(UnixStream::connect(&path).is_err());
}
