//! The client-facing HTTP/1 codec, with HAProxy 2.6's answers.
//!
//! Lab tests run xlb and Debian's haproxy (2.6.12-1+deb12u4) side by side on
//! the same traffic and compare what clients get back, hostile or malformed
//! input included. hyper's server answers differently (431 where HAProxy
//! says 400, no 408 on a header timeout, other parsing rules), so the side
//! facing clients uses this module: pure, no I/O, no state between calls
//! except the body decoder's and [`HeadParser`]'s.
//!
//! - [`parse_request`]: a request head, accepted or refused exactly as
//!   HAProxy does, with the status it answers ([`HeadError`]);
//!   [`HeadParser`] when the head may come in several reads (HAProxy judges
//!   header fields in its first pass only).
//! - [`BodyDecoder`]: request bodies, Content-Length or chunked (with
//!   HAProxy's chunk-size and trailer rules).
//! - [`response_framing`], [`write_response_head`], [`encode_chunk`],
//!   [`encode_last_chunk`]: the response side towards the client.
//! - [`parse_response`]: a server's response head, judged as HAProxy
//!   judges it (502 when bad), with whether the connection can be reused.
//! - [`error_message`] and [`stream_error_message`]: the exact bytes of
//!   HAProxy's own error replies; [`incomplete_request_reply`]: whether a
//!   timeout or an early close gets 408/400 or a silent close.
//!
//! Every rule cites the HAProxy function it reproduces; the tests record
//! the cases checked live against Debian's binary.

mod body;
mod chars;
mod errors;
mod fields;
mod head;
mod response;
mod server_head;
mod uri;

#[cfg(test)]
mod tests;

pub use body::{encode_chunk, encode_last_chunk, BodyDecoder, BodyEvent};
pub use errors::{error_message, incomplete_request_reply, stream_error_message, Incomplete};
pub use head::{h2_preface, parse_request, too_large, HeadParser, RequestHead, H2_PREFACE};
pub use response::{
    connection_header, plain_response_framing, reason_phrase, response_framing,
    write_plain_response_head, write_response_head, ResponseHead,
};
pub use server_head::{parse_response, parse_response_plain, BadHead, PlainHead, ServerHead};
pub(crate) use uri::scheme_based_normalize;

/// HAProxy's size limits for what it buffers from a client, from its
/// tunables (global `tune.bufsize`, `tune.maxrewrite`, `tune.http.maxhdr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest request head accepted, in HAProxy's internal (HTX) size:
    /// the start line's three parts plus 28 bytes, each header's name and
    /// value plus 8, plus 9 for the end of headers, must not exceed
    /// `bufsize - 48 - maxrewrite` (h1_eval_htx_size against the room
    /// mux_h1 gives the first parse): 15312 by default. Measured on
    /// Debian's 2.6.12: a head of one 15242-byte header plus "GET / HTTP/1.1"
    /// and "Host: a" (HTX size 15313) is the smallest refused with 400.
    pub max_head: usize,
    /// `tune.http.maxhdr`: slots in HAProxy's header list, the end of
    /// headers taking one, so at most `max_headers - 1` header fields
    /// (100 by default; 101 gets 400, verified live).
    pub max_headers: usize,
    /// Input buffered without a complete head (or, in a chunked body,
    /// without a complete chunk-size line or trailer block) that makes
    /// HAProxy give up with 400: the input buffer's room for data,
    /// `bufsize - 64` (sizeof(struct htx) + 2 blocks) = 16320 by default,
    /// verified live (16319 bytes of an unfinished head wait, 16320 get
    /// 400).
    pub max_buffered: usize,
}

impl Limits {
    /// The limits that follow from HAProxy's tunables.
    pub const fn from_tune(bufsize: usize, maxrewrite: usize, max_http_hdr: usize) -> Self {
        Limits {
            max_head: bufsize.saturating_sub(48 + maxrewrite),
            max_headers: max_http_hdr,
            max_buffered: bufsize.saturating_sub(64),
        }
    }
}

impl Default for Limits {
    /// HAProxy's defaults: BUFSIZE 16384, MAXREWRITE 1024, MAX_HTTP_HDR 101
    /// (include/haproxy/defaults.h).
    fn default() -> Self {
        Limits::from_tune(16384, 1024, 101)
    }
}

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes. A request's zero length is `None`; a
    /// response's is `Length(0)`, so that its "content-length: 0" goes on
    /// to the client (reg-tests/http-messaging/http_transfer_encoding.vtc).
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Responses only: the body runs until the server closes.
    UntilClose,
}

/// HAProxy refuses a request; what it answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadError {
    /// Refused by the HTTP/1 layer (mux_h1): answer with the raw
    /// [`error_message`] of this status (400, 413, 422...), then close.
    Status(u16),
    /// Refused later, by the stream layer (http_ana.c), which renders its
    /// reply through the HTTP/1 encoder: answer with
    /// [`stream_error_message`] of this status and "connection: close",
    /// then close. Only a "PRI" method gets this (400).
    Stream(u16),
}

impl HeadError {
    /// The status answered.
    pub fn status(&self) -> u16 {
        match *self {
            HeadError::Status(s) | HeadError::Stream(s) => s,
        }
    }
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request refused with {}", self.status())
    }
}

impl std::error::Error for HeadError {}
