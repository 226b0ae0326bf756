//! Connections: one table per worker, bounded, with IPVS's per-state
//! timeouts. Expiry is lazy (checked on lookup) plus a sweep hand that visits
//! a fixed number of slots per batch, so no packet ever waits for a scan.
//! Other workers read a table without locks (`table.rs`).
//!
//! A NAT connection has two index entries (the client's tuple and the real
//! server's reply tuple); DR has one.

pub(crate) mod huge;
pub mod persist;
pub mod record;
mod table;

pub use persist::PersistTable;
pub use table::{ConnTable, Place, RemoteNote, SharedTable, Splice, TableFull, MAX_CAPACITY};
pub use xlb_model::tcp::{Direction, TcpState, Timeouts};

use crate::snapshot::{Forwarding, PortId, RealId, ServiceId};
use crate::wire::IPPROTO_TCP;
use xlb_model::Address;

/// A packet's 5-tuple as it appears on the wire, either family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub src: Address,
    pub dst: Address,
    pub sport: u16,
    pub dport: u16,
    pub proto: u8,
}

impl FlowKey {
    /// The 5-tuple of a parsed frame.
    #[inline]
    pub fn of(f: &crate::wire::Frame) -> FlowKey {
        FlowKey {
            src: f.src,
            dst: f.dst,
            sport: f.sport,
            dport: f.dport,
            proto: f.proto,
        }
    }
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
    pub client: Address,
    pub cport: u16,
    pub vip: Address,
    pub vport: u16,
    pub proto: u8,
    pub forwarding: Forwarding,
    pub real: RealId,
    pub real_addr: Address,
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
    /// Scheduled through a persistence template (keeps it alive).
    pub persistent: bool,
    /// Opened by the SYN proxy: where its handshake with the real server is.
    pub syn_proxy: SynProxied,
    /// SYN proxy: while `AwaitingServer`, the ISN the director gave the
    /// client (its cookie); once spliced, what is added to the server's
    /// sequence numbers on their way to the client (and taken from the
    /// client's acknowledgements on their way to the server).
    pub seq_delta: u32,
    /// Counted against its service's cap on connections per client
    /// address (`ConnTable::client_conns`).
    pub per_client: bool,
}

/// A connection's SYN-proxy stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SynProxied {
    /// Opened by the client's own SYN: nothing to translate.
    #[default]
    No,
    /// The client's ACK carried a valid cookie; the director sent the real
    /// server a SYN and waits for its SYN-ACK.
    AwaitingServer,
    /// Both handshakes are done: sequence numbers are translated.
    Spliced,
}

impl SynProxied {
    pub(crate) fn code(self) -> u64 {
        match self {
            SynProxied::No => 0,
            SynProxied::AwaitingServer => 1,
            SynProxied::Spliced => 2,
        }
    }

    pub(crate) fn from_code(c: u64) -> SynProxied {
        match c & 3 {
            1 => SynProxied::AwaitingServer,
            2 => SynProxied::Spliced,
            _ => SynProxied::No,
        }
    }
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
    /// A TCP connection closed by both sides or reset: its ports may open
    /// a new one.
    pub fn has_ended(&self) -> bool {
        self.proto == IPPROTO_TCP && matches!(self.state, TcpState::TimeWait | TcpState::Close)
    }

    /// IPVS's "active" column: an established TCP connection. UDP and every
    /// other TCP state count as inactive.
    pub fn is_active(&self) -> bool {
        self.proto == IPPROTO_TCP && self.state == TcpState::Established
    }

    /// A TCP connection whose handshake has not completed: kept out of
    /// connection sync (a SYN flood stays on this director).
    pub fn is_half_open(&self) -> bool {
        self.proto == IPPROTO_TCP && self.state.is_half_open()
    }
}

#[cfg(test)]
mod tests {
    use super::table::expired;
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    fn conn(client: u32, fwd: Forwarding, expires: u32) -> Conn {
        Conn {
            client: Address::v4(client),
            cport: 40000,
            vip: Address::v4(100),
            vport: 80,
            proto: IPPROTO_TCP,
            forwarding: fwd,
            real: 1,
            real_addr: Address::v4(200),
            real_port: 8080,
            service: 0,
            client_port: 0,
            client_mac: [2, 3, 4, 5, 6, 7],
            state: TcpState::SynRecv,
            expires,
            persistent: false,
            syn_proxy: SynProxied::No,
            seq_delta: 0,
            per_client: false,
        }
    }

    #[test]
    fn nat_entries_are_found_from_both_sides_and_round_trip() {
        let mut t = ConnTable::with_capacity(4);
        let c = conn(1, Forwarding::Nat, 100);
        let idx = t.insert(c).unwrap();
        assert_eq!(
            t.lookup(&c.client_key(), 10, |_| {}),
            Some((idx, Side::Client, c))
        );
        assert_eq!(
            t.lookup(&c.real_key(), 10, |_| {}),
            Some((idx, Side::Real, c))
        );
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
        assert_eq!(
            t.lookup(&conn(2, Forwarding::Nat, 0).client_key(), 1, |_| {}),
            None
        );
    }

    #[test]
    fn fills_to_capacity_at_scale() {
        let cap = 100_000;
        let mut t = ConnTable::with_capacity(cap);
        for i in 0..cap as u32 {
            t.insert(conn(i, Forwarding::Nat, 1000)).unwrap();
        }
        for i in (0..cap as u32).step_by(997) {
            let c = conn(i, Forwarding::Nat, 1000);
            assert!(t.lookup(&c.real_key(), 1, |_| {}).is_some(), "{i}");
        }
        assert!(
            t.bytes_per_conn() <= 128,
            "{} bytes per connection",
            t.bytes_per_conn()
        );
    }

    /// The same for IPv6 keys, hashed another way: clients of one /64 that
    /// differ in their low bits only (privacy addresses), and clients of
    /// many /64s that differ in their high bits only, 16 ports each.
    #[test]
    fn ipv6_clients_fill_the_table_too() {
        let cap = 1 << 16;
        for (name, client) in [
            (
                "one /64",
                (|i: u32| 0x2001_0db8_0000_0001u128 << 64 | u128::from(i / 16 + 7))
                    as fn(u32) -> u128,
            ),
            ("many /64s", |i: u32| {
                (0x2001_0db8_0000_0000u128 + u128::from(i / 16 + 7)) << 64
            }),
        ] {
            let mut t = ConnTable::with_capacity(cap);
            let key = |i: u32| {
                let mut c = conn(0, Forwarding::Nat, 1000);
                c.client = Address::v6(client(i));
                c.vip = Address::v6(0x2001_0db8_0001u128 << 80 | 0x100);
                c.real_addr = Address::v6(0x2001_0db8_0002u128 << 80 | 0x11);
                c.cport = (1024 + i % 16) as u16;
                c
            };
            for i in 0..cap as u32 {
                t.insert(key(i))
                    .unwrap_or_else(|e| panic!("{name}: {e} after {i} connections"));
            }
            let share = t.shared_ref().first_bucket_share();
            assert!(
                share > 0.8,
                "{name}: {share:.3} of entries in their first bucket"
            );
            for i in 0..cap as u32 {
                let c = key(i);
                assert!(
                    t.lookup(&c.client_key(), 1, |_| {}).is_some(),
                    "{name}: client side of {i}"
                );
                assert!(
                    t.lookup(&c.real_key(), 1, |_| {}).is_some(),
                    "{name}: real side of {i}"
                );
            }
        }
    }

    #[test]
    fn sequential_ports_of_one_client_fill_the_table() {
        // The common real pattern (one client or NAT gateway, ports counting
        // up); a weak hash overflowed buckets at 62% here.
        // 2^17 slots: the index is sized so that a full table runs at the
        // highest load factor (5/7), where plain two-choice placement fails.
        let cap = 1 << 17;
        let mut t = ConnTable::with_capacity(cap);
        let key = |i: u32| {
            let mut c = conn(7 + i / 64000, Forwarding::Nat, 1000);
            c.cport = (1024 + i % 64000) as u16;
            c
        };
        for i in 0..cap as u32 {
            t.insert(key(i))
                .unwrap_or_else(|e| panic!("{e} after {i} connections"));
        }
        // Batched lookups prefetch only the first bucket: at the highest
        // load most keys must still sit there.
        let share = t.shared_ref().first_bucket_share();
        assert!(share > 0.8, "{share:.3} of entries in their first bucket");
        // Displacement moved entries around: every one must still be found.
        for i in 0..cap as u32 {
            let c = key(i);
            assert!(
                t.lookup(&c.client_key(), 1, |_| {}).is_some(),
                "client side of {i}"
            );
            assert!(
                t.lookup(&c.real_key(), 1, |_| {}).is_some(),
                "real side of {i}"
            );
        }
    }

    #[test]
    fn expiry_is_lazy_on_lookup_and_swept_in_budgets() {
        let mut t = ConnTable::with_capacity(8);
        let c = conn(1, Forwarding::Nat, 50);
        t.insert(c).unwrap();
        let mut n = 0;
        assert!(t.lookup(&c.client_key(), 49, |_| n += 1).is_some());
        assert!(t.lookup(&c.client_key(), 50, |_| n += 1).is_none());
        assert_eq!((n, t.len()), (1, 0));
        assert_eq!(
            t.lookup(&c.real_key(), 50, |_| {}),
            None,
            "both index entries gone"
        );

        for i in 0..8 {
            t.insert(conn(10 + i, Forwarding::Nat, 5)).unwrap();
        }
        let mut seen = 0;
        t.sweep(6, 3, |_, _| {}, |_| seen += 1);
        assert_eq!((seen, t.len()), (3, 5));
        t.sweep(6, 100, |_, _| {}, |_| seen += 1);
        assert_eq!((seen, t.len()), (8, 0));
    }

    #[test]
    fn remote_notes_extend_life_and_reach_the_owner() {
        let mut t = ConnTable::with_capacity(4);
        let c = conn(1, Forwarding::Nat, 50);
        let idx = t.insert(c).unwrap();
        let peer = t.shared();
        let (pidx, side, pc) = peer.find(&c.real_key()).unwrap();
        assert_eq!((pidx, side, pc), (idx, Side::Real, c));
        peer.note_remote(idx, false, 0x11, 200);
        // Past its own deadline but not the remote one: alive.
        assert!(t.lookup(&c.client_key(), 60, |_| {}).is_some());
        let mut merged = None;
        t.sweep(60, 4, |_, note| merged = Some(note), |_| {});
        assert_eq!(
            merged,
            Some(RemoteNote {
                input_flags: 0,
                output_flags: 0x11,
                expires: Some(200)
            })
        );
        assert_eq!(t.take_note(idx), None, "a note is taken once");
    }

    fn conn6(n: u16, fwd: Forwarding) -> Conn {
        let a = |s: &str| Address::from(s.parse::<std::net::IpAddr>().unwrap());
        Conn {
            client: a(&format!("2001:db8:c::{n:x}")),
            vip: a("2001:db8:1::100"),
            real_addr: a("2001:db8:2::11"),
            ..conn(0, fwd, 100)
        }
    }

    #[test]
    fn ipv6_connections_share_the_index_and_live_in_their_own_slots() {
        let mut t = ConnTable::with_capacity(8);
        let v4 = conn(1, Forwarding::Nat, 100);
        let i4 = t.insert(v4).unwrap();
        let v6 = conn6(1, Forwarding::Nat);
        let i6 = t.insert(v6).unwrap();
        assert_ne!(i4, i6);
        assert_eq!(
            t.lookup(&v6.client_key(), 10, |_| {}),
            Some((i6, Side::Client, v6))
        );
        assert_eq!(
            t.lookup(&v6.real_key(), 10, |_| {}),
            Some((i6, Side::Real, v6))
        );
        assert_eq!(
            t.lookup(&v4.client_key(), 10, |_| {}),
            Some((i4, Side::Client, v4))
        );
        // The low 32 bits alone never match: the IPv4 client 0.0.0.1 is
        // not the IPv6 client ...::1.
        let mut lookalike = v6.client_key();
        lookalike.src = Address::v4(v6.client.low32());
        assert_eq!(t.lookup(&lookalike, 10, |_| {}), None);
        let mut all: Vec<Conn> = t.iter().collect();
        all.sort_by_key(|c| c.client);
        assert_eq!(all, vec![v4, v6]);
        // One bound for both families.
        for n in 2..8 {
            t.insert(conn6(n, Forwarding::Dr)).unwrap();
        }
        assert_eq!(t.insert(conn(9, Forwarding::Nat, 100)), Err(TableFull(8)));
        assert_eq!(t.remove(i6), Some(v6));
        assert_eq!(t.lookup(&v6.real_key(), 10, |_| {}), None);
        assert_eq!(t.len(), 7);
        // Expiry and notes work the same on an IPv6 slot.
        let i = t.insert(conn6(1, Forwarding::Nat)).unwrap();
        t.shared_ref().note_remote(i, true, 0x10, 500);
        assert_eq!(t.take_note(i).map(|n| n.expires), Some(Some(500)));
        let mut gone = 0;
        t.sweep(1000, 64, |_, _| {}, |_| gone += 1);
        assert_eq!((gone, t.len()), (8, 0));
    }

    #[test]
    fn ipv4_slots_keep_their_size_and_ipv6_slots_cost_memory_only_when_used() {
        let t = ConnTable::with_capacity(1 << 16);
        assert!(t.bytes_per_conn() <= 128, "{}", t.bytes_per_conn());
        let v6 = t.shared_ref().bytes_per_conn_v6();
        assert!(v6 <= 192, "{v6} bytes per IPv6 connection");
    }

    #[test]
    fn clock_wrap_does_not_resurrect_or_kill_entries() {
        assert!(!expired(5, u32::MAX - 3));
        assert!(expired(u32::MAX - 3, 5));
    }

    #[test]
    fn a_reader_never_sees_a_torn_connection() {
        // The writer churns slots; every connection it writes has
        // vip == !client and real_addr == client, so a torn read would show.
        let mut t = ConnTable::with_capacity(64);
        let shared = t.shared();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let reader = std::thread::spawn(move || {
            let mut checked = 0u64;
            while !s2.load(Ordering::Relaxed) {
                for client in 0..64u32 {
                    let mut c = conn(client, Forwarding::Nat, 9);
                    c.vip = Address::v4(!client);
                    c.real_addr = Address::v4(client);
                    if let Some((_, _, got)) = shared.find(&c.client_key()) {
                        assert_eq!(got.vip.low32(), !got.client.low32());
                        assert_eq!(got.real_addr, got.client);
                        checked += 1;
                    }
                }
            }
            checked
        });
        for round in 0..20_000u32 {
            let client = round % 64;
            let mut c = conn(client, Forwarding::Nat, round);
            c.vip = Address::v4(!client);
            c.real_addr = Address::v4(client);
            if let Some((idx, _, _)) = t.lookup(&c.client_key(), 0, |_| {}) {
                t.remove(idx);
            }
            t.insert(c).unwrap();
        }
        stop.store(true, Ordering::Relaxed);
        assert!(reader.join().unwrap() > 0, "the reader found connections");
    }
}
