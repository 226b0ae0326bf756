//! The metrics exposition, hand-rolled (control/src/metrics/) against the
//! `prometheus-client` crate, on a large director: SERVICES virtual
//! services of REALS real servers each (default 1000 x 10). Both render the
//! per-service and per-real-server families from one status, as a scrape
//! does; the crate through a `Collector` of const metrics (the values live
//! in the workers' counters, not in the crate's atomics).
//! Prints the median ms per render of each (of 15 rounds, interleaved),
//! the sizes, and where the two outputs differ (docs/design/metrics.md).
//! XLB_METRICS_DUMP=FILE writes the hand-rolled text there (to compare a
//! change of the renderer byte for byte).
//! Usage: cargo run --release -p xlb-bench --bin metrics_encode [SERVICES [REALS]]

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::time::Instant;
use xlb_control::api::{RealStatus, ServiceStatus, Status, Traffic};

fn status(services: usize, reals: usize) -> Status {
    let t = |n: u64| Traffic {
        conns: n,
        packets_in: n * 10,
        packets_out: n * 9,
        bytes_in: n * 1500,
        bytes_out: n * 40_000,
        drops: Default::default(),
    };
    Status {
        generation: 1,
        config: "big.toml".into(),
        services: (0..services)
            .map(|s| ServiceStatus {
                name: format!("svc-{s}"),
                address: format!("10.{}.{}.1", s / 256, s % 256),
                port: 80,
                protocol: "TCP".into(),
                scheduler: "wlc".into(),
                forwarding: "Masq".into(),
                traffic: t(s as u64 * 1000),
                reals: (0..reals)
                    .map(|r| RealStatus {
                        address: format!("172.16.{}.{}", s % 256, r + 1),
                        port: 8080,
                        weight: 1,
                        configured_weight: 1,
                        enabled: true,
                        health: Some("up".into()),
                        resolved: true,
                        active: r as u64,
                        inactive: 2 * r as u64,
                        traffic: t((s * reals + r) as u64),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        timeouts: [900, 120, 300],
        conn_table_size: 1024,
        ..Default::default()
    }
}

/// The same families as control/src/metrics/mod.rs renders for services
/// and real servers, through the crate.
#[derive(Debug)]
struct Families(std::sync::Arc<Status>);

type Pick = fn(&Traffic) -> u64;
const TRAFFIC: [(&str, &str, Pick); 5] = [
    ("connections", "Connections scheduled.", |t| t.conns),
    ("packets_in", "Packets client to real server.", |t| {
        t.packets_in
    }),
    ("packets_out", "Packets real server to client (NAT).", |t| {
        t.packets_out
    }),
    ("bytes_in", "IP bytes client to real server.", |t| {
        t.bytes_in
    }),
    ("bytes_out", "IP bytes real server to client (NAT).", |t| {
        t.bytes_out
    }),
];

type RPick = fn(&RealStatus) -> i64;
const GAUGES: [(&str, &str, RPick); 2] = [
    (
        "xlb_real_active_connections",
        "Established TCP connections (IPVS ActiveConn).",
        |r| r.active as i64,
    ),
    (
        "xlb_real_inactive_connections",
        "Other connections (IPVS InActConn).",
        |r| r.inactive as i64,
    ),
];

impl Collector for Families {
    fn encode(&self, mut e: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let s = &self.0;
        for (suffix, help, pick) in TRAFFIC {
            // The crate appends `_total` to a counter's samples itself: its
            // family (HELP and TYPE lines) is named without it.
            let name = format!("xlb_service_{suffix}");
            let mut m = e.encode_descriptor(&name, help, None, MetricType::Counter)?;
            for v in &s.services {
                let port = v.port.to_string();
                let labels = [
                    ("service", v.name.as_str()),
                    ("vip", v.address.as_str()),
                    ("port", port.as_str()),
                    ("protocol", v.protocol.as_str()),
                ];
                ConstCounter::new(pick(&v.traffic)).encode(m.encode_family(&labels)?)?;
            }
            let name = format!("xlb_real_{suffix}");
            let mut m = e.encode_descriptor(&name, help, None, MetricType::Counter)?;
            for v in &s.services {
                for r in &v.reals {
                    let real = format!("{}:{}", r.address, r.port);
                    let labels = [("service", v.name.as_str()), ("real", real.as_str())];
                    ConstCounter::new(pick(&r.traffic)).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        for (name, help, pick) in GAUGES {
            let mut m = e.encode_descriptor(name, help, None, MetricType::Gauge)?;
            for v in &s.services {
                for r in &v.reals {
                    let real = format!("{}:{}", r.address, r.port);
                    let labels = [("service", v.name.as_str()), ("real", real.as_str())];
                    ConstGauge::new(pick(r)).encode(m.encode_family(&labels)?)?;
                }
            }
        }
        Ok(())
    }
}

/// The hand-rolled exposition of the same families (the whole render,
/// less the worker and generation families, which are a few lines).
fn hand_rolled(s: &Status) -> String {
    xlb_control::metrics::render(s)
}

fn crate_rendered(s: &std::sync::Arc<Status>) -> String {
    // A registry per scrape, as the status is per scrape.
    let mut r = Registry::default();
    r.register_collector(Box::new(Families(s.clone())));
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, &r).expect("encodes");
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let services = args.next().map_or(1000, |a| a.expect("SERVICES"));
    let reals = args.next().map_or(10, |a| a.expect("REALS"));
    let s = std::sync::Arc::new(status(services, reals));
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let (mut a, mut b) = (String::new(), String::new());
    for _ in 0..15 {
        let t = Instant::now();
        a = hand_rolled(&s);
        ours.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        b = crate_rendered(&s);
        theirs.push(t.elapsed().as_secs_f64() * 1e3);
    }
    if let Some(f) = std::env::var_os("XLB_METRICS_DUMP") {
        std::fs::write(&f, &a).expect("XLB_METRICS_DUMP is writable");
    }
    println!("{services} services x {reals} real servers");
    println!(
        "hand-rolled: {:.1} ms per render, {} bytes (all families)",
        median(ours),
        a.len()
    );
    println!(
        "prometheus-client 0.24: {:.1} ms per render, {} bytes (service and real server families)",
        median(theirs),
        b.len()
    );
    // Where they differ: each crate line the hand-rolled text lacks.
    let ours: std::collections::HashSet<&str> = a.lines().collect();
    let differing: Vec<&str> = b.lines().filter(|l| !ours.contains(l)).collect();
    println!(
        "crate lines not in the hand-rolled text: {}",
        differing.len()
    );
    for l in differing.iter().take(6) {
        println!("  {l}");
    }
    // A name with a double quote (the configuration allows one).
    let mut odd = status(1, 1);
    odd.services[0].name = "we\"b".into();
    let odd = std::sync::Arc::new(odd);
    let pick = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("xlb_service_connections_total{"))
            .unwrap_or("")
            .to_string()
    };
    println!("a service named we\"b:");
    println!("  hand-rolled: {}", pick(&hand_rolled(&odd)));
    println!("  crate:       {}", pick(&crate_rendered(&odd)));
}
