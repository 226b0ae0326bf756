//! Request heads, parsed with HAProxy's rules.
//!
//! This is a port of the request half of h1_headers_to_hdr_list (src/h1.c)
//! followed by what h1_parse_msg_hdrs / h1_postparse_req_hdrs (src/h1_htx.c)
//! and h1_handle_headers (src/mux_h1.c) check once a head is complete, as
//! Debian's haproxy 2.6.12-1+deb12u4 runs them: that build is what the lab
//! compares xlb with, and it carries fixes 2.6.0 lacks (empty header names
//! and empty Content-Length refused, '#' refused in the target, Host checked
//! against the authority with default ports in mind).
//!
//! Why not httparse: for requests it refuses what HAProxy accepts (obs-fold
//! continuation lines, control bytes and DEL in values, versions other than
//! 1.0/1.1 such as "HTTP/1.2" which HAProxy handles as 1.1) and accepts what
//! HAProxy refuses (bytes >= 0x80 in the target); none of that can be
//! configured away, and a pre-pass to compensate would be this scanner
//! again. So the scanner below follows HAProxy's state machine byte by
//! byte; httparse is still used by the tests to read back what we write.
//!
//! [`parse_request`] keeps no state between calls: each call scans the
//! buffer from its start, reporting an error as soon as the bytes seen so
//! far are invalid, as HAProxy does before a head is complete. HAProxy
//! judges header fields only in its first pass over a head though;
//! [`HeadParser`] reproduces that for heads arriving in several reads, and
//! avoids rescanning complete lines.

use std::borrow::Cow;
use std::ops::Range;

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Version};

use super::chars::{is_crlf, is_spht, is_token, is_ver_token, trim_lws};
use super::fields::{
    find_value_end, parse_connection, parse_content_length, parse_transfer_encoding, parse_upgrade,
    Keep, MsgFlags,
};
use super::uri;
use super::{Framing, HeadError, Limits};

/// A request head HAProxy would accept, as HAProxy would forward it.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: Method,
    /// The target as HAProxy forwards it: as received, except that an
    /// absolute-form target loses its scheme's default port
    /// (http_scheme_based_normalize).
    pub target: String,
    /// HTTP/1.1 for any version HAProxy treats as 1.1 or above ("HTTP/1.1",
    /// "HTTP/1.2", "HTTP/2.0": it forwards them all as HTTP/1.1), HTTP/1.0
    /// for "HTTP/1.0", HTTP/0.9 for "HTTP/0.x" (which HAProxy forwards
    /// verbatim and handles like 1.0).
    pub version: Version,
    /// Header names lower-cased (http::HeaderName always is, and HAProxy 2.x
    /// emits them so), values trimmed of surrounding white space, obs-fold
    /// line breaks turned into spaces, in arrival order (HeaderMap groups
    /// repeated names at the first one's place). What HAProxy drops or
    /// rewrites while parsing is dropped or rewritten here too: repeated
    /// Content-Length headers (and all of them when Transfer-Encoding is
    /// present), "close" and "keep-alive" in Connection (the header goes
    /// when nothing is left), repeated identical Host headers, Upgrade when
    /// the request has a body, and a default port in Host for CONNECT and
    /// absolute-form targets. Two rules of HAProxy's HTTP/1 encoder towards
    /// the server are applied as well, so that this is what the server
    /// would see: "TE" only survives as "trailers", and CONNECT loses a
    /// Content-Length other than 0.
    pub headers: HeaderMap,
    pub framing: Framing,
    /// Whether the client connection may serve another request after this
    /// one (mux_h1 h1_set_cli_conn_mode, request side): HTTP/1.1 or an
    /// explicit keep-alive, no "close", and not forced closed by
    /// Transfer-Encoding with Content-Length or with HTTP/1.0. The response
    /// may still close it.
    pub keep_alive: bool,
    /// The client connection ends with this exchange: "close" in
    /// Connection, or forced by Transfer-Encoding beside Content-Length or
    /// in HTTP/1.0 (HAProxy's H1_MF_CONN_CLO).
    pub close: bool,
    /// Transfer-Encoding forced `close`: the server connection is not kept
    /// for another request either (the server may well close it as it
    /// answers). A client's plain "close" is not passed on (hop-by-hop),
    /// so its server connection stays reusable, as HAProxy keeps it.
    pub close_forced: bool,
    /// The Upgrade header's value when the request asks to switch protocols
    /// (Connection: upgrade on a request without a body).
    pub upgrade: Option<String>,
    /// HTTP/1.1 request with a body and "Expect: 100-continue"
    /// (http_handle_expect_hdr's condition).
    pub expect_continue: bool,
    /// Bytes of `buf` this head used, leading empty lines included: the body
    /// (or the next pipelined request) starts there.
    pub head_len: usize,
}

/// True once `buf_len` bytes are buffered without a complete head: HAProxy
/// then answers 400 (h1_parse_msg_hdrs: incomplete headers and no room left
/// in the input buffer). The caller should not read more than
/// `limits.max_buffered` bytes while waiting for a head.
pub fn too_large(buf_len: usize, limits: &Limits) -> bool {
    buf_len >= limits.max_buffered
}

/// The HTTP/2 connection preface that makes HAProxy switch a fresh client
/// connection to h2 before any HTTP/1 parsing (mux_h1 h1_process, first
/// request only).
pub const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Compare the start of a fresh connection's input with the h2 preface:
/// Some(true) full match, Some(false) mismatch, None when `buf` is a strict
/// prefix of it (HAProxy then parses HTTP/1 with what it has).
pub fn h2_preface(buf: &[u8]) -> Option<bool> {
    let n = buf.len().min(H2_PREFACE.len());
    if buf[..n] != H2_PREFACE[..n] {
        Some(false)
    } else if n == H2_PREFACE.len() {
        Some(true)
    } else {
        None
    }
}

/// One header line as indexed: name and value bytes. Values borrow the
/// buffer unless folding or a rewrite made them differ.
struct Field<'a> {
    name: Range<usize>,
    value: Cow<'a, [u8]>,
}

/// Why the scan stopped early.
enum Stop {
    /// Need more bytes.
    More,
    /// Refused; the status to answer (400 from the parser itself).
    Bad,
}

type Scan<T> = Result<T, Stop>;

/// The byte at `i`, or "need more".
fn at(buf: &[u8], i: usize) -> Scan<u8> {
    buf.get(i).copied().ok_or(Stop::More)
}

/// The header scanner shared by request heads and trailer blocks.
pub(crate) struct HeaderScan<'a> {
    buf: &'a [u8],
    fields: Vec<Field<'a>>,
    pub(crate) flags: MsgFlags,
    host_idx: Option<usize>,
    /// H1_MF_CLEAN_CONN_HDR: set for request heads, not for trailers.
    clean_connection: bool,
    max_headers: usize,
    /// Headers are interpreted (counted, checked, indexed) only when they
    /// complete before this offset; see [`HeadParser`].
    gate: usize,
    /// Start of the line being scanned (the first header line not yet
    /// complete when the scan stops for more data).
    line_start: usize,
}

impl<'a> HeaderScan<'a> {
    pub(crate) fn new(buf: &'a [u8], clean_connection: bool, max_headers: usize) -> Self {
        HeaderScan {
            buf,
            fields: Vec::new(),
            flags: MsgFlags::default(),
            host_idx: None,
            clean_connection,
            max_headers,
            gate: usize::MAX,
            line_start: 0,
        }
    }

    /// Scan header lines from `i` (H1_MSG_HDR_FIRST) to the empty line.
    /// Returns the index just past it.
    fn headers(&mut self, mut i: usize) -> Scan<usize> {
        let buf = self.buf;
        loop {
            self.line_start = i;
            let c = at(buf, i)?;
            if is_crlf(c) {
                // H1_MSG_LAST_LF: CRLF or a bare LF ends the block.
                if c == b'\r' {
                    i += 1;
                }
                if at(buf, i)? != b'\n' {
                    return Err(Stop::Bad);
                }
                i += 1;
                // The end-of-headers marker needs a slot too.
                if self.fields.len() >= self.max_headers {
                    return Err(Stop::Bad);
                }
                return Ok(i);
            }
            // H1_MSG_HDR_NAME. Any non-token byte before ':' is refused
            // (strict mode: no "option accept-invalid-http-request"),
            // which covers a space before the colon and leading white space
            // on the first line.
            let sol = i;
            let mut c = c;
            while is_token(c) {
                i += 1;
                c = at(buf, i)?;
            }
            if c != b':' || i == sol {
                // Non-token, or an empty name (CVE-2023-25725 fix).
                return Err(Stop::Bad);
            }
            let name = sol..i;
            i += 1;
            let (value, folded, next) = self.value(i)?;
            i = next;
            if i < self.gate {
                self.complete(name, value, folded)?;
            }
        }
    }

    /// Scan a value from just after the colon (H1_MSG_HDR_L1_SP) through
    /// its line end and any obs-fold continuation lines, until the first
    /// byte of the next line is seen (HAProxy only completes a header then,
    /// to know whether it continues). Returns the raw value range (not yet
    /// trimmed), whether it spans folds, and the next line's start.
    fn value(&self, mut i: usize) -> Scan<(Range<usize>, bool, usize)> {
        let buf = self.buf;
        let mut folded = false;
        // L1_SP / L1_LF / L1_LWS: white space and folds before any value.
        let sov = loop {
            let mut c = at(buf, i)?;
            while is_spht(c) {
                i += 1;
                c = at(buf, i)?;
            }
            if !is_crlf(c) {
                break i;
            }
            let sov = i;
            if c == b'\r' {
                i += 1;
            }
            if at(buf, i)? != b'\n' {
                return Err(Stop::Bad);
            }
            i += 1;
            if is_spht(at(buf, i)?) {
                folded = true;
                continue; // obs-fold before the value: keep skipping
            }
            // A header made of white space only.
            return Ok((sov..sov, folded, i));
        };
        // H1_MSG_HDR_VAL / L2_LF / L2_LWS. Anything but CR and LF belongs to
        // the value: HAProxy 2.6 accepts control bytes, NUL and DEL there.
        loop {
            let mut c = at(buf, i)?;
            while !is_crlf(c) {
                i += 1;
                c = at(buf, i)?;
            }
            let eol = i;
            if c == b'\r' {
                i += 1;
            }
            if at(buf, i)? != b'\n' {
                return Err(Stop::Bad); // CR not followed by LF
            }
            i += 1;
            if is_spht(at(buf, i)?) {
                // obs-fold: the line break becomes spaces, the value goes on.
                folded = true;
                continue;
            }
            return Ok((sov..eol, folded, i));
        }
    }

    /// http_msg_complete_header: trim, interpret, index or drop.
    fn complete(&mut self, name: Range<usize>, value: Range<usize>, folded: bool) -> Scan<()> {
        let buf = self.buf;
        let mut v: Cow<'a, [u8]> = if folded {
            // Only fold line breaks can be CR or LF inside the range.
            let spaced: Vec<u8> = buf[value]
                .iter()
                .map(|&b| if is_crlf(b) { b' ' } else { b })
                .collect();
            Cow::Owned(trim_lws(&spaced).to_vec())
        } else {
            Cow::Borrowed(trim_lws(&buf[value]))
        };
        if self.fields.len() >= self.max_headers {
            return Err(Stop::Bad); // header list full: HAProxy answers 400
        }
        let n = &buf[name.clone()];
        if n.eq_ignore_ascii_case(b"transfer-encoding") {
            parse_transfer_encoding(&mut self.flags, &v, false).map_err(|()| Stop::Bad)?;
        } else if n.eq_ignore_ascii_case(b"content-length") {
            let (word, keep) = parse_content_length(&mut self.flags, &v).map_err(|()| Stop::Bad)?;
            if keep == Keep::No {
                return Ok(());
            }
            v = Cow::Owned(word.to_vec());
        } else if n.eq_ignore_ascii_case(b"connection") {
            let cleaned = parse_connection(&mut self.flags, &v, self.clean_connection);
            if cleaned.is_empty() {
                return Ok(());
            }
            if cleaned[..] != v[..] {
                v = Cow::Owned(cleaned);
            }
        } else if n.eq_ignore_ascii_case(b"upgrade") {
            parse_upgrade(&mut self.flags, &v);
        } else if n.eq_ignore_ascii_case(b"host") {
            match self.host_idx {
                None => self.host_idx = Some(self.fields.len()),
                Some(first) => {
                    if !v.eq_ignore_ascii_case(&self.fields[first].value) {
                        return Err(Stop::Bad); // two different Host values
                    }
                    return Ok(()); // the same again: dropped
                }
            }
        }
        self.fields.push(Field { name, value: v });
        Ok(())
    }

    /// Drop every indexed header named `name` (lower case).
    fn remove(&mut self, name: &[u8]) {
        let buf = self.buf;
        self.fields
            .retain(|h| !buf[h.name.clone()].eq_ignore_ascii_case(name));
    }

    /// The first indexed header named `name` (lower case).
    fn find(&self, name: &[u8]) -> Option<&Cow<'a, [u8]>> {
        self.fields
            .iter()
            .find(|h| self.buf[h.name.clone()].eq_ignore_ascii_case(name))
            .map(|h| &h.value)
    }

    /// Build the header map; a value http::HeaderValue cannot hold (control
    /// bytes other than HT, or DEL) is refused with 400 although HAProxy
    /// would forward it: xlb could not send it on anyway.
    pub(crate) fn into_map(self) -> Result<HeaderMap, HeadError> {
        let mut map = HeaderMap::with_capacity(self.fields.len());
        for f in self.fields {
            let name =
                HeaderName::from_bytes(&self.buf[f.name]).map_err(|_| HeadError::Status(400))?;
            let value = HeaderValue::from_bytes(&f.value).map_err(|_| HeadError::Status(400))?;
            map.append(name, value);
        }
        Ok(map)
    }
}

/// Scan a trailer block (h1_parse_msg_tlrs: the same header parser with
/// H1_MF_HDRS_ONLY, no Connection cleaning). Ok(None): incomplete.
pub(crate) fn parse_trailers(
    buf: &[u8],
    max_headers: usize,
) -> Result<Option<(HeaderMap, usize)>, HeadError> {
    let mut scan = HeaderScan::new(buf, false, max_headers);
    let end = match scan.headers(0) {
        Ok(end) => end,
        Err(Stop::More) => return Ok(None),
        Err(Stop::Bad) => return Err(HeadError::Status(400)),
    };
    // The end-of-block processing of h1_headers_to_hdr_list applies to
    // trailers too: Transfer-Encoding there must end in chunked, and with a
    // Content-Length the latter is removed.
    let f = scan.flags;
    if f.xfer_enc {
        if f.clen {
            scan.remove(b"content-length");
        }
        if !f.chnk {
            return Err(HeadError::Status(400));
        }
    }
    Ok(Some((scan.into_map()?, end)))
}

/// The parsed request line.
struct Line {
    method: Range<usize>,
    target: Range<usize>,
    version: Range<usize>,
}

/// Scan the request line from the start of `buf`, leading empty lines
/// included (H1_MSG_RQBEFORE .. H1_MSG_RQLINE_END). Returns the line and
/// where the headers start; for an HTTP/0.9-style line (no version) the
/// head ends right after it and `headers` is not to be scanned.
fn request_line(buf: &[u8]) -> Scan<(Line, usize, bool)> {
    let mut i = 0;
    // Leading CRLF or LF are skipped; a CR must be followed by LF.
    loop {
        let c = at(buf, i)?;
        if is_token(c) {
            break;
        }
        match c {
            b'\n' => i += 1,
            b'\r' => {
                i += 1;
                if at(buf, i)? != b'\n' {
                    return Err(Stop::Bad);
                }
                i += 1;
            }
            _ => return Err(Stop::Bad),
        }
    }
    let m_start = i;
    let mut c = at(buf, i)?;
    while is_token(c) {
        i += 1;
        c = at(buf, i)?;
    }
    let method = m_start..i;
    let (target, version);
    if is_spht(c) {
        while is_spht(c) {
            i += 1;
            c = at(buf, i)?;
        }
        if is_crlf(c) {
            // "GET \r\n": no target, no version (HTTP/0.9 form).
            target = i..i;
            version = i..i;
        } else {
            let u_start = i;
            i = skip_target_words(buf, i);
            c = at(buf, i)?;
            loop {
                match c {
                    b'#' => return Err(Stop::Bad), // CVE-2023-45539 fix
                    33..=126 => {}
                    b' ' | b'\t' | b'\r' | b'\n' => break,
                    // Controls, DEL, and bytes >= 0x80 (strict mode).
                    _ => return Err(Stop::Bad),
                }
                i += 1;
                c = at(buf, i)?;
            }
            target = u_start..i;
            if is_crlf(c) {
                version = i..i;
            } else {
                while is_spht(c) {
                    i += 1;
                    c = at(buf, i)?;
                }
                if is_crlf(c) {
                    version = i..i;
                } else {
                    let v_start = i;
                    while is_ver_token(c) {
                        i += 1;
                        c = at(buf, i)?;
                    }
                    if !is_crlf(c) {
                        // Trailing space, extra words, lower case...
                        return Err(Stop::Bad);
                    }
                    version = v_start..i;
                }
            }
        }
    } else if is_crlf(c) {
        target = i..i;
        version = i..i;
    } else {
        return Err(Stop::Bad); // not a token, not a separator
    }
    // http_msg_rqline_eol: CR then LF, or a bare LF.
    if c == b'\r' {
        i += 1;
    }
    if at(buf, i)? != b'\n' {
        return Err(Stop::Bad);
    }
    i += 1;
    let http09 = version.is_empty();
    if !http09 {
        // HAProxy moves on to the headers only with a byte to look at.
        at(buf, i)?;
    }
    Ok((
        Line {
            method,
            target,
            version,
        },
        i,
        http09,
    ))
}

/// HAProxy's word-at-a-time fast path at the start of the target
/// (HA_UNALIGNED_LE, set on x86-64 builds like Debian's): while 4 bytes are
/// buffered it skips groups the SWAR test lets through, then checks byte by
/// byte to the end of the target. The test, worked out on its arithmetic
/// ((x - 0x24242424) then - 0x5b5b5b5b, looking at the high bits), skips a
/// group when all four bytes are in 0x24..=0xa3 and at least one is below
/// 0x7f: so DEL and 0x80..=0xa3 pass unchecked next to ordinary characters.
/// Live: "POST ,x\x7f?y HTTP/1.1" was forwarded while "GET /\x7f HTTP/1.1"
/// (whose group holds the space after the target) got 400. The grouping
/// starts at the target's first byte; HAProxy resuming a split request
/// restarts it where it stopped, so with a request split inside its target
/// the outcome may differ from HAProxy's (one segment is the usual case).
fn skip_target_words(buf: &[u8], mut i: usize) -> usize {
    while let Some(g) = buf.get(i..i + 4) {
        let in_range = g.iter().all(|&b| (0x24..=0xa3).contains(&b));
        let some_low = g.iter().any(|&b| b < 0x7f);
        if !(in_range && some_low) {
            break;
        }
        i += 4;
    }
    i
}

/// H1_MF_VER_11 as h1_headers_to_hdr_list sets it: 8 bytes and a version
/// of 1.1 or above, judged on the digits alone.
fn ver_11(v: &[u8]) -> bool {
    v.len() == 8 && (v[5] > b'1' || (v[5] == b'1' && v[7] >= b'1'))
}

/// h1_process_req_vsn in strict mode: exactly "HTTP/" digit "." digit.
fn version_valid(v: &[u8]) -> bool {
    v.len() == 8
        && &v[..5] == b"HTTP/"
        && v[5].is_ascii_digit()
        && v[6] == b'.'
        && v[7].is_ascii_digit()
}

/// sizeof(struct htx_blk) and sizeof(struct htx_sl) on 64-bit builds: the
/// head-size limit is on HAProxy's internal (HTX) size of the head, which
/// h1_eval_htx_size estimates from these.
const HTX_BLK: usize = 8;
const HTX_SL: usize = 20;

/// Parse one request head at the start of `buf`.
///
/// Ok(None): incomplete; read more (refusing with 400 once
/// [`too_large`]). Err: HAProxy refuses the request with that status and
/// closes the connection after answering.
///
/// HAProxy also decodes, before forwarding anything, the body bytes that
/// came in the same read as the head: if [`BodyDecoder`] fails on them the
/// answer is that 400 (raw [`error_message`]) and the server never sees
/// the request (live: a bad chunk size sent with the head gets 400 at once).
///
/// [`BodyDecoder`]: super::BodyDecoder
/// [`error_message`]: super::error_message
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<RequestHead>, HeadError> {
    let (line, hdr_start, http09) = match request_line(buf) {
        Ok(x) => x,
        Err(Stop::More) => return Ok(None),
        Err(Stop::Bad) => return Err(HeadError::Status(400)),
    };
    let mut scan = HeaderScan::new(buf, true, limits.max_headers);
    let head_len = if http09 {
        // No header block: the line's end is the head's end.
        hdr_start
    } else {
        match scan.headers(hdr_start) {
            Ok(end) => end,
            Err(Stop::More) => return Ok(None),
            Err(Stop::Bad) => return Err(HeadError::Status(400)),
        }
    };
    finish(buf, line, scan, head_len, limits)
}

/// [`parse_request`] for a head that arrives in several reads, the way
/// HAProxy goes over it (h1_headers_to_hdr_list's "restarting" mode).
///
/// HAProxy interprets header fields (Content-Length, Transfer-Encoding,
/// Host, the header count...) only in its first pass over a head, i.e. for
/// the lines complete in the first read that went beyond empty lines; later
/// reads are only checked for syntax until the head is complete, and then
/// the whole head is parsed again. So "GET / HTTP/1.1\r\n" followed, in a
/// second read, by "Content-Length: x\r\nHost: a\r\n" and nothing more gets
/// 408 on timeout from HAProxy, while [`parse_request`] on the whole buffer
/// refuses it at once with 400. This parser reproduces that, and resumes
/// each call at the line where the previous one stopped instead of
/// rescanning the head, so a head trickled in byte by byte costs linear
/// time in the number of lines (a single line is still rescanned).
///
/// Call [`HeadParser::parse`] each time the buffer grew (appending only);
/// it starts afresh by itself after returning a head or an error.
#[derive(Debug, Clone, Default)]
pub struct HeadParser {
    /// Buffer length at HAProxy's first pass, once it went past empty lines.
    first_len: Option<usize>,
    /// Header line to resume the syntax-only scan at (0: from the start).
    resume: usize,
}

impl HeadParser {
    pub fn new() -> Self {
        Self::default()
    }

    /// Forget any partial head (e.g. after the caller consumed a request).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Like [`parse_request`], for a buffer that only grew since the last
    /// call.
    pub fn parse(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<RequestHead>, HeadError> {
        let Some(first_len) = self.first_len.filter(|&l| l <= buf.len()) else {
            // First pass: everything is checked, and a complete head is
            // finished from this same scan ([`parse_request`]'s steps; a
            // second scan of every head was 4 % of the proxy's instructions
            // per keep-alive request).
            let mut scan = HeaderScan::new(buf, true, limits.max_headers);
            let scanned = request_line(buf).and_then(|(line, hdr_start, http09)| {
                let end = if http09 {
                    hdr_start
                } else {
                    scan.headers(hdr_start)?
                };
                Ok((line, end))
            });
            return match scanned {
                Ok((line, head_len)) => self.done(finish(buf, line, scan, head_len, limits)),
                Err(Stop::Bad) => self.done(Err(HeadError::Status(400))),
                Err(Stop::More) => {
                    if !only_empty_lines(buf) {
                        self.first_len = Some(buf.len());
                        self.resume = scan.line_start;
                    }
                    Ok(None)
                }
            };
        };
        // Restarting: syntax only, from where the last pass stopped.
        let mut scan = HeaderScan::new(buf, true, limits.max_headers);
        scan.gate = first_len;
        match scan_head(buf, &mut scan, self.resume) {
            Ok(_) => self.done(parse_request(buf, limits)),
            Err(Stop::Bad) => self.done(Err(HeadError::Status(400))),
            Err(Stop::More) => {
                self.resume = scan.line_start;
                Ok(None)
            }
        }
    }

    fn done(
        &mut self,
        r: Result<Option<RequestHead>, HeadError>,
    ) -> Result<Option<RequestHead>, HeadError> {
        self.reset();
        r
    }
}

/// Scan a head's syntax, from a header line `resume` when non-zero (the
/// request line was already seen), else from the start. Ok: complete.
fn scan_head(buf: &[u8], scan: &mut HeaderScan<'_>, resume: usize) -> Scan<()> {
    let from = if resume > 0 {
        resume
    } else {
        let (_, hdr_start, http09) = request_line(buf)?;
        if http09 {
            return Ok(());
        }
        hdr_start
    };
    scan.headers(from).map(|_| ())
}

/// True when `buf` holds nothing but whole empty lines: HAProxy's parser is
/// then still before the request line, and its next pass is a first pass.
fn only_empty_lines(buf: &[u8]) -> bool {
    let mut i = 0;
    while i < buf.len() {
        match (buf[i], buf.get(i + 1)) {
            (b'\n', _) => i += 1,
            (b'\r', Some(b'\n')) => i += 2,
            _ => return false,
        }
    }
    true
}

/// Everything HAProxy checks and decides once the head is complete.
fn finish(
    buf: &[u8],
    line: Line,
    mut scan: HeaderScan<'_>,
    head_len: usize,
    limits: &Limits,
) -> Result<Option<RequestHead>, HeadError> {
    let bad = Err(HeadError::Status(400));
    let meth = &buf[line.method.clone()];
    let target_raw = &buf[line.target.clone()];
    let vsn = &buf[line.version.clone()];
    let is_connect = meth == b"CONNECT";
    scan.flags.ver_11 = ver_11(vsn);

    // Host against the target's authority (end of h1_headers_to_hdr_list).
    let host_value = scan.host_idx.map(|h| scan.fields[h].value.clone());
    if is_connect {
        match uri::validate_connect(target_raw, host_value.as_deref()) {
            Err(()) => return bad,
            Ok(Some(host)) => {
                if let Some(h) = scan.host_idx {
                    scan.fields[h].value = Cow::Owned(host);
                }
            }
            Ok(None) => {}
        }
    } else if let (Some(host), Some(auth)) = (host_value.as_deref(), uri::authority(target_raw)) {
        let auth = &target_raw[auth];
        if !auth.is_empty()
            && !auth.eq_ignore_ascii_case(host)
            && uri::validate_mismatch(target_raw, auth, host).is_err()
        {
            return bad;
        }
    }

    // Transfer-Encoding: with Content-Length the latter goes and the
    // connection will close; with HTTP/1.0 it will close; a request's last
    // coding must be chunked.
    if scan.flags.xfer_enc {
        if scan.flags.clen {
            scan.flags.conn_clo = true;
            scan.flags.te_forced_clo = true;
            scan.flags.clen = false;
            scan.flags.body_len = 0;
            scan.remove(b"content-length");
        } else if !scan.flags.ver_11 {
            scan.flags.conn_clo = true;
            scan.flags.te_forced_clo = true;
        }
        if !scan.flags.chnk {
            return bad;
        }
    }

    if !version_valid(vsn) {
        return bad; // includes HTTP/0.9 requests (no version at all)
    }

    // The head must fit HAProxy's buffer once converted to HTX.
    let htx_size = HTX_BLK
        + HTX_SL
        + meth.len()
        + target_raw.len()
        + vsn.len()
        + scan
            .fields
            .iter()
            .map(|h| HTX_BLK + h.name.len() + h.value.len())
            .sum::<usize>()
        + HTX_BLK
        + 1;
    if htx_size > limits.max_head {
        return bad;
    }

    if is_connect {
        // A CONNECT request has no body; what follows is tunnelled. On the
        // way out mux_h1 (h1_process_mux) then drops a Content-Length that
        // does not match that empty body: "2" goes, "0" or "00" stays
        // (live).
        scan.flags.clen = false;
        scan.flags.chnk = false;
        scan.flags.body_len = 0;
        scan.fields.retain(|h| {
            !buf[h.name.clone()].eq_ignore_ascii_case(b"content-length") || {
                let mut zero = MsgFlags {
                    clen: true,
                    ..MsgFlags::default()
                };
                parse_content_length(&mut zero, &h.value).is_ok()
            }
        });
    }
    let f = scan.flags;
    let bodyless = !f.chnk && (!f.clen || f.body_len == 0);
    if f.conn_upg && !bodyless {
        // No protocol switch for a request with a body: Upgrade goes.
        scan.flags.conn_upg = false;
        scan.remove(b"upgrade");
    }

    // Absolute-form target with its scheme's default port: drop the port
    // from the target and from Host.
    let mut target: Cow<'_, [u8]> = Cow::Borrowed(target_raw);
    if !is_connect {
        if let Some((t, host)) = uri::scheme_based_normalize(target_raw) {
            target = Cow::Owned(t);
            for h in scan.fields.iter_mut() {
                if buf[h.name.clone()].eq_ignore_ascii_case(b"host") {
                    h.value = Cow::Owned(host.clone());
                }
            }
        }
    }

    // Also on the way out: "TE" survives only as "trailers" (the first
    // "trailers", case-sensitive, anywhere, followed by the end or a comma).
    scan.fields.retain_mut(|h| {
        if !buf[h.name.clone()].eq_ignore_ascii_case(b"te") {
            return true;
        }
        let v: &[u8] = &h.value;
        let keep = v
            .windows(8)
            .position(|w| w == b"trailers")
            .is_some_and(|at| matches!(v.get(at + 8), None | Some(b',')));
        if keep {
            h.value = Cow::Borrowed(b"trailers");
        }
        keep
    });

    let f = scan.flags;
    // mux_h1 h1_handle_headers, in its order: 413, 422, then websocket.
    let body = (f.clen && f.body_len > 0) || f.chnk;
    if !f.ver_11 && body && matches!(meth, b"GET" | b"HEAD" | b"DELETE") {
        return Err(HeadError::Status(413));
    }
    if f.te_other {
        return Err(HeadError::Status(422));
    }
    if f.conn_upg && f.upg_websocket {
        // mux_h1 h1_search_websocket_key: a 24-byte key (base64 of 16).
        let key = scan.fields.iter().any(|h| {
            buf[h.name.clone()].eq_ignore_ascii_case(b"sec-websocket-key") && h.value.len() == 24
        });
        if !key {
            return bad;
        }
    }
    // http_wait_for_request: "PRI" is only for the h2 preface.
    if meth.eq_ignore_ascii_case(b"PRI") {
        return Err(HeadError::Stream(400));
    }

    let upgrade = if f.conn_upg {
        scan.find(b"upgrade")
            .map(|v| String::from_utf8_lossy(v).into_owned())
    } else {
        None
    };
    // First element of the first Expect header, as http_find_header reads.
    let expect_continue = f.ver_11
        && (f.clen || f.chnk)
        && scan.find(b"expect").is_some_and(|v| {
            let first = &v[..find_value_end(v, 0)];
            trim_lws(first).eq_ignore_ascii_case(b"100-continue")
        });
    let framing = if f.chnk {
        Framing::Chunked
    } else if f.clen && f.body_len > 0 {
        Framing::Length(f.body_len)
    } else {
        Framing::None
    };
    let version = if f.ver_11 {
        Version::HTTP_11
    } else if vsn[5] == b'0' {
        Version::HTTP_09
    } else {
        Version::HTTP_10
    };
    let keep_alive = (f.ver_11 || f.conn_kal) && !f.conn_clo;
    let method = Method::from_bytes(meth).map_err(|_| HeadError::Status(400))?;
    // The target is ASCII (0x21..=0x7e, or DEL let through by the fast
    // path) unless that fast path let bytes 0x80..=0xa3 through: those are
    // never valid UTF-8 on their own, and no URI type downstream takes them,
    // so such a request gets 400 where HAProxy would forward it.
    let target = String::from_utf8(target.into_owned()).map_err(|_| HeadError::Status(400))?;
    let headers = scan.into_map()?;
    Ok(Some(RequestHead {
        method,
        target,
        version,
        headers,
        framing,
        keep_alive,
        close: f.conn_clo,
        close_forced: f.te_forced_clo,
        upgrade,
        expect_continue,
        head_len,
    }))
}
