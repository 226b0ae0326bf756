//! The options after a record's addresses: type, length, data, repeated
//! to the record's end. Read with the kernel's rules
//! (ip_vs_proc_sync_conn): the optional bit is masked off before the type
//! is matched, an empty or overrunning option or a known one seen twice
//! spoils the whole datagram, an unknown mandatory one only its record.

use super::{
    MAX_PE_NAME, OPT_OPTIONAL, OPT_PE_DATA, OPT_PE_NAME, OPT_SEQ_DATA, SEQ_DATA_LEN, SEQ_OPTION_LEN,
};
use crate::conn::{PeData, SeqData, SeqOptions, SyncConn};
use crate::decode::{DecodeError, RecordError};
use zerocopy::network_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
struct SeqWire {
    init_seq: U32,
    delta: U32,
    previous_delta: U32,
}

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
struct SeqOptionsWire {
    in_seq: SeqWire,
    out_seq: SeqWire,
}

const _: () = assert!(size_of::<SeqOptionsWire>() == SEQ_DATA_LEN);

impl From<SeqWire> for SeqData {
    fn from(w: SeqWire) -> SeqData {
        SeqData {
            init_seq: w.init_seq.get(),
            delta: w.delta.get(),
            previous_delta: w.previous_delta.get(),
        }
    }
}

impl From<SeqData> for SeqWire {
    fn from(s: SeqData) -> SeqWire {
        SeqWire {
            init_seq: U32::new(s.init_seq),
            delta: U32::new(s.delta),
            previous_delta: U32::new(s.previous_delta),
        }
    }
}

/// A record's options, borrowed from the datagram.
#[derive(Debug, Default)]
pub(crate) struct Options<'a> {
    pub seq: Option<SeqOptions>,
    pub pe_data: Option<&'a [u8]>,
    pub pe_name: Option<&'a [u8]>,
    /// The record is to be skipped (the datagram is still good).
    pub skip: Option<RecordError>,
}

/// The options in `bytes` (from the end of the addresses to the record's
/// end) of record `index`.
pub(crate) fn parse(bytes: &[u8], index: u8) -> Result<Options<'_>, DecodeError> {
    let mut o = Options::default();
    let mut rest = bytes;
    while !rest.is_empty() {
        let [ty, len, ref tail @ ..] = *rest else {
            return Err(DecodeError::OptionTruncated { index });
        };
        let len = usize::from(len);
        if len == 0 {
            return Err(DecodeError::EmptyOption { index, ty });
        }
        let Some((data, next)) = tail.split_at_checked(len) else {
            return Err(DecodeError::OptionOverrun {
                index,
                ty,
                len,
                available: tail.len(),
            });
        };
        match ty & !OPT_OPTIONAL {
            OPT_SEQ_DATA => {
                if len != SEQ_DATA_LEN {
                    return Err(DecodeError::SeqLength { index, len });
                }
                if o.seq.is_some() {
                    return Err(DecodeError::DuplicateOption { index, ty });
                }
                let Ok(w) = SeqOptionsWire::read_from_bytes(data) else {
                    return Err(DecodeError::SeqLength { index, len });
                };
                o.seq = Some(SeqOptions {
                    in_seq: w.in_seq.into(),
                    out_seq: w.out_seq.into(),
                });
            }
            // A length byte cannot exceed the data limit of 255.
            OPT_PE_DATA => {
                if o.pe_data.is_some() {
                    return Err(DecodeError::DuplicateOption { index, ty });
                }
                o.pe_data = Some(data);
            }
            OPT_PE_NAME => {
                if len > MAX_PE_NAME {
                    return Err(DecodeError::PeNameTooLong { index, len });
                }
                if o.pe_name.is_some() {
                    return Err(DecodeError::DuplicateOption { index, ty });
                }
                o.pe_name = Some(data);
            }
            _ if ty & OPT_OPTIONAL != 0 => {}
            _ => {
                // The kernel reads no further: whatever follows in this
                // record is not looked at, right or wrong.
                o.skip = Some(RecordError::UnknownMandatoryOption { ty });
                return Ok(o);
            }
        }
        rest = next;
    }
    if o.pe_data.is_some() && o.pe_name.is_none() {
        o.skip = Some(RecordError::PeDataWithoutName);
    }
    Ok(o)
}

/// Bytes the options of `c` take.
pub(crate) fn len(c: &SyncConn) -> usize {
    let seq = if c.seq.is_some() { SEQ_OPTION_LEN } else { 0 };
    let pe =
        c.pe.as_ref()
            .map_or(0, |pe| 2 + pe.data.len() + 2 + pe.name.len());
    seq + pe
}

/// Writes the options of `c` at the start of `out` (exactly `len(c)`
/// bytes), in the kernel's order: sequence, PE data, PE name.
pub(crate) fn write(c: &SyncConn, out: &mut [u8]) {
    let mut at = 0;
    if let Some(seq) = c.seq {
        let w = SeqOptionsWire {
            in_seq: seq.in_seq.into(),
            out_seq: seq.out_seq.into(),
        };
        out[at] = OPT_SEQ_DATA;
        out[at + 1] = SEQ_DATA_LEN as u8;
        out[at + 2..at + SEQ_OPTION_LEN].copy_from_slice(w.as_bytes());
        at += SEQ_OPTION_LEN;
    }
    if let Some(PeData { name, data }) = &c.pe {
        for (ty, bytes) in [(OPT_PE_DATA, data), (OPT_PE_NAME, name)] {
            out[at] = ty;
            // Lengths were checked against 255 and 16 before.
            out[at + 1] = bytes.len() as u8;
            out[at + 2..at + 2 + bytes.len()].copy_from_slice(bytes);
            at += 2 + bytes.len();
        }
    }
}
