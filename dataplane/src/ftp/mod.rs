//! The FTP helper for NAT services (IPVS's ip_vs_ftp): FTP names data
//! addresses inside the control connection, which NAT would otherwise break.
//!
//! - Server to client, `227` (PASV): the real server's address becomes the
//!   VIP; `227` and `229` (EPSV) announce an expected connection client ->
//!   VIP:port that goes to the same real server.
//! - Client to server, `PORT`/`EPRT`: the real server will connect from its
//!   port 20 to the client; that connection is expected and masqueraded as
//!   VIP:20. An address that is not the client's own is rewritten to it, so
//!   nobody uses the director to make a server connect elsewhere (FTP bounce).
//! - A rewrite that changes the payload's length shifts every later sequence
//!   number of that stream and every acknowledgement of it: kept per control
//!   connection, applied to each of its segments.
//!
//! State is shared by all workers (a reply may arrive on another queue)
//! without a lock: the expected data connections (`expect.rs`) and the
//! control connections' offsets (`control.rs`) are fixed tables of atomics,
//! bounded, allocated once. Only segments of FTP control connections and
//! SYNs no service claims on an FTP VIP touch them.

mod control;
mod expect;
pub mod mangle;
mod seq;
pub mod text;

pub use control::{Control, Stream};
pub use seq::SeqAdjust;

use crate::snapshot::{PortId, RealId, ServiceId};
use control::Controls;
use expect::Expectations;
use xlb_model::Address;

/// Control connections tracked at most; beyond, new sessions go unhelped
/// (their data connections fail) and are counted.
pub const MAX_CONTROLS: usize = 65536;
/// Expected data connections at most (oldest dropped first).
pub const MAX_EXPECTED: usize = 4096;
/// How long an announced data connection may take to arrive, seconds.
pub const EXPECT_TIMEOUT: u32 = 60;
/// A control connection idle this long is forgotten, seconds.
pub const CONTROL_IDLE: u32 = 3600;

/// A control connection: client endpoint and VIP endpoint.
pub type ControlKey = (Address, u16, Address, u16);

/// Who opens an expected data connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Passive: the client, to VIP:port.
    FromClient {
        client: Address,
        vip: Address,
        vport: u16,
    },
    /// Active: the real server, to client:port (from its port 20).
    FromReal {
        real_addr: Address,
        client: Address,
        cport: u16,
    },
}

/// Everything a data connection inherits from its control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub expect: Expect,
    pub vip: Address,
    pub real: RealId,
    pub real_addr: Address,
    /// Passive: the server's data port (active: unused, the SYN says).
    pub real_port: u16,
    pub service: ServiceId,
    pub client_port: PortId,
    pub client_mac: [u8; 6],
    deadline: u32,
}

impl Expected {
    #[allow(clippy::too_many_arguments)] // one field each of the control connection
    pub fn new(
        expect: Expect,
        vip: Address,
        real: RealId,
        real_addr: Address,
        real_port: u16,
        service: ServiceId,
        client_port: PortId,
        client_mac: [u8; 6],
        now: u32,
    ) -> Expected {
        Expected {
            expect,
            vip,
            real,
            real_addr,
            real_port,
            service,
            client_port,
            client_mac,
            deadline: now.wrapping_add(EXPECT_TIMEOUT),
        }
    }
}

/// The helper's state, one for all workers.
pub struct FtpHelper {
    expected: Expectations,
    controls: Controls,
}

impl Default for FtpHelper {
    fn default() -> Self {
        FtpHelper::new()
    }
}

impl FtpHelper {
    pub fn new() -> FtpHelper {
        FtpHelper::with_capacity(MAX_CONTROLS, MAX_EXPECTED)
    }

    /// Smaller tables (tests and fuzzing, which make one per input).
    pub fn with_capacity(controls: usize, expected: usize) -> FtpHelper {
        FtpHelper {
            expected: Expectations::new(expected),
            controls: Controls::new(controls),
        }
    }

    /// The offsets of a control connection, if a rewrite made any.
    pub fn control(&self, key: ControlKey, now: u32) -> Option<Control> {
        self.controls.get(&key, now)
    }

    /// The segment at `seq` of one stream of a control connection changed
    /// length by `diff`. `false` when the table has no room for the
    /// session (it goes unhelped, counted by the caller).
    pub fn record(&self, key: ControlKey, stream: Stream, seq: u32, diff: i32, now: u32) -> bool {
        self.controls.record(&key, stream, seq, diff, now)
    }

    /// A control connection's offsets as another director had them
    /// (connection sync), where newer than what is here. `false` when the
    /// table has no room for it.
    pub fn merge_control(&self, key: ControlKey, c: Control, now: u32) -> bool {
        self.controls.merge(&key, c, now)
    }

    /// Announce a data connection (replacing an announcement of the same).
    pub fn expect(&self, e: Expected) {
        let now = e.deadline.wrapping_sub(EXPECT_TIMEOUT);
        self.expected.expect(e, now);
    }

    /// Claim the expectation a data connection's first SYN matches.
    pub fn take(&self, expect: Expect, now: u32) -> Option<Expected> {
        self.expected.take(&expect, now)
    }

    /// Announced data connections not yet claimed or expired.
    pub fn pending(&self, now: u32) -> usize {
        self.expected.pending(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn expected(e: Expect, now: u32) -> Expected {
        Expected::new(
            e,
            Address::v4(100),
            1,
            Address::v4(200),
            10000,
            0,
            0,
            [2; 6],
            now,
        )
    }

    fn passive(client: u32, vport: u16) -> Expect {
        Expect::FromClient {
            client: Address::v4(client),
            vip: Address::v4(100),
            vport,
        }
    }

    #[test]
    fn an_expectation_is_taken_once_and_expires() {
        let h = FtpHelper::new();
        let e = passive(1, 10000);
        h.expect(expected(e, 10));
        assert_eq!(h.take(passive(2, 10000), 11), None, "another client");
        assert_eq!(h.take(e, 11).map(|x| x.real_port), Some(10000));
        assert_eq!(h.take(e, 11), None, "one data connection per announcement");
        h.expect(expected(e, 10));
        assert_eq!(h.take(e, 10 + EXPECT_TIMEOUT), None, "expired");
        for i in 0..(MAX_EXPECTED as u16 + 10) {
            h.expect(expected(passive(1, i), 20));
        }
        let pending = h.pending(21);
        assert!(pending <= MAX_EXPECTED, "bounded: {pending}");
        assert!(
            pending > MAX_EXPECTED * 8 / 10,
            "a table at its capacity keeps most: {pending}"
        );
    }

    #[test]
    fn an_expectation_keeps_every_field_of_both_families() {
        let h = FtpHelper::new();
        let six = |s: &str| Address::from(s.parse::<std::net::IpAddr>().unwrap());
        let e = Expect::FromReal {
            real_addr: six("2001:db8:2::11"),
            client: six("2001:db8:c::1"),
            cport: 50123,
        };
        let x = Expected::new(
            e,
            six("2001:db8:1::100"),
            4321,
            six("2001:db8:2::11"),
            65535,
            4095,
            7,
            [2, 3, 4, 5, 6, 7],
            1000,
        );
        h.expect(x);
        assert_eq!(h.take(e, 1001), Some(x));
    }

    #[test]
    fn controls_are_bounded() {
        let h = FtpHelper::new();
        let k = |c: u32| (Address::v4(c), 2, Address::v4(3), 21);
        assert!(h.record(k(1), Stream::ToClient, 5, 1, 0));
        assert_eq!(h.control(k(1), 0).unwrap().to_client.seq(6), 7);
        assert!(h.control(k(9), 0).is_none());
    }

    #[test]
    fn workers_share_the_helper_without_a_lock() {
        // Four threads announce and claim 2000 data connections each, and
        // shift a control connection's stream each, all at once: every
        // announcement is claimed exactly once, every offset is counted.
        let h = Arc::new(FtpHelper::new());
        let claimed = std::thread::scope(|s| {
            let threads: Vec<_> = (0..4u32)
                .map(|t| {
                    let h = h.clone();
                    s.spawn(move || {
                        let mut claimed = 0;
                        for i in 0..2000u32 {
                            let port = (t * 2000 + i) as u16;
                            h.expect(expected(passive(7, port), 5));
                            // Claim the previous one of a neighbour thread.
                            let other = ((t + 1) % 4 * 2000 + i) as u16;
                            claimed += usize::from(h.take(passive(7, other), 6).is_some());
                            claimed += usize::from(h.take(passive(7, port), 6).is_some());
                            let key = (Address::v4(7), 40000 + t as u16, Address::v4(100), 21);
                            assert!(h.record(key, Stream::ToClient, i * 100, 1, 6));
                        }
                        claimed
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().unwrap())
                .sum::<usize>()
        });
        let left = h.pending(6);
        assert_eq!(claimed + left, 8000, "each claimed once or still pending");
        for t in 0..4u16 {
            let key = (Address::v4(7), 40000 + t, Address::v4(100), 21);
            let c = h.control(key, 6).unwrap();
            assert_eq!(c.to_client.seq(1_000_000), 1_002_000, "2000 rewrites of +1");
        }
        assert!(
            portable_atomic::AtomicU128::is_lock_free(),
            "no lock inside the atomics either"
        );
    }
}
