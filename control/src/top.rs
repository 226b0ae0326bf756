//! `xlbctl top`: a live terminal view for an operator on SSH, drawn from
//! the API's `show` and `vrrp` answers once a second. `frame` renders one
//! screen as text (tested); `run` owns the terminal (crossterm: raw mode,
//! the alternate screen, key events) and always gives it back.

use crate::api::{client, Rates, RealStatus, Request, Response, ServiceStatus, Status};
use crate::ha::InstanceStatus;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How often the view is redrawn.
pub const PERIOD: Duration = Duration::from_secs(1);

/// 1234567 -> "1.2M": rates fit their columns whatever their size.
pub fn scaled(v: f64) -> String {
    for (m, p) in [(1e9, "G"), (1e6, "M"), (1e3, "k")] {
        if v >= m {
            return format!("{:.1}{p}", v / m);
        }
    }
    format!("{v:.0}")
}

fn pps(r: &Rates) -> f64 {
    (r.packets_in + r.packets_out) as f64
}

fn bps(r: &Rates) -> f64 {
    ((r.bytes_in + r.bytes_out) * 8) as f64
}

/// A real server's state in a word (worst first) and why, for a down one.
/// A failed check comes before disabled, as in `xlbctl show`: the policy
/// takes a down server out of scheduling, and the reason is what matters.
pub fn real_state(r: &RealStatus) -> (&'static str, &str) {
    if let Some(why) = r.health.as_deref().and_then(|h| h.strip_prefix("down")) {
        return ("down", why.trim_start_matches(':').trim());
    }
    if !r.enabled {
        return ("disabled", "");
    }
    if !r.resolved {
        return ("no-neigh", "");
    }
    if r.overloaded {
        return ("full", "");
    }
    if r.weight == 0 {
        return ("drained", "");
    }
    (
        if r.health.is_some() {
            "up"
        } else {
            "unchecked"
        },
        "",
    )
}

fn usable(r: &RealStatus) -> bool {
    matches!(real_state(r).0, "up" | "unchecked")
}

fn drops(s: &ServiceStatus) -> String {
    let total = s.traffic.total_drops();
    if total == 0 {
        return "0".into();
    }
    let reasons: Vec<String> = s
        .traffic
        .drops
        .iter()
        .map(|(why, n)| format!("{why}={n}"))
        .collect();
    format!("{total} ({})", reasons.join(" "))
}

/// HH:MM:SS UTC of a time since 1970 (no time-zone database needed).
fn clock(since_epoch: Duration) -> String {
    let s = since_epoch.as_secs() % 86_400;
    format!("{:02}:{:02}:{:02} UTC", s / 3600, s / 60 % 60, s % 60)
}

/// One screen: a header, then per service a line of rates, connections,
/// usable real servers and drops, and a line per real server.
pub fn frame(s: &Status, vrrp: &[InstanceStatus], now: Duration) -> Vec<String> {
    let mut out = Vec::new();
    out.push(format!(
        "xlb top · {} · generation {} · {} worker{} · {}   (q quits)",
        s.config,
        s.generation,
        s.workers.len(),
        if s.workers.len() == 1 { "" } else { "s" },
        clock(now)
    ));
    let mut line = String::new();
    let rx: u64 = s.workers.iter().map(|w| w.rx_packets).sum();
    let live: u64 = s.workers.iter().map(|w| w.conns_live).sum();
    let dropped: u64 = s.workers.iter().flat_map(|w| w.drops.values()).sum();
    let _ = write!(
        line,
        "workers: rx {rx} packets, {live} connections, {dropped} dropped"
    );
    if !vrrp.is_empty() {
        let states: Vec<String> = vrrp
            .iter()
            .map(|i| format!("{} {}", i.name, i.state))
            .collect();
        let _ = write!(line, " · VRRP {}", states.join(", "));
    }
    if let Some(y) = &s.sync {
        let _ = write!(
            line,
            " · sync sent {} received {} installed {}",
            y.sent_conns, y.received_conns, y.installed
        );
    }
    out.push(line);
    out.push(String::new());
    out.push(format!(
        "{:<24} {:<28} {:>8} {:>8} {:>8} {:>7} {:>7} {:>6}  DROPS",
        "SERVICE", "VIRTUAL", "CONN/S", "PKT/S", "BIT/S", "ACTIVE", "INACT", "REALS"
    ));
    for v in &s.services {
        let (active, inactive) = v
            .reals
            .iter()
            .fold((0, 0), |(a, i), r| (a + r.active, i + r.inactive));
        let virt = if v.protocol == "FWM" {
            format!("FWM {}", v.address)
        } else {
            format!("{} {}:{}", v.protocol, v.address, v.port)
        };
        out.push(format!(
            "{:<24} {:<28} {:>8} {:>8} {:>8} {:>7} {:>7} {:>6}  {}",
            v.name,
            virt,
            scaled(v.rates.conns as f64),
            scaled(pps(&v.rates)),
            scaled(bps(&v.rates)),
            active,
            inactive,
            format!(
                "{}/{}",
                v.reals.iter().filter(|r| usable(r)).count(),
                v.reals.len()
            ),
            drops(v)
        ));
        for r in &v.reals {
            let (state, why) = real_state(r);
            let line = format!(
                "  -> {:<19} {:<9} w {:<16} {:>8} {:>8} {:>8} {:>7} {:>7}  {why}",
                format!("{}:{}", r.address, r.port),
                state,
                r.weight,
                scaled(r.rates.conns as f64),
                scaled(pps(&r.rates)),
                scaled(bps(&r.rates)),
                r.active,
                r.inactive,
            );
            out.push(line.trim_end().to_string());
        }
    }
    if s.services.is_empty() {
        out.push("(no virtual services)".into());
    }
    if let Some(p) = &s.proxy {
        out.push(String::new());
        out.push(format!(
            "{:<24} {:<28} {:>8} {:>8} {:>8}",
            "FRONTEND", "BINDS", "CURRENT", "TOTAL", "ERRORS"
        ));
        for f in &p.frontends {
            out.push(format!(
                "{:<24} {:<28} {:>8} {:>8} {:>8}",
                f.name,
                f.binds.join(" "),
                f.counters.current,
                f.counters.total,
                f.counters.request_errors
            ));
        }
        for b in &p.backends {
            let up = b
                .servers
                .iter()
                .filter(|s| s.status.starts_with("UP") || s.status == "no check")
                .count();
            out.push(format!(
                "backend {:<16} {:<28} {:>8} {:>8} {:>8}  servers up {up}/{}",
                b.name,
                b.balance,
                b.counters.current,
                b.counters.total,
                b.counters.connect_errors + b.counters.response_errors,
                b.servers.len()
            ));
        }
    }
    out
}

fn ask(socket: &Path, req: &Request) -> Result<Response, String> {
    let r = client::call(socket, req)?;
    if r.ok {
        Ok(r)
    } else {
        Err(r.error.unwrap_or_default())
    }
}

/// The status and VRRP instances, as `xlbctl show` and `vrrp` get them.
fn read(socket: &Path) -> Result<(Status, Vec<InstanceStatus>), String> {
    let status = ask(socket, &Request::Show)?
        .status
        .ok_or("xlbd's show answer had no status")?;
    let vrrp = ask(socket, &Request::Vrrp)?.vrrp.unwrap_or_default();
    Ok((status, vrrp))
}

fn now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Print one frame and return (`--once`, or stdout is not a terminal).
pub fn once(socket: &Path) -> Result<(), String> {
    let (s, v) = read(socket)?;
    let mut text = frame(&s, &v, now()).join("\n");
    text.push('\n');
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| format!("writing: {e}"))
}

/// Redraw every second until q, Esc or Ctrl-C; the terminal is restored
/// however this returns (an error, a panic).
pub fn run(socket: &Path) -> Result<(), String> {
    // Fails before the screen is taken when xlbd is not there at all.
    let mut current = read(socket);
    if let Err(e) = &current {
        return Err(e.clone());
    }
    let _screen = Screen::take().map_err(|e| format!("cannot set up the terminal: {e}"))?;
    loop {
        let lines = match &current {
            Ok((s, v)) => frame(s, v, now()),
            Err(e) => vec![
                format!("xlb top · {}   (q quits)", clock(now())),
                format!("no answer from xlbd: {e}; trying again every second"),
            ],
        };
        draw(&lines).map_err(|e| format!("drawing: {e}"))?;
        if quit_within(PERIOD).map_err(|e| format!("reading keys: {e}"))? {
            return Ok(());
        }
        current = read(socket);
    }
}

/// Wait up to `limit` for a key; true for q, Esc or Ctrl-C (raw mode turns
/// Ctrl-C into a key, not a signal). A resize ends the wait early.
fn quit_within(limit: Duration) -> std::io::Result<bool> {
    use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || !event::poll(left)? {
            return Ok(false);
        }
        match event::read()? {
            Event::Key(k) if k.kind == KeyEventKind::Press => match k.code {
                KeyCode::Char('q') | KeyCode::Char('Q') | KeyCode::Esc => return Ok(true),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                    return Ok(true)
                }
                _ => {}
            },
            Event::Resize(..) => return Ok(false),
            _ => {}
        }
    }
}

/// Lines cut to the terminal's width and height, each cleared to its end.
fn draw(lines: &[String]) -> std::io::Result<()> {
    use crossterm::{cursor::MoveTo, queue, style::Print, terminal};
    // A terminal that does not say its size (0x0) gets the classic one.
    let (w, h) = match terminal::size()? {
        (0, _) | (_, 0) => (80, 24),
        size => size,
    };
    let mut out = std::io::stdout().lock();
    for (i, line) in lines.iter().take(h as usize).enumerate() {
        let cut: String = line.chars().take(w as usize).collect();
        queue!(
            out,
            MoveTo(0, i as u16),
            Print(cut),
            terminal::Clear(terminal::ClearType::UntilNewLine)
        )?;
    }
    queue!(
        out,
        MoveTo(0, lines.len().min(h as usize) as u16),
        terminal::Clear(terminal::ClearType::FromCursorDown)
    )?;
    out.flush()
}

/// The terminal taken over: raw mode, the alternate screen, no cursor;
/// given back on drop.
struct Screen;

impl Screen {
    fn take() -> std::io::Result<Screen> {
        use crossterm::{cursor::Hide, execute, terminal};
        terminal::enable_raw_mode()?;
        let screen = Screen; // from here on, drop restores
        execute!(std::io::stdout(), terminal::EnterAlternateScreen, Hide)?;
        Ok(screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        use crossterm::{cursor::Show, execute, terminal};
        let _ = execute!(std::io::stdout(), Show, terminal::LeaveAlternateScreen);
        let _ = terminal::disable_raw_mode();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Traffic;

    fn real(addr: &str, health: Option<&str>, conns: u64) -> RealStatus {
        RealStatus {
            address: addr.into(),
            port: 8080,
            weight: 2,
            configured_weight: 2,
            enabled: true,
            health: health.map(Into::into),
            resolved: true,
            u_threshold: 0,
            l_threshold: 0,
            overloaded: false,
            active: 3,
            inactive: 4,
            persistent: 0,
            traffic: Traffic::default(),
            rates: Rates {
                conns,
                packets_in: 10,
                packets_out: 5,
                bytes_in: 1000,
                bytes_out: 250_000,
            },
        }
    }

    fn status() -> Status {
        Status {
            generation: 4,
            config: "/etc/xlb/xlb.toml".into(),
            services: vec![ServiceStatus {
                name: "web".into(),
                key: None,
                persistence: None,
                address: "192.0.2.10".into(),
                port: 80,
                protocol: "TCP".into(),
                scheduler: "wrr".into(),
                forwarding: "Masq".into(),
                flags: String::new(),
                traffic: Traffic {
                    drops: [("no_real_server".to_string(), 7)].into(),
                    ..Default::default()
                },
                rates: Rates {
                    conns: 1500,
                    packets_in: 20,
                    packets_out: 10,
                    bytes_in: 2000,
                    bytes_out: 500_000,
                },
                reals: vec![
                    real("10.0.0.1", Some("up"), 1000),
                    real("10.0.0.2", Some("down: HTTP status 503"), 0),
                ],
            }],
            workers: Vec::new(),
            timeouts: [900, 120, 300],
            conn_table_size: 1024,
            proxy: None,
            sync: None,
            announce: None,
        }
    }

    #[test]
    fn a_service_line_has_its_rates_connections_reals_and_drops() {
        let vrrp = [InstanceStatus {
            name: "VI_1".into(),
            state: "MASTER".into(),
            ..Default::default()
        }];
        let f = frame(&status(), &vrrp, Duration::from_secs(86_400 + 3661));
        assert!(f[0].contains("/etc/xlb/xlb.toml") && f[0].ends_with("01:01:01 UTC   (q quits)"));
        assert!(f[1].contains("VRRP VI_1 MASTER"), "{}", f[1]);
        let line = f
            .iter()
            .find(|l| l.starts_with("web "))
            .expect("a line for web");
        let cols: Vec<&str> = line.split_whitespace().collect();
        // name, TCP, VIP:port, conn/s, pkt/s, bit/s, active, inactive, reals, drops
        assert_eq!(
            &cols[..10],
            &[
                "web",
                "TCP",
                "192.0.2.10:80",
                "1.5k",
                "30",
                "4.0M",
                "6",
                "8",
                "1/2",
                "7"
            ]
        );
        assert!(line.ends_with("(no_real_server=7)"), "{line}");
        let down = f.iter().find(|l| l.contains("10.0.0.2:8080")).unwrap();
        assert!(
            down.contains(" down ") && down.ends_with("HTTP status 503"),
            "{down}"
        );
        let up = f.iter().find(|l| l.contains("10.0.0.1:8080")).unwrap();
        assert!(up.contains(" up ") && up.contains("1.0k"), "{up}");
        assert_eq!(up, up.trim_end(), "no trailing blanks");
    }

    #[test]
    fn the_worst_state_wins() {
        let mut r = real("10.0.0.1", Some("down: timeout"), 0);
        assert_eq!(real_state(&r), ("down", "timeout"));
        r.enabled = false;
        assert_eq!(
            real_state(&r),
            ("down", "timeout"),
            "the check's reason first"
        );
        r.health = Some("up".into());
        assert_eq!(real_state(&r).0, "disabled");
        let mut r = real("10.0.0.1", None, 0);
        assert_eq!(real_state(&r).0, "unchecked");
        r.weight = 0;
        assert_eq!(real_state(&r).0, "drained");
        r.resolved = false;
        assert_eq!(real_state(&r).0, "no-neigh");
    }

    #[test]
    fn rates_are_scaled_to_fit() {
        assert_eq!(scaled(0.0), "0");
        assert_eq!(scaled(999.0), "999");
        assert_eq!(scaled(1000.0), "1.0k");
        assert_eq!(scaled(2_500_000.0), "2.5M");
        assert_eq!(scaled(12e9), "12.0G");
    }
}
