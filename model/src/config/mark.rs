//! `[[firewall_mark]]` rules: xlb's own packet marking, checked so that a
//! port gets one mark and a mark covers some port.

use super::raw::RawMarkRule;
use super::Validator;
use crate::addr::{endpoint, Address};
use crate::service::MarkRule;

impl Validator<'_> {
    pub(super) fn mark_rule(&mut self, r: &RawMarkRule) -> Option<MarkRule> {
        let mark = *r.mark.get_ref();
        if mark == 0 {
            self.error(
                &r.mark.span(),
                "mark 0 means no mark".into(),
                Some("use a mark from 1".into()),
            );
            return None;
        }
        let proto = self.protocol(&r.protocol)?;
        let addrs: Vec<_> = r
            .addresses
            .get_ref()
            .iter()
            .filter_map(|a| self.address(a, "firewall_mark address"))
            .collect();
        if addrs.iter().any(|a| a.is_ipv6() != addrs[0].is_ipv6()) {
            self.error(
                &r.addresses.span(),
                format!("firewall_mark {mark} mixes IPv4 and IPv6 addresses"),
                Some(
                    "a service's servers are of one family: give the IPv6 addresses a \
                     rule and a mark of their own"
                        .into(),
                ),
            );
            return None;
        }
        if r.addresses.get_ref().is_empty() {
            self.error(
                &r.addresses.span(),
                "no addresses".into(),
                Some("list the VIPs this mark covers".into()),
            );
        }
        let mut ports: Vec<(u16, u16)> = r
            .ports
            .iter()
            .filter_map(|p| self.port(p, "firewall_mark port"))
            .map(|p| (p, p))
            .collect();
        for pr in &r.port_ranges {
            let parsed = pr.get_ref().split_once('-').and_then(|(a, b)| {
                let (a, b) = (a.trim().parse::<u16>().ok()?, b.trim().parse::<u16>().ok()?);
                (a >= 1 && a <= b).then_some((a, b))
            });
            match parsed {
                Some(range) => ports.push(range),
                None => self.error(
                    &pr.span(),
                    format!("port range {:?} is not LOW-HIGH", pr.get_ref()),
                    Some("e.g. \"10000-20000\" with 1 <= LOW <= HIGH <= 65535".into()),
                ),
            }
        }
        if ports.is_empty() {
            self.error(
                &r.mark.span(),
                format!("firewall_mark {mark} covers no port"),
                Some("add ports = [...] or port_ranges = [\"LOW-HIGH\"]".into()),
            );
            return None;
        }
        for &a in &addrs {
            for &(lo, hi) in &ports {
                for p in lo..=hi {
                    if let Some(other) = self.marked.insert((a, proto, p), mark) {
                        if other != mark {
                            self.error(
                                &r.mark.span(),
                                format!(
                                    "{} is in firewall_mark {other} and {mark}",
                                    endpoint(a, p)
                                ),
                                Some("a port gets one mark: remove it from one rule".into()),
                            );
                            return None;
                        }
                    }
                }
            }
        }
        Some(MarkRule {
            mark,
            addrs: addrs.into_iter().map(Address::from).collect(),
            proto,
            ports,
        })
    }
}
