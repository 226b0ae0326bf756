//! The generator's TCP mix through the NAT forwarder, in memory: every SYN
//! opens a connection and every ACK finds it, so the lab bench's TCP figures
//! measure forwarding, not drops.

use xlb_bench::traffic::{parse_pattern, Stream, StreamSpec};
use xlb_dataplane::conn::Timeouts;
use xlb_dataplane::forward::{Forwarder, Verdict};
use xlb_dataplane::sched::SchedulerKind;
use xlb_dataplane::snapshot::{Forwarding, PortInfo, RealServer, Snapshot, VirtualService};
use xlb_dataplane::stats::{new_gauges, DropReason, WorkerStats};

const VIP: [u8; 4] = [10, 200, 1, 10];
const DIR_MAC: [u8; 6] = [2, 0xd0, 0, 0, 0, 0];

fn snapshot() -> Snapshot {
    let svc = VirtualService {
        ftp: false,
        id: 0,
        name: "mix".into(),
        vip: u32::from_be_bytes(VIP),
        port: 80,
        proto: 6,
        forwarding: Forwarding::Nat,
        scheduler: SchedulerKind::Rr,
        reals: vec![RealServer {
            id: 0,
            addr: u32::from_be_bytes([10, 200, 2, 2]),
            port: 80,
            weight: 1,
            egress: 1,
            mac: Some([2, 0x55, 0, 0, 0, 1]),
            enabled: true,
        }],
        sorry: None,
        persistence: None,
        fwmark: None,
    };
    let ports = vec![
        PortInfo {
            name: "out".into(),
            ifindex: 1,
            mac: DIR_MAC,
        },
        PortInfo {
            name: "in".into(),
            ifindex: 2,
            mac: [2, 0xd1, 0, 0, 0, 1],
        },
    ];
    Snapshot::new(1, ports, vec![svc], &[], Timeouts::default(), new_gauges()).unwrap()
}

#[test]
fn every_syn_opens_and_every_ack_finds_its_connection() {
    let flows = 70_000u32; // spans two source addresses
    let stream = Stream::new(StreamSpec {
        src_mac: [2, 0xc1, 0, 0, 0, 1],
        dst_mac: DIR_MAC,
        src: [10, 201, 0, 1],
        dst: VIP,
        dport: 80,
        pattern: parse_pattern("SAAAA").unwrap(),
        flows,
        size: 64,
    })
    .unwrap();
    let snap = snapshot();
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
