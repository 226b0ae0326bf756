//! The numbers of the version 1 layout (docs/sync-wire.md has the tables).
//! Every multi-byte field is big-endian, and nothing in a datagram is
//! aligned: records follow one another at 4-byte steps from the start of
//! the message, not of any buffer.

pub(crate) mod conn;
pub(crate) mod header;
pub(crate) mod options;

/// `version` in the message header.
pub const VERSION: u8 = 1;

/// The version 1 message header: reserved, sync id, size, count, version,
/// spare.
pub const HEADER_LEN: usize = 8;

/// The version 0 header (count, sync id, size): only recognised, to say
/// why such a datagram is refused.
pub const V0_HEADER_LEN: usize = 4;

/// The part every record shares before its addresses: type, protocol,
/// version and size, flags, state, three ports, firewall mark, timeout.
pub const RECORD_HEAD_LEN: usize = 24;

/// A record without options, IPv4 (three 4-byte addresses) and IPv6
/// (three 16-byte ones).
pub const V4_RECORD_LEN: usize = RECORD_HEAD_LEN + 3 * 4;
pub const V6_RECORD_LEN: usize = RECORD_HEAD_LEN + 3 * 16;

/// `type` bit 0: the record carries IPv6 addresses.
pub const TYPE_INET6: u8 = 1;

/// The record's own version sits in the top 4 bits of `ver_size`, its
/// length in bytes (options included, padding not) in the low 12.
pub const RECORD_SIZE_MASK: u16 = 0x0fff;
pub const RECORD_VERSION_SHIFT: u32 = 12;

/// Option types. An option is a type byte, a length byte (of the data
/// only, never 0) and the data; options are not padded one by one.
pub const OPT_SEQ_DATA: u8 = 1;
pub const OPT_PE_DATA: u8 = 2;
pub const OPT_PE_NAME: u8 = 3;
/// Set in an option's type: a receiver that does not know the option
/// skips it; without it an unknown option makes the record unusable.
pub const OPT_OPTIONAL: u8 = 0x40;

/// The sequence option's data: the incoming then the outgoing
/// adjustment, each initial sequence, delta and previous delta (4 bytes).
pub const SEQ_DATA_LEN: usize = 24;
pub const SEQ_OPTION_LEN: usize = 2 + SEQ_DATA_LEN;

/// Longest persistence-engine data and name the kernel accepts.
pub const MAX_PE_DATA: usize = 255;
pub const MAX_PE_NAME: usize = 16;

/// The longest record: IPv6, sequence option, longest PE data and name.
pub const MAX_RECORD_LEN: usize =
    V6_RECORD_LEN + SEQ_OPTION_LEN + 2 + MAX_PE_DATA + 2 + MAX_PE_NAME;

/// The header's record count is one byte.
pub const MAX_CONNS: usize = u8::MAX as usize;

/// Records start at multiples of 4 from the start of the message.
pub(crate) const fn padded(len: usize) -> usize {
    (len + 3) & !3
}
