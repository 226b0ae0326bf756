//! Between sync records and xlb's portable connections
//! ([`ConnRecord`]) and persistence templates ([`TemplateRecord`]).
//!
//! What xlb sends is what a kernel master would send for the same
//! connection (flags, template form, timeouts), so a kernel backup can
//! take over from xlb. What xlb takes is checked as a kernel backup checks
//! it (protocol, state), plus what xlb needs and the kernel does without:
//! a known service (the kernel keeps an entry it cannot bind; xlb's
//! dataplane installs only what it can forward) and no persistence engine.

use crate::conn::{state, Addrs, ConnFlags, FwdMethod, SeqData, SeqOptions, SyncConn};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use xlb_model::tcp::{TcpState, Timeouts};
use xlb_model::{Address, ConnRecord, Forwarding, Protocol, ServiceKey};

/// The FTP control port: a persistent FTP service's templates carry no
/// ports, so that its data connections find them.
pub const FTP_PORT: u16 = 21;

/// A kernel backup gives a template sent with timeout 0 three minutes.
pub const TEMPLATE_DEFAULT_TIMEOUT: u32 = 180;

/// The receiving director's view of one of its services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalService {
    /// It schedules through persistence templates.
    pub persistent: bool,
    /// Its FTP helper is on: its data connections (other ports of the same
    /// address) belong to it.
    pub ftp: bool,
}

/// A persistence template in portable terms: the dataplane's `Template`
/// with its service and real server named by keys instead of this
/// process's ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateRecord {
    pub service: ServiceKey,
    /// The client masked to the service's granularity.
    pub client: Address,
    pub real: Address,
    /// 0 when the template names no port (firewall-mark and FTP services):
    /// any port of `real` in that service.
    pub real_port: u16,
    pub forwarding: Forwarding,
    /// Seconds it has left.
    pub timeout: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("a persistence template, not a connection")]
    Template,
    #[error("a connection, not a persistence template")]
    NotTemplate,
    #[error("protocol {0} is not TCP or UDP")]
    UnsupportedProtocol(u8),
    #[error("state {state} does not exist for protocol {protocol}")]
    InvalidState { protocol: u8, state: u16 },
    #[error("forwarding method {0:?} is not NAT or direct routing")]
    UnsupportedForwarding(FwdMethod),
    #[error("scheduled by a persistence engine, which xlb does not have")]
    PersistenceEngine,
    #[error("no local service matches")]
    UnknownService,
    #[error("client, virtual and real addresses are of different families")]
    MixedFamilies,
}

impl MapError {
    pub fn reason(&self) -> &'static str {
        match self {
            MapError::Template => "template",
            MapError::NotTemplate => "not_template",
            MapError::UnsupportedProtocol(_) => "unsupported_protocol",
            MapError::InvalidState { .. } => "invalid_state",
            MapError::UnsupportedForwarding(_) => "unsupported_forwarding",
            MapError::PersistenceEngine => "persistence_engine",
            MapError::UnknownService => "unknown_service",
            MapError::MixedFamilies => "mixed_families",
        }
    }
}

fn fwd_method(f: Forwarding) -> FwdMethod {
    match f {
        Forwarding::Nat => FwdMethod::Masq,
        Forwarding::Dr => FwdMethod::DirectRoute,
        Forwarding::Tun => FwdMethod::Tunnel,
    }
}

fn forwarding(m: FwdMethod) -> Result<Forwarding, MapError> {
    match m {
        FwdMethod::Masq => Ok(Forwarding::Nat),
        FwdMethod::DirectRoute => Ok(Forwarding::Dr),
        FwdMethod::Tunnel => Ok(Forwarding::Tun),
        other => Err(MapError::UnsupportedForwarding(other)),
    }
}

/// The flags a kernel gives an entry: replies bypass every method but NAT;
/// a connection is inactive until TCP reaches ESTABLISHED (UDP ones
/// always are, and so are templates, which inherit the real server's
/// initial flags).
fn kernel_flags(fwd: Forwarding, active: bool) -> ConnFlags {
    let mut flags = ConnFlags::empty();
    if fwd != Forwarding::Nat {
        flags.insert(ConnFlags::NOOUTPUT);
    }
    if !active {
        flags.insert(ConnFlags::INACTIVE);
    }
    flags
}

fn same_family(addrs: [Address; 3]) -> Result<Addrs, MapError> {
    let [c, v, d] = addrs.map(Address::ip);
    Addrs::new(c, v, d).ok_or(MapError::MixedFamilies)
}

/// The record a kernel master would send for `rec`.
///
/// Not on the wire, so lost: the client-side MAC and `persistent` (the
/// receiver knows the latter from its service). A timeout of 0 is sent as
/// 1: a kernel backup reads 0 as "use your default", which would revive a
/// connection that is about to expire for a whole state timeout.
pub fn from_record(rec: &ConnRecord) -> Result<SyncConn, MapError> {
    let addrs = same_family([rec.client, rec.vaddr, rec.real])?;
    let tcp = rec.proto == Protocol::Tcp;
    let state = if tcp {
        rec.state as u16
    } else {
        state::UDP_NORMAL
    };
    Ok(SyncConn {
        protocol: rec.proto.number(),
        forwarding: fwd_method(rec.forwarding),
        template: false,
        flags: kernel_flags(rec.forwarding, tcp && rec.state == TcpState::Established),
        state,
        addrs,
        cport: rec.cport,
        vport: rec.vport,
        dport: rec.real_port,
        fwmark: rec.service.mark().unwrap_or(0),
        timeout: rec.timeout.max(1),
        seq: rec.seq_offset.map(|d| SeqOptions {
            in_seq: SeqData::default(),
            out_seq: SeqData {
                init_seq: 0,
                delta: d,
                previous_delta: d,
            },
        }),
        pe: None,
    }
    .with_seq_flags())
}

impl SyncConn {
    /// OUT_SEQ when the record carries an offset of the server's stream
    /// (IN_SEQ never: the client's numbers are its own).
    fn with_seq_flags(mut self) -> SyncConn {
        if self.seq.is_some() {
            self.flags.insert(ConnFlags::OUT_SEQ);
        }
        self
    }
}

/// The SYN proxy's offset a record carries: the server's stream shifted by
/// one constant from its start (the same delta before and after), the
/// client's not at all, on a service without the FTP helper (whose
/// offsets are its own, taken by the daemon).
fn syn_proxy_offset(c: &SyncConn, local: LocalService) -> Option<u32> {
    let seq = c.seq.as_ref()?;
    let constant = seq.out_seq.delta == seq.out_seq.previous_delta;
    let client_untouched = seq.in_seq == SeqData::default();
    (!local.ftp && c.flags.contains(ConnFlags::OUT_SEQ) && constant && client_untouched)
        .then_some(seq.out_seq.delta)
}

/// The services a record may belong to, in the order a kernel backup
/// looks (ip_vs_service_find): its firewall mark, then its virtual
/// address and port, then that address with port 0 (a catch-all).
/// A template is matched differently: see [`template_service_candidates`].
pub fn service_candidates(c: &SyncConn) -> impl Iterator<Item = ServiceKey> {
    let v = c.addrs.vaddr();
    let mark = (c.fwmark != 0).then_some(ServiceKey::Mark(c.fwmark));
    let exact = c.proto().map(|p| ServiceKey::endpoint(v, c.vport, p));
    let any = c
        .proto()
        .filter(|_| c.vport != 0)
        .map(|p| ServiceKey::endpoint(v, 0, p));
    [mark, exact, any].into_iter().flatten()
}

/// The connection `c` describes on this director. `services` says whether
/// a service exists here (and whether it is persistent); `timeouts`
/// stand in for a timeout of 0, as the kernel's own table does.
///
/// The sequence option is not part of a [`ConnRecord`]: the daemon that
/// wants FTP's adjustments takes `c.seq` itself.
pub fn to_record(
    c: &SyncConn,
    mut services: impl FnMut(&ServiceKey) -> Option<LocalService>,
    timeouts: &Timeouts,
) -> Result<ConnRecord, MapError> {
    if c.template {
        return Err(MapError::Template);
    }
    let proto = c.proto().ok_or(MapError::UnsupportedProtocol(c.protocol))?;
    check(c, proto)?;
    let (service, local) = service_candidates(c)
        .find_map(|k| services(&k).map(|l| (k, l)))
        .ok_or(MapError::UnknownService)?;
    build(c, proto, service, local, timeouts)
}

/// An FTP data connection's record: a connection no service matches
/// (active mode: VIP:20 or the port the server connected from; passive:
/// the port its 227 announced), bound to `ftp`, the FTP service on its
/// virtual address, which the kernel does without (it keeps such an entry
/// without a service). Only TCP with the same port on both sides, 20 or
/// unprivileged, as the helper's data connections have: nothing else on
/// the VIP can be reached through an FTP service's servers.
pub fn to_ftp_data_record(
    c: &SyncConn,
    ftp: (ServiceKey, LocalService),
    timeouts: &Timeouts,
) -> Result<ConnRecord, MapError> {
    let proto = c.proto().ok_or(MapError::UnsupportedProtocol(c.protocol))?;
    let data_ports = xlb_model::conn::ftp_data_ports(c.vport, c.dport);
    if proto != Protocol::Tcp || !data_ports || !ftp.1.ftp || c.template {
        return Err(MapError::UnknownService);
    }
    check(c, proto)?;
    build(c, proto, ftp.0, ftp.1, timeouts)
}

/// A connection record's state and forwarding method are ones xlb has.
fn check(c: &SyncConn, proto: Protocol) -> Result<(), MapError> {
    let limit = match proto {
        Protocol::Tcp => state::TCP_STATES,
        Protocol::Udp => state::UDP_STATES,
    };
    if c.state >= limit {
        return Err(MapError::InvalidState {
            protocol: c.protocol,
            state: c.state,
        });
    }
    forwarding(c.forwarding)?;
    if c.pe.is_some() {
        return Err(MapError::PersistenceEngine);
    }
    Ok(())
}

fn build(
    c: &SyncConn,
    proto: Protocol,
    service: ServiceKey,
    local: LocalService,
    timeouts: &Timeouts,
) -> Result<ConnRecord, MapError> {
    let tcp = proto == Protocol::Tcp;
    let fwd = forwarding(c.forwarding)?;
    let tcp_state = if tcp {
        TcpState::from_u8(c.state as u8)
    } else {
        TcpState::None
    };
    let timeout = match c.timeout {
        0 if tcp => timeouts.tcp(tcp_state),
        0 => timeouts.udp,
        t => t,
    };
    Ok(ConnRecord {
        service,
        proto,
        client: c.addrs.client().into(),
        cport: c.cport,
        vaddr: c.addrs.vaddr().into(),
        vport: c.vport,
        real: c.addrs.daddr().into(),
        real_port: c.dport,
        forwarding: fwd,
        state: tcp_state,
        timeout,
        persistent: local.persistent,
        client_mac: None,
        client_ifindex: None,
        seq_offset: syn_proxy_offset(c, local),
    })
}

/// The address a kernel puts where a firewall-mark template's virtual
/// address goes: the mark, big-endian, in the first four bytes.
fn mark_addr(mark: u32, family: xlb_model::Family) -> IpAddr {
    match family {
        xlb_model::Family::V4 => Ipv4Addr::from(mark).into(),
        xlb_model::Family::V6 => Ipv6Addr::from(u128::from(mark) << 96).into(),
    }
}

/// The mark a firewall-mark template's virtual address holds.
fn addr_mark(a: IpAddr) -> u32 {
    match a {
        IpAddr::V4(v4) => u32::from(v4),
        IpAddr::V6(v6) => (u128::from(v6) >> 96) as u32,
    }
}

/// The template record a kernel master would send (ip_vs_sched_persist's
/// three forms): a firewall-mark service's has protocol 0, the mark where
/// the virtual address goes, and no ports; an FTP or port-0 service's has
/// no ports; any other's has the service's port and the real server's.
/// Client port 0 in all. State NONE: what a kernel template holds until a
/// connection it controls is answered.
pub fn from_template(t: &TemplateRecord) -> Result<SyncConn, MapError> {
    let family = t.client.family();
    let (protocol, vaddr, vport, dport) = match t.service {
        ServiceKey::Mark(m) => (0, mark_addr(m, family), 0, 0),
        ServiceKey::Endpoint { addr, port, proto } => {
            let portless = port == FTP_PORT || port == 0;
            let (vport, dport) = if portless {
                (0, 0)
            } else {
                (port, t.real_port)
            };
            (proto.number(), addr, vport, dport)
        }
    };
    let addrs = Addrs::new(t.client.ip(), vaddr, t.real.ip()).ok_or(MapError::MixedFamilies)?;
    Ok(SyncConn {
        protocol,
        forwarding: fwd_method(t.forwarding),
        template: true,
        flags: kernel_flags(t.forwarding, false),
        state: state::TEMPLATE_NONE,
        addrs,
        cport: 0,
        vport,
        dport,
        fwmark: t.service.mark().unwrap_or(0),
        timeout: t.timeout.max(1),
        seq: None,
        pe: None,
    })
}

/// The services a template may belong to: for protocol 0, the mark its
/// virtual address holds; else the address and port, and when the port is
/// 0 (a TCP one), an FTP service there too.
pub fn template_service_candidates(c: &SyncConn) -> impl Iterator<Item = ServiceKey> {
    let v = c.addrs.vaddr();
    // A kernel sends the mark twice: as the packet mark and in the virtual
    // address; the address is what its own template lookups use.
    let mark = (c.protocol == 0).then(|| {
        ServiceKey::Mark(match addr_mark(v) {
            0 => c.fwmark,
            m => m,
        })
    });
    let exact = c.proto().map(|p| ServiceKey::endpoint(v, c.vport, p));
    let ftp = c
        .proto()
        .filter(|&p| c.vport == 0 && p == Protocol::Tcp)
        .map(|p| ServiceKey::endpoint(v, FTP_PORT, p));
    [mark, exact, ftp].into_iter().flatten()
}

/// The template `c` describes on this director.
pub fn to_template(
    c: &SyncConn,
    mut services: impl FnMut(&ServiceKey) -> Option<LocalService>,
) -> Result<TemplateRecord, MapError> {
    if !c.template {
        return Err(MapError::NotTemplate);
    }
    if c.protocol != 0 && c.proto().is_none() {
        return Err(MapError::UnsupportedProtocol(c.protocol));
    }
    let fwd = forwarding(c.forwarding)?;
    if c.pe.is_some() {
        return Err(MapError::PersistenceEngine);
    }
    let service = template_service_candidates(c)
        .find(|k| services(k).is_some())
        .ok_or(MapError::UnknownService)?;
    Ok(TemplateRecord {
        service,
        client: c.addrs.client().into(),
        real: c.addrs.daddr().into(),
        real_port: c.dport,
        forwarding: fwd,
        timeout: if c.timeout == 0 {
            TEMPLATE_DEFAULT_TIMEOUT
        } else {
            c.timeout
        },
    })
}
