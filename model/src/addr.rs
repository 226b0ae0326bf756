//! One address type for both families, for keys and records that are
//! hashed, compared and packed on the hot path: an IPv4 address is held
//! IPv4-mapped (`::ffff:a.b.c.d`, RFC 4291 section 2.5.5.2), so a flow key
//! or a connection has one fixed layout whatever its family (as Katran's
//! `flow_key` does), and an IPv4 address is one compare of 128 bits away.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The two address families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(a: &IpAddr) -> Family {
        match a {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        }
    }
}

/// An IPv4 or IPv6 address as a 128-bit number (IPv6 bit order; IPv4
/// mapped). `Address::default()` is `::`, which no service uses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Address(u128);

const V4_MAPPED: u128 = 0xffff << 32;
const V4_MASK: u128 = !0xffff_ffffu128;

impl Address {
    /// From an IPv4 address as a host-order `u32` (what `Ipv4Hdr::src.get()`
    /// returns).
    #[inline]
    pub const fn v4(bits: u32) -> Address {
        Address(V4_MAPPED | bits as u128)
    }

    /// From an IPv6 address as a host-order `u128`.
    #[inline]
    pub const fn v6(bits: u128) -> Address {
        Address(bits)
    }

    #[inline]
    pub const fn is_v4(self) -> bool {
        self.0 & V4_MASK == V4_MAPPED
    }

    /// Both `a` and `b` are IPv4 (one test for both, on the hot path).
    #[inline(always)]
    pub const fn both_v4(a: Address, b: Address) -> bool {
        ((a.0 ^ V4_MAPPED) | (b.0 ^ V4_MAPPED)) >> 32 == 0
    }

    #[inline]
    pub const fn family(self) -> Family {
        if self.is_v4() {
            Family::V4
        } else {
            Family::V6
        }
    }

    /// The IPv4 address as a host-order `u32`, if this is one.
    #[inline]
    pub const fn v4_bits(self) -> Option<u32> {
        if self.is_v4() {
            Some(self.0 as u32)
        } else {
            None
        }
    }

    /// The low 32 bits: the IPv4 address of an address known to be IPv4
    /// (the caller parsed an IPv4 header). Meaningless for IPv6.
    #[inline]
    pub const fn low32(self) -> u32 {
        self.0 as u32
    }

    /// 32 bits standing for the address in hashes that predate IPv6: the
    /// IPv4 address itself, or the four words of an IPv6 address xored
    /// (IPVS's `sh`/`dh` fold them so).
    #[inline]
    pub const fn fold32(self) -> u32 {
        if self.is_v4() {
            self.0 as u32
        } else {
            (self.0 >> 96) as u32 ^ (self.0 >> 64) as u32 ^ (self.0 >> 32) as u32 ^ self.0 as u32
        }
    }

    /// All 128 bits (IPv6 bit order).
    #[inline]
    pub const fn bits(self) -> u128 {
        self.0
    }

    /// The two 64-bit halves (high, low), for packing into atomic words.
    #[inline]
    pub const fn halves(self) -> (u64, u64) {
        ((self.0 >> 64) as u64, self.0 as u64)
    }

    #[inline]
    pub const fn from_halves(high: u64, low: u64) -> Address {
        Address(((high as u128) << 64) | low as u128)
    }

    /// The first `prefix` bits of the address kept, the rest zero. For an
    /// IPv4 address the prefix counts IPv4 bits (24 keeps a /24).
    pub fn masked(self, prefix: u8) -> Address {
        match self.v4_bits() {
            Some(v4) => {
                let p = u32::from(prefix.min(32));
                let mask = if p == 0 { 0 } else { u32::MAX << (32 - p) };
                Address::v4(v4 & mask)
            }
            None => {
                let p = u32::from(prefix.min(128));
                let mask = if p == 0 { 0 } else { u128::MAX << (128 - p) };
                Address(self.0 & mask)
            }
        }
    }

    pub fn ip(self) -> IpAddr {
        match self.v4_bits() {
            Some(v4) => IpAddr::V4(Ipv4Addr::from(v4)),
            None => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }

    /// Network-order bytes: 16 for both families (IPv4 mapped), as the
    /// steering program's keys hold them.
    pub fn octets(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }
}

impl From<IpAddr> for Address {
    fn from(a: IpAddr) -> Address {
        match a {
            IpAddr::V4(v4) => Address::from(v4),
            IpAddr::V6(v6) => Address::from(v6),
        }
    }
}

impl From<Ipv4Addr> for Address {
    fn from(a: Ipv4Addr) -> Address {
        Address::v4(u32::from(a))
    }
}

/// An IPv4-mapped IPv6 address becomes the IPv4 address it maps: the two
/// are one address on the wire of a dual-stack socket, and one here.
impl From<Ipv6Addr> for Address {
    fn from(a: Ipv6Addr) -> Address {
        Address(u128::from(a))
    }
}

impl From<Address> for IpAddr {
    fn from(a: Address) -> IpAddr {
        a.ip()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.ip(), f)
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.ip(), f)
    }
}

/// `addr:port` as operators write it: `192.0.2.1:80`, `[2001:db8::1]:80`.
pub fn endpoint(addr: impl Into<IpAddr>, port: u16) -> String {
    std::net::SocketAddr::new(addr.into(), port).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_round_trips_through_the_mapped_form() {
        let a = Address::from("192.0.2.10".parse::<IpAddr>().unwrap());
        assert!(a.is_v4());
        assert_eq!(a.family(), Family::V4);
        assert_eq!(a.v4_bits(), Some(0xc000_020a));
        assert_eq!(a, Address::v4(0xc000_020a));
        assert_eq!(a.to_string(), "192.0.2.10");
        assert_eq!(
            a.octets(),
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 10]
        );
        let mapped: Ipv6Addr = "::ffff:192.0.2.10".parse().unwrap();
        assert_eq!(Address::from(mapped), a, "one address, one value");
    }

    #[test]
    fn ipv6_is_kept_whole_and_never_taken_for_ipv4() {
        let a = Address::from("2001:db8::1".parse::<IpAddr>().unwrap());
        assert!(!a.is_v4());
        assert_eq!(a.v4_bits(), None);
        assert_eq!(a.to_string(), "2001:db8::1");
        let (h, l) = a.halves();
        assert_eq!(Address::from_halves(h, l), a);
        // ::ffff:0:0/96 is IPv4's; its neighbours are IPv6.
        assert!(!Address::v6(0xfffe << 32).is_v4());
        assert!(!Address::v6(0x1_0000_ffff << 32).is_v4());
    }

    #[test]
    fn masks_count_bits_of_the_own_family() {
        let a = Address::from("10.1.2.255".parse::<IpAddr>().unwrap());
        assert_eq!(a.masked(24).to_string(), "10.1.2.0");
        assert_eq!(a.masked(32), a);
        assert_eq!(a.masked(0).to_string(), "0.0.0.0");
        let b = Address::from("2001:db8:1:2::7".parse::<IpAddr>().unwrap());
        assert_eq!(b.masked(64).to_string(), "2001:db8:1:2::");
        assert_eq!(b.masked(128), b);
    }

    #[test]
    fn endpoints_bracket_ipv6() {
        assert_eq!(endpoint(Ipv4Addr::new(10, 0, 0, 1), 80), "10.0.0.1:80");
        assert_eq!(
            endpoint("2001:db8::1".parse::<Ipv6Addr>().unwrap(), 80),
            "[2001:db8::1]:80"
        );
    }
}
