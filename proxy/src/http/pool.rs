//! Idle keep-alive connections to servers, per server: a request reuses
//! one when there is one (HAProxy's http-reuse), else connects.

use super::body::ReqBody;
use hyper::client::conn::http1::SendRequest;
use std::sync::Mutex;

/// More idle connections than this to one server are closed.
const MAX_IDLE: usize = 256;

pub type Sender = SendRequest<ReqBody>;

#[derive(Default)]
pub struct Pool {
    idle: Mutex<Vec<Sender>>,
}

impl Pool {
    /// An idle connection still open and ready for a request.
    pub fn take(&self) -> Option<Sender> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(s) = idle.pop() {
            if !s.is_closed() && s.is_ready() {
                return Some(s);
            }
        }
        None
    }

    /// Back after its response was read whole.
    pub fn put(&self, s: Sender) {
        if s.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < MAX_IDLE {
            idle.push(s);
        }
    }

    pub fn idle(&self) -> usize {
        self.idle.lock().map_or(0, |v| v.len())
    }
}
