//! HAProxy's small syntaxes inside TOML strings: words (with quotes and
//! backslash escapes, as haproxy.cfg takes them), times, log targets.

use crate::proxy::LogTarget;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Split a HAProxy argument string into words: spaces separate, "double"
/// and 'single' quotes group, a backslash escapes the next character
/// (`\r`, `\n`, `\t` are CR, LF and TAB, as haproxy.cfg reads them).
pub fn split(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '\\' => {
                let Some(n) = chars.next() else {
                    return Err("a backslash ends the text; it escapes the next character".into());
                };
                cur.push(unescape(n));
                in_word = true;
            }
            '"' | '\'' => {
                in_word = true;
                let mut closed = false;
                while let Some(n) = chars.next() {
                    if n == c {
                        closed = true;
                        break;
                    }
                    if n == '\\' && c == '"' {
                        match chars.next() {
                            Some(e) => cur.push(unescape(e)),
                            None => break,
                        }
                    } else {
                        cur.push(n);
                    }
                }
                if !closed {
                    return Err(format!("a {c} quote is not closed"));
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

fn unescape(c: char) -> char {
    match c {
        'r' => '\r',
        'n' => '\n',
        't' => '\t',
        c => c,
    }
}

/// A HAProxy time: digits with an optional unit (us, ms, s, m, h, d);
/// no unit is milliseconds.
pub fn time(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!("{s:?} is not a time"));
    }
    let n: u64 = s[..digits]
        .parse()
        .map_err(|_| format!("{s:?} is too large"))?;
    let unit = &s[digits..];
    let d = match unit {
        "us" => Duration::from_micros(n),
        "" | "ms" => Duration::from_millis(n),
        "s" => Duration::from_secs(n),
        "m" => Duration::from_secs(n.saturating_mul(60)),
        "h" => Duration::from_secs(n.saturating_mul(3600)),
        "d" => Duration::from_secs(n.saturating_mul(86400)),
        _ => return Err(format!("unknown time unit {unit:?} in {s:?}")),
    };
    // HAProxy refuses times beyond 2^31 ms (about 24.8 days).
    if d > Duration::from_millis(i32::MAX as u64) {
        return Err(format!("{s:?} is more than 24 days"));
    }
    Ok(d)
}

/// The facilities syslog knows, in their numeric order (RFC 5424).
const FACILITIES: [&str; 24] = [
    "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "auth2",
    "ftp", "ntp", "audit", "alert", "cron2", "local0", "local1", "local2", "local3", "local4",
    "local5", "local6", "local7",
];

/// `log` as HAProxy's global section writes it: "ADDRESS[:PORT] FACILITY
/// [LEVEL]" (syslog over UDP, port 514 by default) or "stdout".
pub fn log_target(s: &str) -> Result<LogTarget, String> {
    let w = split(s)?;
    match w.as_slice() {
        [t] if t == "stdout" => return Ok(LogTarget::Stdout),
        [t, ..] if t == "stdout" => {
            return Err("stdout takes no facility here; write log = \"stdout\"".into())
        }
        [] => return Err("empty log target".into()),
        _ => {}
    }
    let addr = socket_addr(&w[0], Some(514))?;
    let Some(fac) = w.get(1) else {
        return Err(format!(
            "{:?} names no facility; HAProxy needs one, e.g. \"{} local2\"",
            s, w[0]
        ));
    };
    let Some(facility) = FACILITIES.iter().position(|f| f == fac) else {
        return Err(format!(
            "unknown syslog facility {fac:?}; use one of {}",
            FACILITIES.join(", ")
        ));
    };
    if w.len() > 3 {
        return Err(format!(
            "{:?}: only ADDRESS[:PORT] FACILITY [LEVEL] is understood",
            s
        ));
    }
    Ok(LogTarget::Syslog {
        addr,
        facility: facility as u8,
    })
}

/// "ADDRESS:PORT", "[V6]:PORT", or a bare address when `default_port` is
/// given. Names are refused: xlb resolves nothing at run time.
pub fn socket_addr(s: &str, default_port: Option<u16>) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    if let (Some(p), Ok(ip)) = (default_port, s.trim_matches(['[', ']']).parse::<IpAddr>()) {
        return Ok(SocketAddr::new(ip, p));
    }
    let host = match s.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => h,
        _ => s,
    };
    if host.parse::<IpAddr>().is_ok() || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok() {
        return Err(format!("{s:?} has no valid port; write ADDRESS:PORT"));
    }
    Err(format!(
        "{s:?} is not ADDRESS:PORT; names are not resolved, write the address (IPv6 as [2001:db8::1]:80)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_as_haproxy_splits_them() {
        assert_eq!(
            split(r#"is_api  hdr(host) -i "api example"\ x 'a\b'"#).unwrap(),
            vec!["is_api", "hdr(host)", "-i", "api example x", r"a\b"]
        );
        assert!(split("\"open").unwrap_err().contains("not closed"));
        assert!(split("a\\").is_err());
        assert!(split("   ").unwrap().is_empty());
    }

    #[test]
    fn times_take_haproxy_units() {
        assert_eq!(time("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(time("1m"), Ok(Duration::from_secs(60)));
        assert_eq!(time("500"), Ok(Duration::from_millis(500)));
        assert_eq!(time("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(time("100us"), Ok(Duration::from_micros(100)));
        assert_eq!(time("1d"), Ok(Duration::from_secs(86400)));
        assert!(time("10x").unwrap_err().contains("unknown time unit"));
        assert!(time("s").is_err());
        assert!(time("30d").unwrap_err().contains("24 days"));
    }

    #[test]
    fn log_targets_are_syslog_or_stdout() {
        assert_eq!(
            log_target("127.0.0.1 local2"),
            Ok(LogTarget::Syslog {
                addr: "127.0.0.1:514".parse().unwrap(),
                facility: 18
            })
        );
        assert_eq!(
            log_target("[::1]:5140 daemon info"),
            Ok(LogTarget::Syslog {
                addr: "[::1]:5140".parse().unwrap(),
                facility: 3
            })
        );
        assert_eq!(log_target("stdout"), Ok(LogTarget::Stdout));
        assert!(log_target("127.0.0.1").unwrap_err().contains("facility"));
        assert!(log_target("127.0.0.1 local9")
            .unwrap_err()
            .contains("unknown syslog facility"));
        assert!(log_target("loghost local0")
            .unwrap_err()
            .contains("names are not resolved"));
    }
}
