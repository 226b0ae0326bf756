//! Property-style checks with a deterministic PRNG: no input makes the
//! decoder panic; whatever it accepts re-encodes to the same records.

mod common;

use common::Rng;
use xlb_sync::wire::HEADER_LEN;
use xlb_sync::{decode, encode, MessageWriter, SyncConn, MAX_PAYLOAD};

/// Decodes `d`; when accepted, every good record must survive a second
/// trip through the encoder unchanged. Returns whether it was accepted.
fn check(d: &[u8]) -> bool {
    let Ok(msg) = decode(d) else {
        return false;
    };
    assert!(msg.size() == d.len());
    let records: Vec<_> = msg.records().collect();
    assert_eq!(records.len(), msg.len());
    let good: Vec<SyncConn> = records.into_iter().filter_map(Result::ok).collect();
    let mut buf = vec![0u8; MAX_PAYLOAD];
    let mut w = MessageWriter::new(&mut buf, msg.sync_id()).unwrap();
    for c in &good {
        w.push(c).unwrap();
    }
    let again = decode(w.as_bytes()).unwrap();
    let back: Vec<SyncConn> = again.records().map(Result::unwrap).collect();
    assert_eq!(back, good);
    true
}

/// A version 1 header (with its size right) over random bytes gets past
/// the header checks, so the record parser is what gets exercised.
fn with_header(rng: &mut Rng, mut body: Vec<u8>) -> Vec<u8> {
    let len = HEADER_LEN + body.len();
    let mut d = vec![
        0,
        1,
        (len >> 8) as u8,
        len as u8,
        rng.below(4) as u8,
        1,
        0,
        0,
    ];
    d.append(&mut body);
    d
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(1);
    for _ in 0..20_000 {
        let n = rng.below(300);
        let d = rng.bytes(n);
        check(&d);
        let d = with_header(&mut rng, d);
        check(&d);
    }
}

#[test]
fn random_records_behind_a_good_header_never_panic() {
    // Bytes shaped like records: plausible types and sizes.
    let mut rng = Rng(2);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut body = Vec::new();
        for _ in 0..1 + rng.below(3) {
            let ty = [0, 1, 0, 1, 2][rng.below(5)];
            let size = match ty {
                0 => 36 + rng.below(12),
                _ => 72 + rng.below(12),
            };
            let mut r = rng.bytes(size);
            r[0] = ty;
            r[2] = (size >> 8) as u8 & if rng.chance(10) { 0xff } else { 0x0f };
            r[3] = size as u8;
            body.append(&mut r);
            while !body.len().is_multiple_of(4) {
                body.push(if rng.chance(20) { 1 } else { 0 });
            }
        }
        let mut d = with_header(&mut rng, body);
        d[4] = rng.below(4) as u8;
        accepted += usize::from(check(&d));
    }
    assert!(accepted > 0, "some random records are well formed");
}

#[test]
fn mutations_of_valid_datagrams_never_panic() {
    let mut rng = Rng(3);
    let mut outcomes = [0usize; 2];
    for round in 0..3_000 {
        let conns: Vec<SyncConn> = (0..1 + rng.below(8)).map(|_| rng.conn()).collect();
        let datagrams = encode(round as u8, 1472, &conns).unwrap();
        for d in datagrams {
            assert!(check(&d), "an encoded datagram decodes");
            for _ in 0..8 {
                let mut m = d.clone();
                match rng.below(6) {
                    0 => {
                        let i = rng.below(m.len());
                        m[i] ^= 1 << rng.below(8);
                    }
                    1 => {
                        for _ in 0..1 + rng.below(8) {
                            let i = rng.below(m.len());
                            m[i] = rng.next() as u8;
                        }
                    }
                    2 => m.truncate(rng.below(m.len())),
                    3 => {
                        let n = 1 + rng.below(40);
                        m.extend(rng.bytes(n));
                    }
                    4 => {
                        let i = rng.below(m.len());
                        m.remove(i);
                    }
                    _ => {
                        // A record's size or an option's length changed.
                        let i = HEADER_LEN + rng.below(m.len() - HEADER_LEN);
                        m[i] = m[i].wrapping_add(1 + rng.below(8) as u8);
                    }
                }
                // Keep the size field right half of the time, so that the
                // mutation reaches the records.
                if m.len() >= 4 && rng.chance(2) {
                    m[2] = (m.len() >> 8) as u8;
                    m[3] = m.len() as u8;
                }
                outcomes[usize::from(check(&m))] += 1;
            }
        }
    }
    assert!(outcomes[0] > 0 && outcomes[1] > 0, "{outcomes:?}");
}
