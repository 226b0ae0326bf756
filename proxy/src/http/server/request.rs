//! The request as it leaves for a server: its head in HAProxy's form
//! (lower-case names, in the client's order), and its body from whichever
//! side it comes (an HTTP/1 client's connection, an h2 stream, none).

use super::FeedError;
use http::{HeaderMap, Method, Version};
use std::future::Future;
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// What the body's sending did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    /// Body bytes received from the client.
    pub bytes: u64,
    /// All of it reached the server (a server that stopped reading, or
    /// closed, did not get it all; the client's body is still read whole).
    pub whole: bool,
}

/// A request body to send after the head.
pub trait RequestBody: Send {
    /// No body at all: the head is the request.
    fn is_empty(&self) -> bool;
    /// Nothing of it consumed yet, so the request can go again on another
    /// connection.
    fn replayable(&self) -> bool;
    /// Write `head` then the body to `w`, each write within `limit`.
    fn send<W: AsyncWrite + Unpin + Send>(
        &mut self,
        head: &[u8],
        w: &mut W,
        limit: Option<Duration>,
    ) -> impl Future<Output = Result<Sent, FeedError>> + Send;
}

/// A request without a body.
pub struct NoBody;

impl RequestBody for NoBody {
    fn is_empty(&self) -> bool {
        true
    }
    fn replayable(&self) -> bool {
        true
    }
    async fn send<W: AsyncWrite + Unpin + Send>(
        &mut self,
        head: &[u8],
        w: &mut W,
        limit: Option<Duration>,
    ) -> Result<Sent, FeedError> {
        let wrote = super::bounded(limit, w.write_all(head)).await;
        Ok(Sent {
            bytes: 0,
            whole: matches!(wrote, Some(Ok(()))),
        })
    }
}

/// Serialize a request head. `length`: a body of this many bytes, whose
/// Content-Length goes last (a chunked body says so in `headers`).
pub fn request_head(
    method: &Method,
    target: &str,
    version: Version,
    headers: &HeaderMap,
    length: Option<u64>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + headers.len() * 32);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(if version == Version::HTTP_10 {
        b" HTTP/1.0\r\n"
    } else {
        b" HTTP/1.1\r\n"
    });
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if let Some(n) = length.filter(|&n| n > 0) {
        if !headers.contains_key(http::header::CONTENT_LENGTH) {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(n.to_string().as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_in_order_with_its_length_last() {
        let mut h = HeaderMap::new();
        h.insert("host", "a".parse().unwrap());
        h.append("x-forwarded-for", "10.0.0.1".parse().unwrap());
        let out = request_head(&Method::POST, "/up?x=1", Version::HTTP_11, &h, Some(5));
        assert_eq!(
            out,
            b"POST /up?x=1 HTTP/1.1\r\nhost: a\r\nx-forwarded-for: 10.0.0.1\r\ncontent-length: 5\r\n\r\n"
        );
        let out = request_head(&Method::GET, "/", Version::HTTP_10, &h, None);
        assert!(out.starts_with(b"GET / HTTP/1.0\r\n"));
        assert!(!out.windows(14).any(|w| w == b"content-length"));
    }
}
