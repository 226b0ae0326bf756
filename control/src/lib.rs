//! xlb's control plane: configuration, the daemon's wiring of dataplane
//! workers, neighbour resolution, stats and the unix-socket API.

pub mod api;
pub mod config;
pub mod daemon;
pub mod ha;
pub mod health;
pub mod import;
pub mod metrics;
pub mod net;
pub mod nic;
