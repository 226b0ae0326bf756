//! VRRP advertisements. v2 (RFC 3768 section 5): IPv4 only, interval in
//! seconds, optional 8-byte simple-text authentication, checksum over the
//! VRRP message. v3 (RFC 5798 section 5): IPv4 or IPv6, 12-bit interval in
//! centiseconds, no authentication, checksum including the IP
//! pseudo-header. Decoding checks every field and says which one failed.

use std::net::IpAddr;

pub const IPPROTO_VRRP: u8 = 112;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V2,
    V3,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advertisement {
    pub version: Version,
    pub vrid: u8,
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2 carries whole seconds).
    pub interval_cs: u16,
    pub addrs: Vec<IpAddr>,
    /// v2 simple-text password (RFC 2338 type 1), zero-padded.
    pub auth: Option<[u8; 8]>,
}

/// Why a received advertisement was dropped; one counter each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("shorter than a VRRP header")]
    Short,
    #[error("version {0}: not the instance's")]
    Version(u8),
    #[error("type {0}: only 1 (advertisement) exists")]
    Type(u8),
    #[error("IP TTL/hop limit {0}, must be 255 (sent from another link?)")]
    Ttl(u8),
    #[error("address count does not match the length")]
    Count,
    #[error("bad checksum")]
    Checksum,
    #[error("advertisement interval 0")]
    Interval,
    #[error("authentication type {0} differs from the instance's")]
    AuthType(u8),
    #[error("authentication password mismatch")]
    AuthData,
    #[error("address family differs from the packet's")]
    Family,
}

fn sum(data: &[u8], mut acc: u32) -> u32 {
    let mut it = data.chunks_exact(2);
    for c in &mut it {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = it.remainder() {
        acc += u32::from(*b) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

fn pseudo(src: IpAddr, dst: IpAddr, len: usize) -> u32 {
    let mut acc = 0;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum(&s.octets(), acc);
            acc = sum(&d.octets(), acc);
        }
        (s, d) => {
            let b = |a: IpAddr| match a {
                IpAddr::V6(x) => x.octets(),
                IpAddr::V4(x) => x.to_ipv6_mapped().octets(),
            };
            acc = sum(&b(s), acc);
            acc = sum(&b(d), acc);
        }
    }
    acc + u32::from(IPPROTO_VRRP) + len as u32
}

fn checksum(version: Version, msg: &[u8], src: IpAddr, dst: IpAddr) -> u16 {
    let base = match version {
        Version::V2 => 0,
        Version::V3 => pseudo(src, dst, msg.len()),
    };
    fold(sum(msg, base))
}

impl Advertisement {
    /// The VRRP message (after the IP header) from `src` to `dst`.
    pub fn encode(&self, src: IpAddr, dst: IpAddr) -> Vec<u8> {
        let mut m = Vec::with_capacity(8 + self.addrs.len() * 16 + 8);
        let (ver, auth_type) = match self.version {
            Version::V2 => (2u8, u8::from(self.auth.is_some())),
            Version::V3 => (3u8, 0),
        };
        m.push((ver << 4) | 1);
        m.push(self.vrid);
        m.push(self.priority);
        m.push(self.addrs.len() as u8);
        match self.version {
            Version::V2 => {
                m.push(auth_type);
                m.push((self.interval_cs / 100).max(1) as u8);
            }
            Version::V3 => m.extend_from_slice(&(self.interval_cs & 0x0fff).to_be_bytes()),
        }
        m.extend_from_slice(&[0, 0]);
        for a in &self.addrs {
            match a {
                IpAddr::V4(x) => m.extend_from_slice(&x.octets()),
                IpAddr::V6(x) => m.extend_from_slice(&x.octets()),
            }
        }
        if self.version == Version::V2 {
            m.extend_from_slice(&self.auth.unwrap_or([0; 8]));
        }
        let c = checksum(self.version, &m, src, dst);
        m[6..8].copy_from_slice(&c.to_be_bytes());
        m
    }

    /// Decode and check a received message. `ttl` is the IP TTL or hop
    /// limit; `auth` the instance's v2 password (None: no authentication).
    pub fn decode(
        msg: &[u8],
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
        expect: Version,
        auth: Option<[u8; 8]>,
    ) -> Result<Advertisement, DecodeError> {
        if msg.len() < 8 {
            return Err(DecodeError::Short);
        }
        let (ver, kind) = (msg[0] >> 4, msg[0] & 0x0f);
        let version = match (ver, expect) {
            (2, Version::V2) => Version::V2,
            (3, Version::V3) => Version::V3,
            (v, _) => return Err(DecodeError::Version(v)),
        };
        if kind != 1 {
            return Err(DecodeError::Type(kind));
        }
        if ttl != 255 {
            return Err(DecodeError::Ttl(ttl));
        }
        let count = usize::from(msg[3]);
        let v6 = src.is_ipv6();
        if version == Version::V2 && v6 {
            return Err(DecodeError::Family);
        }
        let alen = if v6 { 16 } else { 4 };
        let tail = if version == Version::V2 { 8 } else { 0 };
        if msg.len() != 8 + count * alen + tail {
            return Err(DecodeError::Count);
        }
        if checksum(version, msg, src, dst) != 0 {
            return Err(DecodeError::Checksum);
        }
        let interval_cs = match version {
            Version::V2 => u16::from(msg[5]) * 100,
            Version::V3 => u16::from_be_bytes([msg[4], msg[5]]) & 0x0fff,
        };
        if interval_cs == 0 {
            return Err(DecodeError::Interval);
        }
        let addrs = msg[8..8 + count * alen]
            .chunks_exact(alen)
            .map(|c| match c.len() {
                4 => IpAddr::from([c[0], c[1], c[2], c[3]]),
                _ => IpAddr::from(<[u8; 16]>::try_from(c).expect("16 bytes")),
            })
            .collect();
        let mut got_auth = None;
        if version == Version::V2 {
            let want_type = u8::from(auth.is_some());
            if msg[4] != want_type {
                return Err(DecodeError::AuthType(msg[4]));
            }
            if let Some(pw) = auth {
                let data: [u8; 8] = msg[msg.len() - 8..].try_into().expect("8 bytes");
                if data != pw {
                    return Err(DecodeError::AuthData);
                }
                got_auth = Some(data);
            }
        }
        Ok(Advertisement {
            version,
            vrid: msg[1],
            priority: msg[2],
            interval_cs,
            addrs,
            auth: got_auth,
        })
    }
}

/// A v2 password as sent: at most 8 bytes, zero-padded (keepalived
/// truncates longer ones the same way).
pub fn password(text: &str) -> [u8; 8] {
    let mut p = [0u8; 8];
    for (d, s) in p.iter_mut().zip(text.bytes()) {
        *d = s;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn adv(version: Version) -> Advertisement {
        Advertisement {
            version,
            vrid: 50,
            priority: 100,
            interval_cs: 100,
            addrs: vec![v4("10.0.0.1"), v4("10.0.0.2")],
            auth: (version == Version::V2).then(|| password("password123")),
        }
    }

    #[test]
    fn round_trips_v2_and_v3() {
        let (s, d) = (v4("10.0.0.9"), v4("224.0.0.18"));
        for v in [Version::V2, Version::V3] {
            let a = adv(v);
            let m = a.encode(s, d);
            assert_eq!(Advertisement::decode(&m, s, d, 255, v, a.auth).unwrap(), a);
        }
        let a6 = Advertisement {
            version: Version::V3,
            vrid: 7,
            priority: 255,
            interval_cs: 50,
            addrs: vec!["2001:db8::1".parse().unwrap()],
            auth: None,
        };
        let (s6, d6) = ("fe80::1".parse().unwrap(), "ff02::12".parse().unwrap());
        let m = a6.encode(s6, d6);
        assert_eq!(m.len(), 8 + 16);
        assert_eq!(
            Advertisement::decode(&m, s6, d6, 255, Version::V3, None).unwrap(),
            a6
        );
    }

    #[test]
    fn v2_wire_format_is_rfc_3768() {
        let m = adv(Version::V2).encode(v4("10.0.0.9"), v4("224.0.0.18"));
        assert_eq!(
            &m[..6],
            &[0x21, 50, 100, 2, 1, 1],
            "version/type, vrid, prio, count, auth PASS, 1 s"
        );
        assert_eq!(&m[16..24], b"password", "8 bytes of the password");
        // Checksum over the message alone: the message sums to 0xffff.
        assert_eq!(fold(sum(&m, 0)), 0);
    }

    #[test]
    fn every_bad_field_is_rejected_with_its_reason() {
        let (s, d) = (v4("10.0.0.9"), v4("224.0.0.18"));
        let a = adv(Version::V3);
        let good = a.encode(s, d);
        let dec = |m: &[u8], ttl| Advertisement::decode(m, s, d, ttl, Version::V3, None);
        assert_eq!(dec(&good[..7], 255), Err(DecodeError::Short));
        assert_eq!(dec(&good, 254), Err(DecodeError::Ttl(254)));
        assert_eq!(
            Advertisement::decode(&good, s, d, 255, Version::V2, None),
            Err(DecodeError::Version(3))
        );
        let mut m = good.clone();
        m[0] = 0x32;
        assert_eq!(dec(&m, 255), Err(DecodeError::Type(2)));
        let mut m = good.clone();
        m[3] = 3;
        assert_eq!(dec(&m, 255), Err(DecodeError::Count));
        let mut m = good.clone();
        m[2] ^= 1;
        assert_eq!(dec(&m, 255), Err(DecodeError::Checksum));
        // The v3 checksum covers the pseudo-header: another source fails.
        assert_eq!(
            Advertisement::decode(&good, v4("10.0.0.8"), d, 255, Version::V3, None),
            Err(DecodeError::Checksum)
        );
        let zero = Advertisement {
            interval_cs: 0,
            ..a.clone()
        }
        .encode(s, d);
        assert_eq!(dec(&zero, 255), Err(DecodeError::Interval));
        let v2 = adv(Version::V2).encode(s, d);
        let dec2 = |auth| Advertisement::decode(&v2, s, d, 255, Version::V2, auth);
        assert_eq!(dec2(Some(password("other"))), Err(DecodeError::AuthData));
        assert_eq!(dec2(None), Err(DecodeError::AuthType(1)));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let (s, d) = (v4("10.0.0.9"), v4("224.0.0.18"));
        for _ in 0..20_000 {
            let mut b = [0u8; 40];
            for v in b.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = x as u8;
            }
            let n = (x % 41) as usize;
            let _ = Advertisement::decode(&b[..n], s, d, 255, Version::V3, None);
            let _ = Advertisement::decode(&b[..n], s, d, 255, Version::V2, Some(password("x")));
        }
    }
}
