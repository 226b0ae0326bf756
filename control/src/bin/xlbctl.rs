//! xlbctl: the operator's command line for xlb (the ipvsadm of xlbd).

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use xlb_control::api::{client, Request, Status};
use xlb_control::cli::xlbctl::{Args, Cmd};
use xlb_control::config::{Config, DEFAULT_SOCKET};

const EXAMPLE_NAT: &str = include_str!("../../../examples/nat.toml");
const EXAMPLE_DR: &str = include_str!("../../../examples/dr.toml");

/// Where xlbd listens: --socket, $XLB_SOCKET, --config's [daemon] socket,
/// the default, in that order.
fn socket_of(args: &Args) -> Result<PathBuf, ExitCode> {
    if let Some(s) = &args.socket {
        return Ok(s.clone());
    }
    if let Some(s) = std::env::var_os("XLB_SOCKET").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(s));
    }
    match &args.config {
        Some(f) => match Config::load(f) {
            Ok(c) => Ok(c.daemon.socket),
            Err(e) => {
                eprintln!("{e}");
                eprintln!("xlbctl: cannot find xlbd's socket from {}", f.display());
                Err(ExitCode::from(2))
            }
        },
        None => Ok(PathBuf::from(DEFAULT_SOCKET)),
    }
}

fn main() -> ExitCode {
    let mut args = Args::parse();
    // Only commands that talk to xlbd need its socket.
    if !matches!(
        args.cmd,
        Cmd::CheckConfig { .. } | Cmd::Import { .. } | Cmd::Example { .. }
    ) {
        match socket_of(&args) {
            Ok(s) => args.socket = Some(s),
            Err(code) => return code,
        }
    }
    let socket = args.socket.clone().unwrap_or_default();
    let args = Resolved {
        socket,
        cmd: args.cmd,
    };
    match args.cmd {
        Cmd::Top { once } => {
            let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
            let shown = if once || !tty {
                xlb_control::top::once(&args.socket)
            } else {
                xlb_control::top::run(&args.socket)
            };
            match shown {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("xlbctl: {e}");
                    ExitCode::from(1)
                }
            }
        }
        Cmd::Ipvsadm { args: words } => {
            ExitCode::from(xlb_control::ipvsadm::run(&words, &args.socket))
        }
        Cmd::Save => match ask(&args.socket, &Request::Save) {
            Ok(r) => {
                print!("{}", r.message.unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Cmd::Zero { service } => {
            let service = match service.as_deref().map(parse_service_key) {
                None => None,
                Some(Ok(k)) => Some(k),
                // Not VIP:PORT: a service's name, as the other commands take.
                Some(Err(e)) => {
                    let name = service.as_deref().unwrap_or_default();
                    let status = match ask(&args.socket, &Request::Show) {
                        Ok(r) => r
                            .status
                            .unwrap_or_else(|| unreachable!("show answers carry a status")),
                        Err(code) => return code,
                    };
                    match status
                        .services
                        .iter()
                        .find(|s| s.name == name && s.key.is_some())
                    {
                        Some(s) => s.key,
                        None => {
                            let names: Vec<&str> =
                                status.services.iter().map(|s| s.name.as_str()).collect();
                            eprintln!(
                                "xlbctl: {e}, nor a service's name; the services are: {}",
                                names.join(", ")
                            );
                            return ExitCode::from(2);
                        }
                    }
                }
            };
            command(&args.socket, Request::Zero { service })
        }
        Cmd::Reload { file } => {
            // The daemon resolves relative paths from its own directory:
            // send an absolute one.
            let path = file.map(|f| std::path::absolute(&f).unwrap_or(f).display().to_string());
            match ask(&args.socket, &Request::Reload { path }) {
                Ok(r) => {
                    println!("reloaded: {}", r.message.unwrap_or_default());
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
        Cmd::SetWeight {
            service,
            real,
            weight,
        } => command(
            &args.socket,
            Request::SetWeight {
                service,
                real,
                weight,
            },
        ),
        Cmd::Drain { service, real } => command(&args.socket, Request::Drain { service, real }),
        Cmd::DrainDirector => command(&args.socket, Request::DrainDirector),
        Cmd::UndrainDirector => command(&args.socket, Request::UndrainDirector),
        Cmd::Disable { service, real } => command(&args.socket, Request::Disable { service, real }),
        Cmd::Enable { service, real } => command(&args.socket, Request::Enable { service, real }),
        Cmd::Import { file, lenient } => {
            let text = match std::fs::read_to_string(&file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("xlbctl: cannot read {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            let opts = xlb_control::import::Options { lenient };
            let (format, result) = xlb_control::import::import_any(&text, opts);
            let warn = |warnings: &mut Vec<(usize, String)>| {
                // In the file's order (some are found in a second pass).
                warnings.sort_by_key(|w| w.0);
                for (line, w) in warnings.iter() {
                    eprintln!("{}:{line}: warning: {w}", file.display());
                }
            };
            use xlb_control::import::ImportError;
            match result {
                Ok(mut out) => {
                    warn(&mut out.warnings);
                    print!("{}", out.toml);
                    ExitCode::SUCCESS
                }
                Err(ImportError::Syntax(e)) => {
                    eprintln!(
                        "error: {}:{}: {} (read as a {})",
                        file.display(),
                        e.line,
                        e.message,
                        format.name()
                    );
                    eprintln!("  help: {}", format.syntax_help());
                    ExitCode::from(2)
                }
                Err(ImportError::Refused {
                    errors,
                    mut warnings,
                }) => {
                    warn(&mut warnings);
                    for (line, e) in &errors {
                        eprintln!("error: {}:{line}: {e}", file.display());
                    }
                    eprintln!(
                        "  help: nothing written; `xlbctl import --lenient {}` writes a draft with a marked placeholder for each",
                        file.display()
                    );
                    ExitCode::from(2)
                }
                Err(e @ (ImportError::NothingToTranslate(_) | ImportError::Invalid(_))) => {
                    eprintln!("error: {}: {e}", file.display());
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Conns {
            service,
            real,
            client,
            limit,
            json,
        } => {
            let filter = xlb_control::api::ConnFilter {
                service,
                real,
                client,
                limit: Some(limit),
            };
            match ask(&args.socket, &Request::Conns { filter }) {
                Ok(r) => {
                    let conns = r.conns.unwrap_or_default();
                    if json {
                        // The API's shape: the entries and how many more matched.
                        let out = serde_json::json!({
                            "conns": conns,
                            "more": r.more.unwrap_or(0),
                        });
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&out).expect("serializes")
                        );
                    } else {
                        println!("pro expire state       source                 virtual                destination            worker");
                        for c in &conns {
                            println!(
                                "{:<3} {:02}:{:02}  {:<11} {:<22} {:<22} {:<22} {}",
                                c.protocol,
                                c.expires_in / 60,
                                c.expires_in % 60,
                                c.state,
                                c.client,
                                c.virtual_address,
                                c.real,
                                c.worker
                            );
                        }
                        if let Some(more) = r.more.filter(|&m| m > 0) {
                            println!("... {more} more (raise --limit or filter)");
                        }
                    }
                    ExitCode::SUCCESS
                }
                Err(code) => code,
            }
        }
        Cmd::Vrrp { json } => match ask(&args.socket, &Request::Vrrp) {
            Ok(r) => {
                let list = r.vrrp.unwrap_or_default();
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&list).expect("serializes")
                    );
                } else {
                    print!("{}", render_vrrp(&list));
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        Cmd::Example { kind } => {
            print!(
                "{}",
                if kind == "nat" {
                    EXAMPLE_NAT
                } else {
                    EXAMPLE_DR
                }
            );
            ExitCode::SUCCESS
        }
        Cmd::CheckConfig { file } => {
            match Config::read(&file).and_then(|t| Config::parse(&file, &t).map(|c| (c, t))) {
                Ok((c, text)) => check_on_this_host(&file, &c, &text),
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::from(2)
                }
            }
        }
        Cmd::Show {
            numeric: _,
            stats,
            rate,
            workers,
            sync,
            announce,
            json,
        } => {
            let status = match ask(&args.socket, &Request::Show) {
                Ok(r) => r
                    .status
                    .unwrap_or_else(|| unreachable!("show answers carry a status")),
                Err(code) => return code,
            };
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status).expect("serializes")
                );
            } else {
                let view = match (stats, rate) {
                    (true, _) => View::Stats,
                    (_, true) => View::Rate,
                    _ => View::Plain,
                };
                if sync {
                    print!("{}", render_sync(status.sync.as_ref()));
                    return ExitCode::SUCCESS;
                }
                if announce {
                    print!("{}", render_announce(status.announce.as_ref()));
                    return ExitCode::SUCCESS;
                }
                print!("{}", render(&status, view, workers));
            }
            ExitCode::SUCCESS
        }
    }
}

/// check-config's second half: what xlbd checks of the host at start, run
/// here when this is the director (its dataplane interfaces exist), else
/// said to be skipped.
fn check_on_this_host(file: &std::path::Path, c: &Config, text: &str) -> ExitCode {
    let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
    let mut counts = [
        plural(c.services.len(), "virtual server"),
        plural(c.total_reals(), "real server"),
        plural(c.vrrp.instances.len(), "VRRP instance"),
    ]
    .join(", ");
    if !c.proxy.frontends.is_empty() {
        let servers: usize = c.proxy.backends.iter().map(|b| b.servers.len()).sum();
        counts = format!(
            "{counts}, {}, {}, {}",
            plural(c.proxy.frontends.len(), "frontend"),
            plural(c.proxy.backends.len(), "backend"),
            plural(servers, "proxy server")
        );
    }
    let ifaces = match xlb_control::net::ifaces::all() {
        Ok(i) => i,
        Err(e) => {
            println!("{}: OK ({counts})", file.display());
            println!("  skipped: the host checks (cannot list interfaces: {e})");
            return ExitCode::SUCCESS;
        }
    };
    let missing: Vec<&String> = c
        .daemon
        .interfaces
        .iter()
        .filter(|n| !ifaces.iter().any(|i| &&i.name == n))
        .collect();
    if !missing.is_empty() {
        println!("{}: OK ({counts})", file.display());
        println!(
            "  skipped: interface and real-server reachability checks: {} not in this \
             network namespace; run check-config on the director (or under `ip netns exec`) \
             to check what xlbd checks at start",
            missing
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        return ExitCode::SUCCESS;
    }
    let errors = xlb_control::daemon::check_host(c, &ifaces);
    if errors.is_empty() {
        println!(
            "{}: OK ({counts}); interfaces and real servers checked on this host",
            file.display()
        );
        return ExitCode::SUCCESS;
    }
    for e in errors {
        eprintln!("error: {}", e.placed(c, text));
    }
    ExitCode::from(2)
}

/// The arguments once the socket is known.
struct Resolved {
    socket: PathBuf,
    cmd: Cmd,
}

/// A service as `xlbctl zero` takes it: VIP:PORT[/PROTO] or `fwmark N`.
fn parse_service_key(s: &str) -> Result<xlb_model::ServiceKey, String> {
    if let Some(m) = s.strip_prefix("fwmark").map(str::trim) {
        return m
            .parse()
            .map(xlb_model::ServiceKey::Mark)
            .map_err(|_| format!("{s:?}: a firewall mark is a number, e.g. \"fwmark 5\""));
    }
    let (ep, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let proto = proto
        .parse::<xlb_model::Protocol>()
        .map_err(|e| e.to_string())?;
    let sa: std::net::SocketAddr = ep
        .parse()
        .map_err(|_| format!("{s:?} is not VIP:PORT[/tcp|udp] (IPv6: [ADDR]:PORT)"))?;
    Ok(xlb_model::ServiceKey::endpoint(sa.ip(), sa.port(), proto))
}

/// `show --announce`: BIRD, the drain, and each VIP with why.
fn render_announce(a: Option<&xlb_control::announce::AnnounceStatus>) -> String {
    use std::fmt::Write as _;
    let Some(a) = a else {
        return "route announcement is off (no [announce] in the configuration)\n".into();
    };
    let mut o = String::new();
    let _ = match a.pid {
        Some(pid) => writeln!(o, "speaker BIRD, pid {pid}"),
        None => writeln!(o, "speaker BIRD, not running"),
    };
    let _ = match a.drained {
        Some(xlb_control::announce::DrainedBy::Operator) => {
            writeln!(
                o,
                "director DRAINED (xlbctl drain-director): nothing announced"
            )
        }
        Some(xlb_control::announce::DrainedBy::Config) => {
            writeln!(
                o,
                "director DRAINED ([announce] drain = true): nothing announced"
            )
        }
        None => writeln!(o, "director in service"),
    };
    for v in &a.vips {
        let told = a.told.contains(&v.vip);
        let state = match (v.announced, told) {
            (true, true) => "announced",
            (false, false) => "withdrawn",
            (true, false) => "to announce",
            (false, true) => "to withdraw",
        };
        let _ = writeln!(o, "  {:<40} {:<12} {}", v.vip, state, v.reason);
    }
    let _ = writeln!(
        o,
        "  {} updates, {} failed, {} BIRD restarts",
        a.updates, a.update_errors, a.restarts
    );
    if let Some(e) = &a.last_error {
        let _ = writeln!(o, "  last error: {e}");
    }
    o
}

/// `show --sync`: the channel, its peers, and its counters.
fn render_sync(s: Option<&xlb_control::api::SyncStatus>) -> String {
    use std::fmt::Write as _;
    let Some(s) = s else {
        return "connection sync is off (no [sync] in the configuration)\n".into();
    };
    let mut o = String::new();
    let _ = writeln!(
        o,
        "sync on {} port {} (sync id {}) with {}",
        s.interface,
        s.port,
        s.sync_id,
        s.peers.join(", ")
    );
    let _ = writeln!(
        o,
        "  sent      {} connections in {} datagrams, {} whole tables ({} send errors, {} not describable, {} lost: sender behind)",
        s.sent_conns, s.sent_datagrams, s.table_transfers, s.send_errors, s.unsendable, s.overflow
    );
    let _ = writeln!(
        o,
        "  received  {} records in {} datagrams: {} connections handed to the workers, {} persistence templates installed",
        s.received_conns, s.received_datagrams, s.installed, s.templates_installed
    );
    let heard: Vec<String> = s
        .heard_from
        .iter()
        .map(|(a, n)| format!("{a} ({n})"))
        .collect();
    let _ = writeln!(
        o,
        "  heard from {}",
        if heard.is_empty() {
            "nobody yet".into()
        } else {
            heard.join(", ")
        }
    );
    let dropped: Vec<String> = s.dropped.iter().map(|(r, n)| format!("{r}={n}")).collect();
    let _ = writeln!(
        o,
        "  dropped   {}",
        if dropped.is_empty() {
            "none".into()
        } else {
            dropped.join(" ")
        }
    );
    o
}

fn render_vrrp(list: &[xlb_control::ha::InstanceStatus]) -> String {
    use std::fmt::Write;
    if list.is_empty() {
        return "no VRRP instances configured\n".into();
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<14} {:<8} {:>4} {:>2} {:<7} {:>9} {:<16} {:>8} {:>8}  last change",
        "instance", "iface", "vrid", "v", "state", "prio/cfg", "master", "sent", "recv"
    );
    for i in list {
        let since = i
            .since_secs
            .map_or("-".to_string(), |s| format!("{s:.1}s ago"));
        let _ = writeln!(
            o,
            "{:<14} {:<8} {:>4} {:>2} {:<7} {:>9} {:<16} {:>8} {:>8}  {since}: {}",
            i.name,
            i.interface,
            i.vrid,
            i.version,
            i.state,
            format!("{}/{}", i.priority, i.configured_priority),
            i.master.as_deref().unwrap_or("-"),
            i.adverts_sent,
            i.adverts_received,
            i.reason
        );
        let group = i
            .group
            .as_deref()
            .map_or(String::new(), |g| format!("  group {g}"));
        let _ = writeln!(o, "  -> {}{group}", i.vips.join(" "));
        for (why, n) in &i.errors {
            let _ = writeln!(o, "  !  {n} x {why}");
        }
    }
    o
}

/// Send a command; print its outcome; exit 0, 2 (refused) or 1 (no daemon).
fn command(socket: &std::path::Path, req: Request) -> ExitCode {
    match ask(socket, &req) {
        Ok(r) => {
            println!("{}", r.message.unwrap_or_else(|| "ok".into()));
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

/// Send a request. A refusal (printed as xlbd worded it) is exit code 2,
/// an unreachable daemon 1, as docs/api.md says.
fn ask(socket: &std::path::Path, req: &Request) -> Result<xlb_control::api::Response, ExitCode> {
    match client::call(socket, req) {
        Ok(r) if r.ok => Ok(r),
        Ok(r) => {
            eprintln!("xlbctl: {}", r.error.unwrap_or_default());
            Err(ExitCode::from(2))
        }
        Err(e) => {
            eprintln!("xlbctl: {e}");
            Err(ExitCode::from(1))
        }
    }
}

fn drop_detail(t: &xlb_control::api::Traffic) -> String {
    if t.drops.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = t.drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(" ({})", parts.join(" "))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum View {
    Plain,
    Stats,
    Rate,
}

/// The numeric columns of one --stats or --rate row.
fn columns(view: View, t: &xlb_control::api::Traffic, r: &xlb_control::api::Rates) -> String {
    match view {
        View::Stats => format!(
            "{:>6} {:>8} {:>8} {:>8} {:>8} {:>8}{}",
            t.conns,
            t.packets_in,
            t.packets_out,
            t.bytes_in,
            t.bytes_out,
            t.total_drops(),
            drop_detail(t)
        ),
        _ => format!(
            "{:>6} {:>8} {:>8} {:>8} {:>8}",
            r.conns, r.packets_in, r.packets_out, r.bytes_in, r.bytes_out
        ),
    }
}

fn render(s: &Status, view: View, workers: bool) -> String {
    use std::fmt::Write;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "xlb Virtual Server version {} (config {})",
        env!("CARGO_PKG_VERSION"),
        s.config
    );
    let header = match view {
        View::Plain => "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
        View::Stats => "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes    Drops\n  -> RemoteAddress:Port",
        View::Rate => "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n  -> RemoteAddress:Port",
    };
    let _ = writeln!(o, "{header}");
    for v in &s.services {
        let local = if v.protocol == "FWM" {
            v.address.clone()
        } else {
            host_port(&v.address, v.port)
        };
        if view == View::Plain {
            let _ = writeln!(o, "{:<4} {} {} {}", v.protocol, local, v.scheduler, v.flags);
        } else {
            let _ = writeln!(
                o,
                "{:<4} {:<30} {}",
                v.protocol,
                local,
                columns(view, &v.traffic, &v.rates)
            );
        }
        for r in &v.reals {
            let remote = host_port(&r.address, r.port);
            let mut mark = String::new();
            if let Some(h) = r.health.as_deref().filter(|h| h.starts_with("down")) {
                mark.push_str(&format!("  ({h})"));
            } else if !r.enabled {
                mark.push_str("  (disabled)");
            }
            if r.weight != r.configured_weight {
                mark.push_str(&format!("  (configured weight {})", r.configured_weight));
            }
            if !r.resolved {
                mark.push_str("  (no neighbour entry yet)");
            }
            if r.overloaded {
                mark.push_str(&format!(
                    "  (at uthreshold {}: no new connections until below {})",
                    r.u_threshold,
                    match r.l_threshold {
                        0 => r.u_threshold * 3 / 4,
                        l => l,
                    }
                ));
            }
            if view == View::Plain {
                let _ = writeln!(
                    o,
                    "  -> {:<28} {:<7} {:<6} {:<10} {:<9}{mark}",
                    remote, v.forwarding, r.weight, r.active, r.inactive
                );
            } else {
                let _ = writeln!(
                    o,
                    "  -> {:<30} {}{mark}",
                    remote,
                    columns(view, &r.traffic, &r.rates)
                );
            }
        }
    }
    if workers {
        for w in &s.workers {
            let _ = writeln!(
                o,
                "worker {} ({}): rx {} tx {} batches {} polls {} conns live {} created {} expired {} evicted {} picked up {} remote hits {}",
                w.index,
                if w.zero_copy { "zero-copy" } else { "copy" },
                w.rx_packets, w.tx_packets, w.rx_batches, w.poll_iterations, w.conns_live, w.conns_created, w.conns_expired, w.conns_evicted, w.conns_picked_up, w.remote_hits
            );
            if w.syn_cookies_sent > 0 || w.syn_proxy_engaged {
                let _ = writeln!(
                    o,
                    "  syn proxy: {} cookies sent {} accepted {}, early data kept {}",
                    if w.syn_proxy_engaged {
                        "engaged,"
                    } else {
                        "standing by,"
                    },
                    w.syn_cookies_sent,
                    w.syn_cookies_accepted,
                    w.syn_proxy_parked
                );
            }
            let drops: Vec<String> = w
                .drops
                .iter()
                .filter(|(_, &n)| n > 0)
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            let _ = writeln!(
                o,
                "  drops: {}",
                if drops.is_empty() {
                    "none".to_string()
                } else {
                    drops.join(" ")
                }
            );
        }
    }
    if let Some(p) = &s.proxy {
        o.push_str(&xlb_control::proxy_listing::render(p, view != View::Plain));
    }
    o
}

/// "10.0.0.1:80", "[2001:db8::1]:80" (as ipvsadm writes IPv6).
fn host_port(addr: &str, port: u16) -> String {
    match addr.parse::<std::net::IpAddr>() {
        Ok(a) => xlb_model::addr::endpoint(a, port),
        Err(_) => format!("{addr}:{port}"),
    }
}
