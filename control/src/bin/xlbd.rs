//! xlbd: the xlb director daemon. Runs the dataplane workers on the NICs the
//! config names and answers xlbctl on a unix socket.

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use xlb_control::api::server::ApiServer;
use xlb_control::config::Config;
use xlb_control::daemon::Daemon;

#[derive(Parser)]
#[command(
    name = "xlbd",
    version,
    about = "xlb load-balancing director daemon (AF_XDP dataplane)"
)]
struct Args {
    /// Configuration file (TOML); see examples/ and docs/config.md.
    #[arg(long, short)]
    config: PathBuf,
    /// Unix socket for xlbctl, overriding [daemon] socket.
    #[arg(long)]
    socket: Option<PathBuf>,
    /// Log filter, e.g. info, debug, xlb_dataplane=debug (or RUST_LOG).
    #[arg(long, default_value = "info")]
    log: String,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn main() -> ExitCode {
    let args = Args::parse();
    let filter = std::env::var("RUST_LOG").unwrap_or(args.log.clone());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();

    let mut cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            eprintln!("xlbd: not started: the configuration has errors");
            return ExitCode::from(2);
        }
    };
    if let Some(s) = args.socket {
        cfg.daemon.socket = s;
    }
    let socket = cfg.daemon.socket.clone();
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let mut daemon = match Daemon::start(cfg) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("xlbd: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    let api = match ApiServer::start(&socket, daemon.shared()) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("xlbd: cannot listen on {}: {e}", socket.display());
            daemon.shutdown();
            return ExitCode::from(1);
        }
    };
    tracing::info!(socket = %socket.display(), "xlbd ready");
    let mut since_tick = Duration::ZERO;
    let step = Duration::from_millis(100);
    while !STOP.load(Ordering::Relaxed) {
        std::thread::sleep(step);
        since_tick += step;
        if since_tick >= Duration::from_millis(500) {
            since_tick = Duration::ZERO;
            daemon.tick();
        }
    }
    tracing::info!("stopping");
    drop(api);
    daemon.shutdown();
    ExitCode::SUCCESS
}
