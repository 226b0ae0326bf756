//! SYN cookies (RFC 4987 §3.6, in the layout of Linux's syncookies.c): the
//! initial sequence number the director answers a SYN with encodes a keyed
//! hash of the 4-tuple, a coarse time counter and the MSS index, so the
//! client's ACK proves it received the SYN-ACK without the director keeping
//! anything per SYN.
//!
//! cookie = H1(tuple) + client_isn + (count << 24)
//!        + ((H2(tuple, count) + mss_index) mod 2^24)

use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

/// The MSS values a cookie can say (Linux's msstab for IPv4): the client's
/// MSS option is rounded down to one of them.
pub const MSS_TABLE: [u16; 4] = [536, 1300, 1440, 1460];

/// The counter advances every 64 s; a cookie is accepted for up to two
/// counter steps after it was sent (64 to 128 s, as Linux).
const COUNT_SHIFT: u32 = 6;
const MAX_AGE: u32 = 2;
const COOKIE_BITS: u32 = 24;
const COOKIE_MASK: u32 = (1 << COOKIE_BITS) - 1;

/// The 4-tuple of the client's SYN (client -> VIP), host order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuple {
    pub client: u32,
    pub vip: u32,
    pub cport: u16,
    pub vport: u16,
}

/// The process's cookie keys: random at start, shared by every worker (a
/// client's SYN and ACK may be read by different workers after a reload
/// re-spreads queues; they never differ within one process).
pub struct Keys {
    h1: std::collections::hash_map::RandomState,
    h2: std::collections::hash_map::RandomState,
}

impl Keys {
    /// Two independent random SipHash keys (std's RandomState draws them
    /// from the OS).
    pub fn random() -> Keys {
        Keys {
            h1: std::collections::hash_map::RandomState::new(),
            h2: std::collections::hash_map::RandomState::new(),
        }
    }

    /// The keys of this process.
    pub fn global() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(Keys::random)
    }

    fn hash(&self, which: &std::collections::hash_map::RandomState, t: &Tuple, count: u32) -> u32 {
        let mut h = which.build_hasher();
        h.write_u64((u64::from(t.client) << 32) | u64::from(t.vip));
        h.write_u64((u64::from(t.cport) << 48) | (u64::from(t.vport) << 32) | u64::from(count));
        h.finish() as u32
    }

    /// The sequence number to answer the client's SYN (`client_isn`) with
    /// at `now` (coarse seconds), carrying the index of `MSS_TABLE`.
    pub fn make(&self, t: &Tuple, client_isn: u32, mss_index: usize, now: u32) -> u32 {
        debug_assert!(mss_index < MSS_TABLE.len());
        let count = now >> COUNT_SHIFT;
        self.hash(&self.h1, t, 0)
            .wrapping_add(client_isn)
            .wrapping_add(count << COOKIE_BITS)
            .wrapping_add(
                self.hash(&self.h2, t, count).wrapping_add(mss_index as u32) & COOKIE_MASK,
            )
    }

    /// The MSS index a returning cookie carries, if it is one of ours for
    /// this tuple and recent enough. `client_isn` is the ACK's sequence
    /// number minus one, `cookie` its acknowledgement number minus one.
    pub fn check(&self, t: &Tuple, client_isn: u32, cookie: u32, now: u32) -> Option<usize> {
        let count = now >> COUNT_SHIFT;
        let c = cookie
            .wrapping_sub(self.hash(&self.h1, t, 0))
            .wrapping_sub(client_isn);
        // The counter's low 8 bits went into the top of the cookie.
        let age = count.wrapping_sub(c >> COOKIE_BITS) & 0xff;
        if age >= MAX_AGE {
            return None;
        }
        let sent = count.wrapping_sub(age);
        let index = (c.wrapping_sub(self.hash(&self.h2, t, sent)) & COOKIE_MASK) as usize;
        (index < MSS_TABLE.len()).then_some(index)
    }
}

/// The index of the largest table MSS not above the client's (536, the
/// IPv4 default, when it sent none).
pub fn mss_index(client_mss: Option<u16>) -> usize {
    let mss = client_mss.unwrap_or(536);
    MSS_TABLE.iter().rposition(|&m| m <= mss).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Tuple = Tuple {
        client: 0x0a00_0001,
        vip: 0x0a00_0064,
        cport: 40000,
        vport: 80,
    };

    #[test]
    fn a_cookie_checks_out_for_its_tuple_and_carries_the_mss() {
        let k = Keys::random();
        for (i, now) in [(0, 5), (3, 1000), (2, u32::MAX - 10)] {
            let c = k.make(&T, 12345, i, now);
            assert_eq!(k.check(&T, 12345, c, now), Some(i));
        }
    }

    #[test]
    fn another_tuple_isn_key_or_cookie_fails() {
        let k = Keys::random();
        let c = k.make(&T, 777, 3, 100);
        let other = Tuple { cport: 40001, ..T };
        assert_eq!(k.check(&other, 777, c, 100), None);
        assert_eq!(k.check(&T, 777 + 1000, c, 100), None);
        assert_eq!(Keys::random().check(&T, 777, c, 100), None);
        // A forged ACK guesses the cookie: out of 2^32 values about 4 * 2
        // (MSS indexes times ages) in 2^24 pass; a run of guesses shows it.
        let passed = (0..100_000u32)
            .filter(|g| {
                k.check(&T, 777, g.wrapping_mul(2_654_435_761), 100)
                    .is_some()
            })
            .count();
        assert!(passed < 20, "{passed} of 100000 guesses passed");
    }

    #[test]
    fn a_cookie_lives_one_to_two_minutes() {
        let k = Keys::random();
        let c = k.make(&T, 1, 0, 64 * 10);
        assert_eq!(k.check(&T, 1, c, 64 * 10 + 63), Some(0));
        assert_eq!(k.check(&T, 1, c, 64 * 11 + 63), Some(0));
        assert_eq!(k.check(&T, 1, c, 64 * 12), None);
        // Not from the future either.
        assert_eq!(k.check(&T, 1, c, 64 * 9), None);
    }

    #[test]
    fn the_mss_rounds_down_to_the_table() {
        assert_eq!(mss_index(None), 0);
        assert_eq!(mss_index(Some(100)), 0);
        assert_eq!(mss_index(Some(1460)), 3);
        assert_eq!(mss_index(Some(9000)), 3);
        assert_eq!(mss_index(Some(1400)), 1);
        assert_eq!(MSS_TABLE[mss_index(Some(1440))], 1440);
    }
}
