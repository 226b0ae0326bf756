//! What the control thread learns from and tells the kernel: interfaces
//! (index, MAC, addresses, link state), the neighbour table, and the
//! virtual addresses VRRP adds and removes.

pub mod addr;
pub mod ifaces;
pub mod neigh;
pub mod neigh_watch;
pub mod route;
mod rtnl;
#[cfg(test)]
mod test_netns;
