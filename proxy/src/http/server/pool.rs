//! Idle keep-alive connections to servers, per server: a request reuses
//! one when there is one (HAProxy's http-reuse), else connects.

use super::ServerConn;
use std::sync::Mutex;

/// More idle connections than this to one server are closed.
const MAX_IDLE: usize = 256;

#[derive(Default)]
pub struct Pool {
    idle: Mutex<Vec<ServerConn>>,
}

impl Pool {
    /// An idle connection the server has not closed (nor written to) while
    /// it waited: the runtime's readiness says so without a syscall.
    pub fn take(&self) -> Option<ServerConn> {
        loop {
            let c = {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                idle.pop()?
            };
            if c.still_idle() {
                return Some(c);
            }
        }
    }

    /// Back after a response was read whole from it.
    pub fn put(&self, c: ServerConn) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(c);
        }
    }

    pub fn idle(&self) -> usize {
        self.idle.lock().map_or(0, |v| v.len())
    }
}
