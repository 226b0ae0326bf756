//! xlbctl's command line: its options and subcommands (the man page and
//! the shell completions are generated from these).

use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(name = "xlbctl", version, about = "Control and inspect a running xlbd")]
pub struct Args {
    /// xlbd's unix socket [default: $XLB_SOCKET, else --config's
    /// [daemon] socket, else /run/xlb/xlbd.sock].
    #[arg(long, global = true)]
    pub socket: Option<PathBuf>,
    /// The configuration xlbd runs with, to find its socket.
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

#[derive(Subcommand)]
pub enum Cmd {
    /// Validate a configuration file without starting anything; exits 2 on errors.
    CheckConfig { file: PathBuf },
    /// Reload the configuration (default: the file xlbd runs with) without
    /// dropping connections; on any error xlbd keeps the running one.
    Reload { file: Option<PathBuf> },
    /// Set a real server's weight at run time (kept across reloads while it
    /// exists; `enable` restores the configured one).
    SetWeight {
        service: String,
        real: String,
        weight: u32,
    },
    /// Weight 0: no new connections, existing ones continue.
    Drain { service: String, real: String },
    /// Withdraw every route this director announces ([announce]); it
    /// forwards what still reaches it. Until undrain-director or a restart.
    DrainDirector,
    /// Announce again the VIPs this director can serve.
    UndrainDirector,
    /// Take a real server out of scheduling; existing connections continue.
    Disable { service: String, real: String },
    /// Undo set-weight/drain/disable: configured weight, enabled.
    Enable { service: String, real: String },
    /// Translate a keepalived.conf or a haproxy.cfg (told apart by their
    /// content) to xlb TOML (stdout); warnings on stderr; docs/import.md.
    /// A keepalived value xlb cannot take is an error (exit 2, nothing
    /// written) unless --lenient.
    Import {
        file: PathBuf,
        /// Write a draft anyway: each value xlb cannot take becomes a
        /// warning and a placeholder (or is left out), marked XLB-IMPORT.
        #[arg(long)]
        lenient: bool,
    },
    /// Print an annotated example configuration (nat or dr) to start from.
    Example {
        #[arg(value_parser = ["nat", "dr"])]
        kind: String,
    },
    /// List connections, like `ipvsadm -Lnc` (filters combine).
    Conns {
        /// VIP:PORT or service name.
        #[arg(long)]
        service: Option<String>,
        /// Real server ADDR or ADDR:PORT.
        #[arg(long)]
        real: Option<String>,
        /// Client ADDR or ADDR:PORT.
        #[arg(long)]
        client: Option<String>,
        #[arg(long, default_value_t = 1000)]
        limit: usize,
        #[arg(long)]
        json: bool,
    },
    /// VRRP instances: state, effective and configured priority, master,
    /// adverts sent/received, errors by reason, last transition and why.
    Vrrp {
        /// Machine-readable output (the API's JSON).
        #[arg(long)]
        json: bool,
    },
    /// ipvsadm's own command line (-A -E -D -C -a -e -d -L -Z -S -R --set),
    /// e.g. `xlbctl ipvsadm -Ln --stats`; docs/ipvsadm.md.
    Ipvsadm {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The running configuration (the file's, with run-time changes) as
    /// TOML, as ipvsadm-save writes the rules.
    Save,
    /// Zero the listed counters (of one service: VIP:PORT[/PROTO] or
    /// fwmark N), as `ipvsadm -Z`; metrics keep counting.
    Zero { service: Option<String> },
    /// A live view: per service rates, connections, real servers' health and
    /// drops, redrawn every second; q, Esc or Ctrl-C quits.
    Top {
        /// Print one frame and exit (also when stdout is not a terminal).
        #[arg(long)]
        once: bool,
    },
    /// List virtual services and real servers, like `ipvsadm -Ln`
    /// (`xlbctl ipvsadm -Ln` prints ipvsadm's exact format).
    Show {
        /// Numeric addresses, as ipvsadm's -n (xlb never looks names up).
        #[arg(short = 'n', long)]
        numeric: bool,
        /// Traffic counters (connections, packets, bytes), like `ipvsadm -Ln --stats`.
        #[arg(long, conflicts_with = "rate")]
        stats: bool,
        /// Per-second rates over the last 2 s, like `ipvsadm -Ln --rate`.
        #[arg(long)]
        rate: bool,
        /// Dataplane worker counters and drops by reason.
        #[arg(long)]
        workers: bool,
        /// Connection sync with the other director: peers, sent, received,
        /// installed, dropped by reason.
        #[arg(long)]
        sync: bool,
        /// Route announcement: BIRD, the drain, each VIP announced or
        /// withdrawn and why.
        #[arg(long, conflicts_with = "sync")]
        announce: bool,
        /// Machine-readable output (the API's JSON).
        #[arg(long)]
        json: bool,
    },
}
