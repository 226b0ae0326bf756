//! The sequence offsets of FTP control connections, shared by every worker
//! without a lock (a control connection's two directions may be handled by
//! two workers). A fixed table of 4-way buckets; a slot is named by a
//! keyed 64-bit hash of the control connection's endpoints, and holds each
//! direction's `SeqAdjust` in one 128-bit atomic, updated by
//! compare-and-swap. A slot idle for `CONTROL_IDLE` may be taken over.
//!
//! Two control connections whose 64-bit names collide would share offsets;
//! with a random key per process and at most 65536 sessions, that is a
//! chance of about 2^-32 over a table's whole life, and an outsider cannot
//! aim at it.

use super::seq::SeqAdjust;
use super::{ControlKey, CONTROL_IDLE};
use crate::conn::huge::HugeArray;
use portable_atomic::AtomicU128;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::*};

const WAYS: usize = 4;
/// A slot's name word while its writer resets it (bit 1 set); a live
/// name has bit 0 set and bit 1 clear, an empty slot is 0.
const CLAIMING: u64 = 2;

#[repr(C, align(64))]
struct Slot {
    name: AtomicU64,
    last_seen: AtomicU32,
    to_server: AtomicU128,
    to_client: AtomicU128,
}

/// Which stream of a control connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    ToServer,
    ToClient,
}

/// Both streams' offsets of one control connection, as read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Control {
    pub to_server: SeqAdjust,
    pub to_client: SeqAdjust,
}

pub struct Controls {
    slots: HugeArray<Slot>,
    mask: usize,
    seed: u64,
}

fn idle(last: u32, now: u32) -> bool {
    now.wrapping_sub(last) >= CONTROL_IDLE
}

impl Controls {
    /// Room for about `capacity` control connections.
    pub fn new(capacity: usize) -> Controls {
        let buckets = capacity.div_ceil(WAYS).next_power_of_two();
        Controls {
            // SAFETY: slots are atomics only; all-zero is an empty slot.
            slots: unsafe { HugeArray::reserved(buckets * WAYS) },
            mask: buckets - 1,
            seed: RandomState::new().hash_one(0x6674_705f_6374_726cu64),
        }
    }

    /// The connection's name (bit 0 set, bit 1 clear) and bucket.
    fn place(&self, key: &ControlKey) -> (u64, &[Slot]) {
        use crate::splitmix::splitmix64 as mix;
        let (client, cport, vip, vport) = *key;
        let (ch, cl) = client.halves();
        let (vh, vl) = vip.halves();
        let mut h = mix(self.seed ^ (u64::from(cport) << 16) ^ u64::from(vport));
        for x in [ch, cl, vh, vl] {
            h = mix(h ^ x);
        }
        let i = ((h >> 32) as usize & self.mask) * WAYS;
        ((h & !3) | 1, &self.slots[i..i + WAYS])
    }

    fn find(ways: &[Slot], name: u64) -> Option<&Slot> {
        ways.iter().find(|s| s.name.load(Acquire) == name)
    }

    /// The offsets of a control connection, if any rewrite made some.
    pub fn get(&self, key: &ControlKey, now: u32) -> Option<Control> {
        let (name, ways) = self.place(key);
        let slot = Self::find(ways, name)?;
        if slot.last_seen.load(Relaxed) != now {
            slot.last_seen.store(now, Relaxed);
        }
        Some(Control {
            to_server: SeqAdjust::from_bits(slot.to_server.load(Acquire)),
            to_client: SeqAdjust::from_bits(slot.to_client.load(Acquire)),
        })
    }

    /// Record that the segment at `seq` of `stream` changed length by
    /// `diff`. `false` when no slot is free (the bucket holds four live
    /// sessions): the caller counts the session unhelped.
    pub fn record(&self, key: &ControlKey, stream: Stream, seq: u32, diff: i32, now: u32) -> bool {
        let Some(slot) = self.slot(key, now) else {
            return false;
        };
        slot.last_seen.store(now, Relaxed);
        let adjust = match stream {
            Stream::ToServer => &slot.to_server,
            Stream::ToClient => &slot.to_client,
        };
        let mut cur = adjust.load(Acquire);
        loop {
            let mut a = SeqAdjust::from_bits(cur);
            a.record(seq, diff);
            match adjust.compare_exchange_weak(cur, a.to_bits(), AcqRel, Acquire) {
                Ok(_) => return true,
                Err(now_there) => cur = now_there,
            }
        }
    }

    /// Take another director's offsets (connection sync), stream by
    /// stream, where they reflect a later rewrite than what is here: a
    /// stale copy (a lost update, a whole table sent back) never undoes a
    /// newer rewrite. `false` when no slot is free.
    pub fn merge(&self, key: &ControlKey, c: Control, now: u32) -> bool {
        let Some(slot) = self.slot(key, now) else {
            return false;
        };
        slot.last_seen.store(now, Relaxed);
        for (adjust, theirs) in [
            (&slot.to_server, c.to_server),
            (&slot.to_client, c.to_client),
        ] {
            let mut cur = adjust.load(Acquire);
            while theirs.newer_than(&SeqAdjust::from_bits(cur)) {
                match adjust.compare_exchange_weak(cur, theirs.to_bits(), AcqRel, Acquire) {
                    Ok(_) => break,
                    Err(now_there) => cur = now_there,
                }
            }
        }
        true
    }

    /// The connection's slot, taking a free or idle one if it has none.
    fn slot(&self, key: &ControlKey, now: u32) -> Option<&Slot> {
        let (name, ways) = self.place(key);
        for _ in 0..8 {
            if let Some(s) = Self::find(ways, name) {
                return Some(s);
            }
            // Another worker is creating this very connection's slot.
            if ways.iter().any(|s| s.name.load(Acquire) == name | CLAIMING) {
                std::hint::spin_loop();
                continue;
            }
            let free = ways.iter().find_map(|s| {
                let n = s.name.load(Acquire);
                let takeable =
                    n == 0 || (n & CLAIMING == 0 && idle(s.last_seen.load(Relaxed), now));
                takeable.then_some((s, n))
            });
            let (s, old) = free?;
            if s.name
                .compare_exchange(old, name | CLAIMING, Acquire, Relaxed)
                .is_err()
            {
                continue;
            }
            s.to_server.store(0, Relaxed);
            s.to_client.store(0, Relaxed);
            s.last_seen.store(now, Relaxed);
            s.name.store(name, Release);
            // Two workers may have claimed two slots for one connection at
            // once: the first in bucket order wins, the other is freed.
            let first = ways
                .iter()
                .find(|w| w.name.load(Acquire) & !CLAIMING == name)
                .expect("ours at least");
            if !std::ptr::eq(first, s) {
                s.name.store(0, Release);
                continue;
            }
            return Some(s);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlb_model::Address;

    fn key(n: u32) -> ControlKey {
        (Address::v4(n), 40000, Address::v4(100), 21)
    }

    #[test]
    fn offsets_are_kept_per_connection_and_per_stream() {
        let c = Controls::new(64);
        assert_eq!(c.get(&key(1), 0), None, "nothing rewritten yet");
        assert!(c.record(&key(1), Stream::ToClient, 5, 1, 0));
        assert!(c.record(&key(1), Stream::ToServer, 9, -2, 0));
        let got = c.get(&key(1), 0).unwrap();
        assert_eq!(got.to_client.seq(6), 7);
        assert_eq!(got.to_server.seq(10), 8);
        assert_eq!(c.get(&key(2), 0), None, "another connection");
    }

    #[test]
    fn offsets_from_elsewhere_are_taken_only_where_newer() {
        let c = Controls::new(64);
        // Here: the server's stream rewritten at 5 and at 50.
        assert!(c.record(&key(1), Stream::ToClient, 5, 1, 0));
        assert!(c.record(&key(1), Stream::ToClient, 50, 1, 0));
        let mine = c.get(&key(1), 0).unwrap();
        // A stale copy (only the rewrite at 5) and a client stream
        // rewritten at 7 that this director has not seen.
        let mut theirs = Control::default();
        theirs.to_client.record(5, 1);
        theirs.to_server.record(7, -1);
        assert!(c.merge(&key(1), theirs, 0));
        let got = c.get(&key(1), 0).unwrap();
        assert_eq!(got.to_client, mine.to_client, "the newer rewrite stays");
        assert_eq!(got.to_server, theirs.to_server, "the unknown one is taken");
        assert!(c.merge(&key(2), theirs, 0), "a connection unknown here");
        assert_eq!(c.get(&key(2), 0), Some(theirs));
    }

    #[test]
    fn a_full_bucket_refuses_until_a_session_idles_out() {
        let c = Controls::new(WAYS); // one bucket
        for n in 0..WAYS as u32 {
            assert!(c.record(&key(n), Stream::ToClient, 1, 1, 0));
        }
        assert!(!c.record(&key(99), Stream::ToClient, 1, 1, 10), "bounded");
        // Sessions 1..3 stay busy; session 0 idles out.
        for n in 1..WAYS as u32 {
            c.get(&key(n), CONTROL_IDLE);
        }
        assert!(c.record(&key(99), Stream::ToClient, 1, 1, CONTROL_IDLE));
        assert_eq!(c.get(&key(0), CONTROL_IDLE), None, "taken over");
        assert!(c.get(&key(99), CONTROL_IDLE).is_some());
    }
}
