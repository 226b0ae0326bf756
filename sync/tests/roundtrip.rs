//! Records through the encoder and back, and how records are packed into
//! datagrams of a given payload.

mod common;

use common::{seq, sip, v4, v6, Rng};
use xlb_model::Family;
use xlb_sync::wire::{HEADER_LEN, MAX_CONNS, V4_RECORD_LEN};
use xlb_sync::{
    decode, encode, payload_for_mtu, ConnFlags, EncodeError, Encoder, FwdMethod, MessageWriter,
    PeData, SyncConn, KERNEL_MASTER_PAYLOAD_V4, KERNEL_MASTER_PAYLOAD_V6, MAX_PAYLOAD, MIN_PAYLOAD,
};

/// Every record of every datagram, checking each datagram on the way.
fn decode_all(datagrams: &[Vec<u8>], limit: usize) -> Vec<SyncConn> {
    let mut out = Vec::new();
    for d in datagrams {
        assert!(d.len() <= limit, "{} > {limit}", d.len());
        let msg = decode(d).unwrap();
        assert_eq!(msg.records().len(), msg.len());
        out.extend(msg.records().map(Result::unwrap));
    }
    out
}

fn round_trip(conns: &[SyncConn]) {
    let d = encode(3, KERNEL_MASTER_PAYLOAD_V4, conns).unwrap();
    assert_eq!(decode_all(&d, KERNEL_MASTER_PAYLOAD_V4), conns);
}

#[test]
fn ipv4_and_ipv6_connections_round_trip() {
    round_trip(&[v4()]);
    round_trip(&[v6()]);
    round_trip(&[v4(), v6(), v4(), v6()]);
}

#[test]
fn templates_round_trip() {
    let mut t = v4();
    t.template = true;
    t.cport = 0;
    t.state = xlb_sync::conn::state::TEMPLATE_ASSURED;
    t.timeout = 360;
    let mut t6 = v6();
    t6.template = true;
    t6.protocol = 0;
    round_trip(&[t.clone(), v4(), t6.clone()]);
    let got = encode(1, MIN_PAYLOAD, [&t]).unwrap();
    assert!(
        decode(&got[0])
            .unwrap()
            .records()
            .next()
            .unwrap()
            .unwrap()
            .template
    );
}

#[test]
fn with_and_without_sequence_data() {
    let mut a = v4();
    a.flags = ConnFlags::IN_SEQ;
    a.seq = Some(seq());
    let mut b = v6();
    b.flags.insert(ConnFlags::OUT_SEQ);
    b.seq = Some(seq());
    round_trip(&[a.clone(), v4(), b.clone(), v6()]);
    assert_eq!(a.wire_len(), 36 + 26);
    assert_eq!(b.wire_len(), 72 + 26);
}

#[test]
fn persistence_engine_data_round_trips() {
    let mut a = v4();
    a.pe = Some(sip(255));
    let mut b = v6();
    b.seq = Some(seq());
    b.pe = Some(PeData {
        name: b"sixteen-byte-pen".to_vec(),
        data: vec![0; 1],
    });
    round_trip(&[a, b, v4()]);
}

#[test]
fn a_batch_filling_exactly_one_datagram_stays_in_one() {
    // 39 plain IPv4 records and one with 24 bytes of PE options:
    // 8 + 39 * 36 + 60 = 1472, the whole IPv4 payload of a 1500 MTU.
    let mut last = v4();
    last.pe = Some(sip(17));
    assert_eq!(last.wire_len(), 60);
    let mut conns = vec![v4(); 39];
    conns.push(last);
    let d = encode(1, KERNEL_MASTER_PAYLOAD_V4, &conns).unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].len(), 1472);
    assert_eq!(decode_all(&d, 1472), conns);

    // One record more spills into a second datagram, whole.
    conns.push(v6());
    let d = encode(1, KERNEL_MASTER_PAYLOAD_V4, &conns).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!((d[0].len(), d[1].len()), (1472, HEADER_LEN + 72));
    assert_eq!(decode(&d[1]).unwrap().len(), 1);
    assert_eq!(decode_all(&d, 1472), conns);
}

#[test]
fn forty_plain_ipv4_records_fit_a_1500_mtu_the_forty_first_spills() {
    let conns = vec![v4(); 41];
    let d = encode(1, payload_for_mtu(1500, Family::V4), &conns).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].len(), HEADER_LEN + 40 * V4_RECORD_LEN);
    assert_eq!(decode(&d[0]).unwrap().len(), 40);
    assert_eq!(decode(&d[1]).unwrap().len(), 1);
}

#[test]
fn padding_counts_when_deciding_what_fits() {
    // A 62-byte record (IPv4 + sequence) followed by a 36-byte one needs 2
    // bytes of padding: 8 + 62 + 2 + 36 = 108 fits 108, not 107.
    let mut a = v4();
    a.seq = Some(seq());
    let b = v4();
    let mut buf = [0u8; 108];
    let mut w = MessageWriter::new(&mut buf, 1).unwrap();
    w.push(&a).unwrap();
    w.push(&b).unwrap();
    assert_eq!(w.len(), 108);
    let mut buf = [0u8; 107];
    let mut w = MessageWriter::new(&mut buf, 1).unwrap();
    w.push(&a).unwrap();
    assert_eq!(w.push(&b), Err(EncodeError::Full));
    // Unchanged by the refusal: still a one-record message.
    let dg = w.finish();
    assert_eq!(dg.len(), 70);
    assert_eq!(decode(dg).unwrap().len(), 1);
}

#[test]
fn no_more_than_255_records_per_datagram() {
    let conns = vec![v4(); 300];
    let d = encode(1, MAX_PAYLOAD, &conns).unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(decode(&d[0]).unwrap().len(), MAX_CONNS);
    assert_eq!(decode(&d[1]).unwrap().len(), 45);
}

#[test]
fn a_writer_fills_the_callers_buffer() {
    let mut buf = vec![0xaa; 2000];
    let mut w = MessageWriter::new(&mut buf, 42).unwrap();
    assert!(w.is_empty());
    assert_eq!(
        decode(w.as_bytes()).unwrap().len(),
        0,
        "an empty message is valid"
    );
    let mut n = 0;
    while w.push(&v6()).is_ok() {
        n += 1;
    }
    assert_eq!(n, (2000 - HEADER_LEN) / 72);
    assert_eq!(w.count(), n);
    let dg = w.finish();
    let msg = decode(dg).unwrap();
    assert_eq!((msg.sync_id(), msg.len()), (42, n));
    assert!(msg.records().all(|r| r == Ok(v6())));
}

#[test]
fn the_encoder_streams_and_reports_what_is_ready() {
    let mut enc = Encoder::for_mtu(9, 1500, Family::V6).unwrap();
    for _ in 0..20 {
        enc.push(&v6()).unwrap();
    }
    // 8 + 20 * 72 = 1448 <= 1452; the 21st closes the first datagram.
    assert_eq!((enc.ready(), enc.pending()), (0, 20));
    enc.push(&v6()).unwrap();
    assert_eq!((enc.ready(), enc.pending()), (1, 1));
    let first = enc.take_ready();
    assert_eq!(first.len(), 1);
    assert_eq!(decode(&first[0]).unwrap().len(), 20);
    let rest = enc.finish();
    assert_eq!(rest.len(), 1);
    assert_eq!(decode(&rest[0]).unwrap().len(), 1);
    assert!(enc.finish().is_empty(), "nothing left after finish");
}

#[test]
fn unsendable_records_are_refused_and_change_nothing() {
    let mut enc = Encoder::new(1, KERNEL_MASTER_PAYLOAD_V4).unwrap();
    enc.push(&v4()).unwrap();
    let mut bad = v4();
    bad.pe = Some(PeData {
        name: b"sip".to_vec(),
        data: vec![0; 256],
    });
    assert_eq!(enc.push(&bad), Err(EncodeError::PeDataLength { len: 256 }));
    bad.pe = Some(PeData {
        name: Vec::new(),
        data: vec![0; 4],
    });
    assert_eq!(enc.push(&bad), Err(EncodeError::PeNameLength { len: 0 }));
    bad.pe = Some(PeData {
        name: vec![b'x'; 17],
        data: vec![0; 4],
    });
    assert_eq!(enc.push(&bad), Err(EncodeError::PeNameLength { len: 17 }));
    bad.pe = Some(PeData {
        name: b"sip".to_vec(),
        data: Vec::new(),
    });
    assert_eq!(enc.push(&bad), Err(EncodeError::PeDataLength { len: 0 }));
    let d = enc.finish();
    assert_eq!(decode_all(&d, 1472), vec![v4()]);
}

#[test]
fn payload_limits() {
    assert_eq!(payload_for_mtu(1500, Family::V4), KERNEL_MASTER_PAYLOAD_V4);
    assert_eq!(payload_for_mtu(1500, Family::V6), KERNEL_MASTER_PAYLOAD_V6);
    assert_eq!(payload_for_mtu(9000, Family::V6), 8952);
    assert_eq!(payload_for_mtu(100_000, Family::V4), 65507);
    assert_eq!(payload_for_mtu(20, Family::V4), 0);
    assert_eq!(
        Encoder::new(1, MIN_PAYLOAD - 1).err(),
        Some(EncodeError::PayloadTooSmall {
            payload: MIN_PAYLOAD - 1,
            min: MIN_PAYLOAD
        })
    );
    assert_eq!(
        Encoder::new(1, MAX_PAYLOAD + 1).err(),
        Some(EncodeError::PayloadTooLarge {
            payload: MAX_PAYLOAD + 1,
            max: MAX_PAYLOAD
        })
    );
    assert!(Encoder::for_mtu(1, 576, Family::V4).is_ok());
    let mut tiny = [0u8; 7];
    assert!(MessageWriter::new(&mut tiny, 1).is_err());
    // A writer over a small buffer says Full rather than failing.
    let mut small = [0u8; 40];
    let mut w = MessageWriter::new(&mut small, 1).unwrap();
    assert_eq!(w.push(&v4()), Err(EncodeError::Full));
}

#[test]
fn random_records_round_trip() {
    let mut rng = Rng(7);
    for round in 0..200 {
        let conns: Vec<SyncConn> = (0..rng.below(120)).map(|_| rng.conn()).collect();
        let limit = [MIN_PAYLOAD, 1452, 1472, 8952, MAX_PAYLOAD][round % 5];
        let d = encode(round as u8, limit, &conns).unwrap();
        assert_eq!(decode_all(&d, limit), conns, "round {round}");
    }
}

#[test]
fn forwarding_method_and_template_bits_stay_out_of_the_flag_set() {
    let f = ConnFlags::from_wire(0x1000 | 0x0180 | 3);
    assert_eq!(f, ConnFlags::NOOUTPUT | ConnFlags::INACTIVE);
    assert_eq!(FwdMethod::from_bits(0x1183), Some(FwdMethod::DirectRoute));
    assert_eq!(FwdMethod::from_bits(5), None);
    assert_eq!(
        format!("{:?}", ConnFlags::from_wire(0x8000_0180)),
        "NOOUTPUT | INACTIVE | 0x80000000"
    );
}
