//! A VRRP advertisement from the wire, both versions, with and without
//! v2's simple password: decoded or refused, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xlb_vrrp::packet::{Advertisement, Version};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, msg)) = data.split_first() else {
        return;
    };
    let (src, dst): (IpAddr, IpAddr) = if sel & 1 == 0 {
        (
            Ipv4Addr::new(10, 0, 0, 2).into(),
            Ipv4Addr::new(224, 0, 0, 18).into(),
        )
    } else {
        (
            "fe80::2".parse::<Ipv6Addr>().unwrap().into(),
            "ff02::12".parse::<Ipv6Addr>().unwrap().into(),
        )
    };
    let version = if sel & 2 == 0 {
        Version::V2
    } else {
        Version::V3
    };
    let auth = (sel & 4 != 0).then_some(*b"secret\0\0");
    let ttl = if sel & 8 == 0 { 255 } else { sel };
    let _ = Advertisement::decode(msg, src, dst, ttl, version, auth);
});
