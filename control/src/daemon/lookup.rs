//! Operator words to keys, and changes to words: finding a real server by
//! how `xlbctl` users name it, and the one-line summary of a reload.

use crate::config::{Config, ServiceDef};
use std::collections::HashMap;
use xlb_model::addr::endpoint;
use xlb_model::{RealKey, ServiceKey};

/// Whether `words` names service `s`: its name, VIP:PORT, VIP:PORT/PROTO
/// or `fwmark N`.
fn names(s: &ServiceDef, words: &str) -> bool {
    if s.name == words || s.key.to_string().eq_ignore_ascii_case(words) {
        return true;
    }
    match s.key {
        ServiceKey::Endpoint { addr, port, .. } => endpoint(addr, port) == words,
        ServiceKey::Mark(_) => false,
    }
}

/// Find a real server by service (name, VIP:PORT or VIP:PORT/PROTO) and
/// address (ADDR or ADDR:PORT), with an error that lists what exists.
pub fn find_real(cfg: &Config, service: &str, real: &str) -> Result<RealKey, String> {
    let label = |s: &ServiceDef| format!("{} ({})", s.name, s.key);
    let matches: Vec<&ServiceDef> = cfg.services.iter().filter(|s| names(s, service)).collect();
    let svc = match matches.as_slice() {
        [one] => *one,
        [] => {
            let all: Vec<String> = cfg.services.iter().map(label).collect();
            return Err(format!(
                "no virtual server {service:?}; there are: {}",
                all.join(", ")
            ));
        }
        many => {
            let all: Vec<String> = many.iter().map(|s| label(s)).collect();
            return Err(format!(
                "{service:?} matches {}; add /tcp or /udp",
                all.join(" and ")
            ));
        }
    };
    let rmatches: Vec<_> = svc
        .reals
        .iter()
        .filter(|r| r.address.to_string() == real || endpoint(r.address, r.port) == real)
        .collect();
    match rmatches.as_slice() {
        [r] => Ok(svc.real_key(r)),
        [] => {
            let all: Vec<String> = svc
                .reals
                .iter()
                .map(|r| endpoint(r.address, r.port))
                .collect();
            Err(format!(
                "{} has no real server {real:?}; it has: {}",
                svc.name,
                all.join(", ")
            ))
        }
        _ => Err(format!(
            "{real:?} is ambiguous in {}; give ADDRESS:PORT",
            svc.name
        )),
    }
}

/// One line on what a reload changed, for the log and for `xlbctl reload`:
/// configuration against configuration, so a run-time override (which
/// outlives the reload) is not counted as the file's change.
pub fn describe_change(old: &Config, new: &Config) -> String {
    let weights = |c: &Config| -> HashMap<RealKey, u32> {
        c.reals().map(|(k, _, r)| (k, r.weight)).collect()
    };
    let (ow, nw) = (weights(old), weights(new));
    let has = |c: &Config, k: &ServiceKey| c.service(k).is_some();
    let sa = new.services.iter().filter(|s| !has(old, &s.key)).count();
    let sr = old.services.iter().filter(|s| !has(new, &s.key)).count();
    let ra = nw.keys().filter(|k| !ow.contains_key(k)).count();
    let rr = ow.keys().filter(|k| !nw.contains_key(k)).count();
    let rw = nw
        .iter()
        .filter(|(k, w)| ow.get(k).is_some_and(|o| o != *w))
        .count();
    let n = new.services.len();
    format!(
        "{n} virtual server{} ({sa} added, {sr} removed), real servers: {ra} added, {rr} removed, {rw} re-weighted",
        if n == 1 { "" } else { "s" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn a_reload_summary_counts_what_the_file_changed() {
        let parse = |t: &str| Config::parse(std::path::Path::new("t.toml"), t).unwrap();
        let base = "[daemon]\ninterfaces = [\"eth0\"]\n\
             [[virtual_server]]\naddress = \"192.0.2.1\"\nport = 80\n\
             [[virtual_server.real_server]]\naddress = \"10.0.0.1\"\n\
             [[virtual_server.real_server]]\naddress = \"10.0.0.2\"\n";
        let old = parse(base);
        let new = parse(&base.replace("\"10.0.0.2\"\n", "\"10.0.0.2\"\nweight = 5\n"));
        assert_eq!(
            describe_change(&old, &new),
            "1 virtual server (0 added, 0 removed), real servers: 0 added, 0 removed, 1 re-weighted"
        );
        assert_eq!(
            describe_change(&old, &old),
            "1 virtual server (0 added, 0 removed), real servers: 0 added, 0 removed, 0 re-weighted"
        );
    }

    #[test]
    fn real_servers_are_found_by_the_names_operators_use() {
        let cfg = Config::parse(
            Path::new("t.toml"),
            "[daemon]\ninterfaces = [\"eth0\"]\n\
             [[virtual_server]]\nname = \"web\"\naddress = \"192.0.2.1\"\nport = 80\n\
             [[virtual_server.real_server]]\naddress = \"10.0.0.1\"\nport = 8080\n\
             [[virtual_server]]\naddress = \"192.0.2.1\"\nport = 80\nprotocol = \"udp\"\n\
             [[virtual_server.real_server]]\naddress = \"10.0.0.1\"\n",
        )
        .unwrap();
        let k = find_real(&cfg, "web", "10.0.0.1").unwrap();
        assert_eq!(k.to_string(), "10.0.0.1:8080 in 192.0.2.1:80/tcp");
        assert_eq!(
            find_real(&cfg, "192.0.2.1:80/UDP", "10.0.0.1:80")
                .unwrap()
                .port,
            80
        );
        let e = find_real(&cfg, "192.0.2.1:80", "10.0.0.1").unwrap_err();
        assert!(e.contains("add /tcp or /udp"), "{e}");
        let e = find_real(&cfg, "nope", "10.0.0.1").unwrap_err();
        assert!(e.contains("there are: web (192.0.2.1:80/tcp)"), "{e}");
        let e = find_real(&cfg, "web", "10.0.0.9").unwrap_err();
        assert!(e.contains("it has: 10.0.0.1:8080"), "{e}");
    }
}
