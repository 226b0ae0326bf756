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
    /// The head as the server sent it, when [`parse_response_plain`] found
    /// it plain; `headers` is then empty.
    pub plain: Option<PlainHead>,
}

/// A plain response head (see [`parse_response_plain`]): its bytes and
/// where its fields are, for a client head written without a header map.
#[derive(Debug, Clone)]
pub struct PlainHead {
    pub bytes: Vec<u8>,
    /// Name, then trimmed value, of each field as offsets into `bytes`.
    fields: [[u16; 4]; PLAIN_FIELDS],
    len: usize,
}

/// Plain heads have at most this many fields.
pub(crate) const PLAIN_FIELDS: usize = 16;

impl PlainHead {
    /// The fields in arrival order: name (as sent) and trimmed value.
    pub fn fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields[..self.len].iter().map(|f| {
            (
                &self.bytes[f[0] as usize..f[1] as usize],
                &self.bytes[f[2] as usize..f[3] as usize],
            )
        })
    }
}

/// Why a head is refused: HAProxy answers 502 to all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadHead(pub &'static str);

/// Parse a response head at the start of `buf`. Ok(None): incomplete.
/// `max_headers` is `tune.http.maxhdr` (the end of headers takes a slot).
pub fn parse_response(buf: &[u8], max_headers: usize) -> Result<Option<ServerHead>, BadHead> {
    parse(buf, max_headers, false)
}

/// [`parse_response`], except that a plain head is kept as it came
/// (`plain`) instead of being built into a header map: at most 16 fields,
/// no name twice, none that a proxy removes or that changes the framing
/// besides Content-Length and a Connection of only "keep-alive" and
/// "close", every name and value one a header map takes. That is what
/// servers send to most requests, and the map (a copy and an allocation
/// per value, a hash per name) cost as much as the rest of the exchange's
/// user time. Anything else gets the map, and the same verdicts either
/// way.
pub fn parse_response_plain(buf: &[u8], max_headers: usize) -> Result<Option<ServerHead>, BadHead> {
    parse(buf, max_headers, true)
}

fn parse(buf: &[u8], max_headers: usize, allow_plain: bool) -> Result<Option<ServerHead>, BadHead> {
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
    let reason = match r.reason.unwrap_or("") {
        "OK" => Bytes::from_static(b"OK"),
        other => Bytes::copy_from_slice(other.as_bytes()),
    };
    if let Some(plain) = allow_plain
        .then(|| plain(buf, head_len, r.headers))
        .flatten()
    {
        // The same judgement as below, on the fields that can be here.
        for (name, value) in plain.fields() {
            if name.eq_ignore_ascii_case(b"content-length") {
                parse_content_length(&mut flags, value).map_err(|()| BadHead("content-length"))?;
            } else if name.eq_ignore_ascii_case(b"connection") {
                connection_flags(&mut flags, value);
            }
        }
        return Ok(Some(ServerHead {
            status,
            version,
            reason,
            headers: HeaderMap::new(),
            head_len,
            reusable: !flags.conn_clo && (flags.ver_11 || flags.conn_kal),
            forced_close: false,
            plain: Some(plain),
        }));
    }
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
        reason,
        headers,
        head_len,
        reusable,
        forced_close: force_close,
        plain: None,
    }))
}

/// The head's fields if it is plain (see [`parse_response_plain`]).
fn plain(buf: &[u8], head_len: usize, fields: &[httparse::Header<'_>]) -> Option<PlainHead> {
    if fields.len() > PLAIN_FIELDS || head_len > usize::from(u16::MAX) {
        return None;
    }
    // Names a proxy removes or that frame the body ("close": a field that
    // a Connection token would name).
    const NOT_PLAIN: [&[u8]; 7] = [
        b"transfer-encoding",
        b"upgrade",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"close",
    ];
    let base = buf.as_ptr() as usize;
    let mut out = PlainHead {
        bytes: buf[..head_len].to_vec(),
        fields: [[0; 4]; PLAIN_FIELDS],
        len: fields.len(),
    };
    for (i, h) in fields.iter().enumerate() {
        let name = h.name.as_bytes();
        let value = trim(h.value);
        // httparse lets through only names and values a header map takes
        // (tokens; no control byte but HT, no DEL: tested below).
        if NOT_PLAIN.iter().any(|n| name.eq_ignore_ascii_case(n))
            || fields[..i]
                .iter()
                .any(|o| o.name.as_bytes().eq_ignore_ascii_case(name))
        {
            return None;
        }
        if name.eq_ignore_ascii_case(b"connection")
            && !value.split(|&b| b == b',').all(|t| {
                let t = t.trim_ascii();
                t.is_empty()
                    || t.eq_ignore_ascii_case(b"keep-alive")
                    || t.eq_ignore_ascii_case(b"close")
            })
        {
            return None;
        }
        // Offsets from the slices httparse gave (an empty value is no
        // slice of `buf`: it is put at the name's end).
        let n = name.as_ptr() as usize - base;
        let v = if value.is_empty() {
            n + name.len()
        } else {
            value.as_ptr() as usize - base
        };
        out.fields[i] = [n, n + name.len(), v, v + value.len()].map(|x| x as u16);
    }
    Some(out)
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

    /// What [`plain`] relies on: a name or value byte httparse takes is
    /// one a header map takes too.
    #[test]
    fn httparse_takes_only_what_a_header_map_takes() {
        for b in 0..=255u8 {
            for mut head in [
                b"HTTP/1.1 200 OK\r\nx".to_vec(),
                b"HTTP/1.1 200 OK\r\nx: a".to_vec(),
            ] {
                head.extend_from_slice(&[b, b'b', b':', b' ', b'v', b'\r', b'\n', b'\r', b'\n']);
                let mut slots = [httparse::EMPTY_HEADER; 4];
                let mut r = httparse::Response::new(&mut slots);
                if let Ok(httparse::Status::Complete(_)) = r.parse(&head) {
                    for h in r.headers.iter() {
                        assert!(HeaderName::from_bytes(h.name.as_bytes()).is_ok(), "{b:#x}");
                        assert!(HeaderValue::from_bytes(trim(h.value)).is_ok(), "{b:#x}");
                    }
                }
            }
        }
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
