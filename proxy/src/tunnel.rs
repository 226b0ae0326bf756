//! Moving bytes both ways between a client and a server until both sides
//! are done or nothing has moved for the idle timeout (HAProxy's tcp mode,
//! and HTTP after an upgrade).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// Both sides closed (or one closed and the other followed).
    Closed,
    /// Nothing moved for the idle timeout.
    Idle,
    /// A read or write failed (a reset).
    Error,
}

#[derive(Debug, Clone, Copy)]
pub struct Tunnel {
    pub client_to_server: u64,
    pub server_to_client: u64,
    pub end: End,
}

const BUF: usize = 16384;

pub async fn run<C, S>(client: C, server: S, idle: Option<Duration>) -> Tunnel
where
    C: AsyncRead + AsyncWrite + Unpin,
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut sr, mut sw) = tokio::io::split(server);
    let start = Instant::now();
    // Milliseconds since `start` of the last byte moved either way.
    let last = AtomicU64::new(0);
    let up = pump(&mut cr, &mut sw, &last, start);
    let down = pump(&mut sr, &mut cw, &last, start);
    let both = async { tokio::join!(up, down) };
    let watchdog = async {
        let Some(idle) = idle else {
            return std::future::pending::<()>().await;
        };
        loop {
            let since = Duration::from_millis(last.load(Relaxed));
            let quiet = start.elapsed().saturating_sub(since);
            if quiet >= idle {
                return;
            }
            tokio::time::sleep(idle - quiet).await;
        }
    };
    tokio::select! {
        ((a, ea), (b, eb)) = both => Tunnel {
            client_to_server: a,
            server_to_client: b,
            end: if ea || eb { End::Error } else { End::Closed },
        },
        () = watchdog => Tunnel {
            // The counts of an interrupted pump are lost with it; the
            // watchdog only fires on a quiet tunnel, so they are small.
            client_to_server: 0,
            server_to_client: 0,
            end: End::Idle,
        },
    }
}

/// Copy until EOF, then shut the writer's side down (half-close passes
/// through). Returns the bytes copied and whether it ended on an error.
async fn pump<R, W>(r: &mut R, w: &mut W, last: &AtomicU64, start: Instant) -> (u64, bool)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let n = match r.read(&mut buf).await {
            Ok(0) => {
                let _ = w.shutdown().await;
                return (total, false);
            }
            Ok(n) => n,
            Err(_) => {
                let _ = w.shutdown().await;
                return (total, true);
            }
        };
        if w.write_all(&buf[..n]).await.is_err() {
            return (total, true);
        }
        total += n as u64;
        last.store(start.elapsed().as_millis() as u64, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_pass_both_ways_and_half_close_passes_through() {
        let (c, mut c_peer) = tokio::io::duplex(64);
        let (s, mut s_peer) = tokio::io::duplex(64);
        let t = tokio::spawn(run(c, s, Some(Duration::from_secs(5))));
        c_peer.write_all(b"hello server").await.unwrap();
        c_peer.shutdown().await.unwrap();
        let mut got = Vec::new();
        s_peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello server", "client's EOF reached the server");
        let writer = tokio::spawn(async move {
            s_peer.write_all(&vec![7u8; 100_000]).await.unwrap();
        });
        let mut back = Vec::new();
        c_peer.read_to_end(&mut back).await.unwrap();
        writer.await.unwrap();
        assert_eq!(back.len(), 100_000);
        let r = t.await.unwrap();
        assert_eq!((r.client_to_server, r.server_to_client), (12, 100_000));
        assert_eq!(r.end, End::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_quiet_tunnel_ends_at_the_idle_timeout() {
        let (c, _c_peer) = tokio::io::duplex(64);
        let (s, _s_peer) = tokio::io::duplex(64);
        let started = tokio::time::Instant::now();
        let r = run(c, s, Some(Duration::from_secs(30))).await;
        assert_eq!(r.end, End::Idle);
        assert!(started.elapsed() >= Duration::from_secs(30));
    }
}
