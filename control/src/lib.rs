//! xlb's control plane: configuration, the daemon's wiring of dataplane
//! workers, neighbour resolution, stats and the unix-socket API.

pub mod announce;
pub mod api;
pub mod cli;
pub mod daemon;
pub mod dashboard;
pub mod ha;
pub mod health;
pub mod import;
pub mod ipvsadm;
pub mod metrics;
pub mod net;
pub mod nic;
pub mod ownership;
pub mod proxy_listing;
pub mod service;
pub mod sync;
pub mod top;
pub mod web;

/// The configuration lives in the model crate (the proxy and tools read it
/// without the dataplane); `crate::config` keeps its old path here.
pub use xlb_model::config;
