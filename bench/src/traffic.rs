//! What the generator sends: packet `k` of a stream is a pure function of
//! `k`, so the TX loop only copies a template into a UMEM frame and patches
//! the few fields that name the flow (source address and port, TCP sequence
//! number) with incremental checksum updates.
//!
//! Flows: flow `f` is source port `1024 + f % 64512` on source address
//! `src + f / 64512`, so a million flows need 16 source addresses. UDP:
//! packet `k` belongs to flow `k % flows`. TCP: the stream walks the flows
//! in order, sending the whole `pattern` (e.g. `SAAAA`: a SYN, then four
//! ACKs) for one flow before the next; with more flows than the run
//! reaches, every SYN opens a new connection on the director.

use xlb_dataplane::wire::checksum::{ipv4_l4_checksum, update16, update32};
use xlb_dataplane::wire::emit::{EthernetRepr, Ipv4Repr, TcpRepr, UdpRepr};
use xlb_dataplane::wire::{ETH_P_IPV4, IPPROTO_TCP, IPPROTO_UDP};

const ETH: usize = 14;
const IP: usize = 20;
const UDP: usize = 8;
const TCP: usize = 20;
const PORTS_PER_ADDR: u32 = 64512;
/// Smallest frame on the wire without its FCS.
pub const MIN_FRAME: usize = 60;
const MAX_FRAME: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    Udp,
    Syn,
    Ack,
    Fin,
}

#[derive(Debug, Clone)]
pub struct StreamSpec {
    pub src_mac: [u8; 6],
    pub dst_mac: [u8; 6],
    pub src: [u8; 4],
    pub dst: [u8; 4],
    pub dport: u16,
    /// `[Udp]` for UDP; a TCP pattern otherwise.
    pub pattern: Vec<Segment>,
    pub flows: u32,
    /// Frame length without FCS.
    pub size: usize,
}

/// Parse a TCP pattern such as `SAAAA` (S = SYN, A = ACK, F = FIN+ACK).
pub fn parse_pattern(s: &str) -> Result<Vec<Segment>, String> {
    let p: Result<Vec<Segment>, String> = s
        .chars()
        .map(|c| match c.to_ascii_uppercase() {
            'S' => Ok(Segment::Syn),
            'A' => Ok(Segment::Ack),
            'F' => Ok(Segment::Fin),
            other => Err(format!(
                "pattern {s:?}: unknown segment {other:?} (use S for SYN, A for ACK, F for FIN)"
            )),
        })
        .collect();
    match p {
        Ok(p) if p.is_empty() => Err("pattern is empty (try SAAAA)".into()),
        other => other,
    }
}

pub struct Stream {
    spec: StreamSpec,
    /// One finished frame per pattern step, for flow 0.
    templates: Vec<Vec<u8>>,
    l4_check_at: usize,
}

impl Stream {
    pub fn new(spec: StreamSpec) -> Result<Stream, String> {
        let tcp = spec.pattern.first() != Some(&Segment::Udp);
        let headers = ETH + IP + if tcp { TCP } else { UDP };
        if spec.size < MIN_FRAME.max(headers) || spec.size > MAX_FRAME {
            return Err(format!(
                "frame size {} out of range {}..={MAX_FRAME}",
                spec.size,
                MIN_FRAME.max(headers)
            ));
        }
        if spec.flows == 0 || spec.flows > PORTS_PER_ADDR * 256 {
            return Err(format!(
                "flows {} out of range 1..={}",
                spec.flows,
                PORTS_PER_ADDR * 256
            ));
        }
        if tcp && spec.pattern.contains(&Segment::Udp) {
            return Err("a pattern mixes UDP and TCP".into());
        }
        let templates = spec
            .pattern
            .iter()
            .map(|&seg| template(&spec, seg))
            .collect();
        Ok(Stream {
            l4_check_at: ETH + IP + if tcp { 16 } else { 6 },
            spec,
            templates,
        })
    }

    pub fn spec(&self) -> &StreamSpec {
        &self.spec
    }

    /// (flow, pattern step) of packet `k`.
    fn position(&self, k: u64) -> (u32, usize) {
        let len = self.templates.len() as u64;
        let flows = u64::from(self.spec.flows);
        if self.spec.pattern[0] == Segment::Udp {
            ((k % flows) as u32, 0)
        } else {
            (((k / len) % flows) as u32, (k % len) as usize)
        }
    }

    /// Write packet `k` into `frame`; returns its length.
    #[inline]
    pub fn write(&self, k: u64, frame: &mut [u8]) -> usize {
        let (flow, step) = self.position(k);
        let t = &self.templates[step];
        let out = &mut frame[..t.len()];
        out.copy_from_slice(t);
        if flow == 0 {
            return t.len();
        }
        let base_ip = u32::from_be_bytes(self.spec.src);
        let ip = base_ip.wrapping_add(flow / PORTS_PER_ADDR);
        let port = 1024 + (flow % PORTS_PER_ADDR) as u16;
        let mut ip_check = get16(out, ETH + 10);
        let mut l4 = get16(out, self.l4_check_at);
        ip_check = update32(ip_check, base_ip, ip);
        put16(out, ETH + 10, ip_check);
        out[ETH + 12..ETH + 16].copy_from_slice(&ip.to_be_bytes());
        // UDP checksum 0 means "none": the generator always fills one in.
        l4 = update32(l4, base_ip, ip);
        l4 = update16(l4, 1024, port);
        put16(out, ETH + IP, port);
        if self.spec.pattern[0] != Segment::Udp {
            let seq_at = ETH + IP + 4;
            let old = get32(out, seq_at);
            let new = old.wrapping_add(isn(flow).wrapping_sub(isn(0)));
            l4 = update32(l4, old, new);
            put32(out, seq_at, new);
        }
        put16(out, self.l4_check_at, l4);
        t.len()
    }
}

/// Initial sequence number of a flow: spread out, reproducible.
fn isn(flow: u32) -> u32 {
    flow.wrapping_mul(2_654_435_761)
}

fn template(spec: &StreamSpec, seg: Segment) -> Vec<u8> {
    let mut f = vec![0u8; spec.size];
    let tcp = seg != Segment::Udp;
    let proto = if tcp { IPPROTO_TCP } else { IPPROTO_UDP };
    let l4_len = if tcp {
        // A TCP segment is bare (as a real SYN is); the rest is padding.
        TCP
    } else {
        // UDP carries the rest of the frame as payload.
        spec.size - ETH - IP
    };
    let eth = EthernetRepr {
        dst: spec.dst_mac,
        src: spec.src_mac,
        ethertype: ETH_P_IPV4,
    };
    let ip = Ipv4Repr {
        src: u32::from_be_bytes(spec.src),
        dst: u32::from_be_bytes(spec.dst),
        proto,
        ttl: 64,
        tos: 0,
        ident: 0,
        dont_fragment: true,
        payload_len: l4_len as u16,
    };
    let at = eth.emit(&mut f).and_then(|n| Ok(n + ip.emit(&mut f[n..])?));
    debug_assert_eq!(at, Ok(ETH + IP), "size was checked against the headers");
    let l4 = &mut f[ETH + IP..ETH + IP + l4_len];
    let check_at = match seg {
        Segment::Udp => {
            let udp = UdpRepr {
                sport: 1024,
                dport: spec.dport,
                payload_len: (l4_len - UDP) as u16,
            };
            let _ = udp.emit(l4);
            6
        }
        tcp => {
            let (seq, ack, flags) = match tcp {
                Segment::Syn => (isn(0), 0, 0x02),
                Segment::Ack => (isn(0).wrapping_add(1), 1, 0x10),
                _ => (isn(0).wrapping_add(1), 1, 0x11),
            };
            let tcp = TcpRepr {
                sport: 1024,
                dport: spec.dport,
                seq,
                ack,
                flags,
                window: 65535,
            };
            let _ = tcp.emit(l4);
            16
        }
    };
    let c = ipv4_l4_checksum(spec.src, spec.dst, proto, l4);
    put16(l4, check_at, c);
    f
}

fn get16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}
fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}
fn get32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn spec(pattern: &str, flows: u32, size: usize) -> StreamSpec {
        StreamSpec {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            src: [10, 201, 0, 1],
            dst: [10, 200, 1, 10],
            dport: 80,
            pattern: if pattern == "udp" {
                vec![Segment::Udp]
            } else {
                parse_pattern(pattern).unwrap()
            },
            flows,
            size,
        }
    }

    /// (source address, source port, SYN, ACK, seq) after checking both
    /// checksums against etherparse's own computation.
    fn decode(frame: &[u8]) -> ([u8; 4], u16, bool, bool, u32) {
        let p = SlicedPacket::from_ethernet(frame).expect("parses");
        let Some(NetSlice::Ipv4(ip)) = p.net else {
            panic!("not IPv4")
        };
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum(), "IP checksum");
        let src = ip.header().source();
        match p.transport.expect("transport") {
            TransportSlice::Tcp(t) => {
                let want = t
                    .to_header()
                    .calc_checksum_ipv4(&h, t.payload())
                    .expect("checksum");
                assert_eq!(t.checksum(), want, "TCP checksum");
                assert!(t.payload().is_empty(), "a bare segment");
                (src, t.source_port(), t.syn(), t.ack(), t.sequence_number())
            }
            TransportSlice::Udp(u) => {
                let want = u
                    .to_header()
                    .calc_checksum_ipv4(&h, u.payload())
                    .expect("checksum");
                assert_eq!(u.checksum(), want, "UDP checksum");
                (src, u.source_port(), false, false, 0)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn tcp_pattern_walks_flows_with_valid_checksums() {
        let s = Stream::new(spec("SAAAA", 200_000, 64)).unwrap();
        let mut buf = [0u8; 2048];
        // Flow 70 000 lives on the second source address.
        let flow = 70_000u64;
        for step in 0..5u64 {
            let len = s.write(flow * 5 + step, &mut buf);
            assert_eq!(len, 64);
            let (src, port, syn, ack, seq) = decode(&buf[..len]);
            assert_eq!(src, [10, 201, 0, 2]);
            assert_eq!(port, 1024 + (70_000 - 64_512) as u16);
            assert_eq!((syn, ack), (step == 0, step > 0), "step {step}");
            let syn_seq = isn(70_000);
            assert_eq!(seq, if step == 0 { syn_seq } else { syn_seq + 1 });
        }
        // The stream wraps after the last flow.
        let len = s.write(200_000 * 5, &mut buf);
        assert_eq!(decode(&buf[..len]).1, 1024);
    }

    #[test]
    fn udp_spreads_packets_over_flows_and_fills_the_frame() {
        let s = Stream::new(spec("udp", 3, 128)).unwrap();
        let mut buf = [0u8; 2048];
        let ports: Vec<u16> = (0..6)
            .map(|k| {
                let len = s.write(k, &mut buf);
                assert_eq!(len, 128);
                let p = SlicedPacket::from_ethernet(&buf[..len]).unwrap();
                let Some(TransportSlice::Udp(u)) = p.transport else {
                    panic!("not UDP")
                };
                assert_eq!(u.payload().len(), 128 - 42);
                decode(&buf[..len]).1
            })
            .collect();
        assert_eq!(ports, [1024, 1025, 1026, 1024, 1025, 1026]);
    }

    #[test]
    fn bad_specs_are_refused_with_the_reason() {
        assert!(Stream::new(spec("SA", 1, 40)).is_err());
        assert!(Stream::new(spec("SA", 0, 64)).is_err());
        assert!(Stream::new(spec("udp", 1, 4096)).is_err());
        let e = parse_pattern("SXA").unwrap_err();
        assert!(e.contains("'X'"), "{e}");
        assert!(parse_pattern("").is_err());
    }
}
