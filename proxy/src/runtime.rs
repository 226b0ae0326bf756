//! The proxy's runtime: its own tokio threads, the listeners, and the plan
//! (frontends and backends) sessions read. The control thread drives it
//! through [`Proxy`]: start, reload, status, operator changes, shutdown.
//!
//! A reload builds the new plan beside the running one (a certificate that
//! does not load, an address that does not bind: the running one stays),
//! then swaps it in: listeners of kept addresses stay open and serve the
//! new frontends; sessions in flight finish on what they started with.

use crate::backend::{Admin, Backend};
use crate::check;
use crate::frontend::Frontend;
use crate::listener;
use crate::log::{Entry, Sink};
use crate::status::{BackendStatus, FrontendStatus, ProxyStatus, ServerStatus};
use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use xlb_model::proxy::{Mode, ProxySettings};

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("{0}")]
    Frontend(#[from] crate::frontend::FrontendError),
    #[error("frontend {frontend}: cannot bind {addr}: {source}")]
    Bind {
        frontend: String,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("frontend {frontend}: cannot open its log: {source}")]
    Log {
        frontend: String,
        source: std::io::Error,
    },
    #[error("cannot start the proxy's threads: {0}")]
    Runtime(std::io::Error),
}

/// What sessions read: the plan in force and the global connection limit.
pub struct Shared {
    plan: ArcSwap<Plan>,
    /// `[proxy] maxconn` over all frontends.
    global: Arc<Semaphore>,
}

impl Shared {
    /// Whether `fe`'s sessions are logged (what only a log needs is not
    /// built otherwise).
    pub fn logs(&self, fe: &Frontend) -> bool {
        self.plan.load().sinks.contains_key(&fe.def.name)
    }

    pub fn log(&self, fe: &Frontend, e: &Entry) {
        let plan = self.plan.load();
        if let Some(sink) = plan.sinks.get(&fe.def.name) {
            sink.send(&e.line(fe.def.log_format, fe.def.mode == Mode::Http));
        }
    }
}

struct Plan {
    frontends: Vec<Arc<Frontend>>,
    backends: Vec<Arc<Backend>>,
    sinks: HashMap<String, Arc<Sink>>,
}

/// A bound address, and the frontend its connections go to (swapped by
/// reloads).
struct Listening {
    frontend: Arc<ArcSwap<Frontend>>,
    task: JoinHandle<()>,
}

pub struct Proxy {
    rt: Option<tokio::runtime::Runtime>,
    shared: Arc<Shared>,
    listeners: HashMap<SocketAddr, Listening>,
    /// Health-check tasks per backend name.
    checks: HashMap<String, Vec<JoinHandle<()>>>,
    settings: ProxySettings,
    /// The global connection limit in force.
    maxconn: u32,
}

/// HAProxy's global maxconn when none is given: from the open-files limit
/// (each proxied connection takes two descriptors), capped.
fn default_maxconn() -> u32 {
    let mut lim = libc_rlimit_nofile();
    if lim == 0 {
        lim = 1024;
    }
    ((lim.saturating_sub(100)) / 2).clamp(100, 1_000_000) as u32
}

fn libc_rlimit_nofile() -> u64 {
    // /proc/self/limits is the one source that needs no libc binding.
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).map(str::to_string))
        })
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024)
}

impl Proxy {
    pub fn start(settings: &ProxySettings) -> Result<Proxy, ProxyError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(settings.threads.max(1))
            .thread_name("xlb-proxy")
            .enable_all()
            .build()
            .map_err(ProxyError::Runtime)?;
        let maxconn = if settings.maxconn > 0 {
            settings.maxconn
        } else {
            default_maxconn()
        };
        let plan = build(settings, None, maxconn)?;
        let shared = Arc::new(Shared {
            plan: ArcSwap::from_pointee(plan),
            global: Arc::new(Semaphore::new(maxconn as usize)),
        });
        let mut p = Proxy {
            rt: Some(rt),
            shared,
            listeners: HashMap::new(),
            checks: HashMap::new(),
            settings: settings.clone(),
            maxconn,
        };
        let bound = p.bind_missing(&p.shared.plan.load())?;
        p.open(bound);
        let backends = p.shared.plan.load().backends.clone();
        for b in backends {
            p.start_checks(&b);
        }
        Ok(p)
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.rt.as_ref().expect("running until shutdown").handle()
    }

    /// Bind the addresses of `plan` that have no listener yet; all or
    /// nothing.
    fn bind_missing(
        &self,
        plan: &Plan,
    ) -> Result<Vec<(SocketAddr, std::net::TcpListener)>, ProxyError> {
        let mut out = Vec::new();
        for fe in &plan.frontends {
            for b in &fe.def.binds {
                if self.listeners.contains_key(&b.addr) {
                    continue;
                }
                let l = listener::bind(b.addr).map_err(|source| ProxyError::Bind {
                    frontend: fe.def.name.clone(),
                    addr: b.addr,
                    source,
                })?;
                out.push((b.addr, l));
            }
        }
        Ok(out)
    }

    /// Start accepting on freshly bound sockets, and point every listener
    /// at the frontend that binds its address now.
    fn open(&mut self, bound: Vec<(SocketAddr, std::net::TcpListener)>) {
        let plan = self.shared.plan.load_full();
        let owner = |addr: SocketAddr| {
            plan.frontends
                .iter()
                .find(|f| f.def.binds.iter().any(|b| b.addr == addr))
                .cloned()
        };
        for (addr, l) in &self.listeners {
            if let Some(fe) = owner(*addr) {
                l.frontend.store(fe);
            }
        }
        for (addr, l) in bound {
            let Some(fe) = owner(addr) else { continue };
            let frontend = Arc::new(ArcSwap::new(fe));
            let shared = self.shared.clone();
            let current = frontend.clone();
            let task = {
                let _enter = self.handle().enter();
                match TcpListener::from_std(l) {
                    Ok(l) => self.handle().spawn(accept_loop(shared, current, l, addr)),
                    Err(e) => {
                        tracing::error!(%addr, error = %e, "cannot listen");
                        continue;
                    }
                }
            };
            self.listeners.insert(addr, Listening { frontend, task });
        }
    }

    fn start_checks(&mut self, b: &Arc<Backend>) {
        let _enter = self.handle().enter();
        let tasks = check::start(b);
        if let Some(old) = self.checks.insert(b.def.name.clone(), tasks) {
            for t in old {
                t.abort();
            }
        }
    }

    /// Swap in `settings`; on any error the running proxy is unchanged.
    pub fn reload(&mut self, settings: &ProxySettings) -> Result<String, ProxyError> {
        let prepared = self.prepare(settings)?;
        Ok(self.commit(prepared))
    }

    /// The first half of a reload: everything that can fail (certificates,
    /// logs, binding new addresses), with nothing changed yet. Dropping
    /// the result abandons the reload.
    pub fn prepare(&self, settings: &ProxySettings) -> Result<Prepared, ProxyError> {
        let old = self.shared.plan.load_full();
        let maxconn = if settings.maxconn > 0 {
            settings.maxconn
        } else {
            default_maxconn()
        };
        let plan = build(settings, Some(&old), maxconn)?;
        let bound = self.bind_missing(&plan)?;
        Ok(Prepared {
            plan,
            bound,
            maxconn,
            settings: settings.clone(),
        })
    }

    /// The second half: swap the prepared plan in. Cannot fail.
    pub fn commit(&mut self, p: Prepared) -> String {
        let old = self.shared.plan.swap(Arc::new(p.plan));
        self.open(p.bound);
        let plan = self.shared.plan.load_full();
        // Addresses no frontend binds any more stop accepting; their
        // sessions run on.
        let wanted: Vec<SocketAddr> = plan
            .frontends
            .iter()
            .flat_map(|f| f.def.binds.iter().map(|b| b.addr))
            .collect();
        self.listeners.retain(|addr, l| {
            let keep = wanted.contains(addr);
            if !keep {
                l.task.abort();
            }
            keep
        });
        // Checks follow their backends: kept ones run on, others restart.
        for b in &plan.backends {
            let same = old.backends.iter().any(|o| Arc::ptr_eq(o, b));
            if !same {
                self.start_checks(b);
            }
        }
        let names: Vec<&str> = plan.backends.iter().map(|b| b.def.name.as_str()).collect();
        self.checks.retain(|name, tasks| {
            let keep = names.contains(&name.as_str());
            if !keep {
                for t in tasks.iter() {
                    t.abort();
                }
            }
            keep
        });
        // The global limit follows the file: permits added, or taken back
        // as connections end.
        let maxconn = p.maxconn;
        if maxconn > self.maxconn {
            self.shared
                .global
                .add_permits((maxconn - self.maxconn) as usize);
        } else if maxconn < self.maxconn {
            let cut = (self.maxconn - maxconn) as usize;
            let forgotten = self.shared.global.forget_permits(cut);
            if forgotten < cut {
                tracing::info!(
                    "proxy maxconn lowered to {maxconn} while {} more are open: \
                     the lower limit takes full effect at the next restart",
                    cut - forgotten
                );
            }
        }
        self.maxconn = maxconn;
        let summary = summary(&self.settings, &p.settings);
        self.settings = p.settings;
        summary
    }

    /// What the API and metrics threads read: a handle on the plan.
    pub fn view(&self) -> ProxyView {
        ProxyView(self.shared.clone())
    }

    pub fn status(&self) -> ProxyStatus {
        self.shared.status()
    }
}

impl Shared {
    pub fn status(&self) -> ProxyStatus {
        let plan = self.plan.load();
        let frontends = plan
            .frontends
            .iter()
            .map(|f| FrontendStatus {
                name: f.def.name.clone(),
                mode: f.def.mode.name().into(),
                binds: f.def.binds.iter().map(|b| b.addr.to_string()).collect(),
                maxconn: f.maxconn,
                counters: f.counters.read(),
            })
            .collect();
        let backends = plan.backends.iter().map(|b| backend_status(b)).collect();
        ProxyStatus {
            frontends,
            backends,
        }
    }
}

/// The status side of a running proxy, for threads other than the control
/// thread (the API, metrics).
#[derive(Clone)]
pub struct ProxyView(Arc<Shared>);

impl ProxyView {
    pub fn status(&self) -> ProxyStatus {
        self.0.status()
    }
}

/// A reload's prepared half (see [`Proxy::prepare`]).
pub struct Prepared {
    plan: Plan,
    bound: Vec<(SocketAddr, std::net::TcpListener)>,
    maxconn: u32,
    settings: ProxySettings,
}

impl Proxy {
    /// An operator's change to a server: `backend` and `server` by name.
    pub fn server_op(&self, backend: &str, server: &str, op: ServerOp) -> Result<String, String> {
        let plan = self.shared.plan.load();
        let Some(b) = plan.backends.iter().find(|b| b.def.name == backend) else {
            return Err(format!("no backend {backend:?}"));
        };
        let Some(i) = b.def.servers.iter().position(|s| s.name == server) else {
            let names: Vec<&str> = b.def.servers.iter().map(|s| s.name.as_str()).collect();
            return Err(format!(
                "backend {backend} has no server {server:?}; it has: {}",
                names.join(", ")
            ));
        };
        let configured = b.def.servers[i].weight;
        let (before, after) = b.set_admin(i, |a: &mut Admin| match op {
            ServerOp::Weight(w) => a.weight = w,
            ServerOp::Disable => a.maint = true,
            ServerOp::Enable => {
                a.maint = false;
                a.weight = configured;
            }
        });
        tracing::info!(
            "server {backend}/{server}: weight {} -> {}, {} -> {}",
            before.weight,
            after.weight,
            if before.maint { "MAINT" } else { "READY" },
            if after.maint { "MAINT" } else { "READY" }
        );
        Ok(format!(
            "{backend}/{server}: weight {}{}",
            after.weight,
            if after.maint { ", in maintenance" } else { "" }
        ))
    }

    /// Stop accepting, give sessions a moment, stop the threads.
    pub fn shutdown(mut self) {
        for l in self.listeners.values() {
            l.task.abort();
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_timeout(Duration::from_secs(1));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerOp {
    /// 0 drains.
    Weight(u32),
    Disable,
    /// Back to the configured weight, out of maintenance.
    Enable,
}

fn backend_status(b: &Backend) -> BackendStatus {
    let states = b.states();
    let (loads, queued) = b.loads();
    let servers: Vec<ServerStatus> = b
        .def
        .servers
        .iter()
        .enumerate()
        .map(|(i, s)| ServerStatus {
            name: s.name.clone(),
            address: s.addr.to_string(),
            status: states[i].words(),
            weight: states[i].admin.weight,
            configured_weight: s.weight,
            backup: s.backup,
            check: states[i].check_status.clone(),
            served: loads[i].0,
            queued: loads[i].1,
            maxconn: s.maxconn,
            since_secs: states[i].since.elapsed().as_secs(),
            counters: b.server_counters[i].read(),
        })
        .collect();
    let usable = |backup: bool| {
        b.def
            .servers
            .iter()
            .zip(&states)
            .filter(|(s, st)| s.backup == backup && st.usable())
            .count()
    };
    BackendStatus {
        name: b.def.name.clone(),
        mode: b.def.mode.name().into(),
        balance: b.def.balance.to_string(),
        active: usable(false),
        backups: usable(true),
        queued,
        queue_max: b.queue_max.load(Relaxed),
        queue_timeouts: b.queue_timeouts.load(Relaxed),
        counters: b.counters.read(),
        servers,
    }
}

/// Build a plan; `old`: the running one, whose unchanged backends are
/// kept as they are (their checks, queues and slots run on) and whose
/// servers lend their state to the same servers of changed backends.
fn build(settings: &ProxySettings, old: Option<&Plan>, maxconn: u32) -> Result<Plan, ProxyError> {
    let mut by_name: HashMap<String, Arc<Backend>> = HashMap::new();
    let mut backends = Vec::new();
    for def in &settings.backends {
        let prev = old.and_then(|p| p.backends.iter().find(|b| b.def.name == def.name));
        let b = match prev {
            Some(p) if p.def == *def => p.clone(),
            _ => Arc::new(Backend::new(def.clone(), prev.map(|p| p.as_ref()))),
        };
        by_name.insert(def.name.clone(), b.clone());
        backends.push(b);
    }
    let mut frontends = Vec::new();
    let mut sinks = HashMap::new();
    for def in &settings.frontends {
        let prev = old.and_then(|p| p.frontends.iter().find(|f| f.def.name == def.name));
        let fe = Frontend::new(def.clone(), &by_name, maxconn, prev.map(|p| p.as_ref()))?;
        if let Some(t) = &def.log {
            let sink = Sink::new(t).map_err(|source| ProxyError::Log {
                frontend: def.name.clone(),
                source,
            })?;
            sinks.insert(def.name.clone(), Arc::new(sink));
        }
        frontends.push(Arc::new(fe));
    }
    Ok(Plan {
        frontends,
        backends,
        sinks,
    })
}

/// One line on what a reload changed in the proxy.
fn summary(old: &ProxySettings, new: &ProxySettings) -> String {
    let count = |a: Vec<&str>, b: Vec<&str>| {
        let added = b.iter().filter(|n| !a.contains(n)).count();
        let removed = a.iter().filter(|n| !b.contains(n)).count();
        (added, removed)
    };
    let fe = count(
        old.frontends.iter().map(|f| f.name.as_str()).collect(),
        new.frontends.iter().map(|f| f.name.as_str()).collect(),
    );
    let be = count(
        old.backends.iter().map(|b| b.name.as_str()).collect(),
        new.backends.iter().map(|b| b.name.as_str()).collect(),
    );
    let changed = new
        .backends
        .iter()
        .filter(|b| old.backends.iter().any(|o| o.name == b.name && o != *b))
        .count();
    format!(
        "proxy: {} frontend{} ({} added, {} removed), {} backend{} ({} added, {} removed, {} changed)",
        new.frontends.len(),
        if new.frontends.len() == 1 { "" } else { "s" },
        fe.0,
        fe.1,
        new.backends.len(),
        if new.backends.len() == 1 { "" } else { "s" },
        be.0,
        be.1,
        changed
    )
}

async fn accept_loop(
    shared: Arc<Shared>,
    current: Arc<ArcSwap<Frontend>>,
    l: TcpListener,
    addr: SocketAddr,
) {
    loop {
        // Both limits before accepting: at maxconn new connections wait in
        // the kernel's queue, as HAProxy leaves them.
        let fe_slots = current.load().slots.clone();
        let Ok(fe_permit) = fe_slots.acquire_owned().await else {
            return;
        };
        let Ok(global_permit) = shared.global.clone().acquire_owned().await else {
            return;
        };
        let (sock, peer) = match l.accept().await {
            Ok(x) => x,
            Err(e) => {
                // Out of descriptors or the like: back off, do not spin.
                tracing::warn!(%addr, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = sock.set_nodelay(true);
        let fe = current.load_full();
        let shared = shared.clone();
        let open = Open::new(fe_permit, global_permit, &fe);
        if fe.def.mode == Mode::Http && !fe.tls.contains_key(&addr) {
            // Plain HTTP, the common case, in one future: the task is the
            // HTTP loop itself, without the layers that pick TLS and mode
            // (each holding its own copy of the arguments: 520 bytes per
            // connection, most of an idle connection's memory then).
            let local = sock.local_addr().unwrap_or(addr);
            tokio::spawn(crate::http::serve(
                shared, fe, sock, peer, local, false, open,
            ));
        } else {
            tokio::spawn(async move {
                let _open = open;
                session(shared, fe, sock, peer, addr).await;
            });
        }
    }
}

/// A session's hold on its frontend: the permits of both `maxconn`s and
/// the frontend's session count, released when the session's task ends
/// (or is dropped with the runtime). The permits are kept as their
/// semaphores (8 bytes each, where a permit is 16): every idle keep-alive
/// connection's task holds one.
struct Open {
    frontend_slots: Arc<Semaphore>,
    global_slots: Arc<Semaphore>,
    counters: Arc<crate::counters::Counters>,
}

impl Open {
    fn new(fe: OwnedSemaphorePermit, global: OwnedSemaphorePermit, frontend: &Frontend) -> Self {
        frontend.counters.started();
        let open = Open {
            frontend_slots: fe.semaphore().clone(),
            global_slots: global.semaphore().clone(),
            counters: frontend.counters.clone(),
        };
        // Given back in `drop`.
        fe.forget();
        global.forget();
        open
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.frontend_slots.add_permits(1);
        self.global_slots.add_permits(1);
        self.counters.finished();
    }
}

async fn session(
    shared: Arc<Shared>,
    fe: Arc<Frontend>,
    sock: tokio::net::TcpStream,
    peer: SocketAddr,
    bind: SocketAddr,
) {
    let local = sock.local_addr().unwrap_or(bind);
    // The TLS branch boxed: an idle plain connection's task is then small,
    // not as large as a TLS handshake's state.
    match fe.tls.get(&bind).cloned() {
        Some(acceptor) => Box::pin(tls_session(shared, fe, acceptor, sock, peer, local)).await,
        None => dispatch(shared, fe, sock, peer, local, false).await,
    }
}

async fn tls_session(
    shared: Arc<Shared>,
    fe: Arc<Frontend>,
    acceptor: tokio_rustls::TlsAcceptor,
    sock: tokio::net::TcpStream,
    peer: SocketAddr,
    local: SocketAddr,
) {
    // The handshake is part of receiving the request: bounded by the
    // request's timeout, else the client's.
    let limit = fe
        .def
        .timeouts
        .request_headers()
        .unwrap_or(Duration::from_secs(60));
    let tls = match tokio::time::timeout(limit, acceptor.accept(sock)).await {
        Ok(Ok(s)) => s,
        _ => {
            fe.counters.request_errors.fetch_add(1, Relaxed);
            return;
        }
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    if h2 && fe.def.mode == Mode::Http {
        Box::pin(crate::http::serve_h2(shared, fe, tls, peer, local)).await
    } else {
        dispatch(shared, fe, tls, peer, local, true).await
    }
}

async fn dispatch<C>(
    shared: Arc<Shared>,
    fe: Arc<Frontend>,
    client: C,
    peer: SocketAddr,
    local: SocketAddr,
    tls: bool,
) where
    C: crate::http::ClientIo,
{
    // Boxed, each mode: a connection's task is as large as its own mode's
    // state, not as the larger of the two.
    match fe.def.mode {
        Mode::Tcp => Box::pin(crate::tcp::serve(shared, fe, client, peer, local, tls)).await,
        Mode::Http => Box::pin(crate::http::serve(shared, fe, client, peer, local, tls, ())).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlb_model::proxy::{BindDef, FrontendDef, Mode, ProxySettings};

    /// tokio allocates a task as one 128-byte-aligned cell: header (32
    /// bytes), the future with its scheduler handle, id and stage (16 + 8
    /// bytes), trailer (48). A plain HTTP connection's future of at most
    /// 408 bytes makes a 512-byte cell; 8 bytes more and every idle
    /// keep-alive connection's task is 640 (the proxy measured 1165 bytes
    /// per idle connection at 640, against HAProxy's 1152).
    #[tokio::test]
    async fn an_idle_http_connections_task_fits_a_512_byte_cell() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let settings = ProxySettings {
            threads: 1,
            frontends: vec![FrontendDef {
                name: "f".into(),
                mode: Mode::Http,
                binds: vec![BindDef { addr, tls: None }],
                maxconn: 10,
                acls: vec![],
                use_backend: vec![],
                default_backend: None,
                timeouts: Default::default(),
                log: None,
                log_format: Default::default(),
                dontlognull: false,
                forwardfor: false,
                stats_uri: None,
                inspect_delay: None,
            }],
            ..Default::default()
        };
        let plan = build(&settings, None, 100).unwrap();
        let fe = plan.frontends[0].clone();
        let shared = Arc::new(Shared {
            plan: ArcSwap::from_pointee(plan),
            global: Arc::new(Semaphore::new(100)),
        });
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (sock, peer) = l.accept().await.unwrap();
        let fe_permit = fe.slots.clone().acquire_owned().await.unwrap();
        let global_permit = shared.global.clone().acquire_owned().await.unwrap();
        let open = Open::new(fe_permit, global_permit, &fe);
        let task = crate::http::serve(shared.clone(), fe.clone(), sock, peer, addr, false, open);
        let size = std::mem::size_of_val(&task);
        assert!(
            size <= 408,
            "the connection's future is {size} bytes (at most 408)"
        );
        // Dropping the task gives its permits back.
        drop(task);
        drop(client);
        assert_eq!(shared.global.available_permits(), 100);
        assert_eq!(fe.slots.available_permits(), 10);
    }
}
