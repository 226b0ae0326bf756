//! xlb's dataplane: per-core workers that poll AF_XDP rings, parse frames
//! with zero-copy views, keep connection tables and forward in NAT or DR mode.

pub mod conn;
pub mod forward;
pub mod ftp;
pub mod inbox;
pub mod outbox;
pub mod sched;
pub mod snapshot;
pub mod splitmix;
pub mod stats;
pub mod steer;
pub mod synproxy;
pub mod wire;
pub mod worker;
pub mod xsk;
