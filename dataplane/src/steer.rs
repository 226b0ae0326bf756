//! Loads the XDP steering program (bpf/steer.c, built by build.rs) onto each
//! dataplane interface and keeps its maps in step with the snapshot: which
//! (VIP, port, proto) and which real-server endpoints the dataplane owns, the
//! director's own addresses, and the AF_XDP socket of every queue.

use aya::maps::{HashMap as BpfHashMap, MapData, XskMap};
use aya::programs::{Xdp, XdpFlags};
use aya::{include_bytes_aligned, Ebpf, Pod};
use std::collections::HashSet;
use std::os::fd::AsRawFd;

static STEER_OBJ: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/steer.o"));

/// Key of the `services` and `reals` maps; layout of `struct endpoint_key`
/// in steer.c. Address and port in network byte order.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndpointKey {
    pub addr: u32,
    pub port: u16,
    pub proto: u8,
    pub pad: u8,
}

// SAFETY: repr(C), only integer fields, explicit padding byte: every bit
// pattern is valid and there are no implicit padding bytes.
unsafe impl Pod for EndpointKey {}

impl EndpointKey {
    /// From host-order address and port.
    pub fn new(addr: u32, port: u16, proto: u8) -> Self {
        EndpointKey {
            addr: addr.to_be(),
            port: port.to_be(),
            proto,
            pad: 0,
        }
    }
}

/// What the steering program must redirect, in host order.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SteeringRules {
    /// (VIP, port, proto) of every virtual service, plus (VIP, 0, 0) so
    /// fragments to a VIP reach the dataplane to be counted.
    pub services: HashSet<EndpointKey>,
    /// Real-server endpoints of NAT services (their replies).
    pub reals: HashSet<EndpointKey>,
    /// The director's own addresses: replies to these are health checks.
    pub locals: HashSet<u32>,
}

#[derive(Debug, thiserror::Error)]
pub enum SteerError {
    #[error("loading the XDP steering program: {0}")]
    Load(#[from] aya::EbpfError),
    #[error("XDP program on {ifname}: {source}{}{hint}", causes(source))]
    Program {
        ifname: String,
        source: aya::programs::ProgramError,
        hint: &'static str,
    },
    #[error("BPF map {map} on {ifname}: {source}")]
    Map {
        ifname: String,
        map: &'static str,
        source: aya::maps::MapError,
    },
}

/// The causes behind an error (aya's messages leave out the kernel's
/// errno, which is what tells an operator "busy" from "not supported").
fn causes(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut cur = e.source();
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttachMode {
    /// Native (driver) XDP: required for AF_XDP at speed; veth supports it.
    Driver,
    /// Generic XDP, for drivers without native support (slow; testing only).
    Generic,
}

/// The steering program attached to one interface, with its own maps (the
/// XSK map is per interface: queue numbers repeat across interfaces).
pub struct Steering {
    ifname: String,
    bpf: Ebpf,
}

impl Steering {
    pub fn attach(ifname: &str, mode: AttachMode) -> Result<Steering, SteerError> {
        let mut bpf = Ebpf::load(STEER_OBJ)?;
        let prog: &mut Xdp = bpf
            .program_mut("xlb_steer")
            .expect("steer.c defines xlb_steer")
            .try_into()
            .expect("xlb_steer is an XDP program");
        let perr = |source, hint| SteerError::Program {
            ifname: ifname.to_string(),
            source,
            hint,
        };
        prog.load()
            .map_err(|e| perr(e, " (verifier rejected it?)"))?;
        let flags = match mode {
            AttachMode::Driver => XdpFlags::DRV_MODE,
            AttachMode::Generic => XdpFlags::SKB_MODE,
        };
        prog.attach(ifname, flags).map_err(|e| {
            perr(
                e,
                " (does the interface exist, and does its driver support native XDP? \
                 another XDP program already attached?)",
            )
        })?;
        Ok(Steering {
            ifname: ifname.to_string(),
            bpf,
        })
    }

    /// Point queue `queue` at an AF_XDP socket.
    pub fn set_socket(&mut self, queue: u32, fd: impl AsRawFd) -> Result<(), SteerError> {
        let ifname = self.ifname.clone();
        let mut xsks: XskMap<&mut MapData> =
            XskMap::try_from(self.bpf.map_mut("xsks").expect("xsks map")).map_err(|source| {
                SteerError::Map {
                    ifname: ifname.clone(),
                    map: "xsks",
                    source,
                }
            })?;
        xsks.set(queue, fd, 0).map_err(|source| SteerError::Map {
            ifname,
            map: "xsks",
            source,
        })
    }

    /// Make the maps hold exactly `rules` (additions first, so a reload never
    /// has a moment where a kept service is missing).
    pub fn sync(&mut self, rules: &SteeringRules) -> Result<(), SteerError> {
        self.sync_map("services", &rules.services)?;
        self.sync_map("reals", &rules.reals)?;
        let locals: HashSet<u32> = rules.locals.iter().map(|a| a.to_be()).collect();
        self.sync_map("locals", &locals)
    }

    fn sync_map<K: Pod + Eq + std::hash::Hash>(
        &mut self,
        name: &'static str,
        want: &HashSet<K>,
    ) -> Result<(), SteerError> {
        let ifname = self.ifname.clone();
        let e = move |source| SteerError::Map {
            ifname: ifname.clone(),
            map: name,
            source,
        };
        let mut map: BpfHashMap<&mut MapData, K, u32> =
            BpfHashMap::try_from(self.bpf.map_mut(name).expect("map defined in steer.c"))
                .map_err(&e)?;
        for k in want {
            map.insert(k, 1, 0).map_err(&e)?;
        }
        let stale: Vec<K> = map
            .keys()
            .filter_map(Result::ok)
            .filter(|k| !want.contains(k))
            .collect();
        for k in stale {
            map.remove(&k).map_err(&e)?;
        }
        Ok(())
    }
}
