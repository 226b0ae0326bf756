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
    /// The program's attachment, pinned so that it outlives a killed
    /// daemon (see `pin`); None when it could not be pinned (the program
    /// then detaches with the process, as before).
    pinned: Option<aya::programs::links::PinnedLink>,
    mode: AttachMode,
    attached: bool,
}

/// Where attachments are pinned: a bpffs of xlb's own under /run (the
/// lab's namespaces hide /sys/fs/bpf; systemd's /run persists until boot).
const PIN_DIR: &str = "/run/xlb/bpf";
const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

fn is_bpffs(dir: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(dir) else {
        return false;
    };
    // SAFETY: `c` is NUL-terminated and `st` is written by the call only.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: as above; the pointers are valid for the call's duration.
    let r = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    r == 0 && st.f_type as i64 == BPF_FS_MAGIC
}

/// Whether PIN_DIR is a bpffs already: mounting one there is then not
/// needed (nor CAP_SYS_ADMIN, which xlbd's start checks for).
pub fn pin_dir_is_bpffs() -> bool {
    is_bpffs(PIN_DIR)
}

/// A bpffs at PIN_DIR, mounted if there is none.
fn pin_dir() -> Option<&'static str> {
    if is_bpffs(PIN_DIR) {
        return Some(PIN_DIR);
    }
    std::fs::create_dir_all(PIN_DIR).ok()?;
    let (src, dir, fs) = (c"bpf", std::ffi::CString::new(PIN_DIR).ok()?, c"bpf");
    // SAFETY: NUL-terminated strings valid for the call; no data argument.
    let r = unsafe { libc::mount(src.as_ptr(), dir.as_ptr(), fs.as_ptr(), 0, std::ptr::null()) };
    (r == 0 && is_bpffs(PIN_DIR)).then_some(PIN_DIR)
}

/// The pin of `ifname`'s attachment: one per network namespace and
/// interface (two lab directors share interface names).
fn pin_path(dir: &str, ifname: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let netns = std::fs::metadata("/proc/self/ns/net").ok()?.ino();
    let c = std::ffi::CString::new(ifname).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the call's duration.
    let index = unsafe { libc::if_nametoindex(c.as_ptr()) };
    Some(std::path::Path::new(dir).join(format!("steer-{netns}-{index}")))
}

/// A clean stop takes the program off: the pin goes, then the link.
impl Drop for Steering {
    fn drop(&mut self) {
        if let Some(p) = self.pinned.take() {
            let _ = p.unpin();
        }
    }
}

impl Steering {
    /// The program and its maps, loaded but not on the interface yet: its
    /// maps are to be filled first (`attach`).
    pub fn load(ifname: &str, mode: AttachMode) -> Result<Steering, SteerError> {
        let mut bpf = Ebpf::load(STEER_OBJ)?;
        let prog: &mut Xdp = bpf
            .program_mut("xlb_steer")
            .expect("steer.c defines xlb_steer")
            .try_into()
            .expect("xlb_steer is an XDP program");
        prog.load().map_err(|source| SteerError::Program {
            ifname: ifname.to_string(),
            source,
            hint: " (verifier rejected it?)",
        })?;
        Ok(Steering {
            ifname: ifname.to_string(),
            bpf,
            pinned: None,
            mode,
            attached: false,
        })
    }

    /// Put the program on its interface (again: nothing). Called once its
    /// maps steer the services: a program that a killed daemon left drops
    /// their traffic, and replacing it with one whose maps are still empty
    /// would hand that traffic to the kernel, whose resets end the
    /// connections and refuse new ones until the maps are filled.
    pub fn attach(&mut self) -> Result<(), SteerError> {
        if self.attached {
            return Ok(());
        }
        let ifname = self.ifname.as_str();
        let prog: &mut Xdp = self
            .bpf
            .program_mut("xlb_steer")
            .expect("steer.c defines xlb_steer")
            .try_into()
            .expect("xlb_steer is an XDP program");
        let perr = |source, hint| SteerError::Program {
            ifname: ifname.to_string(),
            source,
            hint,
        };
        let flags = match self.mode {
            AttachMode::Driver => XdpFlags::DRV_MODE,
            AttachMode::Generic => XdpFlags::SKB_MODE,
        };
        // A program left by a killed daemon of ours: its link (still
        // pinned) gets this program instead, atomically (unpinning it and
        // attaching anew would wait for the kernel to free the old link, an
        // RCU grace period that can last seconds). A link that cannot take
        // it (its interface gone) is unpinned instead.
        let pin = pin_dir().and_then(|d| pin_path(d, ifname));
        let mut stale = false;
        let mut reused = None;
        if let Some(p) = pin.as_ref().filter(|p| p.exists()) {
            let old = aya::programs::links::PinnedLink::from_pin(p)
                .ok()
                .map(aya::programs::links::FdLink::from)
                .and_then(|fd| aya::programs::xdp::XdpLink::try_from(fd).ok());
            match old.map(|l| prog.attach_to_link(l)) {
                Some(Ok(id)) => reused = Some(id),
                _ => {
                    let _ = std::fs::remove_file(p);
                    stale = true;
                }
            }
            tracing::info!(
                interface = ifname,
                "replaced the steering program a previous xlbd left"
            );
        }
        // An unpinned link is let go of a moment later: a busy interface
        // is tried again for a while then.
        let mut tries = if stale { 40 } else { 1 };
        let was_reused = reused.is_some();
        let link = match reused {
            Some(id) => Ok(id),
            None => loop {
                tries -= 1;
                match prog.attach(ifname, flags) {
                    Err(_) if tries > 0 => std::thread::sleep(std::time::Duration::from_millis(50)),
                    r => break r,
                }
            },
        };
        let link = link.map_err(|e| {
            perr(
                e,
                " (does the interface exist, and does its driver support native XDP? \
                 another XDP program already attached?)",
            )
        })?;
        // Pinned, the program outlives a killed daemon: traffic it steers
        // is then dropped (steer.c), not reset by the kernel, while the
        // peer director takes the connections over.
        let mut pinned = None;
        if let (Some(p), true) = (&pin, was_reused) {
            // Already pinned: our handle goes, the pin keeps the link.
            if let Ok(l) = prog.take_link(link) {
                drop(l);
            }
            pinned = aya::programs::links::PinnedLink::from_pin(p).ok();
        } else if let Some(p) = pin {
            let fd = prog
                .take_link(link)
                .ok()
                .and_then(|l| aya::programs::links::FdLink::try_from(l).ok());
            let why = match fd.map(|fd| fd.pin(&p)) {
                Some(Ok(done)) => {
                    pinned = Some(done);
                    None
                }
                Some(Err(e)) => Some(e.to_string()),
                None => Some("not a bpf_link attachment".to_string()),
            };
            if let Some(why) = why {
                // The link is gone with the failed pin: attach again, owned
                // by the process as before.
                tracing::warn!(interface = ifname, error = %why, "steering program not pinned: a killed xlbd leaves its traffic to the kernel");
                prog.attach(ifname, flags)
                    .map_err(|e| perr(e, " (attaching again after a failed pin)"))?;
            }
        }
        self.pinned = pinned;
        self.attached = true;
        Ok(())
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

#[cfg(test)]
mod tests {
    //! The steering program itself, run by the kernel on frames handed to
    //! it with BPF_PROG_TEST_RUN (no interface, no socket): a steered
    //! frame meets an empty socket map, whose fallback is XDP_DROP; a
    //! frame for the kernel is XDP_PASS. Needs CAP_BPF (root, as CI runs).

    use super::*;
    use etherparse::PacketBuilder;
    use std::os::fd::AsFd;
    use std::os::fd::AsRawFd;

    const STEERED: u32 = 1; // XDP_DROP: the redirect's fallback
    const PASSED: u32 = 2; // XDP_PASS

    /// `union bpf_attr`'s BPF_PROG_TEST_RUN part (linux/bpf.h).
    #[repr(C)]
    #[derive(Default)]
    struct TestRun {
        prog_fd: u32,
        retval: u32,
        data_size_in: u32,
        data_size_out: u32,
        data_in: u64,
        data_out: u64,
        repeat: u32,
        duration: u32,
        ctx_size_in: u32,
        ctx_size_out: u32,
        ctx_in: u64,
        ctx_out: u64,
        flags: u32,
        cpu: u32,
        batch_size: u32,
        pad: u32,
    }

    fn verdict(s: &Steering, frame: &[u8]) -> u32 {
        let prog: &Xdp = s
            .bpf
            .program("xlb_steer")
            .expect("xlb_steer")
            .try_into()
            .expect("XDP");
        let fd = prog.fd().expect("loaded");
        let mut out = vec![0u8; frame.len() + 256];
        let mut attr = TestRun {
            prog_fd: fd.as_fd().as_raw_fd() as u32,
            data_size_in: frame.len() as u32,
            data_size_out: out.len() as u32,
            data_in: frame.as_ptr() as u64,
            data_out: out.as_mut_ptr() as u64,
            repeat: 1,
            ..TestRun::default()
        };
        // SAFETY: `attr` is a valid BPF_PROG_TEST_RUN attribute whose
        // pointers address `frame` and `out`, both alive for the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                10, // BPF_PROG_TEST_RUN
                &mut attr as *mut TestRun,
                std::mem::size_of::<TestRun>(),
            )
        };
        assert_eq!(
            r,
            0,
            "BPF_PROG_TEST_RUN: {}",
            std::io::Error::last_os_error()
        );
        attr.retval
    }

    const VIP: [u8; 4] = [10, 0, 1, 100];
    const REAL: [u8; 4] = [10, 0, 2, 11];
    const VIP6: u128 = 0x2001_0db8_0001_0000_0000_0000_0000_0100;
    const REAL6: u128 = 0x2001_0db8_0002_0000_0000_0000_0000_0011;
    const CLIENT6: u128 = 0x2001_0db8_0001_0000_0000_0000_0000_0002;
    const LOCAL6: u128 = 0x2001_0db8_0002_0000_0000_0000_0000_0001;

    fn v6(a: u128) -> Address {
        Address::v6(a)
    }

    /// The program loaded with one TCP service on port 80 of each family
    /// (NAT: its servers' replies steered), and the director's own inside
    /// addresses. None where this process may not load BPF.
    fn loaded() -> Option<Steering> {
        let mut s = match Steering::load("lo", AttachMode::Generic) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("cannot load the steering program here ({e}): skipped");
                return None;
            }
        };
        let mut rules = SteeringRules::default();
        let v4 = |a: [u8; 4]| Address::v4(u32::from_be_bytes(a));
        for vip in [v4(VIP), v6(VIP6)] {
            rules.services.insert(EndpointKey::new(vip, 80, 6));
            rules.services.insert(EndpointKey::new(vip, 0, 0));
        }
        rules.reals.insert(EndpointKey::new(v4(REAL), 8080, 6));
        rules.reals.insert(EndpointKey::new(v6(REAL6), 8080, 6));
        rules.locals.insert(v6(LOCAL6));
        s.apply(&rules, &SteeringRules::default()).expect("maps");
        Some(s)
    }

    fn tcp6(src: u128, dst: u128, sport: u16, dport: u16) -> Vec<u8> {
        let mut v = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv6(src.to_be_bytes(), dst.to_be_bytes(), 64)
            .tcp(sport, dport, 1, 1000)
            .syn()
            .write(&mut v, b"")
            .unwrap();
        v
    }

    /// `frame` (IPv6) with `exts` (type, 8 bytes each, next headers
    /// chained here) between the fixed header and what followed it.
    fn with_extensions(frame: &[u8], exts: &[(u8, [u8; 8])]) -> Vec<u8> {
        let (head, rest) = frame.split_at(54);
        let mut out = head.to_vec();
        let upper = out[20];
        out[20] = exts[0].0;
        for (i, (_, b)) in exts.iter().enumerate() {
            let mut b = *b;
            b[0] = exts.get(i + 1).map_or(upper, |e| e.0);
            out.extend_from_slice(&b);
        }
        out.extend_from_slice(rest);
        let plen = u16::from_be_bytes([out[18], out[19]]) + 8 * exts.len() as u16;
        out[18..20].copy_from_slice(&plen.to_be_bytes());
        out
    }

    const OPTIONS: [u8; 8] = [0, 0, 1, 4, 0, 0, 0, 0];

    #[test]
    fn ipv4_and_ipv6_services_and_replies_are_steered_the_rest_passed() {
        let Some(s) = loaded() else { return };
        let mut v4 = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([10, 0, 1, 2], VIP, 64)
            .tcp(40000, 80, 1, 1000)
            .syn()
            .write(&mut v4, b"")
            .unwrap();
        assert_eq!(verdict(&s, &v4), STEERED, "IPv4 to the service");
        let mut other = v4.clone();
        other[14 + 20 + 3] = 81;
        assert_eq!(verdict(&s, &other), PASSED, "IPv4 to another port");

        let syn = tcp6(CLIENT6, VIP6, 40000, 80);
        assert_eq!(verdict(&s, &syn), STEERED, "IPv6 to the service");
        assert_eq!(
            verdict(&s, &tcp6(CLIENT6, VIP6, 40000, 81)),
            PASSED,
            "IPv6 to another port"
        );
        assert_eq!(
            verdict(&s, &tcp6(REAL6, CLIENT6, 8080, 40000)),
            STEERED,
            "an IPv6 NAT reply"
        );
        assert_eq!(
            verdict(&s, &tcp6(REAL6, LOCAL6, 8080, 40000)),
            PASSED,
            "a reply to the director itself (a health check)"
        );
        let walked = with_extensions(&syn, &[(0, OPTIONS), (60, OPTIONS)]);
        assert_eq!(verdict(&s, &walked), STEERED, "past two extension headers");
        let mut tagged = syn[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x07]);
        tagged.extend_from_slice(&syn[12..]);
        assert_eq!(verdict(&s, &tagged), STEERED, "IPv6 behind an 802.1Q tag");
    }

    #[test]
    fn unclassifiable_ipv6_to_a_vip_reaches_the_dataplane_to_be_counted() {
        let Some(s) = loaded() else { return };
        let syn = tcp6(CLIENT6, VIP6, 40000, 80);
        let nine: Vec<(u8, [u8; 8])> = (0..9).map(|_| (60, OPTIONS)).collect();
        let mut fragment = [0u8; 8];
        fragment[3] = 1; // more fragments
        assert_eq!(
            verdict(&s, &with_extensions(&syn, &nine)),
            STEERED,
            "nine headers"
        );
        assert_eq!(
            verdict(&s, &with_extensions(&syn, &[(44, fragment)])),
            STEERED,
            "a fragment"
        );
        let mut cut = with_extensions(&syn, &[(60, OPTIONS)]);
        cut.truncate(54 + 4);
        assert_eq!(verdict(&s, &cut), STEERED, "a truncated extension header");
        // The same to an address that is no VIP: the kernel's.
        let elsewhere = tcp6(CLIENT6, VIP6 + 1, 40000, 80);
        assert_eq!(verdict(&s, &with_extensions(&elsewhere, &nine)), PASSED);
    }

    #[test]
    fn icmpv6_and_arp_stay_the_kernels() {
        let Some(s) = loaded() else { return };
        // A neighbour solicitation for the VIP, sent to the VIP itself (as
        // neighbour unreachability detection does).
        let mut ns = Vec::new();
        PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv6(CLIENT6.to_be_bytes(), VIP6.to_be_bytes(), 255)
            .icmpv6(etherparse::Icmpv6Type::Unknown {
                type_u8: 135,
                code_u8: 0,
                bytes5to8: [0; 4],
            })
            .write(&mut ns, &VIP6.to_be_bytes())
            .unwrap();
        assert_eq!(verdict(&s, &ns), PASSED, "ICMPv6 to the VIP");
        let mut arp = vec![0xffu8; 6];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        assert_eq!(verdict(&s, &arp), PASSED, "ARP");
    }
}
