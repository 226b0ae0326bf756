//! Between sync records and xlb's portable connections and templates.

mod common;

use common::sip;
use std::collections::HashMap;
use std::net::IpAddr;
use xlb_model::tcp::{TcpState, Timeouts};
use xlb_model::{Address, ConnRecord, Forwarding, Protocol, ServiceKey};
use xlb_sync::map::{
    from_record, from_template, service_candidates, template_service_candidates,
    to_ftp_data_record, to_record, to_template, LocalService, MapError, TemplateRecord,
};
use xlb_sync::{decode, encode, ConnFlags, FwdMethod, SyncConn};

fn addr(s: &str) -> Address {
    s.parse::<IpAddr>().unwrap().into()
}

fn web() -> ServiceKey {
    ServiceKey::endpoint(addr("192.0.2.10").ip(), 80, Protocol::Tcp)
}

fn record() -> ConnRecord {
    ConnRecord {
        service: web(),
        proto: Protocol::Tcp,
        client: addr("198.51.100.7"),
        cport: 40000,
        vaddr: addr("192.0.2.10"),
        vport: 80,
        real: addr("10.0.0.2"),
        real_port: 8080,
        forwarding: Forwarding::Nat,
        state: TcpState::Established,
        timeout: 850,
        persistent: false,
        client_mac: Some([2, 0, 0, 0, 0, 1]),
        client_ifindex: Some(3),
        seq_offset: None,
    }
}

/// A director with these services.
fn director(services: &[(ServiceKey, bool)]) -> HashMap<ServiceKey, LocalService> {
    services
        .iter()
        .map(|&(k, persistent)| {
            let ftp = matches!(k, ServiceKey::Endpoint { port: 21, .. });
            (k, LocalService { persistent, ftp })
        })
        .collect()
}

/// Through the wire and back.
fn over_the_wire(c: &SyncConn) -> SyncConn {
    let d = encode(1, 1472, [c]).unwrap();
    decode(&d[0]).unwrap().records().next().unwrap().unwrap()
}

#[test]
fn a_connection_crosses_to_another_director() {
    let rec = record();
    let c = from_record(&rec).unwrap();
    // As a kernel master has it: NAT, active (established), TCP state 1.
    assert_eq!(c.protocol, 6);
    assert_eq!(c.forwarding, FwdMethod::Masq);
    assert_eq!(c.flags, ConnFlags::empty());
    assert_eq!((c.state, c.timeout, c.fwmark), (1, 850, 0));
    assert_eq!((c.cport, c.vport, c.dport), (40000, 80, 8080));
    let here = director(&[(web(), false)]);
    let back = to_record(
        &over_the_wire(&c),
        |k| here.get(k).copied(),
        &Timeouts::default(),
    );
    // The client's next hop is not on the wire.
    assert_eq!(
        back,
        Ok(ConnRecord {
            client_mac: None,
            client_ifindex: None,
            seq_offset: None,
            ..rec
        })
    );
}

#[test]
fn direct_routing_udp_over_ipv6() {
    let dns = ServiceKey::endpoint(addr("2001:db8::10").ip(), 53, Protocol::Udp);
    let rec = ConnRecord {
        service: dns,
        proto: Protocol::Udp,
        client: addr("2001:db8::7"),
        cport: 5353,
        vaddr: addr("2001:db8::10"),
        vport: 53,
        real: addr("2001:db8:1::2"),
        real_port: 53,
        forwarding: Forwarding::Dr,
        state: TcpState::None,
        timeout: 0,
        persistent: true,
        client_mac: None,
        client_ifindex: None,
        seq_offset: None,
    };
    let c = from_record(&rec).unwrap();
    // DR: replies bypass the director; UDP entries are always inactive.
    assert_eq!(c.forwarding, FwdMethod::DirectRoute);
    assert_eq!(c.flags, ConnFlags::NOOUTPUT | ConnFlags::INACTIVE);
    assert_eq!(c.timeout, 1, "0 would mean 'your default' to a kernel");
    let here = director(&[(dns, true)]);
    let back = to_record(&c, |k| here.get(k).copied(), &Timeouts::default()).unwrap();
    assert_eq!(back, ConnRecord { timeout: 1, ..rec });
}

#[test]
fn a_firewall_mark_service_is_found_by_its_mark_first() {
    let rec = ConnRecord {
        service: ServiceKey::Mark(7),
        vport: 443,
        state: TcpState::SynRecv,
        ..record()
    };
    let c = from_record(&rec).unwrap();
    assert_eq!(c.fwmark, 7);
    assert_eq!(c.flags, ConnFlags::INACTIVE, "not established yet");
    assert_eq!(
        service_candidates(&c).collect::<Vec<_>>(),
        vec![
            ServiceKey::Mark(7),
            ServiceKey::endpoint(addr("192.0.2.10").ip(), 443, Protocol::Tcp),
            ServiceKey::endpoint(addr("192.0.2.10").ip(), 0, Protocol::Tcp),
        ]
    );
    // Both exist: the mark wins, as in ip_vs_service_find.
    let here = director(&[
        (ServiceKey::Mark(7), true),
        (
            ServiceKey::endpoint(addr("192.0.2.10").ip(), 443, Protocol::Tcp),
            false,
        ),
    ]);
    let back = to_record(&c, |k| here.get(k).copied(), &Timeouts::default()).unwrap();
    assert_eq!(back.service, ServiceKey::Mark(7));
    assert!(back.persistent);
    // Only the address exists: found by it.
    let here = director(&[(web(), false)]);
    let mut c80 = c.clone();
    c80.vport = 80;
    let back = to_record(&c80, |k| here.get(k).copied(), &Timeouts::default()).unwrap();
    assert_eq!(back.service, web());
}

#[test]
fn a_timeout_of_zero_takes_the_local_default() {
    let mut c = from_record(&record()).unwrap();
    c.timeout = 0;
    c.state = TcpState::FinWait as u16;
    let here = director(&[(web(), false)]);
    let back = to_record(&c, |k| here.get(k).copied(), &Timeouts::default()).unwrap();
    assert_eq!(back.timeout, 120);
    assert_eq!(back.state, TcpState::FinWait);
}

#[test]
fn what_xlb_cannot_install_is_refused_with_a_reason() {
    let here = director(&[(web(), false)]);
    let to = |c: &SyncConn| to_record(c, |k| here.get(k).copied(), &Timeouts::default());
    let good = from_record(&record()).unwrap();

    let mut c = good.clone();
    c.protocol = 132; // SCTP
    assert_eq!(to(&c), Err(MapError::UnsupportedProtocol(132)));
    let mut c = good.clone();
    c.state = 11;
    assert_eq!(
        to(&c),
        Err(MapError::InvalidState {
            protocol: 6,
            state: 11
        })
    );
    let mut c = good.clone();
    c.protocol = 17;
    c.state = 1;
    assert_eq!(
        to(&c),
        Err(MapError::InvalidState {
            protocol: 17,
            state: 1
        })
    );
    let mut c = good.clone();
    c.forwarding = FwdMethod::LocalNode;
    assert_eq!(
        to(&c),
        Err(MapError::UnsupportedForwarding(FwdMethod::LocalNode))
    );
    let mut c = good.clone();
    c.forwarding = FwdMethod::Tunnel;
    assert_eq!(to(&c).map(|r| r.forwarding), Ok(Forwarding::Tun));
    let mut c = good.clone();
    c.pe = Some(sip(8));
    assert_eq!(to(&c), Err(MapError::PersistenceEngine));
    let mut c = good.clone();
    c.vport = 81;
    assert_eq!(to(&c), Err(MapError::UnknownService));
    let mut c = good.clone();
    c.template = true;
    assert_eq!(to(&c), Err(MapError::Template));
    assert_eq!(
        to_template(&good, |_| Some(LocalService {
            persistent: true,
            ftp: false
        })),
        Err(MapError::NotTemplate)
    );
    let mixed = ConnRecord {
        real: addr("2001:db8::2"),
        ..record()
    };
    assert_eq!(from_record(&mixed), Err(MapError::MixedFamilies));
}

#[test]
fn templates_cross_in_the_kernels_three_forms() {
    let here = director(&[
        (ServiceKey::Mark(5), true),
        (web(), true),
        (
            ServiceKey::endpoint(addr("192.0.2.10").ip(), 21, Protocol::Tcp),
            true,
        ),
    ]);
    let lookup = |k: &ServiceKey| here.get(k).copied();
    let base = TemplateRecord {
        service: web(),
        client: addr("198.51.100.0"),
        real: addr("10.0.0.2"),
        real_port: 8080,
        forwarding: Forwarding::Nat,
        timeout: 300,
    };

    // <protocol, caddr, 0, vaddr, vport, daddr, dport>
    let c = from_template(&base).unwrap();
    assert!(c.template);
    assert_eq!((c.protocol, c.cport, c.vport, c.dport), (6, 0, 80, 8080));
    assert_eq!(c.flags, ConnFlags::INACTIVE);
    assert_eq!(to_template(&over_the_wire(&c), lookup), Ok(base));

    // Firewall mark: <IPPROTO_IP, caddr, 0, fwmark, 0, daddr, 0>.
    let mark = TemplateRecord {
        service: ServiceKey::Mark(5),
        real_port: 0,
        ..base
    };
    let c = from_template(&mark).unwrap();
    assert_eq!((c.protocol, c.vport, c.dport, c.fwmark), (0, 0, 0, 5));
    assert_eq!(c.addrs.vaddr(), "0.0.0.5".parse::<IpAddr>().unwrap());
    assert_eq!(
        template_service_candidates(&c).collect::<Vec<_>>(),
        vec![ServiceKey::Mark(5)]
    );
    assert_eq!(to_template(&over_the_wire(&c), lookup), Ok(mark));

    // FTP: <protocol, caddr, 0, vaddr, 0, daddr, 0>.
    let ftp = TemplateRecord {
        service: ServiceKey::endpoint(addr("192.0.2.10").ip(), 21, Protocol::Tcp),
        real_port: 0,
        ..base
    };
    let c = from_template(&ftp).unwrap();
    assert_eq!((c.vport, c.dport), (0, 0));
    assert_eq!(to_template(&over_the_wire(&c), lookup), Ok(ftp));

    // IPv6 firewall mark: the mark in the first four bytes.
    let mark6 = TemplateRecord {
        service: ServiceKey::Mark(0x0102_0304),
        client: addr("2001:db8::"),
        real: addr("2001:db8:1::2"),
        real_port: 0,
        ..base
    };
    let c = from_template(&mark6).unwrap();
    assert_eq!(c.addrs.vaddr(), "102:304::".parse::<IpAddr>().unwrap());
    assert_eq!(
        template_service_candidates(&c).next(),
        Some(ServiceKey::Mark(0x0102_0304))
    );

    // A template sent with timeout 0 gets the kernel's three minutes.
    let mut c = from_template(&base).unwrap();
    c.timeout = 0;
    assert_eq!(to_template(&c, lookup).unwrap().timeout, 180);
    assert_eq!(to_template(&c, |_| None), Err(MapError::UnknownService));
}

#[test]
fn every_map_error_has_its_own_reason() {
    let all = [
        MapError::Template,
        MapError::NotTemplate,
        MapError::UnsupportedProtocol(0),
        MapError::InvalidState {
            protocol: 0,
            state: 0,
        },
        MapError::UnsupportedForwarding(FwdMethod::Bypass),
        MapError::PersistenceEngine,
        MapError::UnknownService,
        MapError::MixedFamilies,
    ];
    let reasons: std::collections::HashSet<_> = all.iter().map(|e| e.reason()).collect();
    assert_eq!(reasons.len(), all.len());
}

#[test]
fn an_ftp_data_connection_belongs_to_the_ftp_service_on_its_address() {
    let ftp = ServiceKey::endpoint(addr("192.0.2.10").ip(), 2121, Protocol::Tcp);
    let helper = LocalService {
        persistent: false,
        ftp: true,
    };
    let here = HashMap::from([(ftp, helper)]);
    let t = Timeouts::default();
    // Active mode: the server connects back from port 20, seen as VIP:20.
    let active = ConnRecord {
        service: ftp,
        vport: 20,
        real_port: 20,
        cport: 50000,
        ..record()
    };
    let c = over_the_wire(&from_record(&active).unwrap());
    // No service of its own...
    assert_eq!(
        to_record(&c, |k| here.get(k).copied(), &t),
        Err(MapError::UnknownService)
    );
    // ...the FTP service on its address, whatever that one's port.
    let back = to_ftp_data_record(&c, (ftp, helper), &t).unwrap();
    assert_eq!(
        back,
        ConnRecord {
            client_mac: None,
            client_ifindex: None,
            seq_offset: None,
            ..active
        }
    );
    // Passive: the port the server announced, the same on both sides.
    let passive = ConnRecord {
        vport: 40123,
        real_port: 40123,
        ..active
    };
    let c = over_the_wire(&from_record(&passive).unwrap());
    assert_eq!(
        to_ftp_data_record(&c, (ftp, helper), &t).map(|r| r.vport),
        Ok(40123)
    );
    // Nothing else reaches the FTP service's servers that way: other
    // ports on each side, a privileged port, UDP, or a service without
    // its helper.
    for (vport, real_port) in [(22, 22), (40123, 8080), (20, 21)] {
        let other = ConnRecord {
            vport,
            real_port,
            ..active
        };
        let c = over_the_wire(&from_record(&other).unwrap());
        assert_eq!(
            to_ftp_data_record(&c, (ftp, helper), &t),
            Err(MapError::UnknownService),
            "{vport} -> {real_port}"
        );
    }
    let udp = ConnRecord {
        proto: Protocol::Udp,
        state: TcpState::None,
        ..passive
    };
    let c = over_the_wire(&from_record(&udp).unwrap());
    assert_eq!(
        to_ftp_data_record(&c, (ftp, helper), &t),
        Err(MapError::UnknownService)
    );
    let c = over_the_wire(&from_record(&passive).unwrap());
    let plain = LocalService {
        persistent: false,
        ftp: false,
    };
    assert_eq!(
        to_ftp_data_record(&c, (ftp, plain), &t),
        Err(MapError::UnknownService)
    );
}

#[test]
fn a_syn_proxied_connection_carries_its_offset_in_the_sequence_option() {
    let rec = ConnRecord {
        seq_offset: Some(0x8000_0001),
        ..record()
    };
    let c = from_record(&rec).unwrap();
    // As the kernel's ip_vs_seq of the server's stream: OUT_SEQ, one delta
    // from the start; the client's stream untouched.
    assert!(c.flags.contains(ConnFlags::OUT_SEQ) && !c.flags.contains(ConnFlags::IN_SEQ));
    let seq = c.seq.unwrap();
    assert_eq!(
        (
            seq.out_seq.delta,
            seq.out_seq.previous_delta,
            seq.in_seq.delta
        ),
        (0x8000_0001, 0x8000_0001, 0)
    );
    let here = director(&[(web(), false)]);
    let back = to_record(
        &over_the_wire(&c),
        |k| here.get(k).copied(),
        &Timeouts::default(),
    )
    .unwrap();
    assert_eq!(back.seq_offset, Some(0x8000_0001));
    // An FTP helper's offsets (deltas that changed at a segment) are not
    // the SYN proxy's: the daemon hands them to its helper instead.
    let mut ftp = over_the_wire(&c);
    ftp.seq.as_mut().unwrap().out_seq = xlb_sync::SeqData {
        init_seq: 5000,
        delta: 7,
        previous_delta: 0,
    };
    let back = to_record(&ftp, |k| here.get(k).copied(), &Timeouts::default()).unwrap();
    assert_eq!(back.seq_offset, None);
    // Nor on an FTP service.
    let ftp_svc = ServiceKey::endpoint(addr("192.0.2.10").ip(), 21, Protocol::Tcp);
    let on_21 = ConnRecord {
        service: ftp_svc,
        vport: 21,
        ..rec
    };
    let here = director(&[(ftp_svc, false)]);
    let back = to_record(
        &over_the_wire(&from_record(&on_21).unwrap()),
        |k| here.get(k).copied(),
        &Timeouts::default(),
    )
    .unwrap();
    assert_eq!(back.seq_offset, None);
}
