//! The transport protocols a virtual service can carry, with their IANA
//! numbers and the names operators write (`tcp`) and read (`TCP`).

use std::fmt;
use std::str::FromStr;

pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Protocol {
    Tcp = IPPROTO_TCP,
    Udp = IPPROTO_UDP,
}

impl Protocol {
    pub const ALL: [Protocol; 2] = [Protocol::Tcp, Protocol::Udp];

    /// The IP header's protocol number.
    #[inline]
    pub const fn number(self) -> u8 {
        self as u8
    }

    #[inline]
    pub const fn from_number(n: u8) -> Option<Protocol> {
        match n {
            IPPROTO_TCP => Some(Protocol::Tcp),
            IPPROTO_UDP => Some(Protocol::Udp),
            _ => None,
        }
    }

    /// As written in configuration files: `tcp`, `udp`.
    pub const fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }

    /// As ipvsadm lists it: `TCP`, `UDP`.
    pub const fn label(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol {0:?}; use \"tcp\" or \"udp\"")]
pub struct UnknownProtocol(pub String);

/// Case-insensitive: `tcp`, `TCP` and `Tcp` are all TCP.
impl FromStr for Protocol {
    type Err = UnknownProtocol;
    fn from_str(s: &str) -> Result<Protocol, UnknownProtocol> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownProtocol(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_labels_agree() {
        for p in Protocol::ALL {
            assert_eq!(Protocol::from_number(p.number()), Some(p));
            assert_eq!(p.name().parse::<Protocol>(), Ok(p));
            assert_eq!(p.label().parse::<Protocol>(), Ok(p));
        }
        assert_eq!(Protocol::Tcp.number(), 6);
        assert_eq!(Protocol::from_number(1), None);
        assert!("sctp".parse::<Protocol>().is_err());
    }
}
