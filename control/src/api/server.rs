//! The API listener: JSON lines on the unix socket, one task per client on
//! a small tokio runtime of its own (thread "xlb-api"). It reads the
//! daemon's state through lock-free handles only, so a client never delays
//! forwarding; caps on line length, clients, idle and write time keep one
//! hostile or stuck client from costing the others anything but its slot.

use super::access::SocketAccess;
use super::{Request, Response, Status};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{oneshot, Semaphore};

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

/// What one client may cost. The defaults are docs/api.md's.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of one request line, newline excluded.
    pub max_line: usize,
    /// Clients connected at once; one more is answered an error and closed.
    pub max_clients: usize,
    /// A client that sends no complete line for this long is closed.
    pub idle: Duration,
    /// A client that does not take its answer within this is closed.
    pub write: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_line: 64 * 1024,
            max_clients: 1024,
            idle: Duration::from_secs(60),
            write: Duration::from_secs(10),
        }
    }
}

/// Clients the limits cut off, by limit.
#[derive(Debug, Default)]
pub struct ApiCounters {
    pub refused: AtomicU64,
    pub too_long: AtomicU64,
    pub idle: AtomicU64,
    pub write_timeouts: AtomicU64,
}

pub struct ApiServer {
    path: PathBuf,
    counters: Arc<ApiCounters>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ApiServer {
    /// Bind the socket with `access`'s owner, group and mode (a parent
    /// directory it creates: 0700, or 0710 for a group with access) and
    /// serve on a thread. A stale socket file from a dead daemon is
    /// replaced; a live daemon's is not.
    pub fn start(
        path: &Path,
        access: SocketAccess,
        limits: Limits,
        source: Arc<dyn StatusSource>,
        commands: mpsc::Sender<Command>,
    ) -> std::io::Result<ApiServer> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() && !dir.exists() {
                std::fs::create_dir_all(dir)?;
                access.apply(dir, access.dir_mode())?;
            }
        }
        if path.exists() {
            if StdUnixStream::connect(path).is_ok() {
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
        let listener = std::os::unix::net::UnixListener::bind(path)?;
        access.apply(path, access.mode)?;
        listener.set_nonblocking(true)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            // Status reads and their JSON run off the I/O thread; two at a
            // time is plenty for an operator API and leaves the cores to
            // the workers.
            .max_blocking_threads(2)
            .thread_name("xlb-api-read")
            .build()?;
        let counters = Arc::new(ApiCounters::default());
        let server = Server {
            source,
            control: ControlBridge::start(commands)?,
            limits,
            counters: counters.clone(),
            clients: Arc::new(Semaphore::new(limits.max_clients)),
        };
        let (stop, stopped) = oneshot::channel();
        let thread = std::thread::Builder::new()
            .name("xlb-api".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match UnixListener::from_std(listener) {
                        Ok(l) => server.accept(l, stopped).await,
                        Err(e) => tracing::error!(error = %e, "API socket unusable"),
                    }
                });
                // A status read in progress may take its time; the socket
                // is gone either way.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(ApiServer {
            path: path.to_path_buf(),
            counters,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    pub fn counters(&self) -> &ApiCounters {
        &self.counters
    }
}

impl Drop for ApiServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Carries control-loop commands one at a time, as the loop serves them,
/// so no runtime thread ever waits on the loop's answer.
struct ControlBridge(mpsc::Sender<(Request, oneshot::Sender<Response>)>);

impl ControlBridge {
    fn start(commands: mpsc::Sender<Command>) -> std::io::Result<ControlBridge> {
        let (tx, rx) = mpsc::channel::<(Request, oneshot::Sender<Response>)>();
        std::thread::Builder::new()
            .name("xlb-api-cmd".into())
            .spawn(move || {
                for (request, answer) in rx {
                    let (reply, replied) = mpsc::channel();
                    let resp = if commands.send(Command { request, reply }).is_err() {
                        Response::error("xlbd is shutting down")
                    } else {
                        replied
                            .recv()
                            .unwrap_or_else(|_| Response::error("xlbd dropped the request"))
                    };
                    let _ = answer.send(resp);
                }
            })?;
        Ok(ControlBridge(tx))
    }

    async fn call(&self, request: Request) -> Response {
        let (tx, rx) = oneshot::channel();
        if self.0.send((request, tx)).is_err() {
            return Response::error("xlbd is shutting down");
        }
        rx.await
            .unwrap_or_else(|_| Response::error("xlbd dropped the request"))
    }
}

struct Server {
    source: Arc<dyn StatusSource>,
    control: ControlBridge,
    limits: Limits,
    counters: Arc<ApiCounters>,
    clients: Arc<Semaphore>,
}

impl Server {
    async fn accept(self, listener: UnixListener, mut stop: oneshot::Receiver<()>) {
        let server = Arc::new(self);
        loop {
            let stream = tokio::select! {
                _ = &mut stop => return,
                r = listener.accept() => match r {
                    Ok((s, _)) => s,
                    Err(e) => {
                        // Out of descriptors, most likely: the clients
                        // connected keep being served meanwhile.
                        tracing::warn!(error = %e, "API socket: cannot accept");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let Ok(permit) = server.clients.clone().try_acquire_owned() else {
                let n = server.counters.refused.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    tracing::warn!(
                        refused = n,
                        max = server.limits.max_clients,
                        "API socket: too many clients, refusing"
                    );
                }
                // A fresh socket's buffer takes the short line at once:
                // never wait on a client we are turning away.
                let _ = stream.try_write(&line(&Response::error(format!(
                    "xlbd already serves {} API clients, its limit; try again later",
                    server.limits.max_clients
                ))));
                continue;
            };
            let server = server.clone();
            tokio::spawn(async move {
                server.serve(stream).await;
                drop(permit);
            });
        }
    }

    async fn serve(&self, stream: UnixStream) {
        let (rd, mut wr) = stream.into_split();
        let mut rd = BufReader::new(rd);
        let mut buf = Vec::new();
        loop {
            let read = read_line(&mut rd, &mut buf, self.limits.max_line);
            let resp = match tokio::time::timeout(self.limits.idle, read).await {
                Err(_) => {
                    self.counters.idle.fetch_add(1, Ordering::Relaxed);
                    let e = format!(
                        "no request for {} s: closing",
                        self.limits.idle.as_secs_f64()
                    );
                    let _ = self.send(&mut wr, line(&Response::error(e))).await;
                    return;
                }
                Ok(Err(_)) | Ok(Ok(Read::End)) => return,
                Ok(Ok(Read::TooLong)) => {
                    self.counters.too_long.fetch_add(1, Ordering::Relaxed);
                    let e = format!(
                        "request line longer than {} bytes: closing; send one JSON \
                         object per line",
                        self.limits.max_line
                    );
                    let _ = self.send(&mut wr, line(&Response::error(e))).await;
                    return;
                }
                Ok(Ok(Read::Line)) => match std::str::from_utf8(&buf) {
                    Err(e) => line(&Response::error(format!(
                        "bad request: not UTF-8 ({e}); send one JSON object per line"
                    ))),
                    Ok(text) if text.trim().is_empty() => continue,
                    Ok(text) => self.answer(text.trim()).await,
                },
            };
            if !self.send(&mut wr, resp).await {
                return;
            }
        }
    }

    async fn send(&self, wr: &mut (impl AsyncWrite + Unpin), text: Vec<u8>) -> bool {
        match tokio::time::timeout(self.limits.write, wr.write_all(&text)).await {
            Ok(r) => r.is_ok(),
            Err(_) => {
                self.counters.write_timeouts.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// The answer's line, newline included.
    async fn answer(&self, text: &str) -> Vec<u8> {
        let request = match serde_json::from_str::<Request>(text) {
            Ok(r) => r,
            Err(e) => {
                return line(&Response::error(format!(
                    "bad request: {e}; send one JSON object per line, e.g. {{\"cmd\":\"show\"}}"
                )))
            }
        };
        match request {
            Request::Ping => line(&Response::ok()),
            Request::Show | Request::Zero { .. } | Request::Conns { .. } | Request::Vrrp => {
                let source = self.source.clone();
                tokio::task::spawn_blocking(move || line(&read_state(&*source, request)))
                    .await
                    .unwrap_or_else(|_| line(&Response::error("xlbd failed to answer")))
            }
            request => line(&self.control.call(request).await),
        }
    }
}

fn read_state(source: &dyn StatusSource, request: Request) -> Response {
    match request {
        Request::Show => Response {
            status: Some(source.listing()),
            ..Response::ok()
        },
        Request::Zero { service } => match source.zero(service.as_ref()) {
            Ok(m) => Response {
                message: Some(m),
                ..Response::ok()
            },
            Err(e) => Response::error(e),
        },
        Request::Conns { filter } => match source.conns(&filter) {
            Ok((conns, more)) => Response {
                conns: Some(conns),
                more: Some(more),
                ..Response::ok()
            },
            Err(e) => Response::error(e),
        },
        Request::Vrrp => Response {
            vrrp: Some(source.vrrp()),
            ..Response::ok()
        },
        other => Response::error(format!("{other:?} is not a state read")),
    }
}

fn line(resp: &Response) -> Vec<u8> {
    let mut text = serde_json::to_vec(resp).expect("responses serialize");
    text.push(b'\n');
    text
}

enum Read {
    /// A line is in the buffer, without its newline (the last line may
    /// lack one, as `BufRead::lines` takes it).
    Line,
    TooLong,
    End,
}

/// One line into `buf`, never holding more than `max` bytes of it.
async fn read_line(
    r: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Read> {
    buf.clear();
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(if buf.is_empty() {
                Read::End
            } else {
                Read::Line
            });
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        if buf.len() + take > max {
            return Ok(Read::TooLong);
        }
        buf.extend_from_slice(&chunk[..take]);
        r.consume(take + usize::from(done));
        if done {
            return Ok(Read::Line);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn lines(input: &[u8], max: usize) -> Vec<Result<String, &'static str>> {
        let mut r = BufReader::with_capacity(4, input);
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            match read_line(&mut r, &mut buf, max).await.unwrap() {
                Read::Line => out.push(Ok(String::from_utf8(buf.clone()).unwrap())),
                Read::TooLong => {
                    out.push(Err("too long"));
                    return out;
                }
                Read::End => return out,
            }
        }
    }

    #[tokio::test]
    async fn lines_are_cut_at_newlines_across_reads() {
        assert_eq!(
            lines(b"{\"a\":1}\n\nxyz", 16).await,
            vec![Ok("{\"a\":1}".into()), Ok(String::new()), Ok("xyz".into())]
        );
    }

    #[tokio::test]
    async fn a_line_of_exactly_the_limit_passes_and_one_more_byte_does_not() {
        assert_eq!(lines(b"12345678\n", 8).await, vec![Ok("12345678".into())]);
        assert_eq!(lines(b"123456789\n", 8).await, vec![Err("too long")]);
        assert_eq!(lines(b"123456789", 8).await, vec![Err("too long")]);
    }
}
