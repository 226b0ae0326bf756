//! Connections handed to a worker from outside it (connection sync, the
//! operator): a bounded lock-free queue the worker drains at a batch
//! boundary into its own table, so the table keeps its single writer.

use crossbeam::queue::ArrayQueue;
use xlb_model::ConnRecord;

/// Records a worker takes per batch at most (bounds the pause it adds).
pub const PER_BATCH: usize = 256;

pub struct Inbox {
    queue: ArrayQueue<ConnRecord>,
}

impl Inbox {
    pub fn new(capacity: usize) -> Inbox {
        Inbox {
            queue: ArrayQueue::new(capacity.max(1)),
        }
    }

    /// Hand a connection over; gives it back when the inbox is full (the
    /// worker is behind: the caller counts it, or retries later).
    pub fn push(&self, rec: ConnRecord) -> Result<(), ConnRecord> {
        self.queue.push(rec)
    }

    pub(crate) fn pop(&self) -> Option<ConnRecord> {
        self.queue.pop()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }
}
