//! A backend's `balance` and `hash-type`, as HAProxy 2.6 names them.

use std::fmt;

/// HAProxy's `balance` algorithms (docs/proxy.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Balance {
    /// Smooth weighted round robin; weights may change at run time.
    RoundRobin,
    /// Weighted round robin over a fixed map (weights fixed at start).
    StaticRr,
    /// Fewest connections in flight, weighted; round robin among equals.
    LeastConn,
    /// The first server (lowest id) with a free slot under its `maxconn`.
    First,
    /// Hash of the client's address.
    Source,
    /// Hash of the request target: its first `len` characters (0: all),
    /// up to the `depth`-th slash (0: all), with the query when `whole`;
    /// `path_only` hashes the path alone, without scheme and authority.
    Uri {
        len: u32,
        depth: u32,
        whole: bool,
        path_only: bool,
    },
    /// Hash of a query parameter's value; round robin without it.
    UrlParam { name: String },
    /// Hash of a request header's value; round robin without it.
    /// `use_domain_only` hashes only the domain part of a host name.
    Hdr { name: String, use_domain_only: bool },
    /// Hash of the named RDP cookie (`mstshash`) of a TCP stream's first
    /// packet; round robin without it.
    RdpCookie { name: String },
    /// Random, the best of `draws` draws by load (HAProxy's power of two).
    Random { draws: u32 },
}

impl Balance {
    /// Whether the algorithm hashes a key (and so `hash-type` applies).
    pub fn hashes(&self) -> bool {
        matches!(
            self,
            Balance::Source
                | Balance::Uri { .. }
                | Balance::UrlParam { .. }
                | Balance::Hdr { .. }
                | Balance::RdpCookie { .. }
        )
    }

    /// Whether it needs an HTTP request (refused in `mode tcp`).
    pub fn needs_http(&self) -> bool {
        matches!(
            self,
            Balance::Uri { .. } | Balance::UrlParam { .. } | Balance::Hdr { .. }
        )
    }
}

impl fmt::Display for Balance {
    /// The HAProxy spelling, as `balance` takes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Balance::RoundRobin => f.write_str("roundrobin"),
            Balance::StaticRr => f.write_str("static-rr"),
            Balance::LeastConn => f.write_str("leastconn"),
            Balance::First => f.write_str("first"),
            Balance::Source => f.write_str("source"),
            Balance::Uri {
                len,
                depth,
                whole,
                path_only,
            } => {
                f.write_str("uri")?;
                if *path_only {
                    f.write_str(" path-only")?;
                }
                if *whole {
                    f.write_str(" whole")?;
                }
                if *len > 0 {
                    write!(f, " len {len}")?;
                }
                if *depth > 0 {
                    write!(f, " depth {depth}")?;
                }
                Ok(())
            }
            Balance::UrlParam { name } => write!(f, "url_param {name}"),
            Balance::Hdr {
                name,
                use_domain_only,
            } => {
                write!(f, "hdr({name})")?;
                if *use_domain_only {
                    f.write_str(" use_domain_only")?;
                }
                Ok(())
            }
            Balance::RdpCookie { name } => write!(f, "rdp-cookie({name})"),
            Balance::Random { draws } => write!(f, "random({draws})"),
        }
    }
}

/// `hash-type map-based|consistent [FUNCTION] [avalanche]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashSpec {
    pub kind: HashKind,
    pub function: HashFunction,
    /// Apply HAProxy's full avalanche hash to the function's result. Set
    /// without the modifier for `consistent` with no function named, as
    /// HAProxy does.
    pub avalanche: bool,
}

impl Default for HashSpec {
    /// HAProxy's default: map-based, sdbm, no avalanche.
    fn default() -> Self {
        HashSpec {
            kind: HashKind::MapBased,
            function: HashFunction::Sdbm,
            avalanche: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    /// The key modulo a weighted map of the servers: exact spread, but a
    /// change of servers moves most keys.
    MapBased,
    /// A hash ring: a change of servers moves only that server's keys.
    Consistent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFunction {
    Sdbm,
    Djb2,
    Wt6,
    Crc32,
    /// The key taken as it is (meant for numeric keys).
    None,
}

impl fmt::Display for HashSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            HashKind::MapBased => "map-based",
            HashKind::Consistent => "consistent",
        })?;
        let name = match self.function {
            HashFunction::Sdbm => "sdbm",
            HashFunction::Djb2 => "djb2",
            HashFunction::Wt6 => "wt6",
            HashFunction::Crc32 => "crc32",
            HashFunction::None => "none",
        };
        write!(f, " {name}")?;
        if self.avalanche {
            f.write_str(" avalanche")?;
        }
        Ok(())
    }
}
