//! A response body read from a server connection, piece by piece, with
//! the framing its head gave: a length, chunks (HAProxy's chunk rules, the
//! same decoder as requests'), or until the server closes.

use super::ServerConn;
use crate::http1::{BodyDecoder, BodyEvent, Framing};
use bytes::Bytes;
use http::HeaderMap;
use std::task::{ready, Context, Poll};

/// A piece of a response body.
#[derive(Debug)]
pub enum Piece {
    /// Body bytes, without chunk framing.
    Data(Bytes),
    /// A chunked body's trailer fields.
    Trailers(HeaderMap),
}

/// Why a response body stopped short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFailure {
    /// The server closed (or reset) before the body's end.
    Closed,
    /// Chunk framing HAProxy refuses.
    Bad,
}

pub struct BodyReader {
    kind: Kind,
}

enum Kind {
    Framed(BodyDecoder),
    UntilClose,
    Done,
}

impl BodyReader {
    pub fn new(framing: &Framing) -> Self {
        let kind = match framing {
            Framing::UntilClose => Kind::UntilClose,
            f => Kind::Framed(BodyDecoder::new(f)),
        };
        BodyReader { kind }
    }

    /// The whole body was read: the connection is at the next response.
    pub fn is_done(&self) -> bool {
        matches!(self.kind, Kind::Done)
    }

    /// The next piece; Ready(Ok(None)) at the body's end.
    pub fn poll_next(
        &mut self,
        conn: &mut ServerConn,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Piece>, BodyFailure>> {
        loop {
            match &mut self.kind {
                Kind::Done => return Poll::Ready(Ok(None)),
                Kind::Framed(d) => match d.decode(&mut conn.buf) {
                    Err(_) => return Poll::Ready(Err(BodyFailure::Bad)),
                    Ok(Some(BodyEvent::Data(b))) => return Poll::Ready(Ok(Some(Piece::Data(b)))),
                    Ok(Some(BodyEvent::Trailers(t))) => {
                        return Poll::Ready(Ok(Some(Piece::Trailers(t))))
                    }
                    Ok(Some(BodyEvent::End)) => {
                        self.kind = Kind::Done;
                        return Poll::Ready(Ok(None));
                    }
                    Ok(None) => match ready!(conn.poll_fill(cx)) {
                        Ok(0) | Err(_) => return Poll::Ready(Err(BodyFailure::Closed)),
                        Ok(_) => {}
                    },
                },
                Kind::UntilClose => {
                    if !conn.buf.is_empty() {
                        return Poll::Ready(Ok(Some(Piece::Data(conn.buf.split().freeze()))));
                    }
                    match ready!(conn.poll_fill(cx)) {
                        Ok(0) => {
                            self.kind = Kind::Done;
                            return Poll::Ready(Ok(None));
                        }
                        Err(_) => return Poll::Ready(Err(BodyFailure::Closed)),
                        Ok(_) => {}
                    }
                }
            }
        }
    }

    /// A piece already here, without waiting (None: one must be waited
    /// for).
    pub fn ready_now(
        &mut self,
        conn: &mut ServerConn,
    ) -> Option<Result<Option<Piece>, BodyFailure>> {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        match self.poll_next(conn, &mut cx) {
            Poll::Ready(r) => Some(r),
            Poll::Pending => None,
        }
    }

    pub async fn next(&mut self, conn: &mut ServerConn) -> Result<Option<Piece>, BodyFailure> {
        std::future::poll_fn(|cx| self.poll_next(conn, cx)).await
    }
}
