//! Shared pieces of the xlb bench binaries (see bench/README.md).

pub mod traffic;
