//! `[announce]`: route announcement for active/active directors behind an
//! ECMP router. xlbd speaks no BGP itself: it runs BIRD 2 as its child and
//! tells it which VIPs to announce (docs/scale-out.md,
//! docs/design/route-announcement.md).

use super::Validator;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use toml::Spanned;

/// Where Debian's bird2 package puts the daemon.
pub const DEFAULT_BIRD: &str = "/usr/sbin/bird";
pub const DEFAULT_ROUTES: &str = "/run/xlb/bird-vips.conf";
pub const DEFAULT_CONTROL_SOCKET: &str = "/run/xlb/bird.ctl";

#[derive(Debug, Default, Deserialize)]
pub struct RawAnnounce {
    pub speaker: Option<Spanned<String>>,
    pub bird: Option<Spanned<String>>,
    pub config: Option<Spanned<String>>,
    pub routes: Option<Spanned<String>>,
    pub control_socket: Option<Spanned<String>>,
    pub vips: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    pub drain: bool,
}

/// The checked `[announce]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceSettings {
    /// The BIRD daemon xlbd runs (`bird -f`).
    pub bird: PathBuf,
    /// The operator's BIRD configuration: peers, hold time, filters; it
    /// includes `routes`.
    pub config: PathBuf,
    /// The file xlbd writes: the protocols `xlb_vips4` and `xlb_vips6`
    /// holding the VIPs announced now.
    pub routes: PathBuf,
    /// BIRD's control socket (`bird -s`), which xlbd asks to reconfigure.
    pub control_socket: PathBuf,
    /// The VIPs announced when they can be served; `None`: every VIP of
    /// every service.
    pub vips: Option<BTreeSet<IpAddr>>,
    /// Announce nothing, forward all the same (a director on its way out).
    pub drain: bool,
}

impl AnnounceSettings {
    /// Whether a change from `self` to `other` needs BIRD restarted (the
    /// VIPs and `drain` follow a reload without one).
    pub fn speaker_differs(&self, other: &AnnounceSettings) -> bool {
        (&self.bird, &self.config, &self.routes, &self.control_socket)
            != (
                &other.bird,
                &other.config,
                &other.routes,
                &other.control_socket,
            )
    }
}

impl Validator<'_> {
    /// `vips_served`: every address some service or firewall-mark rule has;
    /// `vrrp`: the addresses VRRP instances hold.
    pub(super) fn announce(
        &mut self,
        raw: Option<RawAnnounce>,
        vips_served: &BTreeSet<IpAddr>,
        vrrp: &BTreeSet<IpAddr>,
    ) -> Option<AnnounceSettings> {
        let raw = raw?;
        let header = super::key_span(self.text, "announce").unwrap_or(0..0);
        let mut ok = true;
        if let Some(s) = &raw.speaker {
            if s.get_ref() != "bird" {
                self.error(
                    &s.span(),
                    format!("announce speaker {:?} is not supported", s.get_ref()),
                    Some(
                        "use speaker = \"bird\" (BIRD 2, run by xlbd so that its routes die \
                         with it; docs/design/route-announcement.md says why not ExaBGP or GoBGP)"
                            .into(),
                    ),
                );
                ok = false;
            }
        }
        let mut path =
            |v: &Option<Spanned<String>>, key: &str, default: Option<&str>| match (v, default) {
                (Some(p), _) if p.get_ref().is_empty() || !p.get_ref().starts_with('/') => {
                    self.error(
                        &p.span(),
                        format!("announce {key} {:?} is not an absolute path", p.get_ref()),
                        Some(format!(
                            "write the whole path, e.g. {key} = \"{}\"",
                            default.unwrap_or("/etc/xlb/bird.conf")
                        )),
                    );
                    ok = false;
                    None
                }
                (Some(p), _) => Some(PathBuf::from(p.get_ref())),
                (None, Some(d)) => Some(PathBuf::from(d)),
                (None, None) => {
                    self.error(
                        &header,
                        format!("[announce] names no BIRD {key}"),
                        Some(
                            "add config = \"/etc/xlb/bird.conf\": BIRD's own configuration \
                             (router id, the BGP peers, hold time), which must \
                             `include` the routes file xlbd writes (docs/scale-out.md)"
                                .into(),
                        ),
                    );
                    ok = false;
                    None
                }
            };
        let bird = path(&raw.bird, "bird", Some(DEFAULT_BIRD));
        let config = path(&raw.config, "config", None);
        let routes = path(&raw.routes, "routes", Some(DEFAULT_ROUTES));
        let control_socket = path(
            &raw.control_socket,
            "control_socket",
            Some(DEFAULT_CONTROL_SOCKET),
        );
        if let (Some(r), Some(c)) = (&routes, &config) {
            if r == c {
                let span = raw.routes.as_ref().map_or(header.clone(), |r| r.span());
                self.error(
                    &span,
                    "announce routes is BIRD's configuration file itself".into(),
                    Some(
                        "xlbd overwrites the routes file: give it a file of its own, \
                         which the configuration includes"
                            .into(),
                    ),
                );
                ok = false;
            }
        }
        let vips = match &raw.vips {
            None => None,
            Some(list) => {
                if list.get_ref().is_empty() {
                    self.error(
                        &list.span(),
                        "announce vips is empty: nothing would ever be announced".into(),
                        Some(
                            "list VIPs, or leave vips out to announce every service's VIP; \
                             to announce nothing for a while, use drain = true"
                                .into(),
                        ),
                    );
                    ok = false;
                }
                let mut set = BTreeSet::new();
                for v in list.get_ref() {
                    match v.get_ref().parse::<IpAddr>() {
                        Err(_) => {
                            self.error(
                                &v.span(),
                                format!("announce vip {:?} is not an IP address", v.get_ref()),
                                Some("write a service's VIP, e.g. \"192.0.2.10\"".into()),
                            );
                            ok = false;
                        }
                        Ok(a) if !vips_served.contains(&a) => {
                            let known: Vec<String> =
                                vips_served.iter().map(|a| a.to_string()).collect();
                            self.error(
                                &v.span(),
                                format!("announce vip {a} is the address of no virtual server"),
                                Some(if known.is_empty() {
                                    "define a [[virtual_server]] with this address first".into()
                                } else {
                                    format!(
                                        "announce only VIPs this director serves: {}",
                                        known.join(", ")
                                    )
                                }),
                            );
                            ok = false;
                        }
                        Ok(a) if !set.insert(a) => {
                            self.error(
                                &v.span(),
                                format!("announce vip {a} is listed twice"),
                                Some("list each VIP once".into()),
                            );
                            ok = false;
                        }
                        Ok(_) => {}
                    }
                }
                Some(set)
            }
        };
        // A VIP is either moved by VRRP (one director holds it) or
        // announced (every director holds it): both would forward it from
        // the backup too, against what VRRP decided.
        let announced: Vec<IpAddr> = match &vips {
            Some(v) => v.iter().copied().collect(),
            None => vips_served.iter().copied().collect(),
        };
        for a in announced.iter().filter(|a| vrrp.contains(a)) {
            let span = raw.vips.as_ref().map_or(header.clone(), |l| {
                l.get_ref()
                    .iter()
                    .find(|v| v.get_ref().parse::<IpAddr>().ok() == Some(*a))
                    .map_or(l.span(), |v| v.span())
            });
            self.error(
                &span,
                format!("VIP {a} would be announced and is also a VRRP virtual address"),
                Some(
                    "a VIP is held by one director (VRRP) or announced by all (BGP), not both: \
                     list the announced VIPs in [announce] vips without it, or drop it from \
                     the VRRP instance"
                        .into(),
                ),
            );
            ok = false;
        }
        if !ok {
            return None;
        }
        Some(AnnounceSettings {
            bird: bird?,
            config: config?,
            routes: routes?,
            control_socket: control_socket?,
            vips,
            drain: raw.drain,
        })
    }
}
