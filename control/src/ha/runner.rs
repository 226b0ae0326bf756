//! The VRRP thread: one loop over the instances' raw sockets, their timers,
//! the announcement schedule and the tracked interfaces.

use super::announce::{frame_for, Announcer};
use super::socket::{Received, VrrpSocket, GROUP_V4, GROUP_V6};
use super::InstanceStatus;
use crate::config::{Notify, SyncGroupDef, VrrpInstanceDef, VrrpSettings};
use crate::net::ifaces::{self, Interface};
use crate::net::neigh::Netlink;
use crate::ownership::{HeldSink, VipOwner};
use arc_swap::ArcSwap;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use xlb_vrrp::machine::{Action, Config as MachineConfig, Ignored, Instance, State};
use xlb_vrrp::packet::{Advertisement, Version};

/// How often tracked interfaces (and the instances' own) are looked at.
const LINK_CHECK: Duration = Duration::from_millis(250);
/// The longest the loop sleeps, so commands are served promptly.
const MAX_SLEEP: Duration = Duration::from_millis(50);

enum Cmd {
    Reconfigure(VrrpSettings),
    Watch(Arc<dyn HeldSink>),
    Shutdown,
}

/// The handle the daemon keeps.
pub struct Vrrp {
    cmds: mpsc::Sender<Cmd>,
    thread: Option<JoinHandle<()>>,
    status: Arc<ArcSwap<Vec<InstanceStatus>>>,
    held: Arc<ArcSwap<HashSet<IpAddr>>>,
}

impl Vrrp {
    pub fn start(settings: VrrpSettings) -> io::Result<Vrrp> {
        let status = Arc::new(ArcSwap::from_pointee(Vec::new()));
        let held = Arc::new(ArcSwap::from_pointee(HashSet::new()));
        let mut engine = Engine {
            instances: Vec::new(),
            groups: Vec::new(),
            group_state: HashMap::new(),
            sockets: HashMap::new(),
            netlink: Netlink::open()?,
            announcer: Announcer::open()?,
            links: Vec::new(),
            settings: VrrpSettings::default(),
            status: status.clone(),
            held: held.clone(),
            sinks: Vec::new(),
        };
        engine.links = ifaces::all()?;
        engine.configure(settings, Instant::now());
        let (tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("xlb-vrrp".into())
            .spawn(move || engine.run(rx))?;
        Ok(Vrrp {
            cmds: tx,
            thread: Some(thread),
            status,
            held,
        })
    }

    /// Apply a reloaded configuration: unchanged instances keep their state;
    /// changed ones restart; removed ones leave gracefully.
    pub fn reconfigure(&self, settings: VrrpSettings) {
        let _ = self.cmds.send(Cmd::Reconfigure(settings));
    }

    pub fn status(&self) -> Arc<ArcSwap<Vec<InstanceStatus>>> {
        self.status.clone()
    }

    /// Leave gracefully: masters announce priority 0 and release their
    /// addresses, so a backup takes over at once.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let _ = self.cmds.send(Cmd::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// VRRP decides which virtual addresses this director holds: those of the
/// instances (and sync groups) it is master of.
impl VipOwner for Vrrp {
    fn held(&self) -> HashSet<IpAddr> {
        (**self.held.load()).clone()
    }

    fn watch(&self, sink: Arc<dyn HeldSink>) {
        sink.held_changed(&self.held.load());
        // The thread tells it again once registered, so no change between
        // this call and the registration is lost.
        let _ = self.cmds.send(Cmd::Watch(sink));
    }
}

impl Drop for Vrrp {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Running {
    def: VrrpInstanceDef,
    m: Instance,
    group: Option<String>,
    ifindex: u32,
    mac: [u8; 6],
    /// Our address on the link: the adverts' source.
    primary: Option<IpAddr>,
    holding: bool,
    sent: u64,
    received: u64,
    transitions: u64,
    errors: BTreeMap<String, u64>,
    last_master: Option<IpAddr>,
    /// Announcement bursts to send: (when, how many per address).
    bursts: Vec<(Instant, u32)>,
    /// Why the instance is faulted by its own links (None: it is not).
    own_fault: Option<String>,
}

impl Running {
    fn count(&mut self, why: &str) {
        *self.errors.entry(why.to_string()).or_default() += 1;
    }
}

struct Engine {
    instances: Vec<Running>,
    groups: Vec<SyncGroupDef>,
    group_state: HashMap<String, State>,
    sockets: HashMap<(u32, bool), VrrpSocket>,
    netlink: Netlink,
    announcer: Announcer,
    links: Vec<Interface>,
    settings: VrrpSettings,
    status: Arc<ArcSwap<Vec<InstanceStatus>>>,
    held: Arc<ArcSwap<HashSet<IpAddr>>>,
    /// Told at once of every change of `held` (the steering gate).
    sinks: Vec<Arc<dyn HeldSink>>,
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Initialize => "INIT",
        State::Backup => "BACKUP",
        State::Master => "MASTER",
        State::Fault => "FAULT",
    }
}

fn ignored_name(i: Ignored) -> &'static str {
    match i {
        Ignored::OtherVrid => "ignored: other vrid",
        Ignored::IntervalMismatch => "ignored: advert interval differs from ours",
        Ignored::LowerPriority => "ignored: lower-priority master (we preempt)",
        Ignored::NotRunning => "ignored: instance not running",
    }
}

fn run_notify(notify: &Notify, kind: &str, name: &str, state: State, priority: u8) {
    let specific = match state {
        State::Master => &notify.master,
        State::Backup => &notify.backup,
        State::Fault => &notify.fault,
        State::Initialize => &None,
    };
    if let Some(cmd) = specific {
        crate::daemon::run_command(cmd.clone());
    }
    if let Some(cmd) = &notify.any {
        crate::daemon::run_command(format!(
            "{cmd} {kind} {name} {} {priority}",
            state_name(state)
        ));
    }
}

impl Engine {
    fn link(&self, name: &str) -> Option<&Interface> {
        self.links.iter().find(|l| l.name == name)
    }

    fn configure(&mut self, settings: VrrpSettings, now: Instant) {
        self.settings = settings.clone();
        // Removed or changed instances leave gracefully; the rest stay.
        for i in 0..self.instances.len() {
            if !settings.instances.contains(&self.instances[i].def) {
                let actions = self.instances[i].m.shutdown(now);
                self.apply(i, actions, now);
                tracing::info!(instance = %self.instances[i].def.name,
                    "VRRP instance removed or changed: left gracefully");
            }
        }
        self.instances
            .retain(|r| settings.instances.contains(&r.def));
        for r in &mut self.instances {
            r.group = group_of(&settings.groups, &r.def.name);
        }
        self.groups = settings.groups.clone();
        let mut fresh = Vec::new();
        for def in &settings.instances {
            if self.instances.iter().any(|r| r.def.name == def.name) {
                continue;
            }
            if def.auth.is_some() {
                tracing::warn!(instance = %def.name,
                    "auth_type PASS sends the password in clear in every advert: it guards against mistakes, not attackers");
            }
            let primary_guess = def.unicast_src.unwrap_or(IpAddr::from([0, 0, 0, 0]));
            let m = Instance::new(
                MachineConfig {
                    version: def.version,
                    vrid: def.vrid,
                    priority: def.priority,
                    advert_interval: def.advert_interval,
                    preempt: def.preempt,
                    preempt_delay: def.preempt_delay,
                    primary: primary_guess,
                },
                now,
            );
            self.instances.push(Running {
                def: def.clone(),
                m,
                group: group_of(&settings.groups, &def.name),
                ifindex: 0,
                mac: [0; 6],
                primary: None,
                holding: false,
                sent: 0,
                received: 0,
                transitions: 0,
                errors: BTreeMap::new(),
                last_master: None,
                bursts: Vec::new(),
                own_fault: None,
            });
            let i = self.instances.len() - 1;
            self.bind(i);
            // A crash may have left the addresses behind: a backup must not
            // answer for them.
            self.release(i);
            fresh.push(i);
        }
        // Started only once all exist, so sync groups see every member.
        for i in fresh {
            let r = &self.instances[i];
            if r.own_fault.is_some() {
                let why = "interface missing or without an address at start";
                self.step(i, now, |m| m.fault(now, why));
                continue;
            }
            let master = r.def.start_as_master;
            self.step(i, now, |m| m.startup(now));
            if master {
                self.step(i, now, |m| m.force_master(now, "state MASTER at start"));
            }
        }
        self.publish_status(now);
    }

    /// Learn the instance's interface facts and open its socket; sets
    /// `own_fault` when that is impossible.
    fn bind(&mut self, i: usize) {
        let def = self.instances[i].def.clone();
        let v6 = def.is_ipv6();
        let vips: HashSet<IpAddr> = self.settings_vips(&def);
        let Some(link) = self.link(&def.interface).cloned() else {
            self.instances[i].own_fault = Some(format!("interface {} not found", def.interface));
            return;
        };
        let primary = def.unicast_src.or_else(|| {
            if v6 {
                link.link_local().map(IpAddr::V6)
            } else {
                link.ipv4
                    .iter()
                    .map(|a| IpAddr::V4(a.0))
                    .find(|a| !vips.contains(a))
            }
        });
        let r = &mut self.instances[i];
        r.ifindex = link.ifindex;
        r.mac = link.mac;
        r.primary = primary;
        if primary.is_none() {
            r.own_fault = Some(format!(
                "{} has no {} address to send adverts from",
                def.interface,
                if v6 { "link-local IPv6" } else { "IPv4" }
            ));
            return;
        }
        if let Some(p) = primary {
            r.m.set_primary(p);
        }
        if let std::collections::hash_map::Entry::Vacant(e) = self.sockets.entry((link.ifindex, v6))
        {
            match VrrpSocket::open(&link.name, link.ifindex, v6) {
                Ok(s) => {
                    e.insert(s);
                }
                Err(err) => {
                    self.instances[i].own_fault =
                        Some(format!("cannot open a VRRP socket on {}: {err}", link.name));
                }
            }
        }
    }

    fn settings_vips(&self, def: &VrrpInstanceDef) -> HashSet<IpAddr> {
        def.vips.iter().map(|v| v.addr).collect()
    }

    /// Run one machine call, carry out its actions, and follow up a change
    /// of state: notify, and move the sync group along.
    fn step(&mut self, i: usize, now: Instant, f: impl FnOnce(&mut Instance) -> Vec<Action>) {
        let before = self.instances[i].m.state();
        let actions = f(&mut self.instances[i].m);
        self.settle(i, before, actions, now);
    }

    fn settle(&mut self, i: usize, before: State, actions: Vec<Action>, now: Instant) {
        self.apply(i, actions, now);
        let after = self.instances[i].m.state();
        if before == after {
            return;
        }
        self.instances[i].transitions += 1;
        // `xlbctl vrrp` sees a transition at once, not at the next tick.
        self.publish_status(now);
        let r = &self.instances[i];
        let why = r.m.last_change.map_or("", |c| c.2);
        tracing::info!(instance = %r.def.name, from = state_name(before), to = state_name(after),
            priority = r.m.priority(), reason = why, "VRRP state change");
        run_notify(
            &r.def.notify,
            "INSTANCE",
            &r.def.name,
            after,
            r.m.priority(),
        );
        let group = r.group.clone();
        if r.def.notify.mail {
            let subject = format!("VRRP instance {} is now {}", r.def.name, state_name(after));
            self.mail(&subject);
        }
        let Some(group) = group else {
            return;
        };
        let members: Vec<usize> = (0..self.instances.len())
            .filter(|&j| j != i && self.instances[j].group.as_deref() == Some(&group))
            .collect();
        for j in members {
            let m = &mut self.instances[j].m;
            let before_j = m.state();
            let actions = match after {
                State::Master => m.force_master(now, "sync group: another member became master"),
                State::Backup if before == State::Master => {
                    m.force_backup(now, "sync group: another member left master")
                }
                State::Fault => m.fault(now, "sync group: another member faulted"),
                _ => Vec::new(),
            };
            self.settle(j, before_j, actions, now);
        }
        self.group_transition(&group);
    }

    /// Run the group's notify once all its members agree on a new state.
    fn group_transition(&mut self, group: &str) {
        let states: Vec<State> = self
            .instances
            .iter()
            .filter(|r| r.group.as_deref() == Some(group))
            .map(|r| r.m.state())
            .collect();
        let Some(&first) = states.first() else {
            return;
        };
        if states.iter().any(|&s| s != first) || self.group_state.get(group) == Some(&first) {
            return;
        }
        self.group_state.insert(group.to_string(), first);
        if let Some(g) = self.groups.iter().find(|g| g.name == group).cloned() {
            tracing::info!(group = %g.name, state = state_name(first), "VRRP sync group state change");
            run_notify(&g.notify, "GROUP", &g.name, first, 0);
            if g.notify.mail {
                self.mail(&format!(
                    "VRRP sync group {} is now {}",
                    g.name,
                    state_name(first)
                ));
            }
        }
    }

    fn mail(&self, subject: &str) {
        let m = &self.settings.mail;
        if m.to.is_empty() {
            return;
        }
        // Documented: xlb does not speak SMTP; the alert goes to the log.
        tracing::info!(to = ?m.to, from = ?m.from, smtp_server = ?m.smtp_server, %subject,
            "smtp_alert (logged, not mailed)");
    }

    fn apply(&mut self, i: usize, actions: Vec<Action>, now: Instant) {
        for a in actions {
            match a {
                Action::SendAdvert { priority } => self.send_advert(i, priority),
                Action::BecomeMaster => self.take(i, now),
                Action::BecomeBackup => self.release(i),
            }
        }
    }

    fn send_advert(&mut self, i: usize, priority: u8) {
        let r = &self.instances[i];
        let Some(src) = r.primary else { return };
        let Some(sock) = self.sockets.get(&(r.ifindex, src.is_ipv6())) else {
            return;
        };
        let adv = Advertisement {
            version: r.def.version,
            vrid: r.def.vrid,
            priority,
            interval_cs: (r.def.advert_interval.as_millis() / 10) as u16,
            addrs: r.def.vips.iter().map(|v| v.addr).collect(),
            auth: r.def.auth,
        };
        let dsts: Vec<IpAddr> = if r.def.unicast_peers.is_empty() {
            vec![if src.is_ipv6() {
                IpAddr::V6(GROUP_V6)
            } else {
                IpAddr::V4(GROUP_V4)
            }]
        } else {
            r.def.unicast_peers.clone()
        };
        let mut failed = None;
        for dst in dsts {
            let msg = adv.encode(src, dst);
            if let Err(e) = sock.send(&msg, src, dst) {
                failed = Some(e);
            }
        }
        let r = &mut self.instances[i];
        match failed {
            None => r.sent += 1,
            Some(e) => {
                r.count("send failed");
                tracing::warn!(instance = %r.def.name, error = %e, "cannot send a VRRP advert");
            }
        }
    }

    fn ifindex_of(&self, r: &Running, dev: &Option<String>) -> Option<u32> {
        match dev {
            None => Some(r.ifindex),
            Some(d) => self.link(d).map(|l| l.ifindex),
        }
    }

    fn take(&mut self, i: usize, now: Instant) {
        // Forwarding first, then the addresses, then the announcements: a
        // client that hears the gratuitous ARP before the dataplane steers
        // the VIP would reach the kernel, whose RST ends every connection
        // the peer synced to us.
        self.instances[i].holding = true;
        self.publish_held();
        let r = &self.instances[i];
        let mut errors = Vec::new();
        let mut adds = Vec::new();
        for v in &r.def.vips {
            match self.ifindex_of(r, &v.dev) {
                Some(ix) => adds.push((ix, v.addr, v.prefix)),
                None => errors.push(format!("{}: interface {:?} not found", v.addr, v.dev)),
            }
        }
        for (ix, addr, prefix) in adds {
            if let Err(e) = self.netlink.add_address(ix, addr, prefix) {
                errors.push(format!("cannot add {addr}/{prefix}: {e}"));
            }
        }
        let r = &mut self.instances[i];
        for e in errors {
            r.count("address add failed");
            tracing::warn!(instance = %r.def.name, error = %e, "taking the virtual addresses");
        }
        r.last_master = r.primary;
        let g = r.def.garp;
        r.bursts = vec![(now, g.repeat)];
        if !g.delay.is_zero() {
            r.bursts.push((now + g.delay, g.repeat));
        }
        self.announce_due(now);
    }

    fn release(&mut self, i: usize) {
        let r = &self.instances[i];
        let mut dels = Vec::new();
        for v in &r.def.vips {
            if let Some(ix) = self.ifindex_of(r, &v.dev) {
                dels.push((ix, v.addr, v.prefix));
            }
        }
        for (ix, addr, prefix) in dels {
            if let Err(e) = self.netlink.del_address(ix, addr, prefix) {
                tracing::warn!(error = %e, %addr, "cannot remove a virtual address");
            }
        }
        let r = &mut self.instances[i];
        r.holding = false;
        r.bursts.clear();
        self.publish_held();
    }

    fn publish_held(&mut self) {
        let held: HashSet<IpAddr> = self
            .instances
            .iter()
            .filter(|r| r.holding)
            .flat_map(|r| r.def.vips.iter().map(|v| v.addr))
            .collect();
        if **self.held.load() != held {
            for sink in &self.sinks {
                sink.held_changed(&held);
            }
            self.held.store(Arc::new(held));
        }
    }

    /// Send the announcement bursts that are due, and schedule refreshes.
    fn announce_due(&mut self, now: Instant) {
        for i in 0..self.instances.len() {
            let r = &mut self.instances[i];
            if !r.holding {
                continue;
            }
            let due: u32 = r
                .bursts
                .iter()
                .filter(|b| b.0 <= now)
                .map(|b| b.1)
                .max()
                .unwrap_or(0);
            if due == 0 {
                continue;
            }
            r.bursts.retain(|b| b.0 > now);
            let g = r.def.garp;
            if !g.refresh.is_zero() && r.bursts.is_empty() {
                r.bursts.push((now + g.refresh, g.refresh_repeat));
            }
            let r = &self.instances[i];
            let mut failed = 0;
            for v in &r.def.vips {
                let Some(ix) = self.ifindex_of(r, &v.dev) else {
                    continue;
                };
                let mac = if ix == r.ifindex {
                    r.mac
                } else {
                    self.links
                        .iter()
                        .find(|l| l.ifindex == ix)
                        .map_or(r.mac, |l| l.mac)
                };
                let frame = frame_for(mac, v.addr);
                for _ in 0..due {
                    if self.announcer.send(ix, &frame).is_err() {
                        failed += 1;
                    }
                }
            }
            if failed > 0 {
                self.instances[i].count("announcement send failed");
            }
        }
    }

    fn next_wake(&self, now: Instant) -> Duration {
        let mut wake = now + MAX_SLEEP;
        for r in &self.instances {
            if let Some(d) = r.m.next_deadline() {
                wake = wake.min(d);
            }
            for b in &r.bursts {
                wake = wake.min(b.0);
            }
        }
        wake.saturating_duration_since(now)
    }

    fn run(mut self, cmds: mpsc::Receiver<Cmd>) {
        let mut next_link_check = Instant::now();
        let mut next_status = Instant::now();
        loop {
            let now = Instant::now();
            match cmds.try_recv() {
                Ok(Cmd::Reconfigure(s)) => {
                    self.links = ifaces::all().unwrap_or_else(|_| self.links.clone());
                    self.configure(s, now);
                }
                Ok(Cmd::Watch(sink)) => {
                    sink.held_changed(&self.held.load());
                    self.sinks.push(sink);
                }
                Ok(Cmd::Shutdown) | Err(mpsc::TryRecvError::Disconnected) => break,
                Err(mpsc::TryRecvError::Empty) => {}
            }
            let mut fds: Vec<libc::pollfd> = self
                .sockets
                .values()
                .map(|s| libc::pollfd {
                    fd: s.fd(),
                    events: libc::POLLIN,
                    revents: 0,
                })
                .collect();
            let wait = self.next_wake(now);
            // SAFETY: fds is a valid array of pollfd of the length passed.
            unsafe {
                libc::poll(
                    fds.as_mut_ptr(),
                    fds.len() as libc::nfds_t,
                    wait.as_millis().min(1000) as libc::c_int,
                )
            };
            let now = Instant::now();
            let ready: Vec<(u32, bool)> = self
                .sockets
                .iter()
                .filter(|(_, s)| fds.iter().any(|p| p.fd == s.fd() && p.revents != 0))
                .map(|(k, _)| *k)
                .collect();
            for key in ready {
                self.receive(key, now);
            }
            for i in 0..self.instances.len() {
                if self.instances[i]
                    .m
                    .next_deadline()
                    .is_some_and(|d| d <= now)
                {
                    self.step(i, now, |m| m.on_timer(now));
                }
            }
            self.announce_due(now);
            if now >= next_link_check {
                next_link_check = now + LINK_CHECK;
                self.check_links(now);
            }
            if now >= next_status {
                next_status = now + LINK_CHECK;
                self.publish_status(now);
            }
        }
        let now = Instant::now();
        for i in 0..self.instances.len() {
            self.step(i, now, |m| m.shutdown(now));
        }
        self.publish_status(now);
        if !self.instances.is_empty() {
            tracing::info!("VRRP stopped: addresses released");
        }
    }

    fn receive(&mut self, key: (u32, bool), now: Instant) {
        // A bounded batch per wake-up: a flood cannot starve the timers.
        for _ in 0..256 {
            let Some(sock) = self.sockets.get(&key) else {
                return;
            };
            let got = match sock.recv() {
                Ok(Some(p)) => p,
                Ok(None) => return,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "VRRP socket receive failed");
                    return;
                }
            };
            self.handle(key, got, now);
        }
    }

    fn handle(&mut self, key: (u32, bool), p: Received, now: Instant) {
        let Some(&vrid) = p.msg.get(1) else { return };
        let Some(i) = self
            .instances
            .iter()
            .position(|r| r.ifindex == key.0 && r.def.is_ipv6() == key.1 && r.def.vrid == vrid)
        else {
            return;
        };
        let link = self.links.iter().find(|l| l.ifindex == key.0).cloned();
        let r = &mut self.instances[i];
        if Some(p.src) == r.primary {
            return;
        }
        if !r.def.unicast_peers.is_empty() && !r.def.unicast_peers.contains(&p.src) {
            r.count("sender is not a unicast_peer");
            return;
        }
        if let (IpAddr::V4(src), Some(l)) = (p.src, &link) {
            if r.def.unicast_peers.is_empty() && !l.on_link(src) {
                r.count("source not on the interface's subnet");
                return;
            }
        }
        let adv =
            match Advertisement::decode(&p.msg, p.src, p.dst, p.ttl, r.def.version, r.def.auth) {
                Ok(a) => a,
                Err(e) => {
                    r.count(&e.to_string());
                    return;
                }
            };
        r.received += 1;
        let ours: HashSet<IpAddr> = r.def.vips.iter().map(|v| v.addr).collect();
        if adv.priority != 0 && adv.addrs.iter().copied().collect::<HashSet<_>>() != ours {
            // RFC 3768 7.1: log and go on.
            r.count("address list differs (accepted)");
        }
        let prio = adv.priority;
        let mut outcome = None;
        self.step(i, now, |m| match m.on_advert(now, &adv, p.src) {
            Ok(a) => a,
            Err(e) => {
                outcome = Some(e);
                Vec::new()
            }
        });
        let r = &mut self.instances[i];
        match outcome {
            Some(e) => r.count(ignored_name(e)),
            None if prio > 0 && r.m.state() == State::Backup => r.last_master = Some(p.src),
            None => {}
        }
    }

    /// Tracked interfaces and each instance's own: fault, recover, and
    /// priority weights.
    fn check_links(&mut self, now: Instant) {
        let Ok(links) = ifaces::all() else { return };
        self.links = links;
        for i in 0..self.instances.len() {
            let def = self.instances[i].def.clone();
            let up = |name: &str| self.link(name).is_some_and(Interface::is_running);
            let mut fault = None;
            if !up(&def.interface) {
                fault = Some(format!("{} is down", def.interface));
            }
            let mut priority = i32::from(def.priority);
            for t in &def.track {
                let is_up = up(&t.interface);
                match t.weight {
                    0 if !is_up => fault = Some(format!("tracked {} is down", t.interface)),
                    w if w < 0 && !is_up => priority += w,
                    w if w > 0 && is_up => priority += w,
                    _ => {}
                }
            }
            let was_missing = self.instances[i].ifindex == 0 || self.instances[i].primary.is_none();
            if fault.is_none() && was_missing {
                self.instances[i].own_fault = None;
                self.bind(i);
                fault = self.instances[i].own_fault.clone();
            }
            self.instances[i].own_fault = fault;
            if def.priority < 255 {
                let p = priority.clamp(1, 254) as u8;
                self.step(i, now, |m| m.set_priority(now, p));
            }
        }
        // A group faults together: one member's fault holds all of them.
        for i in 0..self.instances.len() {
            let r = &self.instances[i];
            let group_fault = r.group.as_ref().and_then(|g| {
                self.instances
                    .iter()
                    .find(|o| o.group.as_ref() == Some(g) && o.own_fault.is_some())
                    .map(|_| "sync group member faulted")
            });
            let faulted = r.own_fault.is_some() || group_fault.is_some();
            let state = r.m.state();
            if faulted && state != State::Fault {
                let why: &'static str = if r.own_fault.is_some() {
                    "interface down"
                } else {
                    "sync group member faulted"
                };
                if let Some(f) = &r.own_fault {
                    tracing::warn!(instance = %r.def.name, fault = %f, "VRRP instance faulted");
                }
                self.step(i, now, |m| m.fault(now, why));
            } else if !faulted && state == State::Fault {
                let master = self.instances[i].def.start_as_master;
                self.step(i, now, |m| m.recover(now));
                if master {
                    self.step(i, now, |m| {
                        m.force_master(now, "state MASTER after recovery")
                    });
                }
            }
        }
    }

    fn publish_status(&self, now: Instant) {
        let list = self
            .instances
            .iter()
            .map(|r| InstanceStatus {
                name: r.def.name.clone(),
                interface: r.def.interface.clone(),
                vrid: r.def.vrid,
                version: if r.def.version == Version::V2 { 2 } else { 3 },
                group: r.group.clone(),
                state: state_name(r.m.state()).into(),
                priority: r.m.priority(),
                configured_priority: r.def.priority,
                master: match r.m.state() {
                    State::Master => r.primary,
                    State::Backup => r.last_master,
                    _ => None,
                }
                .map(|a| a.to_string()),
                vips: r
                    .def
                    .vips
                    .iter()
                    .map(|v| format!("{}/{}", v.addr, v.prefix))
                    .collect(),
                adverts_sent: r.sent,
                adverts_received: r.received,
                transitions: r.transitions,
                errors: r.errors.clone(),
                since_secs: r
                    .m
                    .last_change
                    .map(|c| now.saturating_duration_since(c.0).as_secs_f64()),
                reason: match (&r.own_fault, r.m.last_change) {
                    (Some(f), _) => f.clone(),
                    (None, Some(c)) => c.2.to_string(),
                    (None, None) => String::new(),
                },
            })
            .collect();
        self.status.store(Arc::new(list));
    }
}

fn group_of(groups: &[SyncGroupDef], name: &str) -> Option<String> {
    groups
        .iter()
        .find(|g| g.members.iter().any(|m| m == name))
        .map(|g| g.name.clone())
}
