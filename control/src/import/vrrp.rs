//! keepalived's `global_defs`, `vrrp_instance` and `vrrp_sync_group` as
//! `[vrrp]`, `[[vrrp_instance]]` and `[[vrrp_sync_group]]`.

use super::{comment_block, q, Out, MARK};
use crate::import::syntax::Node;
use std::fmt::Write as _;

/// Every word of a list block (`{ a b \n c }`), in order.
fn words(n: &Node) -> Vec<String> {
    n.children()
        .iter()
        .flat_map(|c| std::iter::once(c.key.clone()).chain(c.args.iter().cloned()))
        .chain(n.args.iter().cloned())
        .collect()
}

/// A number as TOML, or the word quoted so check-config names it.
fn num(word: Option<&str>) -> String {
    match word {
        Some(w) if w.parse::<f64>().is_ok() => w.to_string(),
        Some(w) => q(w),
        None => q(""),
    }
}

fn list(items: &[String]) -> String {
    let v: Vec<String> = items.iter().map(|s| q(s)).collect();
    format!("[{}]", v.join(", "))
}

pub(super) fn global_defs(o: &mut Out, n: &Node) {
    let _ = writeln!(o.toml, "\n[vrrp]  # from global_defs");
    for c in n.children() {
        let key = c.key.as_str();
        match key {
            "router_id" | "lvs_id" => {
                let _ = writeln!(o.toml, "router_id = {}", q(c.arg(0).unwrap_or("")));
            }
            "notification_email" => {
                let _ = writeln!(
                    o.toml,
                    "notification_email = {}  # xlb logs alerts; it sends no mail",
                    list(&words(c))
                );
            }
            "notification_email_from" => {
                let _ = writeln!(
                    o.toml,
                    "notification_email_from = {}",
                    q(c.arg(0).unwrap_or(""))
                );
            }
            "smtp_server" => {
                let server = match (c.arg(0), c.arg(1)) {
                    (Some(a), Some(p)) => format!("{a}:{p}"),
                    (Some(a), None) => a.to_string(),
                    _ => String::new(),
                };
                let _ = writeln!(o.toml, "smtp_server = {}", q(&server));
            }
            "smtp_connect_timeout" => {
                let _ = writeln!(o.toml, "smtp_connect_timeout = {}", num(c.arg(0)));
            }
            "vrrp_version" => {
                let _ = writeln!(o.toml, "version = {}", num(c.arg(0)));
            }
            "vrrp_garp_master_delay"
            | "vrrp_garp_master_repeat"
            | "vrrp_garp_master_refresh"
            | "vrrp_garp_master_refresh_repeat" => {
                let _ = writeln!(o.toml, "{} = {}", &key[5..], num(c.arg(0)));
            }
            other => o.warn(c, format!("global_defs {other}: not translated")),
        }
    }
}

/// `ADDR[/LEN] [dev X] [label L] [brd B] [scope S] ...` entries, split at
/// each address, keeping `dev`.
fn vips(o: &mut Out, n: &Node) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut dropped = Vec::new();
    let w = words(n);
    let mut i = 0;
    while i < w.len() {
        let word = &w[i];
        let addr = word.split('/').next().unwrap_or("");
        if addr.parse::<std::net::IpAddr>().is_ok() {
            out.push(word.clone());
            i += 1;
        } else if word == "dev" && i + 1 < w.len() && !out.is_empty() {
            let last = out.last_mut().expect("not empty");
            *last = format!("{last} dev {}", w[i + 1]);
            i += 2;
        } else {
            // label, brd, scope, ...: xlb adds plain addresses.
            let value = w.get(i + 1).cloned().unwrap_or_default();
            dropped.push(format!("{word} {value}"));
            i += 2;
        }
    }
    if !dropped.is_empty() {
        o.warn(
            n,
            format!(
                "{}: dropped address options {:?} (xlb keeps ADDRESS/PREFIX and dev)",
                n.key, dropped
            ),
        );
    }
    out
}

/// `eth0 [weight N]` entries.
fn tracks(n: &Node) -> Vec<String> {
    let w = words(n);
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < w.len() {
        if w[i] == "weight" && i + 1 < w.len() && !out.is_empty() {
            let last = out.last_mut().expect("not empty");
            *last = format!("{last} weight {}", w[i + 1]);
            i += 2;
        } else {
            out.push(w[i].clone());
            i += 1;
        }
    }
    out
}

pub(super) fn instance(o: &mut Out, n: &Node) {
    let name = n.arg(0).unwrap_or("VI");
    let _ = writeln!(o.toml, "\n[[vrrp_instance]]\nname = {}", q(name));
    let mut addresses: Vec<String> = Vec::new();
    let mut skipped = Vec::new();
    for c in n.children() {
        let key = c.key.as_str();
        let line = match key {
            "state" => Some(format!(
                "state = {}",
                q(&c.arg(0).unwrap_or("").to_uppercase())
            )),
            "interface" => Some(format!("interface = {}", q(c.arg(0).unwrap_or("")))),
            "virtual_router_id"
            | "priority"
            | "advert_int"
            | "garp_master_delay"
            | "garp_master_repeat"
            | "garp_master_refresh"
            | "garp_master_refresh_repeat" => Some(format!("{key} = {}", num(c.arg(0)))),
            "version" => Some(format!("version = {}", num(c.arg(0)))),
            "preempt_delay" => {
                let v = c.arg(0).and_then(|v| v.parse::<f64>().ok());
                if v.is_some_and(|v| v.fract() != 0.0) {
                    o.note(
                        c.line,
                        format!(
                            "preempt_delay {}: xlb takes whole seconds; rounded",
                            c.arg(0).unwrap_or("")
                        ),
                    );
                }
                Some(format!(
                    "preempt_delay = {}",
                    v.map_or_else(|| num(c.arg(0)), |v| (v.round() as u64).to_string())
                ))
            }
            "nopreempt" => Some("nopreempt = true".into()),
            "preempt" => Some("# preempt (the default)".into()),
            "smtp_alert" => Some("smtp_alert = true  # logged, not mailed".into()),
            "notify_master" | "notify_backup" | "notify_fault" | "notify" => {
                Some(format!("{key} = {}", q(&c.args.join(" "))))
            }
            "unicast_src_ip" | "mcast_src_ip" => Some(format!(
                "unicast_src_ip = {}  # from {key}",
                q(c.arg(0).unwrap_or(""))
            )),
            "unicast_peer" => Some(format!("unicast_peer = {}", list(&words(c)))),
            "track_interface" => Some(format!("track_interface = {}", list(&tracks(c)))),
            "authentication" => {
                let get = |k: &str| {
                    c.children()
                        .iter()
                        .find(|x| x.key == k)
                        .and_then(|x| x.arg(0))
                        .unwrap_or("")
                        .to_string()
                };
                Some(format!(
                    "authentication = {{ auth_type = {}, auth_pass = {} }}  # PASS is no security",
                    q(&get("auth_type")),
                    q(&get("auth_pass"))
                ))
            }
            "virtual_ipaddress" => {
                addresses.extend(vips(o, c));
                None
            }
            "virtual_ipaddress_excluded" => {
                o.note(c.line, "virtual_ipaddress_excluded: added to virtual_ipaddress (xlb lists every address in its adverts)".into());
                addresses.extend(vips(o, c));
                None
            }
            "lvs_sync_daemon_interface" => {
                skipped.push((c, "connection synchronisation between directors is not in xlb yet; connections restart after a failover"));
                None
            }
            "dont_track_primary" => {
                skipped.push((c, "xlb always tracks the instance's own interface"));
                None
            }
            "track_script" => {
                skipped.push((c, "track scripts are not supported (track_interface is)"));
                None
            }
            _ => {
                skipped.push((c, "not translated"));
                None
            }
        };
        if let Some(l) = line {
            let _ = writeln!(o.toml, "{l}");
        }
    }
    let _ = writeln!(o.toml, "virtual_ipaddress = {}", list(&addresses));
    for (c, why) in skipped {
        o.warn(c, format!("vrrp_instance {name}: {}: {why}", c.key));
        if c.block.is_some() {
            comment_block(&mut o.toml, c, 1);
        }
    }
}

pub(super) fn sync_group(o: &mut Out, n: &Node) {
    let name = n.arg(0).unwrap_or("VG");
    let _ = writeln!(o.toml, "\n[[vrrp_sync_group]]\nname = {}", q(name));
    let mut members = Vec::new();
    for c in n.children() {
        let key = c.key.as_str();
        match key {
            "group" => members.extend(words(c)),
            "notify_master" | "notify_backup" | "notify_fault" | "notify" => {
                let _ = writeln!(o.toml, "{key} = {}", q(&c.args.join(" ")));
            }
            "smtp_alert" => {
                let _ = writeln!(o.toml, "smtp_alert = true  # logged, not mailed");
            }
            other => o.warn(
                c,
                format!("vrrp_sync_group {name}: {other}: not translated"),
            ),
        }
    }
    if members.is_empty() {
        let _ = writeln!(o.toml, "# {MARK}: the group lists no instances");
    }
    let _ = writeln!(o.toml, "group = {}", list(&members));
}
