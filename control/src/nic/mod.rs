//! NIC profiles: per-driver defaults for how the dataplane drives a NIC
//! (nic-profiles/*.toml, compiled in), and the driver of an interface.

use serde::Deserialize;
use std::io;
use xlb_dataplane::steer::AttachMode;
use xlb_dataplane::worker::PollMode;
use xlb_dataplane::xsk::{BindMode, XskConfig};

const PROFILES: &[(&str, &str)] = &[
    (
        "default",
        include_str!("../../../nic-profiles/default.toml"),
    ),
    ("veth", include_str!("../../../nic-profiles/veth.toml")),
    ("ixgbe", include_str!("../../../nic-profiles/ixgbe.toml")),
    ("i40e", include_str!("../../../nic-profiles/i40e.toml")),
    ("ice", include_str!("../../../nic-profiles/ice.toml")),
    (
        "mlx5_core",
        include_str!("../../../nic-profiles/mlx5_core.toml"),
    ),
    (
        "virtio_net",
        include_str!("../../../nic-profiles/virtio_net.toml"),
    ),
];

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    driver: String,
    xdp_mode: String,
    bind: String,
    poll: String,
    rx_ring: u32,
    tx_ring: u32,
    fill_ring: u32,
    completion_ring: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NicProfile {
    pub driver: &'static str,
    pub xdp_mode: AttachMode,
    pub bind: BindMode,
    pub poll: PollMode,
    pub rings: XskConfig,
}

fn parse(name: &'static str, text: &str) -> Result<NicProfile, String> {
    let r: RawProfile =
        toml::from_str(text).map_err(|e| format!("nic-profiles/{name}.toml: {e}"))?;
    let bad = |what: &str, v: &str| format!("nic-profiles/{name}.toml: unknown {what} {v:?}");
    let rings = XskConfig {
        rx_size: r.rx_ring,
        tx_size: r.tx_ring,
        fill_size: r.fill_ring,
        comp_size: r.completion_ring,
        mode: match r.bind.as_str() {
            "auto" => BindMode::Auto,
            "copy" => BindMode::Copy,
            "zero-copy" => BindMode::ZeroCopy,
            v => return Err(bad("bind", v)),
        },
    };
    for n in [
        rings.rx_size,
        rings.tx_size,
        rings.fill_size,
        rings.comp_size,
    ] {
        if !n.is_power_of_two() || !(64..=32768).contains(&n) {
            return Err(format!(
                "nic-profiles/{name}.toml: ring size {n} is not a power of two in 64..=32768"
            ));
        }
    }
    if r.driver != name {
        return Err(format!(
            "nic-profiles/{name}.toml: driver = {:?} does not match the file name",
            r.driver
        ));
    }
    Ok(NicProfile {
        driver: name,
        xdp_mode: match r.xdp_mode.as_str() {
            "driver" => AttachMode::Driver,
            "generic" => AttachMode::Generic,
            v => return Err(bad("xdp_mode", v)),
        },
        bind: rings.mode,
        poll: match r.poll.as_str() {
            "wakeup" => PollMode::Wakeup,
            "busy-poll" => PollMode::BusyPoll,
            v => return Err(bad("poll", v)),
        },
        rings,
    })
}

/// The profile for a driver, or the default one.
pub fn profile_for(driver: &str) -> NicProfile {
    let (name, text) = PROFILES
        .iter()
        .find(|(n, _)| *n == driver)
        .unwrap_or(&PROFILES[0]);
    parse(name, text).expect("compiled-in profiles are checked by tests")
}

/// The kernel driver behind an interface (`ethtool -i`), via SIOCETHTOOL.
pub fn driver_of(ifname: &str) -> io::Result<String> {
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    const ETHTOOL_GDRVINFO: u32 = 0x3;
    #[repr(C)]
    struct DrvInfo {
        cmd: u32,
        driver: [u8; 32],
        rest: [u8; 160],
    }
    #[repr(C)]
    struct IfReq {
        name: [u8; 16],
        data: *mut DrvInfo,
        _pad: [u8; 16],
    }
    if ifname.is_empty() || ifname.len() >= 16 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "bad interface name",
        ));
    }
    let mut info = DrvInfo {
        cmd: ETHTOOL_GDRVINFO,
        driver: [0; 32],
        rest: [0; 160],
    };
    let mut req = IfReq {
        name: [0; 16],
        data: &mut info,
        _pad: [0; 16],
    };
    req.name[..ifname.len()].copy_from_slice(ifname.as_bytes());
    // SAFETY: a datagram socket only to carry the ioctl; checked below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: req is a valid ifreq whose data points at a live drvinfo
    // buffer the kernel fills (it writes at most sizeof(ethtool_drvinfo)).
    let rc = unsafe { libc::ioctl(fd, SIOCETHTOOL, &mut req) };
    let err = io::Error::last_os_error();
    // SAFETY: fd is ours and closed once.
    unsafe { libc::close(fd) };
    if rc < 0 {
        return Err(err);
    }
    let end = info.driver.iter().position(|&b| b == 0).unwrap_or(32);
    Ok(String::from_utf8_lossy(&info.driver[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compiled_in_profile_parses() {
        for (name, text) in PROFILES {
            parse(name, text).unwrap();
        }
        assert_eq!(profile_for("veth").bind, BindMode::Copy);
        assert_eq!(profile_for("mlx5_core").bind, BindMode::ZeroCopy);
        assert_eq!(profile_for("ixgbe").poll, PollMode::BusyPoll);
        assert_eq!(PROFILES.len(), 7);
        assert_eq!(profile_for("no-such-driver").driver, "default");
    }

    #[test]
    fn bad_profile_values_are_reported() {
        let text = PROFILES[1].1.replace("\"copy\"", "\"sometimes\"");
        assert!(parse("veth", &text)
            .unwrap_err()
            .contains("unknown bind \"sometimes\""));
        let text = PROFILES[1].1.replace("rx_ring = 2048", "rx_ring = 1000");
        assert!(parse("veth", &text)
            .unwrap_err()
            .contains("not a power of two"));
    }

    #[test]
    fn driver_of_a_missing_interface_is_an_error() {
        assert!(driver_of("xlb-nonexistent").is_err());
    }
}
