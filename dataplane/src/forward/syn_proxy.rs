//! The forwarder's side of the SYN proxy (crate::synproxy): answering SYNs
//! with cookies, opening a connection on a valid cookie, completing the real
//! server's handshake, and translating sequence numbers afterwards.

use super::Forwarder;
use crate::conn::{Conn, SynProxied};
use crate::ftp::mangle;
use crate::snapshot::{Forwarding, PortId, RealRoute, ServiceId, Snapshot};
use crate::stats::{DropReason, WorkerStats};
use crate::synproxy::cookie::{self, Keys, Tuple};
use crate::synproxy::frames::{self, Segment};
use crate::synproxy::park::Owner;
use crate::wire::emit::TcpRepr;
use crate::wire::{Frame, TcpHdr};

/// What the SYN proxy made of a TCP segment no connection claims.
pub(super) enum Miss {
    /// Not the proxy's: the forwarder goes on as without it.
    Pass,
    /// A SYN answered with a cookie: the frame is now the SYN-ACK, to go
    /// back out of its ingress port.
    Answered,
    /// A valid cookie: the frame is now the SYN to the real server (still
    /// addressed client -> VIP, for NAT to rewrite); the cookie is the
    /// director's ISN on the client's side.
    Opened(Frame, u32),
    Drop(DropReason, ServiceId),
}

/// What happens to a segment of a SYN-proxied connection.
pub(super) enum Step {
    /// Forward it as any NAT segment (its numbers are translated already).
    Forward,
    /// Early data, kept until the server's handshake is done.
    Parked,
    /// The server has not answered the SYN for a second: the client's
    /// segment became the SYN again (a NAT segment to forward, this frame).
    SynAgain(Frame),
    /// The server's SYN-ACK became the ACK that completes its handshake:
    /// out of this port, rewritten whole.
    Handshake(PortId),
    Drop(DropReason),
}

/// Bare ACK (maybe with PSH and data): what a client sends after the
/// SYN-ACK. SYN, RST, FIN or URG never complete a cookie handshake.
pub(super) fn is_handshake_ack(flags: u8) -> bool {
    const URG: u8 = 0x20;
    flags & (TcpHdr::SYN | TcpHdr::RST | TcpHdr::FIN | URG | TcpHdr::ACK) == TcpHdr::ACK
}

fn tuple(f: &Frame) -> Tuple {
    Tuple {
        client: f.src.low32(),
        vip: f.dst.low32(),
        cport: f.sport,
        vport: f.dport,
    }
}

impl Forwarder {
    /// A TCP segment without a connection to a service the proxy may
    /// guard: a SYN is answered with a cookie (while the proxy is on for
    /// the service), an ACK carrying a valid cookie opens the connection.
    #[allow(clippy::too_many_arguments)]
    // the pieces of one packet's context
    // Out of line: the forwarding path of unproxied traffic stays small.
    #[inline(never)]
    pub(super) fn syn_proxy_miss(
        &mut self,
        snap: &Snapshot,
        stats: &WorkerStats,
        now: u32,
        ingress: PortId,
        f: &Frame,
        room: &mut [u8],
        len: &mut usize,
    ) -> Miss {
        let Some((_, svc)) = snap.classify(f.dst, f.dport, f.proto) else {
            return Miss::Pass;
        };
        if svc.syn_proxy == xlb_model::service::SynProxy::Off
            || svc.forwarding != Forwarding::Nat
            || !f.src.is_v4()
        {
            return Miss::Pass;
        }
        let proxying = self.guard.proxies(svc.syn_proxy);
        let seen = frames::seen(&room[..*len], f);
        if super::is_bare_syn(f) {
            if !proxying {
                return Miss::Pass;
            }
            let index = cookie::mss_index(frames::syn_mss(&room[..*len], f));
            let isn = Keys::global().make(&tuple(f), seen.seq, index, now);
            let answer = Segment {
                src: f.dst.low32(),
                dst: f.src.low32(),
                ttl: 64,
                tcp: TcpRepr {
                    sport: f.dport,
                    dport: f.sport,
                    seq: isn,
                    ack: seen.seq.wrapping_add(1),
                    flags: TcpHdr::SYN | TcpHdr::ACK,
                    window: u16::MAX,
                },
                mss: Some(cookie::MSS_TABLE[index]),
                payload: b"",
            };
            let Some(end) = frames::write(room, f, &answer) else {
                return Miss::Drop(DropReason::BadL4Header, svc.id);
            };
            *len = end;
            frames::reflect_macs(room, snap.ports[ingress as usize].mac);
            stats.syn_cookies_sent.add(1);
            self.guard.cookie_sent();
            return Miss::Answered;
        }
        if !is_handshake_ack(f.tcp_flags) {
            return Miss::Pass;
        }
        let client_isn = seen.seq.wrapping_sub(1);
        let isn = seen.ack.wrapping_sub(1);
        let Some(index) = Keys::global().check(&tuple(f), client_isn, isn, now) else {
            // Without the proxy on, a stray ACK is what it always was.
            return if proxying {
                Miss::Drop(DropReason::SynCookieInvalid, svc.id)
            } else {
                Miss::Pass
            };
        };
        // Data on the ACK itself rides on the server's handshake.
        if seen.payload > 0 {
            let early = Owner {
                client: f.src.low32(),
                vip: f.dst.low32(),
                cport: f.sport,
                vport: f.dport,
            };
            if self.parking.park(early, &room[..*len], now) {
                stats.syn_proxy_parked.add(1);
            }
        }
        // The SYN the client would have sent, with the MSS it announced
        // (rounded).
        match Self::client_syn(f, room, len, client_isn, cookie::MSS_TABLE[index]) {
            Some(syn) => Miss::Opened(syn, isn),
            None => Miss::Drop(DropReason::BadL4Header, svc.id),
        }
    }

    /// A segment of a connection the proxy opened, before NAT: translate
    /// its numbers, or complete the server's handshake with it.
    #[allow(clippy::too_many_arguments)]
    // the pieces of one packet's context
    // Out of line: the forwarding path of unproxied traffic stays small.
    #[inline(never)]
    pub(super) fn syn_proxy_segment(
        &mut self,
        snap: &Snapshot,
        stats: &WorkerStats,
        now: u32,
        conn: &mut Conn,
        from_client: bool,
        route: &RealRoute,
        f: &Frame,
        room: &mut [u8],
        len: &mut usize,
    ) -> Step {
        let buf = &mut room[..*len];
        let (seq, ack) = mangle::seq_ack(buf, f);
        let synack = f.tcp_flags & (TcpHdr::SYN | TcpHdr::ACK) == TcpHdr::SYN | TcpHdr::ACK;
        match (conn.syn_proxy, from_client) {
            (SynProxied::AwaitingServer, true) => {
                let who = owner(conn);
                // The client's first segment, as far as the director can
                // tell: nothing kept yet, or this is the kept one again.
                let first = self
                    .parking
                    .peek(who, now)
                    .and_then(|b| Some(frames::seen(b, &Frame::parse(b).ok()?).seq))
                    .is_none_or(|s| s == seq);
                let kept = !frames::payload(buf, f).is_empty() && self.parking.park(who, buf, now);
                if kept {
                    stats.syn_proxy_parked.add(1);
                }
                // Sent when the connection was made (its SYN_RECV deadline
                // is untouched while it waits).
                let sent = conn
                    .expires
                    .wrapping_sub(snap.timeouts.tcp(crate::conn::TcpState::SynRecv));
                let quiet = now.wrapping_sub(sent) as i32 >= 1;
                let plain = f.tcp_flags & (TcpHdr::SYN | TcpHdr::RST | TcpHdr::FIN) == 0;
                if quiet && first && plain {
                    // Sequence number one before the segment's; the MSS
                    // the cookie carried is not kept, so IPv4's minimum.
                    let isn = seq.wrapping_sub(1);
                    if let Some(syn) = Self::client_syn(f, room, len, isn, cookie::MSS_TABLE[0]) {
                        return Step::SynAgain(syn);
                    }
                }
                if kept {
                    Step::Parked
                } else {
                    Step::Drop(DropReason::SynProxyWait)
                }
            }
            (SynProxied::AwaitingServer, false) if synack => {
                // The cookie was the client's ISN from the director.
                conn.seq_delta = conn.seq_delta.wrapping_sub(seq);
                conn.syn_proxy = SynProxied::Spliced;
                self.complete_server_handshake(snap, now, conn, route, f, room, len, seq, ack)
            }
            (SynProxied::AwaitingServer, false) if f.tcp_flags & TcpHdr::RST != 0 => {
                // Refused: the client hears it at the sequence number it
                // expects (the cookie + 1).
                mangle::set_seq_ack(buf, f, conn.seq_delta.wrapping_add(1), ack);
                Step::Forward
            }
            (SynProxied::AwaitingServer, false) => Step::Drop(DropReason::SynProxyWait),
            // Our ACK was lost and the server sends its SYN-ACK again.
            (SynProxied::Spliced, false) if synack => {
                self.complete_server_handshake(snap, now, conn, route, f, room, len, seq, ack)
            }
            (SynProxied::Spliced, false) => {
                mangle::set_seq_ack(buf, f, seq.wrapping_add(conn.seq_delta), ack);
                Step::Forward
            }
            (SynProxied::Spliced, true) => {
                if f.tcp_flags & TcpHdr::ACK != 0 {
                    mangle::set_seq_ack(buf, f, seq, ack.wrapping_sub(conn.seq_delta));
                }
                Step::Forward
            }
            (SynProxied::No, _) => Step::Forward,
        }
    }

    /// The client's SYN as the server is to see it, written over the
    /// client's segment `f` (client -> VIP, for NAT to rewrite): its ISN,
    /// its window and TTL, an MSS option.
    fn client_syn(
        f: &Frame,
        room: &mut [u8],
        len: &mut usize,
        isn: u32,
        mss: u16,
    ) -> Option<Frame> {
        let seen = frames::seen(&room[..*len], f);
        let syn = Segment {
            src: f.src.low32(),
            dst: f.dst.low32(),
            ttl: seen.ttl,
            tcp: TcpRepr {
                sport: f.sport,
                dport: f.dport,
                seq: isn,
                ack: 0,
                flags: TcpHdr::SYN,
                window: seen.window,
            },
            mss: Some(mss),
            payload: b"",
        };
        *len = frames::write(room, f, &syn)?;
        Frame::parse(&room[..*len]).ok()
    }

    /// Turn the server's SYN-ACK into the client's (the director's) ACK,
    /// with the client's first data on it if that came early.
    #[allow(clippy::too_many_arguments)] // the pieces of one packet's context
    fn complete_server_handshake(
        &mut self,
        snap: &Snapshot,
        now: u32,
        conn: &Conn,
        route: &RealRoute,
        f: &Frame,
        room: &mut [u8],
        len: &mut usize,
        server_isn: u32,
        ack: u32,
    ) -> Step {
        let Some(mac) = route.mac else {
            return Step::Drop(DropReason::NoNeighbour);
        };
        let mut seg = Segment {
            src: conn.client.low32(),
            dst: route.addr.low32(),
            ttl: 64,
            tcp: TcpRepr {
                sport: conn.cport,
                dport: conn.real_port,
                seq: ack,
                ack: server_isn.wrapping_add(1),
                flags: TcpHdr::ACK,
                window: u16::MAX,
            },
            mss: None,
            payload: b"",
        };
        let early = self
            .parking
            .take(owner(conn), now)
            .and_then(|b| Some((b, Frame::parse(b).ok()?)));
        // Only the data that follows the SYN the server acknowledges (not
        // a later segment, nor one left by an earlier connection).
        let early = early.filter(|(b, pf)| frames::seen(b, pf).seq == ack);
        if let Some((b, pf)) = early {
            let parked = frames::seen(b, &pf);
            seg.tcp.seq = parked.seq;
            seg.tcp.window = parked.window;
            seg.tcp.flags = TcpHdr::ACK | (pf.tcp_flags & PSH);
            seg.payload = frames::payload(b, &pf);
        }
        let end = match frames::write(room, f, &seg) {
            Some(end) => end,
            // No room for the data in this frame: the client sends it again.
            None if !seg.payload.is_empty() => {
                seg.payload = b"";
                seg.tcp.seq = ack;
                seg.tcp.flags = TcpHdr::ACK;
                match frames::write(room, f, &seg) {
                    Some(end) => end,
                    None => return Step::Drop(DropReason::BadL4Header),
                }
            }
            None => return Step::Drop(DropReason::BadL4Header),
        };
        *len = end;
        super::rewrite::set_macs(room, snap.ports[route.egress as usize].mac, mac);
        Step::Handshake(route.egress)
    }
}

impl Forwarder {
    /// Offsets other workers learnt for this worker's SYN-proxied
    /// connections (the server's SYN-ACK reached them and left as the ACK
    /// that completed its handshake): the connection is spliced here too.
    pub(super) fn take_splices(&mut self, snap: &Snapshot, stats: &WorkerStats, now: u32) {
        for _ in 0..crate::inbox::PER_BATCH {
            let Some(s) = self.table.shared_ref().take_splice() else {
                return;
            };
            let Some(mut c) = self.table.get(s.slot) else {
                continue;
            };
            if (c.client, c.cport) != (s.client, s.cport)
                || c.syn_proxy != SynProxied::AwaitingServer
            {
                continue;
            }
            c.seq_delta = s.seq_delta;
            c.syn_proxy = SynProxied::Spliced;
            super::track(
                &mut c,
                Some(&snap.gauges[..]),
                crate::conn::Direction::Input,
                TcpHdr::ACK,
                now,
                snap,
            );
            self.table.update(s.slot, &c);
            // The other director hears of it now, offset and all (the
            // other worker's note may have made it established already).
            if let Some(out) = &self.outbox {
                if !c.is_half_open() && !out.offer(&c) {
                    stats.sync_overflow.add(1);
                }
            }
        }
    }
}

/// Turn the SYN a cookie ACK became (`syn`, client -> VIP, the client's
/// ISN) into a reset of the client's side, at the sequence number it
/// expects (the cookie + 1), back out of its port.
// Out of line: the forwarding path of unproxied traffic stays small.
#[inline(never)]
pub(super) fn reset_client(
    snap: &Snapshot,
    ingress: PortId,
    syn: &Frame,
    room: &mut [u8],
    len: &mut usize,
    cookie: u32,
) -> Option<()> {
    let seen = frames::seen(&room[..*len], syn);
    let rst = Segment {
        src: syn.dst.low32(),
        dst: syn.src.low32(),
        ttl: 64,
        tcp: TcpRepr {
            sport: syn.dport,
            dport: syn.sport,
            seq: cookie.wrapping_add(1),
            ack: seen.seq.wrapping_add(1),
            flags: TcpHdr::RST | TcpHdr::ACK,
            window: 0,
        },
        mss: None,
        payload: b"",
    };
    *len = frames::write(room, syn, &rst)?;
    frames::reflect_macs(room, snap.ports[ingress as usize].mac);
    Some(())
}

const PSH: u8 = 0x08;

/// Whose early data a parking slot holds.
fn owner(c: &Conn) -> Owner {
    Owner {
        client: c.client.low32(),
        vip: c.vip.low32(),
        cport: c.cport,
        vport: c.vport,
    }
}
