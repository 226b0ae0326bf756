//! The splitmix64 finalizer: a cheap, well-mixing 64-bit permutation. Every
//! input bit reaches every output bit, so keys that differ only in a port
//! still land in different buckets. Keyed callers xor in a seed first;
//! Maglev uses it unseeded so every director computes the same table.

#[inline]
pub fn splitmix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
