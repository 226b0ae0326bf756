//! Packet in, exact packet out: frames built with etherparse, the output
//! parsed back with etherparse and its checksums recomputed from scratch.

use super::*;
use crate::conn::Timeouts;
use crate::inbox::Inbox;
use crate::sched::SchedulerKind;
use crate::snapshot::{PortInfo, RealServer, VirtualService};
use crate::stats::new_gauges;
use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use std::sync::Arc;
use xlb_model::{Address, Protocol, ServiceKey};

const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 1];
const OUT_MAC: [u8; 6] = [0x02, 0xd0, 0, 0, 0, 0];
const IN_MAC: [u8; 6] = [0x02, 0xd1, 0, 0, 0, 1];
const RS_MAC: [[u8; 6]; 2] = [[0x02, 0x55, 0, 0, 0, 1], [0x02, 0x55, 0, 0, 0, 2]];
const CLIENT: [u8; 4] = [10, 0, 1, 2];
const VIP: [u8; 4] = [10, 0, 1, 100];
const RS: [[u8; 4]; 2] = [[10, 0, 2, 11], [10, 0, 2, 12]];
const OUTSIDE: PortId = 0;
const INSIDE: PortId = 1;

mod ipv6;
mod syn_proxy;
mod tunnel;

fn ip(a: [u8; 4]) -> Address {
    Address::v4(u32::from_be_bytes(a))
}

fn snapshot(forwarding: Forwarding, proto: u8, weights: [u32; 2]) -> Snapshot {
    let reals = (0..2)
        .map(|i| RealServer {
            id: 10 + i as u32,
            addr: ip(RS[i]),
            port: if forwarding == Forwarding::Nat {
                8080
            } else {
                80
            },
            weight: weights[i],
            egress: INSIDE,
            mac: Some(RS_MAC[i]),
            gateway: None,
            enabled: true,
            u_threshold: 0,
            l_threshold: 0,
        })
        .collect();
    let svc = VirtualService {
        id: 3,
        name: "web".into(),
        key: ServiceKey::endpoint(
            ip(VIP).ip(),
            80,
            Protocol::from_number(proto).expect("TCP or UDP"),
        ),
        forwarding,
        scheduler: SchedulerKind::Rr,
        reals,
        sorry: None,
        persistence: None,
        ftp: false,
        syn_proxy: crate::snapshot::SynProxy::Off,
        max_conn_rate: 0,
        max_conns_per_client: 0,
        sloppy_tcp: false,
    };
    let ports = vec![
        PortInfo {
            name: "outside".into(),
            ifindex: 1,
            mac: OUT_MAC,
            ipv4: None,
            mtu: 1500,
        },
        PortInfo {
            name: "inside".into(),
            ifindex: 2,
            mac: IN_MAC,
            ipv4: None,
            mtu: 1500,
        },
    ];
    Snapshot::new(1, ports, vec![svc], &[], Timeouts::default(), new_gauges()).unwrap()
}

/// `snapshot(Nat, TCP, [1, 1])` with its service edited, fresh gauges.
fn nat_with(edit: impl FnOnce(&mut VirtualService)) -> Snapshot {
    with_service(snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]), edit)
}

/// `base` with its service edited, fresh gauges.
fn with_service(base: Snapshot, edit: impl FnOnce(&mut VirtualService)) -> Snapshot {
    let mut svc = base.services[0].clone();
    edit(&mut svc);
    Snapshot::new(
        2,
        base.ports.clone(),
        vec![svc],
        &[],
        Timeouts::default(),
        new_gauges(),
    )
    .unwrap()
}

fn tcp(src: ([u8; 4], u16), dst: ([u8; 4], u16), macs: ([u8; 6], [u8; 6]), flags: &str) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, 1000, 64000);
    let b = match flags {
        "S" => b.syn(),
        "SA" => b.syn().ack(2000),
        "A" => b.ack(2000),
        "FA" => b.fin().ack(2000),
        "R" => b.rst(),
        _ => b,
    };
    let payload: &[u8] = if flags == "A" {
        b"GET / HTTP/1.0\r\n\r\n"
    } else {
        b""
    };
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn udp(src: ([u8; 4], u16), dst: ([u8; 4], u16), macs: ([u8; 6], [u8; 6])) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(macs.0, macs.1)
        .ipv4(src.0, dst.0, 64)
        .udp(src.1, dst.1)
        .write(&mut v, b"ping")
        .unwrap();
    v
}

/// Everything etherparse sees in a frame, with checksums verified.
#[derive(Debug, PartialEq)]
struct Seen {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    ttl: u8,
}

fn inspect(frame: &[u8]) -> Seen {
    let p = SlicedPacket::from_ethernet(frame).expect("etherparse reads the output");
    let eth = match p.link.unwrap() {
        etherparse::LinkSlice::Ethernet2(e) => e,
        l => panic!("{l:?}"),
    };
    let Some(NetSlice::Ipv4(ipv4)) = p.net else {
        panic!("not ipv4")
    };
    let h = ipv4.header();
    // The IP checksum etherparse computes from scratch must equal ours.
    assert_eq!(
        h.header_checksum(),
        h.to_header().calc_header_checksum(),
        "ip checksum"
    );
    let (sport, dport) = match p.transport.unwrap() {
        TransportSlice::Tcp(t) => {
            let want = t
                .to_header()
                .calc_checksum_ipv4(&h.to_header(), t.payload())
                .unwrap();
            assert_eq!(t.checksum(), want, "tcp checksum");
            (t.source_port(), t.destination_port())
        }
        TransportSlice::Udp(u) => {
            let want = u
                .to_header()
                .calc_checksum_ipv4(&h.to_header(), u.payload())
                .unwrap();
            assert_eq!(u.checksum(), want, "udp checksum");
            (u.source_port(), u.destination_port())
        }
        t => panic!("{t:?}"),
    };
    Seen {
        src_mac: eth.source(),
        dst_mac: eth.destination(),
        src: (h.source(), sport),
        dst: (h.destination(), dport),
        ttl: h.ttl(),
    }
}

struct Rig {
    fwd: Forwarder,
    snap: Snapshot,
    stats: WorkerStats,
}

impl Rig {
    fn new(snap: Snapshot) -> Rig {
        let mut fwd = Forwarder::new(1024);
        fwd.adopt(&snap);
        Rig {
            fwd,
            snap,
            stats: WorkerStats::default(),
        }
    }
    fn run(&mut self, ingress: PortId, frame: &mut [u8]) -> Verdict {
        self.fwd
            .process(&self.snap, &self.stats, 100, ingress, frame)
    }
    /// A NAT connection from CLIENT:`port` through its handshake (SYN,
    /// the server's SYN-ACK, ACK): established. The index of its server.
    fn establish(&mut self, port: u16) -> usize {
        let mut syn = tcp((CLIENT, port), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
        assert_eq!(self.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
        let server = inspect(&syn).dst.0;
        let rs = usize::from(server == RS[1]);
        let mut synack = tcp((server, 8080), (CLIENT, port), (RS_MAC[rs], IN_MAC), "SA");
        self.run(INSIDE, &mut synack);
        let mut ack = tcp((CLIENT, port), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
        self.run(OUTSIDE, &mut ack);
        rs
    }
}

#[test]
fn nat_rewrites_both_ways_with_exact_headers() {
    let mut rig = Rig::new(snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]));
    let mut syn = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
    assert_eq!(
        inspect(&syn),
        Seen {
            src_mac: IN_MAC,
            dst_mac: RS_MAC[0],
            src: (CLIENT, 40000),
            dst: (RS[0], 8080),
            ttl: 63
        }
    );

    let mut synack = tcp((RS[0], 8080), (CLIENT, 40000), (RS_MAC[0], IN_MAC), "SA");
    assert_eq!(rig.run(INSIDE, &mut synack), Verdict::Forward(OUTSIDE));
    assert_eq!(
        inspect(&synack),
        Seen {
            src_mac: OUT_MAC,
            dst_mac: CLIENT_MAC,
            src: (VIP, 80),
            dst: (CLIENT, 40000),
            ttl: 63
        }
    );

    // Data on the same connection goes to the same server; the payload is untouched.
    let mut data = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    let payload_before = data[54..].to_vec();
    assert_eq!(rig.run(OUTSIDE, &mut data), Verdict::Forward(INSIDE));
    assert_eq!(inspect(&data).dst, (RS[0], 8080));
    assert_eq!(data[54..], payload_before[..]);

    let conn = rig.fwd.table.iter().next().unwrap();
    assert_eq!(conn.state, TcpState::Established);
    assert_eq!(rig.snap.gauges[10].active(), 1);
    assert_eq!(rig.stats.reals[10].packets_in.get(), 2);
    assert_eq!(rig.stats.reals[10].packets_out.get(), 1);
    assert_eq!(rig.stats.services[3].conns.get(), 1);
}

#[test]
fn nat_udp_rewrites_and_keeps_zero_checksum_zero() {
    let mut rig = Rig::new(snapshot(Forwarding::Nat, crate::wire::IPPROTO_UDP, [1, 1]));
    let mut q = udp((CLIENT, 5353), (VIP, 80), (CLIENT_MAC, OUT_MAC));
    assert_eq!(rig.run(OUTSIDE, &mut q), Verdict::Forward(INSIDE));
    assert_eq!(inspect(&q).dst, (RS[0], 8080));

    let mut nocsum = udp((CLIENT, 5354), (VIP, 80), (CLIENT_MAC, OUT_MAC));
    nocsum[40] = 0;
    nocsum[41] = 0;
    assert_eq!(rig.run(OUTSIDE, &mut nocsum), Verdict::Forward(INSIDE));
    assert_eq!(&nocsum[40..42], &[0, 0]);
    assert_eq!(&nocsum[30..34], &RS[1], "second flow, round robin");

    let mut reply = udp((RS[0], 8080), (CLIENT, 5353), (RS_MAC[0], IN_MAC));
    assert_eq!(rig.run(INSIDE, &mut reply), Verdict::Forward(OUTSIDE));
    assert_eq!(inspect(&reply).src, (VIP, 80));
    assert_eq!(
        rig.snap.gauges[10].inactive(),
        1,
        "UDP counts as inactive, as in IPVS"
    );
}

#[test]
fn dr_changes_only_the_destination_mac() {
    let mut rig = Rig::new(snapshot(Forwarding::Dr, IPPROTO_TCP, [1, 1]));
    let mut syn = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    let before = syn.clone();
    assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
    assert_eq!(&syn[0..6], &RS_MAC[0]);
    assert_eq!(&syn[6..12], &IN_MAC);
    assert_eq!(
        syn[12..],
        before[12..],
        "IP header and payload untouched, TTL included"
    );
    // No reply index in DR: a packet from the real server is not ours.
    let mut reply = tcp((RS[0], 80), (CLIENT, 40000), (RS_MAC[0], IN_MAC), "SA");
    assert_eq!(
        rig.run(INSIDE, &mut reply),
        Verdict::Drop(DropReason::NoService)
    );
}

#[test]
fn misses_and_non_syn_are_dropped_and_counted() {
    let mut rig = Rig::new(snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]));
    let mut other = tcp((CLIENT, 40000), (VIP, 81), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(
        rig.run(OUTSIDE, &mut other),
        Verdict::Drop(DropReason::NoService)
    );
    let mut ack = tcp((CLIENT, 40001), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    let before = ack.clone();
    assert_eq!(
        rig.run(OUTSIDE, &mut ack),
        Verdict::Drop(DropReason::NoConnection)
    );
    assert_eq!(ack, before, "a dropped frame is not modified");
    assert_eq!(rig.stats.drops(DropReason::NoService), 1);
    assert_eq!(rig.stats.drops(DropReason::NoConnection), 1);
    // The second belonged to service 3: counted there too.
    assert_eq!(rig.stats.services[3].drops(DropReason::NoConnection), 1);
    assert!(rig.fwd.table.is_empty());
}

#[test]
fn malformed_frames_are_counted_never_forwarded() {
    let mut rig = Rig::new(snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]));
    let good = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    let mut short = good[..30].to_vec();
    assert_eq!(
        rig.run(OUTSIDE, &mut short),
        Verdict::Drop(DropReason::BadIpHeader)
    );
    let mut lying = good.clone();
    lying[17] = 200; // total length 200 in a 54-byte frame
    assert_eq!(
        rig.run(OUTSIDE, &mut lying),
        Verdict::Drop(DropReason::BadIpLength)
    );
    let mut frag = good.clone();
    frag[20] = 0x20;
    assert_eq!(
        rig.run(OUTSIDE, &mut frag),
        Verdict::Drop(DropReason::Fragment)
    );
    let mut ttl1 = good.clone();
    ttl1[22] = 1;
    assert_eq!(
        rig.run(OUTSIDE, &mut ttl1),
        Verdict::Drop(DropReason::TtlExpired)
    );
    for n in 0..good.len() {
        let mut f = good[..n].to_vec();
        assert!(matches!(rig.run(OUTSIDE, &mut f), Verdict::Drop(_)));
    }
}

#[test]
fn quiesced_and_removed_servers_get_no_new_connections() {
    let mut rig = Rig::new(snapshot(Forwarding::Nat, IPPROTO_TCP, [0, 1]));
    for p in 0..4 {
        let mut syn = tcp((CLIENT, 41000 + p), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
        assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
        assert_eq!(&syn[30..34], &RS[1]);
    }
    // Reload without server 11: its connections drain to it, new ones go
    // elsewhere. Once it is forgotten (not even retired), packets of its
    // connections are dropped and a retried SYN is scheduled afresh.
    let base = snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]);
    let only_10 = VirtualService {
        reals: vec![base.services[0].reals[0].clone()],
        ..base.services[0].clone()
    };
    let r11 = &base.services[0].reals[1];
    let retired = [(
        11,
        crate::snapshot::RealRoute {
            addr: r11.addr,
            port: r11.port,
            egress: INSIDE,
            mac: r11.mac,
        },
    )];
    rig.snap = Snapshot::new(
        2,
        base.ports.clone(),
        vec![only_10.clone()],
        &retired,
        Timeouts::default(),
        rig.snap.gauges.clone(),
    )
    .unwrap();
    rig.fwd.adopt(&rig.snap);
    let mut data = tcp((CLIENT, 41000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    assert_eq!(rig.run(OUTSIDE, &mut data), Verdict::Forward(INSIDE));
    assert_eq!(
        &data[30..34],
        &RS[1],
        "an existing connection drains to the removed server"
    );
    let mut syn = tcp((CLIENT, 42000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
    assert_eq!(
        &syn[30..34],
        &RS[0],
        "no new connection for the removed server"
    );

    rig.snap = Snapshot::new(
        3,
        base.ports.clone(),
        vec![only_10],
        &[],
        Timeouts::default(),
        rig.snap.gauges.clone(),
    )
    .unwrap();
    rig.fwd.adopt(&rig.snap);
    let mut data = tcp((CLIENT, 41001), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    assert_eq!(
        rig.run(OUTSIDE, &mut data),
        Verdict::Drop(DropReason::RealRemoved)
    );
    assert_eq!(rig.stats.services[3].drops(DropReason::RealRemoved), 1);
    let mut syn = tcp((CLIENT, 41001), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
    assert_eq!(&syn[30..34], &RS[0]);
}

#[test]
fn unresolved_neighbour_blocks_scheduling() {
    let mut snap = snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]);
    for r in &mut snap.services[0].reals {
        r.mac = None;
    }
    let snap = Snapshot::new(
        1,
        snap.ports.clone(),
        snap.services.clone(),
        &[],
        Timeouts::default(),
        new_gauges(),
    )
    .unwrap();
    let mut rig = Rig::new(snap);
    let mut syn = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(
        rig.run(OUTSIDE, &mut syn),
        Verdict::Drop(DropReason::NoRealServer)
    );
}

#[test]
fn the_expiry_sweep_follows_the_clock_in_bounded_steps() {
    let snap = snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]);
    let stats = WorkerStats::default();
    let cap = 2 * SWEEP_MAX_PER_BATCH;
    let mut fwd = Forwarder::new(cap);
    fwd.adopt(&snap);
    for i in 0..cap as u32 {
        let client = [10, 1, (i >> 8) as u8, i as u8];
        let mut syn = tcp((client, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
        assert_eq!(
            fwd.process(&snap, &stats, 100, OUTSIDE, &mut syn),
            Verdict::Forward(INSIDE)
        );
    }
    // Nothing is due yet: the clock has not moved since the last sweep.
    fwd.end_batch(&snap, &stats, 100_000);
    let before = stats.conns_expired.get();
    // Every SYN_RECV entry is idle past its 60 s; however long the worker
    // slept, one batch pays at most SWEEP_MAX_PER_BATCH slots.
    fwd.end_batch(&snap, &stats, 200_000);
    assert_eq!(
        stats.conns_expired.get() - before,
        SWEEP_MAX_PER_BATCH as u64
    );
    // The clock has not moved: the rest of the owed pass, no more.
    fwd.end_batch(&snap, &stats, 200_000);
    assert_eq!(stats.conns_expired.get() - before, cap as u64);
    // A tenth of a pass later, about a tenth of the slots are visited
    // (the table is empty now; visiting costs the same).
    assert!(fwd.table.is_empty());
    let (credit_before, at) = (fwd.sweep_credit, fwd.swept_at_ms);
    fwd.end_batch(&snap, &stats, at + SWEEP_PASS_MS / 10);
    let visited =
        (credit_before + cap as u64 * SWEEP_PASS_MS / 10 - fwd.sweep_credit) / SWEEP_PASS_MS;
    assert_eq!(visited, cap as u64 / 10);
}

#[test]
fn expiry_releases_gauges() {
    let mut rig = Rig::new(snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]));
    let mut syn = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    rig.run(OUTSIDE, &mut syn);
    assert_eq!(rig.snap.gauges[10].inactive(), 1);
    // SYN_RECV lives 60 s; sweep far enough past it: one call owes a
    // whole pass by then.
    rig.fwd.end_batch(&rig.snap, &rig.stats, (100 + 61) * 1000);
    assert!(rig.fwd.table.is_empty());
    assert_eq!(rig.snap.gauges[10].inactive(), 0);
    assert_eq!(rig.stats.conns_expired.get(), 1);
}

/// Two workers' forwarders, each reading the other's table (a reply may
/// land on either's queue).
fn two_workers(snap: &Snapshot) -> (Forwarder, Forwarder) {
    let mut a = Forwarder::new(64);
    let mut b = Forwarder::new(64);
    a.set_peers(vec![b.table.shared()]);
    b.set_peers(vec![a.table.shared()]);
    a.adopt(snap);
    b.adopt(snap);
    (a, b)
}

#[test]
fn replies_on_another_worker_use_the_owners_connection() {
    let snap = snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]);
    let stats_a = WorkerStats::default();
    let stats_b = WorkerStats::default();
    let (mut a, mut b) = two_workers(&snap);

    let mut syn = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(
        a.process(&snap, &stats_a, 100, OUTSIDE, &mut syn),
        Verdict::Forward(INSIDE)
    );
    // The SYN-ACK lands on worker b: rewritten exactly as the owner would.
    let mut synack = tcp((RS[0], 8080), (CLIENT, 40000), (RS_MAC[0], IN_MAC), "SA");
    assert_eq!(
        b.process(&snap, &stats_b, 101, INSIDE, &mut synack),
        Verdict::Forward(OUTSIDE)
    );
    assert_eq!(
        inspect(&synack),
        Seen {
            src_mac: OUT_MAC,
            dst_mac: CLIENT_MAC,
            src: (VIP, 80),
            dst: (CLIENT, 40000),
            ttl: 63
        }
    );
    assert_eq!(stats_b.remote_hits.get(), 1);
    assert!(b.table.is_empty(), "b created nothing");

    let mut ack = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    a.process(&snap, &stats_a, 102, OUTSIDE, &mut ack);
    assert_eq!(a.table.iter().next().unwrap().state, TcpState::Established);
    assert_eq!(snap.gauges[10].active(), 1);

    // The server closes; its FIN is seen only by b. The owner folds it in
    // at its next sweep: ESTABLISHED -> FIN_WAIT, no longer active.
    let mut fin = tcp((RS[0], 8080), (CLIENT, 40000), (RS_MAC[0], IN_MAC), "FA");
    assert_eq!(
        b.process(&snap, &stats_b, 103, INSIDE, &mut fin),
        Verdict::Forward(OUTSIDE)
    );
    a.end_batch(&snap, &stats_a, 103_000);
    assert_eq!(a.table.iter().next().unwrap().state, TcpState::FinWait);
    assert_eq!(
        (snap.gauges[10].active(), snap.gauges[10].inactive()),
        (0, 1)
    );
}

#[test]
fn sorry_server_takes_connections_only_when_no_real_server_can() {
    let mut snap = snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]);
    let mut sorry = snap.services[0].reals[1].clone();
    sorry.id = 20;
    sorry.addr = ip([10, 0, 2, 99]);
    snap.services[0].sorry = Some(sorry);
    let ports = snap.ports.clone();
    let mk = |weights: [u32; 2], services: &[VirtualService]| {
        let mut s = services[0].clone();
        for (r, w) in s.reals.iter_mut().zip(weights) {
            r.weight = w;
        }
        Snapshot::new(
            1,
            ports.clone(),
            vec![s],
            &[],
            Timeouts::default(),
            new_gauges(),
        )
        .unwrap()
    };
    let mut rig = Rig::new(mk([1, 1], &snap.services));
    let mut syn = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    rig.run(OUTSIDE, &mut syn);
    assert_eq!(&syn[30..34], &RS[0], "a real server is up: no sorry server");
    let mut rig = Rig::new(mk([0, 0], &snap.services));
    let mut syn = tcp((CLIENT, 40001), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
    assert_eq!(&syn[30..34], &[10, 0, 2, 99], "none left: the sorry server");
    assert_eq!(rig.stats.reals[20].conns.get(), 1);
}

#[test]
fn persistence_sends_a_client_subnet_back_to_its_server() {
    let mut snap = snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]);
    snap.services[0].persistence = Some(crate::snapshot::Persistence {
        timeout: 300,
        prefix: 24,
    });
    let snap = Snapshot::new(
        1,
        snap.ports.clone(),
        snap.services.clone(),
        &[],
        Timeouts::default(),
        new_gauges(),
    )
    .unwrap();
    let templates = Arc::new(crate::conn::PersistTable::new(1024));
    let mut rig = Rig::new(snap);
    rig.fwd.set_persistence(templates.clone());
    // rr would alternate; persistence keeps 10.0.1.2 and its /24 on one server.
    let mut first = None;
    for (client, port) in [
        ([10, 0, 1, 2], 40000),
        ([10, 0, 1, 2], 40001),
        ([10, 0, 1, 77], 40002),
    ] {
        let mut syn = tcp((client, port), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
        assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
        let rs = [syn[30], syn[31], syn[32], syn[33]];
        assert_eq!(*first.get_or_insert(rs), rs, "client {client:?} moved");
    }
    // Another subnet is scheduled on its own (rr: the other server).
    let mut syn = tcp(
        ([10, 0, 9, 1], 40003),
        (VIP, 80),
        (CLIENT_MAC, OUT_MAC),
        "S",
    );
    rig.run(OUTSIDE, &mut syn);
    assert_ne!([syn[30], syn[31], syn[32], syn[33]], first.unwrap());
    // Quiesce the remembered server: its template stops new connections going there.
    let mut quiesced = rig.snap.services[0].clone();
    for r in &mut quiesced.reals {
        if r.addr.low32().to_be_bytes() == first.unwrap() {
            r.weight = 0;
        }
    }
    rig.snap = Snapshot::new(
        2,
        rig.snap.ports.clone(),
        vec![quiesced],
        &[],
        Timeouts::default(),
        rig.snap.gauges.clone(),
    )
    .unwrap();
    rig.fwd.adopt(&rig.snap);
    let mut syn = tcp(
        ([10, 0, 1, 2], 40004),
        (VIP, 80),
        (CLIENT_MAC, OUT_MAC),
        "S",
    );
    rig.run(OUTSIDE, &mut syn);
    assert_ne!([syn[30], syn[31], syn[32], syn[33]], first.unwrap());
}

#[test]
fn firewall_mark_groups_ports_into_one_persistent_service() {
    // FTP-style: 21 + 10000-20000 on the VIP are one service (mark 21),
    // real servers keep the client's port, persistence spans the ports.
    let base = snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]);
    let mut svc = base.services[0].clone();
    svc.key = ServiceKey::Mark(21);
    svc.persistence = Some(crate::snapshot::Persistence {
        timeout: 300,
        prefix: 32,
    });
    for r in &mut svc.reals {
        r.port = 0;
    }
    let rule = crate::snapshot::MarkRule {
        mark: 21,
        addrs: vec![ip(VIP)],
        proto: Protocol::Tcp,
        ports: vec![(21, 21), (10000, 20000)],
    };
    let snap = Snapshot::new(
        1,
        base.ports.clone(),
        vec![svc],
        &[],
        Timeouts::default(),
        new_gauges(),
    )
    .unwrap()
    .with_mark_rules(vec![rule]);
    let mut rig = Rig::new(snap);
    rig.fwd
        .set_persistence(Arc::new(crate::conn::PersistTable::new(64)));
    let mut ctl = tcp((CLIENT, 40000), (VIP, 21), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(rig.run(OUTSIDE, &mut ctl), Verdict::Forward(INSIDE));
    let server = inspect(&ctl).dst;
    assert_eq!(server.1, 21, "port kept");
    let mut data = tcp((CLIENT, 40001), (VIP, 15000), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(rig.run(OUTSIDE, &mut data), Verdict::Forward(INSIDE));
    assert_eq!(
        inspect(&data).dst,
        (server.0, 15000),
        "same server through persistence, port kept"
    );
    // The reply is un-NATed back to VIP:15000.
    let mut reply = tcp(
        (server.0, 15000),
        (CLIENT, 40001),
        (RS_MAC[0], IN_MAC),
        "SA",
    );
    assert_eq!(rig.run(INSIDE, &mut reply), Verdict::Forward(OUTSIDE));
    assert_eq!(inspect(&reply).src, (VIP, 15000));
    // A port outside the rule is no service.
    let mut other = tcp((CLIENT, 40002), (VIP, 22), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(
        rig.run(OUTSIDE, &mut other),
        Verdict::Drop(DropReason::NoService)
    );
}

#[test]
fn a_syn_flood_recycles_half_open_entries_and_spares_established_ones() {
    let snap = snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]);
    let mut fwd = Forwarder::new(64);
    fwd.adopt(&snap);
    let stats = WorkerStats::default();
    // One real connection, established.
    let mut syn = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    fwd.process(&snap, &stats, 100, OUTSIDE, &mut syn);
    let mut ack = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    fwd.process(&snap, &stats, 100, OUTSIDE, &mut ack);
    // A flood of spoofed SYNs, far more than the table holds.
    for i in 0..1000u32 {
        let src = (10u32 << 24 | 0x00fe_0000 | i).to_be_bytes();
        let mut s = tcp(
            (src, 1024 + (i % 60000) as u16),
            (VIP, 80),
            (CLIENT_MAC, OUT_MAC),
            "S",
        );
        assert_eq!(
            fwd.process(&snap, &stats, 101, OUTSIDE, &mut s),
            Verdict::Forward(INSIDE),
            "SYN {i}"
        );
    }
    assert_eq!(stats.drops(DropReason::ConnTableFull), 0);
    assert!(
        stats.conns_evicted.get() >= 1000 - 63,
        "{}",
        stats.conns_evicted.get()
    );
    // The established connection still forwards, to the same server.
    let mut data = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    assert_eq!(
        fwd.process(&snap, &stats, 102, OUTSIDE, &mut data),
        Verdict::Forward(INSIDE)
    );
    assert_eq!(inspect(&data).dst, (RS[0], 8080));
    // Gauges stay consistent: one active, the rest inactive half-open.
    let total: u64 = [10usize, 11]
        .iter()
        .map(|&i| snap.gauges[i].active() + snap.gauges[i].inactive())
        .sum();
    assert_eq!(total as usize, fwd.table.len());
}

#[test]
fn prefetching_a_batch_changes_no_decision_and_survives_garbage() {
    let snap = snapshot(Forwarding::Nat, 6, [1, 1]);
    let stats = WorkerStats::default();
    let mut fwd = Forwarder::new(1 << 16);
    fwd.adopt(&snap);
    let n = PREFETCH_FROM as u32 + 100;
    let client = |i: u32| ([11, (i >> 16) as u8, (i >> 8) as u8, i as u8], 5000);
    for i in 0..n {
        let mut f = tcp(client(i), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
        assert_eq!(
            fwd.process(&snap, &stats, 1, OUTSIDE, &mut f),
            Verdict::Forward(INSIDE)
        );
    }
    let mut batch: Vec<Vec<u8>> = (0..40)
        .map(|i| tcp(client(i * 997 % n), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A"))
        .collect();
    batch.push(vec![0xff; 7]);
    fwd.prefetch_batch(batch.iter().map(|f| &f[..]));
    for (i, f) in batch.iter_mut().enumerate() {
        let v = fwd.process(&snap, &stats, 1, OUTSIDE, f);
        if i < 40 {
            assert_eq!(v, Verdict::Forward(INSIDE), "frame {i}");
            // Round robin over two servers: connection k went to server k % 2.
            let k = (i as u32 * 997) % n;
            assert_eq!(inspect(f).dst.0, RS[(k % 2) as usize]);
        } else {
            assert!(matches!(v, Verdict::Drop(_)));
        }
    }
}

#[test]
fn a_syn_reusing_the_ports_of_an_ended_connection_is_scheduled_afresh() {
    let snap = snapshot(Forwarding::Nat, 6, [1, 1]);
    let stats = WorkerStats::default();
    let mut fwd = Forwarder::new(64);
    fwd.adopt(&snap);
    let c = (CLIENT, 40000);
    let mut send = |f: &mut Vec<u8>, port| fwd.process(&snap, &stats, 1, port, f);
    let mut syn = tcp(c, (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(send(&mut syn, OUTSIDE), Verdict::Forward(INSIDE));
    let first = inspect(&syn).dst.0;
    let rs = if first == RS[0] { 0 } else { 1 };
    // Established, then closed by both sides: TIME_WAIT.
    assert_eq!(
        send(&mut tcp(c, (VIP, 80), (CLIENT_MAC, OUT_MAC), "A"), OUTSIDE),
        Verdict::Forward(INSIDE)
    );
    assert_eq!(
        send(&mut tcp(c, (VIP, 80), (CLIENT_MAC, OUT_MAC), "FA"), OUTSIDE),
        Verdict::Forward(INSIDE)
    );
    let mut fin = tcp((RS[rs], 8080), c, (RS_MAC[rs], IN_MAC), "FA");
    assert_eq!(send(&mut fin, INSIDE), Verdict::Forward(OUTSIDE));
    // A retransmitted SYN-less packet still belongs to the old connection...
    let mut late = tcp(c, (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    assert_eq!(send(&mut late, OUTSIDE), Verdict::Forward(INSIDE));
    assert_eq!(inspect(&late).dst.0, first);
    // ...but a new SYN on the same ports is a new connection: round robin
    // now picks the other server.
    let mut again = tcp(c, (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(send(&mut again, OUTSIDE), Verdict::Forward(INSIDE));
    assert_ne!(inspect(&again).dst.0, first);
    assert_eq!(stats.conns_created.get(), 2);
}

#[test]
fn a_connection_described_here_is_installed_on_another_director() {
    // Director A schedules a connection; director B, whose snapshot gave
    // the same servers other ids (another order), installs it from its
    // portable record and forwards its packets to the same server.
    let mut a = Rig::new(snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]));
    let mut syn = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    a.run(OUTSIDE, &mut syn);
    let mut synack = tcp((RS[0], 8080), (CLIENT, 40000), (RS_MAC[0], IN_MAC), "SA");
    a.run(INSIDE, &mut synack);
    let mut ack = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    a.run(OUTSIDE, &mut ack);
    let conn = a.fwd.table.iter().next().unwrap();
    let rec = record::describe(&conn, &a.snap, 100).unwrap();
    assert_eq!(rec.state, TcpState::Established);
    assert_eq!((rec.real, rec.real_port), (ip(RS[0]), 8080));
    assert_eq!(
        rec.timeout, 900,
        "an established connection's idle time left"
    );

    let mut other = snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]);
    other.services[0].reals.reverse();
    for (r, id) in other.services[0].reals.iter_mut().zip([20, 21]) {
        r.id = id;
    }
    let other = Snapshot::new(
        1,
        other.ports.clone(),
        other.services.clone(),
        &[],
        Timeouts::default(),
        new_gauges(),
    )
    .unwrap();
    let mut b = Rig::new(other);
    let inbox = Arc::new(Inbox::new(16));
    b.fwd.set_inbox(inbox.clone());
    // Records this director cannot place are refused, and counted.
    let mut stranger = rec;
    stranger.real = ip([10, 0, 2, 99]);
    inbox.push(stranger).unwrap();
    // As sync delivers it: without the client's next hop.
    let wire = xlb_model::ConnRecord {
        client_mac: None,
        client_ifindex: None,
        seq_offset: None,
        ..rec
    };
    inbox.push(wire).unwrap();
    b.fwd.end_batch(&b.snap, &b.stats, 100_000);
    assert_eq!(b.stats.conns_installed.get(), 1);
    assert_eq!(b.stats.installs_refused.get(), 1);
    let installed = b.fwd.table.iter().next().unwrap();
    assert_eq!(installed.real, 21, "B's own id for the server");
    assert_eq!(
        b.snap.gauges[21].active(),
        1,
        "an established connection counts as active at once"
    );

    // A reply before any client frame: where the client is is not known.
    let mut reply = tcp((RS[0], 8080), (CLIENT, 40000), (RS_MAC[0], IN_MAC), "A");
    assert_eq!(
        b.run(INSIDE, &mut reply),
        Verdict::Drop(DropReason::NoNeighbour)
    );
    // The client's next segment goes to the same server, not a new one...
    let mut more = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    assert_eq!(b.run(OUTSIDE, &mut more), Verdict::Forward(INSIDE));
    assert_eq!(inspect(&more).dst, (RS[0], 8080));
    // ...and tells where the replies go.
    let mut reply = tcp((RS[0], 8080), (CLIENT, 40000), (RS_MAC[0], IN_MAC), "A");
    assert_eq!(b.run(INSIDE, &mut reply), Verdict::Forward(OUTSIDE));
    let seen = inspect(&reply);
    assert_eq!((seen.src, seen.dst_mac), ((VIP, 80), CLIENT_MAC));
    // Described again, it is the connection A described.
    let again = record::describe(&b.fwd.table.iter().next().unwrap(), &b.snap, 100).unwrap();
    assert_eq!(
        again,
        xlb_model::ConnRecord {
            client_mac: Some(CLIENT_MAC),
            ..rec
        }
    );
    assert_eq!(
        record::install(&stranger, &b.snap, 100),
        Err(record::InstallError::UnknownReal)
    );
}

#[test]
fn established_connections_and_their_state_changes_are_reported_for_sync() {
    let mut rig = Rig::new(snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]));
    let outbox = Arc::new(crate::outbox::Outbox::new(2));
    rig.fwd.set_outbox(outbox.clone());
    // Off until sync runs: nothing is queued.
    rig.establish(39999);
    assert!(outbox.is_empty());
    outbox.set_enabled(true);
    // Half-open: kept to this director (a SYN flood never reaches the peer).
    let mut syn = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
    assert!(outbox.is_empty());
    let server = inspect(&syn).dst.0;
    let rs = usize::from(server == RS[1]);
    let mut synack = tcp((server, 8080), (CLIENT, 40000), (RS_MAC[rs], IN_MAC), "SA");
    rig.run(INSIDE, &mut synack);
    let mut ack = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    rig.run(OUTSIDE, &mut ack);
    let first = outbox.pop().expect("an established connection is reported");
    assert_eq!((first.cport, first.state), (40000, TcpState::Established));
    // A segment that leaves the state as it was is not reported again.
    let mut again = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    rig.run(OUTSIDE, &mut again);
    assert!(outbox.is_empty());
    // Closing is.
    let mut fin = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "FA");
    rig.run(OUTSIDE, &mut fin);
    // (IPVS names a client's FIN on an established connection CLOSE_WAIT.)
    assert_eq!(outbox.pop().map(|c| c.state), Some(TcpState::CloseWait));
    // A handshake the server refused was never reported, nor is its end.
    let mut syn = tcp((CLIENT, 40001), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    rig.run(OUTSIDE, &mut syn);
    let server = inspect(&syn).dst.0;
    let rs = usize::from(server == RS[1]);
    let mut rst = tcp((server, 8080), (CLIENT, 40001), (RS_MAC[rs], IN_MAC), "R");
    assert_eq!(rig.run(INSIDE, &mut rst), Verdict::Forward(OUTSIDE));
    let closed = rig.fwd.table.iter().find(|c| c.cport == 40001).unwrap();
    assert_eq!(closed.state, TcpState::Close, "the reset was seen");
    assert!(outbox.is_empty(), "{:?}", outbox.pop());
    // A full outbox loses updates and counts them; forwarding goes on.
    for port in 40002..40006 {
        rig.establish(port);
    }
    assert_eq!(outbox.len(), 2);
    assert_eq!(rig.stats.sync_overflow.get(), 2);
}

#[test]
fn a_udp_flow_is_reported_once_when_it_starts() {
    let mut rig = Rig::new(snapshot(Forwarding::Nat, crate::wire::IPPROTO_UDP, [1, 1]));
    let outbox = Arc::new(crate::outbox::Outbox::new(8));
    rig.fwd.set_outbox(outbox.clone());
    outbox.set_enabled(true);
    for _ in 0..3 {
        let mut q = udp((CLIENT, 5353), (VIP, 80), (CLIENT_MAC, OUT_MAC));
        assert_eq!(rig.run(OUTSIDE, &mut q), Verdict::Forward(INSIDE));
    }
    assert_eq!(outbox.len(), 1);
}

#[test]
fn a_record_with_the_clients_next_hop_lets_the_server_speak_first() {
    let mut a = Rig::new(snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]));
    let mut syn = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    a.run(OUTSIDE, &mut syn);
    let rec = record::describe(&a.fwd.table.iter().next().unwrap(), &a.snap, 100).unwrap();
    assert_eq!(rec.client_mac, Some(CLIENT_MAC));
    assert!(rec.client_ifindex.is_some());

    let mut b = Rig::new(snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]));
    let inbox = Arc::new(Inbox::new(16));
    b.fwd.set_inbox(inbox.clone());
    // First without the hop (as received), then resolved: the entry learns
    // where replies go.
    inbox
        .push(xlb_model::ConnRecord {
            client_mac: None,
            client_ifindex: None,
            seq_offset: None,
            ..rec
        })
        .unwrap();
    b.fwd.end_batch(&b.snap, &b.stats, 100_000);
    let mut reply = tcp((RS[0], 8080), (CLIENT, 40000), (RS_MAC[0], IN_MAC), "SA");
    assert_eq!(
        b.run(INSIDE, &mut reply),
        Verdict::Drop(DropReason::NoNeighbour)
    );
    inbox.push(rec).unwrap();
    b.fwd.end_batch(&b.snap, &b.stats, 100_000);
    let mut reply = tcp((RS[0], 8080), (CLIENT, 40000), (RS_MAC[0], IN_MAC), "SA");
    assert_eq!(b.run(INSIDE, &mut reply), Verdict::Forward(OUTSIDE));
    assert_eq!(inspect(&reply).dst_mac, CLIENT_MAC);
}

#[test]
fn a_flood_of_sync_records_neither_pushes_out_nor_rewrites_this_directors_connections() {
    let mut rig = Rig::new(snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]));
    let inbox = Arc::new(Inbox::new(4096));
    rig.fwd.set_inbox(inbox.clone());
    // Connections of its own, established.
    for port in 40000..40100 {
        rig.establish(port);
    }
    let mut own: Vec<Conn> = rig.fwd.table.iter().collect();
    own.sort_by_key(|c| c.cport);
    assert_eq!(own.len(), 100);
    assert!(own.iter().all(|c| c.state == TcpState::Established));
    let capacity = rig.fwd.table.capacity();
    let drain = |rig: &mut Rig| {
        while !inbox.is_empty() {
            rig.fwd.end_batch(&rig.snap, &rig.stats, 100_000);
        }
    };
    // Records naming each of them with the other server and no time left
    // (forged, or the other director scheduled the same ports)...
    let other = |a: Address| if a == ip(RS[0]) { ip(RS[1]) } else { ip(RS[0]) };
    for c in &own {
        let rec = record::describe(c, &rig.snap, 100).unwrap();
        inbox
            .push(xlb_model::ConnRecord {
                real: other(rec.real),
                state: TcpState::Close,
                timeout: 0,
                ..rec
            })
            .unwrap();
    }
    drain(&mut rig);
    // ...then twice as many new connections as the table holds.
    let template = record::describe(&own[0], &rig.snap, 100).unwrap();
    let mut sent = 0u32;
    while sent < 2 * capacity as u32 {
        for _ in 0..1024 {
            let rec = xlb_model::ConnRecord {
                client: Address::v4(0x0a09_0000 + sent),
                cport: 1024 + (sent % 60000) as u16,
                ..template
            };
            inbox.push(rec).unwrap();
            sent += 1;
        }
        drain(&mut rig);
    }
    let mut after: Vec<Conn> = rig
        .fwd
        .table
        .iter()
        .filter(|c| c.client == ip(CLIENT))
        .collect();
    after.sort_by_key(|c| c.cport);
    assert_eq!(after, own, "this director's connections, untouched");
    assert_eq!(rig.stats.conns_evicted.get(), 0);
    let installed = rig.stats.conns_installed.get();
    let refused = rig.stats.installs_refused.get();
    assert_eq!(installed + refused, 100 + u64::from(sent));
    assert!(
        refused >= 100 + u64::from(sent) - capacity as u64,
        "{refused} refused"
    );
    assert_eq!(rig.fwd.table.len(), 100 + installed as usize);
    // And they still forward, to their own servers.
    for c in &own {
        let mut ack = tcp((CLIENT, c.cport), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
        assert_eq!(rig.run(OUTSIDE, &mut ack), Verdict::Forward(INSIDE));
        assert_eq!(
            Address::v4(u32::from_be_bytes(inspect(&ack).dst.0)),
            c.real_addr
        );
    }
}

#[test]
fn a_record_replaces_an_ended_connection_on_the_same_ports_but_never_an_established_one() {
    let mut rig = Rig::new(snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]));
    let inbox = Arc::new(Inbox::new(16));
    rig.fwd.set_inbox(inbox.clone());
    let get = |rig: &Rig, port: u16| rig.fwd.table.iter().find(|c| c.cport == port).unwrap();
    // One connection live, one ended (both sides closed: TIME_WAIT).
    let live = rig.establish(40000);
    let ended = rig.establish(40001);
    let mut fin = tcp((CLIENT, 40001), (VIP, 80), (CLIENT_MAC, OUT_MAC), "FA");
    rig.run(OUTSIDE, &mut fin);
    let mut fin = tcp(
        (RS[ended], 8080),
        (CLIENT, 40001),
        (RS_MAC[ended], IN_MAC),
        "FA",
    );
    rig.run(INSIDE, &mut fin);
    assert_eq!(get(&rig, 40001).state, TcpState::TimeWait);
    // The peer scheduled both ports anew, on the other server each.
    for (port, rs) in [(40000, live), (40001, ended)] {
        let rec = record::describe(&get(&rig, port), &rig.snap, 100).unwrap();
        inbox
            .push(xlb_model::ConnRecord {
                real: ip(RS[1 - rs]),
                state: TcpState::Established,
                timeout: 900,
                ..rec
            })
            .unwrap();
    }
    rig.fwd.end_batch(&rig.snap, &rig.stats, 100_000);
    assert_eq!(
        get(&rig, 40000).real_addr,
        ip(RS[live]),
        "the live one stays"
    );
    assert_eq!(
        get(&rig, 40001).real_addr,
        ip(RS[1 - ended]),
        "the ended one is replaced"
    );
    assert_eq!(get(&rig, 40001).state, TcpState::Established);
    assert_eq!(rig.fwd.table.len(), 2);
    assert_eq!(rig.stats.installs_refused.get(), 1);
    assert_eq!(rig.stats.conns_installed.get(), 1);
    // The gauges moved with it: the new server counts one more active
    // (besides the live connection, if that one is on it too).
    let new_server = 1 - ended;
    let expected = 1 + usize::from(live == new_server);
    assert_eq!(rig.snap.gauges[10 + new_server].active() as usize, expected);
}

#[test]
fn a_server_at_its_uthreshold_gets_no_new_connection_until_below_lthreshold() {
    let mut rig = Rig::new(nat_with(|svc| {
        svc.reals[0].u_threshold = 2;
        svc.reals[0].l_threshold = 1;
    }));
    let servers: Vec<usize> = (0..6).map(|i| rig.establish(41000 + i)).collect();
    // Round robin: 11, 12, 11 (its second: at its threshold), then only 12.
    assert_eq!(servers, [0, 1, 0, 1, 1, 1]);
    assert!(rig.snap.gauges[10].overloaded());
    // One of its connections is reset: 1 left is not below lthreshold 1.
    let mut rst = tcp((CLIENT, 41000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "R");
    assert_eq!(rig.run(OUTSIDE, &mut rst), Verdict::Forward(INSIDE));
    rig.fwd.end_batch(&rig.snap, &rig.stats, 111_000);
    assert_eq!(rig.snap.gauges[10].active(), 1);
    assert!(rig.snap.gauges[10].overloaded());
    assert_eq!(rig.establish(41100), 1, "still no new connection for 11");
    let mut rst = tcp((CLIENT, 41002), (VIP, 80), (CLIENT_MAC, OUT_MAC), "R");
    rig.run(OUTSIDE, &mut rst);
    rig.fwd.end_batch(&rig.snap, &rig.stats, 122_000);
    assert!(!rig.snap.gauges[10].overloaded(), "0 is below 1");
    let next: Vec<usize> = (0..2).map(|i| rig.establish(41200 + i)).collect();
    assert!(next.contains(&0), "11 takes connections again: {next:?}");
}

#[test]
fn the_rate_limit_drops_new_connections_beyond_it_and_nothing_else() {
    // 10/s over two workers: 5/s, 5 at once, on this one.
    let mut snap = nat_with(|svc| svc.max_conn_rate = 10);
    snap.workers = 2;
    let mut rig = Rig::new(snap);
    rig.fwd.end_batch(&rig.snap, &rig.stats, 1_000);
    let mut verdicts = Vec::new();
    for port in 0..8 {
        let mut syn = tcp(
            (CLIENT, 42000 + port),
            (VIP, 80),
            (CLIENT_MAC, OUT_MAC),
            "S",
        );
        verdicts.push(rig.run(OUTSIDE, &mut syn));
    }
    let limited = Verdict::Drop(DropReason::RateLimited);
    assert_eq!(
        verdicts.iter().filter(|v| **v == limited).count(),
        3,
        "{verdicts:?}"
    );
    assert_eq!(rig.stats.services[3].drops(DropReason::RateLimited), 3);
    // The connections it let in go on.
    let mut data = tcp((CLIENT, 42000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    assert_eq!(rig.run(OUTSIDE, &mut data), Verdict::Forward(INSIDE));
    // 400 ms later: two more tokens.
    rig.fwd.end_batch(&rig.snap, &rig.stats, 1_400);
    let mut more = Vec::new();
    for port in 100..104 {
        let mut syn = tcp(
            (CLIENT, 42000 + port),
            (VIP, 80),
            (CLIENT_MAC, OUT_MAC),
            "S",
        );
        more.push(rig.run(OUTSIDE, &mut syn) == limited);
    }
    assert_eq!(more, [false, false, true, true]);
}

#[test]
fn the_per_client_cap_refuses_a_clients_next_connection_and_frees_with_its_end() {
    let mut rig = Rig::new(nat_with(|svc| svc.max_conns_per_client = 3));
    let capped = Verdict::Drop(DropReason::ClientCap);
    for port in 0..3 {
        rig.establish(43000 + port);
    }
    let mut syn = tcp((CLIENT, 43100), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(rig.run(OUTSIDE, &mut syn), capped);
    assert_eq!(rig.stats.services[3].drops(DropReason::ClientCap), 1);
    // Another client is not affected, nor the capped client's connections.
    let other = [10, 0, 1, 3];
    let mut syn = tcp((other, 43100), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
    let mut data = tcp((CLIENT, 43001), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    assert_eq!(rig.run(OUTSIDE, &mut data), Verdict::Forward(INSIDE));
    // One of its connections is reset and expires: room for one more.
    let mut rst = tcp((CLIENT, 43000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "R");
    rig.run(OUTSIDE, &mut rst);
    rig.fwd.end_batch(&rig.snap, &rig.stats, 111_000);
    assert_eq!(rig.fwd.table.client_conns(3, ip(CLIENT)), 2);
    let mut syn = tcp((CLIENT, 43101), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(rig.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
    let mut syn = tcp((CLIENT, 43102), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(rig.run(OUTSIDE, &mut syn), capped);
    // Two workers: each holds half of the cap, rounded up (2 of 3).
    let mut two = Rig::new({
        let mut s = rig.snap;
        s.workers = 2;
        s
    });
    let mut v = Vec::new();
    for port in 0..3 {
        let mut syn = tcp((other, 44000 + port), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
        v.push(two.run(OUTSIDE, &mut syn));
    }
    assert_eq!(v[2], capped, "{v:?}");
}

/// A DR service scheduled by Maglev, `sloppy_tcp` and max_conn_rate as
/// given.
fn dr_mh(sloppy_tcp: bool, max_conn_rate: u32) -> Snapshot {
    with_service(snapshot(Forwarding::Dr, IPPROTO_TCP, [1, 1]), |s| {
        s.scheduler = SchedulerKind::Mh;
        s.sloppy_tcp = sloppy_tcp;
        s.max_conn_rate = max_conn_rate;
    })
}

#[test]
fn sloppy_tcp_carries_another_directors_flow_to_the_same_server() {
    // Two directors with the same configuration: A saw the handshakes,
    // then ECMP moved the flows to B, which sees only their ACKs.
    let mut a = Rig::new(dr_mh(true, 0));
    // B limits new connections to 1/s: mid-flow segments are not new.
    let mut b = Rig::new(dr_mh(true, 1));
    let flows = 16u8;
    let client = |i: u8| ([10, 0, 9, i], 40000 + u16::from(i));
    let mut chosen = Vec::new();
    for i in 0..flows {
        let mut syn = tcp(client(i), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
        assert_eq!(a.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
        chosen.push(syn[..6].to_vec());
    }
    // Both servers are in use, or the comparison proves little.
    assert!(chosen.iter().any(|m| m != &chosen[0]));
    for i in 0..flows {
        let mut ack = tcp(client(i), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
        assert_eq!(
            b.run(OUTSIDE, &mut ack),
            Verdict::Forward(INSIDE),
            "flow {i}"
        );
        assert_eq!(
            ack[..6],
            chosen[usize::from(i)][..],
            "flow {i} went to another server"
        );
        // The next segment finds the entry B made.
        let mut again = tcp(client(i), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
        assert_eq!(b.run(OUTSIDE, &mut again), Verdict::Forward(INSIDE));
        assert_eq!(again[..6], ack[..6]);
    }
    assert_eq!(b.stats.conns_picked_up.get(), u64::from(flows));
    assert_eq!(b.fwd.table.len(), usize::from(flows));
    // IPVS's sloppy state: CLOSE (a short idle timeout) until a SYN.
    assert!(b.fwd.table.iter().all(|c| c.state == TcpState::Close));
    // A reset or a SYN-ACK opens nothing; a FIN does.
    for flags in ["R", "SA"] {
        let mut seg = tcp(
            ([10, 0, 9, 200], 1),
            (VIP, 80),
            (CLIENT_MAC, OUT_MAC),
            flags,
        );
        assert_eq!(
            b.run(OUTSIDE, &mut seg),
            Verdict::Drop(DropReason::NoConnection),
            "{flags}"
        );
    }
    assert_eq!(b.fwd.table.len(), usize::from(flows));
    let mut fin = tcp(([10, 0, 9, 201], 1), (VIP, 80), (CLIENT_MAC, OUT_MAC), "FA");
    assert_eq!(b.run(OUTSIDE, &mut fin), Verdict::Forward(INSIDE));
}

#[test]
fn without_sloppy_tcp_a_mid_flow_segment_opens_nothing() {
    let mut b = Rig::new(dr_mh(false, 0));
    let mut ack = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    assert_eq!(
        b.run(OUTSIDE, &mut ack),
        Verdict::Drop(DropReason::NoConnection)
    );
    assert_eq!(b.stats.conns_picked_up.get(), 0);
    assert!(b.fwd.table.is_empty());
}

#[test]
fn a_flow_picked_up_mid_way_is_not_synced_until_a_syn_starts_it() {
    let mut b = Rig::new(dr_mh(true, 0));
    let outbox = Arc::new(crate::outbox::Outbox::new(64));
    outbox.set_enabled(true);
    b.fwd.set_outbox(outbox.clone());
    let mut ack = tcp((CLIENT, 40000), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    assert_eq!(b.run(OUTSIDE, &mut ack), Verdict::Forward(INSIDE));
    assert!(outbox.pop().is_none(), "made-up ACKs do not reach the peer");
    // A real connection from the same director is synced once established.
    let mut syn = tcp((CLIENT, 40001), (VIP, 80), (CLIENT_MAC, OUT_MAC), "S");
    assert_eq!(b.run(OUTSIDE, &mut syn), Verdict::Forward(INSIDE));
    let mut ack = tcp((CLIENT, 40001), (VIP, 80), (CLIENT_MAC, OUT_MAC), "A");
    assert_eq!(b.run(OUTSIDE, &mut ack), Verdict::Forward(INSIDE));
    let synced = outbox.pop().expect("the established connection");
    assert_eq!(synced.cport, 40001);
}

/// The test service (NAT, TCP, VIP:80, two servers on 8080) and a second
/// one on VIP:81 whose only server is the first's on the same port 8080:
/// a client port can reach one server port through both.
fn two_services_one_server_port() -> Snapshot {
    let base = snapshot(Forwarding::Nat, IPPROTO_TCP, [1, 1]);
    let mut other = base.services[0].clone();
    other.id = 4;
    other.key = ServiceKey::endpoint(ip(VIP).ip(), 81, Protocol::Tcp);
    other.reals.truncate(1);
    other.reals[0].id = 12;
    let services = vec![base.services[0].clone(), other];
    Snapshot::new(
        2,
        base.ports.clone(),
        services,
        &[],
        Timeouts::default(),
        new_gauges(),
    )
    .unwrap()
}

/// `frame` through `fwd` at `now` from port `from`: it must leave by the
/// other port; what it looks like then.
fn through(
    fwd: &mut Forwarder,
    (snap, stats): (&Snapshot, &WorkerStats),
    now: u32,
    from: PortId,
    mut frame: Vec<u8>,
) -> Seen {
    let to = if from == OUTSIDE { INSIDE } else { OUTSIDE };
    assert_eq!(
        fwd.process(snap, stats, now, from, &mut frame),
        Verdict::Forward(to)
    );
    inspect(&frame)
}

const C40000: ([u8; 4], u16) = (CLIENT, 40000);

fn from_client(port: u16, flags: &str) -> Vec<u8> {
    tcp(C40000, (VIP, port), (CLIENT_MAC, OUT_MAC), flags)
}

fn from_rs0(flags: &str) -> Vec<u8> {
    tcp((RS[0], 8080), C40000, (RS_MAC[0], IN_MAC), flags)
}

/// Opens client:40000 -> VIP:80 on `fwd` (round robin's first pick is
/// RS[0]) and, with `close`, closes it from both sides (TIME_WAIT).
fn open_on_port_80(fwd: &mut Forwarder, ctx: (&Snapshot, &WorkerStats), close: bool) {
    assert_eq!(
        through(fwd, ctx, 1, OUTSIDE, from_client(80, "S")).dst,
        (RS[0], 8080)
    );
    through(fwd, ctx, 1, INSIDE, from_rs0("SA"));
    through(fwd, ctx, 1, OUTSIDE, from_client(80, "A"));
    if close {
        through(fwd, ctx, 1, INSIDE, from_rs0("FA"));
        through(fwd, ctx, 1, OUTSIDE, from_client(80, "FA"));
    }
}

#[test]
fn a_server_port_reached_through_two_services_answers_the_newest_connection() {
    // Client port 40000 to VIP:80 ends; the same client port to VIP:81 is
    // NATed to the same server port. The server's SYN-ACK must come back
    // from VIP:81, not from the old connection's VIP:80 (the client would
    // reset it and retry until it gave up).
    let Rig {
        mut fwd,
        snap,
        stats,
    } = Rig::new(two_services_one_server_port());
    let ctx = (&snap, &stats);
    open_on_port_80(&mut fwd, ctx, true);
    assert_eq!(fwd.table.iter().next().unwrap().state, TcpState::TimeWait);
    assert_eq!(
        through(&mut fwd, ctx, 2, OUTSIDE, from_client(81, "S")).dst,
        (RS[0], 8080)
    );
    assert_eq!(
        through(&mut fwd, ctx, 2, INSIDE, from_rs0("SA")).src,
        (VIP, 81)
    );
    // The ended connection made way (the server has one connection on
    // these ports): one entry left, its gauges released.
    assert_eq!(fwd.table.len(), 1);
    assert_eq!(stats.conns_expired.get(), 1);
    assert_eq!(
        (snap.gauges[10].active(), snap.gauges[10].inactive()),
        (0, 0)
    );
}

#[test]
fn a_live_connection_on_the_same_server_port_keeps_its_client_side() {
    // As IPVS: the newest connection gets the server's replies; the older
    // one (still established, so the server will answer the new SYN with a
    // challenge ACK) keeps forwarding what its client sends.
    let Rig {
        mut fwd,
        snap,
        stats,
    } = Rig::new(two_services_one_server_port());
    let ctx = (&snap, &stats);
    open_on_port_80(&mut fwd, ctx, false);
    through(&mut fwd, ctx, 2, OUTSIDE, from_client(81, "S"));
    assert_eq!(
        through(&mut fwd, ctx, 2, INSIDE, from_rs0("A")).src,
        (VIP, 81)
    );
    assert_eq!(
        through(&mut fwd, ctx, 2, OUTSIDE, from_client(80, "A")).dst,
        (RS[0], 8080)
    );
    assert_eq!(fwd.table.len(), 2);
    assert_eq!(stats.conns_expired.get(), 0);
}

#[test]
fn replies_for_a_newer_connection_on_another_worker_skip_the_ended_one_here() {
    // The old connection is worker a's, the new one worker b's (their
    // clients' SYNs took different queues); the SYN-ACK lands on a.
    let snap = two_services_one_server_port();
    let (stats_a, stats_b) = (WorkerStats::default(), WorkerStats::default());
    let (mut a, mut b) = two_workers(&snap);
    open_on_port_80(&mut a, (&snap, &stats_a), true);
    through(&mut b, (&snap, &stats_b), 2, OUTSIDE, from_client(81, "S"));
    assert_eq!(
        through(&mut a, (&snap, &stats_a), 2, INSIDE, from_rs0("SA")).src,
        (VIP, 81)
    );
    assert_eq!(stats_a.remote_hits.get(), 1);
    // And so does everything after it from the server (its replies keep
    // landing on a's queue).
    assert_eq!(
        through(&mut a, (&snap, &stats_a), 3, INSIDE, from_rs0("PA")).src,
        (VIP, 81)
    );
    assert_eq!(stats_a.remote_hits.get(), 2);
}

#[test]
fn a_synced_connection_gets_the_replies_of_an_ended_one_on_its_server_port() {
    // The backup holds client:40000 -> VIP:80 ended; the master reports
    // the same client port to VIP:81, NATed to the same server port.
    let Rig {
        mut fwd,
        snap,
        stats,
    } = Rig::new(two_services_one_server_port());
    let ctx = (&snap, &stats);
    let inbox = Arc::new(Inbox::new(16));
    fwd.set_inbox(inbox.clone());
    open_on_port_80(&mut fwd, ctx, true);
    let ended = fwd.table.iter().next().unwrap();
    let rec = record::describe(&ended, &snap, 100).unwrap();
    inbox
        .push(xlb_model::ConnRecord {
            service: ServiceKey::endpoint(ip(VIP).ip(), 81, Protocol::Tcp),
            vport: 81,
            state: TcpState::Established,
            timeout: 900,
            ..rec
        })
        .unwrap();
    fwd.end_batch(&snap, &stats, 100_000);
    assert_eq!(stats.conns_installed.get(), 1);
    assert_eq!(fwd.table.len(), 1, "the ended connection made way");
    assert_eq!(
        through(&mut fwd, ctx, 100, INSIDE, from_rs0("PA")).src,
        (VIP, 81)
    );
}
