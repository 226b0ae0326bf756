//! keepalived's `global_defs`, `vrrp_instance` and `vrrp_sync_group` as
//! `[vrrp]`, `[[vrrp_instance]]` and `[[vrrp_sync_group]]`, and its LVS
//! sync daemon (`lvs_sync_daemon`, `lvs_sync_daemon_interface`) as `[sync]`.

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
            // Written as [sync] by `sync_daemon`, which sees both forms.
            "lvs_sync_daemon" => {}
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

/// `v3`: global_defs' vrrp_version is 3 (the instance's `version` wins).
pub(super) fn instance(o: &mut Out, n: &Node, v3: bool) {
    let name = n.arg(0).unwrap_or("VI");
    let v3 = n
        .children()
        .iter()
        .find(|c| c.key == "version")
        .and_then(|c| c.arg(0))
        .map_or(v3, |v| v == "3");
    let _ = writeln!(o.toml, "\n[[vrrp_instance]]\nname = {}", q(name));
    let mut addresses: Vec<String> = Vec::new();
    // virtual_ipaddress_excluded's, with their lines: keepalived does not
    // advertise them, so they may be of the other family.
    let mut excluded: Vec<(usize, String)> = Vec::new();
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
                let kind = get("auth_type").to_ascii_uppercase();
                let line = c
                    .children()
                    .iter()
                    .find(|x| x.key == "auth_type")
                    .map_or(c.line, |x| x.line);
                match kind.as_str() {
                    // keepalived ignores authentication in VRRPv3 (vrrp.c,
                    // "VRRP version 3 does not support authentication").
                    _ if v3 => {
                        o.note(line, format!("vrrp_instance {name}: VRRPv3 has no authentication; keepalived ignores it too: left out"));
                        Some(format!("# {MARK}: line {line}: authentication left out: VRRPv3 has none"))
                    }
                    "PASS" if !get("auth_pass").is_empty() => Some(format!(
                        "authentication = {{ auth_type = \"PASS\", auth_pass = {} }}  # PASS is no security",
                        q(&get("auth_pass"))
                    )),
                    "PASS" => {
                        o.note(line, format!("vrrp_instance {name}: auth_type PASS without an auth_pass; keepalived ignores it too: left out"));
                        Some(format!("# {MARK}: line {line}: authentication left out: no auth_pass"))
                    }
                    "AH" => {
                        o.refuse(
                            line,
                            format!("vrrp_instance {name}: auth_type AH (IPsec AH) is not supported by xlb; known: PASS, or no authentication (the other routers must drop it too)"),
                        );
                        Some(format!("# {MARK}: line {line}: auth_type AH left out: no authentication; the other routers must drop it too"))
                    }
                    _ => {
                        o.refuse(
                            line,
                            format!("vrrp_instance {name}: auth_type {:?} is not one xlb knows; known: PASS", get("auth_type")),
                        );
                        Some(format!("# {MARK}: line {line}: authentication left out"))
                    }
                }
            }
            "virtual_ipaddress" => {
                addresses.extend(vips(o, c));
                None
            }
            "virtual_ipaddress_excluded" => {
                o.note(c.line, "virtual_ipaddress_excluded: added to virtual_ipaddress (xlb lists every address in its adverts)".into());
                excluded.extend(vips(o, c).into_iter().map(|a| (c.line, a)));
                None
            }
            // Written as [sync] by `sync_daemon`, which sees both forms.
            "lvs_sync_daemon_interface" => Some(format!(
                "# lvs_sync_daemon_interface {}: see [sync]",
                c.arg(0).unwrap_or("")
            )),
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
    let v4 = |a: &str| !a.split(['/', ' ']).next().unwrap_or("").contains(':');
    let family = addresses
        .first()
        .or(excluded.first().map(|e| &e.1))
        .map(|a| v4(a));
    for (line, a) in excluded {
        if Some(v4(&a)) == family {
            addresses.push(a);
        } else {
            // xlb adverts all the addresses, in one family.
            o.refuse(
                line,
                format!("vrrp_instance {name}: virtual_ipaddress_excluded {a}: not of the instance's address family, which xlb's adverts carry alone"),
            );
            let _ = writeln!(
                o.toml,
                "# {MARK}: line {line}: {a} left out: another address family"
            );
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

/// `vrrp_sync_group NAME { group { A B } notify... }`, and the older form
/// that lists the instances in the block itself (`{ A B }`, no `group`).
pub(super) fn sync_group(o: &mut Out, n: &Node, instances: &[&str]) {
    let name = n.arg(0).unwrap_or("VG");
    let mut body = String::new();
    let mut listed: Vec<(usize, String)> = Vec::new();
    for c in n.children() {
        let key = c.key.as_str();
        match key {
            "group" => {
                listed.extend(c.args.iter().map(|w| (c.line, w.clone())));
                for m in c.children() {
                    let line = std::iter::once(&m.key).chain(&m.args);
                    listed.extend(line.map(|w| (m.line, w.clone())));
                }
            }
            "notify_master" | "notify_backup" | "notify_fault" | "notify" => {
                let _ = writeln!(body, "{key} = {}", q(&c.args.join(" ")));
            }
            "smtp_alert" => {
                let _ = writeln!(body, "smtp_alert = true  # logged, not mailed");
            }
            member if instances.contains(&member) => {
                let line = std::iter::once(&c.key).chain(&c.args);
                listed.extend(line.map(|w| (c.line, w.clone())));
            }
            other => {
                o.note(
                    c.line,
                    format!("vrrp_sync_group {name}: {other}: not translated"),
                );
                let _ = writeln!(
                    body,
                    "# {MARK}: line {}: {} not translated",
                    c.line,
                    c.words()
                );
            }
        }
    }
    let mut members: Vec<String> = Vec::new();
    for (line, m) in listed {
        if !instances.contains(&m.as_str()) {
            o.refuse(
                line,
                format!(
                    "vrrp_sync_group {name}: {m:?} is not a vrrp_instance of this file; known: {}",
                    instances.join(", ")
                ),
            );
        } else if !members.contains(&m) {
            members.push(m);
        }
    }
    if members.is_empty() {
        o.refuse(
            n.line,
            format!("vrrp_sync_group {name} lists no vrrp_instance of this file"),
        );
        let _ = writeln!(
            o.toml,
            "\n# {MARK}: line {}: vrrp_sync_group {name} left out: no instances",
            n.line
        );
        comment_block(&mut o.toml, n, 0);
        return;
    }
    let _ = writeln!(o.toml, "\n[[vrrp_sync_group]]\nname = {}", q(name));
    o.toml.push_str(&body);
    let _ = writeln!(o.toml, "group = {}", list(&members));
}

/// `lvs_sync_daemon IF ...`'s options, read as keepalived's
/// `lvs_syncd_handler` (core/global_parser.c) reads them: keywords with a
/// value anywhere, and the older positional `IF VRRP_INSTANCE [SYNC_ID]`.
#[derive(Default)]
struct SyncOptions {
    instance: Option<String>,
    id: Option<u32>,
    maxlen: Option<u32>,
    port: Option<u32>,
    ttl: Option<u32>,
    group: Option<String>,
    /// What keepalived ignores (or xlb cannot take), one warning each.
    ignored: Vec<String>,
}

/// The limits keepalived checks each option against.
fn sync_number(v: &str, range: std::ops::RangeInclusive<u32>) -> Option<u32> {
    v.parse::<u32>().ok().filter(|n| range.contains(n))
}

fn sync_options(args: &[String]) -> SyncOptions {
    let mut s = SyncOptions::default();
    // args[0] is the interface.
    let mut i = 1;
    while i < args.len() {
        let word = args[i].as_str();
        if !["inst", "id", "maxlen", "port", "ttl", "group"].contains(&word) {
            match i {
                1 => s.instance = Some(word.to_string()),
                2 => match sync_number(word, 0..=255) {
                    Some(id) => s.id = Some(id),
                    None => s.ignored.push(format!(
                        "sync id {word} is not 0 to 255; keepalived ignores it (the default id applies)"
                    )),
                },
                _ => s.ignored.push(format!(
                    "option {word:?} is not one of keepalived's (inst, id, maxlen, port, ttl, group); ignored"
                )),
            }
            i += 1;
            continue;
        }
        let Some(v) = args.get(i + 1).map(String::as_str) else {
            s.ignored.push(format!("{word} without a value; ignored"));
            break;
        };
        i += 2;
        let bad = |range: &str| format!("{word} {v} is not {range}; keepalived ignores it");
        match word {
            "inst" if s.instance.is_some() => s
                .ignored
                .push(format!("inst {v}: the instance is given already; ignored")),
            "inst" => s.instance = Some(v.to_string()),
            "id" => match sync_number(v, 0..=255) {
                Some(n) => s.id = Some(n),
                None => s.ignored.push(format!("id {v} is not 0 to 255; keepalived ignores it (the default id applies)")),
            },
            "maxlen" => match sync_number(v, 1..=65_507) {
                // Below the lower limit of xlb's [sync] maxlen.
                Some(n) if n < 500 => s.ignored.push(format!(
                    "maxlen {v}: xlb takes 500 to 65507; left out, so datagrams fill the interface's MTU"
                )),
                Some(n) => s.maxlen = Some(n),
                None => s.ignored.push(bad("1 to 65507")),
            },
            "port" => match sync_number(v, 1..=65_535) {
                Some(n) => s.port = Some(n),
                None => s.ignored.push(bad("1 to 65535")),
            },
            "ttl" => match sync_number(v, 1..=255) {
                Some(n) => s.ttl = Some(n),
                None => s.ignored.push(bad("1 to 255")),
            },
            _ => match v.parse::<std::net::IpAddr>() {
                Ok(a) if a.is_multicast() => s.group = Some(v.to_string()),
                _ => s.ignored.push(format!(
                    "group {v} is not a multicast address; keepalived ignores it (the default group is used)"
                )),
            },
        }
    }
    s
}

/// An instance's virtual_router_id, if it is one.
fn vrid(n: &Node) -> Option<u8> {
    n.children()
        .iter()
        .find(|c| c.key == "virtual_router_id")
        .and_then(|c| c.arg(0))
        .and_then(|v| v.parse::<u8>().ok())
        .filter(|&v| v > 0)
}

/// keepalived's LVS sync daemon as `[sync]`. Two forms:
///
/// - `global_defs { lvs_sync_daemon IF [[inst] VRRP_INSTANCE] [id ID]
///   [maxlen LEN] [port PORT] [ttl TTL] [group ADDR] }`;
/// - `vrrp_instance X { lvs_sync_daemon_interface IF }`, deprecated since
///   keepalived 1.2.20 but still read by 2.2.
///
/// keepalived runs the first it reads with a usable interface name and
/// ignores the others; here global_defs wins over the instances' (it opens
/// a keepalived.conf, so the two rules agree on usual files) and every
/// other one is reported.
///
/// The sync id when none is given, from keepalived's source
/// (github.com/acassen/keepalived, 2.2.8 and master):
/// - `lvs_sync_daemon` naming an instance: that instance's
///   virtual_router_id (vrrp/vrrp.c, vrrp_complete_init: "If no syncid
///   configured, use vrid"); naming none: 0.
/// - `lvs_sync_daemon_interface`: 0. Its handler (vrrp/vrrp_parser.c,
///   vrrp_lvs_syncd_handler) records the instance itself, not its name,
///   and the vrid default above runs only for a name; since 2.1.0 (commit
///   ef3bbd6f) an id still unset is then 0 (`else if (syncid ==
///   PARAMETER_UNSET) syncid = 0`). Up to 1.2.23 it was the instance's
///   vrid (1.2.19: `ipvs_syncd_master(vrrp->lvs_syncd_if, vrrp->vrid)`;
///   1.2.24 to 2.0 left it unset), so the output marks the id for review.
pub(super) fn sync_daemon(o: &mut Out, tree: &[Node]) {
    let instances: Vec<&Node> = tree.iter().filter(|n| n.key == "vrrp_instance").collect();
    let global: Vec<&Node> = tree
        .iter()
        .filter(|n| n.key == "global_defs")
        .flat_map(|n| n.children())
        .filter(|c| c.key == "lvs_sync_daemon")
        .collect();
    let per_instance: Vec<(&Node, &Node)> = instances
        .iter()
        .flat_map(|&n| {
            n.children()
                .iter()
                .filter(|c| c.key == "lvs_sync_daemon_interface")
                .map(move |c| (n, c))
        })
        .collect();
    // keepalived skips a line whose interface name is missing or longer
    // than the kernel takes (IP_VS_IFNAME_MAXLEN 16, NUL included).
    let usable = |c: &Node| c.arg(0).is_some_and(|i| !i.is_empty() && i.len() < 16);
    let chosen = global
        .iter()
        .copied()
        .find(|c| usable(c))
        .or_else(|| per_instance.iter().map(|&(_, c)| c).find(|c| usable(c)));
    // The lines not taken, each with how to name it in a warning.
    let others: Vec<(&Node, String)> = global
        .iter()
        .map(|&c| (c, format!("global_defs {}", c.words())))
        .chain(per_instance.iter().map(|&(n, c)| {
            (
                c,
                format!("vrrp_instance {}: {}", n.arg(0).unwrap_or(""), c.words()),
            )
        }))
        .filter(|(c, _)| Some(c.line) != chosen.map(|x| x.line))
        .collect();
    let Some(chosen) = chosen else {
        for (c, what) in others {
            o.warn(
                c,
                format!("{what}: no interface name of 1 to 15 characters; keepalived ignores it"),
            );
        }
        return;
    };

    let from_global = chosen.key == "lvs_sync_daemon";
    let opts = if from_global {
        sync_options(&chosen.args)
    } else {
        SyncOptions::default()
    };
    // The instance the daemon followed, and where its id comes from.
    let instance = if from_global {
        match &opts.instance {
            None => None,
            Some(name) => match instances.iter().find(|n| n.arg(0) == Some(name.as_str())) {
                Some(n) => Some(*n),
                None => {
                    // keepalived: "Unable to find vrrp instance ... clearing
                    // lvs_syncd config".
                    o.warn(
                        chosen,
                        format!(
                            "lvs_sync_daemon: vrrp_instance {name} is not in this file, so keepalived runs no sync daemon; no [sync] written"
                        ),
                    );
                    comment_block(&mut o.toml, chosen, 1);
                    for (c, what) in others {
                        o.warn(
                            c,
                            format!(
                                "{what}: ignored, as keepalived does after line {}",
                                chosen.line
                            ),
                        );
                    }
                    return;
                }
            },
        }
    } else {
        per_instance
            .iter()
            .find(|(_, c)| c.line == chosen.line)
            .map(|&(n, _)| n)
    };

    let from = match (from_global, instance.and_then(|n| n.arg(0))) {
        (true, _) => "global_defs".to_string(),
        (false, name) => format!("vrrp_instance {}", name.unwrap_or("")),
    };
    let _ = writeln!(
        o.toml,
        "\n[sync]  # from {from} {} (line {}); docs/sync.md",
        chosen.key, chosen.line
    );
    let _ = writeln!(o.toml, "interface = {}", q(chosen.arg(0).unwrap_or("")));
    let name = instance.and_then(|n| n.arg(0)).unwrap_or("");
    match (opts.id, instance.map(vrid), from_global) {
        (Some(id), _, _) => {
            let _ = writeln!(o.toml, "sync_id = {id}");
        }
        (None, None, _) => {
            let _ = writeln!(
                o.toml,
                "sync_id = 0  # keepalived's default without an instance"
            );
        }
        (None, Some(Some(v)), true) => {
            let _ = writeln!(
                o.toml,
                "sync_id = {v}  # keepalived's default: vrrp_instance {name}'s virtual_router_id"
            );
        }
        (None, Some(None), true) => {
            let _ = writeln!(
                o.toml,
                "sync_id = 0  # {MARK}: keepalived took vrrp_instance {name}'s virtual_router_id, which is not 1 to 255: set the id both directors use"
            );
            o.note(
                chosen.line,
                format!("lvs_sync_daemon: vrrp_instance {name} has no valid virtual_router_id for the sync id; wrote sync_id = 0"),
            );
        }
        (None, Some(v), false) => {
            let older = v.map_or(String::new(), |v| format!(", {v}"));
            let _ = writeln!(
                o.toml,
                "sync_id = 0  # {MARK}: keepalived 2.1+ uses 0 for lvs_sync_daemon_interface; keepalived before 1.2.24 used the instance's virtual_router_id{older}: write that if the other director runs one"
            );
            o.note(
                chosen.line,
                format!(
                    "vrrp_instance {name}: lvs_sync_daemon_interface: wrote sync_id = 0, keepalived 2.1's id for this form; keepalived before 1.2.24 used the virtual_router_id{older}"
                ),
            );
        }
    }
    if let Some(g) = &opts.group {
        let _ = writeln!(o.toml, "group = {}", q(g));
    }
    for (key, v) in [
        ("port", opts.port),
        ("ttl", opts.ttl),
        ("maxlen", opts.maxlen),
    ] {
        if let Some(v) = v {
            let _ = writeln!(o.toml, "{key} = {v}");
        }
    }
    if instance.is_some() {
        let _ = writeln!(
            o.toml,
            "# keepalived switched the daemon between master and backup with vrrp_instance {name};\n\
             # xlb's sync sends and receives all the time (a backup forwards nothing, so it has nothing to send)"
        );
    }
    for what in opts.ignored {
        o.warn(chosen, format!("lvs_sync_daemon {what}"));
    }
    for (c, what) in others {
        let why = if !usable(c) {
            "no interface name of 1 to 15 characters; keepalived ignores it".to_string()
        } else if from_global {
            format!(
                "the sync daemon is global_defs lvs_sync_daemon's (line {})",
                chosen.line
            )
        } else {
            format!("keepalived runs the first, in line {}", chosen.line)
        };
        o.warn(c, format!("{what}: ignored: {why}"));
    }
}
