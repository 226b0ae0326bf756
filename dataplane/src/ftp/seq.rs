//! Sequence-number offsets of a control connection whose payload the
//! helper resized (IPVS's ip_vs_seq): every later segment of that stream is
//! shifted, and every acknowledgement of it shifted back.

/// `a` is later than `b` in sequence space.
pub(super) fn after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

/// The offsets one direction's rewrites introduced (IPVS's ip_vs_seq).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqAdjust {
    /// Original sequence number of the last rewritten segment.
    init_seq: u32,
    /// Offset for data after that segment, and before it.
    delta: i32,
    prev_delta: i32,
    set: bool,
}

impl SeqAdjust {
    /// The sequence number this stream's segment `seq` carries on the far side.
    pub fn seq(&self, seq: u32) -> u32 {
        if !self.set {
            return seq;
        }
        let d = if after(seq, self.init_seq) {
            self.delta
        } else {
            self.prev_delta
        };
        seq.wrapping_add(d as u32)
    }

    /// An acknowledgement of this stream, mapped back to original numbers.
    pub fn ack(&self, ack: u32) -> u32 {
        if !self.set {
            return ack;
        }
        let d = if after(ack.wrapping_sub(self.delta as u32), self.init_seq) {
            self.delta
        } else {
            self.prev_delta
        };
        ack.wrapping_sub(d as u32)
    }

    /// The segment at `seq` grew by `diff` bytes. A retransmission of the
    /// last rewritten segment is rewritten again but not counted twice.
    pub fn record(&mut self, seq: u32, diff: i32) {
        if diff == 0 || (self.set && seq == self.init_seq) {
            return;
        }
        if self.set && !after(seq, self.init_seq) {
            // An older segment rewritten again: its offset is already in.
            return;
        }
        self.prev_delta = self.delta;
        // Wrapping, as sequence space does (a peer's offsets may be anything).
        self.delta = self.delta.wrapping_add(diff);
        self.init_seq = seq;
        self.set = true;
    }

    /// Some rewrite changed this stream's length.
    pub fn is_set(&self) -> bool {
        self.set
    }

    /// `self` reflects a later rewrite than `other` (which then should
    /// give way to it): copies of one connection's offsets can arrive out
    /// of order, and an older one must not undo a newer one.
    pub fn newer_than(&self, other: &SeqAdjust) -> bool {
        self.set && (!other.set || after(self.init_seq, other.init_seq))
    }

    /// (init_seq, delta, previous delta): IPVS's `ip_vs_seq` fields, as
    /// connection sync carries them; all zero when nothing was rewritten.
    pub fn parts(&self) -> (u32, i32, i32) {
        if self.set {
            (self.init_seq, self.delta, self.prev_delta)
        } else {
            (0, 0, 0)
        }
    }

    /// The adjustment `parts` described (on another director).
    pub fn from_parts(init_seq: u32, delta: i32, prev_delta: i32) -> SeqAdjust {
        SeqAdjust {
            init_seq,
            delta,
            prev_delta,
            set: (init_seq, delta, prev_delta) != (0, 0, 0),
        }
    }

    /// The adjustment as one 128-bit word (it is kept in an atomic).
    pub(super) fn to_bits(self) -> u128 {
        u128::from(self.init_seq)
            | (u128::from(self.delta as u32) << 32)
            | (u128::from(self.prev_delta as u32) << 64)
            | (u128::from(self.set) << 96)
    }

    pub(super) fn from_bits(b: u128) -> SeqAdjust {
        SeqAdjust {
            init_seq: b as u32,
            delta: (b >> 32) as u32 as i32,
            prev_delta: (b >> 64) as u32 as i32,
            set: (b >> 96) & 1 == 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_segments_shift_and_acks_map_back() {
        let mut a = SeqAdjust::default();
        assert_eq!(a.seq(1000), 1000, "nothing rewritten yet");
        // The segment at 1000 grew by 1 byte.
        a.record(1000, 1);
        assert_eq!(a.seq(1000), 1000, "the rewritten segment keeps its seq");
        assert_eq!(a.seq(1050), 1051);
        // The peer acknowledges 1051 (after the rewritten bytes): 1050 originally.
        assert_eq!(a.ack(1051), 1050);
        assert_eq!(a.ack(900), 900, "an ack before the rewrite");
        // A retransmission of the same segment is not counted twice.
        a.record(1000, 1);
        assert_eq!(a.seq(1050), 1051);
        // A second rewrite further on, shrinking by 2.
        a.record(2000, -2);
        assert_eq!(a.seq(2000), 2001, "the previous offset");
        assert_eq!(a.seq(2100), 2099);
        assert_eq!(a.ack(2099), 2100);
        // Across the wrap of sequence space.
        let mut w = SeqAdjust::default();
        w.record(u32::MAX - 10, 3);
        assert_eq!(w.seq(5), 8);
        assert_eq!(w.ack(8), 5);
    }

    #[test]
    fn the_parts_rebuild_the_same_mapping() {
        let mut a = SeqAdjust::default();
        assert_eq!(a.parts(), (0, 0, 0));
        assert_eq!(SeqAdjust::from_parts(0, 0, 0), a);
        a.record(1000, 1);
        a.record(2000, -3);
        let (i, d, p) = a.parts();
        let b = SeqAdjust::from_parts(i, d, p);
        assert_eq!(b, a);
        for x in [999, 1500, 2000, 2500] {
            assert_eq!((b.seq(x), b.ack(x)), (a.seq(x), a.ack(x)));
        }
    }

    #[test]
    fn a_later_rewrite_is_newer() {
        let none = SeqAdjust::default();
        let mut one = SeqAdjust::default();
        one.record(1000, 1);
        let mut two = one;
        two.record(2000, 1);
        assert!(one.newer_than(&none) && two.newer_than(&one));
        assert!(!one.newer_than(&two) && !none.newer_than(&one));
        assert!(!one.newer_than(&one), "the same one is not newer");
    }

    #[test]
    fn the_packed_form_round_trips() {
        let mut a = SeqAdjust::default();
        assert_eq!(SeqAdjust::from_bits(a.to_bits()), a);
        a.record(u32::MAX - 1, -70_000);
        a.record(5, 3);
        assert_eq!(SeqAdjust::from_bits(a.to_bits()), a);
    }
}
