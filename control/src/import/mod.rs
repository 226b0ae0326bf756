//! `xlbctl import keepalived.conf`: the equivalent xlb TOML on stdout, one
//! warning per keyword that cannot be translated (kept in the output as a
//! comment too), and a syntax error with its line. A value xlb cannot take
//! is an error with its line (`--lenient`: a warning and a marked
//! placeholder). The output passes `xlbctl check-config` as is, or is not
//! written; what keepalived.conf lacks (the dataplane's NICs) is taken from
//! the VRRP instances' interfaces or written as a marked default.

pub mod haproxy;
mod syntax;
mod vrrp;

use std::collections::HashMap;
use std::fmt::Write as _;
use syntax::Node;
pub use syntax::SyntaxError;

/// Marks every value the import had to invent, for the operator to review.
pub const MARK: &str = "XLB-IMPORT";

#[derive(Debug)]
pub struct Imported {
    pub toml: String,
    /// (line in keepalived.conf, what could not be translated)
    pub warnings: Vec<(usize, String)>,
}

/// How strict the import is. By default a value xlb cannot take (an
/// unknown scheduler, TUN, a checker it does not have, ...) is an error and
/// nothing is written; `lenient` writes a draft instead, with a marked
/// placeholder (or the item left out) and a warning for each.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub lenient: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    /// The file does not read as its format.
    Syntax(SyntaxError),
    /// What xlb cannot take, each with its line; the warnings come along
    /// so that the operator sees everything at once.
    Refused {
        errors: Vec<(usize, String)>,
        warnings: Vec<(usize, String)>,
    },
    /// Nothing in the file is something xlb runs.
    NothingToTranslate(String),
    /// The translation fails xlb's own validation: an import that misses
    /// a case, never written out.
    Invalid(String),
}

impl From<SyntaxError> for ImportError {
    fn from(e: SyntaxError) -> Self {
        ImportError::Syntax(e)
    }
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Syntax(e) => write!(f, "{e}"),
            ImportError::Refused { errors, .. } => {
                let lines: Vec<String> = errors
                    .iter()
                    .map(|(l, e)| format!("line {l}: {e}"))
                    .collect();
                write!(f, "{}", lines.join("\n"))
            }
            ImportError::NothingToTranslate(m) | ImportError::Invalid(m) => write!(f, "{m}"),
        }
    }
}

struct Out {
    toml: String,
    warnings: Vec<(usize, String)>,
    errors: Vec<(usize, String)>,
    lenient: bool,
    /// [[firewall_mark]] placeholders written so far (each gets its port).
    placeholders: u32,
}

impl Out {
    /// Warn and leave the same words in the output as a comment.
    fn warn(&mut self, n: &Node, what: String) {
        let _ = writeln!(self.toml, "# {MARK}: line {}: {what}", n.line);
        self.warnings.push((n.line, what));
    }
    /// Warn only (the output line carries its own comment).
    fn note(&mut self, line: usize, what: String) {
        self.warnings.push((line, what));
    }
    /// A value xlb cannot take: an error, or with --lenient a warning (the
    /// caller writes the placeholder or leaves the item out).
    fn refuse(&mut self, line: usize, what: String) {
        if self.lenient {
            self.warnings.push((line, what));
        } else {
            self.errors.push((line, what));
        }
    }
}

/// A block as comment lines, so nothing the operator wrote disappears.
fn comment_block(out: &mut String, n: &Node, depth: usize) {
    let pad = "  ".repeat(depth);
    let open = if n.block.is_some() { " {" } else { "" };
    let words: Vec<&str> = std::iter::once(n.key.as_str())
        .chain(n.args.iter().map(String::as_str))
        .collect();
    let _ = writeln!(out, "#   {pad}{}{open}", words.join(" "));
    if let Some(children) = &n.block {
        for c in children {
            comment_block(out, c, depth + 1);
        }
        let _ = writeln!(out, "#   {pad}}}");
    }
}

fn q(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The strict import: see [`import_with`].
pub fn import(text: &str) -> Result<Imported, ImportError> {
    import_with(text, Options::default())
}

/// The keywords that make a keepalived.conf something xlb runs.
const RUNNABLE: &[&str] = &["vrrp_instance", "virtual_server"];

pub fn import_with(text: &str, opts: Options) -> Result<Imported, ImportError> {
    let tree = syntax::parse(&syntax::tokenize(text)?)?;
    if !tree.iter().any(|n| RUNNABLE.contains(&n.key.as_str())) {
        let mut seen: Vec<&str> = Vec::new();
        for n in &tree {
            if !seen.contains(&n.key.as_str()) && seen.len() < 5 {
                seen.push(&n.key);
            }
        }
        let found = if seen.is_empty() {
            "the file has no keyword at all".to_string()
        } else {
            format!("its top-level keywords are {}", seen.join(", "))
        };
        return Err(ImportError::NothingToTranslate(format!(
            "nothing to translate: no vrrp_instance or virtual_server ({found}); \
             xlbctl import reads a keepalived.conf or a haproxy.cfg"
        )));
    }
    let mut o = Out {
        toml: String::new(),
        warnings: Vec::new(),
        errors: Vec::new(),
        lenient: opts.lenient,
        placeholders: 0,
    };
    let _ = writeln!(
        o.toml,
        "# Imported from keepalived.conf by `xlbctl import`. Review every {MARK} line."
    );

    // The NICs the dataplane owns: those VRRP runs on, and those its
    // addresses live on (`dev`: a NAT director's inside gateway address is
    // often on another NIC than the instance's).
    let nets = vip_nets(&tree);
    let mut ifaces: Vec<String> = Vec::new();
    let instance_ifaces = tree
        .iter()
        .filter(|n| n.key == "vrrp_instance")
        .flat_map(|n| n.children().iter().filter(|c| c.key == "interface"))
        .filter_map(|c| c.arg(0).map(str::to_string));
    for i in instance_ifaces.chain(nets.iter().filter_map(|n| n.dev.clone())) {
        if !ifaces.contains(&i) {
            ifaces.push(i);
        }
    }
    let has_services = tree.iter().any(|n| n.key == "virtual_server");
    // Real servers no VRRP address's subnet covers: xlbd needs a dataplane
    // interface with an address in their subnet, and nothing here names it.
    let unreached = unreached_reals(&tree, &nets);
    for (line, addr, what) in &unreached {
        o.note(
            *line,
            format!(
                "{what} {addr}: no VRRP address shares its subnet, so no interface is known \
                 to reach it; add the NIC that does to [daemon] interfaces (xlbctl check-config \
                 on the director checks it)"
            ),
        );
    }
    let reach_note = match unreached.first() {
        Some((_, a, _)) => {
            format!("  # {MARK}: add the NIC that reaches {a} (and the other real servers)")
        }
        None => String::new(),
    };
    if !has_services {
        // keepalived --vrrp: xlbd runs VRRP with no dataplane.
        let _ = writeln!(
            o.toml,
            "\n# No virtual_server: xlbd runs VRRP only, with no dataplane."
        );
    } else if ifaces.is_empty() {
        let _ = writeln!(o.toml, "\n[daemon]");
        let _ = writeln!(o.toml, "interfaces = [\"eth0\"]  # {MARK}: keepalived.conf names no interface: list the NICs xlb owns");
        o.note(0, "no vrrp_instance names an interface: wrote interfaces = [\"eth0\"]; set the NICs the dataplane owns".into());
    } else {
        let _ = writeln!(o.toml, "\n[daemon]");
        let list: Vec<String> = ifaces.iter().map(|i| q(i)).collect();
        let _ = writeln!(
            o.toml,
            "interfaces = [{}]  # from the vrrp_instances' interfaces and addresses' dev{reach_note}",
            list.join(", ")
        );
    }

    let groups = server_groups(&mut o, &tree);
    let instances: Vec<&str> = tree
        .iter()
        .filter(|n| n.key == "vrrp_instance")
        .filter_map(|n| n.arg(0))
        .collect();
    let v3 = tree
        .iter()
        .filter(|n| n.key == "global_defs")
        .flat_map(|n| n.children())
        .any(|c| c.key == "vrrp_version" && c.arg(0) == Some("3"));
    for n in &tree {
        match n.key.as_str() {
            "global_defs" => vrrp::global_defs(&mut o, n),
            "vrrp_instance" => vrrp::instance(&mut o, n, v3),
            "vrrp_sync_group" => vrrp::sync_group(&mut o, n, &instances),
            // Read by the virtual_servers that name them.
            "virtual_server_group" => {}
            "vrrp_script" => {
                o.warn(
                    n,
                    format!(
                        "vrrp_script {}: track scripts are not supported (track_interface is); kept below as a comment",
                        n.args.join(" ")
                    ),
                );
                comment_block(&mut o.toml, n, 0);
            }
            "virtual_server" => virtual_server(&mut o, n, &groups),
            other => o.warn(n, format!("{other}: not translated")),
        }
    }
    vrrp::sync_daemon(&mut o, &tree);
    if !o.errors.is_empty() {
        o.errors.sort_by_key(|e| e.0);
        return Err(ImportError::Refused {
            errors: o.errors,
            warnings: o.warnings,
        });
    }
    validated(&o.toml)?;
    Ok(Imported {
        toml: o.toml,
        warnings: o.warnings,
    })
}

/// What check-config would say of the output: nothing, or the import is
/// refused rather than write what xlb then refuses.
fn validated(toml: &str) -> Result<(), ImportError> {
    let Err(e) = crate::config::Config::parse(std::path::Path::new("xlb.toml"), toml) else {
        return Ok(());
    };
    let lines: Vec<&str> = toml.lines().collect();
    let what: Vec<String> =
        e.0.iter()
            .map(|e| match lines.get(e.line.wrapping_sub(1)) {
                Some(l) if e.line > 0 => format!("`{}`: {}", l.trim(), e.message),
                _ => e.message.clone(),
            })
            .collect();
    Err(ImportError::Invalid(format!(
        "the translation does not pass check-config, so none is written: {}",
        what.join("; ")
    )))
}

/// Real and sorry servers (line, address) on no subnet that a VRRP
/// instance's virtual address names. An address written without a prefix
/// (keepalived's /32) is taken as its /24 (/64 for IPv6): the subnet a
/// director's floating gateway usually serves.
/// A VRRP address's subnet and the NIC it lives on (`dev`, else its
/// instance's `interface`).
struct VipNet {
    addr: std::net::IpAddr,
    len: u8,
    dev: Option<String>,
}

fn vip_nets(tree: &[Node]) -> Vec<VipNet> {
    use std::net::IpAddr;
    let mut nets: Vec<VipNet> = Vec::new();
    for inst in tree.iter().filter(|n| n.key == "vrrp_instance") {
        let iface = inst
            .children()
            .iter()
            .find(|c| c.key == "interface")
            .and_then(|c| c.arg(0))
            .map(str::to_string);
        for c in inst
            .children()
            .iter()
            .filter(|c| c.key == "virtual_ipaddress" || c.key == "virtual_ipaddress_excluded")
        {
            // Both forms: one address per line (ADDR[/LEN] dev IF ...) and
            // all on one line; a `dev` belongs to the address before it.
            let words = c.args.iter().chain(
                c.children()
                    .iter()
                    .flat_map(|x| std::iter::once(&x.key).chain(x.args.iter())),
            );
            let mut after_dev = false;
            for w in words {
                if after_dev {
                    if let Some(last) = nets.last_mut() {
                        last.dev = Some(w.clone());
                    }
                    after_dev = false;
                    continue;
                }
                if w == "dev" {
                    after_dev = true;
                    continue;
                }
                let (a, len) = w.split_once('/').unwrap_or((w, ""));
                let Ok(addr) = a.parse::<IpAddr>() else {
                    continue;
                };
                let full = if addr.is_ipv4() { 32 } else { 128 };
                let guess = if addr.is_ipv4() { 24 } else { 64 };
                let len = len
                    .parse::<u8>()
                    .ok()
                    .filter(|&l| l < full)
                    .unwrap_or(guess);
                nets.push(VipNet {
                    addr,
                    len,
                    dev: iface.clone(),
                });
            }
        }
    }
    nets
}

/// Real servers no VRRP address's subnet covers: nothing in the file says
/// which NIC reaches them.
fn unreached_reals(tree: &[Node], nets: &[VipNet]) -> Vec<(usize, std::net::IpAddr, &'static str)> {
    use std::net::IpAddr;
    let covered = |r: IpAddr| {
        nets.iter().any(|n| {
            n.addr.is_ipv4() == r.is_ipv4()
                && xlb_model::Address::from(n.addr).masked(n.len)
                    == xlb_model::Address::from(r).masked(n.len)
        })
    };
    let mut out = Vec::new();
    for vs in tree.iter().filter(|n| n.key == "virtual_server") {
        for c in vs.children() {
            if c.key != "real_server" && c.key != "sorry_server" {
                continue;
            }
            if let Some(a) = c.arg(0).and_then(|a| a.parse::<IpAddr>().ok()) {
                if !covered(a) && !out.iter().any(|(_, x, _)| *x == a) {
                    let what = if c.key == "sorry_server" {
                        "sorry server"
                    } else {
                        "real server"
                    };
                    out.push((c.line, a, what));
                }
            }
        }
    }
    out
}

/// What a virtual service is keyed by in xlb.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Endpoint(std::net::IpAddr, u16),
    Mark(u32),
}

impl Key {
    /// The service's port; 0 for a firewall mark, whose real servers keep
    /// the client's.
    fn port(self) -> u16 {
        match self {
            Key::Endpoint(_, p) => p,
            Key::Mark(_) => 0,
        }
    }
}

/// The keepalived spellings xlb translates, for the errors that list them.
const SCHEDULERS: &str = "rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh, fo, ovf";
const PROTOCOLS: &str = "TCP, UDP";
const CHECKERS: &str = "TCP_CHECK, HTTP_GET, SSL_GET, MISC_CHECK, UDP_CHECK";

/// A VIP or server address as xlb takes it: unicast IPv4, or IPv6 that is
/// neither link-local (a service has no interface to scope it) nor
/// IPv4-mapped.
fn vip_address(o: &mut Out, line: usize, what: &str, word: &str) -> Option<std::net::IpAddr> {
    use std::net::IpAddr;
    match word.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) if !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()) => {
            Some(a.into())
        }
        Ok(IpAddr::V6(a))
            if !(a.is_unspecified()
                || a.is_multicast()
                || a.is_loopback()
                || a.to_ipv4_mapped().is_some()
                || a.segments()[0] & 0xffc0 == 0xfe80) =>
        {
            Some(a.into())
        }
        _ => {
            o.refuse(
                line,
                format!("{what} {word:?} is not a unicast IPv4 or IPv6 address (IPv6 link-local and IPv4-mapped ones cannot be used)"),
            );
            None
        }
    }
}

fn vip_port(o: &mut Out, line: usize, what: &str, word: Option<&str>) -> Option<u16> {
    match word.map(|w| (w, w.parse::<u16>())) {
        Some((_, Ok(p))) if p > 0 => Some(p),
        Some((w, _)) => {
            o.refuse(
                line,
                format!("{what} port {w:?} is not a port from 1 to 65535"),
            );
            None
        }
        None => {
            // IPVS's port 0 (every port, with persistence) has no xlb
            // equivalent but a firewall mark covering the ports.
            o.refuse(
                line,
                format!("{what} has no port: xlb serves one port per service (for every port, use a [[firewall_mark]] service)"),
            );
            None
        }
    }
}

fn mark(o: &mut Out, line: usize, word: Option<&str>) -> Option<Key> {
    match word.and_then(|m| m.parse::<u32>().ok()).filter(|&m| m > 0) {
        Some(m) => Some(Key::Mark(m)),
        None => {
            o.refuse(
                line,
                format!(
                    "fwmark {:?} is not a mark from 1 to 4294967295",
                    word.unwrap_or("")
                ),
            );
            None
        }
    }
}

/// The most addresses one virtual_server_group entry may expand to: each
/// becomes a service of its own.
const MAX_RANGE: u32 = 256;

/// One `virtual_server_group` entry's addresses: `A.B.C.D`, `A.B.C.D-E`
/// (last octet), `A.B.C.D-E.F.G.H`, `A.B.C.D/LEN`.
fn address_range(o: &mut Out, line: usize, word: &str) -> Vec<std::net::IpAddr> {
    use std::net::{IpAddr, Ipv4Addr};
    let what = "virtual_server_group address";
    let parsed: Option<(u32, u32)> = if let Some((a, len)) = word.split_once('/') {
        match (a.parse::<Ipv4Addr>(), len.parse::<u32>()) {
            (Ok(a), Ok(len)) if len <= 32 => {
                let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
                let first = u32::from(a) & mask;
                Some((first, first | !mask))
            }
            _ => None,
        }
    } else if let Some((a, end)) = word.split_once('-') {
        match (
            a.parse::<Ipv4Addr>(),
            end.parse::<Ipv4Addr>(),
            end.parse::<u8>(),
        ) {
            (Ok(a), Ok(b), _) => Some((u32::from(a), u32::from(b))),
            (Ok(a), _, Ok(last)) => {
                let first = u32::from(a);
                Some((first, (first & !0xff) | u32::from(last)))
            }
            _ => None,
        }
    } else {
        word.parse::<Ipv4Addr>()
            .ok()
            .map(|a| (u32::from(a), u32::from(a)))
    };
    let Some((first, last)) = parsed else {
        let v6 = word
            .split(['-', '/'])
            .next()
            .is_some_and(|a| a.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6()));
        if word.parse::<std::net::Ipv6Addr>().is_ok() {
            return vip_address(o, line, what, word).into_iter().collect();
        } else if v6 {
            o.refuse(
                line,
                format!(
                    "{what} {word}: an IPv6 range; list each IPv6 address as an entry of its own"
                ),
            );
        } else {
            o.refuse(
                line,
                format!("{what} {word:?} is not ADDRESS, ADDRESS-LAST_OCTET, ADDRESS-ADDRESS or ADDRESS/LEN (IPv4)"),
            );
        }
        return Vec::new();
    };
    if last < first || last - first >= MAX_RANGE {
        o.refuse(
            line,
            format!(
                "{what} {word}: {} addresses; xlb writes a service per address, at most {MAX_RANGE} per entry",
                if last < first { 0 } else { u64::from(last - first) + 1 }
            ),
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for a in first..=last {
        if let Some(a) = vip_address(o, line, what, &Ipv4Addr::from(a).to_string()) {
            out.push(a);
        }
    }
    out
}

/// Every `virtual_server_group`'s services, by name.
/// A `virtual_server_group`: what xlb takes of it, and how many entries
/// it has (when every one was refused, each has its error already).
struct Group {
    keys: Vec<Key>,
    entries: usize,
}

fn server_groups(o: &mut Out, tree: &[Node]) -> HashMap<String, Group> {
    let mut groups: HashMap<String, Group> = HashMap::new();
    for g in tree.iter().filter(|n| n.key == "virtual_server_group") {
        let Some(name) = g.arg(0) else {
            o.refuse(g.line, "virtual_server_group without a name".into());
            continue;
        };
        let mut keys = Vec::new();
        for e in g.children() {
            // One entry per line; more words are another entry run on,
            // which keepalived does not read either.
            let most = if e.key == "fwmark" { 2 } else { 1 };
            if e.args.len() > most || e.block.is_some() {
                o.refuse(
                    e.line,
                    format!("virtual_server_group {name}: {:?} is not one entry (ADDRESS[-RANGE] PORT or fwmark N, one per line)", e.words()),
                );
                continue;
            }
            if e.key == "fwmark" {
                // A trailing inet/inet6 only matters to tunnelled servers.
                keys.extend(mark(o, e.line, e.arg(0)));
                continue;
            }
            let addrs = address_range(o, e.line, &e.key);
            if addrs.is_empty() {
                continue;
            }
            let Some(port) = vip_port(
                o,
                e.line,
                &format!("virtual_server_group {name} {}", e.key),
                e.arg(0),
            ) else {
                continue;
            };
            keys.extend(addrs.into_iter().map(|a| Key::Endpoint(a, port)));
        }
        let entries = g.children().len();
        groups.insert(name.to_string(), Group { keys, entries });
    }
    groups
}

/// A virtual_server left out (lenient): its text stays as a comment.
fn leave_out(o: &mut Out, n: &Node) {
    let _ = writeln!(
        o.toml,
        "\n# {MARK}: line {}: {} left out (see the warnings)",
        n.line,
        n.words()
    );
    comment_block(&mut o.toml, n, 0);
}

fn virtual_server(o: &mut Out, n: &Node, groups: &HashMap<String, Group>) {
    let keys: Vec<Key> = match (n.arg(0), n.arg(1)) {
        (Some("fwmark"), m) => mark(o, n.line, m).into_iter().collect(),
        (Some("group"), Some(name)) => {
            match groups.get(name) {
                Some(g) if g.keys.is_empty() => {
                    if g.entries == 0 {
                        o.refuse(
                            n.line,
                            format!(
                                "virtual_server group {name}: the group lists no address or fwmark"
                            ),
                        );
                    }
                    Vec::new()
                }
                Some(g) => g.keys.clone(),
                None => {
                    o.refuse(
                    n.line,
                    format!("virtual_server group {name}: no virtual_server_group {name} in this file"),
                );
                    Vec::new()
                }
            }
        }
        (Some(a), p) => match vip_address(o, n.line, "virtual_server address", a) {
            Some(a) => vip_port(o, n.line, "virtual_server", p)
                .map(|p| Key::Endpoint(a, p))
                .into_iter()
                .collect(),
            None => Vec::new(),
        },
        (None, _) => {
            o.refuse(n.line, "virtual_server without an address".into());
            Vec::new()
        }
    };
    let mut body = String::new();
    let mut delay_loop: Option<String> = None;
    let mut protocol = "tcp".to_string();
    let mut nat = false;
    let mut dr = false;
    for c in n.children() {
        let v = c.arg(0).unwrap_or("");
        match c.key.as_str() {
            "delay_loop" => match seconds(o, c) {
                Some(s) => delay_loop = Some(s),
                None => mark_dropped(&mut body, c, ""),
            },
            "lb_algo" | "lvs_sched" => {
                let name = v.to_ascii_lowercase();
                if name.parse::<xlb_model::sched::SchedulerKind>().is_ok() {
                    let _ = writeln!(body, "scheduler = {}", q(&name));
                } else {
                    let _ = writeln!(
                        body,
                        "scheduler = \"wlc\"  # {MARK}: {} {v} is not supported: placeholder",
                        c.key
                    );
                    o.refuse(
                        c.line,
                        format!(
                            "{} {v:?} is not a scheduler xlb knows; known: {SCHEDULERS}",
                            c.key
                        ),
                    );
                }
            }
            "lb_kind" | "lvs_method" => match v.to_ascii_uppercase().as_str() {
                "NAT" => {
                    nat = true;
                    dr = false;
                    let _ = writeln!(body, "forwarding = \"nat\"");
                }
                "DR" => {
                    dr = true;
                    nat = false;
                    let _ = writeln!(body, "forwarding = \"dr\"");
                }
                // Like DR for the real servers' ports: the packet is not
                // rewritten, only wrapped.
                "TUN" => {
                    dr = true;
                    nat = false;
                    let _ = writeln!(body, "forwarding = \"tun\"");
                }
                other => {
                    dr = true;
                    nat = false;
                    let _ = writeln!(
                        body,
                        "forwarding = \"dr\"  # {MARK}: {} {other} is not supported: placeholder; check the real servers",
                        c.key
                    );
                    o.refuse(
                        c.line,
                        format!(
                            "{} {v:?} is not a forwarding method xlb knows; known: NAT, DR, TUN",
                            c.key
                        ),
                    );
                }
            },
            "protocol" => match v.to_ascii_uppercase().as_str() {
                "TCP" | "UDP" => protocol = v.to_ascii_lowercase(),
                _ => {
                    let _ = writeln!(
                        body,
                        "# {MARK}: line {}: protocol {v} is not supported: tcp is a placeholder",
                        c.line
                    );
                    o.refuse(
                        c.line,
                        format!("protocol {v:?} is not one xlb forwards; known: {PROTOCOLS}"),
                    );
                }
            },
            "sorry_server" => match c.arg(1) {
                Some(p) => {
                    let _ = writeln!(body, "sorry_server = {}", q(&format!("{v}:{p}")));
                }
                None => {
                    let _ = writeln!(body, "sorry_server = {}", q(v));
                }
            },
            "persistence_timeout" | "quorum" | "hysteresis" => match whole(o, c) {
                Some(n) => {
                    let _ = writeln!(body, "{} = {n}", c.key);
                }
                None => mark_dropped(&mut body, c, ""),
            },
            "persistence_granularity" => {
                // A netmask (IPv4), or a prefix length (IPv6 takes only that).
                let g = match v.parse::<u8>() {
                    Ok(len) => len.to_string(),
                    Err(_) => q(v),
                };
                let _ = writeln!(body, "persistence_granularity = {g}");
            }
            "quorum_up" | "quorum_down" => {
                let _ = writeln!(body, "{} = {}", c.key, q(v));
            }
            "real_server" => {}
            other => {
                o.note(c.line, format!("virtual_server {other}: not supported yet"));
                let _ = writeln!(
                    body,
                    "# {MARK}: line {}: {} not supported yet",
                    c.line,
                    c.words()
                );
            }
        }
    }
    // keepalived checks each real server on its own; when every one has the
    // same check of itself, it is the service's: a server added later (by
    // `xlbctl ipvsadm -a`, say) is checked too.
    let ports: Vec<u16> = keys.iter().map(|k| k.port()).collect();
    let v6 = keys.iter().find_map(|k| match k {
        Key::Endpoint(a, _) => Some(a.is_ipv6()),
        Key::Mark(_) => None,
    });
    let mut reals: Vec<(String, Option<String>)> = Vec::new();
    for r in n.children().iter().filter(|c| c.key == "real_server") {
        let outer = std::mem::take(&mut o.toml);
        let check = real_server(o, r, delay_loop.as_deref(), dr, &ports, v6);
        reals.push((std::mem::replace(&mut o.toml, outer), check));
    }
    let first = reals.first().and_then(|r| r.1.clone());
    let shared = first.filter(|c| {
        reals.len() > 1
            && !c.contains("connect_ip")
            && reals.iter().all(|r| r.1.as_ref() == Some(c))
    });
    let mut rest = body;
    for (text, check) in &reals {
        rest.push_str(text);
        if let (None, Some(c)) = (&shared, check) {
            rest.push_str(c);
        }
    }
    if let Some(c) = shared {
        let _ = writeln!(
            rest,
            "\n  # Every real server had this check: the service's, for servers added later too."
        );
        rest.push_str(&c.replacen(
            "[virtual_server.real_server.check]",
            "[virtual_server.check]",
            1,
        ));
    }
    // Read through even so, for its errors to come with the others.
    if keys.is_empty() {
        leave_out(o, n);
        return;
    }
    if keys.len() > 1 {
        let _ = writeln!(
            o.toml,
            "\n# virtual_server {} (line {}): one service per address and port of the group, each with the same settings and real servers",
            n.args.join(" "),
            n.line
        );
    }
    for key in keys {
        match key {
            Key::Mark(mark) => {
                // keepalived leaves marking to iptables; xlb classifies
                // packets itself and needs the addresses and ports: a marked
                // placeholder, on a port of its own so that two never clash.
                o.placeholders += 1;
                let _ = writeln!(
                    o.toml,
                    "\n[[firewall_mark]]  # {MARK}: keepalived took mark {mark} from iptables: list its VIPs and ports\n\
                     mark = {mark}\nprotocol = {}\naddresses = [\"192.0.2.1\"]  # {MARK}: placeholder (TEST-NET)\n\
                     ports = [{}]  # {MARK}: placeholder",
                    q(&protocol),
                    o.placeholders
                );
                o.note(n.line, format!("virtual_server fwmark {mark}: wrote a placeholder [[firewall_mark]] rule; set the addresses and ports the mark covers"));
                let _ = writeln!(o.toml, "\n[[virtual_server]]\nfwmark = {mark}");
            }
            Key::Endpoint(addr, port) => {
                let _ = writeln!(
                    o.toml,
                    "\n[[virtual_server]]\naddress = {}\nport = {port}\nprotocol = {}",
                    q(&addr.to_string()),
                    q(&protocol)
                );
                if nat && port == 21 && protocol == "tcp" && addr.is_ipv4() {
                    // keepalived relied on the ip_vs_ftp module.
                    let _ = writeln!(
                        o.toml,
                        "ftp = true  # NAT FTP helper (IPVS's ip_vs_ftp), see docs/ftp.md"
                    );
                }
            }
        }
        o.toml.push_str(&rest);
    }
}

/// A whole number keepalived wrote, or an error (the key is then left out).
fn whole(o: &mut Out, c: &Node) -> Option<u32> {
    let v = c.arg(0).unwrap_or("");
    let n = v.parse::<u32>().ok();
    if n.is_none() {
        o.refuse(
            c.line,
            format!("{} {v:?} is not a whole number from 0 to 4294967295", c.key),
        );
    }
    n
}

/// Seconds, fractions allowed (keepalived 2 takes them), as TOML.
fn seconds(o: &mut Out, c: &Node) -> Option<String> {
    let v = c.arg(0).unwrap_or("");
    match v.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 => Some(s.to_string()),
        _ => {
            o.refuse(
                c.line,
                format!("{} {v:?} is not a number of seconds above 0", c.key),
            );
            None
        }
    }
}

/// The comment a refused value leaves in the draft.
fn mark_dropped(out: &mut String, c: &Node, pad: &str) {
    let _ = writeln!(
        out,
        "{pad}# {MARK}: line {}: {} left out: the default applies",
        c.line,
        c.words()
    );
}

/// Writes the real server to `o.toml` and gives back its check's table,
/// which the caller places. `ports` are the service's (0: a mark's), one
/// per address of a group.
fn real_server(
    o: &mut Out,
    n: &Node,
    delay_loop: Option<&str>,
    dr: bool,
    ports: &[u16],
    v6: Option<bool>,
) -> Option<String> {
    let Some(word) = n.arg(0) else {
        o.refuse(n.line, "real_server without an address".into());
        return None;
    };
    let addr = vip_address(o, n.line, "real_server address", word).filter(|a| {
        // NAT and DR keep the packet's family (IPVS's FNAT may not).
        let other = v6.is_some_and(|v6| a.is_ipv6() != v6);
        if other {
            let (vs, rs) = if a.is_ipv6() { ("IPv4", "IPv6") } else { ("IPv6", "IPv4") };
            o.refuse(
                n.line,
                format!("real_server {word} is {rs}, its virtual_server {vs}: xlb forwards within one family"),
            );
        }
        !other
    });
    let Some(addr) = addr else {
        let _ = writeln!(
            o.toml,
            "\n  # {MARK}: line {}: {} left out",
            n.line,
            n.words()
        );
        return None;
    };
    // keepalived takes a real server without a port as port 0: the
    // client's (a mark's) or the VIP's port, which xlb writes by leaving
    // the port out.
    let port = match n.arg(1).map(|p| (p, p.parse::<u16>())) {
        None => 0,
        Some((_, Ok(p))) => p,
        Some((p, Err(_))) => {
            o.refuse(
                n.line,
                format!("real_server {word} port {p:?} is not a port from 0 to 65535"),
            );
            let _ = writeln!(
                o.toml,
                "\n  # {MARK}: line {}: {} left out",
                n.line,
                n.words()
            );
            return None;
        }
    };
    let _ = writeln!(
        o.toml,
        "\n  [[virtual_server.real_server]]\n  address = {}",
        q(&addr.to_string())
    );
    // DR rewrites only the MAC address: IPVS ignores a DR real server's
    // port, and xlb refuses one that differs from the service's.
    let moved = port != 0 && ports.iter().any(|&p| p != port);
    if dr && moved {
        o.note(
            n.line,
            format!("real_server {word} {port}: in DR and TUN the server gets the port the client asked for (IPVS ignores the real server's port); left out"),
        );
    }
    if port != 0 && !dr {
        let _ = writeln!(o.toml, "  port = {port}");
    }
    // The port keepalived checked, when the real server no longer says it.
    let check_port = (dr && moved).then(|| port.to_string());
    let mut check: Option<String> = None;
    let mut inhibit = false;
    for c in n.children() {
        match c.key.as_str() {
            "weight" => match whole(o, c) {
                Some(w) => {
                    let _ = writeln!(o.toml, "  weight = {w}");
                }
                None => mark_dropped(&mut o.toml, c, "  "),
            },
            "uthreshold" | "lthreshold" => match whole(o, c) {
                Some(n) => {
                    let _ = writeln!(o.toml, "  {} = {n}", c.key);
                }
                None => mark_dropped(&mut o.toml, c, "  "),
            },
            "inhibit_on_failure" => inhibit = true,
            "notify_up" | "notify_down" => {
                let _ = writeln!(o.toml, "  {} = {}", c.key, q(c.arg(0).unwrap_or("")));
            }
            "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" | "UDP_CHECK" => {
                if check.is_some() {
                    o.warn(
                        c,
                        format!(
                            "{}: xlb runs one check per real server; this one is dropped",
                            c.key
                        ),
                    );
                    continue;
                }
                check = Some(translate_check(o, c, delay_loop, check_port.as_deref()));
            }
            // keepalived's checkers are the upper-case keywords with a block
            // (SMTP_CHECK, DNS_CHECK, PING_CHECK, FILE_CHECK, BFD_CHECK).
            other if c.block.is_some() && !other.chars().any(|ch| ch.is_ascii_lowercase()) => {
                o.refuse(
                    c.line,
                    format!("{other} is not a checker xlb translates; known: {CHECKERS}"),
                );
                let _ = writeln!(
                    o.toml,
                    "  # {MARK}: line {}: {other} left out: this real server is not checked",
                    c.line
                );
                comment_block(&mut o.toml, c, 1);
            }
            other => {
                o.note(c.line, format!("real_server {other}: not supported yet"));
                let _ = writeln!(
                    o.toml,
                    "  # {MARK}: line {}: {} not supported yet",
                    c.line,
                    c.words()
                );
            }
        }
    }
    if let Some(c) = &mut check {
        if inhibit {
            c.push_str("    inhibit_on_failure = true\n");
        }
    } else if inhibit {
        o.warn(
            n,
            "inhibit_on_failure without a checker has no effect".into(),
        );
    }
    check
}

fn translate_check(o: &mut Out, c: &Node, delay_loop: Option<&str>, port: Option<&str>) -> String {
    let mut s = String::from("    [virtual_server.real_server.check]\n");
    let kind = match c.key.as_str() {
        "TCP_CHECK" => "tcp",
        "HTTP_GET" => "http",
        "SSL_GET" => "ssl",
        "MISC_CHECK" => "misc",
        _ => "udp",
    };
    let _ = writeln!(s, "    type = {}", q(kind));
    let mut interval = delay_loop.map(String::from);
    let mut urls = 0;
    let mut connect_port = false;
    for k in c.children() {
        let v = k.arg(0).unwrap_or("");
        match k.key.as_str() {
            "connect_timeout" | "misc_timeout" => match seconds(o, k) {
                Some(t) => {
                    let _ = writeln!(s, "    timeout = {t}");
                }
                None => mark_dropped(&mut s, k, "    "),
            },
            "delay_before_retry" => match seconds(o, k) {
                Some(t) => {
                    let _ = writeln!(s, "    delay_before_retry = {t}");
                }
                None => mark_dropped(&mut s, k, "    "),
            },
            "delay_loop" => match seconds(o, k) {
                Some(t) => interval = Some(t),
                None => mark_dropped(&mut s, k, "    "),
            },
            "connect_port" | "retry" | "nb_get_retry" => match whole(o, k) {
                Some(n) if k.key == "connect_port" => {
                    connect_port = true;
                    let _ = writeln!(s, "    connect_port = {n}");
                }
                Some(n) => {
                    let _ = writeln!(s, "    retry = {n}");
                }
                None => mark_dropped(&mut s, k, "    "),
            },
            "connect_ip" => {
                let _ = writeln!(s, "    connect_ip = {}", q(v));
            }
            "bindto" => {
                let _ = writeln!(s, "    bindto = {}", q(v));
            }
            "misc_path" => {
                let _ = writeln!(s, "    command = {}", q(v));
            }
            "misc_dynamic" => {
                let _ = writeln!(s, "    dynamic = true");
            }
            "payload" => {
                let _ = writeln!(s, "    payload = {}", q(v));
            }
            "require_reply" => {
                let _ = writeln!(s, "    require_reply = true");
            }
            "virtualhost" if kind == "http" || kind == "ssl" => {
                let _ = writeln!(s, "    host = {}", q(v));
            }
            "url" if kind == "http" || kind == "ssl" => {
                urls += 1;
                if urls > 1 {
                    o.note(
                        k.line,
                        "only the first url of a checker is used".to_string(),
                    );
                    continue;
                }
                for u in k.children() {
                    let uv = u.arg(0).unwrap_or("");
                    match u.key.as_str() {
                        "path" => {
                            let _ = writeln!(s, "    path = {}", q(uv));
                        }
                        "digest" => {
                            let _ = writeln!(s, "    digest = {}", q(uv));
                        }
                        "status_code" => {
                            match uv.parse::<u16>() {
                                Ok(code) => {
                                    let _ = writeln!(s, "    status = [{code}]");
                                }
                                Err(_) => {
                                    o.note(u.line, format!("status_code {uv} (range or list) not supported: any 2xx"));
                                }
                            }
                        }
                        other => o.note(u.line, format!("url {other}: not supported")),
                    }
                }
            }
            other => {
                o.note(k.line, format!("{} {other}: not supported", c.key));
                let _ = writeln!(
                    s,
                    "    # {MARK}: line {}: {} not supported",
                    k.line,
                    k.words()
                );
            }
        }
    }
    if let (false, Some(p)) = (connect_port, port) {
        let _ = writeln!(
            s,
            "    connect_port = {p}  # the real server's port in keepalived.conf"
        );
    }
    if let Some(i) = interval {
        let _ = writeln!(s, "    interval = {i}");
    }
    s
}

/// What `xlbctl import` was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Keepalived,
    Haproxy,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Keepalived => "keepalived.conf",
            Format::Haproxy => "haproxy.cfg",
        }
    }
    /// A reminder of the format's syntax, for its syntax errors.
    pub fn syntax_help(self) -> &'static str {
        match self {
            Format::Keepalived => {
                "keepalived.conf syntax: KEYWORD ARGS, blocks in { }, comments with # or !"
            }
            Format::Haproxy => {
                "haproxy.cfg syntax: one KEYWORD ARGS per line in sections (global, defaults, frontend, backend, listen), \"quotes\" and 'quotes' closed on their line, \\xHH escapes, comments with #"
            }
        }
    }
}

/// keepalived.conf or haproxy.cfg, from the first line that tells:
/// haproxy.cfg's sections open with a bare keyword (`global`, `defaults`,
/// `frontend NAME`, ...), keepalived.conf's blocks with `{`.
pub fn detect(text: &str) -> Format {
    const KEEPALIVED: &[&str] = &[
        "global_defs",
        "vrrp_instance",
        "vrrp_sync_group",
        "vrrp_script",
        "virtual_server",
        "virtual_server_group",
        "static_ipaddress",
        "static_routes",
    ];
    for line in text.lines() {
        let code = line.split(['#', '!']).next().unwrap_or("");
        let Some(first) = code.split_whitespace().next() else {
            continue;
        };
        if code.contains('{') || code.contains('}') || KEEPALIVED.contains(&first) {
            return Format::Keepalived;
        }
        if haproxy::SECTIONS.contains(&first) && code.split_whitespace().count() <= 4 {
            return Format::Haproxy;
        }
    }
    Format::Keepalived
}

/// Import either format, told apart by [`detect`]. `opts` concern the
/// keepalived import; the haproxy import warns of what it cannot take.
pub fn import_any(text: &str, opts: Options) -> (Format, Result<Imported, ImportError>) {
    match detect(text) {
        Format::Keepalived => (Format::Keepalived, import_with(text, opts)),
        Format::Haproxy => (
            Format::Haproxy,
            haproxy::import(text).map_err(ImportError::Syntax),
        ),
    }
}

#[cfg(test)]
mod tests;
