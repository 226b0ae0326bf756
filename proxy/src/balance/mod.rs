//! Choosing a backend's server, exactly as HAProxy 2.6 chooses (lb_map.c,
//! lb_chash.c, lb_fwrr.c, lb_fwlc.c, lb_fas.c, backend.c:assign_server).
//!
//! For the same servers (order, ids, weights, backup flags, states) and the
//! same sequence of requests, [`Balancer::pick`] names the server HAProxy
//! would, including the round-robin and least-connection sequences, so a
//! farm migrated from HAProxy keeps every key where it was.
//!
//! The caller reports what HAProxy's stream and check code would:
//! [`Balancer::set`] for a state or weight change, [`Balancer::taken`] /
//! [`Balancer::released`] when a stream starts / stops being served by a
//! server (HAProxy's `served`), and optionally the queue lengths
//! ([`Balancer::set_queued`], [`Balancer::set_backend_queue`]) that HAProxy
//! also looks at.
//!
//! What the caller must give as HAProxy has it, for the keys to match:
//! the request target after HAProxy's parsing (HTTP/1 origin or absolute
//! form, with its scheme-based normalization that drops a default port;
//! HTTP/2 requests in the absolute form `scheme://authority/path` HAProxy
//! 2.6 builds), and the client address in the family of the accepting
//! socket (an IPv4 client of a dual-stack IPv6 listener is `::ffff:a.b.c.d`).
//!
//! Where this differs from HAProxy, knowingly:
//! - `random` draws from one xorshift generator per balancer, seeded as
//!   HAProxy's first thread; HAProxy's generator is per thread and shared by
//!   every backend of the thread, so the draws match a single-threaded
//!   HAProxy whose only `random` backend is this one.
//! - Not modelled (absent from the configuration model): `url_param ...
//!   check_post` (the body is not searched), `hash-balance-factor`,
//!   `balance hash <expr>`, `slowstart`, `minconn`/`fullconn`, server
//!   `maxqueue`.
//! - Where HAProxy would spin forever (a ring walk resuming on the other
//!   group's ring with no server to take), the walk stops after a turn.

pub mod hash;

mod chash;
mod first;
mod fwlc;
mod fwrr;
mod key;
mod map;
mod pool;
mod random;
mod tree;

#[cfg(test)]
mod tests;

use std::net::IpAddr;

use xlb_model::proxy::{Balance, HashKind, HashSpec};

use chash::Chash;
use first::First;
use fwlc::Fwlc;
use fwrr::Fwrr;
use map::Map;
use pool::{Pool, Srv, BE_WEIGHT_SCALE, SRV_UWGHT_MAX};
use random::Xorshift;

/// One server as the balancer sees it; index = declaration order in the
/// backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// HAProxy's server id (1-based declaration order unless `id` is set):
    /// it places the server on the consistent-hash ring and orders `first`.
    pub puid: u32,
    /// The configured user weight, 0..=256 (larger values count as 256).
    pub weight: u32,
    pub backup: bool,
    /// 0 = no limit.
    pub maxconn: u32,
}

/// What hash algorithms read from a connection or request.
pub trait KeySource {
    fn src(&self) -> IpAddr;
    /// The HTTP request target exactly as HAProxy holds it (origin-form
    /// "/a/b?x=1" or absolute-form); None in tcp mode.
    fn target(&self) -> Option<&[u8]> {
        None
    }
    /// Value of the first occurrence of header `name` (case-insensitive
    /// name) as received, None if absent.
    fn header(&self, _name: &str) -> Option<&[u8]> {
        None
    }
    /// Bytes of the TCP payload received so far (for rdp-cookie), None if
    /// not applicable.
    fn payload(&self) -> Option<&[u8]> {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Chosen; it may be full, as HAProxy chooses it (hash algorithms look
    /// at no load, and every algorithm returns the single backup in use
    /// without looking): the caller then queues on that server.
    Server(usize),
    /// Usable servers exist but every candidate is full: wait in the
    /// backend queue.
    Queue,
    /// No usable server at all (the caller answers 503).
    NoServer,
}

/// What a hash algorithm hashes.
#[derive(Debug, Clone)]
enum Key {
    Source,
    Uri {
        len: u32,
        depth: u32,
        whole: bool,
        path_only: bool,
    },
    UrlParam(Box<[u8]>),
    Hdr {
        name: String,
        domain_only: bool,
    },
    Rdp(Box<[u8]>),
}

impl Key {
    /// The key of a hashing algorithm (Source for the others, unused).
    fn of(balance: &Balance) -> Key {
        match balance {
            Balance::Uri {
                len,
                depth,
                whole,
                path_only,
            } => Key::Uri {
                len: *len,
                depth: *depth,
                whole: *whole,
                path_only: *path_only,
            },
            Balance::UrlParam { name } => Key::UrlParam(name.as_bytes().into()),
            Balance::Hdr {
                name,
                use_domain_only,
            } => Key::Hdr {
                name: name.clone(),
                domain_only: *use_domain_only,
            },
            Balance::RdpCookie { name } => Key::Rdp(name.as_bytes().into()),
            _ => Key::Source,
        }
    }
}

#[derive(Debug, Clone)]
enum Lookup {
    Map(Map),
    Chash(Chash),
}

#[derive(Debug, Clone)]
enum Algo {
    RoundRobin(Fwrr),
    StaticRr(Map),
    LeastConn(Fwlc),
    First(First),
    Random {
        ring: Chash,
        prng: Xorshift,
        draws: u32,
    },
    Hash {
        key: Key,
        lookup: Lookup,
        spec: HashSpec,
    },
}

/// One backend's load-balancing state.
#[derive(Debug, Clone)]
pub struct Balancer {
    pool: Pool,
    algo: Algo,
    /// The backend queue's length and the backend's streams (`queue.length`
    /// and `beconn`), for assign_server's "all servers are full" shortcut.
    be_queued: u32,
    be_conns: u32,
}

impl Balancer {
    /// A balancer over `members`, all of them up. `hash` only matters for
    /// the hashing algorithms (`random` always uses the ring).
    pub fn new(
        balance: &Balance,
        hash: HashSpec,
        members: &[Member],
        allbackups: bool,
    ) -> Balancer {
        Balancer::with_state(balance, hash, members, allbackups, &[])
    }

    /// Like [`Balancer::new`], with each server's state at start-up
    /// (`usable[i]`; missing entries count as usable). Servers that start
    /// down (`disabled`) must be given here rather than by a later
    /// [`Balancer::set`]: HAProxy sizes roundrobin's first window from the
    /// servers usable at start, so taking one down afterwards gives another
    /// sequence than never having it up.
    pub fn with_state(
        balance: &Balance,
        hash: HashSpec,
        members: &[Member],
        allbackups: bool,
        usable: &[bool],
    ) -> Balancer {
        let srv: Vec<Srv> = members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let w = m.weight.min(SRV_UWGHT_MAX);
                let up = usable.get(i).copied().unwrap_or(true);
                Srv {
                    puid: m.puid,
                    backup: m.backup,
                    maxconn: m.maxconn,
                    iweight: w,
                    uweight: w,
                    cur_eweight: 0,
                    next_eweight: 0,
                    cur_up: up,
                    next_up: up,
                    served: 0,
                    queued: 0,
                }
            })
            .collect();
        let map_based = match balance {
            Balance::StaticRr => true,
            b if b.hashes() => hash.kind == HashKind::MapBased,
            _ => false,
        };
        let map = map_based.then(|| Map::new(&srv));
        let mut pool = Pool {
            srv,
            allbackups,
            ..Pool::default()
        };
        for s in &mut pool.srv {
            s.next_eweight = match &map {
                Some(m) => m.eweight(s.uweight),
                None => s.uweight * BE_WEIGHT_SCALE,
            };
            s.commit();
        }
        pool.recount();
        let algo = match balance {
            Balance::RoundRobin => Algo::RoundRobin(Fwrr::new(&pool)),
            Balance::LeastConn => Algo::LeastConn(Fwlc::new(&pool)),
            Balance::First => Algo::First(First::new(&pool)),
            Balance::Random { draws } => Algo::Random {
                ring: Chash::new(&pool),
                prng: Xorshift(random::PRNG_SEED),
                draws: *draws,
            },
            Balance::StaticRr => {
                let mut m = map.unwrap_or_default();
                m.rebuild(&pool);
                Algo::StaticRr(m)
            }
            Balance::Source
            | Balance::Uri { .. }
            | Balance::UrlParam { .. }
            | Balance::Hdr { .. }
            | Balance::RdpCookie { .. } => Algo::Hash {
                key: Key::of(balance),
                lookup: match map {
                    Some(mut m) => {
                        m.rebuild(&pool);
                        Lookup::Map(m)
                    }
                    None => Lookup::Chash(Chash::new(&pool)),
                },
                spec: hash,
            },
        };
        Balancer {
            pool,
            algo,
            be_queued: 0,
            be_conns: 0,
        }
    }

    /// Whether the algorithm is static (lb_map: weights fixed at start).
    fn is_static(&self) -> bool {
        matches!(
            self.algo,
            Algo::StaticRr(_)
                | Algo::Hash {
                    lookup: Lookup::Map(_),
                    ..
                }
        )
    }

    /// A server's state changed: `usable` = up by checks and not disabled
    /// or in maintenance; `weight` = its current user weight (0 = drain: no
    /// new traffic, as HAProxy's weight 0).
    ///
    /// As HAProxy's `set weight`, a weight above 256 is refused, and so is,
    /// for the static algorithms (static-rr, map-based hashing), any
    /// non-zero weight other than the configured one: the weight then stays
    /// what it was (the state change still applies).
    pub fn set(&mut self, idx: usize, usable: bool, weight: u32) {
        let is_static = self.is_static();
        let Some(s) = self.pool.srv.get_mut(idx) else {
            return;
        };
        let refused = weight > SRV_UWGHT_MAX || (is_static && weight != 0 && weight != s.iweight);
        if !refused {
            s.uweight = weight;
        }
        s.next_eweight = match &self.algo {
            Algo::StaticRr(m)
            | Algo::Hash {
                lookup: Lookup::Map(m),
                ..
            } => m.eweight(s.uweight),
            _ => s.uweight * BE_WEIGHT_SCALE,
        };
        s.next_up = usable;
        if !s.status_changed() {
            return;
        }
        let (was, will) = (s.currently_usable(), s.willbe_usable());
        let srv = &self.pool.srv[..];
        // HAProxy's update_server_eweight callbacks (lb_fwrr.c, lb_fwlc.c,
        // lb_fas.c, lb_chash.c) for the dynamic algorithms.
        match &mut self.algo {
            Algo::RoundRobin(f) => match (was, will) {
                (false, true) => f.up(srv, idx),
                (true, false) => f.down(srv, idx),
                (true, true) => f.reweight(srv, idx),
                (false, false) => {}
            },
            Algo::LeastConn(f) => match (was, will) {
                (false, true) => f.up(srv, idx),
                (true, false) => f.down(idx),
                (true, true) => f.reweight(srv, idx),
                (false, false) => {}
            },
            Algo::First(f) => match (was, will) {
                (false, true) => f.up(srv, idx),
                (true, false) => f.down(idx),
                (true, true) => f.reweight(srv, idx),
                (false, false) => {}
            },
            Algo::Random { ring: c, .. }
            | Algo::Hash {
                lookup: Lookup::Chash(c),
                ..
            } => match (was, will) {
                (false, true) => c.up(srv, idx),
                (true, false) => c.down(srv, idx),
                (true, true) => c.reweight(srv, idx),
                (false, false) => {}
            },
            Algo::StaticRr(_)
            | Algo::Hash {
                lookup: Lookup::Map(_),
                ..
            } => {}
        }
        self.pool.srv[idx].commit();
        self.pool.recount();
        // lb_map.c: any change recounts and rebuilds the whole map.
        if let Algo::StaticRr(m)
        | Algo::Hash {
            lookup: Lookup::Map(m),
            ..
        } = &mut self.algo
        {
            m.rebuild(&self.pool);
        }
    }

    /// Choose a server for a new connection (tcp) or request (http).
    /// `avoid`: a server to avoid if another is possible (HAProxy's
    /// `srvtoavoid`, the previous server on redispatch).
    pub fn pick(&mut self, req: &dyn KeySource, avoid: Option<usize>) -> Pick {
        let avoid = avoid.filter(|&i| i < self.pool.srv.len());
        let pool = &self.pool;
        // assign_server: nothing usable.
        if pool.tot_weight == 0 {
            return Pick::NoServer;
        }
        // assign_server: with these algorithms, a backend queue that does
        // not hold all the backend's streams means every server is full.
        if self.be_queued > 0
            && self.be_queued != self.be_conns
            && matches!(
                self.algo,
                Algo::RoundRobin(_) | Algo::StaticRr(_) | Algo::First(_)
            )
        {
            return Pick::Queue;
        }
        let chosen = match &mut self.algo {
            Algo::RoundRobin(f) => f.next(pool, avoid),
            Algo::StaticRr(m) => m.get_rr(pool, avoid),
            Algo::LeastConn(f) => f.next(pool, avoid),
            Algo::First(f) => f.next(pool, avoid),
            Algo::Random { ring, prng, draws } => random::pick(ring, pool, prng, *draws, avoid),
            Algo::Hash { key, lookup, spec } => {
                let hit = hash_lookup(key, lookup, spec, pool, req, avoid);
                // "If the hashing parameter was not found, let's fall back
                // to round robin on the map" (or on the ring).
                hit.or_else(|| match lookup {
                    Lookup::Map(m) => m.get_rr(pool, avoid),
                    Lookup::Chash(c) => c.next(pool, avoid),
                })
            }
        };
        chosen.map_or(Pick::Queue, Pick::Server)
    }

    /// A stream started being served by server `idx` (HAProxy increments
    /// `served`, then repositions the server for leastconn and first).
    pub fn taken(&mut self, idx: usize) {
        let Some(s) = self.pool.srv.get_mut(idx) else {
            return;
        };
        s.served = s.served.saturating_add(1);
        self.reposition(idx);
    }

    /// A stream stopped being served by server `idx`.
    pub fn released(&mut self, idx: usize) {
        let Some(s) = self.pool.srv.get_mut(idx) else {
            return;
        };
        s.served = s.served.saturating_sub(1);
        self.reposition(idx);
    }

    /// Current served count (for tests and status).
    pub fn served(&self, idx: usize) -> u32 {
        self.pool.srv.get(idx).map_or(0, |s| s.served)
    }

    /// The number of streams waiting in server `idx`'s own queue (HAProxy's
    /// `srv->queue.length`): a server with a queue counts as full, and
    /// leastconn counts them as load at the next reposition. Optional; 0 if
    /// never called. When a stream leaves this queue for the server, report
    /// the new length first, then [`Balancer::taken`], as HAProxy does.
    pub fn set_queued(&mut self, idx: usize, len: u32) {
        if let Some(s) = self.pool.srv.get_mut(idx) {
            s.queued = len;
        }
    }

    /// The backend queue's length and the number of streams on the backend
    /// (HAProxy's `be->queue.length` and `be->beconn`): roundrobin,
    /// static-rr and first answer [`Pick::Queue`] at once while streams are
    /// queued and others are not. Optional; both 0 if never called.
    pub fn set_backend_queue(&mut self, queued: u32, conns: u32) {
        self.be_queued = queued;
        self.be_conns = conns;
    }

    fn reposition(&mut self, idx: usize) {
        match &mut self.algo {
            Algo::LeastConn(f) => f.reposition(&self.pool.srv, idx),
            Algo::First(f) => f.reposition(&self.pool.srv, idx),
            _ => {}
        }
    }
}

/// The hashing half of assign_server for the hash algorithms: the server
/// for the request's key, or None when the key is missing. With a single
/// usable server HAProxy skips hashing and looks up hash 0 (except for
/// url_param, which has no such shortcut, and rdp-cookie, which needs the
/// cookie first).
fn hash_lookup(
    key: &Key,
    lookup: &Lookup,
    spec: &HashSpec,
    pool: &Pool,
    req: &dyn KeySource,
    avoid: Option<usize>,
) -> Option<usize> {
    let single = pool.tot_used == 1;
    let h = |bytes: &[u8]| hash::modifier(spec, hash::gen_hash(spec.function, bytes));
    let find = |hv: u32| match lookup {
        Lookup::Map(m) => m.get_hash(pool, hv),
        Lookup::Chash(c) => c.get_hash(pool, hv, avoid),
    };
    match key {
        Key::Source => {
            let hv = if single {
                0
            } else {
                hash::modifier(spec, key::source(req.src()))
            };
            find(hv)
        }
        Key::Uri {
            len,
            depth,
            whole,
            path_only,
        } => {
            let target = req.target()?;
            let hv = if single {
                0
            } else {
                h(key::uri(target, *len, *depth, *whole, *path_only))
            };
            find(hv)
        }
        Key::UrlParam(name) => {
            let value = key::url_param(req.target()?, name)?;
            find(h(value))
        }
        Key::Hdr { name, domain_only } => {
            req.target()?;
            if single {
                return find(0);
            }
            let value = key::first_element(req.header(name)?);
            if value.is_empty() {
                return None;
            }
            find(h(if *domain_only {
                key::domain_only(value)
            } else {
                value
            }))
        }
        Key::Rdp(name) => {
            let value = key::rdp_cookie(req.payload()?, name)?;
            if value.is_empty() {
                return None;
            }
            find(if single { 0 } else { h(value) })
        }
    }
}
