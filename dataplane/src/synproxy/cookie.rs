//! SYN cookies (RFC 4987 §3.6, in the layout of Linux's syncookies.c): the
//! initial sequence number the director answers a SYN with encodes a keyed
//! hash of the 4-tuple, a coarse time counter and the MSS index, so the
//! client's ACK proves it received the SYN-ACK without the director keeping
//! anything per SYN.
//!
//! cookie = H1(tuple) + client_isn + (count << 24)
//!        + ((H2(tuple, count) + mss_index) mod 2^24)

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
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
    /// std's SipHash key, drawn from the OS; two random salts of our own
    /// make the two hashes independent (two RandomStates of one thread
    /// have keys one apart).
    sip: std::collections::hash_map::RandomState,
    salt: [u64; 2],
    /// When a cookie was last sent (coarse seconds + 1; 0: never). An ACK
    /// is checked only within a cookie's lifetime of that, as Linux does:
    /// a director that sent none accepts none, however lucky the guess.
    last_sent: AtomicU32,
}

/// 16 random bytes from the kernel (getrandom(2), which blocks only
/// before the pool is first seeded at boot).
fn random_salts() -> [u64; 2] {
    let mut b = [0u8; 16];
    let mut got = 0;
    while got < b.len() {
        // SAFETY: writes at most `b.len() - got` bytes into the live array
        // from offset `got`.
        let n = unsafe { libc::getrandom(b[got..].as_mut_ptr().cast(), b.len() - got, 0) };
        if n <= 0 {
            // Only on a kernel without getrandom: the RandomState key is
            // random still, the salts then only separate the two hashes.
            return [0x9e37_79b9_7f4a_7c15, 0xc2b2_ae3d_27d4_eb4f];
        }
        got += n as usize;
    }
    [
        u64::from_ne_bytes(b[..8].try_into().expect("8 bytes")),
        u64::from_ne_bytes(b[8..].try_into().expect("8 bytes")),
    ]
}

impl Keys {
    pub fn random() -> Keys {
        Keys {
            sip: std::collections::hash_map::RandomState::new(),
            salt: random_salts(),
            last_sent: AtomicU32::new(0),
        }
    }

    /// The keys of this process.
    pub fn global() -> &'static Keys {
        static KEYS: OnceLock<Keys> = OnceLock::new();
        KEYS.get_or_init(Keys::random)
    }

    fn hash(&self, which: usize, t: &Tuple, count: u32) -> u32 {
        let mut h = self.sip.build_hasher();
        h.write_u64(self.salt[which]);
        h.write_u64((u64::from(t.client) << 32) | u64::from(t.vip));
        h.write_u64((u64::from(t.cport) << 48) | (u64::from(t.vport) << 32) | u64::from(count));
        h.finish() as u32
    }

    /// The sequence number to answer the client's SYN (`client_isn`) with
    /// at `now` (coarse seconds), carrying the index of `MSS_TABLE`.
    pub fn make(&self, t: &Tuple, client_isn: u32, mss_index: usize, now: u32) -> u32 {
        debug_assert!(mss_index < MSS_TABLE.len());
        // One shared write a second at most, not one per cookie.
        let stamp = now.wrapping_add(1).max(1);
        if self.last_sent.load(Relaxed) != stamp {
            self.last_sent.store(stamp, Relaxed);
        }
        let count = now >> COUNT_SHIFT;
        self.hash(0, t, 0)
            .wrapping_add(client_isn)
            .wrapping_add(count << COOKIE_BITS)
            .wrapping_add(self.hash(1, t, count).wrapping_add(mss_index as u32) & COOKIE_MASK)
    }

    /// The MSS index a returning cookie carries, if it is one of ours for
    /// this tuple and recent enough. `client_isn` is the ACK's sequence
    /// number minus one, `cookie` its acknowledgement number minus one.
    pub fn check(&self, t: &Tuple, client_isn: u32, cookie: u32, now: u32) -> Option<usize> {
        let last = self.last_sent.load(Relaxed);
        if last == 0 || now.wrapping_add(1).wrapping_sub(last) > MAX_AGE << COUNT_SHIFT {
            return None;
        }
        let count = now >> COUNT_SHIFT;
        let c = cookie
            .wrapping_sub(self.hash(0, t, 0))
            .wrapping_sub(client_isn);
        // The counter's low 8 bits went into the top of the cookie.
        let age = count.wrapping_sub(c >> COOKIE_BITS) & 0xff;
        if age >= MAX_AGE {
            return None;
        }
        let sent = count.wrapping_sub(age);
        let index = (c.wrapping_sub(self.hash(1, t, sent)) & COOKIE_MASK) as usize;
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
        let other = Keys::random();
        other.make(&T, 0, 0, 100);
        assert_eq!(other.check(&T, 777, c, 100), None, "other keys");
        // A forged ACK guesses the cookie: of 2^32 values, 4 MSS indexes
        // times 2 ages pass, 8 in 2^32; a run of guesses shows none.
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

#[cfg(test)]
mod quiet {
    use super::*;

    #[test]
    fn a_director_that_sent_no_cookie_lately_accepts_none() {
        let k = Keys::random();
        let t = Tuple {
            client: 1,
            vip: 2,
            cport: 3,
            vport: 80,
        };
        // The right value (made with the same keys elsewhere), but this
        // director sent no cookie.
        let other = Keys {
            sip: k.sip.clone(),
            salt: k.salt,
            last_sent: AtomicU32::new(0),
        };
        let c = other.make(&t, 9, 1, 1000);
        assert_eq!(k.check(&t, 9, c, 1000), None, "none sent");
        k.make(&Tuple { cport: 4, ..t }, 1, 0, 1000);
        assert_eq!(k.check(&t, 9, c, 1000), Some(1), "one sent, to anyone");
        assert_eq!(k.check(&t, 9, c, 1000 + 129), None, "long ago");
    }
}
