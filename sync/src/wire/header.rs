//! The message header, and the checks the kernel makes of it before any
//! record, in the kernel's order (ip_vs_process_message): length, size
//! field, then version.

use super::{HEADER_LEN, V0_HEADER_LEN, VERSION};
use crate::decode::DecodeError;
use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

#[derive(FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned, Clone, Copy, Debug)]
#[repr(C)]
pub(crate) struct Header {
    /// Where version 0 kept its count: 0 in version 1, so that a version 0
    /// receiver sees an empty message.
    pub reserved: u8,
    pub sync_id: u8,
    /// The whole datagram, header included.
    pub size: U16,
    pub count: u8,
    pub version: u8,
    /// Zero. The kernel declares it in host order, which zero makes moot.
    pub spare: [u8; 2],
}

const _: () = assert!(size_of::<Header>() == HEADER_LEN);

/// The sync id and record count of a version 1 message.
pub(crate) fn parse(buf: &[u8]) -> Result<(u8, u8), DecodeError> {
    if buf.len() < V0_HEADER_LEN {
        return Err(DecodeError::ShortHeader { len: buf.len() });
    }
    // Both versions keep the size at offset 2 and the sync id at 1.
    let size = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
    if size != buf.len() {
        return Err(DecodeError::SizeMismatch {
            size,
            len: buf.len(),
        });
    }
    if buf[0] != 0 {
        return Err(DecodeError::Version0 {
            count: buf[0],
            sync_id: buf[1],
        });
    }
    let Ok((h, _)) = Header::read_from_prefix(buf) else {
        return Err(DecodeError::ShortHeader { len: buf.len() });
    };
    if h.version != VERSION {
        return Err(DecodeError::BadVersion { version: h.version });
    }
    if h.spare != [0, 0] {
        return Err(DecodeError::BadSpare {
            spare: u16::from_be_bytes(h.spare),
        });
    }
    Ok((h.sync_id, h.count))
}

/// Writes the header over the first `HEADER_LEN` bytes of `out`.
pub(crate) fn write(out: &mut [u8], sync_id: u8, count: u8, size: u16) {
    let h = Header {
        reserved: 0,
        sync_id,
        size: U16::new(size),
        count,
        version: VERSION,
        spare: [0, 0],
    };
    out[..HEADER_LEN].copy_from_slice(h.as_bytes());
}
