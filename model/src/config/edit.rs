//! Run-time changes to a configuration, in its own terms: what ipvsadm's
//! `-A -E -D -C -a -e -d --set` do to the kernel's table. They are applied
//! to the configuration's TOML text (comments and all), so the result is
//! validated exactly as a file is, and saved as one (`xlbctl save`, as
//! `ipvsadm-save`).

use crate::addr::endpoint;
use crate::keys::ServiceKey;
use crate::sched::SchedulerKind;
use crate::service::{Forwarding, Persistence};
use std::fmt;
use std::net::IpAddr;
use toml_edit::{value, ArrayOfTables, DocumentMut, Item, Table};

/// A virtual service's settings as an edit gives them; `None` leaves a
/// setting as it is (or at its default for a new service).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ServiceSpec {
    pub key: ServiceKey,
    pub scheduler: Option<SchedulerKind>,
    pub persistence: Option<PersistenceSetting>,
    pub forwarding: Option<Forwarding>,
}

/// Persistence as an edit sets it. An enum rather than
/// `Option<Persistence>` so that "off" and "leave as it is" (`None` in
/// [`ServiceSpec`]) stay apart in JSON, where both would be `null`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersistenceSetting {
    Off,
    On(Persistence),
}

/// A real server's settings as an edit gives them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RealSpec {
    pub addr: IpAddr,
    /// `None`: the service's port.
    pub port: Option<u16>,
    pub weight: Option<u32>,
    /// ipvsadm sets the forwarding method per real server; xlb per service:
    /// the first server's sets an empty service's, others must agree.
    pub forwarding: Option<Forwarding>,
    /// ipvsadm -x, -y: `uthreshold`, `lthreshold`; 0 removes one (IPVS's
    /// "no threshold"). Absent in JSON from an older xlbctl: as it is.
    #[serde(default)]
    pub u_threshold: Option<u32>,
    #[serde(default)]
    pub l_threshold: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Edit {
    AddService(ServiceSpec),
    EditService(ServiceSpec),
    DeleteService(ServiceKey),
    /// Every virtual service (ipvsadm -C).
    Clear,
    AddReal(ServiceKey, RealSpec),
    EditReal(ServiceKey, RealSpec),
    DeleteReal(ServiceKey, IpAddr, Option<u16>),
    /// ipvsadm --set: TCP established, TCP after FIN, UDP; 0 leaves one as
    /// it is.
    SetTimeouts {
        tcp: u32,
        tcp_fin: u32,
        udp: u32,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("no virtual service {0}")]
    NoSuchService(ServiceKey),
    #[error("virtual service {0} exists already; change it with -E (edit) or remove it with -D")]
    ServiceExists(ServiceKey),
    #[error("{service} has no real server {real}")]
    NoSuchReal { service: ServiceKey, real: String },
    #[error("{service} has real server {real} already; change it with -e (edit)")]
    RealExists { service: ServiceKey, real: String },
    #[error(
        "{service} forwards by {has}; xlb sets the forwarding method per service, \
         not per real server: use {has} for every server of it (ipvsadm: {}; without \
         -m, -g or -i ipvsadm means -g, direct routing), or change the service's \
         (forwarding = \"{asked}\") when it has no servers",
        ipvsadm_flag(*has)
    )]
    ForwardingMismatch {
        service: ServiceKey,
        has: Forwarding,
        asked: Forwarding,
    },
    #[error("the running configuration's text does not parse: {0}")]
    Text(String),
}

/// The text of `text` with `edit` applied. It is not validated here: the
/// caller parses it as it would a file (`Config::parse`).
pub fn apply(text: &str, edit: &Edit) -> Result<String, EditError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| EditError::Text(e.to_string()))?;
    match edit {
        Edit::AddService(s) => {
            if find_service(&doc, &s.key).is_some() {
                return Err(EditError::ServiceExists(s.key));
            }
            let mut t = Table::new();
            match s.key {
                ServiceKey::Endpoint { addr, port, proto } => {
                    t["address"] = value(addr.to_string());
                    t["port"] = value(i64::from(port));
                    t["protocol"] = value(proto.name());
                }
                ServiceKey::Mark(m) => t["fwmark"] = value(i64::from(m)),
            }
            set_service(&mut t, s);
            services_mut(&mut doc).push(t);
        }
        Edit::EditService(s) => {
            let i = find_service(&doc, &s.key).ok_or(EditError::NoSuchService(s.key))?;
            let t = services_mut(&mut doc).get_mut(i).expect("found");
            if let Some(f) = s.forwarding {
                check_forwarding(t, s.key, f, true)?;
            }
            set_service(t, s);
        }
        Edit::DeleteService(key) => {
            let i = find_service(&doc, key).ok_or(EditError::NoSuchService(*key))?;
            services_mut(&mut doc).remove(i);
        }
        Edit::Clear => {
            doc.remove("virtual_server");
        }
        Edit::AddReal(key, r) => {
            let i = find_service(&doc, key).ok_or(EditError::NoSuchService(*key))?;
            let t = services_mut(&mut doc).get_mut(i).expect("found");
            if find_real(t, key, r.addr, r.port).is_some() {
                return Err(EditError::RealExists {
                    service: *key,
                    real: real_words(key, r.addr, r.port),
                });
            }
            if let Some(f) = r.forwarding {
                check_forwarding(t, *key, f, false)?;
            }
            let mut rt = Table::new();
            rt["address"] = value(r.addr.to_string());
            if let Some(p) = r.port {
                rt["port"] = value(i64::from(p));
            }
            set_real(&mut rt, r);
            reals_mut(t).push(rt);
        }
        Edit::EditReal(key, r) => {
            let i = find_service(&doc, key).ok_or(EditError::NoSuchService(*key))?;
            let t = services_mut(&mut doc).get_mut(i).expect("found");
            let j = find_real(t, key, r.addr, r.port).ok_or_else(|| EditError::NoSuchReal {
                service: *key,
                real: real_words(key, r.addr, r.port),
            })?;
            if let Some(f) = r.forwarding {
                check_forwarding(t, *key, f, false)?;
            }
            set_real(reals_mut(t).get_mut(j).expect("found"), r);
        }
        Edit::DeleteReal(key, addr, port) => {
            let i = find_service(&doc, key).ok_or(EditError::NoSuchService(*key))?;
            let t = services_mut(&mut doc).get_mut(i).expect("found");
            let j = find_real(t, key, *addr, *port).ok_or_else(|| EditError::NoSuchReal {
                service: *key,
                real: real_words(key, *addr, *port),
            })?;
            reals_mut(t).remove(j);
        }
        Edit::SetTimeouts { tcp, tcp_fin, udp } => {
            let t = doc
                .entry("timeouts")
                .or_insert(Item::Table(Table::new()))
                .as_table_mut()
                .ok_or_else(|| EditError::Text("[timeouts] is not a table".into()))?;
            for (k, v) in [("tcp", tcp), ("tcp_fin", tcp_fin), ("udp", udp)] {
                if *v > 0 {
                    t[k] = value(i64::from(*v));
                }
            }
        }
    }
    Ok(doc.to_string())
}

fn real_words(key: &ServiceKey, addr: IpAddr, port: Option<u16>) -> String {
    match port.or(key.address().map(|(_, p, _)| p)) {
        Some(p) => endpoint(addr, p),
        None => addr.to_string(),
    }
}

fn set_real(t: &mut Table, r: &RealSpec) {
    if let Some(w) = r.weight {
        t["weight"] = value(i64::from(w));
    }
    for (key, v) in [("uthreshold", r.u_threshold), ("lthreshold", r.l_threshold)] {
        match v {
            Some(0) => drop(t.remove(key)),
            Some(n) => t[key] = value(i64::from(n)),
            None => {}
        }
    }
}

fn set_service(t: &mut Table, s: &ServiceSpec) {
    if let Some(k) = s.scheduler {
        t["scheduler"] = value(k.name());
    }
    if let Some(f) = s.forwarding {
        t["forwarding"] = value(f.name());
    }
    match s.persistence {
        Some(PersistenceSetting::On(p)) => {
            t["persistence_timeout"] = value(i64::from(p.timeout));
            let full = match s.key.address() {
                Some((IpAddr::V6(_), _, _)) => 128,
                _ => 32,
            };
            if p.prefix != full {
                t["persistence_granularity"] = value(i64::from(p.prefix));
            } else {
                t.remove("persistence_granularity");
            }
        }
        Some(PersistenceSetting::Off) => {
            t.remove("persistence_timeout");
            t.remove("persistence_granularity");
        }
        None => {}
    }
}

/// A server's forwarding method must be its service's; an empty service
/// (or a service edit) takes it.
fn check_forwarding(
    t: &mut Table,
    key: ServiceKey,
    asked: Forwarding,
    service_edit: bool,
) -> Result<(), EditError> {
    let has = match t.get("forwarding").and_then(|v| v.as_str()) {
        Some(w) if ["dr", "direct", "route"].contains(&w.to_ascii_lowercase().as_str()) => {
            Forwarding::Dr
        }
        Some(w) if ["tun", "tunnel", "ipip"].contains(&w.to_ascii_lowercase().as_str()) => {
            Forwarding::Tun
        }
        _ => Forwarding::Nat,
    };
    let empty = t
        .get("real_server")
        .and_then(|r| r.as_array_of_tables())
        .is_none_or(|a| a.is_empty());
    if has == asked {
        return Ok(());
    }
    if empty || service_edit {
        t["forwarding"] = value(asked.name());
        return Ok(());
    }
    Err(EditError::ForwardingMismatch {
        service: key,
        has,
        asked,
    })
}

/// The ipvsadm option that asks for a forwarding method.
fn ipvsadm_flag(f: Forwarding) -> &'static str {
    match f {
        Forwarding::Nat => "-m",
        Forwarding::Dr => "-g",
        Forwarding::Tun => "-i",
    }
}

fn services_mut(doc: &mut DocumentMut) -> &mut ArrayOfTables {
    let item = doc
        .entry("virtual_server")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    if !item.is_array_of_tables() {
        *item = Item::ArrayOfTables(ArrayOfTables::new());
    }
    item.as_array_of_tables_mut().expect("made one")
}

fn reals_mut(t: &mut Table) -> &mut ArrayOfTables {
    let item = t
        .entry("real_server")
        .or_insert(Item::ArrayOfTables(ArrayOfTables::new()));
    if !item.is_array_of_tables() {
        *item = Item::ArrayOfTables(ArrayOfTables::new());
    }
    item.as_array_of_tables_mut().expect("made one")
}

fn int(t: &Table, k: &str) -> Option<i64> {
    t.get(k).and_then(|v| v.as_integer())
}

/// The service table's key, as the validator reads it (protocol "tcp" by
/// default).
fn key_of(t: &Table) -> Option<ServiceKey> {
    if let Some(m) = int(t, "fwmark") {
        return Some(ServiceKey::Mark(u32::try_from(m).ok()?));
    }
    let addr: IpAddr = t.get("address")?.as_str()?.parse().ok()?;
    let port = u16::try_from(int(t, "port")?).ok()?;
    let proto = t
        .get("protocol")
        .and_then(|p| p.as_str())
        .unwrap_or("tcp")
        .parse()
        .ok()?;
    Some(ServiceKey::endpoint(addr, port, proto))
}

fn find_service(doc: &DocumentMut, key: &ServiceKey) -> Option<usize> {
    doc.get("virtual_server")?
        .as_array_of_tables()?
        .iter()
        .position(|t| key_of(t).as_ref() == Some(key))
}

/// The real server `addr` (and `port`, else the service's) of a service.
fn find_real(t: &Table, key: &ServiceKey, addr: IpAddr, port: Option<u16>) -> Option<usize> {
    let service_port = key.address().map_or(0, |(_, p, _)| p);
    let want = port.unwrap_or(service_port);
    t.get("real_server")?
        .as_array_of_tables()?
        .iter()
        .position(|r| {
            let a = r
                .get("address")
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse::<IpAddr>().ok());
            let p = int(r, "port")
                .and_then(|p| u16::try_from(p).ok())
                .unwrap_or(service_port);
            a == Some(addr) && p == want
        })
}

impl fmt::Display for Edit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Edit::AddService(s) => write!(f, "added virtual service {}", s.key),
            Edit::EditService(s) => write!(f, "changed virtual service {}", s.key),
            Edit::DeleteService(k) => write!(f, "removed virtual service {k}"),
            Edit::Clear => f.write_str("removed every virtual service"),
            Edit::AddReal(k, r) => write!(f, "added {} to {k}", real_words(k, r.addr, r.port)),
            Edit::EditReal(k, r) => write!(f, "changed {} of {k}", real_words(k, r.addr, r.port)),
            Edit::DeleteReal(k, a, p) => write!(f, "removed {} from {k}", real_words(k, *a, *p)),
            Edit::SetTimeouts { tcp, tcp_fin, udp } => {
                write!(
                    f,
                    "timeouts tcp {tcp} tcp_fin {tcp_fin} udp {udp} (0: unchanged)"
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::proto::Protocol;
    use std::path::Path;

    const BASE: &str = "# the operator's comment stays\n\
        [daemon]\ninterfaces = [\"out0\", \"in0\"]\n\n\
        [[virtual_server]]\naddress = \"10.200.1.100\"\nport = 80\nscheduler = \"wrr\"\n\
        [[virtual_server.real_server]]\naddress = \"10.200.2.11\"\nweight = 2\n";

    fn web() -> ServiceKey {
        ServiceKey::endpoint("10.200.1.100".parse::<IpAddr>().unwrap(), 80, Protocol::Tcp)
    }

    fn real(a: &str, weight: Option<u32>) -> RealSpec {
        RealSpec {
            addr: a.parse().unwrap(),
            port: None,
            weight,
            forwarding: None,
            u_threshold: None,
            l_threshold: None,
        }
    }

    fn cfg(text: &str) -> Config {
        Config::parse(Path::new("t.toml"), text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    #[test]
    fn services_and_servers_are_added_changed_and_removed_in_the_text() {
        let dns =
            ServiceKey::endpoint("10.200.1.100".parse::<IpAddr>().unwrap(), 53, Protocol::Udp);
        let t = apply(
            BASE,
            &Edit::AddService(ServiceSpec {
                key: dns,
                scheduler: Some(SchedulerKind::Rr),
                persistence: Some(PersistenceSetting::On(Persistence {
                    timeout: 300,
                    prefix: 24,
                })),
                forwarding: None,
            }),
        )
        .unwrap();
        let t = apply(&t, &Edit::AddReal(dns, real("10.200.2.12", Some(3)))).unwrap();
        let t = apply(&t, &Edit::AddReal(web(), real("10.200.2.13", None))).unwrap();
        let t = apply(&t, &Edit::EditReal(web(), real("10.200.2.11", Some(7)))).unwrap();
        assert!(t.starts_with("# the operator's comment stays\n"), "{t}");
        let c = cfg(&t);
        assert_eq!(c.services.len(), 2);
        let w = c.service(&web()).unwrap();
        assert_eq!(
            w.reals
                .iter()
                .map(|r| (r.address.to_string(), r.weight))
                .collect::<Vec<_>>(),
            vec![("10.200.2.11".into(), 7), ("10.200.2.13".into(), 1)]
        );
        let d = c.service(&dns).unwrap();
        assert_eq!(d.scheduler, SchedulerKind::Rr);
        assert_eq!(
            d.persistence,
            Some(Persistence {
                timeout: 300,
                prefix: 24
            })
        );
        assert_eq!(d.reals[0].port, 53, "the service's port by default");

        let t = apply(
            &t,
            &Edit::DeleteReal(web(), "10.200.2.11".parse().unwrap(), None),
        )
        .unwrap();
        let t = apply(&t, &Edit::DeleteService(dns)).unwrap();
        let c = cfg(&t);
        assert_eq!(c.services.len(), 1);
        assert_eq!(c.services[0].reals.len(), 1);
        let t = apply(
            &t,
            &Edit::SetTimeouts {
                tcp: 600,
                tcp_fin: 0,
                udp: 30,
            },
        )
        .unwrap();
        let c = cfg(&t);
        assert_eq!((c.timeouts.tcp[1], c.timeouts.udp), (600, 30));
        assert_eq!(c.timeouts.tcp[4], 120, "tcp_fin 0: unchanged");
        let t = apply(&t, &Edit::Clear).unwrap();
        assert!(cfg(&t).services.is_empty());
    }

    #[test]
    fn thresholds_are_set_kept_and_removed() {
        let thresholds = |u, l| RealSpec {
            u_threshold: u,
            l_threshold: l,
            ..real("10.200.2.11", None)
        };
        let of = |t: &str| {
            let c = cfg(t);
            let r = &c.service(&web()).unwrap().reals[0];
            (r.u_threshold, r.l_threshold, r.weight)
        };
        let t = apply(
            BASE,
            &Edit::EditReal(web(), thresholds(Some(100), Some(60))),
        )
        .unwrap();
        assert_eq!(of(&t), (100, 60, 2), "{t}");
        // None leaves a threshold as it is.
        let t = apply(&t, &Edit::EditReal(web(), thresholds(None, Some(50)))).unwrap();
        assert_eq!(of(&t), (100, 50, 2), "{t}");
        // 0 removes one: a lone upper threshold resumes at 3/4 of it.
        let t = apply(&t, &Edit::EditReal(web(), thresholds(Some(80), Some(0)))).unwrap();
        assert!(!t.contains("lthreshold"), "{t}");
        assert_eq!(of(&t), (80, 0, 2), "{t}");
        let t = apply(&t, &Edit::EditReal(web(), thresholds(Some(0), None))).unwrap();
        assert!(!t.contains("uthreshold"), "{t}");
        assert_eq!(of(&t), (0, 0, 2));
        let added = RealSpec {
            u_threshold: Some(10),
            ..real("10.200.2.12", None)
        };
        let t = apply(&t, &Edit::AddReal(web(), added)).unwrap();
        assert_eq!(cfg(&t).service(&web()).unwrap().reals[1].u_threshold, 10);
    }

    #[test]
    fn edits_that_cannot_apply_say_why() {
        let add = Edit::AddService(ServiceSpec {
            key: web(),
            scheduler: None,
            persistence: None,
            forwarding: None,
        });
        assert_eq!(apply(BASE, &add), Err(EditError::ServiceExists(web())));
        let e = apply(BASE, &Edit::AddReal(web(), real("10.200.2.11", None))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "10.200.1.100:80/tcp has real server 10.200.2.11:80 already; change it with -e (edit)"
        );
        let nope = ServiceKey::Mark(7);
        assert_eq!(
            apply(BASE, &Edit::DeleteService(nope)),
            Err(EditError::NoSuchService(nope))
        );
        let mut dr = real("10.200.2.12", None);
        dr.forwarding = Some(Forwarding::Dr);
        let e = apply(BASE, &Edit::AddReal(web(), dr.clone())).unwrap_err();
        assert!(e.to_string().contains("forwards by nat"), "{e}");
        // An empty service takes the first server's method.
        let t = apply(
            BASE,
            &Edit::DeleteReal(web(), "10.200.2.11".parse().unwrap(), None),
        )
        .unwrap();
        let t = apply(&t, &Edit::AddReal(web(), dr)).unwrap();
        assert_eq!(cfg(&t).services[0].forwarding, Forwarding::Dr);
    }
}
