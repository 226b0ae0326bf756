//! Single-producer/single-consumer rings shared with the kernel. We cache the
//! other side's index and re-read it (one acquire load) only when the cache
//! says the ring is full/empty, so a batch costs two atomic operations.

use std::sync::atomic::{AtomicU32, Ordering};

/// The mapping behind one ring; unmapped on drop.
pub(super) struct Mapping {
    pub ptr: *mut libc::c_void,
    pub len: usize,
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len are exactly what mmap returned for this ring, and
        // no ring pointer outlives its Mapping (both live in the same ring).
        unsafe { libc::munmap(self.ptr, self.len) };
    }
}

pub(super) struct RawRing<T> {
    pub producer: *const AtomicU32,
    pub consumer: *const AtomicU32,
    pub flags: *const AtomicU32,
    pub descs: *mut T,
    pub mask: u32,
    pub size: u32,
    pub _map: Mapping,
}

// SAFETY: the ring memory is owned by this process's mapping and accessed
// only through &mut self methods of the one thread owning the socket.
unsafe impl<T> Send for RawRing<T> {}

impl<T> RawRing<T> {
    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into the live mapping at the offset the kernel gave.
        unsafe { &*self.producer }
    }
    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as above.
        unsafe { &*self.consumer }
    }
    fn needs_wakeup(&self) -> bool {
        // SAFETY: as above; the flags word exists since Linux 5.4.
        unsafe { &*self.flags }.load(Ordering::Relaxed) & super::sys::XDP_RING_NEED_WAKEUP != 0
    }
}

/// A ring we fill and the kernel drains (fill ring, TX ring).
pub struct ProducerRing<T> {
    raw: RawRing<T>,
    cached_prod: u32,
    cached_cons: u32,
}

impl<T: Copy> ProducerRing<T> {
    pub(super) fn new(raw: RawRing<T>) -> Self {
        let cached_prod = raw.producer().load(Ordering::Relaxed);
        let cached_cons = raw
            .consumer()
            .load(Ordering::Relaxed)
            .wrapping_add(raw.size);
        ProducerRing {
            raw,
            cached_prod,
            cached_cons,
        }
    }

    /// Free slots, re-reading the kernel's consumer index only if needed.
    pub fn free(&mut self, wanted: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        if free >= wanted {
            return free;
        }
        self.cached_cons = self
            .raw
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(self.raw.size);
        self.cached_cons.wrapping_sub(self.cached_prod)
    }

    /// Write as many of `items` as fit and publish them; returns how many.
    pub fn produce(&mut self, items: &[T]) -> usize {
        let n = (self.free(items.len() as u32) as usize).min(items.len());
        for (k, item) in items[..n].iter().enumerate() {
            let slot = self.cached_prod.wrapping_add(k as u32) & self.raw.mask;
            // SAFETY: slot <= mask < size, inside the descriptor array, and
            // the slot is ours: it lies between the kernel's consumer and
            // our producer index.
            unsafe { self.raw.descs.add(slot as usize).write(*item) };
        }
        if n > 0 {
            self.cached_prod = self.cached_prod.wrapping_add(n as u32);
            self.raw
                .producer()
                .store(self.cached_prod, Ordering::Release);
        }
        n
    }

    /// Entries published but not yet taken by the kernel.
    pub fn outstanding(&self) -> u32 {
        self.cached_prod
            .wrapping_sub(self.raw.consumer().load(Ordering::Acquire))
    }

    pub fn needs_wakeup(&self) -> bool {
        self.raw.needs_wakeup()
    }
}

/// A ring the kernel fills and we drain (RX ring, completion ring).
pub struct ConsumerRing<T> {
    raw: RawRing<T>,
    cached_prod: u32,
    cached_cons: u32,
}

impl<T: Copy> ConsumerRing<T> {
    pub(super) fn new(raw: RawRing<T>) -> Self {
        let cached_cons = raw.consumer().load(Ordering::Relaxed);
        ConsumerRing {
            cached_prod: cached_cons,
            cached_cons,
            raw,
        }
    }

    /// Copy up to `out.len()` entries out and release their slots.
    pub fn consume(&mut self, out: &mut [T]) -> usize {
        let mut avail = self.cached_prod.wrapping_sub(self.cached_cons);
        if avail == 0 {
            self.cached_prod = self.raw.producer().load(Ordering::Acquire);
            avail = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        let n = (avail as usize).min(out.len());
        for (k, o) in out[..n].iter_mut().enumerate() {
            let slot = self.cached_cons.wrapping_add(k as u32) & self.raw.mask;
            // SAFETY: slot < size; the kernel published it (producer index
            // read with acquire) and will not touch it until we release it.
            *o = unsafe { self.raw.descs.add(slot as usize).read() };
        }
        if n > 0 {
            self.cached_cons = self.cached_cons.wrapping_add(n as u32);
            self.raw
                .consumer()
                .store(self.cached_cons, Ordering::Release);
        }
        n
    }

    pub fn needs_wakeup(&self) -> bool {
        self.raw.needs_wakeup()
    }
}
