//! Packing records into datagrams as a kernel master does
//! (ip_vs_sync_conn): a record goes whole into the open message if it fits
//! with the zero padding that brings it to a multiple of 4 from the
//! message's start, else the message is closed and the record opens the
//! next. The last record is not padded; the size field counts the header,
//! the records and the padding between them.
//!
//! Two ways to use it:
//! - [`MessageWriter`] fills one caller buffer and allocates nothing;
//! - [`Encoder`] hands back finished datagrams, one `Vec` per datagram
//!   and no allocation per record.

use crate::conn::SyncConn;
use crate::wire::{self, HEADER_LEN, MAX_CONNS, MAX_PE_DATA, MAX_PE_NAME, MAX_RECORD_LEN};
use xlb_model::Family;

/// The payload a kernel master fills when no length is configured: it
/// assumes an MTU of 1500, whatever the interface's, less the IPv4 and
/// UDP headers (20 + 8) or the IPv6 and UDP ones (40 + 8).
pub const KERNEL_MASTER_PAYLOAD_V4: usize = 1500 - 20 - 8;
pub const KERNEL_MASTER_PAYLOAD_V6: usize = 1500 - 40 - 8;

/// Room for the header and the longest record, so that no record is ever
/// too big for a datagram of its own.
pub const MIN_PAYLOAD: usize = HEADER_LEN + MAX_RECORD_LEN;

/// The size field is 16 bits.
pub const MAX_PAYLOAD: usize = u16::MAX as usize;

/// The UDP payload of one unfragmented datagram to a group of `group`'s
/// family over a link of `mtu` (the kernel's rule: MTU less IP and UDP
/// headers).
pub fn payload_for_mtu(mtu: u32, group: Family) -> usize {
    let headers = match group {
        Family::V4 => 20 + 8,
        Family::V6 => 40 + 8,
    };
    (mtu.min(u32::from(u16::MAX)) as usize).saturating_sub(headers)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// [`MessageWriter::push`]: the record does not fit (or the message
    /// already holds 255).
    #[error("the message is full")]
    Full,
    #[error("a payload of {payload} bytes is below the {min} a record may need")]
    PayloadTooSmall { payload: usize, min: usize },
    #[error("a payload of {payload} bytes is beyond the {max} the size field can say")]
    PayloadTooLarge { payload: usize, max: usize },
    #[error("persistence engine data of {len} bytes; 1 to 255 can be sent")]
    PeDataLength { len: usize },
    #[error("persistence engine name of {len} bytes; 1 to 16 can be sent")]
    PeNameLength { len: usize },
}

/// The record's length, once it is known to be sendable.
fn checked_len(c: &SyncConn) -> Result<usize, EncodeError> {
    if let Some(pe) = &c.pe {
        if !(1..=MAX_PE_DATA).contains(&pe.data.len()) {
            return Err(EncodeError::PeDataLength { len: pe.data.len() });
        }
        if !(1..=MAX_PE_NAME).contains(&pe.name.len()) {
            return Err(EncodeError::PeNameLength { len: pe.name.len() });
        }
    }
    Ok(wire::conn::len(c))
}

/// Where a message under construction stands.
#[derive(Debug, Clone, Copy)]
struct Fill {
    sync_id: u8,
    /// Bytes used, header included.
    len: usize,
    count: u8,
}

impl Fill {
    fn new(sync_id: u8) -> Fill {
        Fill {
            sync_id,
            len: HEADER_LEN,
            count: 0,
        }
    }

    /// Appends `c` to the message in `buf` (whose length is the limit),
    /// header kept current; `buf` is untouched on error.
    fn push(&mut self, buf: &mut [u8], c: &SyncConn) -> Result<(), EncodeError> {
        let rec = checked_len(c)?;
        let pad = wire::padded(self.len) - self.len;
        let start = self.len + pad;
        let end = start + rec;
        if usize::from(self.count) >= MAX_CONNS || end > buf.len() {
            return Err(EncodeError::Full);
        }
        buf[self.len..start].fill(0);
        wire::conn::write(c, &mut buf[start..end]);
        self.len = end;
        self.count += 1;
        // `end` is within a buffer of at most MAX_PAYLOAD bytes.
        wire::header::write(buf, self.sync_id, self.count, end as u16);
        Ok(())
    }
}

/// One message in a caller's buffer: no allocation at all.
#[derive(Debug)]
pub struct MessageWriter<'b> {
    buf: &'b mut [u8],
    fill: Fill,
}

impl<'b> MessageWriter<'b> {
    /// A message limited to `buf`'s length (at most [`MAX_PAYLOAD`] of it
    /// is used). Unlike [`Encoder`], a buffer smaller than
    /// [`MIN_PAYLOAD`] is allowed: a record too big for it is `Full`.
    pub fn new(buf: &'b mut [u8], sync_id: u8) -> Result<MessageWriter<'b>, EncodeError> {
        if buf.len() < HEADER_LEN {
            return Err(EncodeError::PayloadTooSmall {
                payload: buf.len(),
                min: HEADER_LEN,
            });
        }
        let limit = buf.len().min(MAX_PAYLOAD);
        let buf = &mut buf[..limit];
        let fill = Fill::new(sync_id);
        wire::header::write(buf, sync_id, 0, HEADER_LEN as u16);
        Ok(MessageWriter { buf, fill })
    }

    pub fn push(&mut self, c: &SyncConn) -> Result<(), EncodeError> {
        self.fill.push(self.buf, c)
    }

    /// Records in the message.
    pub fn count(&self) -> usize {
        usize::from(self.fill.count)
    }

    pub fn is_empty(&self) -> bool {
        self.fill.count == 0
    }

    /// Bytes of the datagram so far.
    pub fn len(&self) -> usize {
        self.fill.len
    }

    /// The datagram as it stands (a valid message, even when empty).
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.fill.len]
    }

    /// The finished datagram, borrowed from the caller's buffer.
    pub fn finish(self) -> &'b [u8] {
        let MessageWriter { buf, fill } = self;
        &buf[..fill.len]
    }
}

/// Packs a stream of records into datagrams of at most `max_payload`
/// bytes, like a kernel master's sync buffer; the daemon decides when to
/// [`finish`](Encoder::finish) (the kernel sends a partly filled message
/// after 2 s).
#[derive(Debug, Clone)]
pub struct Encoder {
    /// The open message, `max_payload` bytes long.
    buf: Vec<u8>,
    fill: Fill,
    done: Vec<Vec<u8>>,
}

impl Encoder {
    pub fn new(sync_id: u8, max_payload: usize) -> Result<Encoder, EncodeError> {
        if max_payload < MIN_PAYLOAD {
            return Err(EncodeError::PayloadTooSmall {
                payload: max_payload,
                min: MIN_PAYLOAD,
            });
        }
        if max_payload > MAX_PAYLOAD {
            return Err(EncodeError::PayloadTooLarge {
                payload: max_payload,
                max: MAX_PAYLOAD,
            });
        }
        Ok(Encoder {
            buf: vec![0; max_payload],
            fill: Fill::new(sync_id),
            done: Vec::new(),
        })
    }

    /// Datagrams that fit `mtu` unfragmented, sent to a group of `group`'s
    /// family.
    pub fn for_mtu(sync_id: u8, mtu: u32, group: Family) -> Result<Encoder, EncodeError> {
        Encoder::new(sync_id, payload_for_mtu(mtu, group))
    }

    /// Adds a record, closing the open message first if it would not fit.
    /// Only a record that cannot be sent at all is an error, and leaves
    /// everything as it was.
    pub fn push(&mut self, c: &SyncConn) -> Result<(), EncodeError> {
        match self.fill.push(&mut self.buf, c) {
            Err(EncodeError::Full) => {
                self.seal();
                // An empty message takes any record: max_payload >= MIN_PAYLOAD.
                self.fill.push(&mut self.buf, c)
            }
            other => other,
        }
    }

    /// Records in the open message.
    pub fn pending(&self) -> usize {
        usize::from(self.fill.count)
    }

    /// Datagrams closed so far, not yet taken.
    pub fn ready(&self) -> usize {
        self.done.len()
    }

    fn seal(&mut self) {
        if self.fill.count > 0 {
            self.done.push(self.buf[..self.fill.len].to_vec());
        }
        self.fill = Fill::new(self.fill.sync_id);
    }

    /// Every datagram, the open one included, in order; the encoder is
    /// empty afterwards.
    pub fn finish(&mut self) -> Vec<Vec<u8>> {
        self.seal();
        std::mem::take(&mut self.done)
    }

    /// Only the datagrams already closed; the open one stays open.
    pub fn take_ready(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.done)
    }
}

/// All of `conns` in as few datagrams as packing in order allows.
pub fn encode<'c>(
    sync_id: u8,
    max_payload: usize,
    conns: impl IntoIterator<Item = &'c SyncConn>,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    let mut enc = Encoder::new(sync_id, max_payload)?;
    for c in conns {
        enc.push(c)?;
    }
    Ok(enc.finish())
}
