//! The dashboard endpoint over real sockets: the embedded page and its
//! assets, and `api/state` carrying the rates of counters that move.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use xlb_control::api::server::StatusSource;
use xlb_control::api::{ConnFilter, ConnStatus, RealStatus, ServiceStatus, Status, Traffic};
use xlb_control::dashboard::Dashboard;
use xlb_control::web::Limits;

/// A daemon whose one service gains 100 connections at every reading.
#[derive(Default)]
struct Busy {
    readings: AtomicU64,
}

impl StatusSource for Busy {
    fn status(&self) -> Status {
        let n = self.readings.fetch_add(1, Ordering::Relaxed) * 100;
        let traffic = Traffic {
            conns: n,
            packets_in: 3 * n,
            bytes_in: 300 * n,
            ..Default::default()
        };
        Status {
            generation: 1,
            config: "busy.toml".into(),
            services: vec![ServiceStatus {
                name: "web".into(),
                address: "192.0.2.1".into(),
                port: 80,
                protocol: "TCP".into(),
                scheduler: "wrr".into(),
                forwarding: "Masq".into(),
                traffic: traffic.clone(),
                reals: vec![RealStatus {
                    address: "10.0.0.1".into(),
                    port: 8080,
                    weight: 1,
                    configured_weight: 1,
                    enabled: true,
                    health: Some("up".into()),
                    resolved: true,
                    active: 1,
                    traffic,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            timeouts: [900, 120, 300],
            conn_table_size: 1024,
            ..Default::default()
        }
    }
    fn zero(&self, _: Option<&xlb_model::ServiceKey>) -> Result<String, String> {
        Ok(String::new())
    }
    fn conns(&self, _: &ConnFilter) -> Result<(Vec<ConnStatus>, usize), String> {
        Ok((Vec::new(), 0))
    }
    fn vrrp(&self) -> Vec<xlb_control::ha::InstanceStatus> {
        Vec::new()
    }
}

/// Status, lower-cased headers and body of `GET path` (one connection).
fn get(d: &Dashboard, path: &str) -> (u16, String, String) {
    let mut s = TcpStream::connect(d.local_addr()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let (head, body) = all.split_once("\r\n\r\n").expect("a whole response");
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

fn start() -> Dashboard {
    let source: Arc<dyn StatusSource> = Arc::new(Busy::default());
    Dashboard::start("127.0.0.1:0".parse().unwrap(), Limits::default(), source).unwrap()
}

#[test]
fn the_page_and_its_assets_come_from_the_binary_with_a_strict_policy() {
    let d = start();
    let (status, head, body) = get(&d, "/");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/html"), "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'none'"),
        "{head}"
    );
    assert!(body.contains("<script src=\"dashboard.js\">"), "{body}");
    let (status, head, body) = get(&d, "/dashboard.js");
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/javascript"), "{head}");
    assert!(body.contains("api/state"));
    assert_eq!(get(&d, "/dashboard.css").0, 200);
    assert_eq!(get(&d, "/favicon.ico").0, 404);
    assert_eq!(get(&d, "/api/state?since=soon").0, 400);
}

#[test]
fn the_state_carries_the_status_and_the_rates_of_moving_counters() {
    let d = start();
    // The sampler reads at once and then every second: two readings make
    // the first rate.
    let deadline = Instant::now() + Duration::from_secs(10);
    let answer = loop {
        let (status, head, body) = get(&d, "/api/state");
        if status == 200 {
            assert!(head.contains("content-type: application/json"), "{head}");
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            if !v["history"]["t"].as_array().unwrap().is_empty() {
                break v;
            }
        }
        assert!(Instant::now() < deadline, "no sample within 10 s");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(answer["status"]["services"][0]["name"], "web");
    assert_eq!(answer["period_ms"], 1000);
    let conns = answer["history"]["series"]["svc:TCP/192.0.2.1/80:conns"][0]
        .as_f64()
        .unwrap();
    // 100 connections per reading, readings a second apart (give or take
    // the scheduler).
    assert!((50.0..=200.0).contains(&conns), "{conns} conn/s");
    let real = &answer["history"]["series"]["real:TCP/192.0.2.1/80/10.0.0.1/8080:bytes"][0];
    assert!(real.as_f64().unwrap() > 0.0, "{answer}");
    // Asked since the last sample: nothing new yet, the status still there.
    let last = answer["history"]["t"].as_array().unwrap().last().unwrap();
    let (_, _, body) = get(&d, &format!("/api/state?since={last}"));
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["history"]["t"].as_array().unwrap().len() <= 1, "{v}");
    assert_eq!(
        v["status"]["services"][0]["reals"][0]["address"],
        "10.0.0.1"
    );
}
