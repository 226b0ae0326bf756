//! ipvsadm's output formats, column for column (ipvsadm 1.31's printf
//! formats), from xlbd's status: `-L -n` and its `--stats`, `--rate`,
//! `--thresholds`, `--persistent-conn`, `--exact`, `--timeout` variants,
//! `-L -n -c`, and `-S` rules. Addresses are always numeric (`-n`): xlb
//! does no name lookups.

use super::parse::ListSpec;
use crate::api::{ConnStatus, RealStatus, ServiceStatus, Status};
use std::fmt::Write;
use xlb_model::addr::endpoint;
use xlb_model::{Address, ServiceKey};

/// The version IPVS reports; scripts compare it.
const IPVS_VERSION: &str = "1.2.1";

/// ipvsadm's `print_largenum`: K, M, G, T above eight digits unless exact.
pub fn largenum(i: u64, exact: bool) -> String {
    if exact {
        let len = i.to_string().len();
        return format!("{:>w$}", i, w = if len <= 8 { 9 } else { len + 1 });
    }
    match i {
        i if i < 100_000_000 => format!("{i:>9}"),
        i if i < 1_000_000_000 => format!("{:>8}K", i / 1000),
        i if i < 100_000_000_000 => format!("{:>8}M", i / 1_000_000),
        i if i < 100_000_000_000_000 => format!("{:>8}G", i / 1_000_000_000),
        i => format!("{:>8}T", i / 1_000_000_000_000),
    }
}

/// The services in ipvsadm's order: by firewall mark (none first), family,
/// protocol, address, port.
fn sorted(s: &Status, spec: &ListSpec) -> Vec<ServiceStatus> {
    let mut v: Vec<ServiceStatus> = s
        .services
        .iter()
        .filter(|x| spec.service.is_none() || x.key == spec.service)
        .cloned()
        .collect();
    if !spec.nosort {
        v.sort_by_key(|x| match x.key {
            Some(ServiceKey::Mark(m)) => (m, 0, 0, Address::default(), 0),
            Some(ServiceKey::Endpoint { addr, port, proto }) => (
                0,
                u8::from(addr.is_ipv6()),
                proto.number(),
                Address::from(addr),
                port,
            ),
            None => (u32::MAX, 0, 0, Address::default(), 0),
        });
        for x in &mut v {
            x.reals.sort_by_key(|r| {
                (
                    r.address
                        .parse::<std::net::IpAddr>()
                        .ok()
                        .map(Address::from),
                    r.port,
                )
            });
        }
    }
    v
}

/// "TCP  10.0.0.1:80", "UDP  [2001:db8::1]:53", "FWM  5".
fn service_name(x: &ServiceStatus) -> String {
    match x.key {
        Some(ServiceKey::Mark(m)) => format!("FWM  {m}"),
        Some(ServiceKey::Endpoint { addr, port, proto }) => {
            format!("{:<4} {}", proto.label(), endpoint(addr, port))
        }
        None => format!("{:<4} {}:{}", x.protocol, x.address, x.port),
    }
}

fn real_name(r: &RealStatus) -> String {
    match r.address.parse::<std::net::IpAddr>() {
        Ok(a) => endpoint(a, r.port),
        Err(_) => format!("{}:{}", r.address, r.port),
    }
}

/// " persistent 360 mask 255.255.255.0" (the mask only when not a host's).
fn persistence_flags(x: &ServiceStatus) -> String {
    let Some(p) = x.persistence else {
        return String::new();
    };
    let mut o = format!(" persistent {}", p.timeout);
    match x.key.and_then(|k| k.address()) {
        Some((std::net::IpAddr::V6(_), _, _)) => {
            if p.prefix != 128 {
                let _ = write!(o, " mask {}", p.prefix);
            }
        }
        _ => {
            if p.prefix != 32 {
                let _ = write!(o, " mask {}", Address::v4(u32::MAX).masked(p.prefix));
            }
        }
    }
    o
}

/// `ipvsadm -L -n` and its variants.
pub fn list(s: &Status, spec: &ListSpec) -> String {
    let mut o = String::new();
    if spec.timeout {
        let [tcp, fin, udp] = s.timeouts;
        let _ = writeln!(o, "Timeout (tcp tcpfin udp): {tcp} {fin} {udp}");
        return o;
    }
    if spec.service.is_none() {
        let _ = writeln!(
            o,
            "IP Virtual Server version {IPVS_VERSION} (size={})",
            s.conn_table_size
        );
    }
    if spec.stats {
        let _ = writeln!(
            o,
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port",
            "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"
        );
    } else if spec.rate {
        let _ = writeln!(
            o,
            "{:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n  -> RemoteAddress:Port",
            "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"
        );
    } else if spec.thresholds {
        let _ = writeln!(
            o,
            "{:<33} {:<10} {:<10} {:<10} {:<10}\n  -> RemoteAddress:Port",
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        );
    } else if spec.persistent_conn {
        let _ = writeln!(
            o,
            "{:<33} {:<9} {:<11} {:<10} {:<10}\n  -> RemoteAddress:Port",
            "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn"
        );
    } else {
        let _ = writeln!(
            o,
            "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn"
        );
    }
    let n = |v: u64| largenum(v, spec.exact);
    for x in sorted(s, spec) {
        let name = service_name(&x);
        if spec.stats || spec.rate {
            let t = &x.traffic;
            let r = &x.rates;
            let cols = if spec.stats {
                [
                    t.conns,
                    t.packets_in,
                    t.packets_out,
                    t.bytes_in,
                    t.bytes_out,
                ]
            } else {
                [
                    r.conns,
                    r.packets_in,
                    r.packets_out,
                    r.bytes_in,
                    r.bytes_out,
                ]
            };
            let _ = writeln!(o, "{name:<33}{}", cols.map(n).concat());
        } else {
            let _ = writeln!(o, "{name} {}{}", x.scheduler, persistence_flags(&x));
        }
        for r in &x.reals {
            let rn = real_name(r);
            if spec.stats {
                let t = &r.traffic;
                let cols = [
                    t.conns,
                    t.packets_in,
                    t.packets_out,
                    t.bytes_in,
                    t.bytes_out,
                ];
                let _ = writeln!(o, "  -> {rn:<28}{}", cols.map(n).concat());
            } else if spec.rate {
                let t = &r.rates;
                let _ = writeln!(
                    o,
                    "  -> {rn:<28} {:>8} {:>8} {:>8}{}{}",
                    t.conns,
                    t.packets_in,
                    t.packets_out,
                    n(t.bytes_in),
                    n(t.bytes_out)
                );
            } else if spec.thresholds {
                let _ = writeln!(
                    o,
                    "  -> {rn:<28} {:<10} {:<10} {:<10} {:<10}",
                    r.u_threshold, r.l_threshold, r.active, r.inactive
                );
            } else if spec.persistent_conn {
                let _ = writeln!(
                    o,
                    "  -> {rn:<28} {:<9} {:<11} {:<10} {:<10}",
                    r.weight, r.persistent, r.active, r.inactive
                );
            } else {
                let _ = writeln!(
                    o,
                    "  -> {rn:<28} {:<7} {:<6} {:<10} {:<10}",
                    x.forwarding, r.weight, r.active, r.inactive
                );
            }
        }
    }
    o
}

/// `ipvsadm -L -n -c`.
pub fn connections(conns: &[ConnStatus]) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "IPVS connection entries\npro expire {:<11} {:<18} {:<18} destination",
        "state", "source", "virtual"
    );
    for c in conns {
        let expire = format!("{:02}:{:02}", c.expires_in / 60, c.expires_in % 60);
        let _ = writeln!(
            o,
            "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
            c.protocol, expire, c.state, c.client, c.virtual_address, c.real
        );
    }
    o
}

/// `ipvsadm -S -n`: the rules that recreate the services.
pub fn save(s: &Status) -> String {
    let mut o = String::new();
    for x in sorted(s, &ListSpec::default()) {
        let svc = match x.key {
            Some(ServiceKey::Mark(m)) => format!("-f {m}"),
            Some(ServiceKey::Endpoint { addr, port, proto }) => format!(
                "{} {}",
                if proto == xlb_model::Protocol::Udp {
                    "-u"
                } else {
                    "-t"
                },
                endpoint(addr, port)
            ),
            None => continue,
        };
        let _ = write!(o, "-A {svc} -s {}", x.scheduler);
        if let Some(p) = x.persistence {
            let _ = write!(o, " -p {}", p.timeout);
            // As ipvsadm: the mask only when it is not a single host's.
            match x.key.and_then(|k| k.address()) {
                Some((std::net::IpAddr::V6(_), _, _)) if p.prefix != 128 => {
                    let _ = write!(o, " -M {}", p.prefix);
                }
                Some((std::net::IpAddr::V6(_), _, _)) => {}
                _ if p.prefix != 32 => {
                    let _ = write!(o, " -M {}", Address::v4(u32::MAX).masked(p.prefix));
                }
                _ => {}
            }
        }
        o.push('\n');
        let method = if x.forwarding == "Masq" { "-m" } else { "-g" };
        for r in &x.reals {
            let _ = writeln!(
                o,
                "-a {svc} -r {} {method} -w {}",
                real_name(r),
                r.configured_weight
            );
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Rates, Traffic};
    use xlb_model::{Persistence, Protocol};

    fn status() -> Status {
        let real = |a: &str, w: u32, active: u64| RealStatus {
            address: a.into(),
            port: 80,
            weight: w,
            configured_weight: w,
            enabled: true,
            health: None,
            resolved: true,
            u_threshold: 0,
            l_threshold: 0,
            overloaded: false,
            active,
            inactive: 2,
            persistent: 4,
            traffic: Traffic {
                conns: 12,
                packets_in: 123_456_789,
                bytes_in: 98_765_432_100,
                ..Default::default()
            },
            rates: Rates {
                conns: 3,
                ..Default::default()
            },
        };
        let key = ServiceKey::endpoint(
            "10.0.0.1".parse::<std::net::IpAddr>().unwrap(),
            80,
            Protocol::Tcp,
        );
        Status {
            generation: 1,
            config: "x".into(),
            services: vec![ServiceStatus {
                name: "web".into(),
                key: Some(key),
                persistence: Some(Persistence {
                    timeout: 360,
                    prefix: 24,
                }),
                address: "10.0.0.1".into(),
                port: 80,
                protocol: "TCP".into(),
                scheduler: "wlc".into(),
                forwarding: "Masq".into(),
                flags: String::new(),
                traffic: Traffic::default(),
                rates: Rates::default(),
                reals: vec![real("192.168.1.21", 1, 0), real("192.168.1.20", 3, 5)],
            }],
            workers: Vec::new(),
            timeouts: [900, 120, 300],
            conn_table_size: 4096,
            proxy: None,
            sync: None,
            announce: None,
        }
    }

    #[test]
    fn the_listing_is_ipvsadms_column_for_column() {
        assert_eq!(
            list(&status(), &ListSpec::default()),
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n  \
             -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
             TCP  10.0.0.1:80 wlc persistent 360 mask 255.255.255.0\n  \
             -> 192.168.1.20:80              Masq    3      5          2         \n  \
             -> 192.168.1.21:80              Masq    1      0          2         \n"
        );
    }

    #[test]
    fn stats_scale_large_numbers_unless_exact() {
        let stats = ListSpec {
            stats: true,
            ..Default::default()
        };
        let text = list(&status(), &stats);
        assert!(
            text.contains(&format!(
                "  -> {:<28}{:>9}{:>9}{:>9}{:>9}{:>9}\n",
                "192.168.1.20:80", 12, "123456K", 0, "98765M", 0
            )),
            "{text}"
        );
        let exact = list(
            &status(),
            &ListSpec {
                exact: true,
                ..stats
            },
        );
        assert!(
            exact.contains("       12 123456789        0 98765432100        0\n"),
            "{exact}"
        );
        assert_eq!(largenum(99_999_999, false), " 99999999");
        assert_eq!(largenum(100_000_000, false), "  100000K");
        assert_eq!(largenum(7, true), "        7");
    }

    #[test]
    fn persistent_conn_counts_templates() {
        let spec = ListSpec {
            persistent_conn: true,
            ..Default::default()
        };
        let text = list(&status(), &spec);
        assert!(
            text.contains(&format!(
                "  -> {:<28} {:<9} {:<11} {:<10} {:<10}\n",
                "192.168.1.20:80", 3, 4, 5, 2
            )),
            "{text}"
        );
    }

    #[test]
    fn rules_recreate_the_services() {
        assert_eq!(
            save(&status()),
            "-A -t 10.0.0.1:80 -s wlc -p 360 -M 255.255.255.0\n\
             -a -t 10.0.0.1:80 -r 192.168.1.20:80 -m -w 3\n\
             -a -t 10.0.0.1:80 -r 192.168.1.21:80 -m -w 1\n"
        );
        // A host's mask (the default) is left out, as ipvsadm leaves it.
        let mut host = status();
        host.services[0].persistence = Some(Persistence {
            timeout: 360,
            prefix: 32,
        });
        assert!(
            save(&host).starts_with("-A -t 10.0.0.1:80 -s wlc -p 360\n"),
            "{}",
            save(&host)
        );
        let timeout = ListSpec {
            timeout: true,
            ..Default::default()
        };
        assert_eq!(
            list(&status(), &timeout),
            "Timeout (tcp tcpfin udp): 900 120 300\n"
        );
    }
}
