//! Responses towards the client: their framing and their head, written the
//! way HAProxy's HTTP/1 encoder writes them (h1_format_htx_stline,
//! h1_format_htx_hdr in src/h1_htx.c; connection handling from
//! h1_update_res_conn_value in src/mux_h1.c).

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, Version};

use super::fields::{parse_content_length, parse_transfer_encoding, MsgFlags};
use super::server_head::PLAIN_FIELDS;
use super::{Framing, PlainHead};

/// A response head to send to the client.
#[derive(Debug, Clone)]
pub struct ResponseHead {
    pub status: StatusCode,
    /// HTTP/1.0 writes "HTTP/1.0"; anything else "HTTP/1.1" (HAProxy
    /// writes HTTP/1.1 for every response it sees as 1.1 or above,
    /// including those from h2 servers).
    pub version: Version,
    /// Written in the map's order, names as stored (lower case).
    pub headers: HeaderMap,
    pub framing: Framing,
    /// The reason phrase to write. None: HAProxy's own phrase for the
    /// status (http_get_reason, used for responses from h2 servers or made
    /// by HAProxy); Some(empty) writes "HTTP/1.1 200 " as HAProxy does for a
    /// server that sent no phrase.
    pub reason: Option<Bytes>,
}

/// The framing of a response to a `req_method` request, from its status and
/// headers (h1_postparse_res_hdrs): 101 and 2xx to CONNECT have none (a
/// tunnel follows), nor do responses to HEAD, 1xx, 204 and 304; then
/// Transfer-Encoding ending in chunked is chunked, any other
/// Transfer-Encoding runs until close (and overrides Content-Length, which
/// HAProxy removes); then Content-Length (0 included: `Length(0)`, whose
/// header is kept); else until close. An invalid
/// Content-Length (HAProxy answers 502) also yields `UntilClose`; hyper's
/// client refuses such responses before they get here.
pub fn response_framing(req_method: &Method, status: StatusCode, headers: &HeaderMap) -> Framing {
    framing_of(
        req_method,
        status,
        headers
            .get_all(http::header::TRANSFER_ENCODING)
            .iter()
            .map(|v| v.as_bytes()),
        headers
            .get_all(http::header::CONTENT_LENGTH)
            .iter()
            .map(|v| v.as_bytes()),
    )
}

/// [`response_framing`] for a plain server head (which has no
/// Transfer-Encoding).
pub fn plain_response_framing(
    req_method: &Method,
    status: StatusCode,
    head: &PlainHead,
) -> Framing {
    framing_of(
        req_method,
        status,
        std::iter::empty(),
        head.fields()
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"content-length"))
            .map(|(_, v)| v),
    )
}

fn framing_of<'a>(
    req_method: &Method,
    status: StatusCode,
    transfer_encoding: impl Iterator<Item = &'a [u8]>,
    content_length: impl Iterator<Item = &'a [u8]>,
) -> Framing {
    let code = status.as_u16();
    if (*req_method == Method::CONNECT && (200..300).contains(&code)) || code == 101 {
        return Framing::None;
    }
    if *req_method == Method::HEAD || (100..200).contains(&code) || code == 204 || code == 304 {
        return Framing::None;
    }
    let mut flags = MsgFlags::default();
    for v in transfer_encoding {
        // A response may carry codings after chunked; nothing to refuse.
        let _ = parse_transfer_encoding(&mut flags, v, true);
    }
    if flags.xfer_enc {
        return if flags.chnk {
            Framing::Chunked
        } else {
            Framing::UntilClose
        };
    }
    let mut any = false;
    for v in content_length {
        any = true;
        if parse_content_length(&mut flags, v).is_err() {
            return Framing::UntilClose;
        }
    }
    // A length of 0 stays a length: the client must see the server's
    // "content-length: 0" (HAProxy forwards it), or a keep-alive answer
    // would have no end but the connection's.
    if any {
        Framing::Length(flags.body_len)
    } else {
        Framing::UntilClose
    }
}

/// The Connection header HAProxy puts on a response to the client
/// (h1_update_res_conn_value): with keep-alive, "keep-alive" when the
/// request or the response is HTTP/1.0 and nothing otherwise; when
/// closing, "close" on an HTTP/1.1 response. `None` also for tunnels
/// (101, CONNECT), which keep the server's header untouched.
pub fn connection_header(
    keep_alive: bool,
    request_is_11: bool,
    response_is_11: bool,
) -> Option<&'static str> {
    if keep_alive {
        if !response_is_11 || !request_is_11 {
            Some("keep-alive")
        } else {
            None
        }
    } else if response_is_11 {
        Some("close")
    } else {
        None
    }
}

/// Serialize a response head: status line, "name: value" lines, CRLF.
pub fn write_response_head(head: &ResponseHead, out: &mut Vec<u8>) {
    status_line(head.version, head.status, head.reason.as_deref(), out);
    for (name, value) in &head.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // The framing says how the body is sent; a head without its header
    // would leave the client reading until close.
    match head.framing {
        Framing::Chunked if !head.headers.contains_key(http::header::TRANSFER_ENCODING) => {
            out.extend_from_slice(b"transfer-encoding: chunked\r\n");
        }
        Framing::Length(n) if !head.headers.contains_key(http::header::CONTENT_LENGTH) => {
            out.extend_from_slice(format!("content-length: {n}\r\n").as_bytes());
        }
        _ => {}
    }
    out.extend_from_slice(b"\r\n");
}

fn status_line(version: Version, status: StatusCode, reason: Option<&[u8]>, out: &mut Vec<u8>) {
    out.extend_from_slice(if version == Version::HTTP_10 {
        b"HTTP/1.0 "
    } else {
        b"HTTP/1.1 "
    });
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    match reason {
        Some(r) => out.extend_from_slice(r),
        None => out.extend_from_slice(reason_phrase(status.as_u16()).as_bytes()),
    }
    out.extend_from_slice(b"\r\n");
}

/// The client's head for a plain server head (not to HEAD, no cookie, no
/// upgrade): byte for byte what [`write_response_head`] writes for the
/// same response once its map went through `strip_hop_by_hop`, lost its
/// Content-Length when the framing is not a length, and got `connection`.
/// A header map's removal moves its last field into the removed one's
/// place, so the removals here do the same.
pub fn write_plain_response_head(
    status: StatusCode,
    version: Version,
    reason: &[u8],
    head: &PlainHead,
    framing: &Framing,
    connection: Option<&str>,
    out: &mut Vec<u8>,
) {
    let mut fields: [(&[u8], &[u8]); PLAIN_FIELDS] = [(&[], &[]); PLAIN_FIELDS];
    let mut n = 0;
    for f in head.fields() {
        fields[n] = f;
        n += 1;
    }
    let mut swap_remove = |name: &[u8]| {
        if let Some(p) = fields[..n]
            .iter()
            .position(|f| f.0.eq_ignore_ascii_case(name))
        {
            fields[p] = fields[n - 1];
            n -= 1;
        }
    };
    swap_remove(b"connection");
    if !matches!(framing, Framing::Length(_)) {
        swap_remove(b"content-length");
    }
    status_line(version, status, Some(reason), out);
    for (name, value) in &fields[..n] {
        let at = out.len();
        out.extend_from_slice(name);
        out[at..].make_ascii_lowercase();
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(v) = connection {
        out.extend_from_slice(b"connection: ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    // No Transfer-Encoding here, and a length comes only from a
    // Content-Length, which stays: nothing to add for the framing.
    out.extend_from_slice(b"\r\n");
}

/// HAProxy's reason phrases (http_get_reason in src/http.c); they differ
/// from the http crate's in places ("Moved Temporarily", "Request
/// Time-out", "Bad Gateway or Proxy Error"...).
pub fn reason_phrase(status: u16) -> &'static str {
    known_reason(status).unwrap_or(match status {
        100..=199 => "Informational",
        200..=299 => "Success",
        300..=399 => "Redirection",
        400..=499 => "Client Error",
        500..=599 => "Server Error",
        _ => "Other",
    })
}

fn known_reason(status: u16) -> Option<&'static str> {
    Some(match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        210 => "Content Different",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        310 => "Too many Redirects",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Time-out",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Requested range unsatisfiable",
        417 => "Expectation failed",
        418 => "I'm a teapot",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Method failure",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        449 => "Retry With",
        450 => "Blocked by Windows Parental Controls",
        451 => "Unavailable For Legal Reasons",
        456 => "Unrecoverable Error",
        499 => "client has closed connection",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway or Proxy Error",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        505 => "HTTP Version not supported",
        506 => "Variant also negotiate",
        507 => "Insufficient storage",
        508 => "Loop detected",
        509 => "Bandwidth Limit Exceeded",
        510 => "Not extended",
        511 => "Network authentication required",
        520 => "Web server is returning an unknown error",
        _ => return None,
    })
}
