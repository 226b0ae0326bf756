//! HAProxy's own error replies, byte for byte, and when it sends them.
//!
//! HAProxy has two paths. The HTTP/1 layer (mux_h1 h1_send_error) writes the
//! raw `http_err_msgs` text of src/http.c as is: that is what a client gets
//! for a request refused while parsing (400, 413, 422), a request timeout
//! (408), or an internal error (500). The stream layer (http_ana.c:
//! http-request deny, no server, server errors and timeouts, "PRI")
//! converts the same text to its internal form and the HTTP/1 encoder
//! writes it again, so header names come out lower-cased, the Connection
//! header moves to the end and says what the connection does. Both
//! verified live against Debian's 2.6.12 (see tests).

use super::response::connection_header;

/// http_err_msgs (src/http.c, unchanged up to 2.6.12), indexed by status.
const MESSAGES: &[(u16, &str)] = &[
    (
        200,
        "HTTP/1.1 200 OK\r\n\
Content-length: 58\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>200 OK</h1>\nService ready.\n</body></html>\n",
    ),
    (
        400,
        "HTTP/1.1 400 Bad request\r\n\
Content-length: 90\r\n\
Cache-Control: no-cache\r\n\
Connection: close\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n",
    ),
    (
        401,
        "HTTP/1.1 401 Unauthorized\r\n\
Content-length: 112\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>401 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n",
    ),
    (
        403,
        "HTTP/1.1 403 Forbidden\r\n\
Content-length: 93\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>403 Forbidden</h1>\nRequest forbidden by administrative rules.\n</body></html>\n",
    ),
    (
        404,
        "HTTP/1.1 404 Not Found\r\n\
Content-length: 83\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>404 Not Found</h1>\nThe resource could not be found.\n</body></html>\n",
    ),
    (
        405,
        "HTTP/1.1 405 Method Not Allowed\r\n\
Content-length: 146\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>405 Method Not Allowed</h1>\nA request was made of a resource using a request method not supported by that resource\n</body></html>\n",
    ),
    (
        407,
        "HTTP/1.1 407 Unauthorized\r\n\
Content-length: 112\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>407 Unauthorized</h1>\nYou need a valid user and password to access this content.\n</body></html>\n",
    ),
    (
        408,
        "HTTP/1.1 408 Request Time-out\r\n\
Content-length: 110\r\n\
Cache-Control: no-cache\r\n\
Connection: close\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>408 Request Time-out</h1>\nYour browser didn't send a complete request in time.\n</body></html>\n",
    ),
    (
        410,
        "HTTP/1.1 410 Gone\r\n\
Content-length: 114\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>410 Gone</h1>\nThe resource is no longer available and will not be available again.\n</body></html>\n",
    ),
    (
        413,
        "HTTP/1.1 413 Payload Too Large\r\n\
Content-length: 106\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>413 Payload Too Large</h1>\nThe request entity exceeds the maximum allowed.\n</body></html>\n",
    ),
    (
        421,
        "HTTP/1.1 421 Misdirected Request\r\n\
Content-length: 104\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>421 Misdirected Request</h1>\nRequest sent to a non-authoritative server.\n</body></html>\n",
    ),
    (
        422,
        "HTTP/1.1 422 Unprocessable Content\r\n\
Content-length: 116\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>422 Unprocessable Content</h1>\nThe server cannot process the contained instructions.\n</body></html>\n",
    ),
    (
        425,
        "HTTP/1.1 425 Too Early\r\n\
Content-length: 80\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>425 Too Early</h1>\nYour browser sent early data.\n</body></html>\n",
    ),
    (
        429,
        "HTTP/1.1 429 Too Many Requests\r\n\
Content-length: 117\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>429 Too Many Requests</h1>\nYou have sent too many requests in a given amount of time.\n</body></html>\n",
    ),
    (
        500,
        "HTTP/1.1 500 Internal Server Error\r\n\
Content-length: 97\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n",
    ),
    (
        501,
        "HTTP/1.1 501 Not Implemented\r\n\
Content-length: 136\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>501 Not Implemented</h1>\n.The server does not support the functionality required to fulfill the request.\n</body></html>\n",
    ),
    (
        502,
        "HTTP/1.1 502 Bad Gateway\r\n\
Content-length: 107\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n",
    ),
    (
        503,
        "HTTP/1.1 503 Service Unavailable\r\n\
Content-length: 107\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n",
    ),
    (
        504,
        "HTTP/1.1 504 Gateway Time-out\r\n\
Content-length: 92\r\n\
Cache-Control: no-cache\r\n\
Content-Type: text/html\r\n\
\r\n\
<html><body><h1>504 Gateway Time-out</h1>\nThe server didn't respond in time.\n</body></html>\n",
    ),
];

/// The raw message HAProxy's HTTP/1 layer sends for `status` (mux_h1
/// h1_send_error). A status HAProxy has no message for gets the 500
/// message, as http_get_status_idx maps it.
pub fn error_message(status: u16) -> &'static [u8] {
    let find = |s| MESSAGES.iter().find(|(code, _)| *code == s);
    find(status)
        .or_else(|| find(500))
        .map_or(&b""[..], |(_, m)| m.as_bytes())
}

/// The same message as the stream layer sends it (http_reply_and_close
/// then the HTTP/1 encoder): status line unchanged, header names
/// lower-cased in their order without Connection, then `connection:
/// close` or `connection: keep-alive` as [`connection_header`] decides for
/// an HTTP/1.1 reply (`keep_alive`: whether the client connection stays
/// open; `request_is_11`: the request's version was 1.1 or above), then the
/// body. Verified live: e.g. a denied HTTP/1.0 request gets
/// `...content-type: text/html\r\nconnection: close\r\n\r\n<html>...`.
pub fn stream_error_message(status: u16, keep_alive: bool, request_is_11: bool, out: &mut Vec<u8>) {
    let msg = error_message(status);
    let Some(head_end) = msg.windows(4).position(|w| w == b"\r\n\r\n") else {
        out.extend_from_slice(msg);
        return;
    };
    let mut lines = msg[..head_end].split(|&b| b == b'\n');
    if let Some(status_line) = lines.next() {
        out.extend_from_slice(status_line);
        out.push(b'\n');
    }
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, rest) = line.split_at(colon);
        if name.eq_ignore_ascii_case(b"connection") {
            continue;
        }
        out.extend(name.iter().map(u8::to_ascii_lowercase));
        out.extend_from_slice(rest);
        out.extend_from_slice(b"\r\n");
    }
    if let Some(c) = connection_header(keep_alive, request_is_11, true) {
        out.extend_from_slice(b"connection: ");
        out.extend_from_slice(c.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&msg[head_end + 4..]);
}

/// How a client connection ended without a complete request head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Incomplete {
    /// `timeout http-request` (or the keep-alive timeout) expired.
    Timeout,
    /// The client shut its side down (read returned 0).
    ReadClosed,
}

/// What HAProxy answers before closing a client connection whose request
/// head never completed (mux_h1 h1_handle_req_tout: 408;
/// h1_handle_parsing_error on a read0: 400), or None for a silent close.
/// It stays silent only when nothing at all was received
/// (`buffered == 0`) and either the connection was idle between two
/// requests (`waiting_next_request`) or "option http-ignore-probes" is set.
/// So a fresh connection that sends nothing does get a 408 (or a 400 if it
/// closes): verified live on Debian's 2.6.12, as are the keep-alive cases.
pub fn incomplete_request_reply(
    why: Incomplete,
    buffered: usize,
    waiting_next_request: bool,
    ignore_probes: bool,
) -> Option<u16> {
    if buffered == 0 && (waiting_next_request || ignore_probes) {
        return None;
    }
    Some(match why {
        Incomplete::Timeout => 408,
        Incomplete::ReadClosed => 400,
    })
}
