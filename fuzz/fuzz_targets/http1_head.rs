//! The proxy's HTTP/1 parsers on client and server bytes: a request head,
//! then its body as framed; a server's response head. Parsed, incomplete
//! or refused with a status, never a panic; the body decoder consumes only
//! what it was given.
#![no_main]
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use xlb_proxy::http1::{self, BodyDecoder, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, input)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();
    if sel & 1 == 1 {
        let _ = http1::parse_response(input, limits.max_headers);
        return;
    }
    if let Ok(Some(head)) = http1::parse_request(input, &limits) {
        let rest = input.get(head.head_len..).unwrap_or_default();
        let mut buf = BytesMut::from(rest);
        let mut decoder = BodyDecoder::with_limits(&head.framing, &limits);
        for _ in 0..rest.len() + 2 {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(_)) => assert!(buf.len() <= before),
                Ok(None) | Err(_) => break,
            }
        }
    }
});
