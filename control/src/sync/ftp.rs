//! FTP control connections' sequence offsets across directors: the
//! helper's rewrites (227 naming the VIP) shift every later sequence
//! number of the control connection, so a peer that takes it over needs
//! the offsets too. They travel as the kernel's sequence option of the
//! control connection's record (IPVS_OPT_SEQ_DATA): `in_seq` the client's
//! stream to the server, `out_seq` the server's to the client.

use xlb_dataplane::conn::Conn;
use xlb_dataplane::ftp::{Control, FtpHelper, SeqAdjust};
use xlb_model::ConnRecord;
use xlb_sync::{SeqData, SeqOptions};

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

/// The offsets of `c` if it is a control connection the helper rewrote.
pub fn offsets_of(c: &Conn, helper: &FtpHelper, now: u32) -> Option<SeqOptions> {
    let ctl = helper.control((c.client, c.cport, c.vip, c.vport), now)?;
    Some(SeqOptions {
        in_seq: to_wire(ctl.to_server),
        out_seq: to_wire(ctl.to_client),
    })
}

/// Take a peer's offsets for the control connection `rec` describes.
/// `false` when the helper's table has no room.
pub fn install(rec: &ConnRecord, seq: &SeqOptions, helper: &FtpHelper, now: u32) -> bool {
    let ctl = Control {
        to_server: from_wire(seq.in_seq),
        to_client: from_wire(seq.out_seq),
    };
    helper.set_control((rec.client, rec.cport, rec.vaddr, rec.vport), ctl, now)
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
        };
        let seq = offsets_of(&conn, &here, 10).expect("rewritten");
        // Through the wire format.
        let sc = xlb_sync::SyncConn {
            seq: Some(seq),
            ..xlb_sync::map::from_record(&rec).unwrap()
        };
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
        let other = (rec.client, 40001, rec.vaddr, rec.vport);
        assert!(offsets_of(
            &Conn {
                cport: 40001,
                ..conn
            },
            &there,
            20
        )
        .is_none());
        assert!(there.control(other, 20).is_none());
    }
}
