//! `xlbctl show`'s proxy half: frontends, backends and their servers, with
//! HAProxy's state words.

use std::fmt::Write;
use xlb_proxy::status::ProxyStatus;

/// Traffic per object when `stats`; the plain listing otherwise.
pub fn render(p: &ProxyStatus, stats: bool) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "\nProxy frontends");
    for f in &p.frontends {
        let c = &f.counters;
        let _ = write!(
            o,
            "  {:<16} {:<4} {:<28} sessions {}/{} (max {}, total {})",
            f.name,
            f.mode,
            f.binds.join(","),
            c.current,
            f.maxconn,
            c.max,
            c.total
        );
        if stats {
            let _ = write!(
                o,
                " in {} out {} errors {}",
                c.bytes_in, c.bytes_out, c.request_errors
            );
        }
        o.push('\n');
    }
    let _ = writeln!(o, "Proxy backends");
    for b in &p.backends {
        let c = &b.counters;
        let _ = write!(
            o,
            "  {:<16} {:<4} {:<24} {} active, {} backup, queue {} (max {})",
            b.name, b.mode, b.balance, b.active, b.backups, b.queued, b.queue_max
        );
        if stats {
            let _ = write!(
                o,
                " total {} in {} out {} conn errors {} retries {} redispatches {} queue timeouts {}",
                c.total, c.bytes_in, c.bytes_out, c.connect_errors, c.retries, c.redispatches, b.queue_timeouts
            );
        }
        o.push('\n');
        for s in &b.servers {
            let mut mark = String::new();
            if s.weight != s.configured_weight {
                let _ = write!(mark, "  (configured weight {})", s.configured_weight);
            }
            if s.backup {
                mark.push_str("  (backup)");
            }
            let check = if s.check.is_empty() { "-" } else { &s.check };
            let _ = write!(
                o,
                "    -> {:<12} {:<22} {:<10} {:<12} weight {:<3} served {:<4} queued {:<3} total {}",
                s.name, s.address, s.status, check, s.weight, s.served, s.queued, s.counters.total
            );
            if stats {
                let sc = &s.counters;
                let _ = write!(
                    o,
                    " in {} out {} conn errors {} resp errors {}",
                    sc.bytes_in, sc.bytes_out, sc.connect_errors, sc.response_errors
                );
            }
            let _ = writeln!(o, "{mark}");
        }
    }
    o
}
