//! Datagrams written out by hand from the kernel's layout
//! (net/netfilter/ipvs/ip_vs_sync.c: struct ip_vs_sync_mesg, ip_vs_sync_v4,
//! ip_vs_sync_v6, the option encoding of ip_vs_sync_conn), checked byte for
//! byte against the encoder and decoded back.

mod common;

use common::{seq, sip, v4, v6};
use std::net::Ipv4Addr;
use xlb_model::tcp::TcpState;
use xlb_sync::map::{from_template, TemplateRecord};
use xlb_sync::wire::*;
use xlb_sync::{decode, encode, Addrs, ConnFlags, FwdMethod, SyncConn};

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}

/// Encodes `conns` into one datagram with sync id 7.
fn one(conns: &[SyncConn]) -> Vec<u8> {
    let mut d = encode(7, 1472, conns).unwrap();
    assert_eq!(d.len(), 1);
    d.pop().unwrap()
}

#[test]
fn sizes_are_the_kernels() {
    // sizeof(struct ip_vs_sync_mesg) = 8: u8 reserved, u8 syncid,
    // __be16 size, u8 nr_conns, s8 version, u16 spare.
    assert_eq!(HEADER_LEN, 8);
    // sizeof(struct ip_vs_sync_mesg_v0) = 4: nr_conns, syncid, size.
    assert_eq!(V0_HEADER_LEN, 4);
    // sizeof(struct ip_vs_sync_v4) = 36: 24 bytes up to the timeout,
    // then three __be32 addresses.
    assert_eq!(V4_RECORD_LEN, 36);
    // sizeof(struct ip_vs_sync_v6) = 72: three struct in6_addr.
    assert_eq!(V6_RECORD_LEN, 72);
    // sizeof(struct ip_vs_sync_conn_options) = 2 * sizeof(struct ip_vs_seq)
    // = 2 * 12, behind a 2-byte type/length.
    assert_eq!(SEQ_DATA_LEN, 24);
    assert_eq!(SEQ_OPTION_LEN, 26);
    // IP_VS_PEDATA_MAXLEN 255, IP_VS_PENAME_MAXLEN 16.
    assert_eq!((MAX_PE_DATA, MAX_PE_NAME), (255, 16));
    assert_eq!(MAX_RECORD_LEN, 72 + 26 + 257 + 18);
    // IPVS_OPT_SEQ_DATA 1, IPVS_OPT_PE_DATA 2, IPVS_OPT_PE_NAME 3,
    // IPVS_OPT_F_PARAM = 1 << (IPVS_OPT_PARAM - 1) with IPVS_OPT_PARAM 7.
    assert_eq!((OPT_SEQ_DATA, OPT_PE_DATA, OPT_PE_NAME), (1, 2, 3));
    assert_eq!(OPT_OPTIONAL, 1 << (7 - 1));
    // STYPE_F_INET6 = 1 << 0; SVER_SHIFT 12, SVER_MASK 0x0fff.
    assert_eq!(TYPE_INET6, 1);
    assert_eq!((RECORD_VERSION_SHIFT, RECORD_SIZE_MASK), (12, 0x0fff));
    // IP_VS_SYNC_GROUP 0xe0000051, IP_VS_SYNC_PORT 8848.
    assert_eq!(xlb_sync::DEFAULT_GROUP_V4, Ipv4Addr::from(0xe000_0051u32));
    assert_eq!(xlb_sync::DEFAULT_PORT, 8848);
    // start_sync_thread: master mtu 1500, hlen iphdr+udphdr / ipv6hdr+udphdr.
    assert_eq!(xlb_sync::KERNEL_MASTER_PAYLOAD_V4, 1472);
    assert_eq!(xlb_sync::KERNEL_MASTER_PAYLOAD_V6, 1452);
}

#[test]
fn flag_bits_and_states_are_the_kernels() {
    // include/uapi/linux/ip_vs.h, IP_VS_CONN_F_*.
    assert_eq!(FwdMethod::MASK, 0x0007);
    assert_eq!(FwdMethod::Masq.bits(), 0);
    assert_eq!(FwdMethod::LocalNode.bits(), 1);
    assert_eq!(FwdMethod::Tunnel.bits(), 2);
    assert_eq!(FwdMethod::DirectRoute.bits(), 3);
    assert_eq!(FwdMethod::Bypass.bits(), 4);
    assert_eq!(ConnFlags::SYNC.bits(), 0x0020);
    assert_eq!(ConnFlags::HASHED.bits(), 0x0040);
    assert_eq!(ConnFlags::NOOUTPUT.bits(), 0x0080);
    assert_eq!(ConnFlags::INACTIVE.bits(), 0x0100);
    assert_eq!(ConnFlags::OUT_SEQ.bits(), 0x0200);
    assert_eq!(ConnFlags::IN_SEQ.bits(), 0x0400);
    assert_eq!(ConnFlags::SEQ_MASK.bits(), 0x0600);
    assert_eq!(ConnFlags::NO_CPORT.bits(), 0x0800);
    assert_eq!(ConnFlags::ONE_PACKET.bits(), 0x2000);
    assert_eq!(ConnFlags::NFCT.bits(), 0x1_0000);
    // IP_VS_CONN_F_BACKUP_MASK without FWD_MASK and TEMPLATE (0x1000).
    assert_eq!(ConnFlags::BACKUP_MASK.bits() | 0x7 | 0x1000, 0x1f87);
    let mut t = v4();
    t.template = true;
    t.flags = ConnFlags::empty();
    t.forwarding = FwdMethod::Masq;
    assert_eq!(t.wire_flags(), 0x1000, "IP_VS_CONN_F_TEMPLATE");
    // include/net/ip_vs.h, IP_VS_TCP_S_NONE .. IP_VS_TCP_S_SYNACK: the
    // model's TCP states are numbered as IPVS numbers them.
    let ipvs = [
        (TcpState::None, 0),
        (TcpState::Established, 1),
        (TcpState::SynSent, 2),
        (TcpState::SynRecv, 3),
        (TcpState::FinWait, 4),
        (TcpState::TimeWait, 5),
        (TcpState::Close, 6),
        (TcpState::CloseWait, 7),
        (TcpState::LastAck, 8),
        (TcpState::Listen, 9),
        (TcpState::SynAck, 10),
    ];
    for (s, n) in ipvs {
        assert_eq!(s as u16, n, "{}", s.name());
    }
    assert_eq!(xlb_sync::conn::state::TCP_STATES, 11, "IP_VS_TCP_S_LAST");
    assert_eq!(
        xlb_sync::conn::state::TEMPLATE_ASSURED,
        1,
        "IP_VS_CTPL_S_ASSURED"
    );
}

#[test]
fn an_ipv4_connection_byte_for_byte() {
    let mut c = v4();
    c.forwarding = FwdMethod::DirectRoute;
    c.flags = ConnFlags::NOOUTPUT | ConnFlags::INACTIVE;
    c.state = 3; // SYN_RECV
    c.timeout = 60;
    #[rustfmt::skip]
    let want: [u8; 44] = [
        // header: reserved 0, sync id 7, size 44, 1 record, version 1, spare 0
        0x00, 0x07, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x00,
        // type 0 (IPv4), protocol 6, ver_size: version 0, size 36
        0x00, 0x06, 0x00, 0x24,
        // flags: DROUTE 3 | NOOUTPUT 0x80 | INACTIVE 0x100
        0x00, 0x00, 0x01, 0x83,
        // state 3, cport 40000
        0x00, 0x03, 0x9c, 0x40,
        // vport 80, dport 8080
        0x00, 0x50, 0x1f, 0x90,
        // fwmark 0
        0x00, 0x00, 0x00, 0x00,
        // timeout 60 s
        0x00, 0x00, 0x00, 0x3c,
        // caddr 198.51.100.7, vaddr 192.0.2.10, daddr 10.0.0.2
        198, 51, 100, 7,
        192, 0, 2, 10,
        10, 0, 0, 2,
    ];
    let got = one(std::slice::from_ref(&c));
    assert_eq!(got, want);

    // The same, field by field at the kernel's offsets.
    let r = &got[HEADER_LEN..];
    assert_eq!(got[0], 0, "reserved at 0");
    assert_eq!(got[1], 7, "syncid at 1");
    assert_eq!(be16(&got, 2), 44, "size at 2, big-endian, whole datagram");
    assert_eq!(got[4], 1, "nr_conns at 4");
    assert_eq!(got[5], 1, "version at 5");
    assert_eq!(&got[6..8], &[0, 0], "spare at 6");
    assert_eq!(r[0], 0, "type at 0");
    assert_eq!(r[1], 6, "protocol at 1");
    assert_eq!(be16(r, 2), 36, "ver_size at 2");
    assert_eq!(be32(r, 4), 0x183, "flags at 4");
    assert_eq!(be16(r, 8), 3, "state at 8");
    assert_eq!(be16(r, 10), 40000, "cport at 10");
    assert_eq!(be16(r, 12), 80, "vport at 12");
    assert_eq!(be16(r, 14), 8080, "dport at 14");
    assert_eq!(be32(r, 16), 0, "fwmark at 16");
    assert_eq!(be32(r, 20), 60, "timeout at 20, seconds");
    assert_eq!(&r[24..28], &[198, 51, 100, 7], "caddr at 24");
    assert_eq!(&r[28..32], &[192, 0, 2, 10], "vaddr at 28");
    assert_eq!(&r[32..36], &[10, 0, 0, 2], "daddr at 32");

    let msg = decode(&want).unwrap();
    assert_eq!((msg.sync_id(), msg.len(), msg.size()), (7, 1, 44));
    assert_eq!(msg.records().collect::<Vec<_>>(), vec![Ok(c)]);
}

#[test]
fn an_ipv6_connection_with_sequence_data_byte_for_byte() {
    let mut c = v6();
    c.fwmark = 0x0102_0304;
    c.flags.insert(ConnFlags::SEQ_MASK);
    c.seq = Some(seq());
    let got = one(std::slice::from_ref(&c));
    // 8 + 72 + 26: the option is not padded (it is the last record).
    assert_eq!(got.len(), 106);
    assert_eq!(be16(&got, 2), 106);
    let r = &got[HEADER_LEN..];
    assert_eq!(r[0], 1, "type: STYPE_F_INET6");
    assert_eq!(r[1], 17);
    assert_eq!(be16(r, 2), 98, "ver_size counts the option");
    assert_eq!(be32(r, 4), 0x0080 | 0x0100 | 0x0600 | 3);
    assert_eq!(be16(r, 8), 0);
    assert_eq!((be16(r, 10), be16(r, 12), be16(r, 14)), (40000, 53, 53));
    assert_eq!(be32(r, 16), 0x0102_0304, "fwmark at 16");
    assert_eq!(be32(r, 20), 300);
    #[rustfmt::skip]
    let addrs: [u8; 48] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x07,
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02,
    ];
    assert_eq!(&r[24..72], &addrs, "caddr at 24, vaddr at 40, daddr at 56");
    #[rustfmt::skip]
    let option: [u8; 26] = [
        // IPVS_OPT_SEQ_DATA, length 24
        0x01, 0x18,
        // in_seq: init_seq, delta, previous_delta
        0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00,
        // out_seq
        0xa0, 0xb0, 0xc0, 0xd0, 0xff, 0xff, 0xff, 0xfe, 0x00, 0x00, 0x00, 0x01,
    ];
    assert_eq!(&r[72..98], &option, "options start after daddr, at 72");
    assert_eq!(
        decode(&got).unwrap().records().collect::<Vec<_>>(),
        vec![Ok(c)]
    );
}

#[test]
fn records_are_padded_to_four_bytes_before_the_next_but_the_last_is_not() {
    // 36 + (2 + 3 PE data) + (2 + 3 PE name) = 46 bytes: 2 of padding
    // before a following record (ip_vs_sync_conn: pad = (4 - head) & 3).
    let mut a = v4();
    a.pe = Some(sip(3));
    let b = v4();
    let got = one(&[a.clone(), b.clone()]);
    assert_eq!(a.wire_len(), 46);
    assert_eq!(got.len(), 8 + 46 + 2 + 36);
    assert_eq!(be16(&got, 2) as usize, got.len(), "size counts the padding");
    assert_eq!(got[4], 2);
    let r = &got[HEADER_LEN..];
    assert_eq!(be16(r, 2), 46, "the record's own size excludes its padding");
    #[rustfmt::skip]
    let options = [
        0x02, 3, b'a', b'b', b'c',   // IPVS_OPT_PE_DATA
        0x03, 3, b's', b'i', b'p',   // IPVS_OPT_PE_NAME, no NUL
        0x00, 0x00,                  // padding
    ];
    assert_eq!(&r[36..48], &options);
    assert_eq!(&r[48..52], &[0, 6, 0, 36], "b starts at 8 + 48, aligned");
    let msg = decode(&got).unwrap();
    assert_eq!(
        msg.records().collect::<Vec<_>>(),
        vec![Ok(a.clone()), Ok(b)]
    );

    // Last: no padding, and a size that is not a multiple of 4.
    let got = one(std::slice::from_ref(&a));
    assert_eq!(got.len(), 54);
    assert_eq!(be16(&got, 2), 54);
    assert_eq!(decode(&got).unwrap().records().next(), Some(Ok(a)));
}

#[test]
fn a_firewall_mark_template_is_the_kernels_form() {
    // ip_vs_sched_persist: <IPPROTO_IP, caddr, 0, fwmark, 0, daddr, 0>,
    // flags TEMPLATE plus the real server's (DR: NOOUTPUT, INACTIVE).
    let t = TemplateRecord {
        service: xlb_model::ServiceKey::Mark(5),
        client: "198.51.100.0".parse::<std::net::IpAddr>().unwrap().into(),
        real: "10.0.0.2".parse::<std::net::IpAddr>().unwrap().into(),
        real_port: 80,
        forwarding: xlb_model::Forwarding::Dr,
        timeout: 300,
    };
    let c = from_template(&t).unwrap();
    let got = one(std::slice::from_ref(&c));
    #[rustfmt::skip]
    let want: [u8; 44] = [
        0x00, 0x07, 0x00, 0x2c, 0x01, 0x01, 0x00, 0x00,
        // IPv4, protocol 0 (IPPROTO_IP), size 36
        0x00, 0x00, 0x00, 0x24,
        // TEMPLATE 0x1000 | INACTIVE 0x100 | NOOUTPUT 0x80 | DROUTE 3
        0x00, 0x00, 0x11, 0x83,
        // state IP_VS_CTPL_S_NONE, cport 0
        0x00, 0x00, 0x00, 0x00,
        // vport 0, dport 0
        0x00, 0x00, 0x00, 0x00,
        // fwmark 5
        0x00, 0x00, 0x00, 0x05,
        // timeout 300
        0x00, 0x00, 0x01, 0x2c,
        // caddr masked client, vaddr holds the mark, daddr
        198, 51, 100, 0,
        0, 0, 0, 5,
        10, 0, 0, 2,
    ];
    assert_eq!(got, want);
    let back = decode(&want).unwrap().records().next().unwrap().unwrap();
    assert!(back.template);
    assert_eq!(
        back.addrs,
        Addrs::V4 {
            client: Ipv4Addr::new(198, 51, 100, 0),
            vaddr: Ipv4Addr::new(0, 0, 0, 5),
            daddr: Ipv4Addr::new(10, 0, 0, 2),
        }
    );
}

#[test]
fn a_kernel_datagram_decodes_with_its_internal_flags_kept() {
    // As a kernel master sends a NAT FTP control connection: flags with
    // NFCT (bit 16, never kept by a backup) and IN_SEQ, plus an optional
    // (0x40) unknown option a newer kernel might add, which is skipped.
    #[rustfmt::skip]
    let dg: [u8; 8 + 36 + 26 + 4] = {
        let mut d = [0u8; 74];
        d[..8].copy_from_slice(&[0, 9, 0, 74, 1, 1, 0, 0]);
        d[8..20].copy_from_slice(&[0, 6, 0, 66, 0x00, 0x01, 0x04, 0x00, 0, 1, 0xc3, 0x50]);
        d[20..32].copy_from_slice(&[0, 21, 0, 21, 0, 0, 0, 0, 0, 0, 0x03, 0x84]);
        d[32..44].copy_from_slice(&[198, 51, 100, 7, 192, 0, 2, 10, 10, 0, 0, 2]);
        d[44] = 0x41; // IPVS_OPT_SEQ_DATA with the optional bit: still sequence data
        d[45] = 24;
        d[46..50].copy_from_slice(&[0, 0, 0x10, 0]);
        d[50..54].copy_from_slice(&[0, 0, 0, 7]);
        d[70] = 0x45; // unknown, optional
        d[71] = 2;
        d[72] = 0xee;
        d[73] = 0xee;
        d
    };
    let msg = decode(&dg).unwrap();
    let c = msg.records().next().unwrap().unwrap();
    assert_eq!(c.flags, ConnFlags::NFCT | ConnFlags::IN_SEQ);
    assert_eq!(c.flags.backup(), ConnFlags::IN_SEQ);
    assert_eq!(c.forwarding, FwdMethod::Masq);
    assert_eq!(c.state, 1);
    assert_eq!((c.cport, c.vport, c.dport), (50000, 21, 21));
    assert_eq!(c.timeout, 900);
    let s = c.seq.unwrap();
    assert_eq!((s.in_seq.init_seq, s.in_seq.delta), (0x1000, 7));
    assert_eq!(s.out_seq, Default::default());
}
