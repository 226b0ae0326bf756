//! A backend at run time: its servers' state, the balancer, and the queues
//! of connections (tcp) or requests (http) waiting for a server's free
//! slot (`maxconn`), as HAProxy's pendconns.
//!
//! Everything that changes which server may be chosen (a check's verdict,
//! an operator's weight, maintenance, a slot freed) happens under one lock
//! per backend, as HAProxy takes the backend's lbprm lock; it is taken per
//! new connection or request, never per byte.

use crate::balance::{Balancer, KeySource, Member, Pick};
use crate::counters::Counters;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use xlb_model::proxy::{BackendDef, ServerDef};

/// A server's health as its checks see it (HAProxy's `check->health`:
/// 0..rise+fall-1, up from `rise`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckHealth {
    pub health: u32,
    pub rise: u32,
    pub fall: u32,
}

impl CheckHealth {
    /// HAProxy starts a checked server at `rise`: up, but one failure
    /// away from down until a first success makes it fully up.
    pub fn new(rise: u32, fall: u32) -> CheckHealth {
        CheckHealth {
            health: rise,
            rise,
            fall,
        }
    }

    pub fn up(&self) -> bool {
        self.health >= self.rise
    }

    fn full(&self) -> u32 {
        self.rise + self.fall - 1
    }

    /// HAProxy's set_server_check_status: a failure steps down, and below
    /// `rise` falls to 0; a success steps up, and from `rise` is fully up.
    /// Returns whether up changed.
    pub fn record(&mut self, ok: bool) -> bool {
        let was = self.up();
        if ok {
            if self.health < self.full() {
                self.health += 1;
                if self.health >= self.rise {
                    self.health = self.full();
                }
            }
        } else if self.health > 0 {
            self.health -= 1;
            if self.health < self.rise {
                self.health = 0;
            }
        }
        was != self.up()
    }

    /// HAProxy's srv_getinter: `inter` when fully up, `downinter` when
    /// down, `fastinter` in between.
    pub fn interval(&self, inter: Duration, fastinter: Duration, downinter: Duration) -> Duration {
        if self.health == self.full() {
            inter
        } else if self.health == 0 {
            downinter
        } else {
            fastinter
        }
    }
}

/// What an operator set on a server (`xlbctl set-weight|drain|disable|enable`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admin {
    /// Maintenance (`disabled`, `xlbctl disable`): no traffic at all.
    pub maint: bool,
    /// The weight in use; 0 drains.
    pub weight: u32,
}

#[derive(Debug, Clone)]
pub struct ServerState {
    pub check: Option<CheckHealth>,
    pub admin: Admin,
    /// The last check's result in words ("L4OK", "L7STS 503"...).
    pub check_status: String,
    pub since: Instant,
}

impl ServerState {
    pub fn usable(&self) -> bool {
        !self.admin.maint && self.check.is_none_or(|c| c.up())
    }

    /// HAProxy's words for the status column: UP, DOWN, MAINT, DRAIN, and
    /// the transitions ("UP 1/3": going down, "DOWN 1/2": coming up).
    pub fn words(&self) -> String {
        if self.admin.maint {
            return "MAINT".into();
        }
        match self.check {
            None if self.admin.weight == 0 => "DRAIN".into(),
            None => "no check".into(),
            Some(c) if !c.up() && c.health == 0 => "DOWN".into(),
            Some(c) if c.up() && c.health == c.full() => {
                if self.admin.weight == 0 {
                    "DRAIN".into()
                } else {
                    "UP".into()
                }
            }
            Some(c) if c.up() => format!("UP {}/{}", c.health - c.rise + 1, c.fall),
            Some(c) => format!("DOWN {}/{}", c.health, c.rise),
        }
    }
}

/// A waiting connection or request.
struct Waiter {
    id: u64,
    tx: oneshot::Sender<usize>,
}

struct Lb {
    balancer: Balancer,
    states: Vec<ServerState>,
    /// Per server, waiting for that server (hash algorithms, cookies).
    server_queues: Vec<VecDeque<Waiter>>,
    /// Waiting for any server.
    backend_queue: VecDeque<Waiter>,
    next_waiter: u64,
    /// Streams on the backend (HAProxy's beconn).
    conns: u32,
}

pub struct Backend {
    pub def: BackendDef,
    /// The backend's and its servers' names, shared by log entries.
    pub name: Arc<str>,
    pub server_names: Vec<Arc<str>>,
    lb: Mutex<Lb>,
    /// Shared with the backend this one replaced, and per server with the
    /// server of the same name and address there: sessions that started
    /// before a reload count where the listing reads.
    pub counters: Arc<Counters>,
    /// Per server, in declaration order.
    pub server_counters: Vec<Arc<Counters>>,
    /// Sessions refused because the queue timed out, and the longest queue.
    pub queue_timeouts: std::sync::atomic::AtomicU64,
    pub queue_max: std::sync::atomic::AtomicU64,
    /// Idle HTTP connections per server (http mode).
    pub pools: Vec<crate::http::server::Pool>,
}

/// Why no server slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No usable server (503).
    NoServer,
    /// `timeout queue` passed while waiting (503).
    QueueTimeout,
}

/// A server slot: held while the connection (tcp) or request (http) runs;
/// dropping it frees the slot for the next one waiting.
pub struct Slot {
    backend: Arc<Backend>,
    pub server: usize,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.backend.release(self.server);
    }
}

impl Slot {
    pub fn def(&self) -> &ServerDef {
        &self.backend.def.servers[self.server]
    }

    pub fn name(&self) -> Arc<str> {
        self.backend.server_names[self.server].clone()
    }
}

impl Backend {
    /// `previous`: the state of servers of the same name and address in
    /// the backend this one replaces (a reload keeps health and operator
    /// settings).
    pub fn new(def: BackendDef, previous: Option<&Backend>) -> Backend {
        let now = Instant::now();
        let states: Vec<ServerState> = def
            .servers
            .iter()
            .map(|s| {
                let kept = previous.and_then(|p| p.state_of(&s.name, s.addr));
                kept.unwrap_or_else(|| ServerState {
                    check: s.check.map(|c| CheckHealth::new(c.rise, c.fall)),
                    admin: Admin {
                        maint: s.disabled,
                        weight: s.weight,
                    },
                    check_status: String::new(),
                    since: now,
                })
            })
            .collect();
        let members: Vec<Member> = def
            .servers
            .iter()
            .map(|s| Member {
                puid: s.id,
                weight: s.weight,
                backup: s.backup,
                maxconn: s.maxconn,
            })
            .collect();
        let usable: Vec<bool> = states.iter().map(ServerState::usable).collect();
        let mut balancer =
            Balancer::with_state(&def.balance, def.hash, &members, def.allbackups, &usable);
        for (i, st) in states.iter().enumerate() {
            if st.admin.weight != def.servers[i].weight {
                balancer.set(i, st.usable(), st.admin.weight);
            }
        }
        let n = def.servers.len();
        let server_counters = def
            .servers
            .iter()
            .map(|s| {
                previous
                    .and_then(|p| {
                        let i = p
                            .def
                            .servers
                            .iter()
                            .position(|o| o.name == s.name && o.addr == s.addr)?;
                        Some(p.server_counters[i].clone())
                    })
                    .unwrap_or_default()
            })
            .collect();
        Backend {
            lb: Mutex::new(Lb {
                balancer,
                states,
                server_queues: (0..n).map(|_| VecDeque::new()).collect(),
                backend_queue: VecDeque::new(),
                next_waiter: 0,
                conns: 0,
            }),
            counters: previous.map_or_else(Default::default, |p| p.counters.clone()),
            server_counters,
            queue_timeouts: Default::default(),
            queue_max: Default::default(),
            pools: (0..n).map(|_| Default::default()).collect(),
            name: def.name.as_str().into(),
            server_names: def.servers.iter().map(|s| s.name.as_str().into()).collect(),
            def,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Lb> {
        // A panic under the lock cannot leave the balancer half-updated in
        // a way worse than refusing all traffic would: keep serving.
        self.lb.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn state_of(&self, name: &str, addr: std::net::SocketAddr) -> Option<ServerState> {
        let i = self
            .def
            .servers
            .iter()
            .position(|s| s.name == name && s.addr == addr)?;
        Some(self.lock().states[i].clone())
    }

    pub fn states(&self) -> Vec<ServerState> {
        self.lock().states.clone()
    }

    /// (served now, waiting for it) per server, and the backend queue.
    pub fn loads(&self) -> (Vec<(u32, usize)>, usize) {
        let lb = self.lock();
        let per = (0..self.def.servers.len())
            .map(|i| (lb.balancer.served(i), lb.server_queues[i].len()))
            .collect();
        (per, lb.backend_queue.len())
    }

    /// A slot on a server for a new connection or request: at once when
    /// one is free, else after waiting in a queue up to `queue_timeout`.
    /// `avoid`: a server a retry should not go back to (redispatch);
    /// `prefer`: the server a persistence cookie names, taken if usable.
    pub async fn acquire(
        self: &Arc<Self>,
        key: &(dyn KeySource + Sync),
        avoid: Option<usize>,
        prefer: Option<usize>,
        queue_timeout: Option<Duration>,
    ) -> Result<Slot, Refused> {
        let (id, rx) = {
            let mut lb = self.lock();
            let lb = &mut *lb;
            let be_queued = lb.backend_queue.len() as u32;
            lb.balancer.set_backend_queue(be_queued, lb.conns);
            let pick = match prefer.filter(|&i| lb.states.get(i).is_some_and(ServerState::usable)) {
                Some(i) => Pick::Server(i),
                None => lb.balancer.pick(key, avoid),
            };
            let (tx, rx) = oneshot::channel();
            let id = lb.next_waiter;
            lb.next_waiter += 1;
            let waiter = Waiter { id, tx };
            match pick {
                Pick::NoServer => return Err(Refused::NoServer),
                Pick::Server(i) => {
                    let max = self.def.servers[i].maxconn;
                    let room =
                        max == 0 || (lb.balancer.served(i) < max && lb.server_queues[i].is_empty());
                    if room {
                        lb.balancer.taken(i);
                        lb.conns += 1;
                        return Ok(Slot {
                            backend: self.clone(),
                            server: i,
                        });
                    }
                    lb.server_queues[i].push_back(waiter);
                    let len = lb.server_queues[i].len() as u32;
                    lb.balancer.set_queued(i, len);
                }
                Pick::Queue => lb.backend_queue.push_back(waiter),
            }
            let queued =
                lb.backend_queue.len() + lb.server_queues.iter().map(VecDeque::len).sum::<usize>();
            self.queue_max
                .fetch_max(queued as u64, std::sync::atomic::Ordering::Relaxed);
            (id, rx)
        };
        // Whatever ends the wait, the waiter must not stay queued.
        let mut rx = rx;
        let granted = match queue_timeout {
            Some(t) => tokio::time::timeout(t, &mut rx).await.ok(),
            None => Some((&mut rx).await),
        };
        if let Some(Ok(i)) = granted {
            return Ok(Slot {
                backend: self.clone(),
                server: i,
            });
        }
        let mut lb = self.lock();
        if lb.remove_waiter(id) {
            drop(lb);
            self.queue_timeouts
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Err(Refused::QueueTimeout);
        }
        drop(lb);
        // Granted as the timer fired: the slot is ours.
        match rx.try_recv() {
            Ok(i) => Ok(Slot {
                backend: self.clone(),
                server: i,
            }),
            Err(_) => Err(Refused::QueueTimeout),
        }
    }

    fn release(&self, i: usize) {
        let mut lb = self.lock();
        lb.balancer.released(i);
        lb.conns = lb.conns.saturating_sub(1);
        lb.hand_over(i, self.def.servers[i].maxconn);
    }

    /// A check's verdict. Returns the new state when up/down changed.
    pub fn check_result(&self, i: usize, ok: bool, status: String) -> Option<ServerState> {
        let mut lb = self.lock();
        let st = &mut lb.states[i];
        st.check_status = status;
        let changed = st.check.as_mut().is_some_and(|c| c.record(ok));
        if !changed {
            return None;
        }
        st.since = Instant::now();
        let out = st.clone();
        self.apply(&mut lb, i);
        Some(out)
    }

    /// An operator's change: returns the state before and after.
    pub fn set_admin(&self, i: usize, f: impl FnOnce(&mut Admin)) -> (Admin, Admin) {
        let mut lb = self.lock();
        let before = lb.states[i].admin;
        f(&mut lb.states[i].admin);
        let after = lb.states[i].admin;
        if before != after {
            lb.states[i].since = Instant::now();
            self.apply(&mut lb, i);
        }
        (before, after)
    }

    pub fn check_health(&self, i: usize) -> Option<CheckHealth> {
        self.lock().states[i].check
    }

    /// Tell the balancer, and let a server that can take traffic again
    /// serve the backend queue (HAProxy's pendconn_grab_from_px).
    fn apply(&self, lb: &mut Lb, i: usize) {
        let st = &lb.states[i];
        let (usable, weight) = (st.usable(), st.admin.weight);
        lb.balancer.set(i, usable, weight);
        if usable && weight > 0 {
            let max = self.def.servers[i].maxconn;
            while !lb.backend_queue.is_empty() && (max == 0 || lb.balancer.served(i) < max) {
                let Some(w) = lb.backend_queue.pop_front() else {
                    break;
                };
                if w.tx.send(i).is_ok() {
                    lb.balancer.taken(i);
                    lb.conns += 1;
                }
            }
        }
    }
}

impl Lb {
    fn remove_waiter(&mut self, id: u64) -> bool {
        let gone = |q: &mut VecDeque<Waiter>| match q.iter().position(|w| w.id == id) {
            Some(p) => {
                q.remove(p);
                true
            }
            None => false,
        };
        if gone(&mut self.backend_queue) {
            return true;
        }
        for i in 0..self.server_queues.len() {
            if gone(&mut self.server_queues[i]) {
                let len = self.server_queues[i].len() as u32;
                self.balancer.set_queued(i, len);
                return true;
            }
        }
        false
    }

    /// Server `i` has a free slot: give it to the oldest waiter of its own
    /// queue or of the backend's (HAProxy's process_srv_queue), while the
    /// server is usable.
    fn hand_over(&mut self, i: usize, maxconn: u32) {
        if !self.states[i].usable() {
            return;
        }
        while maxconn == 0 || self.balancer.served(i) < maxconn {
            let own = self.server_queues[i].front().map(|w| w.id);
            let any = if self.states[i].admin.weight > 0 {
                self.backend_queue.front().map(|w| w.id)
            } else {
                None
            };
            let from_own = match (own, any) {
                (None, None) => return,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (Some(a), Some(b)) => a < b,
            };
            let w = if from_own {
                let w = self.server_queues[i].pop_front();
                let len = self.server_queues[i].len() as u32;
                self.balancer.set_queued(i, len);
                w
            } else {
                self.backend_queue.pop_front()
            };
            let Some(w) = w else { return };
            // A waiter that gave up (its task ended) is skipped.
            if w.tx.send(i).is_ok() {
                self.balancer.taken(i);
                self.conns += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests;
