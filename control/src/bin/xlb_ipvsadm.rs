//! xlb-ipvsadm: ipvsadm's command line against a running xlbd (the same as
//! `xlbctl ipvsadm`); link or alias it as `ipvsadm` for scripts that call
//! ipvsadm by name. The socket is $XLB_SOCKET, else /run/xlb/xlbd.sock.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let socket = std::env::var_os("XLB_SOCKET")
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(xlb_control::config::DEFAULT_SOCKET));
    ExitCode::from(xlb_control::ipvsadm::run(&args, &socket))
}
