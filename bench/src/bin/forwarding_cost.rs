//! The forwarder alone (no NIC, no kernel) per forwarding method, on the
//! lab's TCP mix (each flow a SYN, then four ACKs with 64 bytes of data):
//! NAT, DR and TUN rounds interleaved, every frame where AF_XDP puts it
//! (256 bytes into a 2 KiB buffer: TUN writes its outer header there).
//! Prints ns/packet (best of 7 rounds each) and the ratios of the rates
//! (`dr_vs_nat=R tun_vs_nat=R`; above 1 is faster than NAT).
//! Usage: cargo run --release -p xlb-bench --bin forwarding_cost [FLOWS]

use etherparse::PacketBuilder;
use std::hint::black_box;
use std::time::Instant;
use xlb_bench::fixture::service;
use xlb_dataplane::forward::{Forwarder, Verdict};
use xlb_dataplane::snapshot::Forwarding;
use xlb_dataplane::stats::WorkerStats;
use xlb_dataplane::wire::FrameBuf;

const VIP: [u8; 4] = [10, 0, 1, 100];
const SLOT: usize = 2048;
const HEADROOM: usize = 256;

fn frame(i: u32, syn: bool) -> Vec<u8> {
    let src = (
        (0x0b00_0000 + i / 50_000).to_be_bytes(),
        10_000 + (i % 50_000) as u16,
    );
    let b = PacketBuilder::ethernet2([2, 0xc1, 0, 0, 0, 1], [2, 0xd0, 0, 0, 0, 0])
        .ipv4(src.0, VIP, 64)
        .tcp(src.1, 80, 1, 64000);
    let b = if syn { b.syn() } else { b.ack(1) };
    let mut v = Vec::new();
    b.write(&mut v, if syn { &[] } else { &[0u8; 64] }).unwrap();
    v
}

fn main() {
    let flows: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let frames: Vec<Vec<u8>> = (0..flows)
        .flat_map(|i| [true, false, false, false, false].map(|syn| frame(i, syn)))
        .collect();
    let mut umem = vec![0u8; frames.len() * SLOT];
    let methods = [Forwarding::Nat, Forwarding::Dr, Forwarding::Tun];
    // DR and TUN keep the service's port.
    let snaps = methods.map(|m| {
        let port = if m == Forwarding::Nat { 8080 } else { 80 };
        let reals: Vec<([u8; 4], u16)> = (0..4u8).map(|i| ([10, 0, 2, 10 + i], port)).collect();
        service(VIP, 80, &reals, m)
    });
    let mut round = |k: usize| -> f64 {
        let snap = &snaps[k];
        let stats = WorkerStats::default();
        let mut fwd = Forwarder::new(flows as usize * 2);
        fwd.adopt(snap);
        for (slot, f) in umem.chunks_exact_mut(SLOT).zip(&frames) {
            slot[HEADROOM..HEADROOM + f.len()].copy_from_slice(f);
        }
        let t = Instant::now();
        for (slot, f) in umem.chunks_exact_mut(SLOT).zip(&frames) {
            let mut pkt = FrameBuf::new(slot, HEADROOM, f.len()).expect("fits");
            let v = fwd.process_frame(snap, &stats, 1, 0, &mut pkt);
            debug_assert!(matches!(v, Verdict::Forward(1)), "{v:?}");
            black_box(v);
        }
        t.elapsed().as_nanos() as f64 / frames.len() as f64
    };
    let mut best = [f64::MAX; 3];
    for r in 0..7 {
        // Rotate the order: no method always runs first (warm caches).
        for j in 0..3 {
            let k = (r + j) % 3;
            best[k] = best[k].min(round(k));
        }
    }
    println!("flows per round {flows}, packets {}", frames.len());
    for (m, ns) in methods.iter().zip(best) {
        println!("{}: {ns:.1} ns/packet", m.name());
    }
    println!(
        "dr_vs_nat={:.3} tun_vs_nat={:.3}",
        best[0] / best[1],
        best[0] / best[2]
    );
}
