//! xlbd's command line (its man page is generated from it).

use crate::service::log::LogFormat;
use clap::Parser;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "xlbd",
    version,
    about = "xlb load-balancing director daemon (AF_XDP dataplane)"
)]
pub struct Args {
    /// Configuration file (TOML); see examples/ and docs/config.md.
    #[arg(long, short)]
    pub config: PathBuf,
    /// Unix socket for xlbctl, overriding [daemon] socket.
    #[arg(long)]
    pub socket: Option<PathBuf>,
    /// Log filter, e.g. info, debug, xlb_dataplane=debug (or RUST_LOG).
    #[arg(long, default_value = "info")]
    pub log: String,
    /// Log lines as plain text (journald-friendly under systemd) or JSON.
    #[arg(long, value_enum, default_value = "plain")]
    pub log_format: LogFormat,
}
