//! The servers of one backend as HAProxy's LB code sees them: weights,
//! states, counters, and the backend-wide totals every algorithm reads
//! (HAProxy's `struct server` fields and `lbprm`/`srv_act`/`srv_bck`).

/// HAProxy's BE_WEIGHT_SCALE: dynamic algorithms give a server an effective
/// weight of 16 per unit of user weight (lb_fwrr.c, lb_fwlc.c, lb_chash.c,
/// lb_fas.c init: `wdiv = BE_WEIGHT_SCALE`).
pub(crate) const BE_WEIGHT_SCALE: u32 = 16;
/// SRV_UWGHT_MAX: the largest user weight a server may have.
pub(crate) const SRV_UWGHT_MAX: u32 = 256;
/// SRV_EWGHT_MAX = SRV_UWGHT_MAX * BE_WEIGHT_SCALE.
pub(crate) const SRV_EWGHT_MAX: u32 = SRV_UWGHT_MAX * BE_WEIGHT_SCALE;
/// SRV_EWGHT_RANGE: the stride between servers' ring positions (lb_chash.c).
pub(crate) const SRV_EWGHT_RANGE: u32 = SRV_EWGHT_MAX;

/// The two server groups of every HAProxy LB algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    Active = 0,
    Backup = 1,
}

/// One server: HAProxy keeps a committed ("cur") and a pending ("next")
/// state and weight, and the LB callbacks compare the two to know what
/// changed (backend.h: srv_currently_usable / srv_willbe_usable).
#[derive(Debug, Clone)]
pub(crate) struct Srv {
    pub puid: u32,
    pub backup: bool,
    pub maxconn: u32,
    /// The configured weight (`iweight`): static algorithms accept no other
    /// non-zero weight.
    pub iweight: u32,
    pub uweight: u32,
    pub cur_eweight: u32,
    pub next_eweight: u32,
    pub cur_up: bool,
    pub next_up: bool,
    /// Streams being served (`served`).
    pub served: u32,
    /// Streams waiting in this server's own queue (`queue.length`).
    pub queued: u32,
}

impl Srv {
    pub fn group(&self) -> Group {
        if self.backup {
            Group::Backup
        } else {
            Group::Active
        }
    }

    pub fn currently_usable(&self) -> bool {
        self.cur_up && self.cur_eweight != 0
    }

    pub fn willbe_usable(&self) -> bool {
        self.next_up && self.next_eweight != 0
    }

    /// srv_lb_status_changed.
    pub fn status_changed(&self) -> bool {
        self.cur_up != self.next_up || self.cur_eweight != self.next_eweight
    }

    /// srv_lb_commit_status.
    pub fn commit(&mut self) {
        self.cur_up = self.next_up;
        self.cur_eweight = self.next_eweight;
    }

    /// The "not saturated" test of map_get_server_rr, fwrr, fas, chash's
    /// round robin and random: `!maxconn || (!queue.length && served <
    /// srv_dynamic_maxconn)`. With no minconn/fullconn/slowstart the dynamic
    /// maxconn is maxconn itself.
    pub fn has_room(&self) -> bool {
        self.maxconn == 0 || (self.queued == 0 && self.served < self.maxconn)
    }
}

/// The backend-wide totals (recount_servers + update_backend_weight).
#[derive(Debug, Clone, Default)]
pub(crate) struct Pool {
    pub srv: Vec<Srv>,
    pub allbackups: bool,
    pub srv_act: u32,
    pub srv_bck: u32,
    pub tot_wact: u32,
    pub tot_wbck: u32,
    /// The first usable backup when not `allbackups`: it alone takes the
    /// traffic when no active server is usable.
    pub fbck: Option<usize>,
    pub tot_weight: u32,
    pub tot_used: u32,
}

impl Pool {
    /// recount_servers then update_backend_weight, from the pending states
    /// as HAProxy does (every other server has them committed anyway). The
    /// dynamic algorithms keep these totals by increments; the result is the
    /// same as this recount, in declaration order.
    pub fn recount(&mut self) {
        let (mut act, mut bck, mut wact, mut wbck) = (0u32, 0u32, 0u32, 0u32);
        let mut fbck = None;
        for (i, s) in self.srv.iter().enumerate() {
            if !s.willbe_usable() {
                continue;
            }
            if s.backup {
                if bck == 0 && !self.allbackups {
                    fbck = Some(i);
                }
                bck += 1;
                wbck = wbck.wrapping_add(s.next_eweight);
            } else {
                act += 1;
                wact = wact.wrapping_add(s.next_eweight);
            }
        }
        self.srv_act = act;
        self.srv_bck = bck;
        self.tot_wact = wact;
        self.tot_wbck = wbck;
        self.fbck = fbck;
        if act > 0 {
            self.tot_weight = wact;
            self.tot_used = act;
        } else if let Some(f) = fbck {
            self.tot_weight = self.srv[f].next_eweight;
            self.tot_used = 1;
        } else {
            self.tot_weight = wbck;
            self.tot_used = bck;
        }
    }

    /// Which group the tree-based lookups use, or the single backup to
    /// return directly (the `if (p->srv_act) ... else if (p->lbprm.fbck)`
    /// preamble of every *_get_next_server).
    pub fn target(&self) -> Target {
        if self.srv_act > 0 {
            Target::Group(Group::Active)
        } else if let Some(f) = self.fbck {
            Target::Single(f)
        } else if self.srv_bck > 0 {
            Target::Group(Group::Backup)
        } else {
            Target::Nothing
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Group(Group),
    Single(usize),
    Nothing,
}
