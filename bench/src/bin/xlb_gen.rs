//! xlb-gen: an AF_XDP packet generator for the lab bench. UDP or a TCP
//! SYN/ACK pattern over many flows, at a set rate or flat out, for a set
//! time or packet count; it stops by itself.
//!
//! Why our own: testpmd's txonly sends only UDP, and trafgen's AF_PACKET
//! path builds an skb per frame in the sender's syscall and tops out well
//! below what the forwarders move (bench/README.md). Here a frame is a
//! 64-byte template copied into a UMEM frame and patched (flow address,
//! port, sequence number, incremental checksums); the kernel is asked to
//! send once per 32 frames, its copy-mode TX batch (`XskSocket::flush_tx`).
//!
//! Prints one line: `sent=N secs=S pps=P` plus the socket's kernel counters.
//! Usage: xlb-gen --iface c0 --dst-mac 02:.. --dst 10.200.1.10 [--proto tcp
//!        --pattern SAAAA] [--flows N] [--size 64] [--rate PPS] [--secs S]

use clap::Parser;
use std::net::Ipv4Addr;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use xlb_bench::traffic::{parse_pattern, Segment, Stream, StreamSpec};
use xlb_dataplane::xsk::{BindMode, Umem, XdpDesc, XskConfig, XskSocket};

const FRAME: u32 = 2048;
const BATCH: usize = 64;
/// TX kicks per loop at most (see `XskSocket::flush_tx`).
const MAX_TX_KICKS: u32 = 4;

#[derive(Parser, Debug)]
#[command(
    name = "xlb-gen",
    about = "AF_XDP traffic generator for the xlb lab bench"
)]
struct Args {
    /// Interface to send on.
    #[arg(long)]
    iface: String,
    /// Queue of the interface to bind.
    #[arg(long, default_value_t = 0)]
    queue: u32,
    /// Destination MAC (the director's port).
    #[arg(long, value_parser = parse_mac)]
    dst_mac: [u8; 6],
    /// Source MAC; the interface's own by default.
    #[arg(long, value_parser = parse_mac)]
    src_mac: Option<[u8; 6]>,
    /// Destination address (the VIP).
    #[arg(long)]
    dst: Ipv4Addr,
    /// First source address; flows beyond 64512 use the next addresses.
    #[arg(long, default_value = "10.200.1.2")]
    src: Ipv4Addr,
    #[arg(long, default_value_t = 9)]
    dport: u16,
    /// udp or tcp.
    #[arg(long, default_value = "udp")]
    proto: String,
    /// TCP segments sent per flow, in order: S = SYN, A = ACK, F = FIN.
    #[arg(long, default_value = "SAAAA")]
    pattern: String,
    #[arg(long, default_value_t = 1)]
    flows: u32,
    /// Frame length without FCS.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Packets per second; 0 sends as fast as the kernel takes them.
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Stop after this many seconds.
    #[arg(long, default_value_t = 10.0)]
    secs: f64,
    /// Stop after this many packets (0: no limit).
    #[arg(long, default_value_t = 0)]
    count: u64,
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split(':').collect();
    let mut mac = [0u8; 6];
    if parts.len() != 6 {
        return Err(format!("{s:?} is not a MAC address (aa:bb:cc:dd:ee:ff)"));
    }
    for (m, p) in mac.iter_mut().zip(parts) {
        *m = u8::from_str_radix(p, 16).map_err(|_| format!("{s:?}: bad octet {p:?}"))?;
    }
    Ok(mac)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xlb-gen: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(a: &Args) -> Result<(), String> {
    if !(a.secs > 0.0 && a.secs <= 3600.0) {
        return Err(format!("--secs {} out of range (0, 3600]", a.secs));
    }
    let pattern = match a.proto.as_str() {
        "udp" => vec![Segment::Udp],
        "tcp" => parse_pattern(&a.pattern)?,
        p => return Err(format!("--proto {p:?}: use udp or tcp")),
    };
    let src_mac = match a.src_mac {
        Some(m) => m,
        None => {
            let path = format!("/sys/class/net/{}/address", a.iface);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("{path}: {e} (no interface {:?} here?)", a.iface))?;
            parse_mac(text.trim())?
        }
    };
    let stream = Stream::new(StreamSpec {
        src_mac,
        dst_mac: a.dst_mac,
        src: a.src.octets(),
        dst: a.dst.octets(),
        dport: a.dport,
        pattern,
        flows: a.flows,
        size: a.size,
    })?;
    let name = std::ffi::CString::new(a.iface.as_str()).map_err(|e| e.to_string())?;
    // SAFETY: name is a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(format!("no interface {:?} in this namespace", a.iface));
    }
    let cfg = XskConfig {
        rx_size: 64,
        tx_size: 2048,
        fill_size: 64,
        comp_size: 2048,
        mode: BindMode::Auto,
    };
    let mut umem = Umem::new(cfg.tx_size * 2, FRAME).map_err(|e| format!("UMEM: {e}"))?;
    let mut sock = XskSocket::bind(&umem, &a.iface, ifindex, a.queue, None, &cfg)
        .map_err(|e| e.to_string())?;
    let mut free: Vec<u64> = (0..umem.frames()).map(|i| umem.frame_addr(i)).collect();
    let mut comp = [0u64; 256];
    let mut batch = [XdpDesc::default(); BATCH];

    let start = Instant::now();
    let limit = Duration::from_secs_f64(a.secs);
    let count = if a.count == 0 { u64::MAX } else { a.count };
    let (mut produced, mut sent) = (0u64, 0u64);
    loop {
        let n = sock.comp.consume(&mut comp);
        sent += n as u64;
        free.extend_from_slice(&comp[..n]);
        let elapsed = start.elapsed();
        if elapsed >= limit || produced >= count {
            break;
        }
        let mut want = BATCH.min(free.len()) as u64;
        want = want.min(count - produced);
        if a.rate > 0 {
            let due = (a.rate as f64 * elapsed.as_secs_f64()) as u64;
            want = want.min(due.saturating_sub(produced));
        }
        let want = want.min(u64::from(sock.tx.free(want as u32))) as usize;
        for (i, d) in batch[..want].iter_mut().enumerate() {
            let addr = free[free.len() - 1 - i];
            let frame = umem
                .bytes_mut(addr, FRAME)
                .ok_or("UMEM frame out of range")?;
            let len = stream.write(produced + i as u64, frame);
            *d = XdpDesc {
                addr,
                len: len as u32,
                options: 0,
            };
        }
        let queued = sock.tx.produce(&batch[..want]);
        free.truncate(free.len() - queued);
        produced += queued as u64;
        sock.flush_tx(MAX_TX_KICKS);
        if want == 0 && a.rate > 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    let secs = start.elapsed().as_secs_f64();
    // Let the kernel finish what is queued (bounded), so `sent` is exact.
    let drain_until = Instant::now() + Duration::from_millis(200);
    while sent < produced && Instant::now() < drain_until {
        sock.kick_tx();
        let n = sock.comp.consume(&mut comp);
        sent += n as u64;
    }
    let st = sock
        .statistics()
        .map_err(|e| format!("XDP_STATISTICS: {e}"))?;
    println!(
        "sent={sent} secs={secs:.3} pps={:.0} queued={produced} tx_invalid={} tx_ring_empty={} zero_copy={}",
        sent as f64 / secs,
        st.tx_invalid_descs,
        st.tx_ring_empty_descs,
        sock.zero_copy
    );
    Ok(())
}
