//! Reading a datagram. Two kinds of trouble, as in the kernel:
//!
//! - the framing cannot be trusted (header, a record's size, type or
//!   version, an option's length, padding): [`decode`] refuses the whole
//!   datagram with a [`DecodeError`]. The kernel logs "Dropping buffer"
//!   and stops there, after installing the records before the bad one;
//!   xlb checks the whole datagram first and installs none of it, so one
//!   datagram is one drop with one reason. A kernel master never sends
//!   such a datagram, so the two agree on everything one does send.
//! - one record is well framed but unusable (an unknown mandatory option,
//!   PE data without a name, no such forwarding method): its item in
//!   [`Message::records`] is a [`RecordError`], and the records around it
//!   are good, as the kernel skips that one record alone.
//!
//! Whether a receiver can install a good record (protocol, state, service)
//! is [`crate::map`]'s question.

use crate::conn::SyncConn;
use crate::wire::{self, conn::RecordView, HEADER_LEN};
use xlb_model::Family;

/// Why a datagram was refused whole. [`DecodeError::reason`] names each
/// for counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("{len} bytes: shorter than a message header")]
    ShortHeader { len: usize },
    #[error("size field says {size} bytes, the datagram has {len}")]
    SizeMismatch { size: usize, len: usize },
    #[error(
        "a version 0 message ({count} connections, sync id {sync_id}); only version 1 is spoken"
    )]
    Version0 { count: u8, sync_id: u8 },
    #[error("message version {version}, not 1")]
    BadVersion { version: u8 },
    #[error("spare header field is {spare:#06x}, not 0")]
    BadSpare { spare: u16 },
    #[error("header counts {count} records, the datagram ends after {found}")]
    CountMismatch { count: u8, found: u8 },
    #[error("record {index}: {available} bytes left, fewer than a record's fixed part")]
    ShortRecord { index: u8, available: usize },
    #[error("record {index}: {size} bytes long, {available} left in the datagram")]
    RecordOverrun {
        index: u8,
        size: usize,
        available: usize,
    },
    #[error("record {index}: record version {version}, not 0")]
    RecordVersion { index: u8, version: u8 },
    #[error("record {index}: unknown record type {ty}")]
    UnknownRecordType { index: u8, ty: u8 },
    #[error("record {index}: {size} bytes cannot hold an {} record", family.name())]
    FamilyLength {
        index: u8,
        family: Family,
        size: usize,
    },
    #[error("record {index}: one byte left where an option's type and length should be")]
    OptionTruncated { index: u8 },
    #[error("record {index}: option {ty} has length 0")]
    EmptyOption { index: u8, ty: u8 },
    #[error("record {index}: option {ty} of {len} bytes, {available} left in the record")]
    OptionOverrun {
        index: u8,
        ty: u8,
        len: usize,
        available: usize,
    },
    #[error("record {index}: sequence option of {len} bytes, not 24")]
    SeqLength { index: u8, len: usize },
    #[error("record {index}: persistence engine name of {len} bytes, more than 16")]
    PeNameTooLong { index: u8, len: usize },
    #[error("record {index}: option {ty} given twice")]
    DuplicateOption { index: u8, ty: u8 },
    #[error("record {index}: padding after it is not zero")]
    BadPadding { index: u8 },
    #[error("{extra} bytes after the last record")]
    TrailingBytes { extra: usize },
}

impl DecodeError {
    /// A stable snake_case name per variant, for drop counters.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::ShortHeader { .. } => "short_header",
            DecodeError::SizeMismatch { .. } => "size_mismatch",
            DecodeError::Version0 { .. } => "version0",
            DecodeError::BadVersion { .. } => "bad_version",
            DecodeError::BadSpare { .. } => "bad_spare",
            DecodeError::CountMismatch { .. } => "count_mismatch",
            DecodeError::ShortRecord { .. } => "short_record",
            DecodeError::RecordOverrun { .. } => "record_overrun",
            DecodeError::RecordVersion { .. } => "record_version",
            DecodeError::UnknownRecordType { .. } => "unknown_record_type",
            DecodeError::FamilyLength { .. } => "family_length",
            DecodeError::OptionTruncated { .. } => "option_truncated",
            DecodeError::EmptyOption { .. } => "empty_option",
            DecodeError::OptionOverrun { .. } => "option_overrun",
            DecodeError::SeqLength { .. } => "seq_length",
            DecodeError::PeNameTooLong { .. } => "pe_name_too_long",
            DecodeError::DuplicateOption { .. } => "duplicate_option",
            DecodeError::BadPadding { .. } => "bad_padding",
            DecodeError::TrailingBytes { .. } => "trailing_bytes",
        }
    }
}

/// Why one record of a good datagram is passed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("unknown mandatory option {ty}")]
    UnknownMandatoryOption { ty: u8 },
    #[error("persistence engine data without the engine's name")]
    PeDataWithoutName,
    #[error("forwarding method {bits} does not exist")]
    UnknownForwarding { bits: u8 },
}

impl RecordError {
    pub fn reason(&self) -> &'static str {
        match self {
            RecordError::UnknownMandatoryOption { .. } => "unknown_mandatory_option",
            RecordError::PeDataWithoutName => "pe_data_without_name",
            RecordError::UnknownForwarding { .. } => "unknown_forwarding",
        }
    }
}

/// A datagram whose every byte was accounted for.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    sync_id: u8,
    count: u8,
    datagram: &'a [u8],
}

/// Checks the header, every record's framing and every option, and the
/// padding between records; nothing is allocated.
pub fn decode(datagram: &[u8]) -> Result<Message<'_>, DecodeError> {
    let (sync_id, count) = wire::header::parse(datagram)?;
    let mut at = HEADER_LEN;
    for index in 0..count {
        let rest = match datagram.get(at..) {
            Some(rest) if !rest.is_empty() => rest,
            _ => {
                return Err(DecodeError::CountMismatch {
                    count,
                    found: index,
                })
            }
        };
        let record = wire::conn::parse(rest, index)?;
        let end = at + record.size;
        let next = wire::padded(end);
        let pad = datagram.get(end..next.min(datagram.len())).unwrap_or(&[]);
        if pad.iter().any(|&b| b != 0) {
            return Err(DecodeError::BadPadding { index });
        }
        at = next;
    }
    if at < datagram.len() {
        return Err(DecodeError::TrailingBytes {
            extra: datagram.len() - at,
        });
    }
    Ok(Message {
        sync_id,
        count,
        datagram,
    })
}

impl<'a> Message<'a> {
    pub fn sync_id(&self) -> u8 {
        self.sync_id
    }

    /// Records in the message (the header's count).
    pub fn len(&self) -> usize {
        usize::from(self.count)
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The datagram's length.
    pub fn size(&self) -> usize {
        self.datagram.len()
    }

    /// A kernel backup configured with `own` takes messages of any sync id
    /// when `own` is 0, else only its own (others are ignored, not errors).
    pub fn accepted_by(&self, own: u8) -> bool {
        own == 0 || own == self.sync_id
    }

    /// Every record in order. Each allocates only for PE data.
    pub fn records(&self) -> Records<'a> {
        Records {
            datagram: self.datagram,
            at: HEADER_LEN,
            index: 0,
            count: self.count,
        }
    }
}

/// The records of a [`Message`].
#[derive(Debug, Clone)]
pub struct Records<'a> {
    datagram: &'a [u8],
    at: usize,
    index: u8,
    count: u8,
}

impl Records<'_> {
    fn view(&self) -> Option<RecordView<'_>> {
        let rest = self.datagram.get(self.at..)?;
        wire::conn::parse(rest, self.index).ok()
    }
}

impl Iterator for Records<'_> {
    type Item = Result<SyncConn, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.index >= self.count {
            return None;
        }
        // `decode` checked every record; a failure here cannot happen, and
        // would end the iteration rather than panic.
        let Some((item, size)) = self.view().map(|v| (v.to_conn(), v.size)) else {
            self.index = self.count;
            return None;
        };
        self.at = wire::padded(self.at + size);
        self.index += 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::from(self.count - self.index);
        (n, Some(n))
    }
}

impl ExactSizeIterator for Records<'_> {}
