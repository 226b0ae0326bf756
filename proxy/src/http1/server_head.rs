//! Response heads from servers, judged as HAProxy judges them (the response
//! half of h1_headers_to_hdr_list in src/h1.c): a Content-Length that does
//! not parse or two that differ, and "chunked" applied twice, make the
//! response invalid (HAProxy answers the client 502), as does any coding
//! but chunked (Debian's 2.6.12, measured); Transfer-Encoding
//! wins over Content-Length, which is dropped, and forces the server
//! connection closed, as does Transfer-Encoding in an HTTP/1.0 response.
//!
//! Servers are not strangers, so httparse tokenizes the head (its refusals
//! of obsolete syntax are refusals HAProxy makes for responses too, 502);
//! the fields HAProxy interprets go through the same code as requests'.

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, StatusCode, Version};

use super::fields::{connection_flags, parse_content_length, parse_transfer_encoding, MsgFlags};

/// A server's response head.
#[derive(Debug, Clone)]
pub struct ServerHead {
    pub status: StatusCode,
    /// HTTP/1.0 or HTTP/1.1.
    pub version: Version,
    /// The phrase as the server sent it (possibly empty).
    pub reason: Bytes,
    /// Names lower-cased, in arrival order; a Content-Length beside a
    /// Transfer-Encoding removed.
    pub headers: HeaderMap,
    /// Bytes of the head, its blank line included.
    pub head_len: usize,
    /// The server connection may carry another request after this
    /// response (its version and Connection header allow it and the head
    /// did not force a close).
    pub reusable: bool,
    /// HAProxy forces the close of this exchange (Transfer-Encoding beside
    /// Content-Length, or in an HTTP/1.0 response): the client's
    /// connection closes after the response too.
    pub forced_close: bool,
}

/// Why a head is refused: HAProxy answers 502 to all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHead(pub &'static str);

/// Parse a response head at the start of `buf`. Ok(None): incomplete.
/// `max_headers` is `tune.http.maxhdr` (the end of headers takes a slot).
pub fn parse_response(buf: &[u8], max_headers: usize) -> Result<Option<ServerHead>, BadHead> {
    // Uninitialised slots: initialising 128 of them cost more than parsing
    // a typical head.
    let mut slots = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; 128];
    let slots = &mut slots[..max_headers.clamp(1, 128) - 1];
    let mut r = httparse::Response::new(&mut []);
    let parsed =
        httparse::ParserConfig::default().parse_response_with_uninit_headers(&mut r, buf, slots);
    let head_len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(BadHead("too many headers")),
        Err(_) => return Err(BadHead("malformed response head")),
    };
    let code = r.code.ok_or(BadHead("no status"))?;
    let status = StatusCode::from_u16(code).map_err(|_| BadHead("status out of range"))?;
    let version = if r.version == Some(0) {
        Version::HTTP_10
    } else {
        Version::HTTP_11
    };
    let mut flags = MsgFlags {
        ver_11: version == Version::HTTP_11,
        ..MsgFlags::default()
    };
    let mut headers = HeaderMap::with_capacity(r.headers.len());
    for h in r.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| BadHead("header name"))?;
        let value = trim(h.value);
        if name == http::header::TRANSFER_ENCODING {
            parse_transfer_encoding(&mut flags, value, true)
                .map_err(|()| BadHead("transfer-encoding"))?;
        } else if name == http::header::CONTENT_LENGTH {
            parse_content_length(&mut flags, value).map_err(|()| BadHead("content-length"))?;
        } else if name == http::header::CONNECTION {
            connection_flags(&mut flags, value);
        }
        let value = HeaderValue::from_bytes(value).map_err(|_| BadHead("header value"))?;
        headers.append(name, value);
    }
    // Debian's 2.6.12 refuses any coding but chunked in a response
    // (measured: "chunked, gzip" and "gzip" get 502), as in a request.
    if flags.te_other {
        return Err(BadHead("transfer-encoding other than chunked"));
    }
    let mut force_close = false;
    if flags.xfer_enc {
        if flags.clen {
            headers.remove(http::header::CONTENT_LENGTH);
            force_close = true;
        } else if !flags.ver_11 {
            force_close = true;
        }
    }
    let reusable = !force_close && !flags.conn_clo && (flags.ver_11 || flags.conn_kal);
    Ok(Some(ServerHead {
        status,
        version,
        reason: match r.reason.unwrap_or("") {
            "OK" => Bytes::from_static(b"OK"),
            other => Bytes::copy_from_slice(other.as_bytes()),
        },
        headers,
        head_len,
        reusable,
        forced_close: force_close,
    }))
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|c| !matches!(c, b' ' | b'\t'));
    let Some(start) = start else { return &[] };
    let end = v
        .iter()
        .rposition(|c| !matches!(c, b' ' | b'\t'))
        .unwrap_or(start);
    &v[start..=end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Option<ServerHead>, BadHead> {
        parse_response(s.as_bytes(), 101)
    }

    #[test]
    fn a_plain_keep_alive_answer() {
        let h = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A:  b \r\n\r\nhello")
            .unwrap()
            .unwrap();
        assert_eq!(h.status, 200);
        assert_eq!(&h.reason[..], b"OK");
        assert_eq!(h.head_len, 48);
        assert_eq!(h.headers["x-a"], "b");
        assert!(h.reusable);
    }

    #[test]
    fn an_incomplete_head_waits() {
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Len").unwrap().is_none());
    }

    #[test]
    fn lengths_that_do_not_parse_or_differ_are_bad() {
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n").is_err());
        assert!(
            parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n").is_err()
        );
        assert!(parse("HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\n").is_ok());
    }

    #[test]
    fn codings_other_than_one_chunked_are_bad() {
        for te in ["chunked, chunked", "chunked, gzip", "gzip", "gzip, chunked"] {
            let head = format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\n\r\n");
            assert!(parse(&head).is_err(), "{te}");
        }
        assert!(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n").is_ok());
    }

    #[test]
    fn transfer_encoding_drops_content_length_and_closes() {
        let h = parse("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.headers.contains_key("content-length"));
        assert!(!h.reusable && h.forced_close);
        let h = parse(
            "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(h.version, Version::HTTP_10);
        assert!(!h.reusable && h.forced_close);
    }

    #[test]
    fn versions_and_connection_decide_reuse() {
        let h = parse("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.reusable);
        let h = parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.reusable);
        let h = parse("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(!h.reusable);
    }

    #[test]
    fn too_many_headers_is_bad() {
        // 100 fields fit (the end of headers takes the 101st slot).
        let mut s = String::from("HTTP/1.1 200 OK\r\n");
        for i in 0..101 {
            s.push_str(&format!("x-{i}: v\r\n"));
        }
        s.push_str("\r\n");
        assert_eq!(parse(&s).unwrap_err(), BadHead("too many headers"));
    }

    #[test]
    fn an_empty_reason_is_kept_empty() {
        let h = parse("HTTP/1.1 204 \r\n\r\n").unwrap().unwrap();
        assert!(h.reason.is_empty());
    }
}
