//! Expected data connections, shared by every worker without a lock: a
//! control segment on one worker announces, the data connection's first SYN
//! on any worker claims, exactly once.
//!
//! A fixed table of slots in 8-way buckets. Each slot's state word holds a
//! version and one of EMPTY, WRITING, READY. A writer takes a slot by a
//! compare-and-swap to WRITING, fills it and publishes it READY; a claimer
//! reads a READY slot, then swaps its state (with the version it read) to
//! EMPTY: only one claimer wins, and a slot rewritten in between changed
//! its version, so the claim fails rather than take a torn record.

use super::seq::after;
use super::{Expect, Expected};
use crate::conn::huge::HugeArray;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering::*};
use xlb_model::Address;

const WAYS: usize = 8;
const WORDS: usize = 12;
const EMPTY: u64 = 0;
const WRITING: u64 = 1;
const READY: u64 = 2;

#[repr(C, align(64))]
struct Slot {
    /// Version (bits 2-63) and state (bits 0-1).
    state: AtomicU64,
    words: [AtomicU64; WORDS],
}

/// The state word of version after `s` in `state`.
fn next(s: u64, state: u64) -> u64 {
    ((s >> 2).wrapping_add(1) << 2) | state
}

pub struct Expectations {
    slots: HugeArray<Slot>,
    mask: usize,
    seed: u64,
}

fn pack(e: &Expected) -> [u64; WORDS] {
    let (kind, a, b, port) = match e.expect {
        Expect::FromClient { client, vip, vport } => (0u64, client, vip, vport),
        Expect::FromReal {
            real_addr,
            client,
            cport,
        } => (1, real_addr, client, cport),
    };
    let m = e.client_mac;
    let mac = u64::from_be_bytes([0, 0, m[0], m[1], m[2], m[3], m[4], m[5]]);
    let (ah, al) = a.halves();
    let (bh, bl) = b.halves();
    let (vh, vl) = e.vip.halves();
    let (rh, rl) = e.real_addr.halves();
    [
        ah,
        al,
        bh,
        bl,
        vh,
        vl,
        rh,
        rl,
        (kind << 63) | (u64::from(port) << 32) | u64::from(e.deadline),
        (u64::from(e.real) << 32) | u64::from(e.service),
        mac,
        (u64::from(e.real_port) << 8) | u64::from(e.client_port),
    ]
}

fn unpack(w: [u64; WORDS]) -> Expected {
    let a = Address::from_halves(w[0], w[1]);
    let b = Address::from_halves(w[2], w[3]);
    let port = (w[8] >> 32) as u16;
    let expect = if w[8] >> 63 == 0 {
        Expect::FromClient {
            client: a,
            vip: b,
            vport: port,
        }
    } else {
        Expect::FromReal {
            real_addr: a,
            client: b,
            cport: port,
        }
    };
    let mac = w[10].to_be_bytes();
    Expected {
        expect,
        vip: Address::from_halves(w[4], w[5]),
        real_addr: Address::from_halves(w[6], w[7]),
        deadline: w[8] as u32,
        real: (w[9] >> 32) as u32,
        service: w[9] as u32,
        real_port: (w[11] >> 8) as u16,
        client_port: w[11] as u8,
        client_mac: [mac[2], mac[3], mac[4], mac[5], mac[6], mac[7]],
    }
}

impl Expectations {
    /// Room for `capacity` expectations (rounded up to whole buckets).
    pub fn new(capacity: usize) -> Expectations {
        let buckets = capacity.div_ceil(WAYS).next_power_of_two();
        Expectations {
            // SAFETY: slots are atomics only; all-zero is EMPTY, version 0.
            slots: unsafe { HugeArray::reserved(buckets * WAYS) },
            mask: buckets - 1,
            seed: RandomState::new().hash_one(0x6674_705f_6578_7063u64),
        }
    }

    fn bucket(&self, e: &Expect) -> &[Slot] {
        use crate::splitmix::splitmix64 as mix;
        let (kind, a, b, port) = match *e {
            Expect::FromClient { client, vip, vport } => (0u64, client, vip, vport),
            Expect::FromReal {
                real_addr,
                client,
                cport,
            } => (1, real_addr, client, cport),
        };
        let (ah, al) = a.halves();
        let (bh, bl) = b.halves();
        let mut h = mix(self.seed ^ (kind << 16) ^ u64::from(port));
        for x in [ah, al, bh, bl] {
            h = mix(h ^ x);
        }
        let i = (h as usize & self.mask) * WAYS;
        &self.slots[i..i + WAYS]
    }

    fn read(slot: &Slot) -> [u64; WORDS] {
        std::array::from_fn(|i| slot.words[i].load(Relaxed))
    }

    /// Announce a data connection; it replaces an announcement of the same
    /// connection. A bucket full of live announcements loses the one that
    /// expires first (as an overfull table loses its oldest).
    pub fn expect(&self, e: Expected, now: u32) {
        let ways = self.bucket(&e.expect);
        // Lock-free: a failed swap means another writer or claimer
        // succeeded; try again with what is there now.
        loop {
            // A slot for the same connection, else a free or expired one,
            // else the one that expires first.
            let mut pick: Option<(usize, u64)> = None;
            let mut first_deadline: Option<(usize, u64, u32)> = None;
            for (i, slot) in ways.iter().enumerate() {
                let s = slot.state.load(Acquire);
                match s & 3 {
                    READY => {
                        let x = unpack(Self::read(slot));
                        if x.expect == e.expect || !after(x.deadline, now) {
                            pick = Some((i, s));
                            break;
                        }
                        if first_deadline.is_none_or(|(_, _, d)| after(d, x.deadline)) {
                            first_deadline = Some((i, s, x.deadline));
                        }
                    }
                    EMPTY if pick.is_none() => pick = Some((i, s)),
                    _ => {}
                }
            }
            let Some((i, s)) = pick.or(first_deadline.map(|(i, s, _)| (i, s))) else {
                // Every way is being written this instant.
                std::hint::spin_loop();
                continue;
            };
            let slot = &ways[i];
            let writing = next(s, WRITING);
            if slot
                .state
                .compare_exchange(s, writing, Acquire, Relaxed)
                .is_err()
            {
                continue;
            }
            for (w, v) in slot.words.iter().zip(pack(&e)) {
                w.store(v, Relaxed);
            }
            slot.state.store(next(writing, READY), Release);
            return;
        }
    }

    /// Claim the live announcement `e` names, once.
    pub fn take(&self, e: &Expect, now: u32) -> Option<Expected> {
        for slot in self.bucket(e) {
            let s = slot.state.load(Acquire);
            if s & 3 != READY {
                continue;
            }
            let x = unpack(Self::read(slot));
            if x.expect != *e || !after(x.deadline, now) {
                continue;
            }
            // AcqRel: the words were read before; a writer that changed
            // them since also changed the version, and this fails.
            if slot
                .state
                .compare_exchange(s, next(s, EMPTY), AcqRel, Relaxed)
                .is_ok()
            {
                return Some(x);
            }
        }
        None
    }

    /// Live announcements (tests and listings).
    pub fn pending(&self, now: u32) -> usize {
        self.slots
            .iter()
            .filter(|s| {
                s.state.load(Acquire) & 3 == READY && after(unpack(Self::read(s)).deadline, now)
            })
            .count()
    }
}
