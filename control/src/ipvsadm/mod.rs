//! `xlbctl ipvsadm ARGS...` (and `xlb-ipvsadm ARGS...`): ipvsadm's own
//! command line against a running xlbd, so an operator's habits and
//! scripts keep working. Changes follow ipvsadm's model: they act on the
//! running services at once and last until the next reload, which reads
//! the file again (`xlbctl save` writes the running configuration out, as
//! `ipvsadm-save` does). docs/ipvsadm.md lists every option.

pub mod parse;
pub mod render;

use crate::api::{client, ConnFilter, Request, Response};
use parse::{Action, Fail};
use std::io::BufRead;
use std::path::Path;

const USAGE: &str = "\
xlb-ipvsadm: ipvsadm's command line for xlbd (docs/ipvsadm.md)
Usage:
  ipvsadm -A|E -t|u|f service-address [-s scheduler] [-p [timeout]] [-M netmask]
  ipvsadm -D -t|u|f service-address
  ipvsadm -C
  ipvsadm -R
  ipvsadm -S [-n]
  ipvsadm -a|e -t|u|f service-address -r server-address [-g|m|i] [-w weight] [-x upper] [-y lower]
  ipvsadm -d -t|u|f service-address -r server-address
  ipvsadm -L|l [-n] [-c] [--stats|--rate|--thresholds|--persistent-conn] [--exact] [--timeout]
              [-t|u|f service-address] [--nosort]
  ipvsadm -Z [-t|u|f service-address]
  ipvsadm --set tcp tcpfin udp
  ipvsadm -h
Changes last until xlbd reloads its file; `xlbctl save` writes them out.
The socket is $XLB_SOCKET, else /run/xlb/xlbd.sock.
";

/// Run one ipvsadm command line; returns the exit status ipvsadm would.
pub fn run(args: &[String], socket: &Path) -> u8 {
    let action = match parse::parse(args) {
        Ok(a) => a,
        Err(Fail { message, status }) => {
            eprintln!("{message}");
            return status;
        }
    };
    match action {
        Action::Help => {
            print!("{USAGE}");
            0
        }
        Action::Version => {
            println!(
                "ipvsadm v1.31 2019/12/24 (compatible; xlb {})",
                env!("CARGO_PKG_VERSION")
            );
            0
        }
        Action::Restore => restore(socket),
        other => execute(other, socket),
    }
}

fn ask(socket: &Path, req: &Request) -> Result<Response, (String, u8)> {
    match client::call(socket, req) {
        Ok(r) if r.ok => Ok(r),
        // ipvsadm exits 255 when the kernel refuses an operation.
        Ok(r) => Err((r.error.unwrap_or_default(), 255)),
        Err(e) => Err((e, 2)),
    }
}

fn execute(action: Action, socket: &Path) -> u8 {
    let out = match action {
        Action::Edit(edit) => ask(socket, &Request::Edit { edit }).map(|r| {
            // ipvsadm is silent on success; a caution goes to stderr.
            if let Some(w) = r.warning {
                eprintln!("warning: {w}");
            }
            String::new()
        }),
        Action::Zero(service) => ask(socket, &Request::Zero { service }).map(|_| String::new()),
        Action::Save => ask(socket, &Request::Show).map(|r| {
            render::save(
                &r.status
                    .unwrap_or_else(|| unreachable!("show has a status")),
            )
        }),
        Action::List(spec) if spec.connections => {
            let filter = ConnFilter {
                service: spec
                    .service
                    .and_then(|k| k.address())
                    .map(|(a, p, _)| xlb_model::addr::endpoint(a, p)),
                limit: Some(usize::MAX),
                ..Default::default()
            };
            ask(socket, &Request::Conns { filter })
                .map(|r| render::connections(&r.conns.unwrap_or_default()))
        }
        Action::List(spec) => ask(socket, &Request::Show).map(|r| {
            render::list(
                &r.status
                    .unwrap_or_else(|| unreachable!("show has a status")),
                &spec,
            )
        }),
        Action::Help | Action::Version | Action::Restore => unreachable!("handled by run"),
    };
    match out {
        Ok(text) => {
            print!("{text}");
            0
        }
        Err((message, status)) => {
            eprintln!("{message}");
            status
        }
    }
}

/// `ipvsadm -R`: one command per line of standard input (the word
/// `ipvsadm` dropped), as `ipvsadm-restore` feeds it. A line that does not
/// parse stops the restore (exit 2); a refused one does not.
fn restore(socket: &Path) -> u8 {
    let mut last = 0;
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let args: Vec<String> = line
            .split_whitespace()
            .filter(|w| *w != "ipvsadm")
            .map(String::from)
            .collect();
        if args.is_empty() {
            continue;
        }
        match parse::parse(&args) {
            Ok(Action::Restore) => {}
            Ok(a) => last = execute(a, socket),
            Err(Fail { message, .. }) => {
                eprintln!("{message}");
                return 2;
            }
        }
    }
    last
}
