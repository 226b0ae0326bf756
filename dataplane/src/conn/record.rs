//! Connections between the table's local form (`Conn`: ids of this
//! process's snapshot, the port and MAC the client's frames arrived by)
//! and the portable one (`ConnRecord`: keys any director understands).

use super::{Conn, TcpState};
use crate::snapshot::{PortId, Snapshot};
use xlb_model::{ConnRecord, Protocol};

/// `Conn::client_port` of a connection installed from a record before
/// any of its client's frames arrived: where NAT replies go is not known
/// yet (the first client frame tells).
pub const UNKNOWN_PORT: PortId = PortId::MAX;

/// Why a record cannot become a connection here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InstallError {
    #[error("no such virtual service")]
    UnknownService,
    #[error("the service has no such real server")]
    UnknownReal,
    #[error("client, virtual and real addresses are of different families")]
    MixedFamilies,
}

/// The portable description of a live connection; `None` if its service
/// is not in `snap` (a reload removed it) or it has no protocol of ours.
pub fn describe(c: &Conn, snap: &Snapshot, now: u32) -> Option<ConnRecord> {
    let service = snap.service_by_id(c.service)?.key;
    Some(ConnRecord {
        service,
        proto: Protocol::from_number(c.proto)?,
        client: c.client,
        cport: c.cport,
        vaddr: c.vip,
        vport: c.vport,
        real: c.real_addr,
        real_port: c.real_port,
        forwarding: c.forwarding,
        state: c.state,
        timeout: c.expires.saturating_sub(now),
        persistent: c.persistent,
        client_mac: (c.client_port != UNKNOWN_PORT).then_some(c.client_mac),
        client_ifindex: snap.ports.get(c.client_port as usize).map(|p| p.ifindex),
        seq_offset: (c.syn_proxy == super::SynProxied::Spliced).then_some(c.seq_delta),
    })
}

/// The connection a record describes, with this snapshot's ids.
pub fn install(rec: &ConnRecord, snap: &Snapshot, now: u32) -> Result<Conn, InstallError> {
    let families = [rec.client, rec.vaddr, rec.real].map(|a| a.is_v4());
    if families.iter().any(|&f| f != families[0]) {
        return Err(InstallError::MixedFamilies);
    }
    let svc = snap
        .service_by_key(&rec.service)
        .ok_or(InstallError::UnknownService)?;
    // A firewall-mark service's server may have port 0: it keeps the port
    // the client asked for, which the record holds. An FTP service's data
    // connections name their control connection's service and server,
    // with the data ports (20 for active mode, the server's passive port).
    let servers = || svc.reals.iter().chain(svc.sorry.iter());
    let real = servers()
        .find(|r| r.addr == rec.real && (r.port == rec.real_port || r.port == 0))
        .or_else(|| {
            let data = svc.ftp
                && rec.proto == Protocol::Tcp
                && xlb_model::conn::ftp_data_ports(rec.vport, rec.real_port);
            data.then(|| servers().find(|r| r.addr == rec.real))
                .flatten()
        })
        .ok_or(InstallError::UnknownReal)?;
    // Where replies go, when the record says (resolved by the receiver).
    let client_port = match (rec.client_mac, rec.client_ifindex) {
        (Some(_), Some(ix)) => snap
            .ports
            .iter()
            .position(|p| p.ifindex == ix)
            .map_or(UNKNOWN_PORT, |i| i as PortId),
        _ => UNKNOWN_PORT,
    };
    Ok(Conn {
        client: rec.client,
        cport: rec.cport,
        vip: rec.vaddr,
        vport: rec.vport,
        proto: rec.proto.number(),
        forwarding: svc.forwarding,
        real: real.id,
        real_addr: rec.real,
        real_port: rec.real_port,
        service: svc.id,
        client_port,
        client_mac: rec.client_mac.unwrap_or_default(),
        state: if rec.proto == Protocol::Tcp {
            rec.state
        } else {
            TcpState::None
        },
        expires: now.wrapping_add(rec.timeout),
        persistent: rec.persistent,
        // The SYN proxy's offset: the client's numbers are the proxying
        // director's cookie, which this one must go on translating.
        syn_proxy: match rec.seq_offset {
            Some(_) => crate::conn::SynProxied::Spliced,
            None => crate::conn::SynProxied::No,
        },
        seq_delta: rec.seq_offset.unwrap_or(0),
        per_client: false,
    })
}
