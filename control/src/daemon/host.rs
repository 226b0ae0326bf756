//! What the daemon learns from the host's kernel: its interfaces and the
//! neighbour table, which it keeps fresh for the real servers (the kernel
//! never sees the dataplane's traffic, so nothing else would). Behind a
//! trait, so the daemon's logic runs in tests with a made-up host.

use crate::net::ifaces::{self, Interface};
use crate::net::neigh::{needs_poke, NeighbourTable, Netlink};
use crate::net::neigh_watch::NeighbourWatch;
use std::io;
use std::net::IpAddr;
use std::sync::Arc;

pub trait Host: Send {
    fn interfaces(&self) -> io::Result<Vec<Interface>>;
    /// The kernel's neighbour table as last seen.
    fn neighbours(&self) -> Arc<NeighbourTable>;
    /// Bumped whenever the neighbour table changed.
    fn neighbours_generation(&self) -> u64;
    /// Ask the kernel to resolve those of `wanted` (ifindex, address)
    /// whose entry is missing, failed or stale.
    fn keep_fresh(&mut self, wanted: &[(u32, IpAddr)]);
}

/// The real host: interfaces from getifaddrs, neighbours followed by
/// netlink events, resolution asked with NTF_USE.
pub struct KernelHost {
    watch: NeighbourWatch,
    netlink: Netlink,
}

impl KernelHost {
    pub fn open() -> io::Result<KernelHost> {
        Ok(KernelHost {
            watch: NeighbourWatch::start()?,
            netlink: Netlink::open()?,
        })
    }
}

impl Host for KernelHost {
    fn interfaces(&self) -> io::Result<Vec<Interface>> {
        ifaces::all()
    }

    fn neighbours(&self) -> Arc<NeighbourTable> {
        self.watch.table()
    }

    fn neighbours_generation(&self) -> u64 {
        self.watch.generation()
    }

    fn keep_fresh(&mut self, wanted: &[(u32, IpAddr)]) {
        let table = self.watch.table();
        for &(ifindex, addr) in wanted {
            if needs_poke(table.get(&(ifindex, addr))) {
                if let Err(e) = self.netlink.poke(ifindex, addr) {
                    tracing::warn!(%addr, error = %e, "cannot ask the kernel to resolve a real server");
                }
            }
        }
    }
}

#[cfg(test)]
pub mod fake {
    //! A host with fixed interfaces and a neighbour table tests edit.

    use super::*;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    pub struct FakeHost {
        pub interfaces: Vec<Interface>,
        pub neighbours: Arc<Mutex<(NeighbourTable, u64)>>,
        /// Every address the daemon asked to resolve.
        pub poked: Arc<Mutex<Vec<IpAddr>>>,
    }

    impl Host for FakeHost {
        fn interfaces(&self) -> io::Result<Vec<Interface>> {
            Ok(self.interfaces.clone())
        }
        fn neighbours(&self) -> Arc<NeighbourTable> {
            Arc::new(self.neighbours.lock().unwrap().0.clone())
        }
        fn neighbours_generation(&self) -> u64 {
            self.neighbours.lock().unwrap().1
        }
        fn keep_fresh(&mut self, wanted: &[(u32, IpAddr)]) {
            let table = self.neighbours();
            let mut poked = self.poked.lock().unwrap();
            for &(ifindex, addr) in wanted {
                if needs_poke(table.get(&(ifindex, addr))) {
                    poked.push(addr);
                }
            }
        }
    }
}
