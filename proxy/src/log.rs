//! Session logs in HAProxy's layouts (`option tcplog`, `option httplog`,
//! and the short default), sent as HAProxy sends them: RFC 3164 syslog
//! over UDP, or one line per session on stdout.

use std::fmt::Write;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use xlb_model::proxy::{LogFormat, LogTarget};

/// Where one frontend's lines go.
pub struct Sink {
    target: LogTarget,
    udp: Option<UdpSocket>,
    tag: String,
}

impl Sink {
    pub fn new(target: &LogTarget) -> std::io::Result<Sink> {
        let udp = match target {
            LogTarget::Syslog { addr, .. } => {
                let bind: SocketAddr = if addr.is_ipv4() {
                    "0.0.0.0:0".parse().expect("literal")
                } else {
                    "[::]:0".parse().expect("literal")
                };
                let s = UdpSocket::bind(bind)?;
                // A full socket buffer drops a line; the session never waits.
                s.set_nonblocking(true)?;
                Some(s)
            }
            LogTarget::Stdout => None,
        };
        Ok(Sink {
            target: target.clone(),
            udp,
            tag: format!("xlbd[{}]", std::process::id()),
        })
    }

    /// Send one line at syslog level info.
    pub fn send(&self, line: &str) {
        match (&self.target, &self.udp) {
            (LogTarget::Syslog { addr, facility }, Some(s)) => {
                const INFO: u8 = 6;
                let pri = u16::from(*facility) * 8 + u16::from(INFO);
                let msg = format!(
                    "<{pri}>{} {}: {line}\n",
                    syslog_time(SystemTime::now()),
                    self.tag
                );
                let _ = s.send_to(msg.as_bytes(), addr);
            }
            _ => println!("{line}"),
        }
    }
}

/// What a session leaves for its log line. Timers are HAProxy's: -1 when
/// the step was not reached.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    pub client: Option<SocketAddr>,
    pub frontend_addr: Option<SocketAddr>,
    pub accepted: Option<SystemTime>,
    pub frontend: Arc<str>,
    /// The frontend name as HAProxy logs it: with a `~` after it for TLS.
    pub tls: bool,
    pub backend: Arc<str>,
    pub server: Arc<str>,
    /// Tw: queue, Tc: connect, Tt: total, TR: request headers, Tr: server
    /// response headers, Ta: request active (ms).
    pub tw: i64,
    pub tc: i64,
    pub tt: i64,
    pub treq: i64,
    pub tr: i64,
    pub ta: i64,
    pub bytes: u64,
    pub status: Option<u16>,
    /// The two-letter termination state (`--`, `CD`, `SC`, `sQ`...).
    pub term: [u8; 2],
    pub actconn: u64,
    pub feconn: u64,
    pub beconn: u64,
    pub srvconn: u64,
    pub retries: u32,
    pub redispatched: bool,
    pub srv_queue: u64,
    pub backend_queue: u64,
    /// `METHOD TARGET VERSION`.
    pub request_line: String,
}

impl Entry {
    pub fn line(&self, format: LogFormat, mode_http: bool) -> String {
        let mut o = String::new();
        let client = self.client.map_or("-".into(), endpoint);
        let fe = if self.tls {
            format!("{}~", self.frontend)
        } else {
            self.frontend.to_string()
        };
        let when = self.accepted.map_or("-".into(), date_ms);
        let retries = if self.redispatched {
            format!("+{}", self.retries)
        } else {
            self.retries.to_string()
        };
        let term = String::from_utf8_lossy(&self.term);
        match format {
            LogFormat::Default => {
                let to = self.frontend_addr.map_or("-".into(), endpoint);
                let mode = if mode_http { "HTTP" } else { "TCP" };
                let _ = write!(
                    o,
                    "Connect from {client} to {to} ({}/{mode})",
                    self.frontend
                );
            }
            LogFormat::Tcp => {
                let _ = write!(
                    o,
                    "{client} [{when}] {fe} {}/{} {}/{}/{} {} {term} {}/{}/{}/{}/{retries} {}/{}",
                    self.backend,
                    self.server,
                    self.tw,
                    self.tc,
                    self.tt,
                    self.bytes,
                    self.actconn,
                    self.feconn,
                    self.beconn,
                    self.srvconn,
                    self.srv_queue,
                    self.backend_queue
                );
            }
            LogFormat::Http => {
                let status = self.status.map_or("-1".into(), |s| s.to_string());
                // HAProxy's httplog: the captured cookies and headers are
                // "-" and absent when nothing is captured.
                let _ = write!(
                    o,
                    "{client} [{when}] {fe} {}/{} {}/{}/{}/{}/{} {status} {} - - {term}-- {}/{}/{}/{}/{retries} {}/{} \"{}\"",
                    self.backend,
                    self.server,
                    self.treq,
                    self.tw,
                    self.tc,
                    self.tr,
                    self.ta,
                    self.bytes,
                    self.actconn,
                    self.feconn,
                    self.beconn,
                    self.srvconn,
                    self.srv_queue,
                    self.backend_queue,
                    self.request_line
                );
            }
        }
        o
    }
}

/// HAProxy's server name before one is chosen, shared.
pub fn no_server() -> Arc<str> {
    static NOSRV: std::sync::LazyLock<Arc<str>> = std::sync::LazyLock::new(|| "<NOSRV>".into());
    NOSRV.clone()
}

fn endpoint(a: SocketAddr) -> String {
    match a {
        SocketAddr::V4(v) => v.to_string(),
        // HAProxy writes IPv6 clients without brackets: "::1:51234".
        SocketAddr::V6(v) => format!("{}:{}", v.ip(), v.port()),
    }
}

pub fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Civil date (UTC) of a day count since 1970-01-01 (Howard Hinnant's
/// days-to-civil).
fn civil(days: i64) -> (i64, usize, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), (m - 1) as usize, d)
}

fn split(t: SystemTime) -> (i64, usize, i64, i64, i64, i64, u32) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (y, m, day) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    (
        y,
        m,
        day,
        s / 3600,
        s % 3600 / 60,
        s % 60,
        d.subsec_millis(),
    )
}

/// HAProxy's accept date: `06/Feb/2009:12:12:51.443` (UTC here).
pub fn date_ms(t: SystemTime) -> String {
    let (y, m, d, hh, mm, ss, ms) = split(t);
    format!("{d:02}/{}/{y}:{hh:02}:{mm:02}:{ss:02}.{ms:03}", MONTHS[m])
}

/// RFC 3164's timestamp: `Feb  6 12:12:51`.
fn syslog_time(t: SystemTime) -> String {
    let (_, m, d, hh, mm, ss, _) = split(t);
    format!("{} {d:>2} {hh:02}:{mm:02}:{ss:02}", MONTHS[m])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_haproxys() {
        // 2009-02-06 12:12:51.443 UTC
        let t = UNIX_EPOCH + Duration::from_millis(1_233_922_371_443);
        assert_eq!(date_ms(t), "06/Feb/2009:12:12:51.443");
        assert_eq!(syslog_time(t), "Feb  6 12:12:51");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(&date_ms(leap)[..11], "29/Feb/2000");
    }

    #[test]
    fn tcplog_and_httplog_have_haproxys_fields() {
        let e = Entry {
            client: Some("10.0.1.2:33313".parse().unwrap()),
            accepted: Some(UNIX_EPOCH + Duration::from_millis(1_233_922_371_443)),
            frontend: "fnt".into(),
            backend: "bck".into(),
            server: "srv1".into(),
            tw: 0,
            tc: 0,
            tt: 5007,
            bytes: 212,
            term: *b"--",
            srvconn: 0,
            retries: 3,
            request_line: "GET /index.html HTTP/1.1".into(),
            status: Some(200),
            treq: 10,
            tr: 2,
            ta: 13,
            ..Default::default()
        };
        assert_eq!(
            e.line(LogFormat::Tcp, false),
            "10.0.1.2:33313 [06/Feb/2009:12:12:51.443] fnt bck/srv1 0/0/5007 212 -- 0/0/0/0/3 0/0"
        );
        assert_eq!(
            e.line(LogFormat::Http, true),
            "10.0.1.2:33313 [06/Feb/2009:12:12:51.443] fnt bck/srv1 10/0/0/2/13 200 212 - - ---- 0/0/0/0/3 0/0 \"GET /index.html HTTP/1.1\""
        );
    }
}
