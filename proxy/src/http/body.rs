//! Bodies that hyper's h2 server sends to clients: our own replies and
//! servers' bodies ([`super::server`]), with one error type.

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::BodyExt;

#[derive(Debug)]
pub struct BodyError(pub String);

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BodyError {}

pub type RespBody = BoxBody<Bytes, BodyError>;

pub fn full(b: impl Into<Bytes>) -> RespBody {
    http_body_util::Full::new(b.into())
        .map_err(|never| match never {})
        .boxed()
}
