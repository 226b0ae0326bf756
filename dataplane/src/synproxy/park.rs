//! The first data segment a client sends while the director is still
//! opening its connection to the real server (the client's side is
//! established as soon as its ACK leaves, and an HTTP client writes its
//! request at once). Dropped, it would come again only after the client's
//! retransmission timeout, 200 ms at least; kept here, it rides on the ACK
//! that completes the server's handshake. One segment per connection, a
//! fixed number of slots per worker, taken once and forgotten after a few
//! seconds: memory is bounded and nothing is allocated per packet.

/// Slots per worker: connections that may have a segment waiting at once.
pub const SLOTS: usize = 256;
/// The largest segment kept (a full-size Ethernet frame with a VLAN tag).
pub const MAX_FRAME: usize = 1522;
/// Seconds after which a segment nobody took is forgotten.
const KEEP_SECS: u32 = 3;

/// The connection a parked segment belongs to: the client's side of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub client: u32,
    pub vip: u32,
    pub cport: u16,
    pub vport: u16,
}

#[derive(Clone, Copy)]
struct Slot {
    owner: Option<Owner>,
    /// Coarse seconds at which it was parked.
    at: u32,
    len: u16,
}

pub struct Parking {
    slots: Box<[Slot]>,
    bytes: Box<[u8]>,
}

impl Default for Parking {
    fn default() -> Self {
        Parking::new()
    }
}

impl Parking {
    pub fn new() -> Parking {
        Parking {
            slots: vec![
                Slot {
                    owner: None,
                    at: 0,
                    len: 0,
                };
                SLOTS
            ]
            .into_boxed_slice(),
            bytes: vec![0; SLOTS * MAX_FRAME].into_boxed_slice(),
        }
    }

    fn live(s: &Slot, now: u32) -> bool {
        s.owner.is_some() && now.wrapping_sub(s.at) < KEEP_SECS
    }

    /// Keep `frame` for `owner`. False if it already has one (the first
    /// is kept: later ones come again anyway), the frame is too large, or
    /// every slot is taken.
    pub fn park(&mut self, owner: Owner, frame: &[u8], now: u32) -> bool {
        if frame.len() > MAX_FRAME {
            return false;
        }
        let mut free = None;
        for (i, s) in self.slots.iter().enumerate() {
            if Self::live(s, now) {
                if s.owner == Some(owner) {
                    return false;
                }
            } else if free.is_none() {
                free = Some(i);
            }
        }
        let Some(i) = free else {
            return false;
        };
        self.bytes[i * MAX_FRAME..i * MAX_FRAME + frame.len()].copy_from_slice(frame);
        self.slots[i] = Slot {
            owner: Some(owner),
            at: now,
            len: frame.len() as u16,
        };
        true
    }

    /// The frame kept for `owner`, if any, left where it is.
    pub fn peek(&self, owner: Owner, now: u32) -> Option<&[u8]> {
        let i = self
            .slots
            .iter()
            .position(|s| s.owner == Some(owner) && Self::live(s, now))?;
        let len = usize::from(self.slots[i].len);
        Some(&self.bytes[i * MAX_FRAME..i * MAX_FRAME + len])
    }

    /// The frame kept for `owner`, if any; its slot is free again.
    pub fn take(&mut self, owner: Owner, now: u32) -> Option<&[u8]> {
        let i = self
            .slots
            .iter()
            .position(|s| s.owner == Some(owner) && Self::live(s, now))?;
        self.slots[i].owner = None;
        let len = usize::from(self.slots[i].len);
        Some(&self.bytes[i * MAX_FRAME..i * MAX_FRAME + len])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(cport: u16) -> Owner {
        Owner {
            client: 1,
            vip: 2,
            cport,
            vport: 80,
        }
    }

    #[test]
    fn a_segment_is_kept_once_taken_once_and_forgotten_in_time() {
        let mut p = Parking::new();
        assert!(p.park(owner(1), b"first", 10));
        assert!(!p.park(owner(1), b"second", 10), "the first is kept");
        assert_eq!(p.take(owner(2), 10), None);
        assert_eq!(p.take(owner(1), 11), Some(&b"first"[..]));
        assert_eq!(p.take(owner(1), 11), None, "taken once");
        assert!(p.park(owner(3), b"late", 20));
        assert_eq!(p.take(owner(3), 20 + KEEP_SECS), None, "forgotten");
        assert!(!p.park(owner(4), &[0; MAX_FRAME + 1], 30));
    }

    #[test]
    fn the_slots_are_bounded_and_expired_ones_are_reused() {
        let mut p = Parking::new();
        for i in 0..SLOTS as u16 {
            assert!(p.park(owner(i), b"x", 100));
        }
        assert!(!p.park(owner(9999), b"x", 101), "full");
        assert!(
            p.park(owner(9999), b"y", 100 + KEEP_SECS),
            "expired slots reused"
        );
        assert_eq!(p.take(owner(9999), 100 + KEEP_SECS), Some(&b"y"[..]));
    }
}
