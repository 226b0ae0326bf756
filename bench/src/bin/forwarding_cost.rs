//! The forwarder alone (no NIC, no kernel) per forwarding method, on the
//! lab's TCP mix (each flow a SYN, then four ACKs with 64 bytes of data):
//! NAT, DR, TUN and NAT of the same mix over IPv6, rounds interleaved,
//! every frame where AF_XDP puts it (256 bytes into a 2 KiB buffer of a
//! ring of them, just written: TUN writes its outer header there), in
//! batches of 64 whose table lines are prefetched first, as the worker
//! runs. Prints ns/packet (best of 7 rounds
//! each) and the ratios of the rates (`dr_vs_nat=R tun_vs_nat=R`, then
//! `nat6_vs_nat=R` on a line of its own; above 1 is faster than IPv4 NAT).
//! Usage: cargo run --release -p xlb-bench --bin forwarding_cost [FLOWS [ONLY]]
//! (ONLY: nat, dr, tun or nat6 runs that method alone, once: for a
//! profiler such as cachegrind).

use std::hint::black_box;
use std::net::{IpAddr, Ipv6Addr};
use std::time::Instant;
use xlb_bench::fixture::{service, service_at, tcp_mix_frame, tcp_mix_frame6};
use xlb_dataplane::forward::{Forwarder, Verdict, PREFETCH_BATCH};
use xlb_dataplane::snapshot::Forwarding;
use xlb_dataplane::stats::WorkerStats;
use xlb_dataplane::wire::FrameBuf;

const VIP: [u8; 4] = [10, 0, 1, 100];
const VIP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0x100);
const SLOT: usize = 2048;
const HEADROOM: usize = 256;
/// UMEM frames the RX ring cycles through (the veth profile's rx_ring).
const RING_FRAMES: usize = 2048;

fn main() {
    let flows: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let frames4 = mix(flows, |i, syn, p| tcp_mix_frame(VIP, i, syn, p));
    let frames6 = mix(flows, |i, syn, p| tcp_mix_frame6(VIP6, i, syn, p));
    let mut umem = vec![0u8; RING_FRAMES * SLOT];
    let methods = [Forwarding::Nat, Forwarding::Dr, Forwarding::Tun];
    // DR and TUN keep the service's port.
    let mut snaps: Vec<_> = methods
        .iter()
        .map(|&m| {
            let port = if m == Forwarding::Nat { 8080 } else { 80 };
            let reals: Vec<([u8; 4], u16)> = (0..4u8).map(|i| ([10, 0, 2, 10 + i], port)).collect();
            service(VIP, 80, &reals, m)
        })
        .collect();
    let reals6: Vec<(IpAddr, u16)> = (0..4u16)
        .map(|i| {
            (
                Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 0x10 + i).into(),
                8080,
            )
        })
        .collect();
    snaps.push(service_at(VIP6.into(), 80, &reals6, Forwarding::Nat));
    let names = ["nat", "dr", "tun", "nat6"];
    let only = std::env::args().nth(2).map(|m| {
        names
            .iter()
            .position(|n| *n == m)
            .expect("nat, dr, tun or nat6")
    });
    let mut round = |k: usize| -> f64 {
        let snap = &snaps[k];
        let frames = if k == 3 { &frames6 } else { &frames4 };
        let stats = WorkerStats::default();
        let mut fwd = Forwarder::new(flows as usize * 2);
        fwd.adopt(snap);
        let mut forwarded = 0usize;
        let mut busy = std::time::Duration::ZERO;
        // In batches as the worker takes them from its RX ring: the frames
        // land in the next RING_FRAMES of UMEM (recycled, as the ring's
        // are), written just before, as the kernel's copy (or the NIC's
        // DMA into the cache) leaves them; each batch's table lines are
        // prefetched first (the worker does so once the table outgrows the
        // caches, `PREFETCH_FROM`). Timed: the forwarder's work only.
        for (b, fs) in frames.chunks(PREFETCH_BATCH).enumerate() {
            let at = (b * PREFETCH_BATCH) % RING_FRAMES;
            let batch = &mut umem[at * SLOT..(at + fs.len()) * SLOT];
            for (slot, f) in batch.chunks_exact_mut(SLOT).zip(fs) {
                slot[HEADROOM..HEADROOM + f.len()].copy_from_slice(f);
            }
            let t = Instant::now();
            fwd.prefetch_batch(fs.iter().map(Vec::as_slice));
            for (slot, f) in batch.chunks_exact_mut(SLOT).zip(fs) {
                let mut pkt = FrameBuf::new(slot, HEADROOM, f.len()).expect("fits");
                let v = fwd.process_frame(snap, &stats, 1, 0, &mut pkt);
                forwarded += usize::from(v == Verdict::Forward(1));
                black_box(v);
            }
            busy += t.elapsed();
        }
        let ns = busy.as_nanos() as f64 / frames.len() as f64;
        // A method that dropped would look fast.
        assert_eq!(forwarded, frames.len(), "{} forwarded only some", names[k]);
        ns
    };
    if let Some(k) = only {
        println!("{}: {:.1} ns/packet", names[k], round(k));
        return;
    }
    let mut best = [f64::MAX; 4];
    for r in 0..7 {
        // Rotate the order: no method always runs first (warm caches).
        for j in 0..4 {
            let k = (r + j) % 4;
            best[k] = best[k].min(round(k));
        }
    }
    println!("flows per round {flows}, packets {}", frames4.len());
    for (m, ns) in names.iter().zip(best) {
        println!("{m}: {ns:.1} ns/packet");
    }
    println!(
        "dr_vs_nat={:.3} tun_vs_nat={:.3}",
        best[0] / best[1],
        best[0] / best[2]
    );
    println!("nat6_vs_nat={:.3}", best[0] / best[3]);
}

/// Every flow's SYN, then its four ACKs with 64 bytes each.
fn mix(flows: u32, frame: impl Fn(u32, bool, &[u8]) -> Vec<u8>) -> Vec<Vec<u8>> {
    (0..flows)
        .flat_map(|i| {
            [true, false, false, false, false]
                .map(|syn| frame(i, syn, if syn { &[] } else { &[0u8; 64] }))
        })
        .collect()
}
