//! systemd's readiness protocol (sd_notify(3)): datagrams of
//! `VARIABLE=value` lines to the socket `NOTIFY_SOCKET` names, a path or,
//! with a leading '@', an abstract name.
//!
//! A sender of our own rather than the `sd-notify` crate: the protocol is
//! one datagram on a unix socket, std covers abstract names, and keeping
//! the message text in one function lets it be tested without a socket.

use std::io;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// One thing to tell systemd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Startup finished (or a reload did): the service is up.
    Ready,
    /// A reload began; `MONOTONIC_USEC` is when (CLOCK_MONOTONIC), which
    /// `Type=notify-reload` requires and `Type=notify` accepts.
    Reloading {
        monotonic: Duration,
    },
    Stopping,
    /// The one-line state `systemctl status` shows.
    Status(String),
    /// The watchdog is petted.
    Watchdog,
}

/// The datagram for `notices`, one `VARIABLE=value` line each.
pub fn message(notices: &[Notice]) -> String {
    let mut m = String::new();
    for n in notices {
        match n {
            Notice::Ready => m.push_str("READY=1\n"),
            Notice::Reloading { monotonic } => {
                m.push_str(&format!(
                    "RELOADING=1\nMONOTONIC_USEC={}\n",
                    monotonic.as_micros()
                ));
            }
            Notice::Stopping => m.push_str("STOPPING=1\n"),
            Notice::Status(s) => {
                // A line break would end the value and start a bogus variable.
                let one_line: String = s
                    .chars()
                    .map(|c| if c.is_control() { ' ' } else { c })
                    .collect();
                m.push_str(&format!("STATUS={one_line}\n"));
            }
            Notice::Watchdog => m.push_str("WATCHDOG=1\n"),
        }
    }
    m
}

/// What `NOTIFY_SOCKET` holds that we cannot use.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET={0:?} is neither a path (/...) nor an abstract name (@...)")]
    Address(String),
    #[error("NOTIFY_SOCKET={0:?}: {1}")]
    Socket(String, io::Error),
}

/// The address `NOTIFY_SOCKET` names.
pub fn address(var: &str) -> Result<SocketAddr, NotifyError> {
    let bad = |e| NotifyError::Socket(var.to_string(), e);
    if let Some(name) = var.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(name.as_bytes()).map_err(bad)
    } else if var.starts_with('/') {
        SocketAddr::from_pathname(var).map_err(bad)
    } else {
        Err(NotifyError::Address(var.to_string()))
    }
}

/// A connection to the service manager; sends are best effort (a lost
/// notice must not stop the director).
pub struct Notifier {
    socket: UnixDatagram,
    to: SocketAddr,
}

impl Notifier {
    /// The notifier `NOTIFY_SOCKET` asks for (None when it is unset: not
    /// run by systemd, or not as `Type=notify`).
    pub fn from_env() -> Result<Option<Notifier>, NotifyError> {
        match std::env::var("NOTIFY_SOCKET") {
            Ok(v) if !v.is_empty() => Notifier::to(&v).map(Some),
            _ => Ok(None),
        }
    }

    pub fn to(var: &str) -> Result<Notifier, NotifyError> {
        let to = address(var)?;
        let socket = UnixDatagram::unbound().map_err(|e| NotifyError::Socket(var.into(), e))?;
        Ok(Notifier { socket, to })
    }

    pub fn send(&self, notices: &[Notice]) -> io::Result<()> {
        let m = message(notices);
        self.socket.send_to_addr(m.as_bytes(), &self.to).map(drop)
    }
}

/// CLOCK_MONOTONIC now, as systemd reads `MONOTONIC_USEC`.
pub fn monotonic_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the call's duration.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_one_variable_a_line() {
        let m = message(&[Notice::Ready, Notice::Status("2 services".into())]);
        assert_eq!(m, "READY=1\nSTATUS=2 services\n");
        assert_eq!(message(&[Notice::Stopping]), "STOPPING=1\n");
        assert_eq!(message(&[Notice::Watchdog]), "WATCHDOG=1\n");
        let r = message(&[Notice::Reloading {
            monotonic: Duration::new(12, 345_678_000),
        }]);
        assert_eq!(r, "RELOADING=1\nMONOTONIC_USEC=12345678\n");
    }

    #[test]
    fn a_status_cannot_smuggle_a_second_variable() {
        let m = message(&[Notice::Status("bad\nREADY=1".into())]);
        assert_eq!(m, "STATUS=bad READY=1\n");
        assert_eq!(m.lines().count(), 1);
    }

    #[test]
    fn notify_socket_is_a_path_or_an_abstract_name() {
        use std::os::linux::net::SocketAddrExt;
        let a = address("@xlb/notify").unwrap();
        assert_eq!(a.as_abstract_name(), Some(&b"xlb/notify"[..]));
        let p = address("/run/systemd/notify").unwrap();
        assert_eq!(
            p.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        assert!(matches!(address("vsock:2:1"), Err(NotifyError::Address(_))));
        assert!(matches!(address(""), Err(NotifyError::Address(_))));
    }

    #[test]
    fn notices_arrive_on_the_socket() {
        let name = format!("@xlb-test-notify-{}", std::process::id());
        use std::os::linux::net::SocketAddrExt;
        let listen = SocketAddr::from_abstract_name(&name.as_bytes()[1..]).unwrap();
        let rx = UnixDatagram::bind_addr(&listen).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier::to(&name).unwrap();
        n.send(&[Notice::Ready, Notice::Status("up".into())])
            .unwrap();
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=up\n");
    }

    #[test]
    fn monotonic_time_moves_forward() {
        let a = monotonic_now();
        std::thread::sleep(Duration::from_millis(2));
        assert!(monotonic_now() > a);
    }
}
