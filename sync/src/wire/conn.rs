//! A record's fixed part (type to timeout, then the addresses) and the
//! framing checks the kernel makes of it before its options, in the
//! kernel's order (ip_vs_process_message, then ip_vs_proc_sync_conn).

use super::options::{self, Options};
use super::{
    RECORD_HEAD_LEN, RECORD_SIZE_MASK, RECORD_VERSION_SHIFT, TYPE_INET6, V4_RECORD_LEN,
    V6_RECORD_LEN,
};
use crate::conn::{Addrs, ConnFlags, FwdMethod, PeData, SyncConn, TEMPLATE_BIT};
use crate::decode::{DecodeError, RecordError};
use xlb_model::Family;
use zerocopy::network_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct RecordHead {
    pub ty: u8,
    pub protocol: u8,
    pub ver_size: U16,
    pub flags: U32,
    pub state: U16,
    pub cport: U16,
    pub vport: U16,
    pub dport: U16,
    pub fwmark: U32,
    pub timeout: U32,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
struct V4Addrs {
    client: [u8; 4],
    vaddr: [u8; 4],
    daddr: [u8; 4],
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
struct V6Addrs {
    client: [u8; 16],
    vaddr: [u8; 16],
    daddr: [u8; 16],
}

const _: () = assert!(size_of::<RecordHead>() == RECORD_HEAD_LEN);
const _: () = assert!(RECORD_HEAD_LEN + size_of::<V4Addrs>() == V4_RECORD_LEN);
const _: () = assert!(RECORD_HEAD_LEN + size_of::<V6Addrs>() == V6_RECORD_LEN);

/// A record whose framing is sound, borrowed from the datagram.
#[derive(Debug)]
pub(crate) struct RecordView<'a> {
    head: RecordHead,
    addrs: Addrs,
    opts: Options<'a>,
    /// From `ver_size`: the record's bytes, options included.
    pub size: usize,
}

/// Record `index`, at the start of `rest` (which runs to the datagram's
/// end).
pub(crate) fn parse(rest: &[u8], index: u8) -> Result<RecordView<'_>, DecodeError> {
    // Even an IPv6 record must leave room for the IPv4 fixed part before
    // its size is read, as in the kernel.
    let short = DecodeError::ShortRecord {
        index,
        available: rest.len(),
    };
    if rest.len() < V4_RECORD_LEN {
        return Err(short);
    }
    let Ok((head, _)) = RecordHead::read_from_prefix(rest) else {
        return Err(short);
    };
    let ver_size = head.ver_size.get();
    let size = usize::from(ver_size & RECORD_SIZE_MASK);
    let Some(record) = rest.get(..size) else {
        return Err(DecodeError::RecordOverrun {
            index,
            size,
            available: rest.len(),
        });
    };
    let version = (ver_size >> RECORD_VERSION_SHIFT) as u8;
    if version != 0 {
        return Err(DecodeError::RecordVersion { index, version });
    }
    let family = match head.ty {
        0 => Family::V4,
        TYPE_INET6 => Family::V6,
        ty => return Err(DecodeError::UnknownRecordType { index, ty }),
    };
    let fixed = match family {
        Family::V4 => V4_RECORD_LEN,
        Family::V6 => V6_RECORD_LEN,
    };
    let Some((fixed_bytes, opt_bytes)) = record.split_at_checked(fixed) else {
        return Err(DecodeError::FamilyLength {
            index,
            family,
            size,
        });
    };
    let addr_bytes = &fixed_bytes[RECORD_HEAD_LEN..];
    let addrs = match family {
        Family::V4 => {
            let Ok(a) = V4Addrs::read_from_bytes(addr_bytes) else {
                return Err(DecodeError::FamilyLength {
                    index,
                    family,
                    size,
                });
            };
            Addrs::V4 {
                client: a.client.into(),
                vaddr: a.vaddr.into(),
                daddr: a.daddr.into(),
            }
        }
        Family::V6 => {
            let Ok(a) = V6Addrs::read_from_bytes(addr_bytes) else {
                return Err(DecodeError::FamilyLength {
                    index,
                    family,
                    size,
                });
            };
            Addrs::V6 {
                client: a.client.into(),
                vaddr: a.vaddr.into(),
                daddr: a.daddr.into(),
            }
        }
    };
    let opts = options::parse(opt_bytes, index)?;
    Ok(RecordView {
        head,
        addrs,
        opts,
        size,
    })
}

impl RecordView<'_> {
    /// The connection, or why a receiver passes over this record.
    pub(crate) fn to_conn(&self) -> Result<SyncConn, RecordError> {
        if let Some(skip) = self.opts.skip {
            return Err(skip);
        }
        let flags = self.head.flags.get();
        let Some(forwarding) = FwdMethod::from_bits(flags) else {
            return Err(RecordError::UnknownForwarding {
                bits: (flags & FwdMethod::MASK) as u8,
            });
        };
        // A name without data is ignored by the kernel; only both count.
        let pe = match (self.opts.pe_data, self.opts.pe_name) {
            (Some(data), Some(name)) => Some(PeData {
                name: name.to_vec(),
                data: data.to_vec(),
            }),
            _ => None,
        };
        Ok(SyncConn {
            protocol: self.head.protocol,
            forwarding,
            template: flags & TEMPLATE_BIT != 0,
            flags: ConnFlags::from_wire(flags),
            state: self.head.state.get(),
            addrs: self.addrs,
            cport: self.head.cport.get(),
            vport: self.head.vport.get(),
            dport: self.head.dport.get(),
            fwmark: self.head.fwmark.get(),
            timeout: self.head.timeout.get(),
            seq: self.opts.seq,
            pe,
        })
    }
}

/// The record's length, options included (what `ver_size` holds).
pub(crate) fn len(c: &SyncConn) -> usize {
    let fixed = match c.addrs {
        Addrs::V4 { .. } => V4_RECORD_LEN,
        Addrs::V6 { .. } => V6_RECORD_LEN,
    };
    fixed + options::len(c)
}

/// Writes `c` over the first `len(c)` bytes of `out`. The caller checked
/// the PE lengths, so the record is at most `MAX_RECORD_LEN` long and
/// fits the 12 bits of `ver_size`.
pub(crate) fn write(c: &SyncConn, out: &mut [u8]) {
    let size = len(c);
    let (ty, fixed) = match c.addrs {
        Addrs::V4 { .. } => (0, V4_RECORD_LEN),
        Addrs::V6 { .. } => (TYPE_INET6, V6_RECORD_LEN),
    };
    let head = RecordHead {
        ty,
        protocol: c.protocol,
        // Version 0 in the top bits.
        ver_size: U16::new(size as u16 & RECORD_SIZE_MASK),
        flags: U32::new(c.wire_flags()),
        state: U16::new(c.state),
        cport: U16::new(c.cport),
        vport: U16::new(c.vport),
        dport: U16::new(c.dport),
        fwmark: U32::new(c.fwmark),
        timeout: U32::new(c.timeout),
    };
    out[..RECORD_HEAD_LEN].copy_from_slice(head.as_bytes());
    match c.addrs {
        Addrs::V4 {
            client,
            vaddr,
            daddr,
        } => {
            let a = V4Addrs {
                client: client.octets(),
                vaddr: vaddr.octets(),
                daddr: daddr.octets(),
            };
            out[RECORD_HEAD_LEN..fixed].copy_from_slice(a.as_bytes());
        }
        Addrs::V6 {
            client,
            vaddr,
            daddr,
        } => {
            let a = V6Addrs {
                client: client.octets(),
                vaddr: vaddr.octets(),
                daddr: daddr.octets(),
            };
            out[RECORD_HEAD_LEN..fixed].copy_from_slice(a.as_bytes());
        }
    }
    options::write(c, &mut out[fixed..size]);
}
