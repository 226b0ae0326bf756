//! xlb's shared model: the types every part of the director agrees on.
//! Addresses of both families, protocols, forwarding methods, schedulers'
//! names, TCP states and timeouts, the keys that name services and real
//! servers on any director, portable connection records, and the checked
//! configuration with its TOML parser.
//!
//! Nothing here does I/O or depends on the dataplane (aya, libc, AF_XDP):
//! the daemon, the dataplane, the proxy and the tools all build on it.

pub mod addr;
pub mod check;
pub mod config;
pub mod conn;
pub mod keys;
pub mod proto;
pub mod proxy;
pub mod sched;
pub mod service;
pub mod settings;
pub mod tcp;

pub use addr::{Address, Family};
pub use conn::ConnRecord;
pub use keys::{RealKey, ServiceKey};
pub use proto::Protocol;
pub use sched::SchedulerKind;
pub use service::{Forwarding, MarkRule, Persistence};
