//! Request bodies sent to servers: from an HTTP/1 client, fed through a
//! bounded channel as the client's bytes are decoded (flow control: a slow
//! server slows the client's reads); from an h2 client, hyper's own.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

#[derive(Debug)]
pub struct BodyError(pub String);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BodyError {}

pub type ReqBody = BoxBody<Bytes, BodyError>;

pub fn empty() -> ReqBody {
    http_body_util::Empty::new()
        .map_err(|never| match never {})
        .boxed()
}

pub fn full(b: impl Into<Bytes>) -> ReqBody {
    http_body_util::Full::new(b.into())
        .map_err(|never| match never {})
        .boxed()
}

/// A body whose frames arrive on a channel. With a known length it says
/// so (the server gets a Content-Length), else it is chunked.
pub struct ChannelBody {
    rx: mpsc::Receiver<Result<Frame<Bytes>, BodyError>>,
    length: Option<u64>,
    done: bool,
}

pub type FrameSender = mpsc::Sender<Result<Frame<Bytes>, BodyError>>;

/// Frames in flight between the client's reader and the server's writer.
const DEPTH: usize = 4;

pub fn channel(length: Option<u64>) -> (FrameSender, ReqBody) {
    let (tx, rx) = mpsc::channel(DEPTH);
    let body = ChannelBody {
        rx,
        length,
        done: false,
    };
    (tx, body.boxed())
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.length == Some(0)
    }

    fn size_hint(&self) -> SizeHint {
        match self.length {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
