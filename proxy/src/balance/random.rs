//! `random(N)` (backend.c: get_server_rnd): N draws on the consistent-hash
//! ring, keeping the less loaded of successive draws.

use super::chash::Chash;
use super::pool::Pool;

/// The seed of HAProxy's `statistical_prng` on its first thread (tools.c:
/// `statistical_prng_state = 2463534242U`, thread 0 adds nothing).
pub(crate) const PRNG_SEED: u32 = 2_463_534_242;

/// HAProxy's statistical_prng: Marsaglia's xorshift32.
#[derive(Debug, Clone)]
pub(crate) struct Xorshift(pub u32);

impl Xorshift {
    pub fn next_u32(&mut self) -> u32 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.0 = x;
        x
    }
}

/// get_server_rnd. A draw replaces the previous best only if it is not more
/// loaded relative to its weight (`served * other's eweight`, in wrapping
/// 32-bit arithmetic as in C). A chosen server without room means "queue
/// in the backend": None.
pub(crate) fn pick(
    ring: &Chash,
    pool: &Pool,
    prng: &mut Xorshift,
    draws: u32,
    avoid: Option<usize>,
) -> Option<usize> {
    let mut curr: Option<usize> = None;
    let mut left = draws;
    loop {
        let prev = curr;
        curr = ring.get_hash(pool, prng.next_u32(), avoid);
        let Some(c) = curr else {
            break;
        };
        if let Some(p) = prev {
            let (cs, ps) = (&pool.srv[c], &pool.srv[p]);
            if p != c
                && cs.served.wrapping_mul(ps.cur_eweight) > ps.served.wrapping_mul(cs.cur_eweight)
            {
                curr = Some(p);
            }
        }
        // `do { } while (--draws > 0)`: at least one draw.
        left = left.saturating_sub(1);
        if left == 0 {
            break;
        }
    }
    curr.filter(|&c| {
        let s = &pool.srv[c];
        s.queued == 0 && (s.maxconn == 0 || s.served < s.maxconn)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xorshift_sequence() {
        // include/haproxy/tools.h's statistical_prng from the thread-0 seed,
        // compiled and run in C.
        let mut r = Xorshift(PRNG_SEED);
        let got: Vec<u32> = (0..4).map(|_| r.next_u32()).collect();
        assert_eq!(
            got,
            [723_471_715, 2_497_366_906, 2_064_144_800, 2_008_045_182]
        );
    }
}
