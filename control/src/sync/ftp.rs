//! FTP control connections' sequence offsets across directors: the
//! helper's rewrites (227 naming the VIP) shift every later sequence
//! number of the control connection, so a peer that takes it over needs
//! the offsets too. They travel as the kernel's sequence option of the
//! control connection's record (IPVS_OPT_SEQ_DATA): `in_seq` the client's
//! stream to the server, `out_seq` the server's to the client.

use xlb_dataplane::conn::Conn;
use xlb_dataplane::ftp::{Control, FtpHelper, SeqAdjust};
use xlb_model::ConnRecord;
use xlb_sync::{ConnFlags, SeqData, SeqOptions, SyncConn};

fn to_wire(a: SeqAdjust) -> SeqData {
    let (init_seq, delta, previous_delta) = a.parts();
    SeqData {
        init_seq,
        delta: delta as u32,
        previous_delta: previous_delta as u32,
    }
}

fn from_wire(d: SeqData) -> SeqAdjust {
    SeqAdjust::from_parts(d.init_seq, d.delta as i32, d.previous_delta as i32)
}

/// Give `sc` the offsets of `c` if it is a control connection the helper
/// rewrote: the sequence option, and the flags (IN_SEQ, OUT_SEQ) that make
/// a kernel backup apply it.
pub fn attach(sc: &mut SyncConn, c: &Conn, helper: &FtpHelper, now: u32) {
    let Some(ctl) = helper.control((c.client, c.cport, c.vip, c.vport), now) else {
        return;
    };
    if ctl.to_server.is_set() {
        sc.flags.insert(ConnFlags::IN_SEQ);
    }
    if ctl.to_client.is_set() {
        sc.flags.insert(ConnFlags::OUT_SEQ);
    }
    if ctl.to_server.is_set() || ctl.to_client.is_set() {
        sc.seq = Some(SeqOptions {
            in_seq: to_wire(ctl.to_server),
            out_seq: to_wire(ctl.to_client),
        });
    }
}

/// Take a peer's offsets for the control connection `rec` describes,
/// stream by stream where newer than this director's (a stale copy never
/// undoes a later rewrite). The caller checks that `rec` is an FTP
/// service's control connection. `false` when the helper's table has no
/// room.
pub fn install(rec: &ConnRecord, seq: &SeqOptions, helper: &FtpHelper, now: u32) -> bool {
    let ctl = Control {
        to_server: from_wire(seq.in_seq),
        to_client: from_wire(seq.out_seq),
    };
    if !ctl.to_server.is_set() && !ctl.to_client.is_set() {
        return true;
    }
    helper.merge_control((rec.client, rec.cport, rec.vaddr, rec.vport), ctl, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xlb_dataplane::ftp::Stream;
    use xlb_model::tcp::TcpState;
    use xlb_model::{Address, Forwarding, Protocol, ServiceKey};

    #[test]
    fn a_control_connections_offsets_reach_the_peers_helper() {
        let vip = Address::v4(0x0a00_0164);
        let rec = ConnRecord {
            service: ServiceKey::endpoint(vip.ip(), 21, Protocol::Tcp),
            proto: Protocol::Tcp,
            client: Address::v4(0x0a00_0102),
            cport: 40000,
            vaddr: vip,
            vport: 21,
            real: Address::v4(0x0a00_020b),
            real_port: 21,
            forwarding: Forwarding::Nat,
            state: TcpState::Established,
            timeout: 900,
            persistent: false,
            client_mac: None,
            client_ifindex: None,
            seq_offset: None,
        };
        let key = (rec.client, rec.cport, rec.vaddr, rec.vport);
        let here = FtpHelper::new();
        // Two 227 rewrites growing the server's stream, one PORT shrinking
        // the client's.
        assert!(here.record(key, Stream::ToClient, 5000, 1, 10));
        assert!(here.record(key, Stream::ToClient, 6000, 1, 10));
        assert!(here.record(key, Stream::ToServer, 700, -2, 10));
        let conn = Conn {
            client: rec.client,
            cport: rec.cport,
            vip: rec.vaddr,
            vport: rec.vport,
            proto: 6,
            forwarding: Forwarding::Nat,
            real: 0,
            real_addr: rec.real,
            real_port: rec.real_port,
            service: 0,
            client_port: 0,
            client_mac: [0; 6],
            state: TcpState::Established,
            expires: 900,
            persistent: false,
            syn_proxy: Default::default(),
            seq_delta: 0,
            per_client: false,
        };
        let mut sc = xlb_sync::map::from_record(&rec).unwrap();
        attach(&mut sc, &conn, &here, 10);
        // As a kernel master marks it: both directions adjusted.
        assert!(sc.flags.contains(ConnFlags::IN_SEQ | ConnFlags::OUT_SEQ));
        // Through the wire format.
        let d = xlb_sync::encode(1, 1472, [&sc]).unwrap();
        let back = xlb_sync::decode(&d[0])
            .unwrap()
            .records()
            .next()
            .unwrap()
            .unwrap();
        let there = FtpHelper::new();
        assert!(install(&rec, &back.seq.unwrap(), &there, 20));
        assert_eq!(there.control(key, 20), here.control(key, 10));
        // Another connection has none, and sends none.
        let mut plain = xlb_sync::map::from_record(&rec).unwrap();
        attach(
            &mut plain,
            &Conn {
                cport: 40001,
                ..conn
            },
            &there,
            20,
        );
        assert_eq!(plain.seq, None);
        assert!(!plain.flags.intersects(ConnFlags::SEQ_MASK));
    }
}
