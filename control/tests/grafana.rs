//! docs/grafana/xlb.json against the exposition: it parses, it is a
//! Grafana 10 dashboard, and every metric and label its queries and
//! legends name is one xlbd exports (a renamed metric breaks this test,
//! not an operator's board).

use serde_json::Value;
use std::collections::BTreeMap;
use xlb_control::api::{RealStatus, ServiceStatus, Status, SyncStatus, Traffic, WorkerStatus};
use xlb_control::ha::InstanceStatus;
use xlb_control::metrics::{render, render_vrrp};
use xlb_proxy::counters::CounterValues;
use xlb_proxy::status::{BackendStatus, FrontendStatus, ProxyStatus, ServerStatus};

const BOARD: &str = include_str!("../../docs/grafana/xlb.json");

/// A director with one of everything, so every family has a sample.
fn exposition() -> String {
    let drops: BTreeMap<String, u64> = [("no_real_server".to_string(), 1)].into();
    let traffic = Traffic {
        conns: 1,
        drops: drops.clone(),
        ..Default::default()
    };
    let status = Status {
        generation: 1,
        config: "x.toml".into(),
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
                port: 80,
                weight: 1,
                configured_weight: 1,
                enabled: true,
                health: Some("up".into()),
                resolved: true,
                active: 1,
                inactive: 1,
                traffic,
                ..Default::default()
            }],
            ..Default::default()
        }],
        workers: vec![WorkerStatus {
            rx_packets: 1,
            tx_packets: 1,
            rx_batches: 1,
            poll_iterations: 1,
            conns_live: 1,
            conns_created: 1,
            drops: drops.clone(),
            ..Default::default()
        }],
        timeouts: [900, 120, 300],
        conn_table_size: 1024,
        proxy: Some(ProxyStatus {
            frontends: vec![FrontendStatus {
                name: "www".into(),
                mode: "http".into(),
                binds: vec!["192.0.2.1:80".into()],
                maxconn: 10,
                counters: CounterValues::default(),
            }],
            backends: vec![BackendStatus {
                name: "app".into(),
                mode: "http".into(),
                balance: "roundrobin".into(),
                active: 1,
                backups: 0,
                queued: 0,
                queue_max: 0,
                queue_timeouts: 0,
                counters: CounterValues::default(),
                servers: vec![ServerStatus {
                    name: "a1".into(),
                    address: "10.0.0.1:80".into(),
                    status: "UP".into(),
                    weight: 1,
                    configured_weight: 1,
                    backup: false,
                    check: "L4OK".into(),
                    served: 0,
                    queued: 0,
                    maxconn: 0,
                    since_secs: 1,
                    counters: CounterValues::default(),
                }],
            }],
        }),
        sync: Some(SyncStatus {
            dropped: [("short".to_string(), 1)].into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let vrrp = [InstanceStatus {
        name: "VI_1".into(),
        state: "MASTER".into(),
        errors: [("bad checksum".to_string(), 1)].into(),
        ..Default::default()
    }];
    render(&status) + &render_vrrp(&vrrp)
}

/// Metric name -> the label names its samples carry.
fn families(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (name, rest) = line.split_at(line.find(['{', ' ']).unwrap());
        let labels = out.entry(name.to_string()).or_default();
        if let Some(inside) = rest.strip_prefix('{').and_then(|r| r.split_once('}')) {
            for pair in inside.0.split(',') {
                let key = pair.split('=').next().unwrap().to_string();
                if !labels.contains(&key) {
                    labels.push(key);
                }
            }
        }
    }
    out
}

/// Words of `s` made of [a-z0-9_] that start with `prefix`.
fn words<'a>(s: &'a str, prefix: &str) -> Vec<&'a str> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with(prefix))
        .collect()
}

/// Label names a query groups by or selects on, and a legend shows.
fn labels_used(expr: &str, legend: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in expr.split("by (").skip(1) {
        let list = part.split(')').next().unwrap();
        out.extend(list.split(',').map(|l| l.trim().to_string()));
    }
    for part in expr.split('{').skip(1) {
        let inside = part.split('}').next().unwrap();
        for sel in inside.split(',') {
            if let Some(name) = sel.split(['=', '!']).next().filter(|n| !n.is_empty()) {
                out.push(name.trim().to_string());
            }
        }
    }
    for part in legend.split("{{").skip(1) {
        out.push(part.split("}}").next().unwrap().trim().to_string());
    }
    out
}

#[test]
fn the_board_is_a_grafana_10_dashboard() {
    let b: Value = serde_json::from_str(BOARD).expect("docs/grafana/xlb.json parses");
    assert!(
        b["schemaVersion"].as_u64().unwrap() >= 38,
        "Grafana 10 writes 38+"
    );
    assert_eq!(b["uid"], "xlb-director");
    let panels = b["panels"].as_array().unwrap();
    let mut ids: Vec<u64> = panels.iter().map(|p| p["id"].as_u64().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), panels.len(), "panel ids are unique");
    for p in panels {
        let g = &p["gridPos"];
        assert!(
            g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
            "{p}"
        );
        if p["type"] != "row" {
            assert!(
                !p["targets"].as_array().unwrap().is_empty(),
                "{}",
                p["title"]
            );
        }
    }
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for want in [
        "Virtual services",
        "Real servers",
        "VRRP",
        "Connection sync",
        "Proxy",
    ] {
        assert!(titles.contains(&want), "no {want} row: {titles:?}");
    }
}

#[test]
fn every_metric_and_label_the_board_queries_is_exported() {
    let b: Value = serde_json::from_str(BOARD).unwrap();
    let exported = families(&exposition());
    let mut seen = 0;
    let templating = b["templating"]["list"].as_array().unwrap();
    let variable_queries = templating
        .iter()
        .filter_map(|v| v["definition"].as_str())
        .map(|q| (q.to_string(), String::new()));
    let targets = b["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| {
            (
                t["expr"].as_str().unwrap().to_string(),
                t["legendFormat"].as_str().unwrap_or("").to_string(),
            )
        });
    for (expr, legend) in targets.chain(variable_queries) {
        let names = words(&expr, "xlb_");
        assert!(!names.is_empty(), "{expr} queries no xlb metric");
        for n in &names {
            assert!(exported.contains_key(*n), "{expr}: xlbd exports no {n}");
            seen += 1;
        }
        for label in labels_used(&expr, &legend) {
            assert!(
                names.iter().any(|n| exported[*n].contains(&label)),
                "{expr} / {legend}: no metric of {names:?} has a label {label:?}"
            );
        }
    }
    assert!(seen >= 40, "only {seen} metric references");
}
