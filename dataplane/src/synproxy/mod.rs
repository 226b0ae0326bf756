//! The SYN proxy of NAT TCP services (as DPVS's synproxy): the director
//! answers a client's SYN itself with a SYN cookie and keeps nothing; only
//! the client's ACK, whose acknowledgement proves it received the cookie at
//! its address, creates a connection, and the director then opens the
//! connection to the real server with the client's own initial sequence
//! number. The two handshakes' server-side numbers differ by a constant
//! (the cookie minus the server's ISN): added to the server's sequence
//! numbers, taken from the client's acknowledgements, for the life of the
//! connection.
//!
//! Neither handshake negotiates window scaling, SACK or timestamps (the
//! cookie cannot carry the client's options, and both ends must agree):
//! windows are at most 64 KiB, the price Linux's own SYN cookies pay
//! without timestamps.

pub mod cookie;
pub mod frames;
pub mod park;

use xlb_model::service::SynProxy;

/// A worker's switch for `auto` services: on while its table holds more
/// half-open connections than the threshold (counted over a sweep pass) or
/// as soon as the table is full and a half-open entry had to be recycled;
/// off again once a pass counts fewer than half the threshold and the
/// cookies it sent in that time would not have filled it either.
#[derive(Debug)]
pub struct Guard {
    threshold: usize,
    engaged: bool,
    cookies_this_pass: usize,
}

impl Guard {
    pub fn new(threshold: usize) -> Guard {
        Guard {
            threshold: threshold.max(1),
            engaged: false,
            cookies_this_pass: 0,
        }
    }

    pub fn set_threshold(&mut self, threshold: usize) {
        self.threshold = threshold.max(1);
    }

    /// Whether a SYN to a service in `mode` is answered with a cookie.
    #[inline]
    pub fn proxies(&self, mode: SynProxy) -> bool {
        match mode {
            SynProxy::On => true,
            SynProxy::Off => false,
            SynProxy::Auto => self.engaged,
        }
    }

    pub fn engaged(&self) -> bool {
        self.engaged
    }

    /// A half-open entry was recycled: the table is full of them.
    pub fn table_overflowed(&mut self) {
        self.engaged = true;
    }

    pub fn cookie_sent(&mut self) {
        self.cookies_this_pass += 1;
    }

    /// A sweep pass ended having seen `half_open` half-open entries.
    pub fn pass_done(&mut self, half_open: usize) {
        if half_open >= self.threshold {
            self.engaged = true;
        } else if half_open < (self.threshold / 2).max(1)
            && self.cookies_this_pass < (self.threshold / 2).max(1)
        {
            self.engaged = false;
        }
        self.cookies_this_pass = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_engages_on_overflow_or_threshold_and_lets_go_with_hysteresis() {
        let mut g = Guard::new(100);
        assert!(g.proxies(SynProxy::On) && !g.proxies(SynProxy::Off));
        assert!(!g.proxies(SynProxy::Auto));
        g.pass_done(99);
        assert!(!g.engaged());
        g.pass_done(100);
        assert!(g.proxies(SynProxy::Auto));
        // Below the threshold but not below half: stays on.
        g.pass_done(60);
        assert!(g.engaged());
        // Few entries, but only because the cookies answered the flood.
        for _ in 0..50 {
            g.cookie_sent();
        }
        g.pass_done(10);
        assert!(g.engaged());
        g.pass_done(10);
        assert!(!g.engaged(), "a quiet pass lets go");
        g.table_overflowed();
        assert!(g.engaged());
        assert!(!g.proxies(SynProxy::Off), "off is off, flood or not");
    }
}
