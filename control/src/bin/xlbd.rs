//! xlbd: the xlb director daemon. Runs the dataplane workers on the NICs the
//! config names and answers xlbctl on a unix socket.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use clap::Parser;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use xlb_control::api::access::SocketAccess;
use xlb_control::api::server::{ApiServer, Command, Limits};
use xlb_control::api::{Request, Response};
use xlb_control::cli::xlbd::Args;
use xlb_control::config::Config;
use xlb_control::daemon::{Daemon, OverrideOp};
use xlb_control::service::supervisor::Supervisor;
use xlb_control::service::{caps, log};

fn answer(r: Result<String, String>) -> Response {
    match r {
        Ok(m) => Response {
            message: Some(m),
            ..Response::ok()
        },
        Err(e) => Response::error(e),
    }
}

/// Whether this process may do what `cfg` asks: every missing capability
/// named with what needs it (an error for those xlbd cannot start
/// without), after raising the resource limits it can.
fn host_allows(cfg: &Config) -> bool {
    match caps::raise_nofile() {
        Ok(n) => tracing::debug!(open_files = n, "RLIMIT_NOFILE raised to its hard limit"),
        Err(e) => tracing::warn!(error = %e, "cannot raise RLIMIT_NOFILE"),
    }
    let memlock = caps::raise_memlock().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot read or raise RLIMIT_MEMLOCK");
        Some(0)
    });
    let effective = match caps::effective() {
        Ok(e) => e,
        Err(e) => {
            // No /proc: the kernel's own refusals will have to do.
            tracing::warn!(error = %e, "cannot read this process's capabilities");
            return true;
        }
    };
    let needs = caps::needs(cfg, caps::HostFacts::probe(memlock));
    let mut ok = true;
    for n in caps::missing(&needs, effective) {
        if n.required {
            log::stopping(&format!(
                "xlbd: missing capability {}: needed {}",
                n.cap.name, n.why
            ));
            ok = false;
        } else {
            tracing::warn!("missing capability {}: wanted {}", n.cap.name, n.why);
        }
    }
    if !ok {
        log::stopping(
            "help: run xlbd as root, or grant these capabilities (the systemd unit's \
             AmbientCapabilities=, docs/deploy.md)",
        );
    }
    ok
}

/// Start an HTTP endpoint when it is configured; an error names it and
/// its address.
fn endpoint<T>(
    what: &str,
    addr: Option<SocketAddr>,
    start: impl FnOnce(SocketAddr) -> std::io::Result<T>,
) -> Result<Option<T>, String> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let running = start(addr).map_err(|e| format!("cannot serve {what} on {addr}: {e}"))?;
    tracing::info!(%addr, "{what} on http://{addr}/");
    Ok(Some(running))
}

static STOP: AtomicBool = AtomicBool::new(false);
static HUP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    if sig == libc::SIGHUP {
        HUP.store(true, Ordering::Relaxed);
    } else {
        STOP.store(true, Ordering::Relaxed);
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Before any thread: it clears systemd's variables from the environment.
    let (mut supervisor, unusable) = Supervisor::from_env();
    let filter = std::env::var("RUST_LOG").unwrap_or(args.log.clone());
    log::init(args.log_format, &filter);
    if let Some(e) = unusable {
        tracing::warn!(error = %e, "not telling systemd anything (a Type=notify unit will time out waiting for READY)");
    }

    let loaded =
        Config::read(&args.config).and_then(|text| Ok((Config::parse(&args.config, &text)?, text)));
    let (mut cfg, text) = match loaded {
        Ok(c) => c,
        Err(e) => {
            log::stopping(&format!(
                "{e}\nxlbd: not started: the configuration has errors"
            ));
            return ExitCode::from(2);
        }
    };
    if let Some(s) = &args.socket {
        cfg.daemon.socket = s.clone();
    }
    if !host_allows(&cfg) {
        return ExitCode::from(1);
    }
    let socket = cfg.daemon.socket.clone();
    let configured_access = cfg.daemon.socket_access.clone();
    let (metrics, dashboard) = (cfg.daemon.metrics, cfg.daemon.dashboard);
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGHUP, on_signal as *const () as libc::sighandler_t);
    }
    let mut daemon = match Daemon::start(cfg, text) {
        Ok(d) => d,
        Err(e) => {
            log::stopping(&format!("xlbd: cannot start: {e}"));
            return ExitCode::from(1);
        }
    };
    daemon.set_socket_override(args.socket.clone());
    // Daemon::start checked the names (with their place in the file); a
    // user or group removed since then is still reported.
    let access = match SocketAccess::resolve(&configured_access) {
        Ok(a) => a,
        Err(e) => {
            for e in e {
                log::stopping(&format!("error: {}: {e}", args.config.display()));
            }
            daemon.shutdown();
            return ExitCode::from(2);
        }
    };
    let (commands, requests) = mpsc::channel::<Command>();
    let api = match ApiServer::start(
        &socket,
        access,
        Limits::default(),
        daemon.shared(),
        commands,
    ) {
        Ok(a) => a,
        Err(e) => {
            log::stopping(&format!("xlbd: cannot listen on {}: {e}", socket.display()));
            daemon.shutdown();
            return ExitCode::from(1);
        }
    };
    // Kept to the end of main: dropping them stops the endpoints.
    let endpoints = endpoint("Prometheus metrics", metrics, |addr| {
        xlb_control::metrics::start(addr, daemon.shared())
    })
    .and_then(|m| {
        let d = endpoint("the dashboard", dashboard, |addr| {
            let limits = xlb_control::web::Limits::default();
            xlb_control::dashboard::Dashboard::start(addr, limits, daemon.shared())
        })?;
        Ok((m, d))
    });
    let _endpoints = match endpoints {
        Ok(e) => e,
        Err(e) => {
            log::stopping(&format!("xlbd: {e}"));
            daemon.shutdown();
            return ExitCode::from(1);
        }
    };
    tracing::info!(socket = %socket.display(), "xlbd ready");
    supervisor.ready(&daemon.shared());
    let tick = Duration::from_millis(500);
    let mut next_tick = Instant::now() + tick;
    while !STOP.load(Ordering::Relaxed) {
        // Commands from the API are served as they come; signals and upkeep
        // at least every 100 ms.
        match requests.recv_timeout(Duration::from_millis(100)) {
            Ok(cmd) => {
                let resp = match cmd.request {
                    Request::Reload { path } => {
                        supervisor.reloading();
                        let r = daemon.reload(path.as_deref().map(Path::new));
                        supervisor.reloaded(&daemon.shared());
                        match r {
                            Ok(summary) => Response {
                                message: Some(summary),
                                ..Response::ok()
                            },
                            Err(e) => {
                                tracing::warn!(error = %e, "reload refused");
                                Response::error(e)
                            }
                        }
                    }
                    Request::SetWeight {
                        service,
                        real,
                        weight,
                    } => answer(daemon.override_real(&service, &real, OverrideOp::Weight(weight))),
                    Request::Drain { service, real } => {
                        answer(daemon.override_real(&service, &real, OverrideOp::Weight(0)))
                    }
                    Request::Disable { service, real } => {
                        answer(daemon.override_real(&service, &real, OverrideOp::Disable))
                    }
                    Request::Enable { service, real } => {
                        answer(daemon.override_real(&service, &real, OverrideOp::Enable))
                    }
                    Request::Edit { edit } => match daemon.edit(&edit) {
                        Ok((message, warning)) => Response {
                            message: Some(message),
                            warning,
                            ..Response::ok()
                        },
                        Err(e) => Response::error(e),
                    },
                    Request::Save => answer(Ok(daemon.save())),
                    Request::DrainDirector => answer(daemon.drain_director(true)),
                    Request::UndrainDirector => answer(daemon.drain_director(false)),
                    other => Response::error(format!("{other:?} is not a control-loop command")),
                };
                let _ = cmd.reply.send(resp);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if HUP.swap(false, Ordering::Relaxed) {
            // SIGHUP: reload the file the daemon was started with.
            supervisor.reloading();
            if let Err(e) = daemon.reload(None) {
                tracing::warn!(error = %e, "reload on SIGHUP refused");
            }
            supervisor.reloaded(&daemon.shared());
        }
        supervisor.turn(&daemon.shared());
        daemon.poll_checks();
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + tick;
            daemon.tick();
        }
    }
    tracing::info!("stopping");
    supervisor.stopping();
    drop(api);
    daemon.shutdown();
    ExitCode::SUCCESS
}
