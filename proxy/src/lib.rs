//! The HAProxy half of xlb: frontends that accept TCP or HTTP connections on
//! the kernel's stack, route them by ACL to backends, and balance them over
//! servers exactly as HAProxy 2.6 would, so a migration keeps each key on
//! its server. xlbd runs it on threads of its own; the AF_XDP workers and
//! the control thread do not wait on it.

mod acl;
pub mod backend;
pub mod balance;
mod check;
mod connect;
pub mod counters;
mod frontend;
mod http;
pub mod http1;
mod listener;
mod log;
mod runtime;
pub mod status;
mod tcp;
mod tls;
mod tunnel;

pub use runtime::{Prepared, Proxy, ProxyError, ProxyView, ServerOp};
pub use status::ProxyStatus;
