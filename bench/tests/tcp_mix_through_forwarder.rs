//! The generator's TCP mix through the NAT forwarder, in memory: every SYN
//! opens a connection and every ACK finds it, so the lab bench's TCP figures
//! measure forwarding, not drops.

use xlb_bench::fixture::{nat_service, OUTSIDE_MAC};
use xlb_bench::traffic::{parse_pattern, Stream, StreamSpec};
use xlb_dataplane::forward::{Forwarder, Verdict};
use xlb_dataplane::stats::{DropReason, WorkerStats};

const VIP: [u8; 4] = [10, 200, 1, 10];

#[test]
fn every_syn_opens_and_every_ack_finds_its_connection() {
    let flows = 70_000u32; // spans two source addresses
    let stream = Stream::new(StreamSpec {
        src_mac: [2, 0xc1, 0, 0, 0, 1],
        dst_mac: OUTSIDE_MAC,
        src: [10, 201, 0, 1],
        dst: VIP,
        dport: 80,
        pattern: parse_pattern("SAAAA").unwrap(),
        flows,
        size: 64,
    })
    .unwrap();
    let snap = nat_service(VIP, 80, &[([10, 200, 2, 2], 80)]);
    let stats = WorkerStats::default();
    let mut fwd = Forwarder::new(1 << 17);
    fwd.adopt(&snap);
    let mut buf = [0u8; 2048];
    let mut forwarded = 0u64;
    // One pass and a fifth: the wrap re-sends flows the table already holds.
    let packets = u64::from(flows) * 6;
    for k in 0..packets {
        let len = stream.write(k, &mut buf);
        let v = fwd.process(&snap, &stats, 1, 0, &mut buf[..len]);
        if v == Verdict::Forward(1) {
            forwarded += 1;
        }
    }
    let drops: Vec<_> = DropReason::ALL
        .iter()
        .map(|&r| (r.name(), stats.drops(r)))
        .filter(|d| d.1 > 0)
        .collect();
    assert_eq!(forwarded, packets, "drops: {drops:?}");
    assert_eq!(fwd.table.len(), flows as usize);
}
