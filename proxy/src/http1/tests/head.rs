//! Request heads: every rule with the answer HAProxy gives.

use super::*;
use http::{Method, Version};

#[derive(Debug, PartialEq)]
enum Want {
    /// Accepted (a complete head).
    Ok,
    /// Refused by the HTTP/1 layer with this status.
    Err(u16),
    /// Waiting for more bytes.
    More,
}

fn outcome(b: &[u8]) -> Want {
    match parse(b) {
        Ok(Some(_)) => Want::Ok,
        Ok(None) => Want::More,
        Err(HeadError::Status(s)) => Want::Err(s),
        Err(HeadError::Stream(s)) => Want::Err(1000 + s),
    }
}

/// Each case was sent live to Debian's haproxy 2.6.12 and got the answer
/// in the table (Ok: forwarded to the server and its 200 relayed).
#[test]
fn rules_table() {
    use Want::*;
    let cases: &[(&str, &[u8], Want)] = &[
        // Content-Length (h1_parse_cont_len_header, 2.6.12 + CVE-2023-40225)
        ("cl dup diff", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", Err(400)),
        ("cl dup same", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab", Ok),
        ("cl list same", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nab", Ok),
        ("cl list spaced", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2 , 2\r\n\r\nab", Ok),
        ("cl list then single", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2,2\r\n\r\nab", Ok),
        ("cl list diff", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 3\r\n\r\nab", Err(400)),
        ("cl empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\nab", Err(400)),
        ("cl comma only", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,\r\n\r\nab", Err(400)),
        ("cl trailing comma", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2,\r\n\r\nab", Err(400)),
        ("cl leading comma", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ,2\r\n\r\nab", Err(400)),
        ("cl empty element", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2,,2\r\n\r\nab", Err(400)),
        ("cl plus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +2\r\n\r\nab", Err(400)),
        ("cl minus", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\nab", Err(400)),
        ("cl hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x2\r\n\r\nab", Err(400)),
        ("cl space inside", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\nab", Err(400)),
        ("cl tabs", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\t2\t\r\n\r\nab", Ok),
        ("cl leading zeros", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 002\r\n\r\nab", Ok),
        ("cl i64 max", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", Ok),
        ("cl 2^63", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775808\r\n\r\n", Err(400)),
        ("cl 2^63+5", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775813\r\n\r\n", Ok),
        ("cl 1e19", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000000000000000\r\n\r\n", Ok),
        ("cl u64 max", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n", Ok),
        ("cl u64 max+1", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", Ok),
        ("cl 1e20", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000000000000000000\r\n\r\n", Err(400)),
        ("cl 99.. 20 digits", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", Err(400)),
        // Transfer-Encoding (h1_parse_xfer_enc_header, end of
        // h1_headers_to_hdr_list, mux_h1 h1_handle_headers)
        ("te chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Ok),
        ("te CHUNKED", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n", Ok),
        ("te padded", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:   chunked   \r\n\r\n", Ok),
        ("te chunked,", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked,\r\n\r\n", Ok),
        ("te gzip", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", Err(400)),
        ("te identity", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", Err(400)),
        ("te empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", Err(400)),
        ("te quoted", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", Err(400)),
        ("te with params", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", Err(400)),
        ("te gzip, chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Err(422)),
        ("te ,chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked\r\n\r\n", Err(422)),
        ("te two headers", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", Err(422)),
        ("te chunked, gzip", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Err(400)),
        ("te chunked twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Err(400)),
        ("te + cl", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Ok),
        ("te 1.0", b"POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Ok),
        // HTTP/1.0 GET/HEAD/DELETE with a body: 413 (before 422)
        ("get 1.0 cl", b"GET / HTTP/1.0\r\nHost: a\r\nContent-Length: 2\r\n\r\nab", Err(413)),
        ("get 1.0 cl 0", b"GET / HTTP/1.0\r\nHost: a\r\nContent-Length: 0\r\n\r\n", Ok),
        ("head 1.0 te", b"HEAD / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Err(413)),
        ("delete 1.0 cl", b"DELETE / HTTP/1.0\r\nHost: a\r\nContent-Length: 2\r\n\r\nab", Err(413)),
        ("post 1.0 cl", b"POST / HTTP/1.0\r\nHost: a\r\nContent-Length: 2\r\n\r\nab", Ok),
        ("get 1.1 cl", b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab", Ok),
        ("get 1.0 gzip,chunked", b"GET / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Err(413)),
        ("get 1.0 te+cl0", b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", Err(413)),
        // Leading empty lines and line endings
        ("leading crlf", b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok),
        ("leading lf", b"\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", Ok),
        ("leading cr alone", b"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
        ("leading space", b" GET / HTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
        ("bare lf everywhere", b"GET / HTTP/1.1\nHost: a\n\n", Ok),
        ("bare lf at end", b"GET / HTTP/1.1\r\nHost: a\r\n\n", Ok),
        ("bare cr in value", b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", Err(400)),
        // Method
        ("method bad char", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
        ("method extension", b"FOO-BAR / HTTP/1.1\r\nHost: a\r\n\r\n", Ok),
        ("method lower case", b"get / HTTP/1.1\r\nHost: a\r\n\r\n", Ok),
        ("method long", b"ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\nHost: a\r\n\r\n", Ok),
        ("PRI", b"PRI * HTTP/2.0\r\n\r\n", Err(1400)),
        ("pri lower case", b"pri / HTTP/1.1\r\n\r\n", Err(1400)),
        // Separators and target
        ("several spaces", b"GET   /   HTTP/1.1\r\nHost: a\r\n\r\n", Ok),
        ("tabs", b"GET\t/\tHTTP/1.1\r\nHost: a\r\n\r\n", Ok),
        ("target 0x80", b"GET /\x80 HTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
        ("target control", b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
        ("target DEL", b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
        ("target #", b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
        ("target *", b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", Ok),
        ("GET *", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Ok),
        ("GET *x", b"GET *x HTTP/1.1\r\nHost: a\r\n\r\n", Ok),
        ("target specials", b"GET /a\"<>{}|\\^` HTTP/1.1\r\nHost: a\r\n\r\n", Ok),
        // Version (h1_process_req_vsn, strict)
        ("HTTP/0.9 form", b"GET /\r\n\r\n", Err(400)),
        ("HTTP/0.9 alone", b"GET /\r\n", Err(400)),
        ("no target", b"GET\r\n\r\n", Err(400)),
        ("no target bare lf", b"GET\n", Err(400)),
        ("version lower case", b"GET / http/1.1\r\nHost: a\r\n\r\n", Err(400)),
        ("version 1.2", b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", Ok),
        ("version 2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Ok),
        ("version 0.9", b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", Ok),
        ("version 1.10", b"GET / HTTP/1.10\r\nHost: a\r\n\r\n", Err(400)),
        ("version 10", b"GET / HTTP/10\r\nHost: a\r\n\r\n", Err(400)),
        ("version XTTP", b"GET / XTTP/1.1\r\nHost: a\r\n\r\n", Err(400)),
        ("version trailing space", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", Err(400)),
        ("version extra word", b"GET / HTTP/1.1 x\r\nHost: a\r\n\r\n", Err(400)),
        // Header names and lines
        ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Err(400)),
        ("empty name", b"GET / HTTP/1.1\r\n: a\r\nHost: a\r\n\r\n", Err(400)),
        ("bad name char", b"GET / HTTP/1.1\r\nHo(st: a\r\n\r\n", Err(400)),
        ("name 0x80", b"GET / HTTP/1.1\r\nHost: a\r\nX\x80A: b\r\n\r\n", Err(400)),
        ("no colon", b"GET / HTTP/1.1\r\nHost a\r\n\r\n", Err(400)),
        ("leading ws on first line", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", Err(400)),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", Ok),
        ("obs-fold tab", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", Ok),
        ("obs-fold after colon", b"GET / HTTP/1.1\r\nX:\r\n b\r\nHost: a\r\n\r\n", Ok),
        ("value obs-text", b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\xe9c\r\n\r\n", Ok),
        ("value empty", b"GET / HTTP/1.1\r\nHost: a\r\nX-A:\r\n\r\n", Ok),
        ("value spaces", b"GET / HTTP/1.1\r\nHost: a\r\nX-A:    \r\n\r\n", Ok),
        // Host (duplicates, and against the target's authority)
        ("host dup same", b"GET / HTTP/1.1\r\nHost: a\r\nHost: A\r\n\r\n", Ok),
        ("host dup diff", b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Err(400)),
        ("host dup folded same", b"GET / HTTP/1.1\r\nHost: a\r\nHost:\r\n a\r\n\r\n", Ok),
        ("no host 1.1", b"GET / HTTP/1.1\r\n\r\n", Ok),
        ("abs host match", b"GET http://a.com/x HTTP/1.1\r\nHost: a.com\r\n\r\n", Ok),
        ("abs host mismatch", b"GET http://a.com/x HTTP/1.1\r\nHost: b.com\r\n\r\n", Err(400)),
        ("abs host case", b"GET http://A.com/x HTTP/1.1\r\nHost: a.COM\r\n\r\n", Ok),
        ("abs userinfo", b"GET http://u:p@a.com/x HTTP/1.1\r\nHost: a.com\r\n\r\n", Ok),
        ("abs userinfo mismatch", b"GET http://a.com@b.com/ HTTP/1.1\r\nHost: a.com\r\n\r\n", Err(400)),
        ("abs :80 both", b"GET http://a.com:80/x HTTP/1.1\r\nHost: a.com:80\r\n\r\n", Ok),
        ("abs :80 host bare", b"GET http://a.com:80/x HTTP/1.1\r\nHost: a.com\r\n\r\n", Ok),
        ("abs bare host :80", b"GET http://a.com/ HTTP/1.1\r\nHost: a.com:80\r\n\r\n", Ok),
        ("abs :8080 host bare", b"GET http://a.com:8080/ HTTP/1.1\r\nHost: a.com\r\n\r\n", Err(400)),
        ("abs https :80", b"GET https://a.com:80/ HTTP/1.1\r\nHost: a.com\r\n\r\n", Err(400)),
        ("abs https :443", b"GET https://a.com:443/x HTTP/1.1\r\nHost: a.com:443\r\n\r\n", Ok),
        ("abs ftp :21", b"GET ftp://a.com:21/x HTTP/1.1\r\nHost: a.com\r\n\r\n", Err(400)),
        ("abs empty port", b"GET http://a.com:/ HTTP/1.1\r\nHost: a.com\r\n\r\n", Ok),
        ("abs host trailing colon", b"GET http://a.com/ HTTP/1.1\r\nHost: a.com:\r\n\r\n", Ok),
        ("abs no host header", b"GET http://a.com/x HTTP/1.1\r\n\r\n", Ok),
        ("abs no slash", b"GET http://a.com HTTP/1.1\r\nHost: a.com\r\n\r\n", Ok),
        ("abs upper scheme", b"GET HTTP://a.com:80/x HTTP/1.1\r\nHost: a.com\r\n\r\n", Ok),
        ("abs empty host", b"GET http://a.com/ HTTP/1.1\r\nHost:\r\n\r\n", Err(400)),
        ("abs second host differs", b"GET http://a.com/x HTTP/1.1\r\nHost: a.com\r\nHost: b.com\r\n\r\n", Err(400)),
        ("no scheme mismatch", b"GET a.com/x HTTP/1.1\r\nHost: b.com\r\n\r\n", Err(400)),
        ("no scheme match", b"GET a.com/x HTTP/1.1\r\nHost: a.com\r\n\r\n", Ok),
        ("authority form not CONNECT", b"GET a.com:80 HTTP/1.1\r\nHost: a.com\r\n\r\n", Err(400)),
        // CONNECT (h1_validate_connect_authority)
        ("connect same", b"CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\n\r\n", Ok),
        ("connect host default port", b"CONNECT a.com:443 HTTP/1.1\r\nHost: a.com\r\n\r\n", Ok),
        ("connect no port", b"CONNECT a.com HTTP/1.1\r\nHost: a.com\r\n\r\n", Err(400)),
        ("connect empty port", b"CONNECT a.com: HTTP/1.1\r\nHost: a.com\r\n\r\n", Err(400)),
        ("connect path", b"CONNECT /x HTTP/1.1\r\nHost: a.com\r\n\r\n", Err(400)),
        ("connect 8443 host bare", b"CONNECT a.com:8443 HTTP/1.1\r\nHost: a.com\r\n\r\n", Err(400)),
        ("connect body", b"CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\nContent-Length: 2\r\n\r\nab", Ok),
        ("connect 1.0", b"CONNECT a.com:443 HTTP/1.0\r\n\r\n", Ok),
        ("connect gzip,chunked", b"CONNECT a.com:443 HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Err(422)),
        // Websocket (mux_h1 h1_search_websocket_key)
        ("ws ok", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n", Ok),
        ("ws no key", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", Err(400)),
        ("ws short key", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: abc\r\n\r\n", Err(400)),
        ("ws without connection upgrade", b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", Ok),
        ("ws with a body", b"POST / HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n\r\nab", Ok),
        ("upgrade h2c", b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n", Ok),
        // Incomplete heads wait
        ("request line only", b"GET / HTTP/1.1\r\n", More),
        ("headers unfinished", b"GET / HTTP/1.1\r\nHost: a\r\n", More),
        ("empty", b"", More),
        ("empty lines", b"\r\n\r\n", More),
    ];
    let mut failed = Vec::new();
    for (name, bytes, want) in cases {
        let got = outcome(bytes);
        if got != *want {
            failed.push(format!("{name}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// What HAProxy forwarded for accepted heads (live, echo server).
#[test]
fn forwarded_as_haproxy_forwards() {
    // "002" stays as it came; lists collapse to one value.
    let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 002\r\n\r\nab");
    assert_eq!(hv(&h, "content-length"), b"002");
    assert_eq!(h.framing, Framing::Length(2));
    let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2, 2\r\n\r\nab");
    assert_eq!(hv(&h, "content-length"), b"2");
    let h = ok(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab");
    assert_eq!(h.headers.get_all("content-length").iter().count(), 1);

    // The overflow HAProxy lets through: the value is forwarded unchanged
    // while HAProxy itself frames the body with the wrapped number.
    let h = ok(b"POST / HTTP/1.1\r\nContent-Length: 10000000000000000000\r\n\r\n");
    assert_eq!(h.framing, Framing::Length(10_000_000_000_000_000_000));
    let h = ok(b"POST / HTTP/1.1\r\nContent-Length: 18446744073709551616\r\n\r\n");
    assert_eq!(h.framing, Framing::None);
    assert_eq!(hv(&h, "content-length"), b"18446744073709551616");

    // TE + CL: CL removed, connection closes after the response (live: the
    // pipelined request after it was never served).
    let h = ok(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
    );
    assert!(h.headers.get("content-length").is_none());
    assert_eq!(h.framing, Framing::Chunked);
    assert!(!h.keep_alive);
    assert_eq!(hv(&h, "transfer-encoding"), b"chunked");
    let h = ok(b"POST / HTTP/1.1\r\nTransfer-Encoding: CHUNKED\r\n\r\n");
    assert_eq!(hv(&h, "transfer-encoding"), b"CHUNKED");
    assert_eq!(h.framing, Framing::Chunked);
    // HTTP/1.0 with TE closes even with keep-alive asked.
    let h = ok(b"POST / HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert!(!h.keep_alive);

    // Folding becomes spaces: CR and LF each turn into one.
    let h = ok(b"GET / HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n");
    assert_eq!(hv(&h, "x-a"), b"b   c");
    let h = ok(b"GET / HTTP/1.1\r\nX-A: b\r\n\tc\r\n\r\n");
    assert_eq!(hv(&h, "x-a"), b"b  \tc");
    let h = ok(b"GET / HTTP/1.1\r\nX:\r\n b\r\n\r\n");
    assert_eq!(hv(&h, "x"), b"b");
    // Trimming, empty values, obs-text, name case.
    let h = ok(b"GET / HTTP/1.1\r\nX-A: \t b c \t \r\nX-B:\r\nX-C:   \r\nX-D: b\xe9c\r\nX-Foo-BAR: 1\r\n\r\n");
    assert_eq!(hv(&h, "x-a"), b"b c");
    assert_eq!(hv(&h, "x-b"), b"");
    assert_eq!(hv(&h, "x-c"), b"");
    assert_eq!(hv(&h, "x-d"), b"b\xe9c");
    assert_eq!(hv(&h, "x-foo-bar"), b"1");
    assert_eq!(
        h.headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
        ["x-a", "x-b", "x-c", "x-d", "x-foo-bar"]
    );

    // Repeated identical Host dropped, the first one's case kept.
    let h = ok(b"GET / HTTP/1.1\r\nHost: A\r\nhost: a\r\n\r\n");
    assert_eq!(h.headers.get_all("host").iter().count(), 1);
    assert_eq!(hv(&h, "host"), b"A");

    // Default ports leave absolute-form targets and Host.
    let h = ok(b"GET http://a.com:80/x HTTP/1.1\r\nHost: a.com:80\r\n\r\n");
    assert_eq!(h.target, "http://a.com/x");
    assert_eq!(hv(&h, "host"), b"a.com");
    let h = ok(b"GET https://a.com:443/x HTTP/1.1\r\nHost: a.com:443\r\n\r\n");
    assert_eq!(h.target, "https://a.com/x");
    assert_eq!(hv(&h, "host"), b"a.com");
    let h = ok(b"GET HTTP://a.com:80/x HTTP/1.1\r\nHost: a.com\r\n\r\n");
    assert_eq!(h.target, "HTTP://a.com/x");
    let h = ok(b"GET http://a.com:/ HTTP/1.1\r\nHost: a.com\r\n\r\n");
    assert_eq!(h.target, "http://a.com/");
    // ...but only when the target has the port.
    let h = ok(b"GET http://a.com/ HTTP/1.1\r\nHost: a.com:80\r\n\r\n");
    assert_eq!(h.target, "http://a.com/");
    assert_eq!(hv(&h, "host"), b"a.com:80");
    let h = ok(b"GET http://a.com/ HTTP/1.1\r\nHost: a.com:\r\n\r\n");
    assert_eq!(hv(&h, "host"), b"a.com:");
    let h = ok(b"GET http://a.com:80/x HTTP/1.1\r\n\r\n");
    assert_eq!(h.target, "http://a.com/x");
    assert!(h.headers.get("host").is_none());
    let h = ok(b"GET http://u:p@a.com:80/x HTTP/1.1\r\nHost: a.com\r\n\r\n");
    assert_eq!(h.target, "http://u:p@a.com/x");

    // CONNECT: Host loses a default port, Content-Length is not forwarded
    // and there is no body.
    let h = ok(b"CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\nContent-Length: 2\r\n\r\nab");
    assert_eq!(h.target, "a.com:443");
    assert_eq!(hv(&h, "host"), b"a.com");
    assert!(h.headers.get("content-length").is_none());
    assert_eq!(h.framing, Framing::None);
    assert_eq!(h.method, Method::CONNECT);
    let h = ok(b"CONNECT a.com:443 HTTP/1.1\r\nContent-Length: 00\r\n\r\n");
    assert_eq!(hv(&h, "content-length"), b"00");
    let h = ok(b"CONNECT a.com:443 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    assert_eq!(
        (hv(&h, "transfer-encoding"), h.framing),
        (&b"chunked"[..], Framing::None)
    );

    // "TE" towards the server: only "trailers" (live, each line below).
    for (te, fwd) in [
        (&b"trailers"[..], Some(&b"trailers"[..])),
        (b"deflate, trailers", Some(b"trailers")),
        (b"trailers, deflate", Some(b"trailers")),
        (b"xtrailers", Some(b"trailers")),
        (b"trailers;q=1", None),
        (b"Trailers", None),
        (b"gzip", None),
    ] {
        let mut req = b"GET / HTTP/1.1\r\nTE: ".to_vec();
        req.extend_from_slice(te);
        req.extend_from_slice(b"\r\n\r\n");
        let h = ok(&req);
        assert_eq!(
            h.headers.get("te").map(|v| v.as_bytes()),
            fwd,
            "{:?}",
            String::from_utf8_lossy(te)
        );
    }

    // Connection: close and keep-alive removed, the rest re-joined.
    let h = ok(b"GET / HTTP/1.1\r\nConnection: foo, keep-alive, bar\r\n\r\n");
    assert_eq!(hv(&h, "connection"), b"foo,bar");
    assert!(h.keep_alive);
    let h = ok(b"GET / HTTP/1.1\r\nConnection: foo\r\nConnection: close\r\n\r\n");
    assert_eq!(h.headers.get_all("connection").iter().count(), 1);
    assert_eq!(hv(&h, "connection"), b"foo");
    assert!(!h.keep_alive);
    let h = ok(b"GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n");
    assert!(h.headers.get("connection").is_none());
    assert!(!h.keep_alive);
    let h = ok(b"GET / HTTP/1.1\r\nConnection: \"close\"\r\n\r\n");
    assert_eq!(hv(&h, "connection"), b"\"close\"");
    assert!(h.keep_alive);

    // Websocket: kept with its key; dropped when there is a body.
    let h = ok(b"GET / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
    assert_eq!(h.upgrade.as_deref(), Some("websocket"));
    assert_eq!(hv(&h, "connection"), b"upgrade");
    let h = ok(b"POST / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: websocket\r\nContent-Length: 2\r\n\r\nab");
    assert_eq!(h.upgrade, None);
    assert!(h.headers.get("upgrade").is_none());
    assert_eq!(hv(&h, "connection"), b"upgrade");
    let h = ok(b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
    assert_eq!(h.upgrade, None);
    let h = ok(b"GET / HTTP/1.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n");
    assert_eq!(h.upgrade.as_deref(), Some("h2c"));
    assert_eq!(hv(&h, "connection"), b"Upgrade, HTTP2-Settings");
}

#[test]
fn versions_and_keep_alive() {
    // h1_set_cli_conn_mode: close unless 1.1 or keep-alive; close wins.
    let cases: &[(&[u8], Version, bool)] = &[
        (b"GET / HTTP/1.1\r\n\r\n", Version::HTTP_11, true),
        (
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
            Version::HTTP_11,
            false,
        ),
        (b"GET / HTTP/1.0\r\n\r\n", Version::HTTP_10, false),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
            Version::HTTP_10,
            true,
        ),
        (
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
            Version::HTTP_10,
            true,
        ),
        (
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n",
            Version::HTTP_10,
            false,
        ),
        // forwarded as HTTP/1.1 (live)
        (b"GET / HTTP/1.2\r\n\r\n", Version::HTTP_11, true),
        (b"GET / HTTP/2.0\r\n\r\n", Version::HTTP_11, true),
        // forwarded as "HTTP/0.9" and the connection closed (live)
        (b"GET / HTTP/0.9\r\n\r\n", Version::HTTP_09, false),
    ];
    for (b, v, ka) in cases {
        let h = ok(b);
        assert_eq!(
            (h.version, h.keep_alive),
            (*v, *ka),
            "{:?}",
            String::from_utf8_lossy(b)
        );
    }
}

#[test]
fn expect_continue() {
    // http_handle_expect_hdr: HTTP/1.1 with a body.
    assert!(
        ok(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n").expect_continue
    );
    assert!(
        ok(b"POST / HTTP/1.1\r\nExpect: 100-Continue\r\nTransfer-Encoding: chunked\r\n\r\n")
            .expect_continue
    );
    assert!(
        !ok(b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
            .expect_continue
    );
    assert!(!ok(b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    assert!(!ok(b"POST / HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n").expect_continue);
}

#[test]
fn method_and_target() {
    let h = ok(b"FOO-BAR /a?b=c HTTP/1.1\r\n\r\n");
    assert_eq!(h.method.as_str(), "FOO-BAR");
    assert_eq!(h.target, "/a?b=c");
    // Method names are case-sensitive: "get" is not GET (so no 413 either).
    let h = ok(b"get / HTTP/1.0\r\nContent-Length: 2\r\n\r\n");
    assert_ne!(h.method, Method::GET);
    assert_eq!(h.framing, Framing::Length(2));
}

#[test]
fn head_len_and_pipelining() {
    // Live: three pipelined requests answered in order, the third with
    // "Connection: close" ends the connection and the fourth is ignored.
    let buf = b"\r\nGET /1 HTTP/1.1\r\nHost: a\r\n\r\nPOST /2 HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET /3 HTTP/1.1\r\nConnection: close\r\n\r\nGET /4 HTTP/1.1\r\n\r\n";
    let mut rest: &[u8] = buf;
    let mut seen = Vec::new();
    loop {
        let h = ok(rest);
        rest = &rest[h.head_len..];
        let mut dec = BodyDecoder::new(&h.framing);
        let mut bm = bytes::BytesMut::from(rest);
        let mut body = Vec::new();
        while let Some(ev) = dec.decode(&mut bm).unwrap() {
            if let BodyEvent::Data(d) = ev {
                body.extend_from_slice(&d);
            }
        }
        rest = &rest[rest.len() - bm.len()..];
        seen.push((h.target.clone(), body));
        if !h.keep_alive {
            break;
        }
    }
    assert_eq!(
        seen,
        [
            ("/1".to_string(), vec![]),
            ("/2".to_string(), b"ab".to_vec()),
            ("/3".to_string(), vec![])
        ]
    );
    assert_eq!(rest, b"GET /4 HTTP/1.1\r\n\r\n");
    // Leading empty lines count in head_len.
    assert_eq!(ok(b"\r\n\nGET / HTTP/1.1\r\n\r\nX").head_len, 21);
}

#[test]
fn every_prefix_of_a_valid_head_waits() {
    // HAProxy needs the byte after a header line's end to complete it
    // (it could be a fold), so nothing is decided before the final LF.
    let heads: &[&[u8]] = &[
        b"POST /x HTTP/1.1\r\nHost: a.com\r\nX-A: b\r\n c\r\nContent-Length: 3\r\n\r\n",
        b"\r\n\nGET http://a.com:80/ HTTP/1.0\nConnection: keep-alive\n\n",
        b"CONNECT a.com:443 HTTP/1.1\r\nHost: a.com\r\n\r\n",
    ];
    for head in heads {
        for n in 0..head.len() {
            assert!(
                matches!(parse(&head[..n]), Ok(None)),
                "prefix {:?}",
                String::from_utf8_lossy(&head[..n])
            );
        }
        let h = ok(head);
        assert_eq!(h.head_len, head.len());
    }
}

#[test]
fn errors_are_reported_as_soon_as_haproxy_sees_them() {
    // The state machine refuses on the offending byte, complete or not.
    assert_eq!(refused(b"G("), 400);
    assert_eq!(refused(b"GET /\x01"), 400);
    assert_eq!(refused(b"GET / HTTP/1.1 "), 400);
    assert_eq!(refused(b"GET / HTTP/1.1\r\nHost :"), 400);
    assert_eq!(refused(b"GET / HTTP/1.1\r\nA: b\rx"), 400);
    // A header is judged once the next line starts.
    assert_eq!(refused(b"GET / HTTP/1.1\r\nContent-Length: x\r\nH"), 400);
    assert!(matches!(
        parse(b"GET / HTTP/1.1\r\nContent-Length: x\r\n"),
        Ok(None)
    ));
    // Version and 413/422 only once the head is complete.
    assert!(matches!(parse(b"GET / HTTP/1.10\r\nA: b\r\n"), Ok(None)));
    assert_eq!(refused(b"GET / HTTP/1.10\r\nA: b\r\n\r\n"), 400);
}

#[test]
fn limits() {
    // Live bisection: with "GET / HTTP/1.1", "Host: a" and one header
    // "X: aaa...", 15273 bytes are accepted and 15274 refused (HTX size
    // 15313 > 15312).
    let build = |total: usize| {
        let mut v = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
        v.resize(total - 4, b'a');
        v.extend_from_slice(b"\r\n\r\n");
        v
    };
    assert!(matches!(parse(&build(15273)), Ok(Some(_))));
    assert_eq!(refused(&build(15274)), 400);
    // Live: an unfinished head of 16319 bytes waits, 16320 get 400.
    let l = Limits::default();
    assert_eq!(
        (l.max_head, l.max_headers, l.max_buffered),
        (15312, 101, 16320)
    );
    assert!(!too_large(16319, &l));
    assert!(too_large(16320, &l));
    // Live: 100 headers pass, 101 get 400.
    let many = |k: usize| {
        let mut v = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..k {
            v.extend_from_slice(format!("X{i}: a\r\n").as_bytes());
        }
        v.extend_from_slice(b"\r\n");
        v
    };
    assert!(matches!(parse(&many(100)), Ok(Some(_))));
    assert_eq!(refused(&many(101)), 400);
    // Dropped duplicates do not take a slot, but the list must not be
    // full when they arrive.
    let with = |k: usize, extra: &[u8]| {
        let mut v = many(k);
        v.truncate(v.len() - 2);
        v.extend_from_slice(extra);
        v.extend_from_slice(b"\r\n");
        v
    };
    assert!(matches!(
        parse(&with(99, b"Host: a\r\nHost: a\r\n")),
        Ok(Some(_))
    ));
    assert!(matches!(
        parse(&with(99, b"Content-Length: 0\r\nContent-Length: 0\r\n")),
        Ok(Some(_))
    ));
    assert_eq!(refused(&with(100, b"Host: a\r\n")), 400);
    // Smaller tunables.
    let small = Limits::from_tune(1024, 512, 5);
    assert_eq!(small.max_head, 464);
    assert!(matches!(parse_request(&many(4), &small), Ok(Some(_))));
    assert_eq!(
        parse_request(&many(5), &small).unwrap_err(),
        HeadError::Status(400)
    );
}

#[test]
fn target_fast_path_quirk() {
    // Live: HAProxy's 4-byte fast path lets DEL through when it shares a
    // group with ordinary bytes, counting from the target's first byte.
    let h = ok(b"POST ,x\x7f?y HTTP/1.1\r\nHo#st: a.com\r\n\r\n");
    assert_eq!(h.target, ",x\u{7f}?y");
    // "/\x7f" + " " + "H": the group holds the space, so byte checks: 400.
    assert_eq!(refused(b"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400);
    // Byte checks go on to the end once a group fails.
    assert_eq!(refused(b"GET !/ab\x7f HTTP/1.1\r\n\r\n"), 400);
    // '#' never passes (0x23 is below the fast path's range).
    assert_eq!(refused(b"GET /ab#d HTTP/1.1\r\n\r\n"), 400);
    // Live: "/x?\x80" was forwarded too; 0x80..=0xa3 cannot be held in
    // the target string, so xlb answers 400 there (a known difference).
    assert_eq!(refused(b"POST /x?\x80 HTTP/1.1\r\n\r\n"), 400);
}

#[test]
fn values_http_cannot_carry() {
    // Live: HAProxy 2.6 forwards control bytes, NUL and DEL in values
    // ("x-a: b\x01c" reached the server). http::HeaderValue cannot hold
    // them, so xlb refuses these heads with 400: a known difference.
    assert_eq!(refused(b"GET / HTTP/1.1\r\nX-A: b\x01c\r\n\r\n"), 400);
    assert_eq!(refused(b"GET / HTTP/1.1\r\nX-A: b\x00c\r\n\r\n"), 400);
    assert_eq!(refused(b"GET / HTTP/1.1\r\nX-A: b\x7fc\r\n\r\n"), 400);
}

#[test]
fn h2_preface_detection() {
    assert_eq!(h2_preface(H2_PREFACE), Some(true));
    assert_eq!(h2_preface(&H2_PREFACE[..10]), None);
    assert_eq!(h2_preface(b""), None);
    assert_eq!(h2_preface(b"GET / HTTP/1.1\r\n"), Some(false));
    // A partial preface parses as an HTTP/1 "PRI" request, refused by the
    // stream layer (live: lower-case 400 with connection: close).
    assert_eq!(
        parse(&H2_PREFACE[..18]).unwrap_err(),
        HeadError::Stream(400)
    );
}

#[test]
fn head_parser_checks_fields_in_the_first_read_only() {
    let l = Limits::default();
    // Live: "GET / HTTP/1.1\r\n", then "Content-Length: x\r\nHost: a\r\n":
    // no answer until the 408 of `timeout http-request`; with the final
    // CRLF the re-parse finds the bad length: 400.
    let mut p = HeadParser::new();
    let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
    assert!(matches!(p.parse(&buf, &l), Ok(None)));
    buf.extend_from_slice(b"Content-Length: x\r\nHost: a\r\n");
    assert!(matches!(p.parse(&buf, &l), Ok(None)));
    assert_eq!(
        parse(&buf).unwrap_err(),
        HeadError::Status(400),
        "stateless: at once"
    );
    buf.extend_from_slice(b"\r\n");
    assert_eq!(p.parse(&buf, &l).unwrap_err(), HeadError::Status(400));
    // Live: all in one read: 400 at once.
    let mut p = HeadParser::new();
    assert_eq!(
        p.parse(b"GET / HTTP/1.1\r\nContent-Length: x\r\nHost: a\r\n", &l)
            .unwrap_err(),
        HeadError::Status(400)
    );
    // Live: empty lines first do not count as the first read.
    let mut p = HeadParser::new();
    assert!(matches!(p.parse(b"\r\n", &l), Ok(None)));
    assert_eq!(
        p.parse(
            b"\r\nGET / HTTP/1.1\r\nContent-Length: x\r\nHost: a\r\n",
            &l
        )
        .unwrap_err(),
        HeadError::Status(400)
    );
    // Live: 105 headers after the request line's read: 408, not 400.
    let mut p = HeadParser::new();
    let mut buf = b"GET / HTTP/1.1\r\n".to_vec();
    assert!(matches!(p.parse(&buf, &l), Ok(None)));
    for i in 0..105 {
        buf.extend_from_slice(format!("X{i}: a\r\n").as_bytes());
    }
    assert!(matches!(p.parse(&buf, &l), Ok(None)));
    // Syntax errors are seen in any read.
    buf.extend_from_slice(b"Bad Name: x\r\n");
    assert_eq!(p.parse(&buf, &l).unwrap_err(), HeadError::Status(400));
}

#[test]
fn head_parser_in_pieces_equals_parse_request() {
    use super::fuzz::Rng;
    let l = Limits::default();
    let mut rng = Rng::new(5);
    let heads: &[&[u8]] = &[
        b"POST /x HTTP/1.1\r\nHost: a.com\r\nX-A: b\r\n c\r\nContent-Length: 3\r\nConnection: x, close\r\n\r\nabc",
        b"\r\n\nGET http://a.com:80/ HTTP/1.0\nConnection: keep-alive\nHost: a.com\n\nGET",
        b"CONNECT a.com:443 HTTP/1.1\r\nHost: a.com\r\nTE: trailers\r\n\r\n",
    ];
    for head in heads {
        let want = format!("{:?}", parse(head));
        for _ in 0..300 {
            let mut p = HeadParser::new();
            let mut n = 0;
            let got = loop {
                n = (n + 1 + rng.below(12)).min(head.len());
                match p.parse(&head[..n], &l) {
                    Ok(None) => assert!(n < head.len()),
                    r => break format!("{r:?}"),
                }
            };
            assert_eq!(got, want);
        }
    }
}
