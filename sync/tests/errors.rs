//! One malformed datagram per `DecodeError` variant, and the records a
//! receiver skips while keeping the rest of the datagram
//! (ip_vs_process_message / ip_vs_proc_sync_conn: negative returns drop
//! the buffer, positive ones the record).

mod common;

use common::v4;
use std::collections::HashSet;
use xlb_model::Family;
use xlb_sync::{decode, encode, DecodeError, RecordError};

/// A version 1 datagram around `body`, size and count filled in.
fn message(count: u8, body: &[u8]) -> Vec<u8> {
    let size = (8 + body.len()) as u16;
    let mut d = vec![0, 1, (size >> 8) as u8, size as u8, count, 1, 0, 0];
    d.extend_from_slice(body);
    d
}

/// An IPv4 record (type `ty`) whose `ver_size` says `size`, followed by
/// `options`; the 36 fixed bytes are a TCP NAT connection.
fn record(ty: u8, size: u16, options: &[u8]) -> Vec<u8> {
    let mut r = vec![ty, 6, (size >> 8) as u8, size as u8];
    r.extend_from_slice(&[0, 0, 0, 0]); // flags: NAT
    r.extend_from_slice(&[0, 1, 0x9c, 0x40, 0, 80, 0x1f, 0x90]);
    r.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x03, 0x84]);
    r.extend_from_slice(&[198, 51, 100, 7, 192, 0, 2, 10, 10, 0, 0, 2]);
    r.extend_from_slice(options);
    r
}

/// A well-formed IPv4 record with `options`.
fn good(options: &[u8]) -> Vec<u8> {
    record(0, (36 + options.len()) as u16, options)
}

fn err(d: &[u8]) -> DecodeError {
    decode(d).unwrap_err()
}

const SEQ: [u8; 26] = {
    let mut o = [0u8; 26];
    o[0] = 1;
    o[1] = 24;
    o
};

#[test]
fn the_helpers_build_a_valid_datagram() {
    let d = message(1, &good(&[]));
    let mut c = v4();
    c.timeout = 900;
    assert_eq!(d, encode(1, 1472, [&c]).unwrap()[0]);
}

#[test]
fn short_header() {
    assert_eq!(err(&[]), DecodeError::ShortHeader { len: 0 });
    assert_eq!(err(&[0, 1, 0]), DecodeError::ShortHeader { len: 3 });
    // Long enough for a version 0 header and its size, not for version 1's.
    assert_eq!(
        err(&[0, 1, 0, 6, 0, 1]),
        DecodeError::ShortHeader { len: 6 }
    );
}

#[test]
fn size_mismatch() {
    let mut d = message(1, &good(&[]));
    d[3] += 1;
    assert_eq!(err(&d), DecodeError::SizeMismatch { size: 45, len: 44 });
    // A datagram cut short by the receive buffer: the size says more.
    let d = message(1, &good(&[]));
    assert_eq!(
        err(&d[..40]),
        DecodeError::SizeMismatch { size: 44, len: 40 }
    );
}

#[test]
fn version0() {
    // struct ip_vs_sync_mesg_v0: nr_conns, syncid, size; then 24-byte
    // ip_vs_sync_conn_v0 records.
    let mut d = vec![1, 5, 0, 28];
    d.extend_from_slice(&[0; 24]);
    assert_eq!(
        err(&d),
        DecodeError::Version0 {
            count: 1,
            sync_id: 5
        }
    );
}

#[test]
fn bad_version() {
    let mut d = message(1, &good(&[]));
    d[5] = 2;
    assert_eq!(err(&d), DecodeError::BadVersion { version: 2 });
    d[5] = 0;
    assert_eq!(err(&d), DecodeError::BadVersion { version: 0 });
}

#[test]
fn bad_spare() {
    let mut d = message(1, &good(&[]));
    d[7] = 1;
    assert_eq!(err(&d), DecodeError::BadSpare { spare: 1 });
}

#[test]
fn count_mismatch() {
    let d = message(2, &good(&[]));
    assert_eq!(err(&d), DecodeError::CountMismatch { count: 2, found: 1 });
    // Ends inside the padding the next record would follow.
    let mut body = good(&[2, 1, 0xab, 3, 1, b's']);
    body.push(0);
    let d = message(2, &body);
    assert_eq!(err(&d), DecodeError::CountMismatch { count: 2, found: 1 });
    let d = message(1, &[]);
    assert_eq!(err(&d), DecodeError::CountMismatch { count: 1, found: 0 });
}

#[test]
fn short_record() {
    let d = message(1, &good(&[])[..20]);
    assert_eq!(
        err(&d),
        DecodeError::ShortRecord {
            index: 0,
            available: 20
        }
    );
    // The kernel wants room for an IPv4 record's fixed part even to read
    // a record's size.
    let mut body = good(&[]);
    body.extend_from_slice(&good(&[])[..35]);
    let d = message(2, &body);
    assert_eq!(
        err(&d),
        DecodeError::ShortRecord {
            index: 1,
            available: 35
        }
    );
}

#[test]
fn record_overrun() {
    let d = message(1, &record(0, 40, &[]));
    assert_eq!(
        err(&d),
        DecodeError::RecordOverrun {
            index: 0,
            size: 40,
            available: 36
        }
    );
}

#[test]
fn record_version() {
    let d = message(1, &record(0, 0x1000 | 36, &[]));
    assert_eq!(
        err(&d),
        DecodeError::RecordVersion {
            index: 0,
            version: 1
        }
    );
}

#[test]
fn unknown_record_type() {
    let d = message(1, &record(2, 36, &[]));
    assert_eq!(err(&d), DecodeError::UnknownRecordType { index: 0, ty: 2 });
    // The kernel would read 3 as IPv6 (it tests bit 0 only); xlb refuses.
    let d = message(1, &record(3, 36, &[]));
    assert_eq!(err(&d), DecodeError::UnknownRecordType { index: 0, ty: 3 });
}

#[test]
fn family_length() {
    // Type IPv6, 36 bytes: an IPv6 record needs 72.
    let d = message(1, &record(1, 36, &[]));
    assert_eq!(
        err(&d),
        DecodeError::FamilyLength {
            index: 0,
            family: Family::V6,
            size: 36
        }
    );
    // An IPv4 record whose size stops inside its addresses.
    let mut body = record(0, 20, &[]);
    body.truncate(36);
    let d = message(1, &body);
    assert_eq!(
        err(&d),
        DecodeError::FamilyLength {
            index: 0,
            family: Family::V4,
            size: 20
        }
    );
}

#[test]
fn option_truncated() {
    // One byte after the addresses: no room for a type and a length. It
    // is the last record, so no padding follows.
    let d = message(1, &good(&[1]));
    assert_eq!(err(&d), DecodeError::OptionTruncated { index: 0 });
}

#[test]
fn empty_option() {
    let d = message(1, &good(&[2, 0]));
    assert_eq!(err(&d), DecodeError::EmptyOption { index: 0, ty: 2 });
}

#[test]
fn option_overrun() {
    let d = message(1, &good(&[2, 10, 1, 2, 3]));
    assert_eq!(
        err(&d),
        DecodeError::OptionOverrun {
            index: 0,
            ty: 2,
            len: 10,
            available: 3
        }
    );
}

#[test]
fn seq_length() {
    let d = message(1, &good(&[1, 4, 0, 0, 0, 0]));
    assert_eq!(err(&d), DecodeError::SeqLength { index: 0, len: 4 });
}

#[test]
fn pe_name_too_long() {
    let mut opts = vec![2, 1, 0xab, 3, 17];
    opts.extend_from_slice(&[b'x'; 17]);
    let d = message(1, &good(&opts));
    assert_eq!(err(&d), DecodeError::PeNameTooLong { index: 0, len: 17 });
}

#[test]
fn duplicate_option() {
    let mut twice = SEQ.to_vec();
    twice.extend_from_slice(&SEQ);
    assert_eq!(
        err(&message(1, &good(&twice))),
        DecodeError::DuplicateOption { index: 0, ty: 1 }
    );
    // The optional bit does not make it another option.
    twice[26] = 0x41;
    assert_eq!(
        err(&message(1, &good(&twice))),
        DecodeError::DuplicateOption { index: 0, ty: 0x41 }
    );
    let d = message(1, &good(&[2, 1, 0xab, 2, 1, 0xcd, 3, 3, b's', b'i', b'p']));
    assert_eq!(err(&d), DecodeError::DuplicateOption { index: 0, ty: 2 });
    let d = message(1, &good(&[3, 1, b's', 3, 1, b's']));
    assert_eq!(err(&d), DecodeError::DuplicateOption { index: 0, ty: 3 });
}

#[test]
fn bad_padding() {
    // A 42-byte record, then 2 bytes of padding, then another record.
    let mut body = good(&[2, 1, 0xab, 3, 1, b's']);
    body.extend_from_slice(&[0, 7]);
    body.extend_from_slice(&good(&[]));
    let d = message(2, &body);
    assert_eq!(err(&d), DecodeError::BadPadding { index: 0 });
    // Padding after the last record, if any, must be zero too.
    let mut body = good(&[2, 1, 0xab, 3, 1, b's']);
    body.extend_from_slice(&[0, 1]);
    assert_eq!(
        err(&message(1, &body)),
        DecodeError::BadPadding { index: 0 }
    );
}

#[test]
fn trailing_bytes() {
    let mut body = good(&[]);
    body.extend_from_slice(&[0; 4]);
    assert_eq!(
        err(&message(1, &body)),
        DecodeError::TrailingBytes { extra: 4 }
    );
    // A count of 0 followed by a record.
    assert_eq!(
        err(&message(0, &good(&[]))),
        DecodeError::TrailingBytes { extra: 36 }
    );
    // Zero padding after the last record is tolerated, up to alignment.
    let mut body = good(&[2, 1, 0xab, 3, 1, b's']);
    body.extend_from_slice(&[0, 0]);
    assert_eq!(decode(&message(1, &body)).unwrap().len(), 1);
}

#[test]
fn every_decode_error_has_its_own_reason() {
    let all = [
        DecodeError::ShortHeader { len: 0 },
        DecodeError::SizeMismatch { size: 0, len: 0 },
        DecodeError::Version0 {
            count: 0,
            sync_id: 0,
        },
        DecodeError::BadVersion { version: 0 },
        DecodeError::BadSpare { spare: 0 },
        DecodeError::CountMismatch { count: 0, found: 0 },
        DecodeError::ShortRecord {
            index: 0,
            available: 0,
        },
        DecodeError::RecordOverrun {
            index: 0,
            size: 0,
            available: 0,
        },
        DecodeError::RecordVersion {
            index: 0,
            version: 0,
        },
        DecodeError::UnknownRecordType { index: 0, ty: 0 },
        DecodeError::FamilyLength {
            index: 0,
            family: Family::V4,
            size: 0,
        },
        DecodeError::OptionTruncated { index: 0 },
        DecodeError::EmptyOption { index: 0, ty: 0 },
        DecodeError::OptionOverrun {
            index: 0,
            ty: 0,
            len: 0,
            available: 0,
        },
        DecodeError::SeqLength { index: 0, len: 0 },
        DecodeError::PeNameTooLong { index: 0, len: 0 },
        DecodeError::DuplicateOption { index: 0, ty: 0 },
        DecodeError::BadPadding { index: 0 },
        DecodeError::TrailingBytes { extra: 0 },
    ];
    let reasons: HashSet<_> = all.iter().map(|e| e.reason()).collect();
    assert_eq!(reasons.len(), all.len());
    for e in all {
        assert!(!e.to_string().is_empty());
    }
}

// Records skipped alone: the datagram and its other records stay good.

/// The records of a datagram holding `middle` between two good ones.
fn around(middle: Vec<u8>) -> Vec<Result<(), RecordError>> {
    let mut body = good(&[]);
    body.extend_from_slice(&middle);
    while !body.len().is_multiple_of(4) {
        body.push(0);
    }
    body.extend_from_slice(&good(&[]));
    let d = message(3, &body);
    let msg = decode(&d).unwrap();
    msg.records().map(|r| r.map(|_| ())).collect()
}

#[test]
fn unknown_mandatory_option_skips_its_record() {
    assert_eq!(
        around(good(&[5, 2, 0, 0])),
        vec![
            Ok(()),
            Err(RecordError::UnknownMandatoryOption { ty: 5 }),
            Ok(())
        ]
    );
    // The kernel stops reading the record's options there: a broken
    // option after it does not spoil the datagram.
    assert_eq!(
        around(good(&[5, 1, 0, 2, 0])),
        vec![
            Ok(()),
            Err(RecordError::UnknownMandatoryOption { ty: 5 }),
            Ok(())
        ]
    );
    // Type 0 is unknown and mandatory as well.
    assert_eq!(
        around(good(&[0, 1, 0]))[1],
        Err(RecordError::UnknownMandatoryOption { ty: 0 })
    );
}

#[test]
fn unknown_optional_option_is_passed_over() {
    assert_eq!(around(good(&[0x45, 2, 9, 9])), vec![Ok(()); 3]);
}

#[test]
fn pe_data_without_a_name_skips_its_record() {
    assert_eq!(
        around(good(&[2, 2, 0xab, 0xcd]))[1],
        Err(RecordError::PeDataWithoutName)
    );
}

#[test]
fn a_pe_name_without_data_is_ignored() {
    let d = message(1, &good(&[3, 3, b's', b'i', b'p']));
    let c = decode(&d).unwrap().records().next().unwrap().unwrap();
    assert_eq!(c.pe, None);
}

#[test]
fn no_such_forwarding_method_skips_its_record() {
    let mut r = good(&[]);
    r[7] = 5;
    assert_eq!(
        around(r)[1],
        Err(RecordError::UnknownForwarding { bits: 5 })
    );
    let reasons: HashSet<_> = [
        RecordError::UnknownMandatoryOption { ty: 0 },
        RecordError::PeDataWithoutName,
        RecordError::UnknownForwarding { bits: 0 },
    ]
    .iter()
    .map(|e| e.reason())
    .collect();
    assert_eq!(reasons.len(), 3);
}

#[test]
fn sync_id_filtering_is_the_kernels() {
    let d = message(1, &good(&[]));
    let msg = decode(&d).unwrap();
    assert_eq!(msg.sync_id(), 1);
    assert!(msg.accepted_by(0), "0 takes every sync id");
    assert!(msg.accepted_by(1));
    assert!(!msg.accepted_by(2));
}
