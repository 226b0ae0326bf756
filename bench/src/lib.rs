//! Shared pieces of the xlb bench binaries (see bench/README.md).

pub mod fixture;
pub mod traffic;
