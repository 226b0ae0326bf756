//! A reload: the new configuration validated and built whole, then
//! swapped in without losing a connection: the steering maps first gain
//! the new entries, the snapshot is swapped in one store, then the maps
//! lose what the new configuration no longer has. Real servers it removes
//! drain: their connections keep going to them until they end.

use super::{build, lookup, Daemon, Ids, Retired};
use crate::config::edit::{self, Edit};
use crate::config::{Config, ConfigErrors};
use std::collections::HashSet;
use std::path::Path;
use std::time::Instant;
use xlb_dataplane::snapshot::{Forwarding, RealId, RealRoute, Snapshot};
use xlb_dataplane::steer::EndpointKey;
use xlb_model::Address;

impl Daemon {
    /// Load, validate and apply a configuration. Nothing changes unless the
    /// whole new configuration is valid and buildable; then the steering
    /// maps gain the new entries, the snapshot is swapped in one atomic
    /// store, and the maps lose the old entries. Connections keep their real
    /// server when it is still configured (same service, address, port).
    /// Run-time changes made since (`edit`) are dropped: the file is the
    /// configuration from then on, as ipvsadm's rules after a restore.
    pub fn reload(&mut self, path: Option<&Path>) -> Result<String, String> {
        let path = path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.cfg.path.clone());
        let unchanged = |e: ConfigErrors| format!("{e}\nthe running configuration is unchanged");
        let text = Config::read(&path).map_err(unchanged)?;
        let new = Config::parse(&path, &text).map_err(unchanged)?;
        self.adopt(new, text)
    }

    /// A run-time change (ipvsadm's -A -E -D -C -a -e -d --set): applied to
    /// the running configuration's text, validated and swapped in as a
    /// reload is. It lasts until the next reload; `save` writes it out.
    /// Answers what changed, and a caution when there is one.
    pub fn edit(&mut self, edit: &Edit) -> Result<(String, Option<String>), String> {
        let text = edit::apply(&self.text, edit).map_err(|e| e.to_string())?;
        let new = Config::parse(&self.cfg.path, &text).map_err(|e| {
            // The lines are the edited text's, not the file's: say what
            // is wrong without pointing into the file.
            let why: Vec<String> =
                e.0.iter()
                    .map(|x| match &x.help {
                        Some(h) => format!("{}\n  help: {h}", x.message),
                        None => x.message.clone(),
                    })
                    .collect();
            format!(
                "{edit} would leave a configuration xlbd refuses: {}\nnothing changed",
                why.join("\n")
            )
        })?;
        let unchecked = unchecked_addition(edit, &new);
        self.adopt(new, text)?;
        tracing::info!(%edit, "run-time change");
        if let Some(w) = &unchecked {
            tracing::warn!("{w}");
        }
        Ok((edit.to_string(), unchecked))
    }

    /// The running configuration (the file's, with run-time changes) as
    /// TOML, as `ipvsadm-save` writes the kernel's rules.
    pub fn save(&self) -> String {
        self.text.clone()
    }

    /// Swap `new` (whose text is `text`) in; see `reload`.
    fn adopt(&mut self, mut new: Config, text: String) -> Result<String, String> {
        if let Some(s) = &self.socket_override {
            new.daemon.socket = s.clone();
        }
        let path = new.path.clone();
        let fail = |e: String| {
            format!(
                "{}: {e}\nthe running configuration is unchanged",
                path.display()
            )
        };
        let restart = restart_needed(&self.cfg, &new);
        if !restart.is_empty() {
            return Err(fail(format!(
                "{} changed, which only a restart of xlbd applies; \
                 revert it to reload the rest, or restart",
                restart.join(", ")
            )));
        }
        let ifaces = self
            .host
            .interfaces()
            .map_err(|e| fail(format!("cannot list interfaces: {e}")))?;
        let wrong = super::check_host(&new, &ifaces);
        if !wrong.is_empty() {
            let all: Vec<String> = wrong.iter().map(|e| e.placed(&new, &text)).collect();
            return Err(format!(
                "{}\nthe running configuration is unchanged",
                all.join("\n")
            ));
        }
        // Build against a copy of the ids: a failed reload must not retire any.
        let mut ids = self.ids.clone();
        let old = self.dataplane.snapshot();
        let now = Instant::now();
        let retired = self.retire(&old, &new, &mut ids, now);
        let routes: Vec<(RealId, RealRoute)> = retired.iter().map(|x| (x.id, x.route)).collect();
        let seen = self.host.neighbours_generation();
        let mut built = build(
            &new,
            &ifaces,
            &self.host.neighbours(),
            &mut ids,
            &routes,
            self.generation + 1,
            self.gauges.clone(),
        )
        .map_err(|e| fail(e.to_string()))?;
        // Draining servers keep their traffic steered to the dataplane, even
        // when their whole service is gone.
        for x in &retired {
            built.rules.services.extend(x.service_key);
            built.rules.reals.extend(x.reply_key);
        }
        // The proxy's half that can fail (certificates, new addresses).
        let proxy_change = super::proxy::prepare(&self.proxy, &new).map_err(fail)?;
        super::announce::prepare(&self.announce, &new).map_err(fail)?;
        // Phase 1: the maps hold old and new entries, so traffic for a kept
        // or a new service reaches the dataplane before and after the swap.
        let gate = self.dataplane.gate();
        let mut both = built.rules.clone();
        let running = gate.rules();
        both.services.extend(running.services);
        both.reals.extend(running.reals);
        both.locals.extend(running.locals);
        gate.set_rules(both, self.cfg.vrrp.vips()).map_err(fail)?;
        let mut summary = lookup::describe_change(&self.cfg, &new);
        self.generation += 1;
        let plan = self.policy.configure(Some(&self.cfg), &new, now);
        if self.cfg.vrrp != new.vrrp {
            self.vrrp.reconfigure(new.vrrp.clone());
        }
        self.ids = ids;
        self.retired = retired;
        self.wanted = built.neighbours;
        self.neighbours_seen = seen;
        self.text = text;
        if new.path != self.cfg.path {
            self.shared
                .config_path
                .store(std::sync::Arc::new(new.path.display().to_string()));
        }
        self.cfg = new;
        if let Some(p) = super::proxy::commit(&mut self.proxy, proxy_change) {
            summary = format!("{summary}; {p}");
        }
        self.shared
            .proxy
            .store(self.proxy.as_ref().map(|p| std::sync::Arc::new(p.view())));
        if let Some(s) = super::sync::follow(&mut self.sync, &self.cfg, &self.dataplane.view()) {
            summary = format!("{summary}; {s}");
        }
        super::sync::publish(&self.shared, &self.sync);
        // Before the publish, which tells the speaker what to announce.
        if let Some(a) = super::announce::follow(
            &mut self.announce,
            &self.cfg,
            &self.dataplane.snapshot(),
            self.director_drained,
        ) {
            summary = format!("{summary}; {a}");
        }
        super::announce::publish(&self.shared, &self.announce);
        self.publish(built.snapshot);
        self.checks.plan(plan);
        // Phase 2: drop what the new configuration no longer has (gated
        // by the new configuration's VRRP addresses).
        if let Err(e) = gate.set_rules(built.rules, self.cfg.vrrp.vips()) {
            tracing::warn!(error = %e, "stale steering entries left after reload");
        }
        tracing::info!(config = %path.display(), generation = self.generation, %summary, "configuration reloaded");
        Ok(summary)
    }

    /// The servers that draining after a reload to `new` leaves: those
    /// already draining and those `new` removes, within their quarantine.
    fn retire(&self, old: &Snapshot, new: &Config, ids: &mut Ids, now: Instant) -> Vec<Retired> {
        let mut retired = self.retired.clone();
        let mut probe = ids.clone();
        let kept: HashSet<RealId> = new
            .reals()
            .filter_map(|(k, _, _)| probe.real(&k, now))
            .collect();
        for s in &old.services {
            for r in &s.reals {
                let (true, Some(route)) = (!kept.contains(&r.id), old.real(r.id)) else {
                    continue;
                };
                let endpoint = s.key.address();
                retired.retain(|x| x.id != r.id);
                retired.push(Retired {
                    id: r.id,
                    route: *route,
                    since: now,
                    service_key: endpoint.map(|(addr, port, proto)| {
                        EndpointKey::new(Address::from(addr), port, proto.number())
                    }),
                    reply_key: endpoint
                        .filter(|_| s.forwarding == Forwarding::Nat)
                        .map(|(_, _, proto)| EndpointKey::new(r.addr, r.port, proto.number())),
                });
            }
        }
        let quarantine = ids.quarantine();
        retired.retain(|x| now.duration_since(x.since) < quarantine);
        retired
    }
}

/// The settings a reload cannot change in a running daemon.
fn restart_needed(a: &Config, b: &Config) -> Vec<&'static str> {
    let (a, b) = (&a.daemon, &b.daemon);
    let mut out = Vec::new();
    if a.interfaces != b.interfaces {
        out.push("[daemon] interfaces");
    }
    if a.cores != b.cores {
        out.push("[daemon] cores/workers");
    }
    if a.conn_table_size != b.conn_table_size {
        out.push("[daemon] conn_table_size");
    }
    if (a.poll, a.bind, a.xdp_mode) != (b.poll, b.bind, b.xdp_mode) {
        out.push("[daemon] poll/bind/xdp_mode");
    }
    if a.socket != b.socket {
        out.push("[daemon] socket");
    }
    if a.socket_access != b.socket_access {
        out.push("[daemon] socket_mode/socket_owner/socket_group");
    }
    if a.metrics != b.metrics {
        out.push("[metrics] listen");
    }
    if a.dashboard != b.dashboard {
        out.push("[dashboard] listen");
    }
    out
}

/// A server added at run time to a service whose other servers are checked
/// each by a check of its own: it is not checked, which the operator
/// should hear (keepalived's checkers would not check it either).
fn unchecked_addition(edit: &Edit, cfg: &Config) -> Option<String> {
    let Edit::AddReal(key, spec) = edit else {
        return None;
    };
    let s = cfg.service(key)?;
    let added = s.reals.iter().find(|r| r.address == spec.addr)?;
    let others_checked = s
        .reals
        .iter()
        .any(|r| r.address != spec.addr && r.check.is_some());
    (added.check.is_none() && others_checked).then(|| {
        format!(
            "{} has no health check: the other servers' checks are their own; \
             give the service a `check` (docs/checks.md) or reload the file",
            spec.addr
        )
    })
}
