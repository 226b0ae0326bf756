//! Message bodies: decoding request bodies from a client (Content-Length or
//! chunked, with HAProxy's chunk rules) and chunk-encoding responses to it.
//!
//! Chunk-size lines follow h1_parse_chunk_size (include/haproxy/h1.h) and
//! h1_parse_full_contig_chunks (src/h1_htx.c): 1*HEXDIG, then optional SP/HT,
//! then optional ";extension" running to the line end, then CRLF or a bare
//! LF; a CR must be followed by LF; no leading white space; at most 2^52-1
//! (HAProxy refuses sizes that need more than 13 hex digits, leading zeros
//! aside). Chunk data must be followed by CRLF or LF (h1_skip_chunk_crlf).
//! Trailers go through the header parser (h1_parse_msg_tlrs), so its rules
//! and limits apply to them.

use bytes::{Bytes, BytesMut};
use http::HeaderMap;

use super::chars::{hex_val, is_crlf, is_spht};
use super::head::parse_trailers;
use super::{Framing, HeadError, Limits};

/// What the decoder produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyEvent {
    /// Body bytes, in order, without chunk framing.
    Data(Bytes),
    /// The trailer fields of a chunked body (only when there are some).
    Trailers(HeaderMap),
    /// The body is complete; whatever follows in the buffer is the next
    /// request.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Content-Length bytes still to come (> 0).
    Length(u64),
    /// Expecting a chunk-size line.
    Size,
    /// Chunk data still to come (> 0).
    Data(u64),
    /// Expecting the CRLF after chunk data.
    DataCrlf,
    /// Expecting the trailer block after the last chunk.
    Trailers,
    /// Complete; End not yet reported.
    End,
    /// Complete and End reported.
    Done,
}

/// Incremental request-body decoder. Feed it the bytes after the head;
/// it consumes what it decodes from the buffer and leaves the rest.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
    limits: Limits,
}

const BAD: HeadError = HeadError::Status(400);

/// Parse a chunk-size line at the start of `b`: Ok(Some((size, len))),
/// Ok(None) when incomplete, Err when HAProxy refuses it.
fn chunk_size(b: &[u8]) -> Result<Option<(u64, usize)>, HeadError> {
    let mut i = 0;
    let mut size: u64 = 0;
    loop {
        let Some(&c) = b.get(i) else {
            return Ok(None);
        };
        let Some(d) = hex_val(c) else {
            break;
        };
        size = (size << 4) | u64::from(d);
        if size & 0x00F0_0000_0000_0000 != 0 {
            return Err(BAD); // 2^52 or more
        }
        i += 1;
    }
    if i == 0 {
        return Err(BAD); // empty size
    }
    while b.get(i).is_some_and(|&c| is_spht(c)) {
        i += 1;
    }
    loop {
        let Some(&c) = b.get(i) else {
            return Ok(None);
        };
        match c {
            b'\r' | b'\n' => {
                if c == b'\r' {
                    i += 1;
                    match b.get(i) {
                        None => return Ok(None),
                        Some(b'\n') => {}
                        Some(_) => return Err(BAD),
                    }
                }
                return Ok(Some((size, i + 1)));
            }
            b';' => {
                // An extension: anything up to the line end, unchecked.
                i += 1;
                while b.get(i).is_some_and(|&c| !is_crlf(c)) {
                    i += 1;
                }
                if i >= b.len() {
                    return Ok(None);
                }
            }
            _ => return Err(BAD),
        }
    }
}

impl BodyDecoder {
    /// A decoder for a request body framed as `framing`, with HAProxy's
    /// default buffer limits. `UntilClose` is not a request framing; it is
    /// decoded as no body, as HAProxy does for requests.
    pub fn new(framing: &Framing) -> Self {
        Self::with_limits(framing, &Limits::default())
    }

    /// A decoder applying `limits` to chunk-size lines and trailer blocks
    /// (an unfinished one filling `max_buffered` bytes is refused with 400,
    /// as Debian's 2.6.12-1+deb12u4 does; trailers get `max_headers`).
    pub fn with_limits(framing: &Framing, limits: &Limits) -> Self {
        let state = match *framing {
            Framing::Length(n) if n > 0 => State::Length(n),
            Framing::Chunked => State::Size,
            _ => State::End,
        };
        BodyDecoder {
            state,
            limits: *limits,
        }
    }

    /// Decode from the start of `buf`, consuming what was decoded.
    /// Ok(None): more bytes are needed (or the body was already reported
    /// complete). Errors are the status HAProxy answers (400).
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<BodyEvent>, HeadError> {
        loop {
            match self.state {
                State::Length(rem) | State::Data(rem) => {
                    if buf.is_empty() {
                        return Ok(None);
                    }
                    let n = rem.min(buf.len() as u64);
                    let data = buf.split_to(n as usize).freeze();
                    let left = rem - n;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => State::End,
                        (State::Length(_), _) => State::Length(left),
                        (_, 0) => State::DataCrlf,
                        _ => State::Data(left),
                    };
                    return Ok(Some(BodyEvent::Data(data)));
                }
                State::Size => match chunk_size(buf)? {
                    None => return self.wait(buf),
                    Some((size, len)) => {
                        let _ = buf.split_to(len);
                        self.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::Data(size)
                        };
                    }
                },
                State::DataCrlf => {
                    let len = match buf.first() {
                        None => return Ok(None),
                        Some(b'\n') => 1,
                        Some(b'\r') => match buf.get(1) {
                            None => return Ok(None),
                            Some(b'\n') => 2,
                            Some(_) => return Err(BAD),
                        },
                        Some(_) => return Err(BAD),
                    };
                    let _ = buf.split_to(len);
                    self.state = State::Size;
                }
                State::Trailers => match parse_trailers(buf, self.limits.max_headers)? {
                    None => return self.wait(buf),
                    Some((map, len)) => {
                        let _ = buf.split_to(len);
                        if map.is_empty() {
                            self.state = State::Done;
                            return Ok(Some(BodyEvent::End));
                        }
                        self.state = State::End;
                        return Ok(Some(BodyEvent::Trailers(map)));
                    }
                },
                State::End => {
                    self.state = State::Done;
                    return Ok(Some(BodyEvent::End));
                }
                State::Done => return Ok(None),
            }
        }
    }

    /// Incomplete framing: wait, unless the buffer is full already.
    fn wait(&self, buf: &BytesMut) -> Result<Option<BodyEvent>, HeadError> {
        if buf.len() >= self.limits.max_buffered {
            Err(BAD)
        } else {
            Ok(None)
        }
    }

    /// Decoding chunks (not yet past the last one).
    pub fn is_chunked(&self) -> bool {
        matches!(
            self.state,
            State::Size | State::Data(_) | State::DataCrlf | State::Trailers
        )
    }

    /// True once the whole body has been decoded (End may still be pending
    /// in the next `decode` call).
    pub fn is_done(&self) -> bool {
        matches!(self.state, State::End | State::Done)
    }
}

/// Append `data` as one chunk (size in upper-case hex like HAProxy's
/// h1_emit_chunk_size, CRLF, data, CRLF). Empty data writes nothing: an
/// empty chunk would end the body.
pub fn encode_chunk(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    push_hex(data.len() as u64, out);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// Append the last chunk, the trailers if any, and the final CRLF.
pub fn encode_last_chunk(trailers: Option<&HeaderMap>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n");
    if let Some(t) = trailers {
        for (name, value) in t {
            out.extend_from_slice(name.as_str().as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
}

fn push_hex(mut n: u64, out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut tmp = [0u8; 16];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = HEX[(n & 0xF) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}
