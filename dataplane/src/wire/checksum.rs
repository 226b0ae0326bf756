//! Internet checksum (RFC 1071) and its incremental update (RFC 1624, eqn. 3):
//! HC' = ~(~HC + ~m + m'), so a NAT rewrite touches only the changed words.

/// One's-complement sum of `data` folded to 16 bits, not inverted.
pub fn sum(data: &[u8]) -> u32 {
    let mut acc: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    fold(acc)
}

fn fold(mut acc: u32) -> u32 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc
}

/// Full checksum of `data` (as stored in a header whose checksum field is 0).
pub fn checksum(data: &[u8]) -> u16 {
    !(sum(data) as u16)
}

/// Full checksum over consecutive pieces (a pseudo-header, then a
/// segment); every piece but the last must have an even length.
pub fn checksum_of(pieces: &[&[u8]]) -> u16 {
    !(fold(pieces.iter().map(|p| sum(p)).sum()) as u16)
}

/// Full TCP or UDP checksum over IPv4: the pseudo-header (addresses,
/// protocol, length), then `segment` with its checksum field zero.
pub fn ipv4_l4_checksum(src: [u8; 4], dst: [u8; 4], proto: u8, segment: &[u8]) -> u16 {
    let len = (segment.len() as u16).to_be_bytes();
    let pseudo = [
        src[0], src[1], src[2], src[3], dst[0], dst[1], dst[2], dst[3], 0, proto, len[0], len[1],
    ];
    checksum_of(&[&pseudo, segment])
}

/// Checksum after one 16-bit word changed from `old` to `new`.
#[inline]
pub fn update16(check: u16, old: u16, new: u16) -> u16 {
    let acc = u32::from(!check) + u32::from(!old) + u32::from(new);
    !(fold(acc) as u16)
}

/// Checksum after one 32-bit field (an IPv4 address) changed.
#[inline]
pub fn update32(check: u16, old: u32, new: u32) -> u16 {
    update_by(check, delta32(old, new))
}

/// Checksum after one 128-bit field (an IPv6 address) changed.
#[inline]
pub fn update128(check: u16, old: u128, new: u128) -> u16 {
    update_by(check, delta128(old, new))
}

/// What changing a 32-bit field from `old` to `new` adds to a checksum
/// (RFC 1624's ~m + m'), for `update_by`: computed once, it updates every
/// checksum that covers the field (IPv4's header and its pseudo-header).
#[inline(always)]
pub fn delta32(old: u32, new: u32) -> u32 {
    (!old >> 16) + (!old & 0xffff) + (new >> 16) + (new & 0xffff)
}

/// The same for a 128-bit field (an IPv6 address).
#[inline(always)]
pub fn delta128(old: u128, new: u128) -> u32 {
    // Eight 16-bit words summed in 64-bit lanes, a word pair per 32-bit
    // lane (no lane overflows): a handful of instructions instead of a
    // loop of 128-bit shifts.
    let words = |x: u128| -> u32 {
        const PAIRS: u64 = 0x0000_ffff_0000_ffff;
        let lanes = |w: u64| (w & PAIRS) + ((w >> 16) & PAIRS);
        let t = lanes((x >> 64) as u64) + lanes(x as u64);
        ((t & 0xffff_ffff) + (t >> 32)) as u32
    };
    // Each at most 8 * 0xffff: no overflow.
    words(!old) + words(new)
}

/// Checksum after a change whose `delta32` or `delta128` is `delta`.
#[inline(always)]
pub fn update_by(check: u16, delta: u32) -> u16 {
    !(fold(u32::from(!check) + delta) as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    // IPv4 header from RFC 1071 style examples (wikipedia's worked example).
    const IP: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    #[test]
    fn ipv4_l4_checksum_matches_etherparse() {
        let b = etherparse::PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64).udp(5000, 53);
        let mut pkt = Vec::new();
        b.write(&mut pkt, b"odd-length").unwrap();
        let mut seg = pkt[20..].to_vec();
        let want = u16::from_be_bytes([seg[6], seg[7]]);
        seg[6..8].copy_from_slice(&[0, 0]);
        assert_eq!(
            ipv4_l4_checksum([10, 0, 0, 1], [10, 0, 0, 2], 17, &seg),
            want
        );
    }

    #[test]
    fn full_checksum_matches_known_value() {
        assert_eq!(checksum(&IP), 0xb861);
    }

    #[test]
    fn incremental_update_equals_recomputation() {
        let mut h = IP;
        let c0 = checksum(&h);
        let old = u32::from_be_bytes([h[16], h[17], h[18], h[19]]);
        let new = 0x0a01_0203u32;
        h[16..20].copy_from_slice(&new.to_be_bytes());
        assert_eq!(update32(c0, old, new), checksum(&h));
        let c1 = checksum(&h);
        // TTL/proto word: 0x4011 -> 0x3f11
        h[8] = 0x3f;
        assert_eq!(update16(c1, 0x4011, 0x3f11), checksum(&h));
    }

    #[test]
    fn incremental_ipv6_address_update_equals_recomputation() {
        let src: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
        let dst: std::net::Ipv6Addr = "2001:db8:0:ffff::a".parse().unwrap();
        let b = etherparse::PacketBuilder::ipv6(src.octets(), dst.octets(), 64).tcp(1, 2, 3, 4);
        let mut pkt = Vec::new();
        b.write(&mut pkt, b"payload").unwrap();
        let seg = &pkt[40..];
        let c0 = u16::from_be_bytes([seg[16], seg[17]]);
        let new: std::net::Ipv6Addr = "fd00:ffff:1234::99".parse().unwrap();
        let b = etherparse::PacketBuilder::ipv6(src.octets(), new.octets(), 64).tcp(1, 2, 3, 4);
        let mut want = Vec::new();
        b.write(&mut want, b"payload").unwrap();
        let c1 = u16::from_be_bytes([want[56], want[57]]);
        assert_ne!(c0, c1);
        assert_eq!(update128(c0, u128::from(dst), u128::from(new)), c1);
    }

    #[test]
    fn ipv6_update_equals_recomputation_for_many_addresses() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..10_000 {
            let mut seg = [0u8; 40];
            seg.iter_mut().for_each(|b| *b = next() as u8);
            // Extremes too: all ones and all zeros words.
            let old = match next() % 4 {
                0 => u128::MAX,
                1 => 0,
                _ => u128::from(next()) << 64 | u128::from(next()),
            };
            let new = match next() % 4 {
                0 => u128::MAX,
                1 => 0,
                _ => u128::from(next()) << 64 | u128::from(next()),
            };
            seg[..16].copy_from_slice(&old.to_be_bytes());
            let c0 = checksum(&seg);
            seg[..16].copy_from_slice(&new.to_be_bytes());
            let want = checksum(&seg);
            // One's complement has two zeros: compare the sums, not bits.
            let got = update128(c0, old, new);
            assert!(
                got == want || (got == 0xffff && want == 0) || (got == 0 && want == 0xffff),
                "{old:x} -> {new:x}: {got:04x} != {want:04x}"
            );
        }
    }

    #[test]
    fn odd_length_sum_pads_with_zero() {
        assert_eq!(sum(&[0x01]), 0x0100);
    }

    #[test]
    fn pieces_sum_like_the_whole() {
        assert_eq!(checksum_of(&[&IP[..8], &IP[8..]]), checksum(&IP));
        assert_eq!(checksum_of(&[&IP]), 0xb861);
    }
}
