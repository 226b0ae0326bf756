//! The worker's own cost of connection sync: the forwarder alone (no NIC,
//! no kernel) on the lab's TCP mix (each flow a SYN, then four ACKs; the
//! first ACK establishes it, which is what sync reports), with the sync
//! outbox off, then on with a thread draining it as the sync sender does.
//! The lab's figure (`bench/lab.sh --sync-cost`) also carries the sender
//! and the kernel, and this machine's noise; this one is the worker's
//! share alone.
//! Prints ns/packet (best of 7 rounds, off and on interleaved), the
//! updates reported, and `worker_sync_vs_off=R` (the rate with sync on
//! over the rate with it off).
//! Usage: cargo run --release -p xlb-bench --bin sync_cost [FLOWS]

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;
use xlb_bench::fixture::{nat_service, tcp_mix_frame};
use xlb_dataplane::forward::{Forwarder, Verdict};
use xlb_dataplane::outbox::Outbox;
use xlb_dataplane::stats::WorkerStats;

const VIP: [u8; 4] = [10, 0, 1, 100];

/// Pin the calling thread to `core` (a benchmark's two threads must not
/// share one core: the drainer would take the worker's time).
fn pin(core: usize) {
    // SAFETY: cpu_set_t is plain data, all-zero is the empty set; CPU_SET
    // writes one bit of it; sched_setaffinity(0) applies it to this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(core, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

fn main() {
    // The worker on core 1, the drainer (the sync sender's part) on core 0.
    pin(1);
    let flows: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let reals: Vec<([u8; 4], u16)> = (0..4u8).map(|i| ([10, 0, 2, 10 + i], 8080)).collect();
    let snap = nat_service(VIP, 80, &reals);
    // SYN, then four ACKs, flow after flow (as xlb-gen's SAAAA pattern).
    let frames: Vec<Vec<u8>> = (0..flows)
        .flat_map(|i| {
            [
                tcp_mix_frame(VIP, i, true, &[0u8; 10]),
                tcp_mix_frame(VIP, i, false, &[0u8; 10]),
                tcp_mix_frame(VIP, i, false, &[0u8; 10]),
                tcp_mix_frame(VIP, i, false, &[0u8; 10]),
                tcp_mix_frame(VIP, i, false, &[0u8; 10]),
            ]
        })
        .collect();
    let mut work = frames.clone();
    // One round: a fresh forwarder (every flow is new), all packets once.
    let mut round = |outbox: Option<&Arc<Outbox>>| -> (f64, u64) {
        let stats = WorkerStats::default();
        let mut fwd = Forwarder::new(flows as usize * 2);
        fwd.adopt(&snap);
        if let Some(o) = outbox {
            fwd.set_outbox(o.clone());
        }
        for (w, f) in work.iter_mut().zip(&frames) {
            w.copy_from_slice(f);
        }
        let t = Instant::now();
        for w in work.iter_mut() {
            let v = fwd.process(&snap, &stats, 1, 0, w);
            debug_assert!(matches!(v, Verdict::Forward(1)));
            black_box(v);
        }
        let ns = t.elapsed().as_nanos() as f64 / frames.len() as f64;
        (ns, stats.sync_overflow.get())
    };
    // The sync sender's side, as it runs: every 10 ms, take what is queued.
    let outbox = Arc::new(Outbox::new(65536));
    outbox.set_enabled(true);
    let stop = Arc::new(AtomicBool::new(false));
    let taken = {
        let (outbox, stop) = (outbox.clone(), stop.clone());
        std::thread::spawn(move || {
            pin(0);
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(10));
                while let Some(c) = outbox.pop() {
                    black_box(c);
                    n += 1;
                }
            }
            n
        })
    };
    let (mut off, mut on, mut lost) = (f64::MAX, f64::MAX, 0);
    for _ in 0..7 {
        off = off.min(round(None).0);
        let (ns, overflow) = round(Some(&outbox));
        on = on.min(ns);
        lost += overflow;
    }
    stop.store(true, Ordering::Relaxed);
    let reported = taken.join().unwrap();
    println!("flows per round {flows}, packets {}", frames.len());
    println!("sync off: {off:.1} ns/packet");
    println!("sync on:  {on:.1} ns/packet ({reported} updates taken over 7 rounds, {lost} lost to a full outbox)");
    println!("worker_sync_vs_off={:.3}", off / on);
}
