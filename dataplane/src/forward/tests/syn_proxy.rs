//! The SYN proxy, segment by segment: the client's handshake answered by
//! the director, the server's completed by it, and every number after
//! translated, checksums recomputed from scratch by etherparse.

use super::*;
use crate::snapshot::SynProxy;
use crate::synproxy::cookie::MSS_TABLE;
use crate::wire::FrameBuf;

/// A TCP segment with the numbers given; `mss` only on a SYN.
struct Seg {
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    macs: ([u8; 6], [u8; 6]),
    seq: u32,
    ack: Option<u32>,
    syn: bool,
    rst: bool,
    payload: &'static [u8],
    mss: Option<u16>,
}

impl Seg {
    fn from_client(port: u16, seq: u32, ack: Option<u32>) -> Seg {
        Seg {
            src: (CLIENT, port),
            dst: (VIP, 80),
            macs: (CLIENT_MAC, OUT_MAC),
            seq,
            ack,
            syn: false,
            rst: false,
            payload: b"",
            mss: None,
        }
    }

    fn from_server(port: u16, seq: u32, ack: u32) -> Seg {
        Seg {
            src: (RS[0], 8080),
            dst: (CLIENT, port),
            macs: (RS_MAC[0], IN_MAC),
            seq,
            ack: Some(ack),
            syn: false,
            rst: false,
            payload: b"",
            mss: None,
        }
    }

    fn bytes(&self) -> Vec<u8> {
        let b = PacketBuilder::ethernet2(self.macs.0, self.macs.1)
            .ipv4(self.src.0, self.dst.0, 64)
            .tcp(self.src.1, self.dst.1, self.seq, 64000);
        let b = if self.syn { b.syn() } else { b };
        let b = if self.rst { b.rst() } else { b };
        let b = match self.ack {
            Some(a) => b.ack(a),
            None => b,
        };
        let b = match self.mss {
            Some(m) => b
                .options(&[etherparse::TcpOptionElement::MaximumSegmentSize(m)])
                .unwrap(),
            None => b,
        };
        let mut v = Vec::new();
        b.write(&mut v, self.payload).unwrap();
        v
    }
}

/// What a segment left as: addresses, MACs, TTL (checked by `inspect`),
/// and its TCP numbers, flags, options and payload.
#[derive(Debug)]
struct Out {
    seen: Seen,
    seq: u32,
    ack: u32,
    syn: bool,
    ack_flag: bool,
    rst: bool,
    options: Vec<u8>,
    payload: Vec<u8>,
}

struct ProxyRig {
    rig: Rig,
}

impl ProxyRig {
    fn new(mode: SynProxy, capacity: usize) -> ProxyRig {
        let snap = nat_with(|svc| {
            svc.syn_proxy = mode;
            svc.reals[1].weight = 0;
        });
        let mut fwd = Forwarder::new(capacity);
        fwd.adopt(&snap);
        ProxyRig {
            rig: Rig {
                fwd,
                snap,
                stats: WorkerStats::default(),
            },
        }
    }

    fn send(&mut self, ingress: PortId, seg: &Seg) -> (Verdict, Option<Out>) {
        self.send_at(100, ingress, seg)
    }

    /// At `now` (coarse seconds) instead of 100.
    fn send_at(&mut self, now: u32, ingress: PortId, seg: &Seg) -> (Verdict, Option<Out>) {
        let r = &mut self.rig;
        send_now(&mut r.fwd, &r.snap, &r.stats, now, ingress, seg)
    }

    fn drops(&self, r: DropReason) -> u64 {
        self.rig.stats.drops(r)
    }
}

/// Run `seg` through `fwd` in a 2 KB buffer (room to grow, as a UMEM frame
/// has): the verdict and, if forwarded, the frame.
fn send_via(
    fwd: &mut Forwarder,
    snap: &Snapshot,
    stats: &WorkerStats,
    ingress: PortId,
    seg: &Seg,
) -> (Verdict, Option<Out>) {
    send_now(fwd, snap, stats, 100, ingress, seg)
}

fn send_now(
    fwd: &mut Forwarder,
    snap: &Snapshot,
    stats: &WorkerStats,
    now: u32,
    ingress: PortId,
    seg: &Seg,
) -> (Verdict, Option<Out>) {
    let b = seg.bytes();
    let mut umem = vec![0u8; 2048];
    umem[..b.len()].copy_from_slice(&b);
    let mut pkt = FrameBuf::new(&mut umem, 0, b.len()).unwrap();
    let v = fwd.process_frame(snap, stats, now, ingress, &mut pkt);
    let Verdict::Forward(_) = v else {
        return (v, None);
    };
    let out = pkt.bytes().to_vec();
    let seen = inspect(&out);
    let p = SlicedPacket::from_ethernet(&out).unwrap();
    let Some(TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP")
    };
    (
        v,
        Some(Out {
            seen,
            seq: t.sequence_number(),
            ack: t.acknowledgment_number(),
            syn: t.syn(),
            ack_flag: t.ack(),
            rst: t.rst(),
            options: t.options().to_vec(),
            payload: t.payload().to_vec(),
        }),
    )
}

fn mss_option(m: u16) -> Vec<u8> {
    let b = m.to_be_bytes();
    vec![2, 4, b[0], b[1]]
}

/// SYN, SYN-ACK from the director, the client's ACK: the cookie (the
/// director's ISN), the SYN the server got.
fn client_handshake(p: &mut ProxyRig, port: u16, isn: u32) -> (u32, Out) {
    let syn = Seg {
        syn: true,
        mss: Some(1460),
        ..Seg::from_client(port, isn, None)
    };
    let (v, out) = p.send(OUTSIDE, &syn);
    assert_eq!(v, Verdict::Forward(OUTSIDE), "answered where it came from");
    let synack = out.unwrap();
    assert_eq!(
        synack.seen,
        Seen {
            src_mac: OUT_MAC,
            dst_mac: CLIENT_MAC,
            src: (VIP, 80),
            dst: (CLIENT, port),
            ttl: 64
        }
    );
    assert!(synack.syn && synack.ack_flag && !synack.rst);
    assert_eq!(synack.ack, isn.wrapping_add(1));
    assert_eq!(synack.options, mss_option(1460));
    let cookie = synack.seq;
    let (v, out) = p.send(
        OUTSIDE,
        &Seg::from_client(port, isn.wrapping_add(1), Some(cookie.wrapping_add(1))),
    );
    assert_eq!(v, Verdict::Forward(INSIDE));
    (cookie, out.unwrap())
}

#[test]
fn a_syn_is_answered_with_a_cookie_and_the_ack_opens_the_server_side() {
    let mut p = ProxyRig::new(SynProxy::On, 1024);
    let (cookie, syn) = client_handshake(&mut p, 40000, 1000);
    assert_eq!(p.rig.stats.syn_cookies_sent.get(), 1);
    assert_eq!(p.rig.stats.syn_cookies_accepted.get(), 1);
    // To the server: the client's own SYN, NAT applied.
    assert_eq!(
        syn.seen,
        Seen {
            src_mac: IN_MAC,
            dst_mac: RS_MAC[0],
            src: (CLIENT, 40000),
            dst: (RS[0], 8080),
            ttl: 63
        }
    );
    assert!(syn.syn && !syn.ack_flag);
    assert_eq!(syn.seq, 1000);
    assert_eq!(syn.options, mss_option(MSS_TABLE[3]));
    assert_eq!(p.rig.fwd.table.len(), 1);

    // The client speaks before the server answered: its request is kept
    // (once: a second copy is dropped, the client sends it again anyway).
    let early = Seg {
        payload: b"GET / HTTP/1.0\r\n\r\n",
        ..Seg::from_client(40000, 1001, Some(cookie.wrapping_add(1)))
    };
    let wait = Verdict::Drop(DropReason::SynProxyWait);
    assert_eq!(p.send(OUTSIDE, &early).0, wait);
    assert_eq!(p.rig.stats.syn_proxy_parked.get(), 1);
    assert_eq!(p.send(OUTSIDE, &early).0, wait);
    assert_eq!(
        p.drops(DropReason::SynProxyWait),
        1,
        "the kept one is no loss"
    );

    // The server's SYN-ACK becomes the ACK that completes its handshake.
    let synack = Seg {
        syn: true,
        ..Seg::from_server(40000, 5000, 1001)
    };
    let (v, out) = p.send(INSIDE, &synack);
    assert_eq!(v, Verdict::Forward(INSIDE));
    let ack = out.unwrap();
    assert_eq!(
        ack.seen,
        Seen {
            src_mac: IN_MAC,
            dst_mac: RS_MAC[0],
            src: (CLIENT, 40000),
            dst: (RS[0], 8080),
            ttl: 64
        }
    );
    // It carries the request that came early.
    assert!(ack.ack_flag && !ack.syn);
    assert_eq!((ack.seq, ack.ack), (1001, 5001));
    assert_eq!(ack.payload, early.payload);
    let c = p.rig.fwd.table.iter().next().unwrap();
    assert_eq!(c.state, TcpState::Established);
    assert_eq!(c.syn_proxy, SynProxied::Spliced);

    // From now on the client's acknowledgements are in the server's
    // numbers, and the server's sequence numbers in the client's.
    let (v, out) = p.send(OUTSIDE, &early);
    assert_eq!(v, Verdict::Forward(INSIDE));
    let req = out.unwrap();
    assert_eq!((req.seq, req.ack), (1001, 5001));
    assert_eq!(req.payload, b"GET / HTTP/1.0\r\n\r\n");
    let reply = Seg {
        payload: b"HTTP/1.0 200 OK\r\n\r\n",
        ..Seg::from_server(40000, 5001, 1019)
    };
    let (v, out) = p.send(INSIDE, &reply);
    assert_eq!(v, Verdict::Forward(OUTSIDE));
    let resp = out.unwrap();
    assert_eq!(resp.seen.src, (VIP, 80));
    assert_eq!((resp.seq, resp.ack), (cookie.wrapping_add(1), 1019));
    assert_eq!(resp.payload, b"HTTP/1.0 200 OK\r\n\r\n");

    // The director's ACK was lost: the server's SYN-ACK again gets it again.
    let (v, out) = p.send(INSIDE, &synack);
    assert_eq!(v, Verdict::Forward(INSIDE));
    let again = out.unwrap();
    assert_eq!((again.seq, again.ack, again.syn), (1001, 5001, false));
    assert!(again.payload.is_empty(), "the request was taken once");
}

#[test]
fn data_on_the_cookie_ack_rides_on_the_servers_handshake() {
    let mut p = ProxyRig::new(SynProxy::On, 1024);
    let syn = Seg {
        syn: true,
        ..Seg::from_client(40004, 300, None)
    };
    let cookie = p.send(OUTSIDE, &syn).1.unwrap().seq;
    let ack = Seg {
        payload: b"hello",
        ..Seg::from_client(40004, 301, Some(cookie.wrapping_add(1)))
    };
    let (v, out) = p.send(OUTSIDE, &ack);
    assert_eq!(v, Verdict::Forward(INSIDE));
    let syn = out.unwrap();
    assert!(syn.syn && syn.payload.is_empty(), "a SYN carries no data");
    let synack = Seg {
        syn: true,
        ..Seg::from_server(40004, 7000, 301)
    };
    let out = p.send(INSIDE, &synack).1.unwrap();
    assert_eq!((out.seq, out.ack), (301, 7001));
    assert_eq!(out.payload, b"hello");
}

#[test]
fn a_forged_or_stale_ack_opens_nothing() {
    let mut p = ProxyRig::new(SynProxy::On, 1024);
    let syn = Seg {
        syn: true,
        ..Seg::from_client(40001, 77, None)
    };
    let cookie = p.send(OUTSIDE, &syn).1.unwrap().seq;
    assert_eq!(p.rig.fwd.table.len(), 0, "a SYN leaves no state");
    for (port, seq, ack) in [
        (40001, 78, cookie.wrapping_add(100)),
        (40002, 78, cookie.wrapping_add(1)),
        (40001, 78 + 100, cookie.wrapping_add(1)),
    ] {
        let forged = Seg::from_client(port, seq, Some(ack));
        assert_eq!(
            p.send(OUTSIDE, &forged).0,
            Verdict::Drop(DropReason::SynCookieInvalid)
        );
    }
    assert_eq!(p.drops(DropReason::SynCookieInvalid), 3);
    assert_eq!(p.rig.fwd.table.len(), 0);
    // Two and more minutes late.
    let late = Seg::from_client(40001, 78, Some(cookie.wrapping_add(1)));
    let b = late.bytes();
    let r = &mut p.rig;
    let mut buf = b.clone();
    buf.resize(2048, 0);
    let mut pkt = FrameBuf::new(&mut buf, 0, b.len()).unwrap();
    assert_eq!(
        r.fwd
            .process_frame(&r.snap, &r.stats, 100 + 200, OUTSIDE, &mut pkt),
        Verdict::Drop(DropReason::SynCookieInvalid)
    );
}

#[test]
fn a_refusing_server_resets_the_client_in_its_numbers() {
    let mut p = ProxyRig::new(SynProxy::On, 1024);
    let (cookie, _) = client_handshake(&mut p, 40003, 9000);
    let rst = Seg {
        rst: true,
        ..Seg::from_server(40003, 0, 9001)
    };
    let (v, out) = p.send(INSIDE, &rst);
    assert_eq!(v, Verdict::Forward(OUTSIDE));
    let out = out.unwrap();
    assert!(out.rst);
    assert_eq!(out.seen.src, (VIP, 80));
    assert_eq!(out.seq, cookie.wrapping_add(1));
}

#[test]
fn auto_proxies_once_the_table_overflows_and_off_never() {
    let mut p = ProxyRig::new(SynProxy::Auto, 64);
    // Below the threshold the service works as without a proxy.
    let syn = |port| Seg {
        syn: true,
        ..Seg::from_client(port, 1, None)
    };
    for port in 0..64 {
        assert_eq!(p.send(OUTSIDE, &syn(port)).0, Verdict::Forward(INSIDE));
    }
    assert_eq!(p.rig.stats.syn_cookies_sent.get(), 0);
    // Full of half-open entries: one is recycled, and the proxy engages.
    assert_eq!(p.send(OUTSIDE, &syn(64)).0, Verdict::Forward(INSIDE));
    assert_eq!(p.rig.stats.conns_evicted.get(), 1);
    let (v, out) = p.send(OUTSIDE, &syn(65));
    assert_eq!(v, Verdict::Forward(OUTSIDE));
    assert!(out.unwrap().syn);
    assert_eq!(p.rig.stats.syn_cookies_sent.get(), 1);
    assert_eq!(p.rig.fwd.table.len(), 64, "cookies take no entry");

    let mut off = ProxyRig::new(SynProxy::Off, 64);
    for port in 0..70 {
        assert_eq!(off.send(OUTSIDE, &syn(port)).0, Verdict::Forward(INSIDE));
    }
    assert_eq!(off.rig.stats.syn_cookies_sent.get(), 0);
}

#[test]
fn a_proxied_connection_synced_to_another_director_goes_on_translated() {
    let mut a = ProxyRig::new(SynProxy::On, 1024);
    let (cookie, _) = client_handshake(&mut a, 40005, 100);
    let synack = Seg {
        syn: true,
        ..Seg::from_server(40005, 9000, 101)
    };
    assert_eq!(a.send(INSIDE, &synack).0, Verdict::Forward(INSIDE));
    let c = a.rig.fwd.table.iter().next().unwrap();
    let rec = crate::conn::record::describe(&c, &a.rig.snap, 100).unwrap();
    assert_eq!(rec.seq_offset, Some(cookie.wrapping_sub(9000)));

    // The other director installs it and translates as the first did.
    let mut b = ProxyRig::new(SynProxy::On, 1024);
    let inbox = Arc::new(Inbox::new(4));
    b.rig.fwd.set_inbox(inbox.clone());
    inbox.push(rec).unwrap();
    b.rig.fwd.end_batch(&b.rig.snap, &b.rig.stats, 100_000);
    let data = Seg {
        payload: b"late",
        ..Seg::from_server(40005, 9001, 101)
    };
    let (v, out) = b.send(INSIDE, &data);
    assert_eq!(v, Verdict::Forward(OUTSIDE));
    assert_eq!(out.unwrap().seq, cookie.wrapping_add(1));
    let ack = Seg::from_client(40005, 101, Some(cookie.wrapping_add(5)));
    let (v, out) = b.send(OUTSIDE, &ack);
    assert_eq!(v, Verdict::Forward(INSIDE));
    assert_eq!(out.unwrap().ack, 9005);
}

#[test]
fn a_servers_syn_ack_on_another_worker_completes_the_handshake_and_hands_the_offset_over() {
    // Worker a holds the connection (the client's side hashes there), the
    // server's side reaches worker b.
    let mut p = ProxyRig::new(SynProxy::On, 1024);
    let mut b = Forwarder::new(1024);
    let stats_b = WorkerStats::default();
    p.rig.fwd.set_peers(vec![b.table.shared()]);
    b.set_peers(vec![p.rig.fwd.table.shared()]);
    b.adopt(&p.rig.snap);
    let (cookie, _) = client_handshake(&mut p, 40006, 500);
    let synack = Seg {
        syn: true,
        ..Seg::from_server(40006, 3000, 501)
    };
    let (v, out) = send_via(&mut b, &p.rig.snap, &stats_b, INSIDE, &synack);
    assert_eq!(v, Verdict::Forward(INSIDE));
    let ack = out.unwrap();
    assert_eq!((ack.seq, ack.ack, ack.syn), (501, 3001, false));
    // Until a takes the offset, the server's data waits (it comes again).
    let data = Seg {
        payload: b"banner",
        ..Seg::from_server(40006, 3001, 501)
    };
    let wait = Verdict::Drop(DropReason::SynProxyWait);
    assert_eq!(
        send_via(&mut b, &p.rig.snap, &stats_b, INSIDE, &data).0,
        wait
    );
    p.rig.fwd.end_batch(&p.rig.snap, &p.rig.stats, 100_000);
    let c = p.rig.fwd.table.iter().next().unwrap();
    assert_eq!(
        (c.syn_proxy, c.state),
        (SynProxied::Spliced, TcpState::Established)
    );
    assert_eq!(c.seq_delta, cookie.wrapping_sub(3000));
    let (v, out) = send_via(&mut b, &p.rig.snap, &stats_b, INSIDE, &data);
    assert_eq!(v, Verdict::Forward(OUTSIDE));
    assert_eq!(out.unwrap().seq, cookie.wrapping_add(1));
    let reply = Seg::from_client(40006, 501, Some(cookie.wrapping_add(7)));
    let (v, out) = p.send(OUTSIDE, &reply);
    assert_eq!(v, Verdict::Forward(INSIDE));
    assert_eq!(out.unwrap().ack, 3007);
}

#[test]
fn a_server_silent_for_a_second_gets_the_syn_again_on_the_clients_retry() {
    let mut p = ProxyRig::new(SynProxy::On, 1024);
    let (cookie, _) = client_handshake(&mut p, 40007, 2000);
    let req = Seg {
        payload: b"GET /",
        ..Seg::from_client(40007, 2001, Some(cookie.wrapping_add(1)))
    };
    // At once: kept, nothing sent (the SYN is on its way).
    assert_eq!(
        p.send_at(100, OUTSIDE, &req).0,
        Verdict::Drop(DropReason::SynProxyWait)
    );
    // The client sends it again a second later: the server, silent, gets
    // the SYN again, the client's ISN and all.
    let (v, out) = p.send_at(101, OUTSIDE, &req);
    assert_eq!(v, Verdict::Forward(INSIDE));
    let syn = out.unwrap();
    assert!(syn.syn && !syn.ack_flag && syn.payload.is_empty());
    assert_eq!((syn.seen.dst, syn.seq), ((RS[0], 8080), 2000));
    // Its answer still carries the request kept the first time.
    let synack = Seg {
        syn: true,
        ..Seg::from_server(40007, 600, 2001)
    };
    let out = p.send_at(101, INSIDE, &synack).1.unwrap();
    assert_eq!(
        (out.seq, out.ack, out.payload.as_slice()),
        (2001, 601, &b"GET /"[..])
    );
}

#[test]
fn a_client_the_limits_refuse_after_its_cookie_hears_a_reset() {
    let snap = nat_with(|svc| {
        svc.syn_proxy = SynProxy::On;
        svc.max_conns_per_client = 1;
    });
    let mut p = ProxyRig::new(SynProxy::On, 1024);
    p.rig.snap = snap;
    p.rig.fwd = Forwarder::new(1024);
    p.rig.fwd.adopt(&p.rig.snap);
    client_handshake(&mut p, 40008, 10);
    // A second connection: its cookie checks out, the cap refuses it.
    let syn = Seg {
        syn: true,
        ..Seg::from_client(40009, 50, None)
    };
    let cookie = p.send(OUTSIDE, &syn).1.unwrap().seq;
    let (v, out) = p.send(
        OUTSIDE,
        &Seg::from_client(40009, 51, Some(cookie.wrapping_add(1))),
    );
    assert_eq!(v, Verdict::Forward(OUTSIDE));
    let rst = out.unwrap();
    assert!(rst.rst && rst.ack_flag);
    assert_eq!((rst.seen.src, rst.seen.dst), ((VIP, 80), (CLIENT, 40009)));
    assert_eq!((rst.seq, rst.ack), (cookie.wrapping_add(1), 51));
    assert_eq!(p.rig.stats.services[3].drops(DropReason::ClientCap), 1);
    assert_eq!(
        p.rig.stats.syn_cookies_accepted.get(),
        1,
        "the refused one is not counted"
    );
}
