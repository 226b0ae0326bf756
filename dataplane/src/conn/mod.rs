//! The connection table: one per worker, bounded, with IPVS's per-state
//! timeouts. Expiry is lazy (checked on lookup) plus a sweep hand that visits
//! a fixed number of slots per batch, so no packet ever waits for a scan.
//!
//! Memory: a NAT connection is one `Conn` slot and two index entries (the
//! client's tuple and the real server's reply tuple); DR has one index entry.

mod tcp_state;

pub use tcp_state::{Direction, TcpState, Timeouts};

use crate::snapshot::{Forwarding, PortId, RealId, ServiceId};
use crate::wire::IPPROTO_TCP;
use hashbrown::HashMap;

/// A packet's 5-tuple as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub src: u32,
    pub dst: u32,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

/// Which tuple of a connection an index entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// client -> VIP
    Client,
    /// real server -> client (NAT replies)
    Real,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conn {
    pub client: u32,
    pub cport: u16,
    pub vip: u32,
    pub vport: u16,
    pub proto: u8,
    pub forwarding: Forwarding,
    pub real: RealId,
    pub real_addr: u32,
    pub real_port: u16,
    pub service: ServiceId,
    /// Port the client's frames arrive on, and the MAC that sent them: NAT
    /// replies go back to that neighbour (the router or client that sent the
    /// request), so no lookup is needed for them.
    pub client_port: PortId,
    pub client_mac: [u8; 6],
    pub state: TcpState,
    /// Coarse seconds (worker clock) after which the entry is dead.
    pub expires: u32,
}

impl Conn {
    pub fn client_key(&self) -> FlowKey {
        FlowKey {
            src: self.client,
            dst: self.vip,
            sport: self.cport,
            dport: self.vport,
            proto: self.proto,
        }
    }
    pub fn real_key(&self) -> FlowKey {
        FlowKey {
            src: self.real_addr,
            dst: self.client,
            sport: self.real_port,
            dport: self.cport,
            proto: self.proto,
        }
    }
    /// IPVS's "active" column: an established TCP connection. UDP and every
    /// other TCP state count as inactive.
    pub fn is_active(&self) -> bool {
        self.proto == IPPROTO_TCP && self.state == TcpState::Established
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("connection table full ({0} entries)")]
pub struct TableFull(pub usize);

pub struct ConnTable {
    index: HashMap<FlowKey, (u32, Side)>,
    slots: Vec<Option<Conn>>,
    free: Vec<u32>,
    hand: usize,
}

impl ConnTable {
    /// All memory is taken here: lookups and inserts never allocate.
    pub fn with_capacity(capacity: usize) -> ConnTable {
        assert!(capacity > 0 && capacity <= u32::MAX as usize);
        ConnTable {
            index: HashMap::with_capacity(capacity * 2),
            slots: vec![None; capacity],
            free: (0..capacity as u32).rev().collect(),
            hand: 0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    pub fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of table memory per connection slot (index entries included).
    pub fn bytes_per_entry() -> usize {
        // hashbrown: key + value + one control byte per bucket, buckets at
        // most 8/7 of entries; two index entries per NAT connection.
        let bucket = core::mem::size_of::<(FlowKey, (u32, Side))>() + 1;
        core::mem::size_of::<Option<Conn>>() + 4 + 2 * bucket * 8 / 7
    }

    /// The live connection a packet with `key` belongs to. An expired entry
    /// is removed here and reported through `on_expire`.
    #[inline]
    pub fn lookup(
        &mut self,
        key: &FlowKey,
        now: u32,
        on_expire: impl FnOnce(&Conn),
    ) -> Option<(u32, Side)> {
        let (idx, side) = *self.index.get(key)?;
        let conn = self.slots[idx as usize].as_ref()?;
        if expired(conn.expires, now) {
            let conn = *conn;
            self.remove(idx);
            on_expire(&conn);
            return None;
        }
        Some((idx, side))
    }

    #[inline]
    pub fn get_mut(&mut self, idx: u32) -> &mut Conn {
        self.slots[idx as usize]
            .as_mut()
            .expect("index entries point at live slots")
    }

    pub fn insert(&mut self, conn: Conn) -> Result<u32, TableFull> {
        let idx = self.free.pop().ok_or(TableFull(self.slots.len()))?;
        self.index.insert(conn.client_key(), (idx, Side::Client));
        if conn.forwarding == Forwarding::Nat {
            self.index.insert(conn.real_key(), (idx, Side::Real));
        }
        self.slots[idx as usize] = Some(conn);
        Ok(idx)
    }

    pub fn remove(&mut self, idx: u32) -> Option<Conn> {
        let conn = self.slots[idx as usize].take()?;
        self.index.remove(&conn.client_key());
        if conn.forwarding == Forwarding::Nat {
            self.index.remove(&conn.real_key());
        }
        self.free.push(idx);
        Some(conn)
    }

    /// Visit up to `budget` slots from where the last sweep stopped, freeing
    /// expired entries. Called once per batch: a full pass over a table of
    /// N slots takes N / budget batches.
    pub fn sweep(&mut self, now: u32, budget: usize, mut on_expire: impl FnMut(&Conn)) {
        let n = self.slots.len();
        for _ in 0..budget.min(n) {
            let idx = self.hand;
            self.hand = if idx + 1 == n { 0 } else { idx + 1 };
            if let Some(c) = &self.slots[idx] {
                if expired(c.expires, now) {
                    let c = self.remove(idx as u32).expect("slot was live");
                    on_expire(&c);
                }
            }
        }
    }

    /// Every live connection (control-plane listings and tests).
    pub fn iter(&self) -> impl Iterator<Item = &Conn> {
        self.slots.iter().flatten()
    }
}

/// Wrapping comparison: the worker clock is seconds in a u32.
#[inline]
fn expired(expires: u32, now: u32) -> bool {
    (now.wrapping_sub(expires) as i32) >= 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(client: u32, fwd: Forwarding, expires: u32) -> Conn {
        Conn {
            client,
            cport: 40000,
            vip: 100,
            vport: 80,
            proto: IPPROTO_TCP,
            forwarding: fwd,
            real: 1,
            real_addr: 200,
            real_port: 8080,
            service: 0,
            client_port: 0,
            client_mac: [0; 6],
            state: TcpState::SynRecv,
            expires,
        }
    }

    #[test]
    fn nat_entries_are_found_from_both_sides() {
        let mut t = ConnTable::with_capacity(4);
        let c = conn(1, Forwarding::Nat, 100);
        let idx = t.insert(c).unwrap();
        assert_eq!(
            t.lookup(&c.client_key(), 10, |_| {}),
            Some((idx, Side::Client))
        );
        assert_eq!(t.lookup(&c.real_key(), 10, |_| {}), Some((idx, Side::Real)));
        let d = conn(2, Forwarding::Dr, 100);
        t.insert(d).unwrap();
        assert_eq!(t.lookup(&d.real_key(), 10, |_| {}), None);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn table_is_bounded_and_reuses_slots() {
        let mut t = ConnTable::with_capacity(2);
        t.insert(conn(1, Forwarding::Nat, 100)).unwrap();
        let b = t.insert(conn(2, Forwarding::Nat, 100)).unwrap();
        assert_eq!(t.insert(conn(3, Forwarding::Nat, 100)), Err(TableFull(2)));
        t.remove(b).unwrap();
        assert!(t.insert(conn(3, Forwarding::Nat, 100)).is_ok());
    }

    #[test]
    fn expiry_is_lazy_on_lookup_and_swept_in_budgets() {
        let mut t = ConnTable::with_capacity(8);
        let c = conn(1, Forwarding::Nat, 50);
        t.insert(c).unwrap();
        let mut expired = 0;
        assert!(t.lookup(&c.client_key(), 49, |_| expired += 1).is_some());
        assert!(t.lookup(&c.client_key(), 50, |_| expired += 1).is_none());
        assert_eq!((expired, t.len()), (1, 0));
        assert_eq!(
            t.lookup(&c.real_key(), 50, |_| {}),
            None,
            "both index entries gone"
        );

        for i in 0..8 {
            t.insert(conn(10 + i, Forwarding::Nat, 5)).unwrap();
        }
        let mut seen = 0;
        t.sweep(6, 3, |_| seen += 1);
        assert_eq!((seen, t.len()), (3, 5));
        t.sweep(6, 100, |_| seen += 1);
        assert_eq!((seen, t.len()), (8, 0));
    }

    #[test]
    fn clock_wrap_does_not_resurrect_or_kill_entries() {
        assert!(!expired(5, u32::MAX - 3));
        assert!(expired(u32::MAX - 3, 5));
    }

    #[test]
    fn entry_memory_is_within_budget() {
        let b = ConnTable::bytes_per_entry();
        assert!(b <= 128, "{b} bytes per connection");
    }
}
