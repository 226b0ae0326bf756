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
//! State is shared by all workers (a reply may arrive on another queue) in a
//! mutex. Only segments of FTP control connections and the first SYN of a
//! data connection touch it, never other traffic; both tables are bounded.

pub mod mangle;
pub mod text;

use crate::snapshot::{PortId, RealId, ServiceId};
use std::collections::HashMap;
use std::sync::Mutex;

/// Control connections tracked at most; beyond, new sessions go unhelped
/// (their data connections fail) and are counted.
pub const MAX_CONTROLS: usize = 65536;
/// Expected data connections at most (oldest dropped first).
pub const MAX_EXPECTED: usize = 4096;
/// How long an announced data connection may take to arrive, seconds.
pub const EXPECT_TIMEOUT: u32 = 60;
/// A control connection idle this long is forgotten, seconds.
pub const CONTROL_IDLE: u32 = 3600;

/// `a` is later than `b` in sequence space.
fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// The offsets one direction's rewrites introduced (IPVS's ip_vs_seq).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqAdjust {
    /// Original sequence number of the last rewritten segment.
    init_seq: u32,
    /// Offset for data after that segment, and before it.
    delta: i32,
    prev_delta: i32,
    set: bool,
}

impl SeqAdjust {
    /// The sequence number this stream's segment `seq` carries on the far side.
    pub fn seq(&self, seq: u32) -> u32 {
        if !self.set {
            return seq;
        }
        let d = if after(seq, self.init_seq) {
            self.delta
        } else {
            self.prev_delta
        };
        seq.wrapping_add(d as u32)
    }

    /// An acknowledgement of this stream, mapped back to original numbers.
    pub fn ack(&self, ack: u32) -> u32 {
        if !self.set {
            return ack;
        }
        let d = if after(ack.wrapping_sub(self.delta as u32), self.init_seq) {
            self.delta
        } else {
            self.prev_delta
        };
        ack.wrapping_sub(d as u32)
    }

    /// The segment at `seq` grew by `diff` bytes. A retransmission of the
    /// last rewritten segment is rewritten again but not counted twice.
    pub fn record(&mut self, seq: u32, diff: i32) {
        if diff == 0 || (self.set && seq == self.init_seq) {
            return;
        }
        if self.set && !after(seq, self.init_seq) {
            // An older segment rewritten again: its offset is already in.
            return;
        }
        self.prev_delta = self.delta;
        self.delta += diff;
        self.init_seq = seq;
        self.set = true;
    }
}

/// A control connection: client endpoint and VIP endpoint.
pub type ControlKey = (u32, u16, u32, u16);

#[derive(Debug, Clone, Copy, Default)]
pub struct Control {
    /// client -> server stream and server -> client stream.
    pub to_server: SeqAdjust,
    pub to_client: SeqAdjust,
    last_seen: u32,
}

/// Who opens an expected data connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Passive: the client, to VIP:port.
    FromClient { client: u32, vip: u32, vport: u16 },
    /// Active: the real server, to client:port (from its port 20).
    FromReal {
        real_addr: u32,
        client: u32,
        cport: u16,
    },
}

/// Everything a data connection inherits from its control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    pub expect: Expect,
    pub vip: u32,
    pub real: RealId,
    pub real_addr: u32,
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
        vip: u32,
        real: RealId,
        real_addr: u32,
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

#[derive(Default)]
struct Inner {
    controls: HashMap<ControlKey, Control>,
    expected: Vec<Expected>,
}

/// The helper's state, one for all workers.
#[derive(Default)]
pub struct FtpHelper {
    inner: Mutex<Inner>,
}

impl FtpHelper {
    pub fn new() -> FtpHelper {
        FtpHelper::default()
    }

    /// Run `f` on the control connection's state (created on first use).
    /// `None` when the table is full of live sessions.
    pub fn with_control<T>(
        &self,
        key: ControlKey,
        now: u32,
        f: impl FnOnce(&mut Control) -> T,
    ) -> Option<T> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if !g.controls.contains_key(&key) && g.controls.len() >= MAX_CONTROLS {
            g.controls
                .retain(|_, c| now.wrapping_sub(c.last_seen) < CONTROL_IDLE);
            if g.controls.len() >= MAX_CONTROLS {
                return None;
            }
        }
        let c = g.controls.entry(key).or_default();
        c.last_seen = now;
        Some(f(c))
    }

    /// The adjustments of a control connection, if it has any.
    pub fn control(&self, key: ControlKey) -> Option<Control> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.controls.get(&key).copied()
    }

    pub fn expect(&self, e: Expected) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = e.deadline.wrapping_sub(EXPECT_TIMEOUT);
        g.expected
            .retain(|x| after(x.deadline, now) && x.expect != e.expect);
        if g.expected.len() >= MAX_EXPECTED {
            g.expected.remove(0);
        }
        g.expected.push(e);
    }

    /// Claim the expectation a data connection's first SYN matches.
    pub fn take(&self, expect: Expect, now: u32) -> Option<Expected> {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let i = g
            .expected
            .iter()
            .position(|x| x.expect == expect && after(x.deadline, now))?;
        Some(g.expected.swap_remove(i))
    }

    pub fn pending(&self) -> usize {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.expected.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_segments_shift_and_acks_map_back() {
        let mut a = SeqAdjust::default();
        assert_eq!(a.seq(1000), 1000, "nothing rewritten yet");
        // The segment at 1000 grew by 1 byte.
        a.record(1000, 1);
        assert_eq!(a.seq(1000), 1000, "the rewritten segment keeps its seq");
        assert_eq!(a.seq(1050), 1051);
        // The peer acknowledges 1051 (after the rewritten bytes): 1050 originally.
        assert_eq!(a.ack(1051), 1050);
        assert_eq!(a.ack(900), 900, "an ack before the rewrite");
        // A retransmission of the same segment is not counted twice.
        a.record(1000, 1);
        assert_eq!(a.seq(1050), 1051);
        // A second rewrite further on, shrinking by 2.
        a.record(2000, -2);
        assert_eq!(a.seq(2000), 2001, "the previous offset");
        assert_eq!(a.seq(2100), 2099);
        assert_eq!(a.ack(2099), 2100);
        // Across the wrap of sequence space.
        let mut w = SeqAdjust::default();
        w.record(u32::MAX - 10, 3);
        assert_eq!(w.seq(5), 8);
        assert_eq!(w.ack(8), 5);
    }

    fn expected(e: Expect, now: u32) -> Expected {
        Expected::new(e, 100, 1, 200, 10000, 0, 0, [2; 6], now)
    }

    #[test]
    fn an_expectation_is_taken_once_and_expires() {
        let h = FtpHelper::new();
        let e = Expect::FromClient {
            client: 1,
            vip: 100,
            vport: 10000,
        };
        h.expect(expected(e, 10));
        let other = Expect::FromClient {
            client: 2,
            vip: 100,
            vport: 10000,
        };
        assert_eq!(h.take(other, 11), None, "another client");
        assert_eq!(h.take(e, 11).map(|x| x.real_port), Some(10000));
        assert_eq!(h.take(e, 11), None, "one data connection per announcement");
        h.expect(expected(e, 10));
        assert_eq!(h.take(e, 10 + EXPECT_TIMEOUT), None, "expired");
        for i in 0..(MAX_EXPECTED as u16 + 10) {
            h.expect(expected(
                Expect::FromClient {
                    client: 1,
                    vip: 100,
                    vport: i,
                },
                20,
            ));
        }
        assert_eq!(h.pending(), MAX_EXPECTED, "bounded");
    }

    #[test]
    fn controls_are_bounded() {
        let h = FtpHelper::new();
        assert!(h
            .with_control((1, 2, 3, 21), 0, |c| c.to_client.record(5, 1))
            .is_some());
        assert_eq!(h.control((1, 2, 3, 21)).unwrap().to_client.seq(6), 7);
        assert!(h.control((9, 2, 3, 21)).is_none());
    }
}
