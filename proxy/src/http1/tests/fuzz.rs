//! Randomised checks: no input makes the codec panic, decisions depend on
//! a prefix only (more bytes never change a verdict), and on the common
//! ground where httparse and HAProxy agree, so do we.

use super::*;
use bytes::BytesMut;

/// xorshift64*: deterministic, no dependency.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(super) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform-ish in 0..n (n > 0).
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(super) fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// A comparable summary of a parse result.
fn summary(r: &Result<Option<RequestHead>, HeadError>) -> String {
    match r {
        Ok(None) => "more".into(),
        Err(e) => format!("{e:?}"),
        Ok(Some(h)) => format!(
            "{} {} {:?} {:?} {:?} ka={} up={:?} exp={} len={}",
            h.method,
            h.target,
            h.version,
            h.headers,
            h.framing,
            h.keep_alive,
            h.upgrade,
            h.expect_continue,
            h.head_len
        ),
    }
}

const SEEDS: &[&[u8]] = &[
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /x?y HTTP/1.1\r\nHost: a.com\r\nContent-Length: 3, 3\r\nX: a\r\n b\r\n\r\nabc",
    b"PUT http://a.com:80/ HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\nConnection: keep-alive, x\r\n\r\n",
    b"CONNECT a.com:443 HTTP/1.1\r\nHost: a.com\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
    b"\r\nGET / HTTP/1.1\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nConnection: Upgrade\nUpgrade: WebSocket\n\n",
];

/// Bytes that matter to the parser, to mutate with.
const SPECIAL: &[u8] = b"\r\n \t:,;\"\\#/*@0123456789aAzZ\x00\x7f\x80\xff";

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        let b = if rng.below(3) == 0 {
            rng.byte()
        } else {
            *rng.pick(SPECIAL)
        };
        match rng.below(3) {
            0 if at < v.len() => v[at] = b,
            1 if at < v.len() => {
                v.remove(at);
            }
            _ => v.insert(at, b),
        }
    }
    v
}

#[test]
fn never_panics_and_verdicts_are_prefix_stable() {
    let mut rng = Rng::new(1);
    for round in 0..20_000 {
        let input: Vec<u8> = if round % 4 == 0 {
            (0..rng.below(200)).map(|_| rng.byte()).collect()
        } else {
            let seed = *rng.pick(SEEDS);
            mutate(&mut rng, seed)
        };
        let r = parse(&input);
        if let Ok(Some(h)) = &r {
            assert!(h.head_len <= input.len());
        }
        // Appending bytes never changes a verdict already given.
        if !matches!(r, Ok(None)) {
            let mut longer = input.clone();
            longer.extend_from_slice(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n");
            assert_eq!(
                summary(&r),
                summary(&parse(&longer)),
                "{:?}",
                String::from_utf8_lossy(&input)
            );
        }
        // Every prefix either waits or already gives the final verdict
        // (except where the target fast path makes it depend on how many
        // bytes are there, as in HAProxy).
        if round % 16 == 0 && !input.iter().any(|b| (0x7f..=0xa3).contains(b)) {
            for n in 0..input.len() {
                let p = parse(&input[..n]);
                if !matches!(p, Ok(None)) {
                    assert_eq!(
                        summary(&p),
                        summary(&r),
                        "prefix {n} of {:?}",
                        String::from_utf8_lossy(&input)
                    );
                    break;
                }
            }
        }
    }
}

#[test]
fn body_decoder_never_panics() {
    let mut rng = Rng::new(2);
    let seeds: &[&[u8]] = &[b"5;x\r\nhello\r\n0\r\nA: b\r\n\r\n", b"1\n\x00\n0\n\n"];
    for round in 0..20_000 {
        let input: Vec<u8> = if round % 3 == 0 {
            (0..rng.below(100)).map(|_| rng.byte()).collect()
        } else {
            let seed = *rng.pick(seeds);
            mutate(&mut rng, seed)
        };
        let framing = *rng.pick(&[Framing::Chunked, Framing::Length(7), Framing::None]);
        let mut dec = BodyDecoder::new(&framing);
        let mut buf = BytesMut::new();
        let mut fed = 0;
        let mut steps = 0;
        loop {
            steps += 1;
            assert!(steps < 10_000, "no progress");
            match dec.decode(&mut buf) {
                Ok(Some(BodyEvent::Data(d))) => assert!(!d.is_empty()),
                Ok(Some(BodyEvent::Trailers(_))) => {}
                Ok(Some(BodyEvent::End)) | Err(_) => break,
                Ok(None) if fed < input.len() => {
                    let n = (1 + rng.below(9)).min(input.len() - fed);
                    buf.extend_from_slice(&input[fed..fed + n]);
                    fed += n;
                }
                Ok(None) => break,
            }
        }
    }
}

/// Requests from the ground both parsers cover: tokens, plain targets,
/// HTTP/1.0 or 1.1, ordinary headers. httparse and HAProxy accept all of
/// them and must read the same method, target, version and headers.
#[test]
fn agrees_with_httparse_on_common_ground() {
    let mut rng = Rng::new(3);
    let methods = ["GET", "POST", "PUT", "OPTIONS", "X-CUSTOM", "patch"];
    let targets = ["/", "/a/b?c=d&e", "/%20x", "*", "/~u/!$&'()*+,;=:@"];
    let names = ["Accept", "x-foo", "User-Agent", "X_Y", "cookie", "A1"];
    let values = [
        "",
        "text/html",
        "a b  c",
        "q=\"x,y\"",
        "\u{e9}t\u{e9}",
        "1, 2",
    ];
    for _ in 0..2_000 {
        let method = *rng.pick(&methods);
        let target = *rng.pick(&targets);
        let v11 = rng.below(2) == 0;
        let mut req = format!("{method} {target} HTTP/1.{}\r\n", u8::from(v11)).into_bytes();
        let mut want = Vec::new();
        for _ in 0..rng.below(6) {
            let (n, v) = (*rng.pick(&names), *rng.pick(&values));
            req.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
            want.push((n.to_ascii_lowercase(), v.as_bytes().to_vec()));
        }
        req.extend_from_slice(b"\r\n");

        let mut hs = [httparse::EMPTY_HEADER; 16];
        let mut theirs = httparse::Request::new(&mut hs);
        let Ok(httparse::Status::Complete(n)) = theirs.parse(&req) else {
            panic!("httparse refused {:?}", String::from_utf8_lossy(&req));
        };
        let ours = ok(&req);
        assert_eq!(ours.head_len, n);
        assert_eq!(Some(ours.method.as_str()), theirs.method);
        assert_eq!(Some(ours.target.as_str()), theirs.path);
        assert_eq!(theirs.version, Some(u8::from(v11)));
        let theirs_h: Vec<(String, Vec<u8>)> = theirs
            .headers
            .iter()
            .map(|h| (h.name.to_ascii_lowercase(), h.value.to_vec()))
            .collect();
        assert_eq!(theirs_h, want);
        // HeaderMap groups repeated names; compare per name in order.
        for (name, _) in &want {
            let a: Vec<&[u8]> = ours
                .headers
                .get_all(name.as_str())
                .iter()
                .map(|v| v.as_bytes())
                .collect();
            let b: Vec<&[u8]> = want
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.as_slice())
                .collect();
            assert_eq!(a, b);
        }
    }
}

/// HeadParser fed in random pieces: never panics, never refuses what
/// parse_request accepts on the whole buffer, and when it gives a head it
/// is that same head. (It may wait where parse_request refuses: header
/// fields after the first read are only judged once the head is complete.)
#[test]
fn head_parser_pieces() {
    let l = Limits::default();
    let mut rng = Rng::new(6);
    for _ in 0..5_000 {
        let seed = *rng.pick(SEEDS);
        let input = mutate(&mut rng, seed);
        let whole = parse(&input);
        let mut p = HeadParser::new();
        let mut n = 0;
        let got = loop {
            if n == input.len() {
                break Ok(None);
            }
            n = (n + 1 + rng.below(16)).min(input.len());
            match p.parse(&input[..n], &l) {
                Ok(None) => {}
                r => break r,
            }
        };
        // The target fast path depends on how many bytes a read brought
        // (as in HAProxy): DEL and 0x80..=0xa3 may pass in one read and not
        // in another. Only check that nothing panicked then.
        if input.iter().any(|b| (0x7f..=0xa3).contains(b)) {
            continue;
        }
        match (&whole, &got) {
            (Ok(Some(_)), _) => assert_eq!(summary(&whole), summary(&got)),
            (Ok(None), _) => assert!(matches!(got, Ok(None))),
            (Err(a), Err(b)) => assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&input)),
            (Err(_), _) => assert!(matches!(got, Ok(None)), "{got:?}"),
        }
    }
}
