//! The privileges xlbd needs, checked before anything starts: each missing
//! capability is named with what needs it, instead of the kernel's bare
//! EPERM surfacing later as "failed to create map `services`". Also the
//! resource limits it raises for itself.
//!
//! The set was found by starting xlbd in a lab namespace with one
//! capability dropped at a time (`setpriv --bounding-set`,
//! docs/deploy.md has the figures).

use crate::config::Config;
use std::io;

/// A Linux capability, by name and bit (linux/capability.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    pub name: &'static str,
    pub bit: u8,
}

pub const CAP_CHOWN: Capability = Capability {
    name: "CAP_CHOWN",
    bit: 0,
};
pub const CAP_NET_BIND_SERVICE: Capability = Capability {
    name: "CAP_NET_BIND_SERVICE",
    bit: 10,
};
pub const CAP_NET_ADMIN: Capability = Capability {
    name: "CAP_NET_ADMIN",
    bit: 12,
};
pub const CAP_NET_RAW: Capability = Capability {
    name: "CAP_NET_RAW",
    bit: 13,
};
pub const CAP_IPC_LOCK: Capability = Capability {
    name: "CAP_IPC_LOCK",
    bit: 14,
};
pub const CAP_SYS_ADMIN: Capability = Capability {
    name: "CAP_SYS_ADMIN",
    bit: 21,
};
pub const CAP_PERFMON: Capability = Capability {
    name: "CAP_PERFMON",
    bit: 38,
};
pub const CAP_BPF: Capability = Capability {
    name: "CAP_BPF",
    bit: 39,
};

/// A capability and why xlbd wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Need {
    pub cap: Capability,
    pub why: String,
    /// Without it xlbd cannot start; otherwise it runs with a feature less.
    pub required: bool,
}

/// What xlbd's needs depend on besides the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostFacts {
    /// net.ipv4.ip_unprivileged_port_start.
    pub unprivileged_port_start: u16,
    /// The pin directory (/run/xlb/bpf) is a bpffs already (else xlbd
    /// mounts one).
    pub bpffs_ready: bool,
    /// RLIMIT_MEMLOCK after raising it to its hard limit; None: unlimited.
    pub memlock: Option<u64>,
}

impl HostFacts {
    /// This host's, with the limits as `raise_memlock` left them.
    pub fn probe(memlock: Option<u64>) -> HostFacts {
        HostFacts {
            unprivileged_port_start: unprivileged_port_start(),
            bpffs_ready: pin_dir_is_bpffs(),
            memlock,
        }
    }
}

/// What this configuration needs on this host.
pub fn needs(cfg: &Config, host: HostFacts) -> Vec<Need> {
    let need = |cap, why: &str, required| Need {
        cap,
        why: why.to_string(),
        required,
    };
    let mut v = vec![
        need(
            CAP_BPF,
            "to load the XDP steering program and create its maps",
            true,
        ),
        // Measured: with CAP_BPF alone the verifier refuses steer.c with
        // EACCES (the checks it waives for CAP_PERFMON).
        need(
            CAP_PERFMON,
            "for the BPF verifier to accept the XDP steering program",
            true,
        ),
        need(
            CAP_NET_ADMIN,
            "to create the AF_XDP socket map, attach the XDP program to the interfaces, \
             and add or remove the VRRP addresses",
            true,
        ),
        need(
            CAP_NET_RAW,
            "to open AF_XDP sockets, VRRP's raw sockets and gratuitous ARP's packet sockets",
            true,
        ),
    ];
    if let Some(limit) = host.memlock {
        v.push(need(
            CAP_IPC_LOCK,
            &format!(
                "to lock the AF_XDP frame memory (UMEM): RLIMIT_MEMLOCK is {limit} bytes \
                 (or raise it: LimitMEMLOCK=infinity)"
            ),
            true,
        ));
    }
    if !host.bpffs_ready {
        v.push(need(
            CAP_SYS_ADMIN,
            "to mount the bpffs at /run/xlb/bpf, where the XDP attachment is pinned \
             (without it a killed xlbd leaves its traffic to the kernel; or mount it beforehand)",
            false,
        ));
    }
    let low: Vec<String> = cfg
        .proxy
        .frontends
        .iter()
        .flat_map(|f| f.binds.iter())
        .filter(|b| b.addr.port() < host.unprivileged_port_start)
        .map(|b| b.addr.to_string())
        .collect();
    if !low.is_empty() {
        v.push(need(
            CAP_NET_BIND_SERVICE,
            &format!(
                "to listen on {} (frontend ports below {})",
                low.join(", "),
                host.unprivileged_port_start
            ),
            true,
        ));
    }
    let access = &cfg.daemon.socket_access;
    if access.owner.is_some() || access.group.is_some() {
        v.push(need(
            CAP_CHOWN,
            "to give the API socket the owner or group of [daemon] socket_access",
            true,
        ));
    }
    v
}

/// The needs `effective` (a CapEff mask) does not meet. CAP_SYS_ADMIN
/// meets CAP_BPF and CAP_PERFMON, as the kernel takes it instead of either
/// (and before 5.8, which has neither bit, it is what root brings).
pub fn missing(needs: &[Need], effective: u64) -> Vec<&Need> {
    let has = |bit: u8| effective & (1u64 << bit) != 0;
    needs
        .iter()
        .filter(|n| {
            let split_off_sys_admin = n.cap.bit == CAP_BPF.bit || n.cap.bit == CAP_PERFMON.bit;
            !(has(n.cap.bit) || split_off_sys_admin && has(CAP_SYS_ADMIN.bit))
        })
        .collect()
}

/// The `CapEff:` mask of a /proc/PID/status text.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

/// This process's effective capabilities.
pub fn effective() -> io::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    parse_cap_eff(&status)
        .ok_or_else(|| io::Error::other("/proc/self/status has no readable CapEff line"))
}

/// Whether the directory where the dataplane pins its XDP attachments is
/// a bpffs already (mounted by the unit or an earlier xlbd).
pub fn pin_dir_is_bpffs() -> bool {
    xlb_dataplane::steer::pin_dir_is_bpffs()
}

/// net.ipv4.ip_unprivileged_port_start (1024 when unreadable).
pub fn unprivileged_port_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1024)
}

/// Raise a resource limit's soft value to its hard one; returns the limit
/// now in force.
fn raise(resource: libc::__rlimit_resource_t) -> io::Result<libc::rlim_t> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a valid, writable rlimit for the call's duration.
    if unsafe { libc::getrlimit(resource, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    if r.rlim_cur != r.rlim_max {
        r.rlim_cur = r.rlim_max;
        // SAFETY: `r` is a valid rlimit read by the call only.
        if unsafe { libc::setrlimit(resource, &r) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(r.rlim_cur)
}

/// Open files up to the hard limit: the proxy holds two sockets per
/// connection, beyond the usual soft limit of 1024.
pub fn raise_nofile() -> io::Result<u64> {
    raise(libc::RLIMIT_NOFILE)
}

/// Locked memory up to the hard limit (AF_XDP charges its UMEM to it
/// without CAP_IPC_LOCK). `None` in the result: unlimited.
pub fn raise_memlock() -> io::Result<Option<u64>> {
    raise(libc::RLIMIT_MEMLOCK).map(|v| (v != libc::RLIM_INFINITY).then_some(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn cfg(extra: &str) -> Config {
        let text = format!(
            "[daemon]\ninterfaces = [\"eth0\"]\n\n[[virtual_server]]\naddress = \"10.0.0.1\"\nport = 80\n\
             [[virtual_server.real_server]]\naddress = \"10.0.1.1\"\n{extra}"
        );
        Config::parse(Path::new("t.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn names(v: &[&Need]) -> Vec<&'static str> {
        v.iter().map(|n| n.cap.name).collect()
    }

    const ROOT: u64 = 0x1ff_ffff_ffff;

    fn host(unprivileged_port_start: u16, bpffs_ready: bool) -> HostFacts {
        HostFacts {
            unprivileged_port_start,
            bpffs_ready,
            memlock: Some(8 << 20),
        }
    }

    #[test]
    fn the_status_file_gives_the_effective_set() {
        let status = "Name:\txlbd\nCapInh:\t0000000000000000\nCapPrm:\t000001fffeffffff\n\
                      CapEff:\t0000008000003000\nCapBnd:\t000001ffffffffff\n";
        let eff = parse_cap_eff(status).unwrap();
        assert_eq!(eff, (1 << 39) | (1 << 13) | (1 << 12));
        assert_eq!(parse_cap_eff("Name:\txlbd\n"), None);
        assert_eq!(parse_cap_eff("CapEff:\tzz\n"), None);
    }

    #[test]
    fn root_misses_nothing() {
        let n = needs(&cfg(""), host(1024, false));
        assert!(missing(&n, ROOT).is_empty());
        assert!(effective().is_ok(), "this process has a CapEff line");
    }

    #[test]
    fn each_dropped_capability_is_named_with_its_reason() {
        let n = needs(&cfg(""), host(1024, true));
        // As the unit grants them: no CAP_SYS_ADMIN (which would stand for
        // CAP_BPF).
        let eff = ROOT & !(1 << CAP_SYS_ADMIN.bit) & !(1 << CAP_BPF.bit) & !(1 << CAP_NET_RAW.bit);
        let m = missing(&n, eff);
        assert_eq!(names(&m), ["CAP_BPF", "CAP_NET_RAW"]);
        assert!(m.iter().all(|n| n.required));
        assert!(m[0].why.contains("XDP steering program"));
    }

    #[test]
    fn ipc_lock_is_needed_unless_locked_memory_is_unlimited() {
        let eff = ROOT & !(1 << CAP_IPC_LOCK.bit);
        let n = needs(&cfg(""), host(1024, true));
        let m = missing(&n, eff);
        assert_eq!(names(&m), ["CAP_IPC_LOCK"]);
        assert!(
            m[0].required && m[0].why.contains("8388608 bytes"),
            "{}",
            m[0].why
        );
        let unlimited = HostFacts {
            memlock: None,
            ..host(1024, true)
        };
        assert!(missing(&needs(&cfg(""), unlimited), eff).is_empty());
    }

    #[test]
    fn sys_admin_is_wanted_only_to_mount_the_pin_directory() {
        let eff = ROOT & !(1 << CAP_SYS_ADMIN.bit);
        assert!(missing(&needs(&cfg(""), host(1024, true)), eff).is_empty());
        let n = needs(&cfg(""), host(1024, false));
        let m = missing(&n, eff);
        assert_eq!(names(&m), ["CAP_SYS_ADMIN"]);
        assert!(!m[0].required, "xlbd runs without the pin");
    }

    #[test]
    fn low_frontend_ports_need_net_bind_service() {
        let proxy =
            "[[frontend]]\nname = \"www\"\nbind = [\"127.0.0.1:80\"]\ndefault_backend = \"b\"\n\
                     [[backend]]\nname = \"b\"\n\
                     server = [{ name = \"s1\", address = \"127.0.0.1:8080\" }]\n";
        let eff = ROOT & !(1 << CAP_NET_BIND_SERVICE.bit);
        let n = needs(&cfg(proxy), host(1024, true));
        let m = missing(&n, eff);
        assert_eq!(names(&m), ["CAP_NET_BIND_SERVICE"]);
        assert!(m[0].why.contains("127.0.0.1:80"), "{}", m[0].why);
        // Ports that low are unprivileged on this host: nothing needed.
        assert!(missing(&needs(&cfg(proxy), host(0, true)), eff).is_empty());
    }

    #[test]
    fn a_socket_group_needs_chown() {
        let n = needs(&cfg_with_daemon("socket_group = \"0\""), host(1024, true));
        let m = missing(&n, ROOT & !1);
        assert_eq!(names(&m), ["CAP_CHOWN"]);
    }

    fn cfg_with_daemon(extra_daemon: &str) -> Config {
        let text = format!(
            "[daemon]\ninterfaces = [\"eth0\"]\n{extra_daemon}\n[[virtual_server]]\naddress = \"10.0.0.1\"\nport = 80\n\
             [[virtual_server.real_server]]\naddress = \"10.0.1.1\"\n"
        );
        Config::parse(Path::new("t.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn limits_are_raised_to_the_hard_limit() {
        let nofile = raise_nofile().unwrap();
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `r` is a valid, writable rlimit for the call's duration.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) }, 0);
        assert_eq!((r.rlim_cur, r.rlim_max), (nofile, nofile));
    }

    #[test]
    fn cap_sys_admin_stands_for_bpf_and_perfmon_as_on_kernels_before_5_8() {
        let n = needs(&cfg(""), host(0, true));
        // Root on a kernel without bits 38 and 39.
        let old_root = (1u64 << 38) - 1;
        assert!(missing(&n, old_root).is_empty());
        let m = missing(&n, old_root & !(1 << CAP_SYS_ADMIN.bit));
        let names: Vec<&str> = m.iter().map(|x| x.cap.name).collect();
        assert_eq!(names, ["CAP_BPF", "CAP_PERFMON"]);
    }
}
