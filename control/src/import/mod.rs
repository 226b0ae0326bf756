//! `xlbctl import keepalived.conf`: the equivalent xlb TOML on stdout, one
//! warning per keyword that cannot be translated (kept in the output as a
//! comment too), and a syntax error with its line. The output passes
//! `xlbctl check-config` as is; what keepalived.conf lacks (the dataplane's
//! NICs) is taken from the VRRP instances' interfaces or written as a marked
//! default.

pub mod haproxy;
mod syntax;
mod vrrp;

use std::fmt::Write as _;
use syntax::Node;
pub use syntax::SyntaxError;

/// Marks every value the import had to invent, for the operator to review.
pub const MARK: &str = "XLB-IMPORT";

pub struct Imported {
    pub toml: String,
    /// (line in keepalived.conf, what could not be translated)
    pub warnings: Vec<(usize, String)>,
}

struct Out {
    toml: String,
    warnings: Vec<(usize, String)>,
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

pub fn import(text: &str) -> Result<Imported, SyntaxError> {
    let tree = syntax::parse(&syntax::tokenize(text)?)?;
    let mut o = Out {
        toml: String::new(),
        warnings: Vec::new(),
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

    for n in &tree {
        match n.key.as_str() {
            "global_defs" => vrrp::global_defs(&mut o, n),
            "vrrp_instance" => vrrp::instance(&mut o, n),
            "vrrp_sync_group" => vrrp::sync_group(&mut o, n),
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
            "virtual_server" => virtual_server(&mut o, n),
            other => o.warn(n, format!("{other}: not translated")),
        }
    }
    vrrp::sync_daemon(&mut o, &tree);
    Ok(Imported {
        toml: o.toml,
        warnings: o.warnings,
    })
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

fn virtual_server(o: &mut Out, n: &Node) {
    // `virtual_server fwmark N` or `virtual_server ADDRESS PORT`.
    let fwmark = match n.arg(0) {
        Some("fwmark") => match n
            .arg(1)
            .and_then(|m| m.parse::<u32>().ok())
            .filter(|&m| m > 0)
        {
            Some(m) => Some(m),
            None => {
                o.warn(
                    n,
                    "virtual_server fwmark without a valid mark; skipped".into(),
                );
                return;
            }
        },
        _ => None,
    };
    let (Some(addr), Some(port)) = (n.arg(0), n.arg(1)) else {
        o.warn(n, "virtual_server without ADDRESS PORT; skipped".into());
        return;
    };
    let mut body = String::new();
    let mut delay_loop: Option<String> = None;
    let mut protocol = "tcp".to_string();
    for c in n.children() {
        let v = c.arg(0).unwrap_or("");
        match c.key.as_str() {
            "delay_loop" => delay_loop = Some(v.to_string()),
            "lb_algo" | "lvs_sched" => match v {
                v if v.parse::<xlb_model::sched::SchedulerKind>().is_ok() => {
                    let _ = writeln!(body, "scheduler = {}", q(v));
                }
                other => {
                    let _ = writeln!(
                        body,
                        "scheduler = \"wlc\"  # {MARK}: lb_algo {other} not supported yet"
                    );
                    o.note(
                        c.line,
                        format!("lb_algo {other} is not supported yet: using wlc"),
                    );
                }
            },
            "lb_kind" | "lvs_method" => {
                match v.to_ascii_uppercase().as_str() {
                    "NAT" => {
                        let _ = writeln!(body, "forwarding = \"nat\"");
                        if fwmark.is_none() && port == "21" {
                            // keepalived relied on the ip_vs_ftp module.
                            let _ = writeln!(
                                body,
                                "ftp = true  # NAT FTP helper (IPVS's ip_vs_ftp), see docs/ftp.md"
                            );
                        }
                    }
                    "DR" => {
                        let _ = writeln!(body, "forwarding = \"dr\"");
                    }
                    other => {
                        let _ = writeln!(
                            body,
                            "forwarding = \"dr\"  # {MARK}: lb_kind {other} not supported"
                        );
                        o.note(c.line, format!("lb_kind {other} is not supported: using DR; check the real servers"));
                    }
                }
            }
            "protocol" => protocol = v.to_ascii_lowercase(),
            "sorry_server" => match c.arg(1) {
                Some(p) => {
                    let _ = writeln!(body, "sorry_server = {}", q(&format!("{v}:{p}")));
                }
                None => {
                    let _ = writeln!(body, "sorry_server = {}", q(v));
                }
            },
            "persistence_timeout" => {
                let _ = writeln!(body, "persistence_timeout = {v}");
            }
            "persistence_granularity" => {
                let _ = writeln!(body, "persistence_granularity = {}", q(v));
            }
            "quorum" | "hysteresis" => {
                let _ = writeln!(body, "{} = {v}", c.key);
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
    match fwmark {
        Some(mark) => {
            // keepalived leaves marking to iptables; xlb classifies packets
            // itself and needs the addresses and ports: a marked placeholder.
            let _ = writeln!(
                o.toml,
                "\n[[firewall_mark]]  # {MARK}: keepalived took mark {mark} from iptables: list its VIPs and ports\n\
                 mark = {mark}\nprotocol = {}\naddresses = [\"192.0.2.1\"]  # {MARK}: placeholder (TEST-NET)\n\
                 ports = [1]  # {MARK}: placeholder",
                q(&protocol)
            );
            o.note(n.line, format!("virtual_server fwmark {mark}: wrote a placeholder [[firewall_mark]] rule; set the addresses and ports the mark covers"));
            let _ = writeln!(o.toml, "\n[[virtual_server]]\nfwmark = {mark}");
        }
        None => {
            let _ = writeln!(
                o.toml,
                "\n[[virtual_server]]\naddress = {}\nport = {port}\nprotocol = {}",
                q(addr),
                q(&protocol)
            );
        }
    }
    o.toml.push_str(&body);
    // keepalived checks each real server on its own; when every one has the
    // same check of itself, it is the service's: a server added later (by
    // `xlbctl ipvsadm -a`, say) is checked too.
    let mut reals: Vec<(String, Option<String>)> = Vec::new();
    for r in n.children().iter().filter(|c| c.key == "real_server") {
        let outer = std::mem::take(&mut o.toml);
        let check = real_server(o, r, delay_loop.as_deref());
        reals.push((std::mem::replace(&mut o.toml, outer), check));
    }
    let first = reals.first().and_then(|r| r.1.clone());
    let shared = first.filter(|c| {
        reals.len() > 1
            && !c.contains("connect_ip")
            && reals.iter().all(|r| r.1.as_ref() == Some(c))
    });
    for (text, check) in &reals {
        o.toml.push_str(text);
        if let (None, Some(c)) = (&shared, check) {
            o.toml.push_str(c);
        }
    }
    if let Some(c) = shared {
        let _ = writeln!(
            o.toml,
            "\n  # Every real server had this check: the service's, for servers added later too."
        );
        o.toml.push_str(&c.replacen(
            "[virtual_server.real_server.check]",
            "[virtual_server.check]",
            1,
        ));
    }
}

/// Writes the real server to `o.toml` and gives back its check's table,
/// which the caller places.
fn real_server(o: &mut Out, n: &Node, delay_loop: Option<&str>) -> Option<String> {
    let (Some(addr), Some(port)) = (n.arg(0), n.arg(1)) else {
        o.warn(n, "real_server without ADDRESS PORT; skipped".into());
        return None;
    };
    let _ = writeln!(
        o.toml,
        "\n  [[virtual_server.real_server]]\n  address = {}",
        q(addr)
    );
    // Port 0 (firewall-mark services): keep the client's port, which xlb
    // writes by leaving the port out.
    if port != "0" {
        let _ = writeln!(o.toml, "  port = {port}");
    }
    let mut check: Option<String> = None;
    let mut inhibit = false;
    for c in n.children() {
        match c.key.as_str() {
            "weight" => {
                let _ = writeln!(o.toml, "  weight = {}", c.arg(0).unwrap_or("1"));
            }
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
                check = Some(translate_check(o, c, delay_loop));
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

fn translate_check(o: &mut Out, c: &Node, delay_loop: Option<&str>) -> String {
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
    for k in c.children() {
        let v = k.arg(0).unwrap_or("");
        match k.key.as_str() {
            "connect_timeout" | "misc_timeout" => {
                let _ = writeln!(s, "    timeout = {v}");
            }
            "connect_port" => {
                let _ = writeln!(s, "    connect_port = {v}");
            }
            "connect_ip" => {
                let _ = writeln!(s, "    connect_ip = {}", q(v));
            }
            "bindto" => {
                let _ = writeln!(s, "    bindto = {}", q(v));
            }
            "retry" | "nb_get_retry" => {
                let _ = writeln!(s, "    retry = {v}");
            }
            "delay_before_retry" => {
                let _ = writeln!(s, "    delay_before_retry = {v}");
            }
            "delay_loop" => interval = Some(v.to_string()),
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

/// Import either format, told apart by [`detect`].
pub fn import_any(text: &str) -> (Format, Result<Imported, SyntaxError>) {
    match detect(text) {
        Format::Keepalived => (Format::Keepalived, import(text)),
        Format::Haproxy => (Format::Haproxy, haproxy::import(text)),
    }
}

#[cfg(test)]
mod tests;
