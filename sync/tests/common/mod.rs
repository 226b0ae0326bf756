//! Sample records and a small deterministic PRNG shared by the tests.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use xlb_sync::{Addrs, ConnFlags, FwdMethod, PeData, SeqData, SeqOptions, SyncConn};

pub fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// 198.51.100.7:40000 -> 192.0.2.10:80 -> 10.0.0.2:8080, TCP.
pub fn v4() -> SyncConn {
    let mut c = SyncConn::new(
        6,
        sa("198.51.100.7:40000"),
        sa("192.0.2.10:80"),
        sa("10.0.0.2:8080"),
    )
    .unwrap();
    c.state = 1;
    c.timeout = 900;
    c
}

/// [2001:db8::7]:40000 -> [2001:db8::10]:53 -> [2001:db8:1::2]:53, UDP, DR.
pub fn v6() -> SyncConn {
    let mut c = SyncConn::new(
        17,
        sa("[2001:db8::7]:40000"),
        sa("[2001:db8::10]:53"),
        sa("[2001:db8:1::2]:53"),
    )
    .unwrap();
    c.forwarding = FwdMethod::DirectRoute;
    c.flags = ConnFlags::NOOUTPUT | ConnFlags::INACTIVE;
    c.timeout = 300;
    c
}

pub fn seq() -> SeqOptions {
    SeqOptions {
        in_seq: SeqData {
            init_seq: 0x0102_0304,
            delta: 3,
            previous_delta: 0,
        },
        out_seq: SeqData {
            init_seq: 0xa0b0_c0d0,
            delta: (-2i32) as u32,
            previous_delta: 1,
        },
    }
}

pub fn sip(data_len: usize) -> PeData {
    PeData {
        name: b"sip".to_vec(),
        data: (0..data_len).map(|i| b'a' + (i % 26) as u8).collect(),
    }
}

/// splitmix64: deterministic, good enough to wander the input space.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    /// Any record the encoder accepts.
    pub fn conn(&mut self) -> SyncConn {
        let addrs = if self.chance(2) {
            Addrs::V4 {
                client: Ipv4Addr::from(self.next() as u32),
                vaddr: Ipv4Addr::from(self.next() as u32),
                daddr: Ipv4Addr::from(self.next() as u32),
            }
        } else {
            Addrs::V6 {
                client: Ipv6Addr::from(u128::from(self.next()) << 64 | u128::from(self.next())),
                vaddr: Ipv6Addr::from(u128::from(self.next())),
                daddr: Ipv6Addr::from(u128::from(self.next()) << 32),
            }
        };
        let methods = [
            FwdMethod::Masq,
            FwdMethod::LocalNode,
            FwdMethod::Tunnel,
            FwdMethod::DirectRoute,
            FwdMethod::Bypass,
        ];
        SyncConn {
            protocol: [0, 6, 17, 132][self.below(4)],
            forwarding: methods[self.below(methods.len())],
            template: self.chance(4),
            flags: ConnFlags::from_wire(self.next() as u32),
            state: self.below(12) as u16,
            addrs,
            cport: self.next() as u16,
            vport: self.next() as u16,
            dport: self.next() as u16,
            fwmark: if self.chance(3) {
                self.next() as u32
            } else {
                0
            },
            timeout: self.next() as u32,
            seq: self.chance(3).then(|| SeqOptions {
                in_seq: SeqData {
                    init_seq: self.next() as u32,
                    delta: self.next() as u32,
                    previous_delta: self.next() as u32,
                },
                out_seq: SeqData {
                    init_seq: self.next() as u32,
                    delta: self.next() as u32,
                    previous_delta: self.next() as u32,
                },
            }),
            pe: self.chance(5).then(|| {
                let (name_len, data_len) = (1 + self.below(16), 1 + self.below(255));
                PeData {
                    name: self.bytes(name_len),
                    data: self.bytes(data_len),
                }
            }),
        }
    }
}
