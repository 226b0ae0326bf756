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

/// A request body on its way to a server: chunk-encoded when the head
/// said so, gathered into few writes; a server that stops taking it is
/// noted (`Sent::whole`), not waited on, so the client's body is still
/// read to its end and the connection stays in step.
pub struct BodyOut {
    out: Vec<u8>,
    chunked: bool,
    whole: bool,
    bytes: u64,
    trailers: Option<http::HeaderMap>,
}

impl BodyOut {
    /// Starting with `head`, so that the head and the first body bytes
    /// leave in one write.
    pub fn new(head: &[u8], chunked: bool, room: usize) -> BodyOut {
        let mut out = Vec::with_capacity(head.len() + room);
        out.extend_from_slice(head);
        BodyOut {
            out,
            chunked,
            whole: true,
            bytes: 0,
            trailers: None,
        }
    }

    pub fn data(&mut self, d: &[u8]) {
        self.bytes += d.len() as u64;
        if self.chunked {
            crate::http1::encode_chunk(d, &mut self.out);
        } else {
            self.out.extend_from_slice(d);
        }
    }

    pub fn trailers(&mut self, t: http::HeaderMap) {
        self.trailers = Some(t);
    }

    /// Bytes gathered and not written yet.
    pub fn pending(&self) -> usize {
        self.out.len()
    }

    /// Write what is gathered (each write within `limit`).
    pub async fn flush<W: AsyncWrite + Unpin>(&mut self, w: &mut W, limit: Option<Duration>) {
        if !self.out.is_empty() && self.whole {
            self.whole = matches!(
                super::bounded(limit, w.write_all(&self.out)).await,
                Some(Ok(()))
            );
        }
        self.out.clear();
    }

    /// The body's end (the last chunk, with the trailers), written.
    pub async fn finish<W: AsyncWrite + Unpin>(
        mut self,
        w: &mut W,
        limit: Option<Duration>,
    ) -> Sent {
        if self.chunked {
            crate::http1::encode_last_chunk(self.trailers.as_ref(), &mut self.out);
        }
        self.flush(w, limit).await;
        Sent {
            bytes: self.bytes,
            whole: self.whole,
        }
    }
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

    /// A server that stopped reading: every write fails.
    struct Gone;

    impl AsyncWrite for Gone {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            _: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            std::task::Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[tokio::test]
    async fn a_chunked_body_leaves_with_the_head_and_ends_with_its_trailers() {
        let mut wire: Vec<u8> = Vec::new();
        let mut b = BodyOut::new(b"HEAD\r\n\r\n", true, 0);
        b.data(b"hello");
        b.flush(&mut wire, None).await;
        b.data(b"");
        let mut t = HeaderMap::new();
        t.insert("x-sum", "1".parse().unwrap());
        b.trailers(t);
        let sent = b.finish(&mut wire, None).await;
        assert_eq!(wire, b"HEAD\r\n\r\n5\r\nhello\r\n0\r\nx-sum: 1\r\n\r\n");
        assert_eq!(
            sent,
            Sent {
                bytes: 5,
                whole: true
            }
        );
    }

    #[tokio::test]
    async fn a_server_that_stops_reading_is_noted_and_the_body_still_counted() {
        let mut b = BodyOut::new(b"HEAD\r\n\r\n", false, 0);
        b.data(b"abc");
        b.flush(&mut Gone, None).await;
        b.data(b"defg");
        assert_eq!(b.pending(), 4);
        let sent = b.finish(&mut Gone, None).await;
        assert_eq!(
            sent,
            Sent {
                bytes: 7,
                whole: false
            }
        );
    }

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
