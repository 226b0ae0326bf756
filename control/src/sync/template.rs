//! Persistence templates over sync: the template a kernel master sends
//! beside a persistent connection (a client, masked to the service's
//! granularity, bound to a real server), and its installation in the
//! shared template table, so that a persistent client's new connections
//! after a failover go where its old ones went.

use xlb_dataplane::conn::persist::{self, PersistTable, Template};
use xlb_dataplane::conn::Conn;
use xlb_dataplane::snapshot::{Snapshot, VirtualService};
use xlb_model::{Address, ServiceKey};
use xlb_sync::map::TemplateRecord;

fn record(
    svc: &VirtualService,
    client: Address,
    real: Address,
    real_port: u16,
    timeout: u32,
) -> TemplateRecord {
    // A firewall-mark or FTP service's template names no port: any port
    // of the server (the kernel's template forms).
    let named = !(matches!(svc.key, ServiceKey::Mark(_)) || svc.ftp);
    TemplateRecord {
        service: svc.key,
        client,
        real,
        real_port: if named { real_port } else { 0 },
        forwarding: svc.forwarding,
        timeout,
    }
}

/// The template that keeps `c`'s client on its server, if `c` persists.
pub fn of_conn(
    c: &Conn,
    snap: &Snapshot,
    table: &PersistTable,
    now: u32,
) -> Option<TemplateRecord> {
    if !c.persistent {
        return None;
    }
    let svc = snap.service_by_id(c.service)?;
    let p = svc.persistence?;
    let client = persist::masked(c.client, p.prefix);
    let left = table.remaining(c.service, client, c.real, now)?;
    Some(record(svc, client, c.real_addr, c.real_port, left))
}

/// A live template of the table, for a whole-table transfer.
pub fn of_template(t: &Template, snap: &Snapshot, now: u32) -> Option<TemplateRecord> {
    let svc = snap.service_by_id(t.service)?;
    let real = snap.real(t.real)?;
    Some(record(
        svc,
        t.client,
        real.addr,
        real.port,
        t.expires.wrapping_sub(now),
    ))
}

/// Install `t` here; the reason it cannot be, otherwise.
pub fn install(
    t: &TemplateRecord,
    snap: &Snapshot,
    table: &PersistTable,
    now: u32,
) -> Result<(), &'static str> {
    let svc = snap.service_by_key(&t.service).ok_or("unknown_service")?;
    if svc.persistence.is_none() {
        return Err("not_persistent");
    }
    let real = svc
        .reals
        .iter()
        .chain(svc.sorry.iter())
        .find(|r| r.addr == t.real && (t.real_port == 0 || r.port == 0 || r.port == t.real_port))
        .ok_or("unknown_real")?;
    table.set(svc.id, t.client, real.id, now.wrapping_add(t.timeout), now);
    Ok(())
}
