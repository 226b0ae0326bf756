//! Response framing and head writing.

use super::*;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Version};

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut m = HeaderMap::new();
    for (n, v) in pairs {
        m.append(
            http::header::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    m
}

#[test]
fn framing() {
    let get = Method::GET;
    let cl = headers(&[("content-length", "5")]);
    let chunked = headers(&[("transfer-encoding", "chunked")]);
    let s = |c: u16| StatusCode::from_u16(c).unwrap();
    let cases: &[(&Method, u16, HeaderMap, Framing)] = &[
        // h1_postparse_res_hdrs: no body whatever the headers say
        (&Method::HEAD, 200, cl.clone(), Framing::None),
        (&get, 100, cl.clone(), Framing::None),
        (&get, 103, HeaderMap::new(), Framing::None),
        (&get, 204, cl.clone(), Framing::None),
        (&get, 304, chunked.clone(), Framing::None),
        (&get, 101, cl.clone(), Framing::None),
        (&Method::CONNECT, 200, cl.clone(), Framing::None),
        (&Method::CONNECT, 407, cl.clone(), Framing::Length(5)),
        // lengths
        (&get, 200, cl.clone(), Framing::Length(5)),
        // a zero length stays one: the header goes on to the client
        (
            &get,
            200,
            headers(&[("content-length", "0")]),
            Framing::Length(0),
        ),
        (
            &Method::HEAD,
            200,
            headers(&[("content-length", "0")]),
            Framing::None,
        ),
        (
            &get,
            200,
            headers(&[("content-length", "5, 5")]),
            Framing::Length(5),
        ),
        (
            &get,
            200,
            headers(&[("content-length", "5"), ("content-length", "5")]),
            Framing::Length(5),
        ),
        (
            &get,
            200,
            headers(&[("content-length", "5"), ("content-length", "6")]),
            Framing::UntilClose,
        ),
        (
            &get,
            200,
            headers(&[("content-length", "x")]),
            Framing::UntilClose,
        ),
        (&get, 200, chunked.clone(), Framing::Chunked),
        (
            &get,
            200,
            headers(&[("transfer-encoding", "gzip, chunked")]),
            Framing::Chunked,
        ),
        // responses may end with another coding: read until close
        (
            &get,
            200,
            headers(&[("transfer-encoding", "chunked, gzip")]),
            Framing::UntilClose,
        ),
        (
            &get,
            200,
            headers(&[("transfer-encoding", "gzip")]),
            Framing::UntilClose,
        ),
        // TE wins over CL
        (
            &get,
            200,
            headers(&[("content-length", "5"), ("transfer-encoding", "chunked")]),
            Framing::Chunked,
        ),
        (&get, 200, HeaderMap::new(), Framing::UntilClose),
        (&Method::POST, 404, HeaderMap::new(), Framing::UntilClose),
    ];
    for (m, code, h, want) in cases {
        assert_eq!(response_framing(m, s(*code), h), *want, "{m} {code} {h:?}");
    }
}

#[test]
fn connection_header_rules() {
    // h1_update_res_conn_value; the live error replies show all four:
    // 1.1 keep-alive: none; 1.0 + keep-alive: "keep-alive"; closing: "close".
    assert_eq!(connection_header(true, true, true), None);
    assert_eq!(connection_header(true, false, true), Some("keep-alive"));
    assert_eq!(connection_header(true, true, false), Some("keep-alive"));
    assert_eq!(connection_header(false, true, true), Some("close"));
    assert_eq!(connection_header(false, false, true), Some("close"));
    assert_eq!(connection_header(false, true, false), None);
}

#[test]
fn head_round_trip_through_httparse() {
    let cases = [
        (
            200,
            Version::HTTP_11,
            None,
            vec![("content-length", "5"), ("x-a", "b")],
        ),
        (
            404,
            Version::HTTP_10,
            Some(Bytes::from_static(b"Nope")),
            vec![],
        ),
        (
            302,
            Version::HTTP_2,
            None,
            vec![
                ("location", "/x"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
            ],
        ),
        (599, Version::HTTP_11, None, vec![("x-obs", "caf\u{e9}")]),
    ];
    for (code, version, reason, hdrs) in cases {
        let mut map = HeaderMap::new();
        for (n, v) in &hdrs {
            map.append(*n, HeaderValue::from_bytes(v.as_bytes()).unwrap());
        }
        let head = ResponseHead {
            status: StatusCode::from_u16(code).unwrap(),
            version,
            headers: map,
            framing: Framing::UntilClose,
            reason: reason.clone(),
        };
        let mut out = Vec::new();
        write_response_head(&head, &mut out);
        let mut parsed = [httparse::EMPTY_HEADER; 16];
        let mut resp = httparse::Response::new(&mut parsed);
        let n = match resp.parse(&out).unwrap() {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => panic!("partial: {:?}", String::from_utf8_lossy(&out)),
        };
        assert_eq!(n, out.len());
        assert_eq!(resp.code, Some(code));
        assert_eq!(
            resp.version,
            Some(if version == Version::HTTP_10 { 0 } else { 1 })
        );
        let want_reason = reason
            .as_ref()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .unwrap_or_else(|| reason_phrase(code).to_string());
        assert_eq!(resp.reason, Some(want_reason.as_str()));
        let got: Vec<(String, Vec<u8>)> = resp
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect();
        let want: Vec<(String, Vec<u8>)> = hdrs
            .iter()
            .map(|(n, v)| (n.to_string(), v.as_bytes().to_vec()))
            .collect();
        assert_eq!(got, want);
    }
}

#[test]
fn head_bytes() {
    let mut h = ResponseHead {
        status: StatusCode::OK,
        version: Version::HTTP_11,
        headers: HeaderMap::new(),
        framing: Framing::None,
        reason: Some(Bytes::new()),
    };
    let mut out = Vec::new();
    write_response_head(&h, &mut out);
    // A server that sent no phrase: HAProxy still writes the space.
    assert_eq!(out, b"HTTP/1.1 200 \r\n\r\n");
    h.reason = None;
    h.status = StatusCode::BAD_GATEWAY;
    h.headers
        .insert("content-length", HeaderValue::from_static("0"));
    let mut out = Vec::new();
    write_response_head(&h, &mut out);
    assert_eq!(
        out,
        b"HTTP/1.1 502 Bad Gateway or Proxy Error\r\ncontent-length: 0\r\n\r\n"
    );
}

#[test]
fn haproxy_reason_phrases() {
    assert_eq!(reason_phrase(302), "Moved Temporarily");
    assert_eq!(reason_phrase(408), "Request Time-out");
    assert_eq!(reason_phrase(299), "Success");
    assert_eq!(reason_phrase(600), "Other");
}

#[test]
fn framing_headers_are_written_when_missing() {
    let mut h = ResponseHead {
        status: StatusCode::OK,
        version: Version::HTTP_11,
        headers: HeaderMap::new(),
        framing: Framing::Chunked,
        reason: None,
    };
    let mut out = Vec::new();
    write_response_head(&h, &mut out);
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    h.framing = Framing::Length(12);
    out.clear();
    write_response_head(&h, &mut out);
    assert_eq!(out, b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n");
    // The server's own header stays where it was, not twice.
    h.headers
        .insert("content-length", HeaderValue::from_static("12"));
    h.headers.insert("x-a", HeaderValue::from_static("b"));
    out.clear();
    write_response_head(&h, &mut out);
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nx-a: b\r\n\r\n"
    );
    h.framing = Framing::UntilClose;
    h.headers.clear();
    out.clear();
    write_response_head(&h, &mut out);
    assert_eq!(out, b"HTTP/1.1 200 OK\r\n\r\n");
    // A server's "Content-Length: 0" on a keep-alive answer: the client
    // gets it (http_transfer_encoding.vtc's "txresp", as HAProxy relays it).
    h.framing = Framing::Length(0);
    out.clear();
    write_response_head(&h, &mut out);
    assert_eq!(out, b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
}
