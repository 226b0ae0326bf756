//! The proxy's families: per frontend, backend and server, with HAProxy's
//! stats names in the help texts (scur, stot, bin, bout, econ, eresp,
//! wretr, wredis, hrsp_*).

use super::Out;
use xlb_proxy::counters::CounterValues;
use xlb_proxy::status::ProxyStatus;

type Pick = fn(&CounterValues) -> u64;

const COUNTERS: [(&str, &str, &str, Pick); 9] = [
    (
        "current",
        "gauge",
        "Sessions (tcp) or requests (http) in progress (scur).",
        |c| c.current,
    ),
    ("max", "gauge", "Most at once since start (smax).", |c| {
        c.max
    }),
    (
        "total",
        "counter",
        "Sessions or requests handled (stot).",
        |c| c.total,
    ),
    (
        "bytes_in_total",
        "counter",
        "Bytes from clients (bin).",
        |c| c.bytes_in,
    ),
    (
        "bytes_out_total",
        "counter",
        "Bytes to clients (bout).",
        |c| c.bytes_out,
    ),
    (
        "connect_errors_total",
        "counter",
        "Failed connection attempts to servers (econ).",
        |c| c.connect_errors,
    ),
    (
        "response_errors_total",
        "counter",
        "Responses that failed or did not come (eresp).",
        |c| c.response_errors,
    ),
    (
        "retries_total",
        "counter",
        "Connection retries to the same server (wretr).",
        |c| c.retries,
    ),
    (
        "redispatches_total",
        "counter",
        "Retries sent to another server (wredis).",
        |c| c.redispatches,
    ),
];

const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

pub(super) fn render(o: &mut Out, p: &ProxyStatus) {
    for (suffix, kind, help, pick) in COUNTERS {
        let name = format!("xlb_proxy_frontend_{suffix}");
        o.family(&name, kind, help);
        for f in &p.frontends {
            o.sample(
                &name,
                &[("frontend", &f.name), ("mode", &f.mode)],
                pick(&f.counters),
            );
        }
        let name = format!("xlb_proxy_backend_{suffix}");
        o.family(&name, kind, help);
        for b in &p.backends {
            o.sample(
                &name,
                &[("backend", &b.name), ("mode", &b.mode)],
                pick(&b.counters),
            );
        }
        let name = format!("xlb_proxy_server_{suffix}");
        o.family(&name, kind, help);
        for b in &p.backends {
            for s in &b.servers {
                o.sample(
                    &name,
                    &[("backend", &b.name), ("server", &s.name)],
                    pick(&s.counters),
                );
            }
        }
    }
    o.family(
        "xlb_proxy_frontend_request_errors_total",
        "counter",
        "Requests refused before any server: malformed, timed out (ereq).",
    );
    for f in &p.frontends {
        o.sample(
            "xlb_proxy_frontend_request_errors_total",
            &[("frontend", &f.name)],
            f.counters.request_errors,
        );
    }
    for (who, list) in [("frontend", true), ("backend", false)] {
        let name = format!("xlb_proxy_{who}_http_responses_total");
        o.family(&name, "counter", "HTTP responses by status class (hrsp_*).");
        if list {
            for f in &p.frontends {
                for (i, class) in CLASSES.iter().enumerate() {
                    o.sample(
                        &name,
                        &[("frontend", &f.name), ("code", class)],
                        f.counters.http_responses[i],
                    );
                }
            }
        } else {
            for b in &p.backends {
                for (i, class) in CLASSES.iter().enumerate() {
                    o.sample(
                        &name,
                        &[("backend", &b.name), ("code", class)],
                        b.counters.http_responses[i],
                    );
                }
            }
        }
    }
    type ServerPick = fn(&xlb_proxy::status::ServerStatus) -> u64;
    let per_server: [(&str, &str, ServerPick); 3] = [
        (
            "xlb_proxy_server_up",
            "1 when the server takes traffic (UP or DRAIN, or not checked and not in maintenance).",
            |s| {
                u64::from(
                    s.status.starts_with("UP") || s.status == "no check" || s.status == "DRAIN",
                )
            },
        ),
        (
            "xlb_proxy_server_weight",
            "The weight in use (0: drained).",
            |s| u64::from(s.weight),
        ),
        (
            "xlb_proxy_server_queued",
            "Requests or sessions waiting for this server (qcur).",
            |s| s.queued as u64,
        ),
    ];
    // Each family's samples in one group, as the exposition format wants.
    for (name, help, pick) in per_server {
        o.family(name, "gauge", help);
        for b in &p.backends {
            for s in &b.servers {
                o.sample(name, &[("backend", &b.name), ("server", &s.name)], pick(s));
            }
        }
    }
    type BackendPick = fn(&xlb_proxy::status::BackendStatus) -> u64;
    let per_backend: [(&str, &str, &str, BackendPick); 3] = [
        (
            "xlb_proxy_backend_queued",
            "gauge",
            "Waiting for any server of the backend (qcur).",
            |b| b.queued as u64,
        ),
        (
            "xlb_proxy_backend_queue_timeouts_total",
            "counter",
            "Refused after timeout queue (503).",
            |b| b.queue_timeouts,
        ),
        (
            "xlb_proxy_backend_active_servers",
            "gauge",
            "Usable non-backup servers (act).",
            |b| b.active as u64,
        ),
    ];
    for (name, kind, help, pick) in per_backend {
        o.family(name, kind, help);
        for b in &p.backends {
            o.sample(name, &[("backend", &b.name)], pick(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlb_proxy::status::{BackendStatus, FrontendStatus, ServerStatus};

    fn status() -> ProxyStatus {
        let c = CounterValues {
            current: 2,
            total: 9,
            http_responses: [0, 7, 0, 1, 1, 0],
            ..Default::default()
        };
        ProxyStatus {
            frontends: vec![FrontendStatus {
                name: "www".into(),
                mode: "http".into(),
                binds: vec!["192.0.2.10:80".into()],
                maxconn: 100,
                counters: c,
            }],
            backends: vec![BackendStatus {
                name: "app".into(),
                mode: "http".into(),
                balance: "roundrobin".into(),
                active: 1,
                backups: 0,
                queued: 3,
                queue_max: 4,
                queue_timeouts: 1,
                counters: c,
                servers: vec![ServerStatus {
                    name: "a1".into(),
                    address: "10.0.0.1:80".into(),
                    status: "DOWN".into(),
                    weight: 2,
                    configured_weight: 2,
                    backup: false,
                    check: "L4CON".into(),
                    served: 0,
                    queued: 0,
                    maxconn: 0,
                    since_secs: 5,
                    counters: c,
                }],
            }],
        }
    }

    #[test]
    fn every_family_is_one_group_with_its_samples() {
        let mut o = Out(String::new());
        render(&mut o, &status());
        let text = o.0;
        assert!(
            text.contains("xlb_proxy_frontend_total{frontend=\"www\",mode=\"http\"} 9\n"),
            "{text}"
        );
        assert!(text
            .contains("xlb_proxy_backend_http_responses_total{backend=\"app\",code=\"5xx\"} 1\n"));
        assert!(text.contains("xlb_proxy_server_up{backend=\"app\",server=\"a1\"} 0\n"));
        assert!(text.contains("xlb_proxy_backend_queued{backend=\"app\"} 3\n"));
        // A family's samples follow its TYPE line with no other family's
        // samples between them.
        let mut seen = std::collections::HashSet::new();
        let mut current = String::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                current = rest.split(' ').next().unwrap().to_string();
                assert!(seen.insert(current.clone()), "{current} typed twice");
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                assert_eq!(name, current, "{line} outside its family");
            }
        }
    }
}
