//! What the control thread learns from the kernel: interfaces (index, MAC,
//! IPv4 subnets) and the neighbour table.

pub mod ifaces;
pub mod neigh;
