//! The forwarder's side of the FTP helper (crate::ftp): editing control
//! connections and admitting the data connections they announced.

use super::{Forwarder, Owner};
use crate::conn::{Conn, Side, TcpState};
use crate::ftp::{mangle, text, Expect, Expected, Stream};
use crate::snapshot::{Forwarding, PortId, Snapshot};
use crate::stats::WorkerStats;
use crate::wire::{Frame, IPPROTO_TCP};
use xlb_model::Address;

impl Forwarder {
    /// A SYN no service claims: is it a data connection an FTP control
    /// connection announced? Passive: client -> VIP:port. Active: real
    /// server -> client:port (the real server's SYN, a reply-side packet).
    pub(super) fn expected_conn(
        &mut self,
        snap: &Snapshot,
        stats: &WorkerStats,
        now: u32,
        ingress: PortId,
        f: &Frame,
        buf: &[u8],
    ) -> Option<(Owner, Side, Conn)> {
        let helper = self.ftp.clone()?;
        if f.proto != IPPROTO_TCP || !super::is_bare_syn(f) {
            return None;
        }
        let passive = Expect::FromClient {
            client: f.src,
            vip: f.dst,
            vport: f.dport,
        };
        let active = Expect::FromReal {
            real_addr: f.src,
            client: f.dst,
            cport: f.dport,
        };
        let (e, side) = match helper.take(passive, now) {
            Some(e) => (e, Side::Client),
            None => (helper.take(active, now)?, Side::Real),
        };
        // The control connection's server must still be there.
        snap.real(e.real)?;
        let conn = match side {
            Side::Client => {
                let mut client_mac = [0u8; 6];
                client_mac.copy_from_slice(&buf[6..12]);
                Conn {
                    client: f.src,
                    cport: f.sport,
                    vip: f.dst,
                    vport: f.dport,
                    real_addr: e.real_addr,
                    real_port: e.real_port,
                    client_port: ingress,
                    client_mac,
                    ..data_conn(&e, now)
                }
            }
            Side::Real => Conn {
                client: f.dst,
                cport: f.dport,
                vip: e.vip,
                // Masqueraded as VIP:20 when the server connects from 20.
                vport: f.sport,
                real_addr: f.src,
                real_port: f.sport,
                client_port: e.client_port,
                client_mac: e.client_mac,
                ..data_conn(&e, now)
            },
        };
        let idx = self.admit(snap, stats, now, conn).ok()?;
        stats.ftp_data_conns.add(1);
        Some((Owner::Local(idx), side, conn))
    }

    /// Edit one segment of an FTP control connection: shift its sequence
    /// and acknowledgement numbers by earlier rewrites, rewrite an address
    /// line, announce the data connection. Returns the frame as it now is
    /// (`*len` updated), or `None` if it no longer parses (never expected).
    #[allow(clippy::too_many_arguments)] // one packet's context
    pub(super) fn ftp_control(
        &mut self,
        snap: &Snapshot,
        stats: &WorkerStats,
        now: u32,
        side: Side,
        conn: &Conn,
        room: &mut [u8],
        len: &mut usize,
        f: Frame,
    ) -> Option<Frame> {
        let Some(helper) = self.ftp.clone() else {
            return Some(f);
        };
        // PORT and 227 name IPv4 addresses: the helper edits IPv4 control
        // connections (IPv6's EPRT/EPSV come with IPv6 forwarding).
        if conn.forwarding != Forwarding::Nat
            || !conn.client.is_v4()
            || !snap
                .service(conn.vip, conn.vport, IPPROTO_TCP)
                .is_some_and(|(_, s)| s.ftp)
        {
            return Some(f);
        }
        let key = (conn.client, conn.cport, conn.vip, conn.vport);
        let buf = &room[..*len];
        let start = mangle::payload_start(buf, &f)?;
        let payload = &buf[start..f.end];
        // What to write instead of the address text, and what to expect.
        let mut edit = match side {
            Side::Client => text::find_command(payload).map(|found| {
                // The server may only connect back to this client: an
                // address naming anyone else is rewritten (no FTP bounce).
                let new = (found.addr != conn.client.low32())
                    .then(|| text::format(found.kind, conn.client.low32(), found.port));
                let e = Expect::FromReal {
                    real_addr: conn.real_addr,
                    client: conn.client,
                    cport: found.port,
                };
                (found, new, e, 0)
            }),
            Side::Real => text::find_reply(payload).map(|found| {
                let new = (found.kind == text::Kind::Pasv && found.addr != conn.vip.low32())
                    .then(|| text::format(found.kind, conn.vip.low32(), found.port));
                let e = Expect::FromClient {
                    client: conn.client,
                    vip: conn.vip,
                    vport: found.port,
                };
                (found, new, e, found.port)
            }),
        };
        if edit.is_none() && !payload.is_empty() && !text::is_whole_line(payload) {
            // A line split across segments: deliberately not reassembled.
            stats.ftp_unhelped.add(1);
        }
        let (seq, ack) = mangle::seq_ack(buf, &f);
        let grows = edit.as_ref().and_then(|(found, new, _, _)| {
            new.as_ref()
                .map(|n| n.len().saturating_sub(found.end - found.start))
        });
        if grows.is_some_and(|g| *len + g > room.len() || f.end - f.l3 + g > usize::from(u16::MAX))
        {
            // No room to grow the frame: forwarded unchanged, counted.
            stats.ftp_unhelped.add(1);
            if let Some(e) = edit.as_mut() {
                e.1 = None;
            }
        }
        let diff = edit
            .as_ref()
            .and_then(|(found, new, _, _)| {
                new.as_ref()
                    .map(|n| n.len() as i32 - (found.end - found.start) as i32)
            })
            .unwrap_or(0);
        // Shift by earlier rewrites, then record this one.
        let c = helper.control(key, now).unwrap_or_default();
        let (new_seq, new_ack, stream) = match side {
            Side::Client => (c.to_server.seq(seq), c.to_client.ack(ack), Stream::ToServer),
            Side::Real => (c.to_client.seq(seq), c.to_server.ack(ack), Stream::ToClient),
        };
        if (diff != 0 || edit.is_some()) && !helper.record(key, stream, seq, diff, now) {
            stats.ftp_unhelped.add(1);
            return Some(f);
        }
        // New offsets: the other director hears of them (they travel with
        // the control connection's record).
        if diff != 0 {
            if let Some(out) = &self.outbox {
                if !out.offer(conn) {
                    stats.sync_overflow.add(1);
                }
            }
        }
        if (new_seq, new_ack) != (seq, ack) {
            mangle::set_seq_ack(&mut room[..*len], &f, new_seq, new_ack);
        }
        let Some((found, new, expect, real_port)) = edit else {
            return Some(f);
        };
        if let Some(new) = new {
            match mangle::splice(room, &f, start + found.start, found.end - found.start, &new) {
                Some(n) => {
                    *len = n;
                    stats.ftp_rewrites.add(1);
                }
                // Checked above: the frame has room.
                None => return None,
            }
        }
        helper.expect(Expected::new(
            expect,
            conn.vip,
            conn.real,
            conn.real_addr,
            real_port,
            conn.service,
            conn.client_port,
            conn.client_mac,
            now,
        ));
        Frame::parse(&room[..*len]).ok()
    }
}

/// The fields a data connection takes from its announcement.
fn data_conn(e: &Expected, now: u32) -> Conn {
    Conn {
        client: Address::default(),
        cport: 0,
        vip: e.vip,
        vport: 0,
        proto: IPPROTO_TCP,
        forwarding: Forwarding::Nat,
        real: e.real,
        real_addr: e.real_addr,
        real_port: e.real_port,
        service: e.service,
        client_port: e.client_port,
        client_mac: e.client_mac,
        state: TcpState::None,
        expires: now,
        persistent: false,
        syn_proxy: crate::conn::SynProxied::No,
        seq_delta: 0,
        per_client: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::Timeouts;
    use crate::forward::Verdict;
    use crate::sched::SchedulerKind;
    use crate::snapshot::{PortInfo, RealServer, VirtualService};
    use crate::stats::{new_gauges, DropReason};
    use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
    use std::sync::Arc;

    const CLIENT_MAC: [u8; 6] = [0x02, 0xc1, 0, 0, 0, 1];
    const OUT_MAC: [u8; 6] = [0x02, 0xd0, 0, 0, 0, 0];
    const IN_MAC: [u8; 6] = [0x02, 0xd1, 0, 0, 0, 1];
    const RS_MAC: [u8; 6] = [0x02, 0x55, 0, 0, 0, 1];
    const CLIENT: [u8; 4] = [10, 0, 1, 2];
    const VIP: [u8; 4] = [10, 0, 1, 100];
    const RS: [u8; 4] = [10, 0, 2, 11];

    fn snapshot() -> Snapshot {
        let svc = VirtualService {
            id: 1,
            name: "ftp".into(),
            key: xlb_model::ServiceKey::endpoint(
                std::net::Ipv4Addr::from(VIP),
                21,
                xlb_model::Protocol::Tcp,
            ),
            forwarding: Forwarding::Nat,
            scheduler: SchedulerKind::Rr,
            reals: vec![RealServer {
                id: 7,
                addr: Address::v4(u32::from_be_bytes(RS)),
                port: 21,
                weight: 1,
                egress: 1,
                mac: Some(RS_MAC),
                gateway: None,
                enabled: true,
                u_threshold: 0,
                l_threshold: 0,
            }],
            sorry: None,
            persistence: None,
            ftp: true,
            syn_proxy: crate::snapshot::SynProxy::Off,
            max_conn_rate: 0,
            max_conns_per_client: 0,
            sloppy_tcp: false,
        };
        let ports = ["outside", "inside"]
            .iter()
            .zip([OUT_MAC, IN_MAC])
            .enumerate()
            .map(|(i, (n, mac))| PortInfo {
                name: n.to_string(),
                ifindex: i as u32 + 1,
                mac,
                ipv4: None,
                mtu: 1500,
            })
            .collect();
        Snapshot::new(1, ports, vec![svc], &[], Timeouts::default(), new_gauges()).unwrap()
    }

    struct Lab {
        fwd: Forwarder,
        snap: Snapshot,
        stats: WorkerStats,
    }

    impl Lab {
        fn new() -> Lab {
            let snap = snapshot();
            let mut fwd = Forwarder::new(1024);
            fwd.set_ftp(Arc::new(crate::ftp::FtpHelper::new()));
            fwd.adopt(&snap);
            Lab {
                fwd,
                snap,
                stats: WorkerStats::default(),
            }
        }

        /// A lab whose client opened the control connection
        /// CLIENT:40000 -> VIP:21 (SYN at sequence 100).
        fn with_control() -> Lab {
            let mut lab = Lab::new();
            lab.send(true, (CLIENT, 40000), (VIP, 21), true, 100, 0, b"")
                .expect("the control SYN is forwarded");
            lab
        }

        /// Send one TCP segment; the output frame and its port.
        #[allow(clippy::too_many_arguments)]
        fn send(
            &mut self,
            from_client: bool,
            src: ([u8; 4], u16),
            dst: ([u8; 4], u16),
            syn: bool,
            seq: u32,
            ack: u32,
            payload: &[u8],
        ) -> Result<(PortId, Vec<u8>), DropReason> {
            let macs = if from_client {
                (CLIENT_MAC, OUT_MAC)
            } else {
                (RS_MAC, IN_MAC)
            };
            let b = PacketBuilder::ethernet2(macs.0, macs.1)
                .ipv4(src.0, dst.0, 64)
                .tcp(src.1, dst.1, seq, 64000);
            let b = match (syn, ack) {
                (true, 0) => b.syn(),
                (true, a) => b.syn().ack(a),
                (false, a) => b.ack(a),
            };
            let mut frame = Vec::new();
            b.write(&mut frame, payload).unwrap();
            // As AF_XDP hands it over: 256 bytes into a 2 KB buffer.
            let mut umem = vec![0u8; 2048];
            umem[256..256 + frame.len()].copy_from_slice(&frame);
            let mut pkt = crate::wire::FrameBuf::new(&mut umem, 256, frame.len()).unwrap();
            let ingress = if from_client { 0 } else { 1 };
            match self
                .fwd
                .process_frame(&self.snap, &self.stats, 100, ingress, &mut pkt)
            {
                Verdict::Forward(p) => Ok((p, pkt.bytes().to_vec())),
                Verdict::Drop(r) => Err(r),
            }
        }
    }

    /// (src, dst, seq, ack, payload) of a frame whose checksums must verify.
    #[allow(clippy::type_complexity)]
    fn seen(frame: &[u8]) -> (([u8; 4], u16), ([u8; 4], u16), u32, u32, Vec<u8>) {
        let p = SlicedPacket::from_ethernet(frame).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &p.net else {
            panic!()
        };
        let Some(TransportSlice::Tcp(t)) = &p.transport else {
            panic!()
        };
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum(), "ip checksum");
        let want = t.to_header().calc_checksum_ipv4(&h, t.payload()).unwrap();
        assert_eq!(t.checksum(), want, "tcp checksum");
        (
            (h.source, t.source_port()),
            (h.destination, t.destination_port()),
            t.sequence_number(),
            t.acknowledgment_number(),
            t.payload().to_vec(),
        )
    }

    #[test]
    fn passive_227_names_the_vip_shifts_sequence_numbers_and_admits_the_data_connection() {
        let mut lab = Lab::with_control();
        let line = b"227 Entering Passive Mode (10,0,2,11,39,16).\r\n";
        let (port, out) = lab
            .send(false, (RS, 21), (CLIENT, 40000), false, 5000, 200, line)
            .unwrap();
        assert_eq!(port, 0);
        let (src, dst, seq, _, payload) = seen(&out);
        assert_eq!((src, dst), ((VIP, 21), (CLIENT, 40000)));
        assert_eq!(
            payload,
            b"227 Entering Passive Mode (10,0,1,100,39,16).\r\n"
        );
        assert_eq!(seq, 5000, "the rewritten segment keeps its sequence number");
        assert_eq!(lab.stats.ftp_rewrites.get(), 1);

        // The server's next bytes sit one later on the client's side...
        let next = 5000 + line.len() as u32;
        let (_, out) = lab
            .send(
                false,
                (RS, 21),
                (CLIENT, 40000),
                false,
                next,
                200,
                b"150 ok\r\n",
            )
            .unwrap();
        assert_eq!(seen(&out).2, next + 1);
        // ...and the client's acknowledgements map back.
        let (port, out) = lab
            .send(
                true,
                (CLIENT, 40000),
                (VIP, 21),
                false,
                200,
                next + 1 + 8,
                b"",
            )
            .unwrap();
        assert_eq!(port, 1);
        let (_, dst, _, ack, _) = seen(&out);
        assert_eq!(dst, (RS, 21));
        assert_eq!(ack, next + 8);

        // Another client may not use the announcement; the client may.
        let other = [10, 0, 1, 3];
        assert_eq!(
            lab.send(true, (other, 41000), (VIP, 10000), true, 1, 0, b""),
            Err(DropReason::NoService)
        );
        let (port, out) = lab
            .send(true, (CLIENT, 41000), (VIP, 10000), true, 1, 0, b"")
            .unwrap();
        assert_eq!(port, 1);
        assert_eq!(seen(&out).1, (RS, 10000));
        assert_eq!(lab.stats.ftp_data_conns.get(), 1);
        // Its replies come back from the VIP.
        let (_, out) = lab
            .send(false, (RS, 10000), (CLIENT, 41000), true, 9, 2, b"")
            .unwrap();
        assert_eq!(seen(&out).0, (VIP, 10000));
        // Used once: a second SYN to the port finds nothing.
        assert_eq!(
            lab.send(true, (CLIENT, 41001), (VIP, 10000), true, 1, 0, b""),
            Err(DropReason::NoService)
        );
    }

    #[test]
    fn epsv_needs_no_rewrite_but_announces_the_port() {
        let mut lab = Lab::with_control();
        let line = b"229 Entering Extended Passive Mode (|||10042|)\r\n";
        let (_, out) = lab
            .send(false, (RS, 21), (CLIENT, 40000), false, 5000, 200, line)
            .unwrap();
        assert_eq!(seen(&out).4, line);
        assert_eq!(lab.stats.ftp_rewrites.get(), 0);
        let (_, out) = lab
            .send(true, (CLIENT, 41000), (VIP, 10042), true, 1, 0, b"")
            .unwrap();
        assert_eq!(seen(&out).1, (RS, 10042));
    }

    #[test]
    fn active_port_lets_the_server_connect_back_as_vip_20() {
        let mut lab = Lab::with_control();
        let (_, out) = lab
            .send(
                true,
                (CLIENT, 40000),
                (VIP, 21),
                false,
                101,
                7,
                b"PORT 10,0,1,2,195,80\r\n",
            )
            .unwrap();
        assert_eq!(
            seen(&out).4,
            b"PORT 10,0,1,2,195,80\r\n",
            "the client's own address"
        );
        // The server opens the data connection from port 20.
        let (port, out) = lab
            .send(false, (RS, 20), (CLIENT, 50000), true, 900, 0, b"")
            .unwrap();
        assert_eq!(port, 0, "out to the client");
        assert_eq!(&out[..6], &CLIENT_MAC);
        let (src, dst, ..) = seen(&out);
        assert_eq!((src, dst), ((VIP, 20), (CLIENT, 50000)));
        // The client's answer reaches the server.
        let (port, out) = lab
            .send(true, (CLIENT, 50000), (VIP, 20), true, 5, 901, b"")
            .unwrap();
        assert_eq!(port, 1);
        assert_eq!(seen(&out).1, (RS, 20));
        // A connection from any other port of the server to another client
        // port was not announced.
        assert_eq!(
            lab.send(false, (RS, 20), (CLIENT, 50001), true, 900, 0, b""),
            Err(DropReason::NoService)
        );
    }

    #[test]
    fn an_active_data_connection_synced_to_another_director_goes_on_there() {
        let mut a = Lab::with_control();
        a.send(
            true,
            (CLIENT, 40000),
            (VIP, 21),
            false,
            101,
            7,
            b"PORT 10,0,1,2,195,80\r\n",
        )
        .unwrap();
        a.send(false, (RS, 20), (CLIENT, 50000), true, 900, 0, b"")
            .unwrap();
        a.send(true, (CLIENT, 50000), (VIP, 20), true, 5, 901, b"")
            .unwrap();
        // Both connections, as the sync channel carries them.
        let records: Vec<_> = a
            .fwd
            .table
            .iter()
            .map(|c| crate::conn::record::describe(&c, &a.snap, 100).unwrap())
            .collect();
        assert_eq!(records.len(), 2);
        let data = records.iter().find(|r| r.vport == 20).unwrap();
        assert_eq!((data.real_port, data.cport), (20, 50000));

        let mut b = Lab::new();
        let inbox = Arc::new(crate::inbox::Inbox::new(4));
        b.fwd.set_inbox(inbox.clone());
        for r in &records {
            inbox.push(*r).unwrap();
        }
        b.fwd.end_batch(&b.snap, &b.stats, 100_000);
        assert_eq!(b.stats.conns_installed.get(), 2);
        // The data connection's bytes flow on through B, masqueraded as
        // VIP:20 (the client's frame first: it tells B where replies go).
        let (port, out) = b
            .send(true, (CLIENT, 50000), (VIP, 20), false, 6, 1500, b"")
            .unwrap();
        assert_eq!((port, seen(&out).1), (1, (RS, 20)));
        let (port, out) = b
            .send(false, (RS, 20), (CLIENT, 50000), false, 1500, 6, b"data")
            .unwrap();
        assert_eq!(port, 0);
        assert_eq!(seen(&out).0, (VIP, 20));
        assert_eq!(b.stats.ftp_data_conns.get(), 0, "no new expectation needed");
    }

    #[test]
    fn a_port_naming_another_host_is_pointed_back_at_the_client() {
        let mut lab = Lab::with_control();
        // FTP bounce: make the server connect to 192.0.2.9:80.
        let (_, out) = lab
            .send(
                true,
                (CLIENT, 40000),
                (VIP, 21),
                false,
                101,
                7,
                b"PORT 192,0,2,9,0,80\r\n",
            )
            .unwrap();
        let (.., seq, _, payload) = seen(&out);
        assert_eq!(payload, b"PORT 10,0,1,2,0,80\r\n");
        assert_eq!(seq, 101);
        // One byte shorter: the client's later bytes move back by one.
        let (_, out) = lab
            .send(
                true,
                (CLIENT, 40000),
                (VIP, 21),
                false,
                101 + 21,
                7,
                b"RETR x\r\n",
            )
            .unwrap();
        assert_eq!(seen(&out).2, 101 + 20);
        // The server's acknowledgement of them maps forward again.
        let (_, out) = lab
            .send(
                false,
                (RS, 21),
                (CLIENT, 40000),
                false,
                7,
                101 + 20 + 8,
                b"",
            )
            .unwrap();
        assert_eq!(seen(&out).3, 101 + 21 + 8);
        assert!(lab
            .send(false, (RS, 20), ([192, 0, 2, 9], 80), true, 1, 0, b"")
            .is_err());
    }

    #[test]
    fn a_line_split_across_segments_is_counted_and_left_alone() {
        let mut lab = Lab::with_control();
        let (_, out) = lab
            .send(
                true,
                (CLIENT, 40000),
                (VIP, 21),
                false,
                101,
                7,
                b"PORT 10,0,1,2,",
            )
            .unwrap();
        assert_eq!(seen(&out).4, b"PORT 10,0,1,2,");
        assert_eq!(lab.stats.ftp_unhelped.get(), 1);
    }

    #[test]
    fn without_room_to_grow_the_reply_goes_out_unchanged() {
        let mut lab = Lab::with_control();
        let line = b"227 Entering Passive Mode (10,0,2,11,39,16).\r\n";
        let mut frame = Vec::new();
        PacketBuilder::ethernet2(RS_MAC, IN_MAC)
            .ipv4(RS, CLIENT, 64)
            .tcp(21, 40000, 5000, 64000)
            .ack(200)
            .write(&mut frame, line)
            .unwrap();
        // `process` gives no room beyond the frame.
        let v = lab.fwd.process(&lab.snap, &lab.stats, 100, 1, &mut frame);
        assert_eq!(v, Verdict::Forward(0));
        assert_eq!(seen(&frame).4, line);
        assert_eq!(lab.stats.ftp_unhelped.get(), 1);
        let next = 5000 + line.len() as u32;
        let (_, out) = lab
            .send(false, (RS, 21), (CLIENT, 40000), false, next, 200, b"x\r\n")
            .unwrap();
        assert_eq!(
            seen(&out).2,
            next,
            "no offset recorded for an unchanged reply"
        );
    }
}
