//! `[vrrp]`, `[[vrrp_instance]]` and `[[vrrp_sync_group]]`: keepalived's
//! VRRP keywords, checked the way keepalived would refuse them, with the
//! RFC limits spelled out in the errors.

use super::raw::{RawSyncGroup, RawVrrpGlobal, RawVrrpInstance};
use super::Validator;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::time::Duration;
use toml::Spanned;
use xlb_vrrp::packet::Version;

/// Gratuitous ARP / unsolicited NA after taking over (keepalived's
/// garp_master_* with its defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GarpSettings {
    pub repeat: u32,
    /// Second burst this long after taking over; zero = none.
    pub delay: Duration,
    /// Bursts while master at this period; zero = off.
    pub refresh: Duration,
    pub refresh_repeat: u32,
}

impl Default for GarpSettings {
    fn default() -> Self {
        GarpSettings {
            repeat: 5,
            delay: Duration::from_secs(5),
            refresh: Duration::ZERO,
            refresh_repeat: 1,
        }
    }
}

/// A virtual address and where it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VipDef {
    pub addr: IpAddr,
    pub prefix: u8,
    /// `dev X`; `None`: the instance's interface.
    pub dev: Option<String>,
}

/// `track_interface`: while `interface` is down the instance faults
/// (`weight` 0) or its priority drops by `-weight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackDef {
    pub interface: String,
    pub weight: i32,
}

/// Commands run on a state change (with `/bin/sh -c`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    pub master: Option<String>,
    pub backup: Option<String>,
    pub fault: Option<String>,
    /// Run as `CMD INSTANCE|GROUP name state priority`.
    pub any: Option<String>,
    /// keepalived `smtp_alert`: mail on a state change (xlb logs it).
    pub mail: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrrpInstanceDef {
    pub name: String,
    pub interface: String,
    pub vrid: u8,
    pub priority: u8,
    pub version: Version,
    pub advert_interval: Duration,
    pub preempt: bool,
    pub preempt_delay: Duration,
    /// keepalived `state MASTER`: take over at start without waiting.
    pub start_as_master: bool,
    /// v2 `auth_type PASS`.
    pub auth: Option<[u8; 8]>,
    pub vips: Vec<VipDef>,
    pub unicast_src: Option<IpAddr>,
    pub unicast_peers: Vec<IpAddr>,
    pub track: Vec<TrackDef>,
    pub notify: Notify,
    pub garp: GarpSettings,
}

impl VrrpInstanceDef {
    pub fn is_ipv6(&self) -> bool {
        self.vips.first().is_some_and(|v| v.addr.is_ipv6())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncGroupDef {
    pub name: String,
    pub members: Vec<String>,
    pub notify: Notify,
}

/// Mail settings are accepted for keepalived compatibility; xlb logs what
/// it would have mailed (docs/vrrp.md).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailSettings {
    pub to: Vec<String>,
    pub from: Option<String>,
    pub smtp_server: Option<String>,
    pub smtp_connect_timeout: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VrrpSettings {
    pub router_id: Option<String>,
    pub instances: Vec<VrrpInstanceDef>,
    pub groups: Vec<SyncGroupDef>,
    pub mail: MailSettings,
}

impl VrrpSettings {
    /// Every address some instance holds only while master.
    pub fn vips(&self) -> impl Iterator<Item = IpAddr> + '_ {
        self.instances
            .iter()
            .flat_map(|i| i.vips.iter().map(|v| v.addr))
    }
}

fn notify(
    master: &Option<String>,
    backup: &Option<String>,
    fault: &Option<String>,
    any: &Option<String>,
    mail: bool,
) -> Notify {
    Notify {
        master: master.clone(),
        backup: backup.clone(),
        fault: fault.clone(),
        any: any.clone(),
        mail,
    }
}

impl Validator<'_> {
    pub(super) fn vrrp(
        &mut self,
        global: RawVrrpGlobal,
        instances: Vec<RawVrrpInstance>,
        groups: Vec<RawSyncGroup>,
    ) -> VrrpSettings {
        let default_version = match &global.version {
            None => Version::V2,
            Some(v) => self.vrrp_version(v).unwrap_or(Version::V2),
        };
        let default_garp = self.garp(
            GarpSettings::default(),
            [
                &global.garp_master_repeat,
                &global.garp_master_delay,
                &global.garp_master_refresh,
                &global.garp_master_refresh_repeat,
            ],
        );
        let mut out = VrrpSettings {
            router_id: global.router_id.clone(),
            mail: MailSettings {
                to: global.notification_email.clone(),
                from: global.notification_email_from.clone(),
                smtp_server: global.smtp_server.clone(),
                smtp_connect_timeout: global.smtp_connect_timeout,
            },
            ..Default::default()
        };
        let mut names = HashSet::new();
        let mut vrids: HashMap<(String, u8, bool), String> = HashMap::new();
        let mut owners: HashMap<IpAddr, String> = HashMap::new();
        for raw in &instances {
            let Some(def) = self.vrrp_instance(raw, default_version, default_garp) else {
                continue;
            };
            if !names.insert(def.name.clone()) {
                self.error(
                    &raw.name.span(),
                    format!("vrrp_instance {:?} is defined twice", def.name),
                    Some("give every instance its own name".into()),
                );
            }
            let key = (def.interface.clone(), def.vrid, def.is_ipv6());
            if let Some(other) = vrids.insert(key, def.name.clone()) {
                self.error(
                    &raw.virtual_router_id.span(),
                    format!(
                        "virtual_router_id {} on {} is already used by vrrp_instance {other:?}",
                        def.vrid, def.interface
                    ),
                    Some("a VRID names one virtual router per link and family".into()),
                );
            }
            for v in &def.vips {
                if let Some(other) = owners.insert(v.addr, def.name.clone()) {
                    if other != def.name {
                        self.error(
                            &raw.virtual_ipaddress.span(),
                            format!(
                                "{} is also a virtual address of vrrp_instance {other:?}",
                                v.addr
                            ),
                            Some("an address can move with one instance only".into()),
                        );
                    }
                }
            }
            out.instances.push(def);
        }
        let mut grouped: HashMap<String, String> = HashMap::new();
        for g in &groups {
            let name = g.name.get_ref().clone();
            if g.group.get_ref().is_empty() {
                self.error(
                    &g.group.span(),
                    format!("vrrp_sync_group {name:?} has no instances"),
                    Some("list the instances that change state together, e.g. group = [\"VI_OUT\", \"VI_IN\"]".into()),
                );
            }
            for m in g.group.get_ref() {
                let known = instances.iter().any(|i| i.name.get_ref() == m.get_ref());
                if !known {
                    self.error(
                        &m.span(),
                        format!(
                            "vrrp_sync_group {name:?} names {:?}, which is not a vrrp_instance",
                            m.get_ref()
                        ),
                        Some(
                            "define it with [[vrrp_instance]] name = ..., or correct the name"
                                .into(),
                        ),
                    );
                } else if let Some(other) = grouped.insert(m.get_ref().clone(), name.clone()) {
                    self.error(
                        &m.span(),
                        format!(
                            "vrrp_instance {:?} is already in vrrp_sync_group {other:?}",
                            m.get_ref()
                        ),
                        Some("an instance can belong to one sync group".into()),
                    );
                }
            }
            out.groups.push(SyncGroupDef {
                name,
                members: g
                    .group
                    .get_ref()
                    .iter()
                    .map(|m| m.get_ref().clone())
                    .collect(),
                notify: notify(
                    &g.notify_master,
                    &g.notify_backup,
                    &g.notify_fault,
                    &g.notify,
                    g.smtp_alert,
                ),
            });
        }
        out
    }

    fn vrrp_version(&mut self, v: &Spanned<u32>) -> Option<Version> {
        match v.get_ref() {
            2 => Some(Version::V2),
            3 => Some(Version::V3),
            n => {
                self.error(
                    &v.span(),
                    format!("VRRP version {n} does not exist"),
                    Some("use 2 (RFC 3768, IPv4) or 3 (RFC 5798, IPv4 and IPv6)".into()),
                );
                None
            }
        }
    }

    fn garp(&mut self, base: GarpSettings, raw: [&Option<Spanned<u32>>; 4]) -> GarpSettings {
        let mut g = base;
        let [repeat, delay, refresh, refresh_repeat] = raw;
        if let Some(r) = repeat {
            if !(1..=255).contains(r.get_ref()) {
                self.error(
                    &r.span(),
                    format!("garp_master_repeat = {} is out of range", r.get_ref()),
                    Some("use 1 to 255 announcements".into()),
                );
            }
            g.repeat = *r.get_ref();
        }
        if let Some(d) = delay {
            g.delay = Duration::from_secs(u64::from(*d.get_ref()));
        }
        if let Some(r) = refresh {
            g.refresh = Duration::from_secs(u64::from(*r.get_ref()));
        }
        if let Some(r) = refresh_repeat {
            if !(1..=255).contains(r.get_ref()) {
                self.error(
                    &r.span(),
                    format!(
                        "garp_master_refresh_repeat = {} is out of range",
                        r.get_ref()
                    ),
                    Some("use 1 to 255 announcements".into()),
                );
            }
            g.refresh_repeat = *r.get_ref();
        }
        g
    }

    fn ip_any(&mut self, s: &Spanned<String>, what: &str) -> Option<IpAddr> {
        match s.get_ref().parse::<IpAddr>() {
            Ok(a) if a.is_unspecified() || a.is_multicast() => {
                self.error(
                    &s.span(),
                    format!("{what} {a} cannot be used"),
                    Some("use a unicast address".into()),
                );
                None
            }
            Ok(a) => Some(a),
            Err(_) => {
                self.error(
                    &s.span(),
                    format!("{what} {:?} is not an IP address", s.get_ref()),
                    Some("e.g. \"192.0.2.10\" or \"2001:db8::10\"".into()),
                );
                None
            }
        }
    }

    fn vip(&mut self, s: &Spanned<String>) -> Option<VipDef> {
        // keepalived: "ADDR[/LEN] [dev IFNAME] [label ...]"; we take dev.
        let words: Vec<&str> = s.get_ref().split_whitespace().collect();
        let bad = |v: &mut Self, why: String| {
            v.error(
                &s.span(),
                why,
                Some("write \"ADDRESS[/PREFIX] [dev INTERFACE]\", e.g. \"192.0.2.10/32\" or \"10.0.0.1/24 dev eth1\"".into()),
            );
            None
        };
        let Some(first) = words.first() else {
            return bad(self, "an empty virtual_ipaddress".into());
        };
        let dev = match &words[1..] {
            [] => None,
            ["dev", d] => Some(d.to_string()),
            _ => {
                return bad(
                    self,
                    format!("cannot read virtual_ipaddress {:?}", s.get_ref()),
                )
            }
        };
        let (a, len) = match first.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (*first, None),
        };
        let Ok(addr) = a.parse::<IpAddr>() else {
            return bad(
                self,
                format!("virtual_ipaddress {:?} is not an IP address", a),
            );
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match len.map(str::parse::<u8>) {
            None => max,
            Some(Ok(l)) if l <= max => l,
            Some(_) => {
                return bad(
                    self,
                    format!("prefix length in {:?} must be 0 to {max}", s.get_ref()),
                )
            }
        };
        if addr.is_unspecified() || addr.is_multicast() || addr.is_loopback() {
            return bad(self, format!("{addr} cannot be a virtual address"));
        }
        Some(VipDef { addr, prefix, dev })
    }

    fn vrrp_instance(
        &mut self,
        raw: &RawVrrpInstance,
        default_version: Version,
        default_garp: GarpSettings,
    ) -> Option<VrrpInstanceDef> {
        let name = raw.name.get_ref().clone();
        let errors_before = self.errors.len();
        let ifname = raw.interface.get_ref();
        if ifname.is_empty() || ifname.len() >= 16 {
            self.error(
                &raw.interface.span(),
                format!("{ifname:?} is not a valid interface name"),
                Some("interface names are 1 to 15 characters".into()),
            );
        }
        let vrid = match u8::try_from(*raw.virtual_router_id.get_ref()) {
            Ok(v) if v >= 1 => v,
            _ => {
                self.error(
                    &raw.virtual_router_id.span(),
                    format!(
                        "virtual_router_id {} is out of range",
                        raw.virtual_router_id.get_ref()
                    ),
                    Some("use 1 to 255".into()),
                );
                1
            }
        };
        let priority = match &raw.priority {
            None => 100,
            Some(p) => match u8::try_from(*p.get_ref()) {
                Ok(v) if v >= 1 => v,
                _ => {
                    self.error(&p.span(), format!("priority {} is out of range", p.get_ref()), Some("use 1 to 254, or 255 on the router that owns the addresses (0 is reserved for leaving)".into()));
                    100
                }
            },
        };
        let version = match &raw.version {
            None => default_version,
            Some(v) => self.vrrp_version(v).unwrap_or(default_version),
        };
        let advert_interval = match &raw.advert_int {
            None => Duration::from_secs(1),
            Some(a) => {
                let x = *a.get_ref();
                let ok = match version {
                    Version::V2 => (1.0..=255.0).contains(&x) && x.fract() == 0.0,
                    Version::V3 => (0.01..=40.95).contains(&x),
                };
                if !ok {
                    let help = match version {
                        Version::V2 => {
                            "VRRPv2 carries whole seconds: use 1 to 255 (or version = 3 for less)"
                        }
                        Version::V3 => "VRRPv3 carries centiseconds: use 0.01 to 40.95",
                    };
                    self.error(
                        &a.span(),
                        format!("advert_int = {x} is out of range"),
                        Some(help.into()),
                    );
                    Duration::from_secs(1)
                } else {
                    Duration::from_millis((x * 100.0).round() as u64 * 10)
                }
            }
        };
        let start_as_master = match &raw.state {
            None => false,
            Some(s) => match s.get_ref().to_ascii_uppercase().as_str() {
                "MASTER" => true,
                "BACKUP" => false,
                _ => {
                    self.error(
                        &s.span(),
                        format!("unknown initial state {:?}", s.get_ref()),
                        Some("use \"MASTER\" or \"BACKUP\"".into()),
                    );
                    false
                }
            },
        };
        let auth = match &raw.authentication {
            None => None,
            Some(a) => {
                let kind = a.get_ref().auth_type.get_ref().to_ascii_uppercase();
                if version == Version::V3 {
                    self.error(
                        &a.span(),
                        "VRRPv3 has no authentication (RFC 5798 removed it)".into(),
                        Some("remove authentication, or use version = 2".into()),
                    );
                    None
                } else if kind == "AH" {
                    self.error(
                        &a.get_ref().auth_type.span(),
                        "auth_type AH is not supported".into(),
                        Some("use PASS (and know that it is no security), or none".into()),
                    );
                    None
                } else if kind != "PASS" {
                    self.error(
                        &a.get_ref().auth_type.span(),
                        format!("unknown auth_type {:?}", a.get_ref().auth_type.get_ref()),
                        Some("use \"PASS\"".into()),
                    );
                    None
                } else {
                    let pass = a.get_ref().auth_pass.get_ref();
                    if pass.is_empty() {
                        self.error(
                            &a.get_ref().auth_pass.span(),
                            "auth_pass is empty".into(),
                            Some("give 1 to 8 characters".into()),
                        );
                    } else if pass.len() > 8 {
                        tracing::warn!(instance = %name, "auth_pass is longer than 8 characters; like keepalived, only the first 8 are sent");
                    }
                    Some(xlb_vrrp::packet::password(pass))
                }
            }
        };
        let mut vips = Vec::new();
        for s in raw.virtual_ipaddress.get_ref() {
            vips.extend(self.vip(s));
        }
        if raw.virtual_ipaddress.get_ref().is_empty() {
            self.error(&raw.virtual_ipaddress.span(), format!("vrrp_instance {name:?} has no virtual_ipaddress"), Some("list the addresses the master holds, e.g. virtual_ipaddress = [\"192.0.2.10/32\"]".into()));
        }
        let v6 = vips.first().is_some_and(|v| v.addr.is_ipv6());
        if vips.iter().any(|v| v.addr.is_ipv6() != v6) {
            self.error(&raw.virtual_ipaddress.span(), "virtual_ipaddress mixes IPv4 and IPv6".into(), Some("VRRP runs one family per instance: make a second instance for the other family".into()));
        }
        if v6 && version == Version::V2 {
            self.error(
                &raw.virtual_ipaddress.span(),
                "IPv6 virtual addresses need VRRP version 3".into(),
                Some("set version = 3 for this instance".into()),
            );
        }
        let unicast_src = raw
            .unicast_src_ip
            .as_ref()
            .and_then(|s| self.ip_any(s, "unicast_src_ip"));
        let mut unicast_peers = Vec::new();
        for p in &raw.unicast_peer {
            if let Some(a) = self.ip_any(p, "unicast_peer") {
                if a.is_ipv6() != v6 {
                    self.error(
                        &p.span(),
                        format!("unicast_peer {a} is not of the instance's address family"),
                        None,
                    );
                }
                unicast_peers.push(a);
            }
        }
        let mut track = Vec::new();
        for t in &raw.track_interface {
            let words: Vec<&str> = t.get_ref().split_whitespace().collect();
            match words[..] {
                [i] => track.push(TrackDef {
                    interface: i.into(),
                    weight: 0,
                }),
                [i, "weight", w] => match w.parse::<i32>() {
                    Ok(w) if (-253..=253).contains(&w) => track.push(TrackDef {
                        interface: i.into(),
                        weight: w,
                    }),
                    _ => self.error(
                        &t.span(),
                        format!("track_interface weight {w:?} is out of range"),
                        Some("use -253 to 253; 0 (or no weight) faults the instance".into()),
                    ),
                },
                _ => self.error(
                    &t.span(),
                    format!("cannot read track_interface {:?}", t.get_ref()),
                    Some("write \"eth1\" or \"eth1 weight -20\"".into()),
                ),
            }
        }
        let garp = self.garp(
            default_garp,
            [
                &raw.garp_master_repeat,
                &raw.garp_master_delay,
                &raw.garp_master_refresh,
                &raw.garp_master_refresh_repeat,
            ],
        );
        if self.errors.len() > errors_before {
            return None;
        }
        Some(VrrpInstanceDef {
            name,
            interface: ifname.clone(),
            vrid,
            priority,
            version,
            advert_interval,
            preempt: !raw.nopreempt,
            preempt_delay: Duration::from_secs(
                raw.preempt_delay
                    .as_ref()
                    .map_or(0, |d| u64::from(*d.get_ref())),
            ),
            start_as_master,
            auth,
            vips,
            unicast_src,
            unicast_peers,
            track,
            notify: notify(
                &raw.notify_master,
                &raw.notify_backup,
                &raw.notify_fault,
                &raw.notify,
                raw.smtp_alert,
            ),
            garp,
        })
    }
}
