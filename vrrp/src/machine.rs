//! The VRRP state machine (RFC 5798 section 6.4; RFC 3768 section 6.4 for
//! v2), with keepalived's `nopreempt` and `preempt_delay`. It never reads a
//! clock or touches a socket: the caller passes `now` and carries out the
//! returned actions, so every transition is testable with a fake clock.

use crate::packet::{Advertisement, Version};
use std::net::IpAddr;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Initialize,
    Backup,
    Master,
    /// A tracked interface is down (or a sync-group member faulted): no
    /// adverts, no addresses, until `recover`.
    Fault,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub version: Version,
    pub vrid: u8,
    /// 1..=254; 255 = the address owner, which becomes master at once.
    pub priority: u8,
    pub advert_interval: Duration,
    pub preempt: bool,
    /// keepalived: after start, do not preempt a lower-priority master for
    /// this long.
    pub preempt_delay: Duration,
    /// This router's address on the link: breaks priority ties (higher wins).
    pub primary: IpAddr,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Send an advertisement with this priority (0: "I am leaving").
    SendAdvert { priority: u8 },
    /// Take the virtual addresses, announce them (gratuitous ARP /
    /// unsolicited NA), forward for them.
    BecomeMaster,
    /// Release the virtual addresses and stop forwarding for them.
    BecomeBackup,
}

/// Why a received advertisement was ignored (counted by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ignored {
    OtherVrid,
    /// v2: the sender's interval differs from ours (RFC 3768 7.1).
    IntervalMismatch,
    /// A lower-priority master while we may preempt: we wait it out.
    LowerPriority,
    NotRunning,
}

#[derive(Debug)]
pub struct Instance {
    cfg: Config,
    state: State,
    started: Instant,
    master_adver_interval: Duration,
    adver_timer: Option<Instant>,
    master_down_timer: Option<Instant>,
    /// The master announced priority 0: the timer runs for Skew_Time only.
    master_left: bool,
    /// The last transition and why, for `xlbctl vrrp`.
    pub last_change: Option<(Instant, State, &'static str)>,
}

impl Instance {
    pub fn new(cfg: Config, now: Instant) -> Instance {
        let interval = cfg.advert_interval;
        Instance {
            cfg,
            state: State::Initialize,
            started: now,
            master_adver_interval: interval,
            adver_timer: None,
            master_down_timer: None,
            master_left: false,
            last_change: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Our address on the link changed (learnt after start): it breaks
    /// priority ties.
    pub fn set_primary(&mut self, primary: IpAddr) {
        self.cfg.primary = primary;
    }

    /// The priority in force now (the configured one, lowered by
    /// `track_interface` weights).
    pub fn priority(&self) -> u8 {
        self.cfg.priority
    }

    /// Change the effective priority (a tracked interface changed). A
    /// master keeps its role and advertises the new priority at once, so a
    /// backup that now wins preempts it; a backup's timers follow.
    pub fn set_priority(&mut self, now: Instant, priority: u8) -> Vec<Action> {
        let priority = priority.clamp(1, 255);
        if priority == self.cfg.priority {
            return Vec::new();
        }
        self.cfg.priority = priority;
        match self.state {
            State::Master => {
                self.adver_timer = Some(now + self.cfg.advert_interval);
                vec![Action::SendAdvert { priority }]
            }
            _ => Vec::new(),
        }
    }

    /// Enter Fault: a master first says it is leaving (priority 0) so the
    /// backup takes over after its skew time.
    pub fn fault(&mut self, now: Instant, why: &'static str) -> Vec<Action> {
        if self.state == State::Fault {
            return Vec::new();
        }
        let was_master = self.state == State::Master;
        self.adver_timer = None;
        self.master_down_timer = None;
        self.go(now, State::Fault, why);
        if was_master {
            vec![Action::SendAdvert { priority: 0 }, Action::BecomeBackup]
        } else {
            Vec::new()
        }
    }

    /// Leave Fault as if starting up.
    pub fn recover(&mut self, now: Instant) -> Vec<Action> {
        if self.state != State::Fault {
            return Vec::new();
        }
        self.startup(now)
    }

    /// Sync group: another member became master, so this one follows at
    /// once (a backup only; Fault and Initialize stay).
    pub fn force_master(&mut self, now: Instant, why: &'static str) -> Vec<Action> {
        match self.state {
            State::Backup => self.become_master(now, why),
            _ => Vec::new(),
        }
    }

    /// Sync group: another member left master, so this one leaves too,
    /// announcing priority 0 so its peer takes over without waiting.
    pub fn force_backup(&mut self, now: Instant, why: &'static str) -> Vec<Action> {
        match self.state {
            State::Master => {
                let mut out = vec![Action::SendAdvert { priority: 0 }];
                out.extend(self.become_backup(now, why));
                out
            }
            _ => Vec::new(),
        }
    }

    /// Skew_Time: lower priorities wait longer before taking over.
    pub fn skew(&self) -> Duration {
        let p = 256 - u32::from(self.cfg.priority);
        match self.cfg.version {
            // RFC 3768: (256 - Priority) / 256 seconds.
            Version::V2 => Duration::from_secs(1) * p / 256,
            // RFC 5798: ((256 - Priority) * Master_Adver_Interval) / 256.
            Version::V3 => self.master_adver_interval * p / 256,
        }
    }

    /// Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time.
    pub fn master_down_interval(&self) -> Duration {
        self.master_adver_interval * 3 + self.skew()
    }

    /// When `on_timer` must next be called.
    pub fn next_deadline(&self) -> Option<Instant> {
        match self.state {
            State::Master => self.adver_timer,
            State::Backup => self.master_down_timer,
            State::Initialize | State::Fault => None,
        }
    }

    fn go(&mut self, now: Instant, state: State, why: &'static str) {
        self.master_left = false;
        self.state = state;
        self.last_change = Some((now, state, why));
    }

    fn become_master(&mut self, now: Instant, why: &'static str) -> Vec<Action> {
        self.master_down_timer = None;
        self.adver_timer = Some(now + self.cfg.advert_interval);
        self.go(now, State::Master, why);
        vec![
            Action::SendAdvert {
                priority: self.cfg.priority,
            },
            Action::BecomeMaster,
        ]
    }

    fn become_backup(&mut self, now: Instant, why: &'static str) -> Vec<Action> {
        let was_master = self.state == State::Master;
        self.adver_timer = None;
        self.master_down_timer = Some(now + self.master_down_interval());
        self.go(now, State::Backup, why);
        if was_master {
            vec![Action::BecomeBackup]
        } else {
            Vec::new()
        }
    }

    pub fn startup(&mut self, now: Instant) -> Vec<Action> {
        self.started = now;
        if self.cfg.priority == 255 {
            return self.become_master(now, "address owner (priority 255)");
        }
        self.master_adver_interval = self.cfg.advert_interval;
        self.become_backup(now, "startup")
    }

    /// Leave gracefully: a master announces priority 0 so a backup takes
    /// over after its skew time instead of the full master-down interval.
    pub fn shutdown(&mut self, now: Instant) -> Vec<Action> {
        let was_master = self.state == State::Master;
        self.adver_timer = None;
        self.master_down_timer = None;
        self.go(now, State::Initialize, "shutdown");
        if was_master {
            vec![Action::SendAdvert { priority: 0 }, Action::BecomeBackup]
        } else {
            Vec::new()
        }
    }

    pub fn on_timer(&mut self, now: Instant) -> Vec<Action> {
        match self.state {
            State::Master if self.adver_timer.is_some_and(|t| now >= t) => {
                self.adver_timer = Some(now + self.cfg.advert_interval);
                vec![Action::SendAdvert {
                    priority: self.cfg.priority,
                }]
            }
            State::Backup if self.master_down_timer.is_some_and(|t| now >= t) => {
                let why = if self.master_left {
                    "the master left (priority 0 advert)"
                } else {
                    "no advertisement within the master-down interval"
                };
                self.become_master(now, why)
            }
            _ => Vec::new(),
        }
    }

    fn may_preempt(&self, now: Instant) -> bool {
        self.cfg.preempt && now.duration_since(self.started) >= self.cfg.preempt_delay
    }

    pub fn on_advert(
        &mut self,
        now: Instant,
        adv: &Advertisement,
        src: IpAddr,
    ) -> Result<Vec<Action>, Ignored> {
        if adv.vrid != self.cfg.vrid {
            return Err(Ignored::OtherVrid);
        }
        let interval = Duration::from_millis(u64::from(adv.interval_cs) * 10);
        if self.cfg.version == Version::V2 && interval != self.cfg.advert_interval {
            return Err(Ignored::IntervalMismatch);
        }
        match self.state {
            State::Initialize | State::Fault => Err(Ignored::NotRunning),
            State::Backup => {
                if adv.priority == 0 {
                    // The master is leaving: take over after Skew_Time.
                    self.master_down_timer = Some(now + self.skew());
                    self.master_left = true;
                    return Ok(Vec::new());
                }
                if !self.may_preempt(now) || adv.priority >= self.cfg.priority {
                    if self.cfg.version == Version::V3 {
                        self.master_adver_interval = interval;
                    }
                    self.master_down_timer = Some(now + self.master_down_interval());
                    self.master_left = false;
                    return Ok(Vec::new());
                }
                Err(Ignored::LowerPriority)
            }
            State::Master => {
                if adv.priority == 0 {
                    // Another router left: show we are here at once.
                    self.adver_timer = Some(now + self.cfg.advert_interval);
                    return Ok(vec![Action::SendAdvert {
                        priority: self.cfg.priority,
                    }]);
                }
                let wins = adv.priority > self.cfg.priority
                    || (adv.priority == self.cfg.priority && src > self.cfg.primary);
                if wins {
                    if self.cfg.version == Version::V3 {
                        self.master_adver_interval = interval;
                    }
                    return Ok(self.become_backup(now, "higher-priority master seen"));
                }
                Err(Ignored::LowerPriority)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(priority: u8, version: Version) -> Config {
        Config {
            version,
            vrid: 50,
            priority,
            advert_interval: Duration::from_secs(1),
            preempt: true,
            preempt_delay: Duration::ZERO,
            primary: "10.0.0.2".parse().unwrap(),
        }
    }

    fn adv(priority: u8) -> Advertisement {
        Advertisement {
            version: Version::V3,
            vrid: 50,
            priority,
            interval_cs: 100,
            addrs: vec!["10.0.0.1".parse().unwrap()],
            auth: None,
        }
    }

    fn peer(last: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, last])
    }

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn timers_follow_the_rfc() {
        let i = Instance::new(cfg(100, Version::V3), Instant::now());
        // Skew = (256-100)*1s/256 = 609.375 ms; down = 3 s + skew.
        assert_eq!(i.skew(), Duration::from_micros(609_375));
        assert_eq!(i.master_down_interval(), Duration::from_micros(3_609_375));
        let v2 = Instance::new(cfg(100, Version::V2), Instant::now());
        assert_eq!(v2.skew(), Duration::from_micros(609_375));
    }

    #[test]
    fn a_silent_link_makes_the_backup_master_after_master_down() {
        let t0 = Instant::now();
        let mut i = Instance::new(cfg(100, Version::V3), t0);
        assert_eq!(i.startup(t0), vec![]);
        assert_eq!(i.state(), State::Backup);
        let down = i.master_down_interval();
        assert_eq!(i.on_timer(t0 + down - MS), vec![]);
        assert_eq!(
            i.on_timer(t0 + down),
            vec![Action::SendAdvert { priority: 100 }, Action::BecomeMaster]
        );
        // Then adverts every interval.
        assert_eq!(i.next_deadline(), Some(t0 + down + Duration::from_secs(1)));
        assert_eq!(
            i.on_timer(t0 + down + Duration::from_secs(1)),
            vec![Action::SendAdvert { priority: 100 }]
        );
    }

    #[test]
    fn adverts_keep_a_backup_backup() {
        let t0 = Instant::now();
        let mut i = Instance::new(cfg(100, Version::V3), t0);
        i.startup(t0);
        for k in 1..10 {
            let t = t0 + Duration::from_secs(k);
            assert_eq!(i.on_advert(t, &adv(150), peer(3)), Ok(vec![]));
            assert_eq!(
                i.on_timer(t + Duration::from_secs(3)),
                vec![],
                "timer was reset by the advert"
            );
        }
        assert_eq!(i.state(), State::Backup);
    }

    #[test]
    fn master_yields_to_higher_priority_and_to_a_higher_address_on_ties() {
        let t0 = Instant::now();
        let mut owner = Instance::new(cfg(255, Version::V3), t0);
        assert_eq!(
            owner.startup(t0),
            vec![Action::SendAdvert { priority: 255 }, Action::BecomeMaster]
        );

        let mut m = Instance::new(cfg(100, Version::V3), t0);
        m.startup(t0);
        m.on_timer(t0 + Duration::from_secs(5));
        assert_eq!(m.state(), State::Master);
        assert_eq!(
            m.on_advert(t0 + Duration::from_secs(6), &adv(100), peer(1)),
            Err(Ignored::LowerPriority),
            "equal, lower address"
        );
        assert_eq!(
            m.on_advert(t0 + Duration::from_secs(6), &adv(100), peer(3)),
            Ok(vec![Action::BecomeBackup]),
            "equal, higher address"
        );
        m.on_timer(t0 + Duration::from_secs(20));
        assert_eq!(m.state(), State::Master);
        assert_eq!(
            m.on_advert(t0 + Duration::from_secs(21), &adv(200), peer(1)),
            Ok(vec![Action::BecomeBackup])
        );
        assert_eq!(
            m.last_change.map(|c| c.2),
            Some("higher-priority master seen")
        );
    }

    #[test]
    fn graceful_shutdown_hands_over_within_skew_time() {
        let t0 = Instant::now();
        let mut m = Instance::new(cfg(200, Version::V3), t0);
        let mut b = Instance::new(cfg(100, Version::V3), t0);
        m.startup(t0);
        b.startup(t0);
        m.on_timer(t0 + Duration::from_secs(4));
        assert_eq!(m.state(), State::Master);
        let t = t0 + Duration::from_secs(10);
        assert_eq!(
            m.shutdown(t),
            vec![Action::SendAdvert { priority: 0 }, Action::BecomeBackup]
        );
        assert_eq!(b.on_advert(t, &adv(0), peer(2)), Ok(vec![]));
        // Master within Skew_Time (609 ms), well under one advert interval.
        assert_eq!(
            b.on_timer(t + b.skew()),
            vec![Action::SendAdvert { priority: 100 }, Action::BecomeMaster]
        );
        assert!(b.skew() < Duration::from_secs(1));
        assert_eq!(
            b.last_change.map(|c| c.2),
            Some("the master left (priority 0 advert)")
        );
    }

    #[test]
    fn preempt_nopreempt_and_preempt_delay() {
        let t0 = Instant::now();
        // A higher-priority backup ignores a lower master and takes over
        // when its master-down timer runs out.
        let mut hi = Instance::new(cfg(200, Version::V3), t0);
        hi.startup(t0);
        assert_eq!(
            hi.on_advert(t0 + Duration::from_secs(1), &adv(100), peer(1)),
            Err(Ignored::LowerPriority)
        );
        assert_eq!(
            hi.on_timer(t0 + hi.master_down_interval()),
            vec![Action::SendAdvert { priority: 200 }, Action::BecomeMaster]
        );

        // nopreempt: it accepts the lower master and stays backup.
        let mut np = Instance::new(
            Config {
                preempt: false,
                ..cfg(200, Version::V3)
            },
            t0,
        );
        np.startup(t0);
        for k in 1..10 {
            let t = t0 + Duration::from_secs(k);
            assert_eq!(np.on_advert(t, &adv(100), peer(1)), Ok(vec![]));
            assert_eq!(np.on_timer(t), vec![]);
        }
        assert_eq!(np.state(), State::Backup);

        // preempt_delay 5 s: no preemption before, preemption after.
        let mut pd = Instance::new(
            Config {
                preempt_delay: Duration::from_secs(5),
                ..cfg(200, Version::V3)
            },
            t0,
        );
        pd.startup(t0);
        assert_eq!(
            pd.on_advert(t0 + Duration::from_secs(2), &adv(100), peer(1)),
            Ok(vec![]),
            "within the delay"
        );
        assert_eq!(
            pd.on_advert(t0 + Duration::from_secs(6), &adv(100), peer(1)),
            Err(Ignored::LowerPriority),
            "after it"
        );
    }

    #[test]
    fn v2_rejects_an_interval_mismatch_and_other_vrids() {
        let t0 = Instant::now();
        let mut i = Instance::new(cfg(100, Version::V2), t0);
        i.startup(t0);
        let mut a = adv(150);
        a.version = Version::V2;
        a.interval_cs = 200;
        assert_eq!(i.on_advert(t0, &a, peer(3)), Err(Ignored::IntervalMismatch));
        a.interval_cs = 100;
        a.vrid = 51;
        assert_eq!(i.on_advert(t0, &a, peer(3)), Err(Ignored::OtherVrid));
    }

    #[test]
    fn v3_backup_learns_the_masters_interval() {
        let t0 = Instant::now();
        let mut i = Instance::new(cfg(100, Version::V3), t0);
        i.startup(t0);
        let mut a = adv(150);
        a.interval_cs = 300;
        i.on_advert(t0, &a, peer(3)).unwrap();
        // 3 * 3 s + skew(3 s) = 9 s + 1.828 s.
        assert_eq!(
            i.master_down_interval(),
            Duration::from_secs(9) + Duration::from_micros(1_828_125)
        );
        assert_eq!(i.on_timer(t0 + Duration::from_secs(10)), vec![]);
    }

    #[test]
    fn fault_releases_the_addresses_and_recovery_starts_over() {
        let t0 = Instant::now();
        let mut i = Instance::new(cfg(100, Version::V3), t0);
        i.startup(t0);
        let down = i.master_down_interval();
        i.on_timer(t0 + down);
        assert_eq!(i.state(), State::Master);
        assert_eq!(
            i.fault(t0 + down, "eth0 down"),
            vec![Action::SendAdvert { priority: 0 }, Action::BecomeBackup]
        );
        assert_eq!(i.state(), State::Fault);
        assert_eq!(i.next_deadline(), None, "no adverts while faulted");
        assert_eq!(i.on_advert(t0, &adv(50), peer(1)), Err(Ignored::NotRunning));
        assert_eq!(i.fault(t0, "again"), vec![], "idempotent");
        assert_eq!(i.recover(t0 + down), vec![]);
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.recover(t0 + down), vec![], "only from Fault");
    }

    #[test]
    fn sync_group_forcing_moves_only_backup_and_master() {
        let t0 = Instant::now();
        let mut i = Instance::new(cfg(100, Version::V3), t0);
        assert_eq!(i.force_master(t0, "group"), vec![], "not running yet");
        i.startup(t0);
        assert_eq!(
            i.force_master(t0, "group"),
            vec![Action::SendAdvert { priority: 100 }, Action::BecomeMaster]
        );
        assert_eq!(i.last_change.map(|c| c.2), Some("group"));
        assert_eq!(i.force_master(t0, "group"), vec![], "already master");
        assert_eq!(
            i.force_backup(t0, "group"),
            vec![Action::SendAdvert { priority: 0 }, Action::BecomeBackup]
        );
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.force_backup(t0, "group"), vec![]);
    }

    #[test]
    fn a_lowered_priority_is_advertised_at_once_and_lets_a_backup_win() {
        let t0 = Instant::now();
        let mut m = Instance::new(cfg(150, Version::V3), t0);
        m.startup(t0);
        m.on_timer(t0 + m.master_down_interval());
        assert_eq!(m.state(), State::Master);
        assert_eq!(m.set_priority(t0, 150), vec![], "unchanged");
        assert_eq!(
            m.set_priority(t0, 90),
            vec![Action::SendAdvert { priority: 90 }]
        );
        assert_eq!(m.priority(), 90);
        // A 100 backup now preempts: its advert beats ours.
        assert_eq!(
            m.on_advert(t0, &adv(100), peer(1)),
            Ok(vec![Action::BecomeBackup])
        );
        assert_eq!(
            m.set_priority(t0, 0),
            vec![],
            "clamped to 1, backup sends nothing"
        );
        assert_eq!(m.priority(), 1);
    }
}
