//! Per-packet cost of the forwarder as live connections grow, and the cost
//! of finding a connection in this worker's table versus another worker's.
//!
//! For each table size N: create N NAT connections (one SYN each), then
//! time `Forwarder::process` on data packets of randomly chosen existing
//! connections (client side on the owner, reply side on a second worker).
//! Prints ns/packet (best of 5 rounds) and the ratio to the smallest size,
//! one packet at a time and in batches of 32 with `prefetch_batch` first
//! (what the worker does with each RX batch; it prefetches only tables of
//! at least `PREFETCH_FROM` connections), and what opening a connection
//! (its SYN) cost.
//! Usage: cargo run --release -p xlb-bench --bin conn_scale [MAX_N]

use etherparse::PacketBuilder;
use std::hint::black_box;
use std::time::Instant;
use xlb_bench::fixture::nat_service;
use xlb_dataplane::forward::{Forwarder, Verdict};
use xlb_dataplane::snapshot::Snapshot;
use xlb_dataplane::stats::WorkerStats;

const BATCH: usize = 32;

const VIP: [u8; 4] = [10, 0, 1, 100];

fn snapshot() -> Snapshot {
    let reals: Vec<([u8; 4], u16)> = (0..4u8).map(|i| ([10, 0, 2, 10 + i], 8080)).collect();
    nat_service(VIP, 80, &reals)
}

fn client(i: u32) -> ([u8; 4], u16) {
    let a = 0x0b00_0000 + i / 50_000;
    (a.to_be_bytes(), 10_000 + (i % 50_000) as u16)
}

fn frame(src: ([u8; 4], u16), dst: ([u8; 4], u16), syn: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0xc1, 0, 0, 0, 1], [2, 0xd0, 0, 0, 0, 0])
        .ipv4(src.0, dst.0, 64)
        .tcp(src.1, dst.1, 1, 64000);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut v = Vec::new();
    b.write(&mut v, &[0u8; 10]).unwrap();
    v
}

fn main() {
    let max: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let snap = snapshot();
    let mut sizes = vec![1_000u32, 10_000, 100_000, 1_000_000, 10_000_000];
    sizes.retain(|&n| n <= max);
    println!(
        "{:>10} {:>12} {:>12} {:>12} {:>10} {:>14} {:>14} {:>12}",
        "conns",
        "own ns/pkt",
        "peer ns/pkt",
        "bytes/conn",
        "own vs 1k",
        "batched ns/pkt",
        "batched vs 1k",
        "new ns/conn"
    );
    let mut base = None;
    let mut base_batched = None;
    for &n in &sizes {
        let stats = WorkerStats::default();
        let mut owner = Forwarder::new(n as usize);
        let mut other = Forwarder::new(1024);
        other.set_peers(vec![owner.table.shared()]);
        owner.adopt(&snap);
        other.adopt(&snap);
        // The SYNs are built a chunk at a time outside the clock: only
        // the forwarder's work on them is timed (a new connection's cost).
        let mut opening = std::time::Duration::ZERO;
        for start in (0..n).step_by(4096) {
            let mut syns: Vec<Vec<u8>> = (start..n.min(start + 4096))
                .map(|i| frame(client(i), (VIP, 80), true))
                .collect();
            let t = Instant::now();
            for (i, f) in (start..).zip(syns.iter_mut()) {
                let v = owner.process(&snap, &stats, 1, 0, f);
                assert!(
                    matches!(v, Verdict::Forward(1)),
                    "connection {i} of {n}: {v:?}"
                );
            }
            opening += t.elapsed();
        }
        let new_conn = opening.as_nanos() as f64 / f64::from(n);
        // Packets of random existing connections, prepared in advance.
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let picks: Vec<u32> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % u64::from(n)) as u32
            })
            .collect();
        let fwd_frames: Vec<Vec<u8>> = picks
            .iter()
            .map(|&i| frame(client(i), (VIP, 80), false))
            .collect();
        // Reply tuples: which real server got connection i is rr: i % 4.
        let rep_frames: Vec<Vec<u8>> = picks
            .iter()
            .map(|&i| frame(([10, 0, 2, 10 + (i % 4) as u8], 8080), client(i), false))
            .collect();
        // Best of 5 rounds, ns per packet; `batched` runs prefetch_batch on
        // each batch first, as the worker does.
        let time = |fwd: &mut Forwarder, frames: &[Vec<u8>], batched: bool| {
            let mut best = f64::MAX;
            let mut work: Vec<Vec<u8>> = frames.to_vec();
            for _ in 0..5 {
                for (w, f) in work.iter_mut().zip(frames) {
                    w.copy_from_slice(f);
                }
                let t = Instant::now();
                for batch in work.chunks_mut(BATCH) {
                    if batched {
                        fwd.prefetch_batch(batch.iter().map(|w| &w[..]));
                    }
                    for w in batch.iter_mut() {
                        black_box(fwd.process(&snap, &stats, 2, 0, w));
                    }
                }
                best = best.min(t.elapsed().as_nanos() as f64 / frames.len() as f64);
            }
            best
        };
        let own = time(&mut owner, &fwd_frames, false);
        let batched = time(&mut owner, &fwd_frames, true);
        let peer = time(&mut other, &rep_frames, false);
        assert_eq!(
            stats.drops(xlb_dataplane::stats::DropReason::NoService),
            0,
            "every packet found its connection"
        );
        let b = *base.get_or_insert(own);
        let bb = *base_batched.get_or_insert(batched);
        println!(
            "{n:>10} {own:>12.1} {peer:>12.1} {:>12} {:>10.2} {batched:>14.1} {:>14.2} {new_conn:>12.1}",
            owner.table.bytes_per_conn(),
            own / b,
            batched / bb
        );
    }
}
