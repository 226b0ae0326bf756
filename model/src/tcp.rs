//! IPVS's TCP state tracking (net/netfilter/ipvs/ip_vs_proto_tcp.c): the same
//! states, transitions and default timeouts, so `xlbctl` listings and the
//! active/inactive counts that `lc`/`wlc` use mean what they mean in IPVS.
//! The state travels with a connection (listings, connection sync), so it
//! lives in the model; the dataplane drives it.

/// TCP header flag bits the state machine reads.
pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const ACK: u8 = 0x10;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum TcpState {
    None = 0,
    Established,
    SynSent,
    SynRecv,
    FinWait,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    SynAck,
}

/// Which way a packet crossed the director, as IPVS names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Client to real server, replies also seen (NAT).
    Input = 0,
    /// Real server to client (NAT replies).
    Output = 1,
    /// Client to real server when replies bypass the director (DR).
    InputOnly = 2,
}

use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI,
    None as NO, SynAck as SA, SynRecv as SR, SynSent as SS, TimeWait as TW,
};

// [direction][event: syn, fin, ack, rst][current state]
const TABLE: [[[TcpState; 11]; 4]; 3] = [
    [
        [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
        [CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
    ],
    [
        [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
        [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
        [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
        [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
    ],
    [
        [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
        [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
        [CL, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
        [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
    ],
];

impl TcpState {
    /// Before the handshake completed (or no TCP state at all).
    pub fn is_half_open(self) -> bool {
        matches!(
            self,
            TcpState::None
                | TcpState::SynSent
                | TcpState::SynRecv
                | TcpState::SynAck
                | TcpState::Listen
        )
    }

    /// Next state for a segment with flag `bits`; unchanged when it carries none
    /// of SYN, FIN, ACK, RST. Priority as in IPVS: RST, SYN, FIN, ACK.
    pub fn next(self, dir: Direction, bits: u8) -> TcpState {
        let event = if bits & flags::RST != 0 {
            3
        } else if bits & flags::SYN != 0 {
            0
        } else if bits & flags::FIN != 0 {
            1
        } else if bits & flags::ACK != 0 {
            2
        } else {
            return self;
        };
        TABLE[dir as usize][event][self as usize]
    }

    /// The state stored as `self as u8`; unknown values read as NONE.
    pub fn from_u8(v: u8) -> TcpState {
        const ALL: [TcpState; 11] = [NO, ES, SS, SR, FW, TW, CL, CW, LA, LI, SA];
        ALL.get(usize::from(v)).copied().unwrap_or(NO)
    }

    pub fn name(self) -> &'static str {
        match self {
            NO => "NONE",
            ES => "ESTABLISHED",
            SS => "SYN_SENT",
            SR => "SYN_RECV",
            FW => "FIN_WAIT",
            TW => "TIME_WAIT",
            CL => "CLOSE",
            CW => "CLOSE_WAIT",
            LA => "LAST_ACK",
            LI => "LISTEN",
            SA => "SYNACK",
        }
    }
}

/// Idle timeouts in seconds, IPVS defaults (`ipvsadm --set` covers three of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub tcp: [u32; 11],
    pub udp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            // NO, ES, SS, SR, FW, TW, CL, CW, LA, LI, SA
            tcp: [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120],
            udp: 300,
        }
    }
}

impl Timeouts {
    pub fn tcp(&self, s: TcpState) -> u32 {
        self.tcp[s as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    const SYN: u8 = flags::SYN;
    const ACK: u8 = flags::ACK;
    const FIN: u8 = flags::FIN | flags::ACK;
    const RST: u8 = flags::RST;

    #[test]
    fn nat_handshake_and_close_follow_ipvs() {
        let mut s = TcpState::None;
        s = s.next(Direction::Input, SYN);
        assert_eq!(s, TcpState::SynRecv);
        s = s.next(Direction::Output, SYN | ACK);
        assert_eq!(s, TcpState::SynRecv);
        s = s.next(Direction::Input, ACK);
        assert_eq!(s, TcpState::Established);
        s = s.next(Direction::Input, FIN);
        assert_eq!(s, TcpState::CloseWait);
        s = s.next(Direction::Output, FIN);
        assert_eq!(s, TcpState::TimeWait);
    }

    #[test]
    fn dr_sees_only_input_and_rst_closes() {
        let mut s = TcpState::None.next(Direction::InputOnly, SYN);
        s = s.next(Direction::InputOnly, ACK);
        assert_eq!(s, TcpState::Established);
        assert_eq!(s.next(Direction::InputOnly, FIN), TcpState::FinWait);
        assert_eq!(s.next(Direction::InputOnly, RST), TcpState::Close);
        // A bare ACK for an unknown connection is not an established one.
        assert_eq!(TcpState::None.next(Direction::Input, ACK), TcpState::Close);
        // No flags: state kept.
        assert_eq!(s.next(Direction::Input, 0), s);
    }

    #[test]
    fn default_timeouts_are_ipvs_ones() {
        let t = Timeouts::default();
        assert_eq!(t.tcp(TcpState::Established), 900);
        assert_eq!(t.tcp(TcpState::SynRecv), 60);
        assert_eq!(t.tcp(TcpState::FinWait), 120);
        assert_eq!(t.tcp(TcpState::TimeWait), 120);
        assert_eq!(t.tcp(TcpState::Close), 10);
        assert_eq!(t.udp, 300);
    }
}
