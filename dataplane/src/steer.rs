//! Loads the XDP steering program (bpf/steer.c, built by build.rs) onto each
//! dataplane interface and keeps its maps in step with the snapshot: which
//! (VIP, port, proto) and which real-server endpoints the dataplane owns, the
//! director's own addresses, and the AF_XDP socket of every queue.

use aya::maps::{HashMap as BpfHashMap, MapData, XskMap};
use aya::programs::{Xdp, XdpFlags};
use aya::{include_bytes_aligned, Ebpf, Pod};
use std::collections::HashSet;
use std::os::fd::AsRawFd;
pub use xlb_model::settings::AttachMode;
use xlb_model::Address;

static STEER_OBJ: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/steer.o"));

/// Key of the `services` and `reals` maps; layout of `struct endpoint_key`
/// in steer.c. The address is 16 bytes for both families (IPv4 mapped,
/// `::ffff:a.b.c.d`), address and port in network byte order.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndpointKey {
    pub addr: [u8; 16],
    pub port: u16,
    pub proto: u8,
    pub pad: u8,
}

// SAFETY: repr(C), only integer fields, explicit padding byte: every bit
// pattern is valid and there are no implicit padding bytes.
unsafe impl Pod for EndpointKey {}

impl EndpointKey {
    /// From a host-order port.
    pub fn new(addr: Address, port: u16, proto: u8) -> Self {
        EndpointKey {
            addr: addr.octets(),
            port: port.to_be(),
            proto,
            pad: 0,
        }
    }

    pub fn address(&self) -> Address {
        Address::v6(u128::from_be_bytes(self.addr))
    }
}

/// Key of the `locals` map: one of the director's own addresses, 16 bytes
/// as in `EndpointKey`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LocalKey {
    pub addr: [u8; 16],
}

// SAFETY: repr(C), a byte array only: every bit pattern is valid.
unsafe impl Pod for LocalKey {}

impl From<Address> for LocalKey {
    fn from(a: Address) -> LocalKey {
        LocalKey { addr: a.octets() }
    }
}

/// What the steering program must redirect.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SteeringRules {
    /// (VIP, port, proto) of every virtual service, plus (VIP, 0, 0) so
    /// fragments to a VIP reach the dataplane to be counted.
    pub services: HashSet<EndpointKey>,
    /// Real-server endpoints of NAT services (their replies).
    pub reals: HashSet<EndpointKey>,
    /// The director's own addresses: replies to these are health checks.
    pub locals: HashSet<Address>,
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

    /// Change the maps by a difference: insert `add`, then delete
    /// `remove` (additions first, so a reload never has a moment where a
    /// kept service is missing). Deleting a key that is not there is not
    /// an error: a retry after a failure converges.
    pub fn apply(&mut self, add: &SteeringRules, remove: &SteeringRules) -> Result<(), SteerError> {
        self.change("services", add.services.iter(), remove.services.iter())?;
        self.change("reals", add.reals.iter(), remove.reals.iter())?;
        let locals =
            |s: &HashSet<Address>| s.iter().map(|&a| LocalKey::from(a)).collect::<Vec<_>>();
        self.change(
            "locals",
            locals(&add.locals).iter(),
            locals(&remove.locals).iter(),
        )
    }

    fn change<'k, K: Pod + 'k>(
        &mut self,
        name: &'static str,
        add: impl Iterator<Item = &'k K>,
        remove: impl Iterator<Item = &'k K>,
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
        for k in add {
            map.insert(k, 1, 0).map_err(&e)?;
        }
        for k in remove {
            match map.remove(k) {
                Err(aya::maps::MapError::KeyNotFound) => {}
                r => r.map_err(&e)?,
            }
        }
        Ok(())
    }

    /// The keys the `services` map holds now (what the kernel has, for
    /// tests and diagnostics).
    pub fn services(&self) -> Vec<EndpointKey> {
        let Some(m) = self.bpf.map("services") else {
            return Vec::new();
        };
        match BpfHashMap::<&MapData, EndpointKey, u32>::try_from(m) {
            Ok(map) => map.keys().filter_map(Result::ok).collect(),
            Err(_) => Vec::new(),
        }
    }
}
