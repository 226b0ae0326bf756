//! `[sync]`: connection synchronisation between the directors of a pair
//! (keepalived's `lvs_sync_daemon`), in the LVS sync protocol version 1.

use super::Validator;
use serde::Deserialize;
use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;
use toml::Spanned;

/// The kernel's defaults (net/netfilter/ipvs/ip_vs_sync.c).
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
pub const DEFAULT_PORT: u16 = 8848;
pub const DEFAULT_TTL: u8 = 1;

#[derive(Debug, Default, Deserialize)]
pub struct RawSync {
    pub interface: Option<Spanned<String>>,
    pub sync_id: Option<Spanned<i64>>,
    pub group: Option<Spanned<String>>,
    #[serde(default)]
    pub peers: Vec<Spanned<String>>,
    pub port: Option<Spanned<i64>>,
    pub ttl: Option<Spanned<i64>>,
    /// Largest datagram payload (keepalived's `maxlen`); default: the
    /// interface's MTU.
    pub maxlen: Option<Spanned<i64>>,
}

/// Where updates go and come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncPeers {
    /// A multicast group, both ways (the kernel's way).
    Group(IpAddr),
    /// Unicast to each of these, accepted only from them.
    Unicast(Vec<IpAddr>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncSettings {
    /// The interface updates leave and arrive on (accepted on no other).
    pub interface: String,
    /// The pair's id (0-255); datagrams with another are ignored.
    pub sync_id: u8,
    pub peers: SyncPeers,
    pub port: u16,
    pub ttl: u8,
    pub maxlen: Option<u32>,
}

impl Validator<'_> {
    pub(super) fn sync(&mut self, raw: Option<RawSync>) -> Option<SyncSettings> {
        let raw = raw?;
        // Every key is checked, so one run names every mistake in the table.
        let mut ok = true;
        let interface = match raw.interface {
            None => {
                // A table has no span of its own: its header's key has one.
                let header = super::key_span(self.text, "sync").unwrap_or(0..0);
                self.error(
                    &header,
                    "[sync] names no interface".into(),
                    Some(
                        "add interface = \"eth1\": the NIC the two directors share for sync \
                         (keepalived's lvs_sync_daemon INTERFACE)"
                            .into(),
                    ),
                );
                None
            }
            // IFNAMSIZ, as for [daemon] interfaces and VRRP's.
            Some(i) if i.get_ref().is_empty() || i.get_ref().len() >= 16 => {
                self.error(
                    &i.span(),
                    format!(
                        "sync interface {:?} is not a valid interface name",
                        i.get_ref()
                    ),
                    Some("interface names are 1 to 15 characters".into()),
                );
                None
            }
            Some(i) => Some(i.into_inner()),
        };
        let sync_id = self
            .sync_number(
                &raw.sync_id,
                "sync_id",
                0..=255,
                "use 0 to 255, the same on both directors (IPVS's syncid; \
                 with 0 a director also accepts updates of any other id)",
                &mut ok,
            )
            .map_or(0, |v| v as u8);
        let port = self
            .sync_number(
                &raw.port,
                "sync port",
                1..=65_535,
                "use 1 to 65535, the same on both directors; the default is 8848, the kernel's",
                &mut ok,
            )
            .map_or(DEFAULT_PORT, |v| v as u16);
        let ttl = self
            .sync_number(
                &raw.ttl,
                "sync ttl",
                1..=255,
                "use 1 to 255; 1, the default, keeps updates on the directors' own segment",
                &mut ok,
            )
            .map_or(DEFAULT_TTL, |v| v as u8);
        let maxlen = self
            .sync_number(
                &raw.maxlen,
                "sync maxlen",
                500..=65_507,
                "use 500 to 65507 bytes of UDP payload, or leave maxlen out to fill \
                 datagrams up to the interface's MTU",
                &mut ok,
            )
            .map(|v| v as u32);

        let mut addrs: Vec<IpAddr> = Vec::new();
        for p in &raw.peers {
            let problem = match p.get_ref().parse::<IpAddr>() {
                Err(_) => Some((
                    format!("sync peer {:?} is not an IP address", p.get_ref()),
                    "write the other director's address on the sync interface, e.g. \"10.0.0.2\""
                        .to_string(),
                )),
                Ok(a) if a.is_multicast() => Some((
                    format!("sync peer {a} is a multicast address"),
                    format!(
                        "peers are the other directors' unicast addresses; to use a multicast \
                         group write group = \"{a}\" and no peers"
                    ),
                )),
                Ok(a) if a.is_unspecified() || a == IpAddr::V4(Ipv4Addr::BROADCAST) => Some((
                    format!("sync peer {a} cannot be used"),
                    "write the other director's unicast address on the sync interface".into(),
                )),
                Ok(a) if addrs.contains(&a) => Some((
                    format!("sync peer {a} is listed twice"),
                    "list each peer once".into(),
                )),
                // One socket carries the sync: its family is the first peer's.
                Ok(a) if addrs.first().is_some_and(|f| f.is_ipv4() != a.is_ipv4()) => Some((
                    format!(
                        "sync peer {a} is {} but the first peer, {}, is not",
                        if a.is_ipv4() { "IPv4" } else { "IPv6" },
                        addrs[0]
                    ),
                    "list peers of one family: all IPv4 or all IPv6".into(),
                )),
                Ok(a) => {
                    addrs.push(a);
                    None
                }
            };
            if let Some((what, help)) = problem {
                self.error(&p.span(), what, Some(help));
                ok = false;
            }
        }

        let peers = match (&raw.group, raw.peers.is_empty()) {
            (Some(g), false) => {
                self.error(
                    &g.span(),
                    "[sync] has both a group and peers".into(),
                    Some(
                        "updates go to a multicast group or to unicast peers: keep one of the two"
                            .into(),
                    ),
                );
                None
            }
            (Some(g), true) => match g.get_ref().parse::<IpAddr>() {
                Ok(a) if a.is_multicast() => Some(SyncPeers::Group(a)),
                parsed => {
                    let what = match parsed {
                        Ok(a) => format!("sync group {a} is not a multicast address"),
                        Err(_) => format!("sync group {:?} is not an IP address", g.get_ref()),
                    };
                    self.error(
                        &g.span(),
                        what,
                        Some(format!(
                            "a group is a multicast address ({DEFAULT_GROUP}, the kernel's, \
                             when group is left out); to send to the other director's own \
                             address, write peers = [\"ADDRESS\"] instead of group"
                        )),
                    );
                    None
                }
            },
            (None, true) => Some(SyncPeers::Group(IpAddr::V4(DEFAULT_GROUP))),
            (None, false) => Some(SyncPeers::Unicast(addrs)),
        };
        if !ok {
            return None;
        }
        Some(SyncSettings {
            interface: interface?,
            sync_id,
            peers: peers?,
            port,
            ttl,
            maxlen,
        })
    }

    /// A `[sync]` number within `range`; `None` when the key is absent or
    /// out of range (an error at the value, and `ok` cleared).
    fn sync_number(
        &mut self,
        v: &Option<Spanned<i64>>,
        what: &str,
        range: RangeInclusive<i64>,
        help: &str,
        ok: &mut bool,
    ) -> Option<i64> {
        let v = v.as_ref()?;
        let n = *v.get_ref();
        if range.contains(&n) {
            return Some(n);
        }
        self.error(
            &v.span(),
            format!("{what} {n} is out of range"),
            Some(help.into()),
        );
        *ok = false;
        None
    }
}
