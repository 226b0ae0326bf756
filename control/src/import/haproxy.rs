//! `xlbctl import haproxy.cfg`: HAProxy 2.6's configuration as xlb's TOML
//! (docs/proxy.md), with one warning and an `XLB-IMPORT` comment for each
//! keyword that does not translate, as the keepalived.conf import does.
//!
//! - `global`: `maxconn`, `log`, `nbthread` go to `[proxy]`; `crt-base`
//!   completes the binds' `crt` paths; process management (`daemon`,
//!   `user`, `group`, `pidfile`, ...) is xlbd's service unit's business and
//!   is dropped with a comment saying so, without a warning.
//! - `defaults`: HAProxy may have several, each applying to the sections
//!   after it (or to those naming it with `from`). When every section
//!   starts from the same one, it becomes `[proxy.defaults]`; otherwise
//!   each section gets its defaults' settings written out with its own.
//! - `listen NAME`: a frontend and a backend both named NAME, the
//!   frontend's `default_backend` pointing at its backend.
//! - A server written with a host name, or without a port where xlb cannot
//!   tell the client's port, is written as HAProxy had it with a warning:
//!   `xlbctl check-config` then refuses exactly that address, naming it,
//!   until the operator writes ADDRESS:PORT.

mod addr;
mod lex;
mod section;
#[cfg(test)]
mod tests;

use super::{Imported, SyntaxError, MARK};
use lex::{join, Line};
use section::{Kind, LogFmt, Section, Settings, Srv, BE, FE, TIMEOUTS};
use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use xlb_model::config::proxy as model;

/// Keywords that open a section (HAProxy 2.6's registered sections).
pub(super) const SECTIONS: &[&str] = &[
    "global",
    "defaults",
    "frontend",
    "backend",
    "listen",
    "peers",
    "resolvers",
    "userlist",
    "mailers",
    "http-errors",
    "ring",
    "cache",
    "program",
    "fcgi-app",
    "log-forward",
];

/// `global` keywords that only manage HAProxy's process: xlbd is a
/// service and its unit does this; nothing is lost.
const PROCESS: &[&str] = &[
    "daemon",
    "master-worker",
    "user",
    "group",
    "uid",
    "gid",
    "pidfile",
    "quiet",
];

#[derive(Default)]
pub(super) struct Ctx {
    warnings: Vec<(usize, String)>,
    /// `global`'s crt-base: where relative `crt` paths are.
    crt_base: Option<String>,
}

impl Ctx {
    /// A warning, and the same words as a comment for the output.
    fn warn(&mut self, notes: &mut Vec<String>, line: usize, what: String) {
        notes.push(format!("# {MARK}: line {line}: {}", one_line(&what)));
        self.warnings.push((line, what));
    }
}

/// Text for a comment line: control characters (from `\n` escapes) as
/// spaces.
fn one_line(s: &str) -> String {
    s.replace(|c: char| c.is_control(), " ")
}

/// A TOML basic string.
pub(super) fn tq(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

#[derive(Default)]
struct Global {
    maxconn: Option<u32>,
    log: Option<String>,
    threads: Option<u32>,
    /// Process-management keywords met (dropped without a warning).
    process: Vec<String>,
    notes: Vec<String>,
    seen: bool,
}

/// The file's blocks in order.
enum Block {
    Global,
    Defaults(usize),
    Proxy(usize),
    /// A section xlb has no counterpart for, kept as comment lines.
    Other(Vec<String>),
}

pub fn import(text: &str) -> Result<Imported, SyntaxError> {
    let lines = lex::lines(text)?;
    let raw: Vec<&str> = text.lines().collect();
    let mut ctx = Ctx::default();
    let mut global = Global::default();
    let mut defaults: Vec<Section> = Vec::new();
    let mut proxies: Vec<Section> = Vec::new();
    let mut blocks: Vec<Block> = Vec::new();
    // Notes of lines before any section.
    let mut loose: Vec<String> = Vec::new();

    for l in &lines {
        let kw = l.word(0);
        let notes: &mut Vec<String> = match blocks.last() {
            _ if SECTIONS.contains(&kw) => &mut loose,
            None => &mut loose,
            Some(Block::Global) => &mut global.notes,
            Some(Block::Defaults(i)) => &mut defaults[*i].notes,
            Some(Block::Proxy(i)) => &mut proxies[*i].notes,
            Some(Block::Other(_)) => &mut loose,
        };
        if !l.env.is_empty() && !matches!(blocks.last(), Some(Block::Other(_))) {
            let names: Vec<String> = l.env.iter().map(|e| format!("${e}")).collect();
            ctx.warn(
                notes,
                l.n,
                format!(
                    "{} is not expanded: HAProxy reads the environment when it starts; the text is kept as written",
                    names.join(", ")
                ),
            );
        }
        if kw.starts_with('.') {
            // .if/.elif/.else/.endif, .diag, .notice, .warning, .alert
            ctx.warn(
                notes,
                l.n,
                format!(
                    "{}: HAProxy's conditional blocks and messages are not evaluated; every line is imported",
                    join(&l.words)
                ),
            );
            continue;
        }
        if SECTIONS.contains(&kw) {
            open_section(
                &mut ctx,
                l,
                raw.get(l.n - 1).copied().unwrap_or(""),
                &mut global,
                &mut defaults,
                &mut proxies,
                &mut blocks,
            );
            continue;
        }
        match blocks.last_mut() {
            None => {
                let what = join(&l.words);
                ctx.warn(
                    &mut loose,
                    l.n,
                    format!("{what}: outside any section; not translated"),
                );
            }
            Some(Block::Global) => global_keyword(&mut ctx, &mut global, l),
            Some(Block::Defaults(i)) => {
                let i = *i;
                section::keyword(&mut ctx, &mut defaults[i], l);
            }
            Some(Block::Proxy(i)) => {
                let i = *i;
                section::keyword(&mut ctx, &mut proxies[i], l);
            }
            Some(Block::Other(body)) => {
                body.push(format!("#     {}", raw[l.n - 1].trim()));
            }
        }
    }

    let toml = emit(&mut ctx, &global, &defaults, &proxies, &blocks, &loose);
    Ok(Imported {
        toml,
        warnings: ctx.warnings,
    })
}

fn open_section(
    ctx: &mut Ctx,
    l: &Line,
    raw: &str,
    global: &mut Global,
    defaults: &mut Vec<Section>,
    proxies: &mut Vec<Section>,
    blocks: &mut Vec<Block>,
) {
    let kw = l.word(0);
    let n = l.n;
    let kind = match kw {
        "global" => {
            global.seen = true;
            blocks.push(Block::Global);
            return;
        }
        "defaults" => Kind::Defaults,
        "frontend" => Kind::Frontend,
        "backend" => Kind::Backend,
        "listen" => Kind::Listen,
        other => {
            let mut notes = Vec::new();
            let name = l.word(1);
            ctx.warn(
                &mut notes,
                n,
                format!("{other} {name}: xlb has no {other} section; not translated (kept below as a comment)"),
            );
            notes.push(format!("#   {}", raw.trim()));
            blocks.push(Block::Other(notes));
            return;
        }
    };
    // `defaults [NAME] [from PARENT]`, `frontend NAME [from DEFAULTS]`.
    let (name, from) = match (kind, l.word(1), l.word(2)) {
        (Kind::Defaults, "from", p) => (String::new(), Some(p.to_string())),
        (_, name, "from") => (name.to_string(), Some(l.word(3).to_string())),
        (_, name, _) => (name.to_string(), None),
    };
    let mut s = Section::new(kind, name, n);
    let parent = match &from {
        Some(p) => match defaults.iter().rposition(|d| d.name == *p) {
            Some(i) => Some(i),
            None => {
                ctx.warn(
                    &mut s.notes,
                    n,
                    format!("defaults section {p:?} not found (HAProxy refuses this); the section starts from none"),
                );
                None
            }
        },
        // A section uses the last defaults section before it; a defaults
        // section without `from` starts from HAProxy's built-in values.
        None if kind == Kind::Defaults => None,
        None => defaults.len().checked_sub(1),
    };
    if kind == Kind::Defaults {
        if let Some(p) = parent {
            s.own = defaults[p].own.clone();
        }
        defaults.push(s);
        blocks.push(Block::Defaults(defaults.len() - 1));
        return;
    }
    s.defaults = parent;
    if s.name.is_empty() {
        ctx.warn(
            &mut s.notes,
            n,
            format!("{kw} without a name (HAProxy refuses this); named \"unnamed\""),
        );
        s.name = "unnamed".into();
    }
    // HAProxy 1.x's `listen NAME ADDRESS:PORT`, which 2.x refuses.
    if from.is_none() && !l.word(2).is_empty() && kind != Kind::Backend {
        ctx.warn(
            &mut s.notes,
            n,
            format!(
                "{}: an address on the section line (HAProxy 2 refuses it); translated as a bind",
                join(&l.words)
            ),
        );
        let bind = Line {
            n,
            words: std::iter::once("bind".to_string())
                .chain(l.words[2..].iter().cloned())
                .collect(),
            env: Vec::new(),
        };
        section::keyword(ctx, &mut s, &bind);
    }
    proxies.push(s);
    blocks.push(Block::Proxy(proxies.len() - 1));
}

fn global_keyword(ctx: &mut Ctx, g: &mut Global, l: &Line) {
    let n = l.n;
    let what = join(&l.words);
    let kw = l.word(0);
    let arg = l.word(1);
    let num = |v: &str| v.parse::<u32>().ok();
    match kw {
        "maxconn" => match num(arg) {
            Some(v) => g.maxconn = Some(v),
            None => ctx.warn(&mut g.notes, n, format!("{what}: not a number")),
        },
        "nbthread" => match num(arg) {
            Some(v) => g.threads = Some(v),
            None => ctx.warn(&mut g.notes, n, format!("{what}: not a number")),
        },
        "log" => {
            if g.log.is_some() {
                ctx.warn(
                    &mut g.notes,
                    n,
                    format!("{what}: xlb logs to one target; this second one is not translated"),
                );
            } else {
                let mut notes = Vec::new();
                g.log = section::log_value(ctx, &mut notes, n, &l.words[1..]);
                g.notes.append(&mut notes);
            }
        }
        "crt-base" => ctx.crt_base = Some(arg.to_string()),
        k if PROCESS.contains(&k) => g.process.push(what),
        "chroot" => ctx.warn(
            &mut g.notes,
            n,
            format!("{what}: xlbd does not chroot; confine it with its systemd unit (e.g. RootDirectory=, ProtectSystem=)"),
        ),
        "stats" => ctx.warn(
            &mut g.notes,
            n,
            format!("{what}: HAProxy's runtime API is not provided; xlbctl talks to xlbd over [daemon] socket"),
        ),
        _ => ctx.warn(&mut g.notes, n, format!("{what}: not translated")),
    }
}

/// The backends the output has, with their modes.
struct Backends {
    modes: HashMap<String, String>,
}

fn emit(
    ctx: &mut Ctx,
    global: &Global,
    defaults: &[Section],
    proxies: &[Section],
    blocks: &[Block],
    loose: &[String],
) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "# Imported from haproxy.cfg by `xlbctl import`. Review every {MARK} line."
    );
    for c in loose {
        let _ = writeln!(o, "{c}");
    }

    // Each section's settings: its defaults' with its own on top.
    let base = |p: &Section| -> Settings {
        p.defaults
            .map(|d| defaults[d].own.clone())
            .unwrap_or_default()
    };
    let eff: Vec<Settings> = proxies.iter().map(|p| base(p).merged(&p.own)).collect();
    // A listen has a backend half unless it only serves the status page or
    // sends everything elsewhere.
    let has_backend: Vec<bool> = proxies
        .iter()
        .zip(&eff)
        .map(|(p, e)| match p.kind {
            Kind::Backend => true,
            Kind::Listen => {
                !p.servers.is_empty() || (e.default_backend.is_none() && e.stats.is_none())
            }
            _ => false,
        })
        .collect();

    // One [proxy.defaults] when every section starts from the same
    // defaults section and its settings fit them all.
    let used: BTreeSet<Option<usize>> = proxies.iter().map(|p| p.defaults).collect();
    let shared: Option<Option<usize>> = match used.iter().next() {
        None => Some(None),
        Some(d) if used.len() == 1 => {
            let fits =
                d.is_none_or(|d| defaults_fit(&defaults[d].own, proxies, &eff, &has_backend));
            fits.then_some(*d)
        }
        _ => None,
    };

    let backends = Backends {
        modes: proxies
            .iter()
            .zip(&eff)
            .zip(&has_backend)
            .filter(|(_, b)| **b)
            .map(|((p, e), _)| (p.name.clone(), e.mode().to_string()))
            .collect(),
    };
    let ports = client_ports(proxies, &eff, &has_backend);

    // [proxy]
    let mut g = String::new();
    if let Some(t) = global.threads {
        let _ = writeln!(g, "threads = {t}");
    }
    if let Some(m) = global.maxconn {
        let _ = writeln!(g, "maxconn = {m}");
    }
    if let Some(l) = &global.log {
        let _ = writeln!(g, "log = {}", tq(l));
    }
    if global.seen {
        let _ = writeln!(o);
        if !global.process.is_empty() {
            let _ = writeln!(
                o,
                "# {}: process management; xlbd runs as a service (its systemd unit sets the user and keeps it in the foreground), so there is nothing to translate.",
                global.process.join(", ")
            );
        }
        if !g.is_empty() || !global.notes.is_empty() {
            let _ = writeln!(o, "[proxy]");
            o.push_str(&g);
            for c in &global.notes {
                let _ = writeln!(o, "{c}");
            }
        }
    }

    // [proxy.defaults]
    let shared_defaults = match shared {
        Some(Some(d)) => {
            let s = &defaults[d];
            let _ = writeln!(
                o,
                "\n[proxy.defaults]  # HAProxy's defaults section at line {}",
                s.line
            );
            settings(&mut o, &s.own, FE | BE, None);
            let ds = s.own.default_server.fields();
            if !ds.is_empty() {
                let _ = writeln!(o, "default_server = {{ {} }}", ds.join(", "));
            }
            for c in &s.notes {
                let _ = writeln!(o, "{c}");
            }
            Some(d)
        }
        _ => None,
    };
    let dflt = Settings::default();
    let shared_settings = shared_defaults.map_or(&dflt, |d| &defaults[d].own);

    for b in blocks {
        match b {
            Block::Global => {}
            Block::Other(notes) => {
                let _ = writeln!(o);
                for c in notes {
                    let _ = writeln!(o, "{c}");
                }
            }
            Block::Defaults(d) => {
                if Some(*d) == shared_defaults {
                    continue;
                }
                let s = &defaults[*d];
                let users: Vec<&str> = proxies
                    .iter()
                    .filter(|p| p.defaults == Some(*d))
                    .map(|p| p.name.as_str())
                    .collect();
                let name = if s.name.is_empty() {
                    String::new()
                } else {
                    format!(" {}", s.name)
                };
                let _ = writeln!(o);
                if users.is_empty() {
                    let _ = writeln!(
                        o,
                        "# defaults{name} (line {}): no section starts from it.",
                        s.line
                    );
                } else {
                    let _ = writeln!(
                        o,
                        "# defaults{name} (line {}): its settings are written into each section that starts from it ({}).",
                        s.line,
                        users.join(", ")
                    );
                }
                for c in &s.notes {
                    let _ = writeln!(o, "{c}");
                }
            }
            Block::Proxy(i) => {
                let p = &proxies[*i];
                // What to write: the section's own settings over the shared
                // [proxy.defaults], or everything it ends up with.
                let (src, under) = match shared {
                    Some(_) => (&p.own, Some(shared_settings)),
                    None => (&eff[*i], None),
                };
                let from = match (shared, p.defaults) {
                    (Some(_), _) => String::new(),
                    (None, Some(d)) => format!(
                        "  # with the settings of the defaults section at line {}",
                        defaults[d].line
                    ),
                    (None, None) => "  # no defaults section comes before it".into(),
                };
                let sec = Sec {
                    p,
                    src,
                    eff: &eff[*i],
                    under,
                    base_ds: p
                        .defaults
                        .map(|d| defaults[d].own.default_server.clone())
                        .unwrap_or_default(),
                };
                if matches!(p.kind, Kind::Frontend | Kind::Listen) {
                    frontend(&mut o, ctx, &sec, &backends, has_backend[*i], &from);
                }
                if has_backend[*i] {
                    let from = if p.kind == Kind::Listen { "" } else { &from };
                    backend(&mut o, ctx, &sec, ports.get(&p.name), from);
                }
                for c in &p.notes {
                    let _ = writeln!(o, "{c}");
                }
            }
        }
    }
    o
}

/// Whether a defaults section's settings can be `[proxy.defaults]` for
/// all these sections: xlb refuses cookies and HTTP balancing in tcp
/// backends, which HAProxy ignores there.
fn defaults_fit(d: &Settings, proxies: &[Section], eff: &[Settings], has_backend: &[bool]) -> bool {
    let http_balance = d
        .balance
        .as_deref()
        .and_then(|b| model::balance(b).ok())
        .is_some_and(|b| b.needs_http());
    proxies
        .iter()
        .zip(eff)
        .zip(has_backend)
        .all(|((p, e), be)| {
            !*be || e.mode() == "http" || {
                let own_balance = p.own.balance.is_some();
                d.cookie.is_none() && (own_balance || !http_balance)
            }
        })
}

/// For each backend, the ports its frontends listen on (`None`: some
/// could not be read): HAProxy connects a server without a port to the
/// port the client reached.
fn client_ports(
    proxies: &[Section],
    eff: &[Settings],
    has_backend: &[bool],
) -> HashMap<String, Option<BTreeSet<u16>>> {
    let mut m: HashMap<String, Option<BTreeSet<u16>>> = HashMap::new();
    for ((p, e), be) in proxies.iter().zip(eff).zip(has_backend) {
        if !matches!(p.kind, Kind::Frontend | Kind::Listen) {
            continue;
        }
        let mut targets: Vec<String> = p
            .use_backend
            .iter()
            .filter_map(|(_, w)| w.first().cloned())
            .collect();
        match &e.default_backend {
            Some(d) => targets.push(d.clone()),
            None if *be => targets.push(p.name.clone()),
            None => {}
        }
        for t in targets {
            let entry = m.entry(t).or_insert_with(|| Some(BTreeSet::new()));
            match (&p.ports, entry.as_mut()) {
                (Some(ports), Some(set)) => set.extend(ports),
                _ => *entry = None,
            }
        }
    }
    m
}

/// The keys of `s` for a frontend (FE), a backend (BE) or defaults (both).
/// `under`: the [proxy.defaults] these keys override, if any.
fn settings(o: &mut String, s: &Settings, which: u8, under: Option<&Settings>) {
    if let Some(m) = &s.mode {
        let _ = writeln!(o, "mode = {}", tq(m));
    }
    let flag = |o: &mut String, k: &str, v: Option<bool>| {
        // Off is xlb's default: written only to override the defaults.
        match v {
            Some(true) => {
                let _ = writeln!(o, "{k} = true");
            }
            Some(false) if under.is_some() || which == FE | BE => {
                let _ = writeln!(o, "{k} = false");
            }
            _ => {}
        }
    };
    if which & FE != 0 {
        if let Some(m) = s.maxconn {
            let _ = writeln!(o, "maxconn = {m}");
        }
        if let Some(l) = &s.log {
            let _ = writeln!(o, "log = {}", tq(l));
        }
        // xlb reads httplog before tcplog: clear what the defaults set.
        let under_fmt = under.and_then(|u| u.logfmt);
        match s.logfmt {
            Some(LogFmt::Http) => {
                let _ = writeln!(o, "httplog = true");
            }
            Some(LogFmt::Tcp) => {
                if under_fmt == Some(LogFmt::Http) {
                    let _ = writeln!(o, "httplog = false");
                }
                let _ = writeln!(o, "tcplog = true");
            }
            Some(LogFmt::Plain) => match under_fmt {
                Some(LogFmt::Http) => {
                    let _ = writeln!(o, "httplog = false");
                }
                Some(LogFmt::Tcp) => {
                    let _ = writeln!(o, "tcplog = false");
                }
                _ => {}
            },
            None => {}
        }
        flag(o, "dontlognull", s.dontlognull);
    }
    flag(o, "forwardfor", s.forwardfor);
    if which & BE != 0 {
        let text = |o: &mut String, k: &str, v: &Option<String>| {
            if let Some(v) = v {
                let _ = writeln!(o, "{k} = {}", tq(v));
            }
        };
        text(o, "balance", &s.balance);
        text(o, "hash_type", &s.hash_type);
        text(o, "cookie", &s.cookie);
        if s.httpchk.is_some() || s.send.iter().any(Option::is_some) || s.check_host.is_some() {
            // A section's own `option httpchk` or `http-check send` starts
            // a new check request in HAProxy: nothing of the defaults'
            // (their method, URI, version and Host) carries over; what the
            // section does not say is HAProxy's OPTIONS / HTTP/1.0.
            let mut own = s.clone();
            own.httpchk.get_or_insert_with(Vec::new);
            text(o, "httpchk", &own.httpchk_value());
        }
        text(o, "http_check_host", &s.check_host);
        text(o, "http_check_expect", &s.expect);
        flag(o, "allbackups", s.allbackups);
        flag(o, "redispatch", s.redispatch);
        if let Some(r) = s.retries {
            let _ = writeln!(o, "retries = {r}");
        }
    }
    // A frontend takes its own timeouts (client, http_request,
    // http_keep_alive); a backend all (tunnel falls back to client).
    let t: Vec<String> = TIMEOUTS
        .iter()
        .zip(&s.timeouts)
        .filter(|((_, _, cap), _)| which != FE || cap & FE != 0)
        .filter_map(|((_, k, _), v)| v.as_ref().map(|v| format!("{k} = {v}")))
        .collect();
    if !t.is_empty() {
        let _ = writeln!(o, "timeout = {{ {} }}", t.join(", "));
    }
}

/// A section being written.
struct Sec<'a> {
    p: &'a Section,
    /// The settings to write: its own (over `under`) or all it ends up with.
    src: &'a Settings,
    /// All it ends up with.
    eff: &'a Settings,
    /// The [proxy.defaults] it sits under, if the output has one.
    under: Option<&'a Settings>,
    /// Its defaults section's default-server settings.
    base_ds: Srv,
}

/// A list entry: a value with its trailing comment, or a comment line.
enum Entry {
    Value(String, String),
    Comment(String),
}

fn array(o: &mut String, key: &str, items: &[Entry]) {
    let values: Vec<&String> = items
        .iter()
        .filter_map(|e| match e {
            Entry::Value(v, c) if c.is_empty() => Some(v),
            _ => None,
        })
        .collect();
    if values.len() == items.len() {
        if values.is_empty() {
            return;
        }
        let width: usize = values.iter().map(|v| v.len() + 2).sum::<usize>() + key.len();
        if width < 90 {
            let v: Vec<&str> = values.iter().map(|v| v.as_str()).collect();
            let _ = writeln!(o, "{key} = [{}]", v.join(", "));
            return;
        }
    }
    if !items.iter().any(|e| matches!(e, Entry::Value(..))) {
        // Only comments: no key.
        for e in items {
            if let Entry::Comment(c) = e {
                let _ = writeln!(o, "{c}");
            }
        }
        return;
    }
    let _ = writeln!(o, "{key} = [");
    for e in items {
        match e {
            Entry::Value(v, c) => {
                let _ = writeln!(o, "  {v},{c}");
            }
            Entry::Comment(c) => {
                let _ = writeln!(o, "  {c}");
            }
        }
    }
    let _ = writeln!(o, "]");
}

/// A warning whose comment goes into a list.
fn warn_entry(ctx: &mut Ctx, items: &mut Vec<Entry>, line: usize, what: String) {
    let mut notes = Vec::new();
    ctx.warn(&mut notes, line, what);
    items.extend(notes.into_iter().map(Entry::Comment));
}

/// A warning whose comment goes straight into the output.
fn warn_here(ctx: &mut Ctx, o: &mut String, line: usize, what: String) {
    let mut notes = Vec::new();
    ctx.warn(&mut notes, line, what);
    for c in notes {
        let _ = writeln!(o, "{c}");
    }
}

fn frontend(
    o: &mut String,
    ctx: &mut Ctx,
    s: &Sec,
    backends: &Backends,
    own_backend: bool,
    from: &str,
) {
    let p = s.p;
    let mode = s.eff.mode();
    let _ = writeln!(o, "\n[[frontend]]{from}");
    let _ = writeln!(o, "name = {}", tq(&p.name));
    if let Some(d) = &p.description {
        let _ = writeln!(o, "# {}", one_line(d));
    }
    settings(o, s.src, FE, s.under);

    let mut binds = Vec::new();
    for b in &p.binds {
        let mut tls = String::new();
        if b.ssl {
            tls.push_str(" ssl");
            if let Some(c) = &b.crt {
                tls.push_str(" crt ");
                tls.push_str(&lex::requote(c));
            }
            if let Some(a) = &b.alpn {
                if mode == "http" {
                    tls.push_str(" alpn ");
                    tls.push_str(&lex::requote(a));
                } else {
                    warn_entry(
                        ctx,
                        &mut binds,
                        b.line,
                        format!(
                            "bind alpn {a}: xlb negotiates ALPN in http mode only; not translated"
                        ),
                    );
                }
            }
        }
        for a in &b.addrs {
            binds.push(Entry::Value(tq(&format!("{a}{tls}")), String::new()));
        }
    }
    array(o, "bind", &binds);

    // ACLs: a name with a line xlb cannot read is left out whole (its other
    // lines alone would make it match less).
    let mut read = Vec::new();
    let mut refused: HashMap<String, usize> = HashMap::new();
    for (line, w) in &p.acls {
        let text = join(w);
        let r = model::acl::acl_line(&text);
        if r.is_err() {
            refused
                .entry(w.first().cloned().unwrap_or_default())
                .or_insert(*line);
        }
        read.push((*line, text, r));
    }
    let mut acls = Vec::new();
    let mut defs: Vec<xlb_model::proxy::acl::AclDef> = Vec::new();
    for (line, text, r) in read {
        match r {
            Err((e, _)) => warn_entry(
                ctx,
                &mut acls,
                line,
                format!("acl {text}: {e}; not translated"),
            ),
            Ok((name, _)) if refused.get(&name).is_some_and(|l| *l != line) => {
                let first = refused[&name];
                warn_entry(
                    ctx,
                    &mut acls,
                    line,
                    format!("acl {text}: left out with acl {name}'s line {first}, which is not translated"),
                );
            }
            Ok((name, c)) => {
                match defs.iter_mut().find(|d| d.name == name) {
                    Some(d) => d.criteria.push(c),
                    None => defs.push(xlb_model::proxy::acl::AclDef {
                        name,
                        criteria: vec![c],
                    }),
                }
                acls.push(Entry::Value(tq(&text), String::new()));
            }
        }
    }
    array(o, "acl", &acls);

    let mut rules = Vec::new();
    for (line, w) in &p.use_backend {
        let text = join(w);
        let Some((target, cond)) = w.split_first() else {
            warn_entry(
                ctx,
                &mut rules,
                *line,
                "use_backend without a backend".into(),
            );
            continue;
        };
        let checked = reaches(backends, target, mode).and_then(|()| {
            if cond.is_empty() {
                return Ok(());
            }
            model::acl::condition(cond, &defs)
                .map(|_| ())
                .map_err(|(e, _)| {
                    let gone: Vec<&str> = cond
                        .iter()
                        .map(|c| c.trim_start_matches('!'))
                        .filter(|c| refused.contains_key(*c))
                        .collect();
                    if gone.is_empty() {
                        e
                    } else {
                        format!("acl {} is not translated", gone.join(", "))
                    }
                })
        });
        match checked {
            Ok(()) => rules.push(Entry::Value(tq(&text), String::new())),
            Err(why) => warn_entry(
                ctx,
                &mut rules,
                *line,
                format!("use_backend {text}: {why}; not translated"),
            ),
        }
    }
    array(o, "use_backend", &rules);

    let target = s
        .eff
        .default_backend
        .clone()
        .or_else(|| own_backend.then(|| p.name.clone()));
    if let Some(t) = target {
        match reaches(backends, &t, mode) {
            Ok(()) => {
                let _ = writeln!(o, "default_backend = {}", tq(&t));
            }
            Err(why) => warn_here(
                ctx,
                o,
                p.line,
                format!("default_backend {t}: {why}; not translated"),
            ),
        }
    }

    if let Some(d) = &s.eff.inspect_delay {
        let _ = writeln!(o, "tcp_request_inspect_delay = {d}");
    }
    if let Some(st) = &s.eff.stats {
        if st.auth.is_some() {
            let _ = writeln!(
                o,
                "# stats_uri = {}: left out, HAProxy asked for a password (stats auth) and xlb's page has none",
                tq(&st.uri())
            );
        } else if mode == "http" {
            let _ = writeln!(o, "stats_uri = {}", tq(&st.uri()));
        } else if p.own.stats.is_some() {
            warn_here(
                ctx,
                o,
                st.line,
                "stats: the status page needs mode http (HAProxy serves none in tcp mode either); not translated".into(),
            );
        }
    }
}

/// Whether a frontend of `mode` can send to backend `name` in xlb.
fn reaches(backends: &Backends, name: &str, mode: &str) -> Result<(), String> {
    if name.contains("%[") {
        return Err("a backend named at run time (a log-format expression)".into());
    }
    match backends.modes.get(name) {
        None => Err(format!("no backend {name} in the output")),
        Some(m) if m != mode => Err(format!(
            "backend {name} is mode {m} and this frontend mode {mode} (xlb does not upgrade tcp to http)"
        )),
        Some(_) => Ok(()),
    }
}

fn backend(
    o: &mut String,
    ctx: &mut Ctx,
    s: &Sec,
    client_ports: Option<&Option<BTreeSet<u16>>>,
    from: &str,
) {
    let p = s.p;
    let mode = s.eff.mode();
    let _ = writeln!(o, "\n[[backend]]{from}");
    let _ = writeln!(o, "name = {}", tq(&p.name));
    if p.kind == Kind::Backend {
        if let Some(d) = &p.description {
            let _ = writeln!(o, "# {}", one_line(d));
        }
    }
    let mut be = s.src.clone();
    if mode == "tcp" {
        // HTTP-only settings, which HAProxy ignores in tcp mode (warning
        // when the section sets them itself).
        let http_balance = be
            .balance
            .as_deref()
            .and_then(|b| model::balance(b).ok())
            .is_some_and(|b| b.needs_http());
        if http_balance {
            let b = be.balance.take().unwrap_or_default();
            let what = format!("balance {b}: reads HTTP requests, and this backend is mode tcp (HAProxy balances it roundrobin); not translated");
            if p.own.balance.is_some() {
                warn_here(ctx, o, p.line, what);
            } else {
                let _ = writeln!(o, "# {what}");
            }
        }
        if let Some(c) = be.cookie.take() {
            let what = format!("cookie {c}: HTTP only, and this backend is mode tcp (HAProxy ignores it); not translated");
            if p.own.cookie.is_some() {
                warn_here(ctx, o, p.line, what);
            } else {
                let _ = writeln!(o, "# {what}");
            }
        }
    }
    settings(o, &be, BE, s.under);
    let has_cookie = s.eff.cookie.is_some() && mode == "http";

    // default_server replaces the defaults' whole in xlb: written merged.
    // When a default-server line comes after a server (HAProxy applies it to
    // the servers after it only), each server gets its settings instead.
    if p.default_server_late {
        if s.under
            .is_some_and(|u| !u.default_server.fields().is_empty())
        {
            let _ = writeln!(
                o,
                "default_server = {{}}  # the servers below have their default-server settings written out"
            );
        }
    } else {
        let ds = match s.under {
            Some(_) if p.own.default_server.fields().is_empty() => Srv::default(),
            _ => s.base_ds.merged(&p.own.default_server),
        };
        let f = ds.fields();
        if !f.is_empty() {
            let _ = writeln!(o, "default_server = {{ {} }}", f.join(", "));
        }
    }

    let mut servers = Vec::new();
    for srv in &p.servers {
        servers.extend(srv.notes.iter().cloned().map(Entry::Comment));
        let ds = if p.default_server_late {
            s.base_ds.merged(&srv.defaults)
        } else {
            s.base_ds.merged(&p.own.default_server)
        };
        let all = ds.merged(&srv.opts);
        if let Some((true, line)) = all.ssl {
            warn_entry(
                ctx,
                &mut servers,
                srv.line,
                format!(
                    "server {}: ssl (line {line}): xlb connects to servers in clear text, which would send these requests unencrypted; the server is left out",
                    srv.name
                ),
            );
            continue;
        }
        let mut opts = if p.default_server_late {
            all
        } else {
            srv.opts.clone()
        };
        opts.ssl = None;
        if let Some(c) = opts.cookie.take() {
            if has_cookie {
                opts.cookie = Some(c);
            } else {
                warn_entry(
                    ctx,
                    &mut servers,
                    srv.line,
                    format!(
                        "server {} cookie {c}: the backend has no cookie persistence (HAProxy ignores it too); not translated",
                        srv.name
                    ),
                );
            }
        }
        let (address, comment) = server_address(ctx, &mut servers, srv, client_ports);
        let mut fields = vec![
            format!("name = {}", tq(&srv.name)),
            format!("address = {}", tq(&address)),
        ];
        fields.extend(opts.fields());
        servers.push(Entry::Value(
            format!("{{ {} }}", fields.join(", ")),
            comment,
        ));
    }
    if !servers.is_empty() {
        // One server per line, always.
        let _ = writeln!(o, "server = [");
        for e in &servers {
            match e {
                Entry::Value(v, c) => {
                    let _ = writeln!(o, "  {v},{c}");
                }
                Entry::Comment(c) => {
                    let _ = writeln!(o, "  {c}");
                }
            }
        }
        let _ = writeln!(o, "]");
    }
}

/// A server's address as xlb writes it, and a trailing comment.
fn server_address(
    ctx: &mut Ctx,
    items: &mut Vec<Entry>,
    s: &section::Server,
    client_ports: Option<&Option<BTreeSet<u16>>>,
) -> (String, String) {
    use addr::{Host, Port};
    let host = &s.addr.host;
    let mut comment = String::new();
    match host {
        Host::Name(h) => {
            warn_entry(
                ctx,
                items,
                s.line,
                format!(
                    "server {}: {h} is a host name, which HAProxy resolves when it starts and xlb does not: write its address (check-config refuses the name until then)",
                    s.name
                ),
            );
            comment = format!("  # {MARK}: write {h}'s address");
        }
        Host::Any { .. } => {
            warn_entry(
                ctx,
                items,
                s.line,
                format!(
                    "server {}: address {} means the client's destination address (transparent proxying), which xlb does not do: write the server's address (check-config refuses it until then)",
                    s.name,
                    host.bare()
                ),
            );
            comment = format!("  # {MARK}: write the server's address");
        }
        Host::Ip(_) => {}
    }
    let render = |port: u16| match host {
        Host::Any { v6: false } => format!("0.0.0.0:{port}"),
        h => h.with_port(port),
    };
    let offset = match s.addr.port {
        Port::One(p) if p > 0 => return (render(p), comment),
        Port::One(_) | Port::None => 0,
        Port::Offset(o) => o,
        Port::Range(a, b) => {
            warn_entry(
                ctx,
                items,
                s.line,
                format!(
                    "server {}: {a}-{b} is a range, not a port; write one (check-config refuses it until then)",
                    s.name
                ),
            );
            return (host.bare(), format!("  # {MARK}: write the port"));
        }
    };
    let what = if offset == 0 {
        "no port: HAProxy connects to the port the client reached".to_string()
    } else {
        format!("port {offset:+}: HAProxy connects to the port the client reached {offset:+}")
    };
    let ports: Option<Vec<u16>> = client_ports
        .and_then(Option::as_ref)
        .map(|p| p.iter().copied().collect());
    if let Some([p]) = ports.as_deref() {
        if let Ok(port @ 1..) = u16::try_from(i32::from(*p) + offset) {
            if comment.is_empty() {
                comment = format!("  # {what}; every frontend sending here listens on {p}");
            }
            return (render(port), comment);
        }
    }
    let known = match ports.as_deref() {
        Some(ps) if !ps.is_empty() => format!(
            "; its frontends listen on {}",
            ps.iter().map(u16::to_string).collect::<Vec<_>>().join(", ")
        ),
        _ => String::new(),
    };
    warn_entry(
        ctx,
        items,
        s.line,
        format!(
            "server {}: {what}{known}; xlb needs one: write ADDRESS:PORT (check-config refuses it until then)",
            s.name
        ),
    );
    (host.bare(), format!("  # {MARK}: write the port"))
}
