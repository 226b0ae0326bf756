//! Connections handed to a worker from outside it (connection sync, the
//! operator): a bounded lock-free queue the worker drains at a batch
//! boundary into its own table, so the table keeps its single writer.
//!
//! An idle worker sleeps in poll() for up to 50 ms; the inbox's doorbell
//! (an eventfd in the worker's poll set) wakes it when records arrive, so
//! that a synced connection is in the table within a tick, not a sleep.

use crossbeam::queue::ArrayQueue;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use xlb_model::ConnRecord;

/// Records a worker takes per batch at most (bounds the pause it adds).
pub const PER_BATCH: usize = 256;

pub struct Inbox {
    queue: ArrayQueue<ConnRecord>,
    /// None if the kernel refused an eventfd: the worker then finds the
    /// records when it next wakes on its own.
    doorbell: Option<OwnedFd>,
}

impl Inbox {
    pub fn new(capacity: usize) -> Inbox {
        // SAFETY: eventfd takes no pointers; a non-negative result is a
        // new descriptor that nothing else owns.
        let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        Inbox {
            queue: ArrayQueue::new(capacity.max(1)),
            // SAFETY: fd is a fresh descriptor owned by nobody else.
            doorbell: (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) }),
        }
    }

    /// Hand a connection over; gives it back when the inbox is full (the
    /// worker is behind: the caller counts it, or retries later).
    pub fn push(&self, rec: ConnRecord) -> Result<(), ConnRecord> {
        self.queue.push(rec)
    }

    /// Wake the worker if it sleeps (once per handed-over batch, not per
    /// record: it is a syscall).
    pub fn ring(&self) {
        if let Some(fd) = &self.doorbell {
            let one = 1u64.to_ne_bytes();
            // SAFETY: writes 8 bytes from a live array to our own eventfd;
            // a full counter (EAGAIN) already means "wake up".
            unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        }
    }

    /// The descriptor that becomes readable when rung.
    pub(crate) fn doorbell_fd(&self) -> Option<RawFd> {
        self.doorbell.as_ref().map(|fd| fd.as_raw_fd())
    }

    /// Reset the doorbell after waking on it.
    pub(crate) fn answer(&self) {
        if let Some(fd) = &self.doorbell {
            let mut count = [0u8; 8];
            // SAFETY: reads at most 8 bytes into a live array from our own
            // non-blocking eventfd.
            unsafe { libc::read(fd.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn readable(inbox: &Inbox) -> bool {
        let mut p = libc::pollfd {
            fd: inbox.doorbell_fd().expect("an eventfd"),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no wait.
        unsafe { libc::poll(&mut p, 1, 0) };
        p.revents & libc::POLLIN != 0
    }

    #[test]
    fn the_doorbell_wakes_a_poll_until_answered() {
        let inbox = Inbox::new(4);
        assert!(!readable(&inbox));
        inbox.ring();
        inbox.ring();
        assert!(readable(&inbox));
        inbox.answer();
        assert!(!readable(&inbox), "one answer resets any number of rings");
    }
}
