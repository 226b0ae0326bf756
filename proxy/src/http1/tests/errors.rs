//! HAProxy's error replies, compared with bytes captured live from Debian's
//! haproxy 2.6.12.

use super::*;

/// Captured for "Content-Length: 1" then "Content-Length: 2" (mux_h1 path).
const LIVE_400: &[u8] = b"HTTP/1.1 400 Bad request\r\nContent-length: 90\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n";
/// Captured for "GET / HTTP/1.0" with "Content-Length: 1".
const LIVE_413: &[u8] = b"HTTP/1.1 413 Payload Too Large\r\nContent-length: 106\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>413 Payload Too Large</h1>\nThe request entity exceeds the maximum allowed.\n</body></html>\n";
/// Captured for "Transfer-Encoding: gzip, chunked".
const LIVE_422: &[u8] = b"HTTP/1.1 422 Unprocessable Content\r\nContent-length: 116\r\nCache-Control: no-cache\r\nContent-Type: text/html\r\n\r\n<html><body><h1>422 Unprocessable Content</h1>\nThe server cannot process the contained instructions.\n</body></html>\n";
/// Captured after 3 s (timeout http-request) on "GET / HTTP/1.1\r\n", and
/// also on a connection that sent nothing at all.
const LIVE_408: &[u8] = b"HTTP/1.1 408 Request Time-out\r\nContent-length: 110\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n";

#[test]
fn raw_messages_match_haproxy() {
    assert_eq!(error_message(400), LIVE_400);
    assert_eq!(error_message(413), LIVE_413);
    assert_eq!(error_message(422), LIVE_422);
    assert_eq!(error_message(408), LIVE_408);
    // http_get_status_idx: anything unknown is a 500.
    assert_eq!(error_message(431), error_message(500));
    assert!(error_message(500).starts_with(b"HTTP/1.1 500 Internal Server Error\r\n"));
}

#[test]
fn every_message_is_well_formed() {
    for code in [
        200, 400, 401, 403, 404, 405, 407, 408, 410, 413, 421, 422, 425, 429, 500, 501, 502, 503,
        504,
    ] {
        let msg = error_message(code);
        let mut hdrs = [httparse::EMPTY_HEADER; 8];
        let mut resp = httparse::Response::new(&mut hdrs);
        let n = match resp.parse(msg).unwrap() {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => panic!("{code} partial"),
        };
        assert_eq!(resp.code, Some(code));
        let cl: usize = resp
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case("content-length"))
            .map(|h| std::str::from_utf8(h.value).unwrap().parse().unwrap())
            .unwrap();
        assert_eq!(cl, msg.len() - n, "{code}: content-length");
    }
}

#[test]
fn stream_messages_match_haproxy() {
    let render = |status, ka, v11| {
        let mut out = Vec::new();
        stream_error_message(status, ka, v11, &mut out);
        out
    };
    // live: http-request deny, HTTP/1.1, connection kept alive
    assert_eq!(
        render(403, true, true),
        &b"HTTP/1.1 403 Forbidden\r\ncontent-length: 93\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n"[..]
    );
    // live: deny, HTTP/1.0 (or 1.1 with Connection: close)
    assert_eq!(
        render(403, false, false),
        &b"HTTP/1.1 403 Forbidden\r\ncontent-length: 93\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n"[..]
    );
    assert_eq!(render(403, false, true), render(403, false, false));
    // live: deny, HTTP/1.0 with Connection: keep-alive
    assert_eq!(
        render(403, true, false),
        &b"HTTP/1.1 403 Forbidden\r\ncontent-length: 93\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: keep-alive\r\n\r\n<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n"[..]
    );
    // live: "PRI * HTTP/2.0\r\n\r\n" (stream-level 400, always closes)
    assert_eq!(
        render(400, false, true),
        &b"HTTP/1.1 400 Bad request\r\ncontent-length: 90\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n"[..]
    );
    // live: no server reachable (503), server sent garbage (502), server
    // too slow (504), HTTP/1.1 keep-alive
    assert_eq!(
        render(503, true, true),
        &b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 107\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n"[..]
    );
    assert_eq!(
        render(502, true, true),
        &b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 107\r\ncache-control: no-cache\r\ncontent-type: text/html\r\n\r\n<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n"[..]
    );
    assert_eq!(
        render(504, false, true),
        &b"HTTP/1.1 504 Gateway Time-out\r\ncontent-length: 92\r\ncache-control: no-cache\r\ncontent-type: text/html\r\nconnection: close\r\n\r\n<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n"[..]
    );
}

#[test]
fn replies_to_unfinished_requests() {
    use Incomplete::*;
    // live: a fresh connection that sends nothing gets 408 after
    // `timeout http-request`, or 400 if it shuts its side down; partial
    // heads the same.
    assert_eq!(
        incomplete_request_reply(Timeout, 0, false, false),
        Some(408)
    );
    assert_eq!(
        incomplete_request_reply(ReadClosed, 0, false, false),
        Some(400)
    );
    assert_eq!(
        incomplete_request_reply(Timeout, 16, false, false),
        Some(408)
    );
    // live: idle between requests: silent close on timeout or shutdown...
    assert_eq!(incomplete_request_reply(Timeout, 0, true, false), None);
    assert_eq!(incomplete_request_reply(ReadClosed, 0, true, false), None);
    // ...but a started second request gets 408 / 400 (live).
    assert_eq!(incomplete_request_reply(Timeout, 5, true, false), Some(408));
    assert_eq!(
        incomplete_request_reply(ReadClosed, 5, true, false),
        Some(400)
    );
    // option http-ignore-probes (from the source, h1_handle_req_tout)
    assert_eq!(incomplete_request_reply(Timeout, 0, false, true), None);
    assert_eq!(incomplete_request_reply(Timeout, 1, false, true), Some(408));
}
