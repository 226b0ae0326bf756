//! Connections a worker reports for synchronisation to the other director:
//! a bounded lock-free queue the worker fills as connections start and
//! change state, and the sync sender drains in batches. A full queue loses
//! the update (counted), never blocks the worker.

use crate::conn::Conn;
use crossbeam::queue::ArrayQueue;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

pub struct Outbox {
    queue: ArrayQueue<Conn>,
    /// Sync is running: reports are queued (otherwise they are not made).
    enabled: AtomicBool,
}

impl Outbox {
    pub fn new(capacity: usize) -> Outbox {
        Outbox {
            queue: ArrayQueue::new(capacity.max(1)),
            enabled: AtomicBool::new(false),
        }
    }

    pub fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Relaxed);
        if !on {
            while self.queue.pop().is_some() {}
        }
    }

    /// Report a connection; false when the queue is full.
    pub(crate) fn offer(&self, c: &Conn) -> bool {
        !self.enabled.load(Relaxed) || self.queue.push(*c).is_ok()
    }

    pub fn pop(&self) -> Option<Conn> {
        self.queue.pop()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
