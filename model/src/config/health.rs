//! Health checks as keepalived configures them (TCP_CHECK, HTTP_GET,
//! SSL_GET, MISC_CHECK, UDP_CHECK), checked into a `CheckSpec`.

use super::raw::RawCheck;
use super::{CheckDef, Validator};
use crate::check::{CheckKind, CheckSpec};
use std::net::{IpAddr, SocketAddr};
use toml::Spanned;

impl Validator<'_> {
    /// A health check for real server `addr:port`.
    pub(super) fn health_check(
        &mut self,
        c: &Spanned<RawCheck>,
        addr: IpAddr,
        port: u16,
    ) -> Option<CheckDef> {
        let r = c.get_ref();
        let kind_word = r.kind.get_ref().to_ascii_lowercase();
        // Which type-specific keys are set, to reject ones of another type.
        let set: [(&str, Option<std::ops::Range<usize>>, &str); 7] = [
            ("path", r.path.as_ref().map(|v| v.span()), "http"),
            ("status", r.status.as_ref().map(|v| v.span()), "http"),
            ("digest", r.digest.as_ref().map(|v| v.span()), "http"),
            ("command", r.command.as_ref().map(|v| v.span()), "misc"),
            ("dynamic", r.dynamic.as_ref().map(|v| v.span()), "misc"),
            ("payload", r.payload.as_ref().map(|v| v.span()), "udp"),
            (
                "require_reply",
                r.require_reply.as_ref().map(|v| v.span()),
                "udp",
            ),
        ];
        for (key, span, only) in &set {
            if let Some(span) = span {
                let http_like = *only == "http"
                    && matches!(kind_word.as_str(), "http_get" | "ssl" | "ssl_get" | "https");
                let same = kind_word == *only || kind_word == format!("{only}_check") || http_like;
                if !same {
                    self.error(
                        span,
                        format!("{key} is only for type = \"{only}\" checks"),
                        Some("remove it or change the type".into()),
                    );
                }
            }
        }
        let kind = match kind_word.as_str() {
            "tcp" | "tcp_check" => CheckKind::Tcp,
            "http" | "http_get" | "ssl" | "ssl_get" | "https" => CheckKind::Http {
                tls: matches!(kind_word.as_str(), "ssl" | "ssl_get" | "https"),
                path: r.path.as_ref().map_or("/".into(), |p| p.get_ref().clone()),
                host: r.host.clone(),
                status: r
                    .status
                    .as_ref()
                    .map_or(Vec::new(), |s| s.get_ref().clone()),
                digest: r.digest.as_ref().map(|d| d.get_ref().to_ascii_lowercase()),
            },
            "misc" | "misc_check" => match &r.command {
                Some(cmd) => CheckKind::Misc {
                    command: cmd.get_ref().clone(),
                    dynamic: r.dynamic.as_ref().is_some_and(|d| *d.get_ref()),
                },
                None => {
                    self.error(
                        &r.kind.span(),
                        "a misc check needs a command".into(),
                        Some("add command = \"/path/to/script ARGS\"".into()),
                    );
                    return None;
                }
            },
            "udp" | "udp_check" => CheckKind::Udp {
                payload: r
                    .payload
                    .as_ref()
                    .map_or(Vec::new(), |p| p.get_ref().as_bytes().to_vec()),
                require_reply: r.require_reply.as_ref().is_some_and(|v| *v.get_ref()),
            },
            other => {
                self.error(
                    &r.kind.span(),
                    format!("unknown check type {other:?}"),
                    Some("use one of \"tcp\", \"http\", \"ssl\", \"misc\", \"udp\"".into()),
                );
                return None;
            }
        };
        let ip = match &r.connect_ip {
            Some(s) => self.address(s, "connect_ip")?,
            None => addr,
        };
        let cport = match &r.connect_port {
            Some(p) => self.port(p, "connect_port")?,
            None => port,
        };
        let bind = match &r.bindto {
            Some(s) => Some(self.address(s, "bindto")?),
            None => None,
        };
        let count = |v: &Option<Spanned<u32>>, d: u32| v.as_ref().map_or(d, |x| *x.get_ref());
        let spec = CheckSpec {
            kind,
            target: SocketAddr::new(ip, cport),
            bind,
            interval: self.seconds(&r.interval, "interval", 6.0, 3600.0),
            timeout: self.seconds(&r.timeout, "timeout", 5.0, 600.0),
            rise: count(&r.rise, 1),
            fall: count(&r.fall, 1),
            retry: count(&r.retry, 0),
            delay_before_retry: self.seconds(
                &r.delay_before_retry,
                "delay_before_retry",
                1.0,
                600.0,
            ),
        };
        Some(CheckDef {
            spec,
            inhibit_on_failure: r.inhibit_on_failure.unwrap_or(false),
        })
    }
}
