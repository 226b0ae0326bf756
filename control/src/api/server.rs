//! The API listener: a thread on the unix socket answering one JSON request
//! per line. It reads the daemon's state through lock-free handles only, so
//! a slow client never delays forwarding or the control loop.

use super::{Request, Response, Status};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};

/// Something that can describe the daemon's state at any moment.
pub trait StatusSource: Send + Sync + 'static {
    /// Counters since the daemon started (metrics: they never go back).
    fn status(&self) -> Status;
    /// Counters since the last `zero` (listings, as ipvsadm's).
    fn listing(&self) -> Status {
        self.status()
    }
    /// Zero the listings' counters of one service (and its real servers)
    /// or of all, as `ipvsadm -Z`; says what it zeroed.
    fn zero(&self, service: Option<&xlb_model::ServiceKey>) -> Result<String, String>;
    /// Matching connections (at most `filter.limit`) and how many more matched.
    /// An unknown service in the filter is an error listing the services.
    fn conns(&self, filter: &super::ConnFilter) -> Result<(Vec<super::ConnStatus>, usize), String>;
    fn vrrp(&self) -> Vec<crate::ha::InstanceStatus>;
}

/// A request the control loop must carry out (it owns the mutable state);
/// the answer comes back on `reply`.
pub struct Command {
    pub request: Request,
    pub reply: mpsc::Sender<Response>,
}

pub struct ApiServer {
    path: PathBuf,
}

impl ApiServer {
    /// Bind the socket (parent directory 0700, socket 0600) and serve on a
    /// thread. A stale socket file from a dead daemon is replaced; a live
    /// daemon's is not.
    pub fn start(
        path: &Path,
        source: Arc<dyn StatusSource>,
        commands: mpsc::Sender<Command>,
    ) -> std::io::Result<ApiServer> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir)?;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!(
                        "another xlbd answers on {}; stop it or use --socket",
                        path.display()
                    ),
                ));
            }
            std::fs::remove_file(path)?;
        }
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        std::thread::Builder::new()
            .name("xlb-api".into())
            .spawn(move || {
                for stream in listener.incoming().flatten() {
                    let source = source.clone();
                    let commands = commands.clone();
                    let _ = std::thread::Builder::new()
                        .name("xlb-api-conn".into())
                        .spawn(move || serve(stream, &*source, &commands));
                }
            })?;
        Ok(ApiServer {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(stream: UnixStream, source: &dyn StatusSource, commands: &mpsc::Sender<Command>) {
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let reader = BufReader::new(stream);
    for line in reader.lines() {
        let Ok(line) = line else { return };
        if line.trim().is_empty() {
            continue;
        }
        let resp = match serde_json::from_str::<Request>(&line) {
            Ok(Request::Ping) => Response::ok(),
            Ok(Request::Show) => Response {
                status: Some(source.listing()),
                ..Response::ok()
            },
            Ok(Request::Zero { service }) => match source.zero(service.as_ref()) {
                Ok(m) => Response {
                    message: Some(m),
                    ..Response::ok()
                },
                Err(e) => Response::error(e),
            },
            Ok(Request::Conns { filter }) => match source.conns(&filter) {
                Ok((conns, more)) => Response {
                    conns: Some(conns),
                    more: Some(more),
                    ..Response::ok()
                },
                Err(e) => Response::error(e),
            },
            Ok(Request::Vrrp) => Response {
                vrrp: Some(source.vrrp()),
                ..Response::ok()
            },
            Ok(request) => {
                let (tx, rx) = mpsc::channel();
                if commands.send(Command { request, reply: tx }).is_err() {
                    Response::error("xlbd is shutting down")
                } else {
                    rx.recv()
                        .unwrap_or_else(|_| Response::error("xlbd dropped the request"))
                }
            }
            Err(e) => Response::error(format!(
                "bad request: {e}; send one JSON object per line, e.g. {{\"cmd\":\"show\"}}"
            )),
        };
        let mut text = serde_json::to_string(&resp).expect("responses serialize");
        text.push('\n');
        if out.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}
