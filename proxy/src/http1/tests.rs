//! Tests for the HTTP/1 codec.
//!
//! "live" in a comment means the case was sent to Debian's haproxy
//! 2.6.12-1+deb12u4 (frontend on 127.0.0.1, default tunables, no options,
//! `timeout http-request 3s`, an echo server behind it showing what was
//! forwarded) and the answer noted is what it gave.

mod body;
mod errors;
mod fuzz;
mod head;
mod response;

use super::*;

/// Parse with default limits.
fn parse(b: &[u8]) -> Result<Option<RequestHead>, HeadError> {
    parse_request(b, &Limits::default())
}

/// A complete head that must be accepted.
#[track_caller]
fn ok(b: &[u8]) -> RequestHead {
    match parse(b) {
        Ok(Some(h)) => h,
        other => panic!(
            "{:?}: expected a head, got {other:?}",
            String::from_utf8_lossy(b)
        ),
    }
}

/// The status a head must be refused with.
#[track_caller]
fn refused(b: &[u8]) -> u16 {
    match parse(b) {
        Err(e) => e.status(),
        other => panic!(
            "{:?}: expected a refusal, got {other:?}",
            String::from_utf8_lossy(b)
        ),
    }
}

/// A header's value as a string (first one).
#[track_caller]
fn hv<'a>(h: &'a RequestHead, name: &str) -> &'a [u8] {
    h.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} in {:?}", h.headers))
        .as_bytes()
}

#[test]
fn only_a_close_forced_by_transfer_encoding_keeps_the_server_connection_from_reuse() {
    // (close, close_forced) for each head.
    let cases: [(&[u8], (bool, bool)); 5] = [
        (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", (false, false)),
        (b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", (true, false)),
        (b"GET / HTTP/1.0\r\n\r\n", (false, false)),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            (true, true),
        ),
        (
            b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            (true, true),
        ),
    ];
    for (head, want) in cases {
        let h = ok(head);
        assert_eq!(
            (h.close, h.close_forced),
            want,
            "{:?}",
            String::from_utf8_lossy(head)
        );
    }
}
