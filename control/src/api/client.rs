//! xlbctl's side of the API.

use super::{Request, Response};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

pub fn call(socket: &Path, req: &Request) -> Result<Response, String> {
    let mut s = UnixStream::connect(socket).map_err(|e| {
        format!(
            "cannot reach xlbd at {}: {e}\n  help: is xlbd running? name its socket with \
             --socket PATH or XLB_SOCKET=PATH",
            socket.display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut line = serde_json::to_string(req).expect("requests serialize");
    line.push('\n');
    s.write_all(line.as_bytes())
        .map_err(|e| format!("sending to xlbd: {e}"))?;
    let mut answer = String::new();
    BufReader::new(s)
        .read_line(&mut answer)
        .map_err(|e| format!("reading xlbd's answer: {e}"))?;
    serde_json::from_str(&answer)
        .map_err(|e| format!("xlbd sent an answer xlbctl cannot read: {e}"))
}
