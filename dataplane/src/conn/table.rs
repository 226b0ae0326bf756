//! A worker's connection table, written only by its worker and readable by
//! every other worker without a lock (a NAT reply can arrive on another
//! queue, hence another worker, than its connection: docs/design/conn-table.md).
//!
//! Layout: fixed arrays allocated once. The index is a bucketized hash with
//! two candidate buckets per key (7 entries of 8 bytes per 64-byte bucket,
//! load at most 5/7); an entry holds a 32-bit tag and the slot's handle.
//! Slots hold the connection packed into atomic words: an IPv4 connection in
//! one 64-byte slot (as before IPv6 existed), an IPv6 one in a 128-byte slot
//! of a second array, so IPv4 pays nothing for IPv6's longer addresses. The
//! IPv6 array is reserved, not touched, until IPv6 connections use it.
//! Buckets and slots each carry a sequence counter (seqlock): the single
//! writer makes it odd while it writes, readers retry when it changed under
//! them. Another worker never writes the connection; it leaves notes (TCP
//! flags seen, a later idle deadline) in two atomic words that the owner
//! folds in.
//!
//! The hash is keyed with a per-table random seed, so a client cannot aim
//! its flows at one bucket.

use super::huge::HugeArray;
use super::{Conn, FlowKey, Side, SynProxied, TcpState};
use crate::snapshot::Forwarding;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering::*};
use std::sync::Arc;
use xlb_model::Address;

const BUCKET_ENTRIES: usize = 7;
/// Reader retries before it reports a miss rather than spin on a slot the
/// writer keeps changing.
const READ_RETRIES: usize = 64;
/// Longest cuckoo displacement path tried before an insert reports full.
const MAX_KICKS: usize = 128;

/// Words of an IPv4 connection (three addresses fit in two words) and of
/// an IPv6 one (six words of addresses, four of the rest).
const WORDS_V4: usize = 6;
const WORDS_V6: usize = 11;

/// A slot handle's bit 30: the slot is in the IPv6 array. Handles are
/// below 2^31 (an index entry keeps 31 bits for them).
const V6_SLOT: u32 = 1 << 30;
const SLOT_INDEX: u32 = V6_SLOT - 1;
/// Most slots of each family.
pub const MAX_CAPACITY: usize = SLOT_INDEX as usize;

#[repr(C, align(64))]
struct Bucket {
    seq: AtomicU32,
    entries: [AtomicU64; BUCKET_ENTRIES],
}

/// What every slot has besides the packed connection.
#[repr(C)]
struct SlotHead {
    seq: AtomicU32,
    expires: AtomicU32,
    /// Latest idle deadline another worker computed for this connection.
    remote_expires: AtomicU32,
    /// TCP flags other workers saw: bits 0-7 client->real, 8-15 real->client;
    /// bit 31 set when any note is pending.
    remote_flags: AtomicU32,
}

/// 64 bytes for IPv4 (`W` = 6), 128 for IPv6 (`W` = 11).
#[repr(C, align(64))]
struct Slot<const W: usize> {
    head: SlotHead,
    words: [AtomicU64; W],
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
    slots: HugeArray<Slot<WORDS_V4>>,
    slots6: HugeArray<Slot<WORDS_V6>>,
    /// Slots of each family ever used (the owner raises them): listings
    /// stop there instead of reading the whole reserved array.
    used: AtomicU32,
    used6: AtomicU32,
    mask: usize,
    seed: u64,
    /// SYN-proxy offsets other workers learnt for this table's
    /// connections (the server's SYN-ACK reached them), for the owner to
    /// take at its next batch.
    splices: crossbeam::queue::ArrayQueue<Splice>,
}

/// A SYN-proxied connection's offset, learnt by a worker that does not
/// hold it; the client's tuple checks the slot still holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Splice {
    pub slot: u32,
    pub client: Address,
    pub cport: u16,
    pub seq_delta: u32,
}

/// Offsets waiting for their owner at most (beyond: the server's SYN-ACK
/// comes again, and with it the offset).
const SPLICES: usize = 1024;

fn forwarding_code(f: Forwarding) -> u64 {
    match f {
        Forwarding::Nat => 0,
        Forwarding::Dr => 1,
        Forwarding::Tun => 2,
    }
}

fn forwarding_of(code: u64) -> Forwarding {
    match code & 0xff {
        0 => Forwarding::Nat,
        2 => Forwarding::Tun,
        _ => Forwarding::Dr,
    }
}

/// The four words both layouts end with: ports and state, MAC and real
/// server, service and flags, SYN-proxy state.
fn pack_rest(c: &Conn) -> [u64; 4] {
    let m = c.client_mac;
    [
        (u64::from(c.real_port) << 48)
            | (u64::from(c.proto) << 40)
            | (forwarding_code(c.forwarding) << 32)
            | (u64::from(c.state as u8) << 24)
            | (u64::from(c.client_port) << 16)
            | (u64::from(m[0]) << 8)
            | u64::from(m[1]),
        (u64::from(u32::from_be_bytes([m[2], m[3], m[4], m[5]])) << 32) | u64::from(c.real),
        (u64::from(c.service) << 32)
            | (u64::from(c.per_client) << 2)
            | (u64::from(c.persistent) << 1)
            | LIVE,
        (u64::from(c.seq_delta) << 32) | c.syn_proxy.code(),
    ]
}

/// A connection with only its addresses and ports missing.
#[inline]
fn unpack_rest(w: [u64; 4], expires: u32) -> Option<Conn> {
    if w[2] & LIVE == 0 {
        return None;
    }
    let m = ((w[1] >> 32) as u32).to_be_bytes();
    Some(Conn {
        client: Address::default(),
        cport: 0,
        vip: Address::default(),
        vport: 0,
        real_addr: Address::default(),
        real_port: (w[0] >> 48) as u16,
        proto: (w[0] >> 40) as u8,
        forwarding: forwarding_of(w[0] >> 32),
        state: TcpState::from_u8((w[0] >> 24) as u8),
        client_port: (w[0] >> 16) as u8,
        client_mac: [(w[0] >> 8) as u8, w[0] as u8, m[0], m[1], m[2], m[3]],
        real: w[1] as u32,
        service: (w[2] >> 32) as u32,
        expires,
        persistent: w[2] & 2 != 0,
        syn_proxy: SynProxied::from_code(w[3]),
        seq_delta: (w[3] >> 32) as u32,
        per_client: w[2] & 4 != 0,
    })
}

fn pack_v4(c: &Conn) -> [u64; WORDS_V4] {
    let [a, b, d, e] = pack_rest(c);
    [
        (u64::from(c.client.low32()) << 32) | u64::from(c.vip.low32()),
        (u64::from(c.real_addr.low32()) << 32) | (u64::from(c.cport) << 16) | u64::from(c.vport),
        a,
        b,
        d,
        e,
    ]
}

#[inline]
fn unpack_v4(w: [u64; WORDS_V4], expires: u32) -> Option<Conn> {
    let mut c = unpack_rest([w[2], w[3], w[4], w[5]], expires)?;
    c.client = Address::v4((w[0] >> 32) as u32);
    c.vip = Address::v4(w[0] as u32);
    c.real_addr = Address::v4((w[1] >> 32) as u32);
    c.cport = (w[1] >> 16) as u16;
    c.vport = w[1] as u16;
    Some(c)
}

fn pack_v6(c: &Conn) -> [u64; WORDS_V6] {
    let (ch, cl) = c.client.halves();
    let (vh, vl) = c.vip.halves();
    let (rh, rl) = c.real_addr.halves();
    let [a, b, d, e] = pack_rest(c);
    [
        ch,
        cl,
        vh,
        vl,
        rh,
        rl,
        (u64::from(c.cport) << 16) | u64::from(c.vport),
        a,
        b,
        d,
        e,
    ]
}

fn unpack_v6(w: [u64; WORDS_V6], expires: u32) -> Option<Conn> {
    let mut c = unpack_rest([w[7], w[8], w[9], w[10]], expires)?;
    c.client = Address::from_halves(w[0], w[1]);
    c.vip = Address::from_halves(w[2], w[3]);
    c.real_addr = Address::from_halves(w[4], w[5]);
    c.cport = (w[6] >> 16) as u16;
    c.vport = w[6] as u16;
    Some(c)
}

/// Whether the packed IPv4 connection `w` has `key` as its `side`'s tuple.
#[inline(always)]
fn matches_v4(w: &[u64; WORDS_V4], side: Side, key: &FlowKey) -> bool {
    if (w[2] >> 40) as u8 != key.proto || !Address::both_v4(key.src, key.dst) {
        return false;
    }
    let (src, dst) = (u64::from(key.src.low32()), u64::from(key.dst.low32()));
    let (sport, dport) = (u64::from(key.sport), u64::from(key.dport));
    match side {
        // client -> VIP
        Side::Client => w[0] == (src << 32) | dst && w[1] & 0xffff_ffff == (sport << 16) | dport,
        // real -> client
        Side::Real => {
            w[1] >> 32 == src
                && w[0] >> 32 == dst
                && w[2] >> 48 == sport
                && (w[1] >> 16) & 0xffff == dport
        }
    }
}

/// The same for a packed IPv6 connection.
#[inline]
fn matches_v6(w: &[u64; WORDS_V6], side: Side, key: &FlowKey) -> bool {
    if (w[7] >> 40) as u8 != key.proto {
        return false;
    }
    let client = Address::from_halves(w[0], w[1]);
    let (cport, vport) = ((w[6] >> 16) as u16, w[6] as u16);
    match side {
        Side::Client => {
            key.src == client
                && key.dst == Address::from_halves(w[2], w[3])
                && (key.sport, key.dport) == (cport, vport)
        }
        Side::Real => {
            key.src == Address::from_halves(w[4], w[5])
                && key.dst == client
                && (key.sport, key.dport) == ((w[7] >> 48) as u16, cport)
        }
    }
}

/// Whether a connection lives in the IPv4 array: all three of its
/// addresses are IPv4.
fn fits_v4(c: &Conn) -> bool {
    c.client.is_v4() && c.vip.is_v4() && c.real_addr.is_v4()
}

/// A consistent copy of a slot's words and deadline (seqlock read).
#[inline]
fn read_words<const W: usize>(slot: &Slot<W>) -> Option<([u64; W], u32)> {
    for _ in 0..READ_RETRIES {
        let s1 = slot.head.seq.load(Acquire);
        if s1 & 1 == 0 {
            let w = std::array::from_fn(|i| slot.words[i].load(Relaxed));
            let expires = slot.head.expires.load(Relaxed);
            fence(Acquire);
            if slot.head.seq.load(Relaxed) == s1 {
                return Some((w, expires));
            }
        }
        std::hint::spin_loop();
    }
    None
}

/// Write a slot's words and deadline (seqlock write; one writer).
fn write_words<const W: usize>(slot: &Slot<W>, w: [u64; W], expires: u32) {
    let s = slot.head.seq.load(Relaxed);
    slot.head.seq.store(s.wrapping_add(1), Relaxed);
    fence(Release);
    for (dst, v) in slot.words.iter().zip(w) {
        dst.store(v, Relaxed);
    }
    slot.head.expires.store(expires, Relaxed);
    slot.head.seq.store(s.wrapping_add(2), Release);
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
            // SAFETY: as above. Reserved only: most directors carry no or
            // few IPv6 connections, and the pages they never use cost no
            // memory.
            slots6: unsafe { HugeArray::reserved(capacity) },
            used: AtomicU32::new(0),
            used6: AtomicU32::new(0),
            mask: buckets - 1,
            seed: RandomState::new().hash_one(0x786c_625f_636f_6e6eu64),
            splices: crossbeam::queue::ArrayQueue::new(SPLICES),
        }
    }

    /// Hand the owner an offset learnt here; false when its queue is full.
    pub fn post_splice(&self, s: Splice) -> bool {
        self.splices.push(s).is_ok()
    }

    /// The next offset another worker learnt (the owner only).
    pub(crate) fn take_splice(&self) -> Option<Splice> {
        self.splices.pop()
    }

    #[inline]
    fn hash(&self, k: &FlowKey) -> u64 {
        // Two rounds: every input bit reaches the low bits that pick the
        // bucket (keys often differ only in port).
        use crate::splitmix::splitmix64 as mix;
        let b = (u64::from(k.sport) << 24) | (u64::from(k.dport) << 8) | u64::from(k.proto);
        if Address::both_v4(k.src, k.dst) {
            let a = (u64::from(k.src.low32()) << 32) | u64::from(k.dst.low32());
            return mix(mix(a ^ self.seed) ^ b);
        }
        // IPv6: the four address halves, keyed, through two folded
        // multiplies (wyhash's step) that run side by side, then the same
        // last round: a chain of three splitmix rounds more cost 10 ns a
        // packet, twice (the batch's prefetch hashes too).
        let (sh, sl) = k.src.halves();
        let (dh, dl) = k.dst.halves();
        let m1 = fold_mul(sh ^ self.seed, dh ^ 0xa076_1d64_78bd_642f);
        let m2 = fold_mul(sl ^ 0xe703_7ed1_a0b4_28db, dl ^ self.seed.rotate_left(32));
        mix(m1 ^ m2 ^ b)
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

    /// The head of the slot a handle names.
    #[inline]
    fn head(&self, id: u32) -> Option<&SlotHead> {
        let i = (id & SLOT_INDEX) as usize;
        if id & V6_SLOT == 0 {
            self.slots.get(i).map(|s| &s.head)
        } else {
            self.slots6.get(i).map(|s| &s.head)
        }
    }

    /// A consistent copy of a slot's connection, or `None` if the slot is
    /// free (or kept changing).
    #[inline]
    fn read_slot(&self, id: u32) -> Option<Conn> {
        let i = (id & SLOT_INDEX) as usize;
        if id & V6_SLOT == 0 {
            let (w, e) = read_words(self.slots.get(i)?)?;
            unpack_v4(w, e)
        } else {
            let (w, e) = read_words(self.slots6.get(i)?)?;
            unpack_v6(w, e)
        }
    }

    #[inline]
    fn prefetch_slot(&self, id: u32) -> bool {
        let i = (id & SLOT_INDEX) as usize;
        if id & V6_SLOT == 0 {
            self.slots.get(i).map(prefetch).is_some()
        } else {
            // Two cache lines: a lookup reads the addresses in the first
            // and the state and deadline in the second.
            self.slots6
                .get(i)
                .map(|s| {
                    prefetch(s);
                    prefetch(&s.words[WORDS_V6 - 1]);
                })
                .is_some()
        }
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
                named |= self.prefetch_slot((e as u32) >> 1);
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

    /// Find the connection `key` belongs to: (slot handle, which side, a copy).
    #[inline(always)]
    pub fn find(&self, key: &FlowKey) -> Option<(u32, Side, Conn)> {
        let (b1, b2, tag) = self.place(key);
        for b in [b1, b2] {
            for e in self.read_bucket(b)? {
                if e == 0 || (e >> 32) as u32 != tag {
                    continue;
                }
                let id = (e as u32) >> 1;
                let side = if e & 1 == 0 { Side::Client } else { Side::Real };
                let i = (id & SLOT_INDEX) as usize;
                // The key is checked against the packed words: only the
                // connection found is unpacked.
                if id & V6_SLOT == 0 {
                    let Some((w, expires)) = self.slots.get(i).and_then(read_words) else {
                        continue;
                    };
                    if w[4] & LIVE != 0 && matches_v4(&w, side, key) {
                        return unpack_v4(w, expires).map(|c| (id, side, c));
                    }
                } else {
                    let Some((w, expires)) = self.slots6.get(i).and_then(read_words) else {
                        continue;
                    };
                    if w[9] & LIVE != 0 && matches_v6(&w, side, key) {
                        return unpack_v6(w, expires).map(|c| (id, side, c));
                    }
                }
            }
        }
        None
    }

    /// Record, from another worker, that it forwarded a packet of this
    /// connection. `input` is true for client->real.
    pub fn note_remote(&self, id: u32, input: bool, tcp_flags: u8, expires: u32) {
        let Some(head) = self.head(id) else {
            return;
        };
        let shift = if input { 0 } else { 8 };
        head.remote_expires.store(expires, Relaxed);
        head.remote_flags
            .fetch_or(NOTE_PENDING | (u32::from(tcp_flags) << shift), Release);
    }

    /// Every live connection, read slot by slot without stopping the owner
    /// (a listing is a moving picture, as with `ipvsadm -Lnc`).
    pub fn iter(&self) -> impl Iterator<Item = Conn> + '_ {
        let (n4, n6) = (self.used.load(Acquire), self.used6.load(Acquire));
        let v4 = (0..n4).filter_map(|i| self.read_slot(i));
        let v6 = (0..n6).filter_map(|i| self.read_slot(i | V6_SLOT));
        v4.chain(v6)
    }

    /// Connections the table holds at most (both families together).
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Bytes of table memory per IPv4 connection slot at this capacity.
    pub fn bytes_per_conn(&self) -> usize {
        let total = self.buckets.len() * size_of::<Bucket>()
            + self.slots.len() * size_of::<Slot<WORDS_V4>>();
        total / self.slots.len()
    }

    /// Bytes of table memory per IPv6 connection slot (its slots are only
    /// backed by memory once used).
    pub fn bytes_per_conn_v6(&self) -> usize {
        let total = self.buckets.len() * size_of::<Bucket>()
            + self.slots6.len() * size_of::<Slot<WORDS_V6>>();
        total / self.slots6.len()
    }
}

/// Where a key's entries can be: stage 1's result, stage 2's input.
#[derive(Debug, Clone, Copy, Default)]
pub struct Place {
    b1: usize,
    b2: usize,
    tag: u32,
}

/// The 128-bit product of `a` and `b`, its halves xored.
#[inline(always)]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
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

/// Slots of one family not in use: ones freed, then ones never used.
struct FreeSlots {
    freed: Vec<u32>,
    never_used: u32,
    len: u32,
}

impl FreeSlots {
    fn new(len: usize) -> FreeSlots {
        FreeSlots {
            freed: Vec::new(),
            never_used: 0,
            len: len as u32,
        }
    }

    fn take(&mut self) -> Option<u32> {
        self.freed.pop().or_else(|| {
            (self.never_used < self.len).then(|| {
                self.never_used += 1;
                self.never_used - 1
            })
        })
    }

    fn give_back(&mut self, i: u32) {
        self.freed.push(i);
    }
}

/// The owning worker's handle: the only writer of its `SharedTable`.
pub struct ConnTable {
    shared: Arc<SharedTable>,
    free: FreeSlots,
    free6: FreeSlots,
    live: usize,
    /// Sweep and eviction position over the used slots (IPv4 ones first).
    hand: usize,
    /// Half-open connections the sweep met since its hand last wrapped.
    half_open_seen: usize,
    /// Live connections per (service, client address) of those counted
    /// against a per-client cap; allocated when the first one comes.
    clients: hashbrown::HashMap<(u32, Address), u32>,
    /// State of the pseudo-random choices of cuckoo displacement.
    kick: u32,
}

impl ConnTable {
    /// All memory is taken here: lookups and inserts never allocate
    /// (beyond the list of freed slots, which grows to at most the
    /// capacity once).
    pub fn with_capacity(capacity: usize) -> ConnTable {
        assert!(capacity > 0 && capacity <= MAX_CAPACITY);
        ConnTable {
            shared: Arc::new(SharedTable::new(capacity)),
            free: FreeSlots {
                freed: Vec::with_capacity(capacity),
                ..FreeSlots::new(capacity)
            },
            free6: FreeSlots::new(capacity),
            live: 0,
            hand: 0,
            half_open_seen: 0,
            clients: hashbrown::HashMap::new(),
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

    /// Connections at most, of both families together.
    pub fn capacity(&self) -> usize {
        self.shared.slots.len()
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn bytes_per_conn(&self) -> usize {
        self.shared.bytes_per_conn()
    }

    /// The live connection `key` belongs to. An entry idle past both its own
    /// and any remote deadline is removed here and reported to `on_expire`.
    #[inline(always)]
    pub fn lookup(
        &mut self,
        key: &FlowKey,
        now: u32,
        on_expire: impl FnOnce(&Conn),
    ) -> Option<(u32, Side, Conn)> {
        let (id, side, conn) = self.shared.find(key)?;
        if self.is_expired(id, &conn, now) {
            self.remove(id);
            on_expire(&conn);
            return None;
        }
        Some((id, side, conn))
    }

    fn is_expired(&self, id: u32, c: &Conn, now: u32) -> bool {
        let remote = self
            .shared
            .head(id)
            .map_or(0, |h| h.remote_expires.load(Relaxed));
        expired(c.expires, now) && (remote == 0 || expired(remote, now))
    }

    /// Take the notes other workers left on a connection.
    #[inline]
    pub fn take_note(&mut self, id: u32) -> Option<RemoteNote> {
        let head = self.shared.head(id)?;
        if head.remote_flags.load(Relaxed) == 0 {
            return None;
        }
        let f = head.remote_flags.swap(0, Acquire);
        let e = head.remote_expires.swap(0, Relaxed);
        Some(RemoteNote {
            input_flags: f as u8,
            output_flags: (f >> 8) as u8,
            expires: (e != 0).then_some(e),
        })
    }

    /// Write (or with `None`, free) a slot.
    fn write_slot(&self, id: u32, c: Option<&Conn>) {
        let i = (id & SLOT_INDEX) as usize;
        let expires = c.map_or(0, |c| c.expires);
        if id & V6_SLOT == 0 {
            write_words(
                &self.shared.slots[i],
                c.map_or([0; WORDS_V4], pack_v4),
                expires,
            );
        } else {
            write_words(
                &self.shared.slots6[i],
                c.map_or([0; WORDS_V6], pack_v6),
                expires,
            );
        }
    }

    /// The connection in slot `id`, if live.
    pub fn get(&self, id: u32) -> Option<Conn> {
        self.shared.read_slot(id)
    }

    /// Write back a connection's changed state or deadline.
    #[inline]
    pub fn update(&mut self, id: u32, c: &Conn) {
        self.write_slot(id, Some(c));
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

    fn index_insert(&mut self, key: &FlowKey, id: u32, side: Side) -> bool {
        let (b1, b2, tag) = self.shared.place(key);
        let value = (u64::from(tag) << 32) | (u64::from(id) << 1) | (side == Side::Real) as u64;
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

    fn index_remove(&self, key: &FlowKey, id: u32, side: Side) {
        let (b1, b2, tag) = self.shared.place(key);
        let value = (u64::from(tag) << 32) | (u64::from(id) << 1) | (side == Side::Real) as u64;
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

    fn release(&mut self, id: u32) {
        self.write_slot(id, None);
        if id & V6_SLOT == 0 {
            self.free.give_back(id);
        } else {
            self.free6.give_back(id & SLOT_INDEX);
        }
        self.live -= 1;
    }

    /// Insert a connection; its handle names it from then on.
    pub fn insert(&mut self, conn: Conn) -> Result<u32, TableFull> {
        let full = TableFull(self.capacity());
        if self.live >= self.capacity() {
            return Err(full);
        }
        let id = if fits_v4(&conn) {
            let id = self.free.take();
            self.shared.used.store(self.free.never_used, Release);
            id
        } else {
            let id = self.free6.take().map(|i| i | V6_SLOT);
            self.shared.used6.store(self.free6.never_used, Release);
            id
        }
        .ok_or(full)?;
        self.live += 1;
        // Slot first, then index: a reader that finds the entry finds a
        // complete connection.
        self.write_slot(id, Some(&conn));
        if let Some(head) = self.shared.head(id) {
            head.remote_flags.store(0, Relaxed);
            head.remote_expires.store(0, Relaxed);
        }
        if !self.index_insert(&conn.client_key(), id, Side::Client) {
            self.release(id);
            return Err(full);
        }
        if conn.forwarding == Forwarding::Nat
            && !self.index_insert(&conn.real_key(), id, Side::Real)
        {
            self.index_remove(&conn.client_key(), id, Side::Client);
            self.release(id);
            return Err(full);
        }
        if conn.per_client {
            if self.clients.capacity() == 0 {
                // Sized once for the common case; a client table beyond it
                // grows (rarely: one entry per client with connections).
                self.clients.reserve(self.capacity().min(1 << 16));
            }
            *self.clients.entry((conn.service, conn.client)).or_insert(0) += 1;
        }
        Ok(id)
    }

    /// Make way for a new NAT connection whose replies carry `key`: an
    /// older connection of another service NATed the same client port to
    /// the same server port (two VIP ports served by one server port). The
    /// server knows one connection by these ports, so the newest owns the
    /// replies, as in IPVS (the newest first in its hash chain). An ended
    /// TCP connection there is removed and returned; a live one keeps its
    /// client side and loses its replies' entry.
    pub fn yield_real_key(&mut self, key: &FlowKey) -> Option<Conn> {
        // Read as the table's only writer: nothing moves under it, so the
        // buckets' entries are read once, without the seqlock, and only a
        // reply entry with the key's tag is followed to its slot (a miss,
        // the common case, costs the hash and two bucket scans).
        let (b1, b2, tag) = self.shared.place(key);
        let (id, c) = [b1, b2].into_iter().find_map(|b| {
            self.shared.buckets[b].entries.iter().find_map(|e| {
                let e = e.load(Relaxed);
                if (e >> 32) as u32 != tag || e & 1 == 0 {
                    return None;
                }
                let id = (e as u32) >> 1;
                let c = self.shared.read_slot(id)?;
                (c.real_key() == *key).then_some((id, c))
            })
        })?;
        if c.has_ended() {
            return self.remove(id);
        }
        self.index_remove(key, id, Side::Real);
        None
    }

    pub fn remove(&mut self, id: u32) -> Option<Conn> {
        let conn = self.shared.read_slot(id)?;
        // Index first, then slot: a reader never follows an entry to a slot
        // that was already reused without the key check catching it.
        self.index_remove(&conn.client_key(), id, Side::Client);
        if conn.forwarding == Forwarding::Nat {
            self.index_remove(&conn.real_key(), id, Side::Real);
        }
        self.release(id);
        if conn.per_client {
            if let Some(n) = self.clients.get_mut(&(conn.service, conn.client)) {
                *n -= 1;
                if *n == 0 {
                    self.clients.remove(&(conn.service, conn.client));
                }
            }
        }
        Some(conn)
    }

    /// Live connections of `client` to `service` counted against a cap.
    #[inline]
    pub fn client_conns(&self, service: u32, client: Address) -> u32 {
        self.clients.get(&(service, client)).copied().unwrap_or(0)
    }

    /// Slots ever used, IPv4 then IPv6: what the sweep and eviction visit.
    fn used(&self) -> usize {
        (self.free.never_used + self.free6.never_used) as usize
    }

    /// The handle of position `p` in 0..used().
    fn handle_at(&self, p: usize) -> u32 {
        let v4 = self.free.never_used as usize;
        if p < v4 {
            p as u32
        } else {
            (p - v4) as u32 | V6_SLOT
        }
    }

    /// The table is full: recycle a half-open TCP entry (NONE or SYN_RECV)
    /// or a closed one (CLOSE: reset, or opened mid-flow by sloppy_tcp and
    /// never started by a SYN) found within `scan` slots of the sweep hand,
    /// as IPVS's drop_entry defence does under a SYN flood. Established
    /// connections and UDP are never taken. Returns the evicted connection (for its gauges).
    pub fn evict_half_open(&mut self, scan: usize) -> Option<Conn> {
        let n = self.used();
        if n == 0 {
            return None;
        }
        for k in 0..scan.min(n) {
            let p = (self.hand + k) % n;
            let id = self.handle_at(p);
            let Some(c) = self.shared.read_slot(id) else {
                continue;
            };
            if c.proto == crate::wire::IPPROTO_TCP
                && matches!(
                    c.state,
                    TcpState::None | TcpState::SynRecv | TcpState::Close
                )
            {
                self.hand = (p + 1) % n;
                return self.remove(id);
            }
        }
        self.hand = (self.hand + scan) % n;
        None
    }

    /// Visit up to `budget` slots from where the last sweep stopped: pending
    /// remote notes are handed to `merge` (which may change the connection;
    /// it is written back), idle connections are removed and handed to
    /// `on_expire`. A full pass over N used slots takes N / budget calls;
    /// the call that ends one returns the half-open connections it met.
    pub fn sweep(
        &mut self,
        now: u32,
        budget: usize,
        mut merge: impl FnMut(&mut Conn, RemoteNote),
        mut on_expire: impl FnMut(&Conn),
    ) -> Option<usize> {
        let n = self.used();
        let mut pass = None;
        for _ in 0..budget.min(n) {
            if self.hand >= n {
                self.hand = 0;
                pass = Some(std::mem::take(&mut self.half_open_seen));
            }
            let id = self.handle_at(self.hand);
            self.hand += 1;
            let Some(mut c) = self.shared.read_slot(id) else {
                continue;
            };
            if let Some(note) = self.take_note(id) {
                merge(&mut c, note);
                self.update(id, &c);
            }
            if self.is_expired(id, &c, now) {
                let c = self.remove(id).expect("slot was live");
                on_expire(&c);
            } else if c.is_half_open() {
                self.half_open_seen += 1;
            }
        }
        pass
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
