//! Request bodies and chunk encoding.

use super::fuzz::Rng;
use super::*;
use bytes::BytesMut;
use http::HeaderMap;

/// Everything a decoder produced from `input` fed in pieces of the given
/// sizes: the data, the trailers, whether End came, the bytes left over,
/// or the error.
#[derive(Debug, PartialEq)]
struct Decoded {
    data: Vec<u8>,
    trailers: Option<HeaderMap>,
    end: bool,
    rest: Vec<u8>,
    error: Option<HeadError>,
}

fn decode_in_pieces(framing: Framing, input: &[u8], pieces: &mut dyn FnMut() -> usize) -> Decoded {
    let mut dec = BodyDecoder::new(&framing);
    let mut buf = BytesMut::new();
    let mut out = Decoded {
        data: Vec::new(),
        trailers: None,
        end: false,
        rest: Vec::new(),
        error: None,
    };
    let mut fed = 0;
    loop {
        match dec.decode(&mut buf) {
            Ok(Some(BodyEvent::Data(d))) => {
                assert!(!d.is_empty(), "empty data event");
                out.data.extend_from_slice(&d);
            }
            Ok(Some(BodyEvent::Trailers(t))) => {
                assert!(out.trailers.is_none());
                out.trailers = Some(t);
            }
            Ok(Some(BodyEvent::End)) => {
                assert!(dec.is_done());
                out.end = true;
                break;
            }
            Ok(None) => {
                if fed == input.len() {
                    break;
                }
                let n = pieces().clamp(1, input.len() - fed);
                buf.extend_from_slice(&input[fed..fed + n]);
                fed += n;
            }
            Err(e) => {
                out.error = Some(e);
                return out;
            }
        }
    }
    out.rest = buf.to_vec();
    out.rest.extend_from_slice(&input[fed..]);
    out
}

fn decode_all(framing: Framing, input: &[u8]) -> Decoded {
    decode_in_pieces(framing, input, &mut || usize::MAX)
}

#[track_caller]
fn chunked_ok(input: &[u8]) -> Decoded {
    let d = decode_all(Framing::Chunked, input);
    assert!(
        d.error.is_none() && d.end,
        "{:?}: {d:?}",
        String::from_utf8_lossy(input)
    );
    d
}

#[track_caller]
fn chunked_err(input: &[u8]) {
    let d = decode_all(Framing::Chunked, input);
    assert_eq!(
        d.error,
        Some(HeadError::Status(400)),
        "{:?}",
        String::from_utf8_lossy(input)
    );
}

#[test]
fn chunk_rules() {
    // Each sent live after "POST / HTTP/1.1\r\nHost: a\r\n
    // Transfer-Encoding: chunked\r\n\r\n"; accepted ones reached the server
    // re-chunked as "2\r\nab\r\n0\r\n\r\n".
    for ok in [
        &b"2;foo=bar\r\nab\r\n0\r\n\r\n"[..],
        b"2;f\x01\x00oo\r\nab\r\n0\r\n\r\n", // extensions are not checked
        b"2  \r\nab\r\n0\r\n\r\n",
        b"2 ;x\r\nab\r\n0\r\n\r\n",
        b"2\nab\n0\n\n", // bare LF everywhere
        b"0000000000000000000000002\r\nab\r\n0\r\n\r\n",
        b"2\r\nab\r\n0;x=y\r\n\r\n",
        b"1\r\na\r\n1\r\nb\r\n0\r\n\r\n",
    ] {
        let d = chunked_ok(ok);
        assert_eq!(d.data, b"ab", "{:?}", String::from_utf8_lossy(ok));
        assert!(d.rest.is_empty());
    }
    // live: 400 for each
    for bad in [
        &b" 2\r\nab\r\n0\r\n\r\n"[..], // leading space
        b"z\r\nab\r\n0\r\n\r\n",       // not hex
        b"2g\r\nab\r\n0\r\n\r\n",      // junk after the size
        b"\r\nab\r\n0\r\n\r\n",        // empty size
        b"2\rxab\r\n0\r\n\r\n",        // CR without LF
        b"2\r\nabX\r\n0\r\n\r\n",      // data longer than announced
        b"2;x\ry\r\nab\r\n0\r\n\r\n",  // CR inside extension ends it, then no LF
        b"10000000000000\r\n",         // 2^52: 14 hex digits
    ] {
        chunked_err(bad);
    }
    // 13 hex digits are fine (live: the server got the head, HAProxy
    // waited for data).
    let d = decode_all(Framing::Chunked, b"FFFFFFFFFFFFF\r\nab");
    assert_eq!((d.error, d.end, d.data), (None, false, b"ab".to_vec()));
}

#[test]
fn trailers() {
    // Live: names lower-cased, values trimmed, folding joined.
    let d = chunked_ok(b"2\r\nab\r\n0\r\nX-T: 1\r\nx-Y:  2 \r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
    let t = d.trailers.expect("trailers");
    assert_eq!(t.get("x-t").unwrap(), "1");
    assert_eq!(t.get("x-y").unwrap(), "2");
    assert_eq!(d.rest, b"GET /2 HTTP/1.1\r\n\r\n");
    let d = chunked_ok(b"0\r\nX-T: 1\r\n folded\r\n\r\n");
    assert_eq!(d.trailers.unwrap().get("x-t").unwrap(), "1   folded");
    // No trailers: End straight away.
    assert_eq!(chunked_ok(b"0\r\n\r\n").trailers, None);
    // Live 400: bad name, bad Content-Length, 101 fields. 100 pass.
    chunked_err(b"0\r\nX T: 1\r\n\r\n");
    chunked_err(b"0\r\nContent-Length: x\r\n\r\n");
    chunked_err(b"0\r\nTransfer-Encoding: gzip\r\n\r\n");
    let many = |k: usize| {
        let mut v = b"2\r\nab\r\n0\r\n".to_vec();
        for i in 0..k {
            v.extend_from_slice(format!("X{i}: a\r\n").as_bytes());
        }
        v.extend_from_slice(b"\r\n");
        v
    };
    assert_eq!(chunked_ok(&many(100)).trailers.unwrap().len(), 100);
    chunked_err(&many(101));
}

#[test]
fn unfinished_lines_that_fill_the_buffer() {
    // Debian's 2.6.12-1+deb12u4 ("report an error on a too long chunk-size
    // line"), live: a 16002-byte unfinished chunk-size line waits, a
    // 17002-byte one gets 400; a 40000-byte trailer too.
    let mut line = b"2;".to_vec();
    line.resize(16_002, b'x');
    let d = decode_all(Framing::Chunked, &line);
    assert_eq!((d.error, d.end), (None, false));
    line.resize(17_002, b'x');
    chunked_err(&line);
    let mut t = b"2\r\nab\r\n0\r\nX: ".to_vec();
    t.resize(40_000, b'x');
    chunked_err(&t);
    // With smaller limits, smaller lines.
    let l = Limits::from_tune(1024, 512, 101);
    let mut dec = BodyDecoder::with_limits(&Framing::Chunked, &l);
    let mut b = BytesMut::from(&b"1;"[..]);
    b.resize(959, b'x');
    assert_eq!(dec.decode(&mut b), Ok(None));
    b.extend_from_slice(b"x");
    assert_eq!(dec.decode(&mut b), Err(HeadError::Status(400)));
}

#[test]
fn content_length_and_none() {
    let d = decode_all(Framing::Length(5), b"helloGET");
    assert_eq!(
        (d.data, d.end, d.rest),
        (b"hello".to_vec(), true, b"GET".to_vec())
    );
    let d = decode_all(Framing::Length(5), b"hel");
    assert_eq!((d.data, d.end), (b"hel".to_vec(), false));
    let d = decode_all(Framing::None, b"GET");
    assert_eq!((d.data, d.end, d.rest), (vec![], true, b"GET".to_vec()));
    let d = decode_all(Framing::Length(0), b"x");
    assert!(d.end && d.data.is_empty());
    // A request is never "until close".
    assert!(decode_all(Framing::UntilClose, b"x").end);
    // After End the decoder stays quiet.
    let mut dec = BodyDecoder::new(&Framing::None);
    let mut b = BytesMut::from(&b"abc"[..]);
    assert_eq!(dec.decode(&mut b), Ok(Some(BodyEvent::End)));
    assert_eq!(dec.decode(&mut b), Ok(None));
    assert_eq!(&b[..], b"abc");
}

#[test]
fn any_split_gives_the_same_result() {
    let inputs: &[(Framing, &[u8])] = &[
        (
            Framing::Chunked,
            b"5;ext=1\r\nhello\r\n1\r\n \r\nA\nabcdefghij\n0\r\nX-T: 1\r\nY:\r\n 2\r\n\r\nNEXT",
        ),
        (Framing::Chunked, b"000\r\n\r\n"),
        (Framing::Chunked, b"3\r\nabc\r\n0\r\n\r\n"),
        (Framing::Chunked, b"3\r\nabcd\r\n"),
        (Framing::Chunked, b"3\r\nabc\r\nzz\r\n"),
        (Framing::Length(7), b"0123456789"),
    ];
    let mut rng = Rng::new(7);
    for (framing, input) in inputs {
        let whole = decode_all(*framing, input);
        let bytewise = decode_in_pieces(*framing, input, &mut || 1);
        assert_eq!(whole, bytewise, "{:?}", String::from_utf8_lossy(input));
        for _ in 0..200 {
            let max = 1 + rng.below(8);
            let split = decode_in_pieces(*framing, input, &mut || 1 + rng.below(max));
            assert_eq!(whole, split, "{:?}", String::from_utf8_lossy(input));
        }
    }
}

#[test]
fn encode_then_decode() {
    let mut rng = Rng::new(11);
    for _ in 0..200 {
        let mut body = Vec::new();
        let mut wire = Vec::new();
        for _ in 0..rng.below(6) {
            let len = rng.below(300);
            let piece: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
            encode_chunk(&piece, &mut wire);
            body.extend_from_slice(&piece);
        }
        let mut trailers = HeaderMap::new();
        if rng.below(2) == 0 {
            trailers.insert("x-sum", "1".parse().unwrap());
        }
        encode_last_chunk(Some(&trailers), &mut wire);
        let d = decode_in_pieces(Framing::Chunked, &wire, &mut || 1 + rng.below(40));
        assert_eq!(d.data, body);
        assert!(d.end && d.rest.is_empty());
        assert_eq!(d.trailers.unwrap_or_default(), trailers);
    }
}

#[test]
fn chunk_encoding_bytes() {
    let mut out = Vec::new();
    encode_chunk(b"", &mut out);
    assert!(out.is_empty(), "an empty chunk would end the body");
    encode_chunk(&[b'x'; 0x1ab], &mut out);
    assert!(
        out.starts_with(b"1AB\r\nxx"),
        "upper-case hex like HAProxy's hextab"
    );
    assert!(out.ends_with(b"x\r\n"));
    let mut out = Vec::new();
    encode_last_chunk(None, &mut out);
    assert_eq!(out, b"0\r\n\r\n");
    let mut t = HeaderMap::new();
    t.insert("x-a", "1".parse().unwrap());
    let mut out = Vec::new();
    encode_last_chunk(Some(&t), &mut out);
    assert_eq!(out, b"0\r\nx-a: 1\r\n\r\n");
}
