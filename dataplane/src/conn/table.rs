//! A worker's connection table, written only by its worker and readable by
//! every other worker without a lock (DESIGN.md problem 2: a NAT reply can
//! arrive on another queue, hence another worker, than its connection).
//!
//! Layout: fixed arrays allocated once. The index is a bucketized hash with
//! two candidate buckets per key (7 entries of 8 bytes per 64-byte bucket,
//! load at most 5/7); an entry holds a 32-bit tag and the slot number. Slots
//! hold the connection packed into atomic words. Buckets and slots each carry
//! a sequence counter (seqlock): the single writer makes it odd while it
//! writes, readers retry when it changed under them. Another worker never
//! writes the connection; it leaves notes (TCP flags seen, a later idle
//! deadline) in two atomic words that the owner folds in.
//!
//! The hash is keyed with a per-table random seed, so a client cannot aim
//! its flows at one bucket.

use super::huge::HugeArray;
use super::{Conn, FlowKey, Side, TcpState};
use crate::snapshot::Forwarding;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering::*};
use std::sync::Arc;

const BUCKET_ENTRIES: usize = 7;
/// Reader retries before it reports a miss rather than spin on a slot the
/// writer keeps changing.
const READ_RETRIES: usize = 64;
/// Longest cuckoo displacement path tried before an insert reports full.
const MAX_KICKS: usize = 128;

#[repr(C, align(64))]
struct Bucket {
    seq: AtomicU32,
    entries: [AtomicU64; BUCKET_ENTRIES],
}

#[repr(C, align(64))]
struct Slot {
    seq: AtomicU32,
    expires: AtomicU32,
    /// Latest idle deadline another worker computed for this connection.
    remote_expires: AtomicU32,
    /// TCP flags other workers saw: bits 0-7 client->real, 8-15 real->client;
    /// bit 31 set when any note is pending.
    remote_flags: AtomicU32,
    words: [AtomicU64; 5],
}

const NOTE_PENDING: u32 = 1 << 31;
const LIVE: u64 = 1;

/// What other workers saw of a connection since the owner last looked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RemoteNote {
    pub input_flags: u8,
    pub output_flags: u8,
    pub expires: Option<u32>,
}

/// The part of a table every worker can read.
pub struct SharedTable {
    buckets: HugeArray<Bucket>,
    slots: HugeArray<Slot>,
    mask: usize,
    seed: u64,
}

fn pack(c: &Conn) -> [u64; 5] {
    let fwd = match c.forwarding {
        Forwarding::Nat => 0u64,
        Forwarding::Dr => 1,
    };
    let m = c.client_mac;
    [
        (u64::from(c.client) << 32) | u64::from(c.vip),
        (u64::from(c.real_addr) << 32) | (u64::from(c.cport) << 16) | u64::from(c.vport),
        (u64::from(c.real_port) << 48)
            | (u64::from(c.proto) << 40)
            | (fwd << 32)
            | (u64::from(c.state as u8) << 24)
            | (u64::from(c.client_port) << 16)
            | (u64::from(m[0]) << 8)
            | u64::from(m[1]),
        (u64::from(u32::from_be_bytes([m[2], m[3], m[4], m[5]])) << 32) | u64::from(c.real),
        (u64::from(c.service) << 32) | (u64::from(c.persistent) << 1) | LIVE,
    ]
}

fn unpack(w: [u64; 5], expires: u32) -> Option<Conn> {
    if w[4] & LIVE == 0 {
        return None;
    }
    let m = ((w[3] >> 32) as u32).to_be_bytes();
    Some(Conn {
        client: (w[0] >> 32) as u32,
        vip: w[0] as u32,
        real_addr: (w[1] >> 32) as u32,
        cport: (w[1] >> 16) as u16,
        vport: w[1] as u16,
        real_port: (w[2] >> 48) as u16,
        proto: (w[2] >> 40) as u8,
        forwarding: if (w[2] >> 32) & 1 == 0 {
            Forwarding::Nat
        } else {
            Forwarding::Dr
        },
        state: TcpState::from_u8((w[2] >> 24) as u8),
        client_port: (w[2] >> 16) as u8,
        client_mac: [(w[2] >> 8) as u8, w[2] as u8, m[0], m[1], m[2], m[3]],
        real: w[3] as u32,
        service: (w[4] >> 32) as u32,
        expires,
        persistent: w[4] & 2 != 0,
    })
}

impl SharedTable {
    fn new(capacity: usize) -> SharedTable {
        // Two index entries per NAT connection; load at most 5/7.
        let buckets = (2 * capacity).div_ceil(5).next_power_of_two().max(2);
        SharedTable {
            // SAFETY: buckets and slots are atomics only (all-zero: empty,
            // sequence 0, not live) aligned to 64 bytes.
            buckets: unsafe { HugeArray::zeroed(buckets) },
            // SAFETY: as above.
            slots: unsafe { HugeArray::zeroed(capacity) },
            mask: buckets - 1,
            seed: RandomState::new().hash_one(0x786c_625f_636f_6e6eu64),
        }
    }

    #[inline]
    fn hash(&self, k: &FlowKey) -> u64 {
        // Two rounds: every input bit reaches the low bits that pick the
        // bucket (keys often differ only in port).
        use crate::splitmix::splitmix64 as mix;
        let a = (u64::from(k.src) << 32) | u64::from(k.dst);
        let b = (u64::from(k.sport) << 24) | (u64::from(k.dport) << 8) | u64::from(k.proto);
        mix(mix(a ^ self.seed) ^ b)
    }

    /// The key's two candidate buckets and its tag (never 0).
    #[inline]
    fn place(&self, k: &FlowKey) -> (usize, usize, u32) {
        let h = self.hash(k);
        let tag = (h >> 32) as u32 | 1;
        let b1 = h as usize & self.mask;
        (b1, self.alt(b1, tag), tag)
    }

    /// The other bucket of an entry with `tag` in bucket `b`: an involution
    /// (alt(alt(b)) == b), so an entry can be moved knowing only its tag.
    #[inline]
    fn alt(&self, b: usize, tag: u32) -> usize {
        let f = ((tag as usize).wrapping_mul(0x5bd1_e995) & self.mask).max(1);
        b ^ f
    }

    fn read_bucket(&self, b: usize) -> Option<[u64; BUCKET_ENTRIES]> {
        let bucket = &self.buckets[b];
        for _ in 0..READ_RETRIES {
            let s1 = bucket.seq.load(Acquire);
            if s1 & 1 == 0 {
                let e = std::array::from_fn(|i| bucket.entries[i].load(Relaxed));
                fence(Acquire);
                if bucket.seq.load(Relaxed) == s1 {
                    return Some(e);
                }
            }
            std::hint::spin_loop();
        }
        None
    }

    /// A consistent copy of a slot's connection, or `None` if the slot is
    /// free (or kept changing).
    fn read_slot(&self, idx: u32) -> Option<Conn> {
        let slot = self.slots.get(idx as usize)?;
        for _ in 0..READ_RETRIES {
            let s1 = slot.seq.load(Acquire);
            if s1 & 1 == 0 {
                let w = std::array::from_fn(|i| slot.words[i].load(Relaxed));
                let expires = slot.expires.load(Relaxed);
                fence(Acquire);
                if slot.seq.load(Relaxed) == s1 {
                    return unpack(w, expires);
                }
            }
            std::hint::spin_loop();
        }
        None
    }

    /// Batched lookups, stage 1: start loading the key's first bucket, so
    /// that by the time the batch is processed it is in cache. Returns the
    /// key's place for stage 2.
    #[inline]
    pub fn prefetch_buckets(&self, key: &FlowKey) -> Place {
        let (b1, b2, tag) = self.place(key);
        prefetch(&self.buckets[b1]);
        Place { b1, b2, tag }
    }

    /// Stage 2 (after stage 1 for the whole batch): start loading the slots
    /// the first bucket names for this key's tag, or else the second bucket.
    #[inline]
    pub fn prefetch_slots(&self, p: Place) {
        let Place { b1, b2, tag } = p;
        let mut named = false;
        for e in &self.buckets[b1].entries {
            let e = e.load(Relaxed);
            if e != 0 && (e >> 32) as u32 == tag {
                if let Some(s) = self.slots.get(((e as u32) >> 1) as usize) {
                    prefetch(s);
                    named = true;
                }
            }
        }
        // Keys go to their first bucket while it has room, so the second
        // is needed only for the few that overflowed (or a new flow).
        if !named {
            prefetch(&self.buckets[b2]);
        }
    }

    /// Share of index entries that sit in their key's first bucket (what
    /// the batched prefetch bets on).
    #[cfg(test)]
    pub(super) fn first_bucket_share(&self) -> f64 {
        let (mut first, mut all) = (0usize, 0usize);
        for (b, bucket) in self.buckets.iter().enumerate() {
            for e in &bucket.entries {
                let e = e.load(Relaxed);
                let Some(c) = (e != 0).then(|| self.read_slot((e as u32) >> 1)).flatten() else {
                    continue;
                };
                let key = if e & 1 == 0 {
                    c.client_key()
                } else {
                    c.real_key()
                };
                all += 1;
                first += usize::from(self.place(&key).0 == b);
            }
        }
        first as f64 / all.max(1) as f64
    }

    /// Find the connection `key` belongs to: (slot, which side, a copy).
    pub fn find(&self, key: &FlowKey) -> Option<(u32, Side, Conn)> {
        let (b1, b2, tag) = self.place(key);
        for b in [b1, b2] {
            for e in self.read_bucket(b)? {
                if e == 0 || (e >> 32) as u32 != tag {
                    continue;
                }
                let idx = (e as u32) >> 1;
                let side = if e & 1 == 0 { Side::Client } else { Side::Real };
                if let Some(c) = self.read_slot(idx) {
                    let k = match side {
                        Side::Client => c.client_key(),
                        Side::Real => c.real_key(),
                    };
                    if k == *key {
                        return Some((idx, side, c));
                    }
                }
            }
        }
        None
    }

    /// Record, from another worker, that it forwarded a packet of this
    /// connection. `input` is true for client->real.
    pub fn note_remote(&self, idx: u32, input: bool, tcp_flags: u8, expires: u32) {
        let Some(slot) = self.slots.get(idx as usize) else {
            return;
        };
        let shift = if input { 0 } else { 8 };
        slot.remote_expires.store(expires, Relaxed);
        slot.remote_flags
            .fetch_or(NOTE_PENDING | (u32::from(tcp_flags) << shift), Release);
    }

    /// Every live connection, read slot by slot without stopping the owner
    /// (a listing is a moving picture, as with `ipvsadm -Lnc`).
    pub fn iter(&self) -> impl Iterator<Item = Conn> + '_ {
        (0..self.slots.len() as u32).filter_map(|i| self.read_slot(i))
    }

    /// Bytes of table memory per connection slot at this capacity.
    pub fn bytes_per_conn(&self) -> usize {
        let total = self.buckets.len() * size_of::<Bucket>() + self.slots.len() * size_of::<Slot>();
        total / self.slots.len()
    }
}

/// Where a key's entries can be: stage 1's result, stage 2's input.
#[derive(Debug, Clone, Copy, Default)]
pub struct Place {
    b1: usize,
    b2: usize,
    tag: u32,
}

/// A hint to load the cache line of `p`.
#[inline(always)]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is only a hint to the cache; it reads nothing the
    // program sees and never faults, and `p` is a valid reference anyway.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
            (p as *const T).cast::<i8>(),
        );
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection table full ({0} entries)")]
pub struct TableFull(pub usize);

/// The owning worker's handle: the only writer of its `SharedTable`.
pub struct ConnTable {
    shared: Arc<SharedTable>,
    free: Vec<u32>,
    hand: usize,
    /// State of the pseudo-random choices of cuckoo displacement.
    kick: u32,
}

impl ConnTable {
    /// All memory is taken here: lookups and inserts never allocate.
    pub fn with_capacity(capacity: usize) -> ConnTable {
        assert!(capacity > 0 && capacity < (1 << 31));
        ConnTable {
            shared: Arc::new(SharedTable::new(capacity)),
            free: (0..capacity as u32).rev().collect(),
            hand: 0,
            kick: 0x9e37_79b9,
        }
    }

    /// The read-only view other workers use.
    pub fn shared(&self) -> Arc<SharedTable> {
        self.shared.clone()
    }

    pub fn shared_ref(&self) -> &SharedTable {
        &self.shared
    }

    pub fn capacity(&self) -> usize {
        self.shared.slots.len()
    }

    pub fn len(&self) -> usize {
        self.capacity() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes_per_conn(&self) -> usize {
        self.shared.bytes_per_conn()
    }

    /// The live connection `key` belongs to. An entry idle past both its own
    /// and any remote deadline is removed here and reported to `on_expire`.
    #[inline]
    pub fn lookup(
        &mut self,
        key: &FlowKey,
        now: u32,
        on_expire: impl FnOnce(&Conn),
    ) -> Option<(u32, Side, Conn)> {
        let (idx, side, conn) = self.shared.find(key)?;
        if self.is_expired(idx, &conn, now) {
            self.remove(idx);
            on_expire(&conn);
            return None;
        }
        Some((idx, side, conn))
    }

    fn is_expired(&self, idx: u32, c: &Conn, now: u32) -> bool {
        let remote = self.shared.slots[idx as usize].remote_expires.load(Relaxed);
        expired(c.expires, now) && (remote == 0 || expired(remote, now))
    }

    /// Take the notes other workers left on a connection.
    #[inline]
    pub fn take_note(&mut self, idx: u32) -> Option<RemoteNote> {
        let slot = &self.shared.slots[idx as usize];
        if slot.remote_flags.load(Relaxed) == 0 {
            return None;
        }
        let f = slot.remote_flags.swap(0, Acquire);
        let e = slot.remote_expires.swap(0, Relaxed);
        Some(RemoteNote {
            input_flags: f as u8,
            output_flags: (f >> 8) as u8,
            expires: (e != 0).then_some(e),
        })
    }

    fn write_slot(&self, idx: u32, c: Option<&Conn>) {
        let slot = &self.shared.slots[idx as usize];
        let s = slot.seq.load(Relaxed);
        slot.seq.store(s.wrapping_add(1), Relaxed);
        fence(Release);
        let w = c.map_or([0; 5], pack);
        for (dst, v) in slot.words.iter().zip(w) {
            dst.store(v, Relaxed);
        }
        slot.expires.store(c.map_or(0, |c| c.expires), Relaxed);
        slot.seq.store(s.wrapping_add(2), Release);
    }

    /// Write back a connection's changed state or deadline.
    #[inline]
    pub fn update(&mut self, idx: u32, c: &Conn) {
        self.write_slot(idx, Some(c));
    }

    fn write_entry(&self, b: usize, pos: usize, value: u64) {
        let bucket = &self.shared.buckets[b];
        let s = bucket.seq.load(Relaxed);
        bucket.seq.store(s.wrapping_add(1), Relaxed);
        fence(Release);
        bucket.entries[pos].store(value, Relaxed);
        bucket.seq.store(s.wrapping_add(2), Release);
    }

    fn empty_pos(&self, b: usize) -> Option<usize> {
        self.shared.buckets[b]
            .entries
            .iter()
            .position(|e| e.load(Relaxed) == 0)
    }

    fn index_insert(&mut self, key: &FlowKey, idx: u32, side: Side) -> bool {
        let (b1, b2, tag) = self.shared.place(key);
        let value = (u64::from(tag) << 32) | (u64::from(idx) << 1) | (side == Side::Real) as u64;
        // The first bucket whenever it has room: most keys then sit there,
        // and a batched lookup needs only that one cache line in the common
        // case (see `prefetch_slots`).
        for b in [b1, b2] {
            if let Some(pos) = self.empty_pos(b) {
                self.write_entry(b, pos, value);
                return true;
            }
        }
        // Both buckets full: cuckoo displacement. Find a path of entries to
        // move, each to its other bucket, ending at an empty slot; then move
        // them from the end backwards, writing each entry's new place before
        // clearing its old one, so a reader always finds it.
        let mut path: Vec<(usize, usize)> = Vec::new(); // (bucket, position)
        let mut b = if self.kick & 1 == 0 { b1 } else { b2 };
        for _ in 0..MAX_KICKS {
            self.kick = self.kick.wrapping_mul(0x2545_f491).wrapping_add(1);
            let mut pos = (self.kick >> 8) as usize % BUCKET_ENTRIES;
            // Never revisit a slot: moving one entry twice would lose it.
            for _ in 0..BUCKET_ENTRIES {
                if !path.contains(&(b, pos)) {
                    break;
                }
                pos = (pos + 1) % BUCKET_ENTRIES;
            }
            if path.contains(&(b, pos)) {
                return false;
            }
            path.push((b, pos));
            let victim = self.shared.buckets[b].entries[pos].load(Relaxed);
            let next = self.shared.alt(b, (victim >> 32) as u32);
            if let Some(free_pos) = self.empty_pos(next) {
                let mut dst = (next, free_pos);
                for &(src_b, src_pos) in path.iter().rev() {
                    let v = self.shared.buckets[src_b].entries[src_pos].load(Relaxed);
                    self.write_entry(dst.0, dst.1, v);
                    self.write_entry(src_b, src_pos, 0);
                    dst = (src_b, src_pos);
                }
                // dst is now the freed slot in b1 or b2.
                self.write_entry(dst.0, dst.1, value);
                return true;
            }
            b = next;
        }
        false
    }

    fn index_remove(&self, key: &FlowKey, idx: u32, side: Side) {
        let (b1, b2, tag) = self.shared.place(key);
        let value = (u64::from(tag) << 32) | (u64::from(idx) << 1) | (side == Side::Real) as u64;
        for b in [b1, b2] {
            let pos = self.shared.buckets[b]
                .entries
                .iter()
                .position(|e| e.load(Relaxed) == value);
            if let Some(pos) = pos {
                self.write_entry(b, pos, 0);
                return;
            }
        }
    }

    pub fn insert(&mut self, conn: Conn) -> Result<u32, TableFull> {
        let full = TableFull(self.capacity());
        let idx = self.free.pop().ok_or(full)?;
        // Slot first, then index: a reader that finds the entry finds a
        // complete connection.
        self.write_slot(idx, Some(&conn));
        let slot = &self.shared.slots[idx as usize];
        slot.remote_flags.store(0, Relaxed);
        slot.remote_expires.store(0, Relaxed);
        if !self.index_insert(&conn.client_key(), idx, Side::Client) {
            self.write_slot(idx, None);
            self.free.push(idx);
            return Err(full);
        }
        if conn.forwarding == Forwarding::Nat
            && !self.index_insert(&conn.real_key(), idx, Side::Real)
        {
            self.index_remove(&conn.client_key(), idx, Side::Client);
            self.write_slot(idx, None);
            self.free.push(idx);
            return Err(full);
        }
        Ok(idx)
    }

    pub fn remove(&mut self, idx: u32) -> Option<Conn> {
        let conn = self.shared.read_slot(idx)?;
        // Index first, then slot: a reader never follows an entry to a slot
        // that was already reused without the key check catching it.
        self.index_remove(&conn.client_key(), idx, Side::Client);
        if conn.forwarding == Forwarding::Nat {
            self.index_remove(&conn.real_key(), idx, Side::Real);
        }
        self.write_slot(idx, None);
        self.free.push(idx);
        Some(conn)
    }

    /// The table is full: recycle a half-open TCP entry (NONE or SYN_RECV)
    /// found within `scan` slots of the sweep hand, as IPVS's drop_entry
    /// defence does under a SYN flood. Established connections and UDP are
    /// never taken. Returns the evicted connection (for its gauges).
    pub fn evict_half_open(&mut self, scan: usize) -> Option<Conn> {
        let n = self.capacity();
        for k in 0..scan.min(n) {
            let idx = ((self.hand + k) % n) as u32;
            let Some(c) = self.shared.read_slot(idx) else {
                continue;
            };
            if c.proto == crate::wire::IPPROTO_TCP
                && matches!(c.state, TcpState::None | TcpState::SynRecv)
            {
                self.hand = (idx as usize + 1) % n;
                return self.remove(idx);
            }
        }
        self.hand = (self.hand + scan) % n;
        None
    }

    /// Visit up to `budget` slots from where the last sweep stopped: pending
    /// remote notes are handed to `merge` (which may change the connection;
    /// it is written back), idle connections are removed and handed to
    /// `on_expire`. A full pass over N slots takes N / budget calls.
    pub fn sweep(
        &mut self,
        now: u32,
        budget: usize,
        mut merge: impl FnMut(&mut Conn, RemoteNote),
        mut on_expire: impl FnMut(&Conn),
    ) {
        let n = self.capacity();
        for _ in 0..budget.min(n) {
            let idx = self.hand as u32;
            self.hand = if self.hand + 1 == n { 0 } else { self.hand + 1 };
            let Some(mut c) = self.shared.read_slot(idx) else {
                continue;
            };
            if let Some(note) = self.take_note(idx) {
                merge(&mut c, note);
                self.update(idx, &c);
            }
            if self.is_expired(idx, &c, now) {
                let c = self.remove(idx).expect("slot was live");
                on_expire(&c);
            }
        }
    }

    /// Every live connection (control-plane listings and tests).
    pub fn iter(&self) -> impl Iterator<Item = Conn> + '_ {
        self.shared.iter()
    }
}

/// Wrapping comparison: the worker clock is seconds in a u32.
#[inline]
pub(super) fn expired(expires: u32, now: u32) -> bool {
    (now.wrapping_sub(expires) as i32) >= 0
}
