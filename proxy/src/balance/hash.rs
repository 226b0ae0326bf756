//! HAProxy's hash functions (src/hash.c, include/haproxy/intops.h), bit for
//! bit: a key must land on the same server as under HAProxy, so these are
//! the exact 32-bit recurrences, wrapping as C's `unsigned int` does.

use xlb_model::proxy::{HashFunction, HashSpec};

/// `hash_sdbm`: the default function of every `hash-type`.
pub fn sdbm(key: &[u8]) -> u32 {
    key.iter().fold(0u32, |h, &c| {
        u32::from(c)
            .wrapping_add(h << 6)
            .wrapping_add(h << 16)
            .wrapping_sub(h)
    })
}

/// `hash_djb2`: h = h * 33 + c from 5381.
pub fn djb2(key: &[u8]) -> u32 {
    key.iter().fold(5381u32, |h, &c| {
        (h << 5).wrapping_add(h).wrapping_add(u32::from(c))
    })
}

/// `hash_wt6`: Willy Tarreau's rotating hash.
pub fn wt6(key: &[u8]) -> u32 {
    let (mut h0, mut h1) = (0xa53c_965a_u32, 0x5ca6_953a_u32);
    let (mut step0, mut step1) = (6u32, 18u32);
    for &c in key {
        let t = u32::from(c);
        h0 = !(h0 ^ t);
        h1 = !(h1.wrapping_add(t));
        // `(x << step) | (x >> (32 - step))`: a rotation (for a step of 0 the
        // C shift by 32 yields x on the targets HAProxy runs on, as here).
        let t = h1.rotate_left(step0);
        h1 = h0.rotate_left(step1);
        h0 = t;
        let t = ((h0 >> 16) ^ h1) & 0xffff;
        step0 = t & 0x1f;
        step1 = t >> 11;
    }
    h0 ^ h1
}

/// `hash_crc32`: the reflected CRC-32 (polynomial 0xedb88320), bitwise.
pub fn crc32(key: &[u8]) -> u32 {
    let mut h = !0u32;
    for &c in key {
        h ^= u32::from(c);
        for _ in 0..8 {
            h = (h >> 1) ^ if h & 1 != 0 { 0xedb8_8320 } else { 0 };
        }
    }
    !h
}

/// `full_hash`: Bob Jenkins' full-avalanche integer hash times a prime near
/// 3/4 of 2^32. HAProxy applies it for the `avalanche` modifier and to place
/// servers on the consistent-hash ring.
pub fn full_hash(a: u32) -> u32 {
    let mut a = a;
    a = a.wrapping_add(0x7ed5_5d16).wrapping_add(a << 12);
    a = (a ^ 0xc761_c23c) ^ (a >> 19);
    a = a.wrapping_add(0x1656_67b1).wrapping_add(a << 5);
    a = a.wrapping_add(0xd3a2_646c) ^ (a << 9);
    a = a.wrapping_add(0xfd70_46c5).wrapping_add(a << 3);
    a = (a ^ 0xb55a_4f09) ^ (a >> 16);
    a.wrapping_mul(3_221_225_473)
}

/// Same as [`full_hash`]: the name HAProxy's documentation uses.
pub fn avalanche(a: u32) -> u32 {
    full_hash(a)
}

/// The `none` function: the key read as a decimal integer. HAProxy 2.6 has
/// no such function; this is what later versions do (`read_int64`: an
/// optional sign, the leading digits, saturating at the i64 limits, the
/// result truncated to 32 bits).
pub fn read_int(key: &[u8]) -> u32 {
    let (neg, digits) = match key.first() {
        Some(b'-') => (true, &key[1..]),
        Some(b'+') => (false, &key[1..]),
        _ => (false, key),
    };
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            break;
        }
        v = v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(c - b'0')))
            .unwrap_or(u64::MAX);
        if v == u64::MAX {
            break;
        }
    }
    let signed: i64 = if neg {
        if v > 1u64 << 63 {
            i64::MIN
        } else {
            (v as i64).wrapping_neg()
        }
    } else if v > i64::MAX as u64 {
        i64::MAX
    } else {
        v as i64
    };
    signed as u32
}

/// `gen_hash` (backend.c): the configured function over the key bytes,
/// without the avalanche modifier (the callers apply it, as HAProxy 2.6's
/// get_server_* functions do).
pub fn gen_hash(function: HashFunction, key: &[u8]) -> u32 {
    match function {
        HashFunction::Sdbm => sdbm(key),
        HashFunction::Djb2 => djb2(key),
        HashFunction::Wt6 => wt6(key),
        HashFunction::Crc32 => crc32(key),
        HashFunction::None => read_int(key),
    }
}

/// The `avalanche` modifier when the spec asks for it.
pub fn modifier(spec: &HashSpec, h: u32) -> u32 {
    if spec.avalanche {
        full_hash(h)
    } else {
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Produced by compiling HAProxy 2.6.0's src/hash.c and
    /// intops.h:__full_hash into a small C program and
    /// printing each function over these keys.
    const VECTORS: &[(&str, u32, u32, u32, u32, u32)] = &[
        // key, sdbm, djb2, wt6, crc32, full_hash(sdbm)
        (
            "/index.html",
            0x3324_2976,
            0xe114_b9cf,
            0x3101_077e,
            0xea22_4b42,
            0xfb63_160c,
        ),
        (
            "",
            0x0000_0000,
            0x0000_1505,
            0xf99a_0360,
            0x0000_0000,
            0xab4e_d927,
        ),
        (
            "a",
            0x0000_0061,
            0x0002_b606,
            0x714b_f225,
            0xe8b7_be43,
            0x6d1e_ff97,
        ),
        (
            "123456789",
            0x68a0_7035,
            0x35cd_bb82,
            0x84a1_6c1d,
            0xcbf4_3926,
            0xcaaf_8dbe,
        ),
        (
            "alice",
            0x9187_84a0,
            0x0f17_4dc3,
            0x2327_a4a7,
            0x278e_bc47,
            0x2be6_66ad,
        ),
        (
            "example",
            0xa747_728a,
            0x817d_99f1,
            0x193e_2ea8,
            0x6eec_9b9f,
            0x6310_e15d,
        ),
    ];

    #[test]
    fn functions_match_haproxy() {
        for &(k, s, d, w, c, f) in VECTORS {
            let k = k.as_bytes();
            assert_eq!(sdbm(k), s, "sdbm {k:?}");
            assert_eq!(djb2(k), d, "djb2 {k:?}");
            assert_eq!(wt6(k), w, "wt6 {k:?}");
            assert_eq!(crc32(k), c, "crc32 {k:?}");
            assert_eq!(full_hash(sdbm(k)), f, "full_hash {k:?}");
        }
    }

    #[test]
    fn full_hash_of_ring_keys() {
        // Same program: full_hash of puid*4096+j, the ring positions.
        for (x, h) in [
            (0u32, 0xab4e_d927u32),
            (1, 0x3486_81b6),
            (4096, 0x49c2_008b),
            (4097, 0xa497_2c87),
            (4111, 0x3602_af74),
            (8192, 0x405a_fe73),
            (12288, 0x4e47_7b4e),
            (0xC0A8_0001, 0xcb63_c81e),
        ] {
            assert_eq!(full_hash(x), h, "full_hash({x})");
            assert_eq!(avalanche(x), h);
        }
    }

    #[test]
    fn thousand_keys_match_haproxy() {
        // Keys of length k % 67 (k < 1000) with bytes x >> 16 of the LCG
        // x = x * 1103515245 + 12345 mod 2^31 from x = 1, every hash folded
        // as acc = acc * 31 + h. The same C program over HAProxy 2.6.0's
        // src/hash.c (gcc -O2 and -O0 alike) prints these.
        let mut x: u32 = 1;
        let mut acc = [0u32; 4];
        let mut buf = Vec::new();
        for k in 0..1000 {
            buf.clear();
            for _ in 0..k % 67 {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345) & 0x7fff_ffff;
                buf.push((x >> 16) as u8);
            }
            for (a, h) in acc
                .iter_mut()
                .zip([sdbm(&buf), djb2(&buf), wt6(&buf), crc32(&buf)])
            {
                *a = a.wrapping_mul(31).wrapping_add(h);
            }
        }
        assert_eq!(acc, [0x1e9f_1a01, 0xc50d_2899, 0x0623_b250, 0x3f83_c813]);
    }

    #[test]
    fn high_bytes_are_unsigned() {
        // C reads the key as unsigned char: 0xff adds 255, not -1.
        assert_eq!(sdbm(&[0xff]), 0xff);
        assert_eq!(djb2(&[0xff]), 5381 * 33 + 255);
    }

    #[test]
    fn read_int_like_read_int64() {
        assert_eq!(read_int(b"1234"), 1234);
        assert_eq!(read_int(b"42abc"), 42);
        assert_eq!(read_int(b"-1"), u32::MAX);
        assert_eq!(read_int(b"+7"), 7);
        assert_eq!(read_int(b""), 0);
        assert_eq!(read_int(b"x1"), 0);
        assert_eq!(read_int(b"4294967297"), 1);
        // Saturates at i64::MAX, whose low 32 bits are all ones.
        assert_eq!(read_int(b"99999999999999999999999"), u32::MAX);
    }
}
