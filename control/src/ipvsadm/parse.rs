//! ipvsadm's command line, as ipvsadm 1.31 reads it (popt): the command is
//! the first option; short options combine (`-Ln`, `-At10.0.0.1:80`); long
//! ones take `--opt VALUE` or `--opt=VALUE`; `-p` takes a value only when
//! one is attached or the next word does not start with `-` (else 360 s).
//! Each command accepts the options ipvsadm's own table lets it.

use std::net::IpAddr;
use xlb_model::config::edit::{Edit, PersistenceSetting, RealSpec, ServiceSpec};
use xlb_model::{Forwarding, Persistence, Protocol, SchedulerKind, ServiceKey};

/// ipvsadm's default persistence timeout (`IPVS_SVC_PERSISTENT_TIMEOUT`).
pub const DEFAULT_PERSISTENCE: u32 = 360;
/// Longest timeout ipvsadm takes (31 days).
const MAX_TIMEOUT: u32 = 86400 * 31;

/// A refusal, worded as ipvsadm words it, with its exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fail {
    pub message: String,
    pub status: u8,
}

fn fail<T>(message: impl Into<String>) -> Result<T, Fail> {
    Err(Fail {
        message: message.into(),
        status: 2,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    AddService,
    EditService,
    DeleteService,
    Clear,
    Restore,
    Save,
    AddServer,
    EditServer,
    DeleteServer,
    List,
    Zero,
    Set,
    StartDaemon,
    StopDaemon,
    Help,
    Version,
}

impl Command {
    /// The name ipvsadm's messages give the command.
    fn name(self) -> &'static str {
        match self {
            Command::AddService => "add-service",
            Command::EditService => "edit-service",
            Command::DeleteService => "delete-service",
            Command::Clear => "flush",
            Command::Restore => "restore",
            Command::Save => "save",
            Command::AddServer => "add-server",
            Command::EditServer => "edit-server",
            Command::DeleteServer => "delete-server",
            Command::List => "list",
            Command::Zero => "zero",
            Command::Set => "set",
            Command::StartDaemon => "start-daemon",
            Command::StopDaemon => "stop-daemon",
            Command::Help => "help",
            Command::Version => "version",
        }
    }
}

/// What `-L` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSpec {
    pub numeric: bool,
    pub connections: bool,
    pub stats: bool,
    pub rate: bool,
    pub thresholds: bool,
    pub persistent_conn: bool,
    pub exact: bool,
    pub nosort: bool,
    pub timeout: bool,
    pub daemon: bool,
    pub service: Option<ServiceKey>,
}

/// What one ipvsadm command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Edit(Edit),
    List(ListSpec),
    Save,
    Restore,
    Zero(Option<ServiceKey>),
    Help,
    Version,
}

/// The options of one line, as given.
#[derive(Default)]
struct Given {
    service: Option<(char, String)>,
    scheduler: Option<String>,
    persistent: Option<Option<String>>,
    netmask: Option<String>,
    real: Option<String>,
    method: Option<char>,
    weight: Option<String>,
    u_threshold: Option<String>,
    l_threshold: Option<String>,
    unsupported: Vec<&'static str>,
    list: ListSpec,
    words: Vec<String>,
    /// Every option name seen, as ipvsadm's messages name them.
    seen: Vec<&'static str>,
}

/// (short, long, ipvsadm's option name, takes a value)
const OPTIONS: &[(Option<char>, &str, &str, Value)] = &[
    (Some('t'), "tcp-service", "service-address", Value::Required),
    (Some('u'), "udp-service", "service-address", Value::Required),
    (None, "sctp-service", "service-address", Value::Required),
    (
        Some('f'),
        "fwmark-service",
        "service-address",
        Value::Required,
    ),
    (Some('6'), "ipv6", "service-address", Value::None),
    (Some('s'), "scheduler", "scheduler", Value::Required),
    (Some('p'), "persistent", "persistent", Value::Optional),
    (Some('M'), "netmask", "netmask", Value::Required),
    (None, "pe", "pe", Value::Required),
    (Some('b'), "sched-flags", "sched-flags", Value::Required),
    (Some('o'), "ops", "ops", Value::None),
    (Some('r'), "real-server", "real-server", Value::Required),
    (Some('g'), "gatewaying", "forwarding-method", Value::None),
    (Some('i'), "ipip", "forwarding-method", Value::None),
    (Some('m'), "masquerading", "forwarding-method", Value::None),
    (Some('w'), "weight", "weight", Value::Required),
    (Some('x'), "u-threshold", "u-threshold", Value::Required),
    (Some('y'), "l-threshold", "l-threshold", Value::Required),
    (None, "tun-type", "tun-type", Value::Required),
    (None, "tun-port", "tun-port", Value::Required),
    (None, "tun-nocsum", "tun-nocsum", Value::None),
    (None, "tun-csum", "tun-csum", Value::None),
    (None, "tun-remcsum", "tun-remcsum", Value::None),
    (Some('n'), "numeric", "numeric", Value::None),
    (Some('c'), "connection", "connection", Value::None),
    (None, "timeout", "timeout", Value::None),
    (None, "daemon", "daemon", Value::None),
    (None, "stats", "stats", Value::None),
    (None, "rate", "rate", Value::None),
    (None, "thresholds", "thresholds", Value::None),
    (None, "persistent-conn", "persistent-conn", Value::None),
    (None, "tun-info", "tun-info", Value::None),
    (None, "nosort", "nosort", Value::None),
    (None, "sort", "sort", Value::None),
    (Some('X'), "exact", "exact", Value::None),
    (None, "syncid", "syncid", Value::Required),
    (None, "mcast-interface", "mcast-interface", Value::Required),
    (None, "mcast-group", "mcast-group", Value::Required),
    (None, "mcast-port", "mcast-port", Value::Required),
    (None, "mcast-ttl", "mcast-ttl", Value::Required),
    (None, "sync-maxlen", "sync-maxlen", Value::Required),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Value {
    None,
    Required,
    Optional,
}

/// (short, long, command, takes a value)
const COMMANDS: &[(Option<char>, &str, Command, Value)] = &[
    (Some('A'), "add-service", Command::AddService, Value::None),
    (Some('E'), "edit-service", Command::EditService, Value::None),
    (
        Some('D'),
        "delete-service",
        Command::DeleteService,
        Value::None,
    ),
    (Some('C'), "clear", Command::Clear, Value::None),
    (Some('R'), "restore", Command::Restore, Value::None),
    (Some('S'), "save", Command::Save, Value::None),
    (Some('a'), "add-server", Command::AddServer, Value::None),
    (Some('e'), "edit-server", Command::EditServer, Value::None),
    (
        Some('d'),
        "delete-server",
        Command::DeleteServer,
        Value::None,
    ),
    (Some('L'), "list", Command::List, Value::None),
    (Some('l'), "list", Command::List, Value::None),
    (Some('Z'), "zero", Command::Zero, Value::None),
    (None, "set", Command::Set, Value::None),
    (None, "start-daemon", Command::StartDaemon, Value::Required),
    (None, "stop-daemon", Command::StopDaemon, Value::Required),
    (Some('h'), "help", Command::Help, Value::None),
    (Some('v'), "version", Command::Version, Value::None),
];

/// Which options a command takes: (required, allowed).
fn accepts(c: Command) -> (&'static [&'static str], &'static [&'static str]) {
    match c {
        Command::AddService | Command::EditService => (
            &["service-address"],
            &[
                "scheduler",
                "persistent",
                "netmask",
                "ops",
                "pe",
                "sched-flags",
            ],
        ),
        Command::DeleteService => (&["service-address"], &[]),
        Command::List => (
            &[],
            &[
                "numeric",
                "connection",
                "service-address",
                "timeout",
                "daemon",
                "stats",
                "rate",
                "thresholds",
                "persistent-conn",
                "nosort",
                "sort",
                "syncid",
                "exact",
                "tun-info",
            ],
        ),
        Command::AddServer | Command::EditServer => (
            &["service-address", "real-server"],
            &[
                "forwarding-method",
                "weight",
                "u-threshold",
                "l-threshold",
                "tun-type",
                "tun-port",
                "tun-nocsum",
                "tun-csum",
                "tun-remcsum",
            ],
        ),
        Command::DeleteServer => (&["service-address", "real-server"], &[]),
        Command::Save => (&[], &["numeric"]),
        Command::Zero => (&[], &["service-address"]),
        Command::StartDaemon => (
            &[],
            &[
                "mcast-interface",
                "syncid",
                "mcast-group",
                "mcast-port",
                "mcast-ttl",
                "sync-maxlen",
            ],
        ),
        Command::StopDaemon => (&[], &["syncid"]),
        Command::Clear | Command::Restore | Command::Set | Command::Help | Command::Version => {
            (&[], &[])
        }
    }
}

fn try_help() -> Fail {
    Fail {
        message: "Try `ipvsadm -h' or 'ipvsadm --help' for more information.".into(),
        status: 255,
    }
}

/// One word of the line, split into (option, attached value).
enum Token<'a> {
    Short(char, &'a str),
    Long(&'a str, Option<&'a str>),
    Word(&'a str),
}

/// Parse one ipvsadm command line (without the program name).
pub fn parse(args: &[String]) -> Result<Action, Fail> {
    if args.is_empty() {
        // Plain `ipvsadm` lists (with name lookups; xlb prints numbers).
        return Ok(Action::List(ListSpec::default()));
    }
    let mut command: Option<Command> = None;
    let mut g = Given::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let mut pieces: Vec<Token> = Vec::new();
        if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((n, v)) => pieces.push(Token::Long(n, Some(v))),
                None => pieces.push(Token::Long(long, None)),
            }
        } else if let Some(shorts) = arg.strip_prefix('-').filter(|s| !s.is_empty()) {
            // Combined short options; the first that takes a value takes
            // the rest of the word.
            let mut rest = shorts;
            while let Some(c) = rest.chars().next() {
                rest = &rest[c.len_utf8()..];
                let takes = COMMANDS
                    .iter()
                    .find(|x| x.0 == Some(c))
                    .map(|x| x.3)
                    .or_else(|| OPTIONS.iter().find(|x| x.0 == Some(c)).map(|x| x.3));
                if matches!(takes, Some(Value::Required | Value::Optional)) {
                    pieces.push(Token::Short(c, rest));
                    rest = "";
                } else {
                    pieces.push(Token::Short(c, ""));
                }
            }
        } else {
            pieces.push(Token::Word(arg));
        }
        for p in pieces {
            // The option's name, kind and value.
            let (short, long, value_given) = match p {
                Token::Word(w) => {
                    if command.is_none() {
                        return Err(try_help());
                    }
                    g.words.push(w.to_string());
                    continue;
                }
                Token::Short(c, v) => (Some(c), None, (!v.is_empty()).then_some(v)),
                Token::Long(n, v) => (None, Some(n), v),
            };
            let is_cmd = COMMANDS.iter().find(|x| {
                (short.is_some() && x.0 == short) || (long.is_some() && Some(x.1) == long)
            });
            let what = short
                .map(|c| format!("-{c}"))
                .unwrap_or_else(|| format!("--{}", long.unwrap_or("")));
            if let Some(&(_, _, cmd, value)) = is_cmd {
                if command.is_some() {
                    return fail(format!("invalid option `{arg}'"));
                }
                command = Some(cmd);
                if value == Value::Required {
                    let v = match value_given {
                        Some(v) => v.to_string(),
                        None if i < args.len() => {
                            i += 1;
                            args[i - 1].clone()
                        }
                        None => {
                            return Err(Fail {
                                message: format!("{what}: missing argument"),
                                status: 255,
                            })
                        }
                    };
                    if !["master", "backup"].contains(&v.as_str()) {
                        return fail("illegal start-daemon parameter specified");
                    }
                }
                continue;
            }
            let Some(&(_, _, name, value)) = OPTIONS.iter().find(|x| {
                (short.is_some() && x.0 == short) || (long.is_some() && Some(x.1) == long)
            }) else {
                return Err(Fail {
                    message: format!("{what}: unknown option"),
                    status: 255,
                });
            };
            if command.is_none() {
                return Err(try_help());
            }
            let v = match (value, value_given) {
                (Value::None, Some(_)) => {
                    return Err(Fail {
                        message: format!("{what}: option does not take an argument"),
                        status: 255,
                    })
                }
                (Value::None, None) => None,
                (_, Some(v)) => Some(v.to_string()),
                (Value::Required, None) if i < args.len() => {
                    i += 1;
                    Some(args[i - 1].clone())
                }
                (Value::Required, None) => {
                    return Err(Fail {
                        message: format!("{what}: missing argument"),
                        status: 255,
                    })
                }
                // popt: the next word, unless it looks like an option.
                (Value::Optional, None) if i < args.len() && !args[i].starts_with('-') => {
                    i += 1;
                    Some(args[i - 1].clone())
                }
                (Value::Optional, None) => None,
            };
            if g.seen.contains(&name) && name != "service-address" {
                return fail(format!("multiple '{name}' options specified"));
            }
            if name == "service-address" && short == Some('6') {
                if g.service.as_ref().is_none_or(|(k, _)| *k != 'f') {
                    return fail("-6 used before -f\n");
                }
                continue;
            }
            if name == "service-address" && g.service.is_some() {
                return fail("multiple 'service-address' options specified");
            }
            g.seen.push(name);
            let v = v.unwrap_or_default();
            match name {
                "service-address" => {
                    let kind = match long {
                        Some("udp-service") => 'u',
                        Some("fwmark-service") => 'f',
                        Some("sctp-service") => 's',
                        Some(_) => 't',
                        None => short.unwrap_or('t'),
                    };
                    g.service = Some((kind, v));
                }
                "scheduler" => g.scheduler = Some(v),
                "persistent" => g.persistent = Some((!v.is_empty()).then_some(v)),
                "netmask" => g.netmask = Some(v),
                "real-server" => g.real = Some(v),
                "forwarding-method" => g.method = short,
                "weight" => g.weight = Some(v),
                "u-threshold" => g.u_threshold = Some(v),
                "l-threshold" => g.l_threshold = Some(v),
                "numeric" => g.list.numeric = true,
                "connection" => g.list.connections = true,
                "timeout" => g.list.timeout = true,
                "daemon" => g.list.daemon = true,
                "stats" => g.list.stats = true,
                "rate" => g.list.rate = true,
                "thresholds" => g.list.thresholds = true,
                "persistent-conn" => g.list.persistent_conn = true,
                "nosort" => g.list.nosort = true,
                "exact" => g.list.exact = true,
                "sort" | "tun-info" => {}
                other => g.unsupported.push(other),
            }
        }
    }
    let Some(command) = command else {
        return Err(try_help());
    };
    check_options(command, &g)?;
    build(command, g)
}

fn check_options(c: Command, g: &Given) -> Result<(), Fail> {
    let (required, allowed) = accepts(c);
    for r in required {
        if !g.seen.contains(r) {
            return fail(format!(
                "You need to supply the '{r}' option for the '{}' command",
                c.name()
            ));
        }
    }
    for s in &g.seen {
        if !required.contains(s) && !allowed.contains(s) {
            return fail(format!(
                "Illegal '{s}' option with the '{}' command",
                c.name()
            ));
        }
    }
    if c == Command::List {
        let l = &g.list;
        if (l.connections || l.timeout || l.daemon) && (l.stats || l.rate || l.thresholds)
            || (l.timeout || l.daemon) && l.persistent_conn
        {
            return fail("options conflicts in the list command");
        }
    }
    Ok(())
}

/// What xlb cannot do that ipvsadm could, said plainly.
fn unsupported(what: &str, why: &str) -> Fail {
    Fail {
        message: format!("{what}: {why}"),
        status: 2,
    }
}

fn timeout(s: &str) -> Result<u32, Fail> {
    match s.parse::<u32>() {
        Ok(t) if (1..=MAX_TIMEOUT).contains(&t) => Ok(t),
        _ => fail(format!("invalid timeout value `{s}' specified")),
    }
}

/// An address with an optional port: `a.b.c.d[:port]`, `[v6]:port` or a
/// bare IPv6 address. Names are not looked up: xlb takes numbers.
fn address(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (a, p) = rest.split_once("]:")?;
        return Some((a.parse().ok()?, Some(p.parse().ok()?)));
    }
    if let Ok(a) = s.parse::<std::net::Ipv6Addr>() {
        return Some((IpAddr::V6(a), None));
    }
    match s.rsplit_once(':') {
        Some((a, p)) => Some((a.parse().ok()?, Some(p.parse().ok()?))),
        None => Some((s.parse().ok()?, None)),
    }
}

fn service_key(g: &Given, persistent: bool) -> Result<ServiceKey, Fail> {
    let Some((kind, text)) = &g.service else {
        return fail("no service");
    };
    if *kind == 'f' {
        return match text.parse::<u32>() {
            Ok(m) if m > 0 => Ok(ServiceKey::Mark(m)),
            _ => fail("illegal virtual server fwmark specified"),
        };
    }
    let proto = match kind {
        'u' => Protocol::Udp,
        's' => {
            return Err(unsupported(
                "--sctp-service",
                "xlb balances TCP and UDP, not SCTP",
            ))
        }
        _ => Protocol::Tcp,
    };
    let (addr, port) = address(text).ok_or_else(|| Fail {
        message: "illegal virtual server address[:port] specified".into(),
        status: 2,
    })?;
    match port.unwrap_or(0) {
        0 if !persistent => fail("Zero port specified for non-persistent service"),
        0 => Err(unsupported(
            "port 0 (every port of the address)",
            "xlb services have a port; group several ports into one service with a \
             [[firewall_mark]] rule in the configuration and -f MARK",
        )),
        p => Ok(ServiceKey::endpoint(addr, p, proto)),
    }
}

fn build(c: Command, g: Given) -> Result<Action, Fail> {
    if let Some(o) = g.unsupported.first() {
        return Err(unsupported(
            &format!("--{o}"),
            "not supported by xlb (docs/ipvsadm.md lists every option and its xlb equivalent)",
        ));
    }
    match c {
        Command::Help => Ok(Action::Help),
        Command::Version => Ok(Action::Version),
        Command::Restore => Ok(Action::Restore),
        Command::Save => Ok(Action::Save),
        Command::Clear => Ok(Action::Edit(Edit::Clear)),
        Command::StartDaemon | Command::StopDaemon => Err(unsupported(
            "--start-daemon/--stop-daemon",
            "connection sync is configured in [sync] (docs/sync.md), not started at run time; `xlbctl show --sync` lists it",
        )),
        Command::Zero => Ok(Action::Zero(match g.service {
            Some(_) => Some(service_key(&g, true).or_else(|_| service_key(&g, false))?),
            None => None,
        })),
        Command::Set => {
            if g.words.len() != 3 {
                return fail("--set option requires 3 timeout values");
            }
            let t = |s: &String| match s.parse::<u32>() {
                Ok(v) if v <= MAX_TIMEOUT => Ok(v),
                _ => fail(format!("invalid timeout value `{s}' specified")),
            };
            Ok(Action::Edit(Edit::SetTimeouts {
                tcp: t(&g.words[0])?,
                tcp_fin: t(&g.words[1])?,
                udp: t(&g.words[2])?,
            }))
        }
        Command::List => {
            let mut l = g.list.clone();
            if g.service.is_some() {
                l.service = Some(service_key(&g, true).or_else(|_| service_key(&g, false))?);
            }
            if l.daemon {
                return Err(unsupported("--daemon", "connection sync is listed by `xlbctl show --sync`"));
            }
            leftover(&g)?;
            Ok(Action::List(l))
        }
        Command::DeleteService => {
            let key = service_key(&g, true).or_else(|_| service_key(&g, false))?;
            leftover(&g)?;
            Ok(Action::Edit(Edit::DeleteService(key)))
        }
        Command::AddService | Command::EditService => {
            let persistence = match &g.persistent {
                None => None,
                Some(t) => Some(t.as_deref().map_or(Ok(DEFAULT_PERSISTENCE), timeout)?),
            };
            let key = service_key(&g, persistence.is_some())?;
            let scheduler = g.scheduler.as_deref().unwrap_or("wlc");
            let scheduler = scheduler.parse::<SchedulerKind>().map_err(|e| Fail {
                message: e.to_string(),
                status: 2,
            })?;
            let prefix = netmask(&g, &key)?;
            leftover(&g)?;
            // As ipvsadm, -E sends a whole service: what is not given goes
            // back to its default (wlc, no persistence).
            let spec = ServiceSpec {
                key,
                scheduler: Some(scheduler),
                persistence: Some(match persistence {
                    Some(timeout) => PersistenceSetting::On(Persistence { timeout, prefix }),
                    None => PersistenceSetting::Off,
                }),
                forwarding: None,
            };
            Ok(Action::Edit(if c == Command::AddService {
                Edit::AddService(spec)
            } else {
                Edit::EditService(spec)
            }))
        }
        Command::AddServer | Command::EditServer | Command::DeleteServer => {
            let key = service_key(&g, true).or_else(|_| service_key(&g, false))?;
            let (addr, port) = g.real.as_deref().and_then(address).ok_or_else(|| Fail {
                message: "illegal real server address[:port] specified".into(),
                status: 2,
            })?;
            let method =
                match g.method {
                    Some('m') => Some(Forwarding::Nat),
                    Some('g') => Some(Forwarding::Dr),
                    Some('i') => Some(Forwarding::Tun),
                    // ipvsadm's default is -g; xlb's forwarding is the
                    // service's, so an edit without a method keeps it.
                    _ if c == Command::AddServer => Some(Forwarding::Dr),
                    _ => None,
                };
            // ipvsadm forces the service's port for -g (and -i): DR cannot
            // change it.
            let service_port = key.address().map(|(_, p, _)| p);
            let port = match (method, service_port) {
                (Some(Forwarding::Dr | Forwarding::Tun), Some(p)) => Some(p),
                _ => port.or(service_port),
            };
            let weight = match &g.weight {
                None if c == Command::AddServer => Some(1),
                None => None,
                Some(w) => match w.parse::<u32>() {
                    Ok(w) if w <= 65535 => Some(w),
                    _ => return fail("illegal weight specified"),
                },
            };
            // ipvsadm sends both thresholds (0 when not given, "none");
            // xlb's -e keeps what is not given, as for the weight, but an
            // upper one alone brings the lower one back to 3/4 of it.
            let threshold = |v: &Option<String>, which| match v {
                None => Ok(None),
                Some(v) => match v.parse::<u32>() {
                    Ok(n) if n <= i32::MAX as u32 => Ok(Some(n)),
                    _ => fail(format!("illegal {which} specified")),
                },
            };
            let u_threshold = threshold(&g.u_threshold, "u_threshold")?;
            let l_threshold = match threshold(&g.l_threshold, "l_threshold")? {
                None if u_threshold.is_some() => Some(0),
                l => l,
            };
            leftover(&g)?;
            let spec = RealSpec {
                addr,
                port,
                weight,
                forwarding: method,
                u_threshold,
                l_threshold,
            };
            Ok(Action::Edit(match c {
                Command::AddServer => Edit::AddReal(key, spec),
                Command::EditServer => Edit::EditReal(key, spec),
                _ => Edit::DeleteReal(key, addr, port),
            }))
        }
    }
}

fn leftover(g: &Given) -> Result<(), Fail> {
    match g.words.first() {
        Some(w) => fail(format!("unexpected argument {w}")),
        None => Ok(()),
    }
}

/// -M: a netmask (IPv4) or a prefix length (IPv6) as a prefix length.
fn netmask(g: &Given, key: &ServiceKey) -> Result<u8, Fail> {
    let v6 = matches!(key.address(), Some((IpAddr::V6(_), _, _)));
    let Some(m) = &g.netmask else {
        return Ok(if v6 { 128 } else { 32 });
    };
    if v6 {
        return match m.parse::<u8>() {
            Ok(p) if (1..=128).contains(&p) => Ok(p),
            _ => fail("illegal ipv6 netmask specified"),
        };
    }
    match m.parse::<std::net::Ipv4Addr>().map(u32::from) {
        Ok(bits) if bits.leading_ones() + bits.trailing_zeros() == 32 => {
            Ok(bits.leading_ones() as u8)
        }
        _ => fail("illegal virtual server persistent mask specified"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Action, Fail> {
        let args: Vec<String> = line.split_whitespace().map(String::from).collect();
        parse(&args)
    }

    fn key(s: &str, proto: Protocol) -> ServiceKey {
        let (a, port) = address(s).unwrap();
        ServiceKey::endpoint(a, port.unwrap(), proto)
    }

    #[test]
    fn services_are_added_as_ipvsadm_adds_them() {
        assert_eq!(
            p("-A -t 10.0.0.1:80 -s rr"),
            Ok(Action::Edit(Edit::AddService(ServiceSpec {
                key: key("10.0.0.1:80", Protocol::Tcp),
                scheduler: Some(SchedulerKind::Rr),
                persistence: Some(PersistenceSetting::Off),
                forwarding: None,
            })))
        );
        // Combined short options, a default -p (360) before another option,
        // a netmask, long options with =.
        let Ok(Action::Edit(Edit::AddService(s))) =
            p("-At10.0.0.1:443 -p -M 255.255.255.0 --scheduler=sh")
        else {
            panic!()
        };
        assert_eq!(
            s.persistence,
            Some(PersistenceSetting::On(Persistence {
                timeout: 360,
                prefix: 24
            }))
        );
        assert_eq!(s.scheduler, Some(SchedulerKind::Sh));
        let Ok(Action::Edit(Edit::AddService(s))) = p("-A -u [2001:db8::1]:53 -p 60") else {
            panic!()
        };
        assert_eq!(s.key, key("[2001:db8::1]:53", Protocol::Udp));
        assert_eq!(
            s.persistence,
            Some(PersistenceSetting::On(Persistence {
                timeout: 60,
                prefix: 128
            }))
        );
        // -E sends a whole service: no -s is wlc again.
        let Ok(Action::Edit(Edit::EditService(s))) = p("-E -t 10.0.0.1:80") else {
            panic!()
        };
        assert_eq!(s.scheduler, Some(SchedulerKind::Wlc));
    }

    #[test]
    fn servers_are_added_edited_and_deleted() {
        let web = key("10.0.0.1:80", Protocol::Tcp);
        assert_eq!(
            p("-a -t 10.0.0.1:80 -r 192.168.1.20:8080 -m -w 3"),
            Ok(Action::Edit(Edit::AddReal(
                web,
                RealSpec {
                    addr: "192.168.1.20".parse().unwrap(),
                    port: Some(8080),
                    weight: Some(3),
                    forwarding: Some(Forwarding::Nat),
                    u_threshold: None,
                    l_threshold: None,
                }
            )))
        );
        // -g (the default) keeps the service's port.
        let Ok(Action::Edit(Edit::AddReal(_, r))) = p("-a -t 10.0.0.1:80 -r 192.168.1.20:8080")
        else {
            panic!()
        };
        assert_eq!(
            (r.port, r.weight, r.forwarding),
            (Some(80), Some(1), Some(Forwarding::Dr))
        );
        // -i tunnels, and keeps the service's port too.
        let Ok(Action::Edit(Edit::AddReal(_, r))) = p("-a -t 10.0.0.1:80 -r 192.168.9.20:8080 -i")
        else {
            panic!()
        };
        assert_eq!((r.port, r.forwarding), (Some(80), Some(Forwarding::Tun)));
        let Ok(Action::Edit(Edit::EditReal(_, r))) = p("-e -t 10.0.0.1:80 -r 192.168.1.20 -w 0")
        else {
            panic!()
        };
        assert_eq!(
            (r.weight, r.forwarding),
            (Some(0), None),
            "the method stays"
        );
        // -x and -y: an upper threshold alone sets the lower one back to
        // "none" (3/4 of the upper), as ipvsadm sends both.
        let thresholds = |line| match p(line) {
            Ok(Action::Edit(Edit::EditReal(_, r) | Edit::AddReal(_, r))) => {
                (r.u_threshold, r.l_threshold, r.weight)
            }
            other => panic!("{line}: {other:?}"),
        };
        assert_eq!(
            thresholds("-e -t 10.0.0.1:80 -r 192.168.1.20 -x 100 -y 60"),
            (Some(100), Some(60), None)
        );
        assert_eq!(
            thresholds("-e -t 10.0.0.1:80 -r 192.168.1.20 --u-threshold 100"),
            (Some(100), Some(0), None)
        );
        assert_eq!(
            thresholds("-e -t 10.0.0.1:80 -r 192.168.1.20 -y 10"),
            (None, Some(10), None)
        );
        assert_eq!(
            thresholds("-a -t 10.0.0.1:80 -r 192.168.1.20 -m -x 0"),
            (Some(0), Some(0), Some(1))
        );
        assert_eq!(
            p("-d -t 10.0.0.1:80 -r 192.168.1.20"),
            Ok(Action::Edit(Edit::DeleteReal(
                web,
                "192.168.1.20".parse().unwrap(),
                Some(80)
            )))
        );
    }

    #[test]
    fn lists_zero_set_save_and_clear() {
        let Ok(Action::List(l)) = p("-Ln --stats --exact") else {
            panic!()
        };
        assert!(l.numeric && l.stats && l.exact && !l.connections);
        let Ok(Action::List(l)) = p("-L -n -c") else {
            panic!()
        };
        assert!(l.connections);
        assert_eq!(
            p("-Z -t 10.0.0.1:80"),
            Ok(Action::Zero(Some(key("10.0.0.1:80", Protocol::Tcp))))
        );
        assert_eq!(p("-Z"), Ok(Action::Zero(None)));
        assert_eq!(
            p("--set 600 0 30"),
            Ok(Action::Edit(Edit::SetTimeouts {
                tcp: 600,
                tcp_fin: 0,
                udp: 30
            }))
        );
        assert_eq!(p("-S -n"), Ok(Action::Save));
        assert_eq!(p("-C"), Ok(Action::Edit(Edit::Clear)));
        assert_eq!(p(""), Ok(Action::List(ListSpec::default())));
    }

    #[test]
    fn mistakes_are_refused_in_ipvsadm_words() {
        let msg = |l: &str| p(l).unwrap_err().message;
        assert_eq!(
            p("-n -L").unwrap_err().status,
            255,
            "the command comes first"
        );
        assert_eq!(
            msg("-A -s rr"),
            "You need to supply the 'service-address' option for the 'add-service' command"
        );
        assert_eq!(
            msg("-D -t 10.0.0.1:80 -s rr"),
            "Illegal 'scheduler' option with the 'delete-service' command"
        );
        assert_eq!(msg("-L -Z"), "invalid option `-Z'");
        assert_eq!(
            msg("-A -t 10.0.0.1 -s rr"),
            "Zero port specified for non-persistent service"
        );
        assert_eq!(
            msg("-A -t 10.0.0.1:80 -p rr"),
            "invalid timeout value `rr' specified"
        );
        assert_eq!(
            msg("-a -t 10.0.0.1:80 -r 10.0.0.2 -w 70000"),
            "illegal weight specified"
        );
        assert_eq!(
            msg("-L -c --stats"),
            "options conflicts in the list command"
        );
        assert_eq!(msg("--set 1 2"), "--set option requires 3 timeout values");
        assert_eq!(
            msg("-a -t 10.0.0.1:80 -r 10.0.0.2 -x -1"),
            "illegal u_threshold specified"
        );
        assert_eq!(
            msg("-e -t 10.0.0.1:80 -r 10.0.0.2 -y 2147483648"),
            "illegal l_threshold specified"
        );
        assert_eq!(
            p("-d -t 10.0.0.1:80 -r 10.0.0.2 -x 1").unwrap_err().status,
            2
        );
        assert!(msg("-A -t 10.0.0.1:80 -s nope").contains("unknown scheduler"));
        assert_eq!(p("--bogus").unwrap_err().status, 255);
    }
}
