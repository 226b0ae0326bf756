//! `[[virtual_server]]`: the service's key, how it forwards and schedules,
//! its real servers and sorry server, persistence, quorum and the FTP
//! helper, each checked by a function of its own.

use super::raw::{RawRealServer, RawVirtualServer};
use super::{Quorum, RealServerDef, ServiceDef, Validator};
use crate::addr::endpoint;
use crate::keys::ServiceKey;
use crate::proto::Protocol;
use crate::sched::SchedulerKind;
use crate::service::{Forwarding, Persistence, SynProxy};
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::Range;

impl Validator<'_> {
    pub(super) fn service(
        &mut self,
        vs: RawVirtualServer,
        seen: &mut HashSet<ServiceKey>,
    ) -> Option<ServiceDef> {
        let anchor = vs
            .address
            .as_ref()
            .map(|a| a.span())
            .or(vs.fwmark.as_ref().map(|m| m.span()))
            .unwrap_or(0..0);
        let key = self.service_key(&vs, &anchor);
        let scheduler = match vs.scheduler.get_ref().parse::<SchedulerKind>() {
            Ok(s) => Some(s),
            Err(e) => {
                self.error(
                    &vs.scheduler.span(),
                    e.to_string(),
                    Some("pick one of the known schedulers".into()),
                );
                None
            }
        };
        let forwarding = self.forwarding(&vs);
        let key = key?;
        if !seen.insert(key) {
            let what = match key {
                ServiceKey::Endpoint { addr, port, .. } => {
                    format!("{} {}", endpoint(addr, port), vs.protocol.get_ref())
                }
                ServiceKey::Mark(m) => format!("fwmark {m}"),
            };
            self.error(
                &anchor,
                format!("virtual server {what} is defined twice"),
                Some("merge the two definitions".into()),
            );
        }
        // A firewall-mark service's servers default to port 0: they keep
        // the port the client asked for.
        let port = key.address().map_or(0, |(_, p, _)| p);
        let v6 = self.family(key);
        if let (Some(true), Some(Forwarding::Tun)) = (v6, forwarding) {
            self.error(
                &vs.forwarding.span(),
                "forwarding = \"tun\" wraps IPv4 in IPv4; this virtual server is IPv6".into(),
                Some("use forwarding = \"nat\" or \"dr\" for an IPv6 service".into()),
            );
        }
        let reals = self.real_servers(&vs, port, forwarding, v6);
        let sorry = self.sorry_server(&vs, port, forwarding, v6);
        let persistence = self.persistence(&vs, v6 == Some(true));
        let quorum = self.quorum(&vs);
        let ftp = self.ftp(&vs, key, forwarding, v6 == Some(true));
        let syn_proxy = self.syn_proxy(&vs, key, forwarding, ftp, v6 == Some(true));
        let max_conn_rate = match &vs.max_conn_rate {
            Some(r) if *r.get_ref() == 0 => {
                self.error(
                    &r.span(),
                    "max_conn_rate = 0 would refuse every connection".into(),
                    Some("leave it out for no limit, or set weight 0 on every real server to drain the service".into()),
                );
                0
            }
            Some(r) => *r.get_ref(),
            None => 0,
        };
        let max_conns_per_client = match &vs.max_conns_per_client {
            Some(r) if *r.get_ref() == 0 => {
                self.error(
                    &r.span(),
                    "max_conns_per_client = 0 would refuse every connection".into(),
                    Some("leave it out for no limit".into()),
                );
                0
            }
            Some(r) => *r.get_ref(),
            None => 0,
        };
        let sloppy_tcp = match (&vs.sloppy_tcp, scheduler, forwarding) {
            (Some(v), _, _) => *v.get_ref(),
            (None, Some(s), Some(f)) => sloppy_by_default(s, f),
            _ => false,
        };
        Some(ServiceDef {
            ftp,
            sloppy_tcp,
            syn_proxy,
            max_conn_rate,
            max_conns_per_client,
            name: vs.name.unwrap_or_else(|| match key {
                ServiceKey::Mark(m) => format!("fwmark {m}"),
                ServiceKey::Endpoint { addr, port, .. } => endpoint(addr, port),
            }),
            key,
            scheduler: scheduler?,
            forwarding: forwarding?,
            reals,
            sorry,
            quorum,
            persistence,
            slow_start: vs.slow_start.as_ref().map_or(0, |v| *v.get_ref()),
        })
    }

    /// Whether the service is IPv6: its VIP's family, or the family of the
    /// addresses its firewall-mark rule covers (one family per mark, which
    /// `mark_rule` checks). None for a mark no rule gives.
    fn family(&self, key: ServiceKey) -> Option<bool> {
        match key {
            ServiceKey::Endpoint { addr, .. } => Some(addr.is_ipv6()),
            ServiceKey::Mark(m) => self
                .marked
                .iter()
                .find(|(_, &mark)| mark == m)
                .map(|((a, _, _), _)| a.is_ipv6()),
        }
    }

    /// A server of another family than its service: NAT and DR keep the
    /// packet's family, so the server could never be reached.
    fn same_family(
        &mut self,
        a: IpAddr,
        v6: Option<bool>,
        span: &Range<usize>,
        what: &str,
    ) -> bool {
        match v6 {
            Some(v6) if a.is_ipv6() != v6 => {
                let (this, that) = if v6 {
                    ("IPv6", "IPv4")
                } else {
                    ("IPv4", "IPv6")
                };
                self.error(
                    span,
                    format!("{what} {a} is {that}, its virtual server {this}"),
                    Some(format!(
                        "give an {this} virtual server {this} servers (a second virtual \
                         server can serve the {that} address)"
                    )),
                );
                false
            }
            _ => true,
        }
    }

    /// VIP, port and protocol, or a firewall mark some rule gives.
    fn service_key(&mut self, vs: &RawVirtualServer, anchor: &Range<usize>) -> Option<ServiceKey> {
        match (&vs.fwmark, &vs.address, &vs.port) {
            (Some(m), None, None) => {
                let mark = *m.get_ref();
                if !self.marked.values().any(|&x| x == mark) {
                    self.error(
                        &m.span(),
                        format!("no [[firewall_mark]] rule gives mark {mark}"),
                        Some(format!(
                            "add [[firewall_mark]] with mark = {mark}, addresses and ports"
                        )),
                    );
                }
                Some(ServiceKey::Mark(mark))
            }
            (Some(m), _, _) => {
                self.error(
                    &m.span(),
                    "a fwmark virtual server has no address or port".into(),
                    Some(
                        "its [[firewall_mark]] rule lists the addresses and ports; \
                         remove address/port here"
                            .into(),
                    ),
                );
                None
            }
            (None, Some(a), Some(p)) => {
                let protocol = self.protocol(&vs.protocol);
                let addr = self.address(a, "virtual server address");
                let port = self.port(p, "virtual server port");
                let (addr, port, protocol) = (addr?, port?, protocol?);
                if let Some(m) = self.marked.get(&(addr, protocol, port)) {
                    self.error(
                        anchor,
                        format!(
                            "{} is both this virtual server and firewall_mark {m}",
                            endpoint(addr, port)
                        ),
                        Some("a port belongs to one service: remove it from one of them".into()),
                    );
                }
                Some(ServiceKey::endpoint(addr, port, protocol))
            }
            (None, _, _) => {
                self.error(
                    anchor,
                    "a virtual server needs address and port, or fwmark".into(),
                    Some("e.g. address = \"192.0.2.10\" and port = 80".into()),
                );
                None
            }
        }
    }

    fn forwarding(&mut self, vs: &RawVirtualServer) -> Option<Forwarding> {
        match vs.forwarding.get_ref().to_ascii_lowercase().as_str() {
            "nat" | "masq" => Some(Forwarding::Nat),
            "dr" | "direct" | "route" => Some(Forwarding::Dr),
            "tun" | "tunnel" | "ipip" => Some(Forwarding::Tun),
            other => {
                self.error(
                    &vs.forwarding.span(),
                    format!("unknown forwarding {other:?}"),
                    Some("use \"nat\", \"dr\" or \"tun\"".into()),
                );
                None
            }
        }
    }

    /// The real servers; `port` is the service's (their default).
    fn real_servers(
        &mut self,
        vs: &RawVirtualServer,
        port: u16,
        forwarding: Option<Forwarding>,
        v6: Option<bool>,
    ) -> Vec<RealServerDef> {
        let mut reals = Vec::new();
        let mut seen = HashSet::new();
        for r in &vs.real_server {
            let Some(def) = self.real_server(vs, r, port, forwarding, v6) else {
                continue;
            };
            if !seen.insert((def.address, def.port)) {
                self.error(
                    &r.address.span(),
                    format!(
                        "real server {} is listed twice in this virtual server",
                        endpoint(def.address, def.port)
                    ),
                    Some("remove one".into()),
                );
                continue;
            }
            reals.push(def);
        }
        reals
    }

    fn real_server(
        &mut self,
        vs: &RawVirtualServer,
        r: &RawRealServer,
        port: u16,
        forwarding: Option<Forwarding>,
        v6: Option<bool>,
    ) -> Option<RealServerDef> {
        let a = self
            .address(&r.address, "real server address")
            .filter(|&a| self.same_family(a, v6, &r.address.span(), "real server"));
        let p = match &r.port {
            Some(p) => self.port(p, "real server port"),
            None => Some(port),
        };
        let w = match u32::try_from(*r.weight.get_ref()) {
            Ok(w) if w <= 65535 => Some(w),
            _ => {
                self.error(
                    &r.weight.span(),
                    format!("weight {} is out of range", r.weight.get_ref()),
                    Some("use 0 (quiesced) to 65535".into()),
                );
                None
            }
        };
        if let (Some(f), Some(p)) = (forwarding, p) {
            if f.replies_bypass() && p != port {
                let span = r
                    .port
                    .as_ref()
                    .map(|p| p.span())
                    .unwrap_or(r.address.span());
                self.error(
                    &span,
                    format!(
                        "real server port {p} differs from the virtual server port {port}, \
                         which {} cannot do",
                        f.label_upper()
                    ),
                    Some(format!(
                        "{} leaves the packet's ports alone: use port = {port}, \
                         or forwarding = \"nat\"",
                        f.label_upper()
                    )),
                );
            }
        }
        let check = match (r.check.as_ref().or(vs.check.as_ref()), a, p) {
            (Some(c), Some(a), Some(p)) => self.health_check(c, a, p),
            _ => None,
        };
        let (u_threshold, l_threshold) = self.thresholds(r);
        Some(RealServerDef {
            address: a?,
            port: p?,
            weight: w?,
            u_threshold,
            l_threshold,
            check,
            notify_up: r.notify_up.clone(),
            notify_down: r.notify_down.clone(),
        })
    }

    /// uthreshold and lthreshold: a lower threshold needs an upper one above it.
    fn thresholds(&mut self, r: &RawRealServer) -> (u32, u32) {
        let u = r.uthreshold.as_ref().map_or(0, |v| *v.get_ref());
        let Some(l) = &r.lthreshold else {
            return (u, 0);
        };
        if *l.get_ref() >= u {
            self.error(
                &l.span(),
                if u == 0 {
                    format!("lthreshold {} without a uthreshold", l.get_ref())
                } else {
                    format!("lthreshold {} is not below uthreshold {u}", l.get_ref())
                },
                Some(
                    "the server stops taking connections at uthreshold and starts again \
                     below lthreshold: set uthreshold above it"
                        .into(),
                ),
            );
            return (u, 0);
        }
        (u, *l.get_ref())
    }

    /// keepalived's sorry_server "ADDRESS[:PORT]".
    fn sorry_server(
        &mut self,
        vs: &RawVirtualServer,
        port: u16,
        forwarding: Option<Forwarding>,
        v6: Option<bool>,
    ) -> Option<(IpAddr, u16)> {
        let v = vs.sorry_server.as_ref()?;
        let text = v.get_ref();
        let (a, p) = match text.parse::<std::net::SocketAddr>() {
            Ok(sa) => (Ok(sa.ip()), Some(sa.port()).filter(|&p| p > 0)),
            Err(_) => match text.rsplit_once(':') {
                Some((a, p)) if !a.contains(':') => (
                    a.parse::<IpAddr>(),
                    p.parse::<u16>().ok().filter(|&p| p > 0),
                ),
                _ => (text.parse::<IpAddr>(), Some(port)),
            },
        };
        let (Ok(a), Some(p)) = (a, p) else {
            self.error(
                &v.span(),
                format!("sorry_server {text:?} is not ADDRESS or ADDRESS:PORT"),
                Some("e.g. sorry_server = \"192.0.2.99:8080\"".into()),
            );
            return None;
        };
        let a = self.usable_address(a, &v.span(), "sorry_server")?;
        if !self.same_family(a, v6, &v.span(), "sorry_server") {
            return None;
        }
        if let Some(f) = forwarding.filter(|f| f.replies_bypass() && p != port) {
            self.error(
                &v.span(),
                format!(
                    "sorry_server port {p} differs from the virtual server port {port}, \
                     which {} cannot do",
                    f.label_upper()
                ),
                Some(format!("use port {port}")),
            );
            return None;
        }
        Some((a, p))
    }

    /// persistence_timeout and _granularity (a prefix length or netmask;
    /// IPv6: a prefix length, 128 by default, as IPVS's).
    fn persistence(&mut self, vs: &RawVirtualServer, v6: bool) -> Option<Persistence> {
        let bits = if v6 { 128 } else { 32 };
        let prefix = match &vs.persistence_granularity {
            None => Some(bits as u8),
            Some(v) => match v.get_ref() {
                toml::Value::Integer(n) if (0..=bits).contains(n) => Some(*n as u8),
                toml::Value::String(m) if !v6 => match m.parse::<Ipv4Addr>().map(u32::from) {
                    Ok(bits) if bits.leading_ones() + bits.trailing_zeros() == 32 => {
                        Some(bits.leading_ones() as u8)
                    }
                    _ => None,
                },
                _ => None,
            }
            .or_else(|| {
                self.error(
                    &v.span(),
                    format!("persistence_granularity {} is not a netmask", v.get_ref()),
                    Some(if v6 {
                        "use a prefix length from 0 to 128 (64 keeps a client's /64)".into()
                    } else {
                        "use a prefix length (24) or a netmask (\"255.255.255.0\")".into()
                    }),
                );
                None
            }),
        };
        match (&vs.persistence_timeout, prefix) {
            (Some(t), Some(prefix)) if *t.get_ref() > 0 => Some(Persistence {
                timeout: *t.get_ref(),
                prefix,
            }),
            (None, _) if vs.persistence_granularity.is_some() => {
                let span = vs
                    .persistence_granularity
                    .as_ref()
                    .map(|g| g.span())
                    .unwrap_or(0..0);
                self.error(
                    &span,
                    "persistence_granularity without persistence_timeout".into(),
                    Some("set persistence_timeout (seconds), or remove the granularity".into()),
                );
                None
            }
            _ => None,
        }
    }

    fn quorum(&mut self, vs: &RawVirtualServer) -> Quorum {
        let quorum = Quorum {
            min: vs.quorum.as_ref().map_or(1, |q| *q.get_ref()),
            hysteresis: vs.hysteresis.as_ref().map_or(0, |h| *h.get_ref()),
            up: vs.quorum_up.clone(),
            down: vs.quorum_down.clone(),
        };
        if let Some(h) = &vs.hysteresis {
            if *h.get_ref() >= quorum.min.max(1) {
                self.error(
                    &h.span(),
                    format!(
                        "hysteresis {} is not below quorum {}",
                        h.get_ref(),
                        quorum.min
                    ),
                    Some("hysteresis must be smaller than quorum".into()),
                );
            }
        }
        quorum
    }

    /// The SYN proxy: asked for ("on") where it cannot work is an error;
    /// "auto" there quietly means off.
    fn syn_proxy(
        &mut self,
        vs: &RawVirtualServer,
        key: ServiceKey,
        forwarding: Option<Forwarding>,
        ftp: bool,
        v6: bool,
    ) -> SynProxy {
        let mode = match &vs.syn_proxy {
            None => SynProxy::Auto,
            Some(v) => match SynProxy::parse(v.get_ref()) {
                Some(m) => m,
                None => {
                    self.error(
                        &v.span(),
                        format!("syn_proxy = {:?} is not a SYN proxy mode", v.get_ref()),
                        Some(format!("use one of {}", SynProxy::NAMES.join(", "))),
                    );
                    return SynProxy::Off;
                }
            },
        };
        let why_not = if forwarding != Some(Forwarding::Nat) {
            Some("needs forwarding = \"nat\": in DR and TUN the server's replies bypass the director, which cannot splice the two handshakes")
        } else if key.protocol() == Some(Protocol::Udp) {
            Some("is for TCP services")
        } else if ftp {
            Some("and the FTP helper cannot share a connection yet")
        } else if v6 {
            Some("is for IPv4 services yet (its cookies and handshakes are IPv4's)")
        } else {
            None
        };
        match (mode, why_not) {
            (SynProxy::On, Some(why)) => {
                let span = vs.syn_proxy.as_ref().map_or(0..0, |v| v.span());
                self.error(
                    &span,
                    format!("syn_proxy = \"on\" {why}"),
                    Some("remove syn_proxy (DR services: see docs/security.md)".into()),
                );
                SynProxy::Off
            }
            (_, Some(_)) => SynProxy::Off,
            (m, None) => m,
        }
    }

    /// The NAT FTP helper, only on a TCP control service by address.
    fn ftp(
        &mut self,
        vs: &RawVirtualServer,
        key: ServiceKey,
        forwarding: Option<Forwarding>,
        v6: bool,
    ) -> bool {
        let Some(f) = vs.ftp.as_ref().filter(|f| *f.get_ref()) else {
            return false;
        };
        if v6 {
            self.error(
                &f.span(),
                "ftp = true on an IPv6 service: the FTP helper follows IPv4's PORT and PASV, \
                 not EPRT and EPSV"
                    .into(),
                Some(
                    "leave ftp out; IPv6 FTP clients use EPSV, whose data port a \
                     [[firewall_mark]] service with persistence can carry (docs/ftp.md)"
                        .into(),
                ),
            );
            return false;
        }
        if forwarding != Some(Forwarding::Nat) {
            self.error(
                &f.span(),
                "ftp = true needs forwarding = \"nat\": in DR and TUN the director never sees \
                 the server's replies"
                    .into(),
                Some(
                    "for DR, group port 21 and the passive ports in a [[firewall_mark]] \
                     service with persistence_timeout (docs/ftp.md)"
                        .into(),
                ),
            );
        }
        if key.protocol() != Some(Protocol::Tcp) {
            self.error(
                &f.span(),
                "ftp = true needs a TCP service by address and port (the control port, \
                 usually 21)"
                    .into(),
                Some("set address, port = 21 and protocol = \"tcp\"".into()),
            );
        }
        true
    }
}

/// Where every director picks the same server for a flow from the flow
/// alone (a hash of the client with no secret, over the same server list),
/// and the server answers the client directly, a director that never saw
/// the SYN can carry the connection: active/active behind ECMP.
pub fn sloppy_by_default(s: SchedulerKind, f: Forwarding) -> bool {
    matches!(s, SchedulerKind::Mh | SchedulerKind::Sh) && f != Forwarding::Nat
}
