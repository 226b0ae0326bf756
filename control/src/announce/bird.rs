//! BIRD 2 as xlbd's BGP speaker: the routes file xlbd writes (two static
//! protocols, `xlb_vips4` and `xlb_vips6`, which the operator's BIRD
//! configuration includes), BIRD's control socket (`configure` makes BIRD
//! read the file again; unchanged protocols and the BGP sessions are left
//! alone), and the BIRD process, a child that dies with xlbd.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::net::IpAddr;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The protocols the routes file defines; the operator's filters may name
/// them (`export where proto = "xlb_vips4"`).
pub const PROTOCOL_V4: &str = "xlb_vips4";
pub const PROTOCOL_V6: &str = "xlb_vips6";

/// How long one control-socket exchange may take: BIRD answers a
/// `configure` once it has parsed the configuration (milliseconds).
const CONTROL_TIMEOUT: Duration = Duration::from_secs(5);

/// The routes file announcing `vips`: each as a host route of its family.
/// A blackhole route: BIRD needs no next hop of its own to announce it
/// (BGP sets its own address as the next hop), and the director's kernel is
/// not told (the routes are for the peers; the dataplane takes the VIP's
/// traffic before the kernel routes it).
pub fn render(vips: &BTreeSet<IpAddr>) -> String {
    let mut out = String::from(
        "# Written by xlbd: the VIPs this director announces now. xlbd rewrites\n\
         # it whenever that changes and asks BIRD to read it again; do not edit.\n",
    );
    for (name, v4) in [(PROTOCOL_V4, true), (PROTOCOL_V6, false)] {
        out.push_str(&format!(
            "protocol static {name} {{\n  {};\n",
            if v4 { "ipv4" } else { "ipv6" }
        ));
        for vip in vips.iter().filter(|a| a.is_ipv4() == v4) {
            let len = if v4 { 32 } else { 128 };
            out.push_str(&format!("  route {vip}/{len} blackhole;\n"));
        }
        out.push_str("}\n");
    }
    out
}

/// Replace `path` with `text` in one rename, so that BIRD never reads half
/// a file (it may be reconfigured by someone else at any time).
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".xlbd-new");
    let tmp = PathBuf::from(tmp);
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// One reply of BIRD's control socket: the code of its last line and the
/// text of every line. Codes below 8000 report success (0003
/// "Reconfigured"), 8xxx a run-time error, 9xxx a command BIRD did not
/// understand (BIRD's doc/reply_codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn is_error(&self) -> bool {
        self.code >= 8000
    }

    /// The reply's text on one line, for a log or an error.
    pub fn text(&self) -> String {
        self.lines
            .iter()
            .map(|l| l.trim())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Read one reply: lines `CCCC-text` (more follows), ` text` (continuing
/// the previous code) and a last line `CCCC text`.
pub fn read_reply(r: &mut impl BufRead) -> Result<Reply, String> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)
            .map_err(|e| format!("cannot read BIRD's reply: {e}"))?
            == 0
        {
            return Err("BIRD closed its control socket mid-reply".into());
        }
        let line = line.trim_end_matches(['\n', '\r']);
        if let Some(rest) = line.strip_prefix(' ') {
            lines.push(rest.to_string());
            continue;
        }
        let (code, sep, rest) = match (line.get(..4), line.get(4..5), line.get(5..)) {
            (Some(c), Some(s), rest) if c.bytes().all(|b| b.is_ascii_digit()) => {
                (c.parse::<u16>().unwrap_or(0), s, rest.unwrap_or(""))
            }
            (_, None, _) if line.len() == 4 && line.bytes().all(|b| b.is_ascii_digit()) => {
                (line.parse::<u16>().unwrap_or(0), " ", "")
            }
            _ => return Err(format!("BIRD sent a line that is not a reply: {line:?}")),
        };
        lines.push(rest.to_string());
        match sep {
            "-" => continue,
            " " => return Ok(Reply { code, lines }),
            _ => return Err(format!("BIRD sent a line that is not a reply: {line:?}")),
        }
    }
}

/// One command on BIRD's control socket, on a connection of its own (BIRD
/// serves several; a restarted BIRD has a new socket).
pub fn command(socket: &Path, cmd: &str) -> Result<Reply, String> {
    let place = socket.display();
    let stream =
        UnixStream::connect(socket).map_err(|e| format!("cannot reach BIRD on {place}: {e}"))?;
    stream
        .set_read_timeout(Some(CONTROL_TIMEOUT))
        .and_then(|_| stream.set_write_timeout(Some(CONTROL_TIMEOUT)))
        .map_err(|e| format!("{place}: {e}"))?;
    let mut reader = BufReader::new(&stream);
    let hello = read_reply(&mut reader).map_err(|e| format!("{place}: {e}"))?;
    if hello.code != 1 {
        return Err(format!(
            "{place} is not BIRD's control socket: {}",
            hello.text()
        ));
    }
    (&stream)
        .write_all(format!("{cmd}\n").as_bytes())
        .map_err(|e| format!("cannot write to BIRD on {place}: {e}"))?;
    read_reply(&mut reader).map_err(|e| format!("{place}: {e}"))
}

/// Make BIRD read its configuration, and with it the routes file, again.
pub fn configure(socket: &Path) -> Result<(), String> {
    let r = command(socket, "configure")?;
    if r.is_error() {
        return Err(format!("BIRD refused its configuration: {}", r.text()));
    }
    Ok(())
}

/// Disable both routes protocols: BIRD withdraws every VIP at once. The
/// next successful `configure` enables them again.
pub fn withdraw_all(socket: &Path) -> Result<(), String> {
    for name in [PROTOCOL_V4, PROTOCOL_V6] {
        let r = command(socket, &format!("disable \"{name}\""))?;
        if r.is_error() {
            return Err(format!("BIRD: {}", r.text()));
        }
    }
    Ok(())
}

/// Whether BIRD's running configuration has the routes file's protocols:
/// an operator's configuration without the `include` would announce
/// nothing, silently.
pub fn has_routes_protocol(socket: &Path) -> Result<bool, String> {
    let r = command(socket, &format!("show protocols \"{PROTOCOL_V4}\""))?;
    match r.code {
        8003 => Ok(false),
        _ if r.is_error() => Err(format!("BIRD: {}", r.text())),
        _ => Ok(true),
    }
}

/// `bird -p`: parse the configuration (with the routes file as now) and
/// say what is wrong with it in BIRD's words.
pub fn check_config(bird: &Path, config: &Path) -> Result<(), String> {
    let out = Command::new(bird)
        .arg("-p")
        .arg("-c")
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", bird.display()))?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(format!(
        "BIRD refuses its configuration {}: {said}",
        config.display()
    ))
}

/// The BIRD daemon, run in the foreground as xlbd's child.
pub struct BirdProcess {
    child: Child,
}

impl BirdProcess {
    /// Start `bird -f` and wait until its control socket answers. It gets
    /// SIGKILL when the thread that started it ends, however it ends: a
    /// SIGKILLed xlbd takes its BIRD along, the kernel closes BIRD's BGP
    /// sessions and the peers withdraw its routes at once.
    pub fn spawn(bird: &Path, config: &Path, socket: &Path) -> Result<BirdProcess, String> {
        let parent = std::process::id() as libc::pid_t;
        let mut cmd = Command::new(bird);
        cmd.arg("-f")
            .arg("-c")
            .arg(config)
            .arg("-s")
            .arg(socket)
            .stdin(Stdio::null());
        // SAFETY: between fork and exec only async-signal-safe calls
        // (prctl, getppid, setpgid, _exit), on no memory of the parent's.
        unsafe {
            cmd.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // xlbd died between fork and prctl: the signal was missed.
                if libc::getppid() != parent {
                    libc::_exit(1);
                }
                // Its own process group: a ^C meant for xlbd must leave
                // BIRD to xlbd's orderly stop.
                libc::setpgid(0, 0);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", bird.display()))?;
        let mut p = BirdProcess { child };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = p.exited() {
                return Err(format!(
                    "{} exited at start ({st}); its log above says why",
                    bird.display()
                ));
            }
            match command(socket, "show status") {
                Ok(_) => return Ok(p),
                Err(e) if Instant::now() >= deadline => {
                    p.stop();
                    return Err(format!("BIRD did not answer within 10 s: {e}"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How it ended, once it has.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM (BIRD closes its sessions with a Cease notification: the
    /// peers withdraw at once, not at the hold time), SIGKILL after 3 s.
    pub fn stop(&mut self) {
        if self.exited().is_some() {
            return;
        }
        // SAFETY: kill on our own child's pid, which try_wait has not
        // reaped (it is still running), so the pid is not reused.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if self.exited().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for BirdProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::os::unix::net::UnixListener;

    fn vips(list: &[&str]) -> BTreeSet<IpAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn the_routes_file_holds_each_vip_in_its_familys_protocol() {
        let text = render(&vips(&["192.0.2.2", "2001:db8::1", "192.0.2.1"]));
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            body,
            [
                "protocol static xlb_vips4 {",
                "  ipv4;",
                "  route 192.0.2.1/32 blackhole;",
                "  route 192.0.2.2/32 blackhole;",
                "}",
                "protocol static xlb_vips6 {",
                "  ipv6;",
                "  route 2001:db8::1/128 blackhole;",
                "}",
            ]
        );
        // Nothing announced: both protocols still there, empty (the
        // operator's configuration may name them).
        let empty = render(&BTreeSet::new());
        assert!(
            empty.contains("protocol static xlb_vips4 {\n  ipv4;\n}\n"),
            "{empty}"
        );
        assert!(!empty.contains("route"), "{empty}");
    }

    #[test]
    fn replies_are_read_to_their_last_line() {
        let mut r = Cursor::new(
            "0002-Reading configuration from /etc/bird.conf\n0003 Reconfigured\n0001 next\n",
        );
        let reply = read_reply(&mut r).unwrap();
        assert_eq!(reply.code, 3);
        assert!(!reply.is_error());
        assert_eq!(
            reply.text(),
            "Reading configuration from /etc/bird.conf; Reconfigured"
        );
        // What follows is the next reply's.
        assert_eq!(read_reply(&mut r).unwrap().code, 1);

        let mut r = Cursor::new("2002-Name Proto\n1002-xlb_vips4 Static\n continued\n0000 \n");
        let reply = read_reply(&mut r).unwrap();
        assert_eq!(reply.code, 0);
        assert_eq!(reply.lines.len(), 4);

        let mut r = Cursor::new("8002 bird.conf:1:0 syntax error, unexpected END\n");
        let reply = read_reply(&mut r).unwrap();
        assert!(reply.is_error());
        assert_eq!(reply.text(), "bird.conf:1:0 syntax error, unexpected END");
    }

    #[test]
    fn a_reply_cut_short_or_not_birds_is_an_error() {
        for bad in [
            "0002-Reading\n",
            "",
            "hello\n",
            "00x3 Reconfigured\n",
            "0003+x\n",
        ] {
            let got = read_reply(&mut Cursor::new(bad));
            assert!(got.is_err(), "{bad:?} gave {got:?}");
        }
    }

    /// A stand-in for BIRD's control socket: greets, then answers each
    /// command with the reply `answer` gives, and records the commands.
    fn fake_bird(
        dir: &Path,
        answer: fn(&str) -> &'static str,
    ) -> (PathBuf, std::thread::JoinHandle<Vec<String>>) {
        let path = dir.join("bird.ctl");
        let listener = UnixListener::bind(&path).unwrap();
        let t = std::thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let mut w = &stream;
            w.write_all(b"0001 BIRD 2.0.12 ready.\n").unwrap();
            let mut seen = Vec::new();
            let mut r = BufReader::new(&stream);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap() > 0 {
                let cmd = line.trim().to_string();
                w.write_all(answer(&cmd).as_bytes()).unwrap();
                seen.push(cmd);
                line.clear();
            }
            seen
        });
        (path, t)
    }

    #[test]
    fn configure_sends_configure_and_reports_birds_refusal() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let (sock, t) = fake_bird(dir, |_| {
            "0002-Reading configuration from /b.conf\n0003 Reconfigured\n"
        });
        configure(&sock).unwrap();
        assert_eq!(t.join().unwrap(), ["configure"]);
        std::fs::remove_file(&sock).unwrap();

        let (sock, t) = fake_bird(dir, |_| {
            "0002-Reading configuration from /b.conf\n8002 /b.conf:3:1 syntax error\n"
        });
        let e = configure(&sock).unwrap_err();
        assert!(
            e.contains("refused") && e.contains("/b.conf:3:1 syntax error"),
            "{e}"
        );
        t.join().unwrap();
        std::fs::remove_file(&sock).unwrap();

        let (sock, t) = fake_bird(dir, |_| "8003 No protocols match\n");
        assert!(!has_routes_protocol(&sock).unwrap());
        assert_eq!(t.join().unwrap(), ["show protocols \"xlb_vips4\""]);
        std::fs::remove_file(&sock).unwrap();

        let e = configure(&dir.join("nothing-here")).unwrap_err();
        assert!(e.contains("cannot reach BIRD"), "{e}");
    }

    #[test]
    fn the_routes_file_is_replaced_whole() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let path = dir.join("sub/vips.conf");
        write_atomically(&path, "one\n").unwrap();
        write_atomically(&path, "two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        let left: Vec<_> = std::fs::read_dir(dir.join("sub")).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
    }
}
