//! Single-producer/single-consumer rings shared with the kernel. We cache the
//! other side's index and re-read it (one acquire load) only when the cache
//! says the ring is full/empty, so a batch costs two atomic operations.

use std::sync::atomic::{AtomicU32, Ordering};

/// The memory behind one ring: the kernel's mapping, or (tests) the heap.
pub(super) enum Mapping {
    Mmap {
        ptr: *mut libc::c_void,
        len: usize,
    },
    #[cfg(test)]
    Heap(#[allow(dead_code)] Box<[u64]>), // kept only to own the memory
}

impl Drop for Mapping {
    fn drop(&mut self) {
        match *self {
            Mapping::Mmap { ptr, len } => {
                // SAFETY: ptr/len are exactly what mmap returned for this
                // ring, and no ring pointer outlives its Mapping (same struct).
                unsafe { libc::munmap(ptr, len) };
            }
            #[cfg(test)]
            Mapping::Heap(_) => {}
        }
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

#[cfg(test)]
impl<T> RawRing<T> {
    /// A ring in ordinary memory, for tests that play the kernel's side.
    pub(super) fn in_memory(size: u32) -> RawRing<T> {
        assert!(size.is_power_of_two());
        // Three index words (padded to u64) then the descriptors.
        let words = 3 + (size as usize * std::mem::size_of::<T>()).div_ceil(8);
        let mut mem = vec![0u64; words].into_boxed_slice();
        let base = mem.as_mut_ptr();
        // SAFETY: all offsets lie inside `mem`, which the ring owns.
        unsafe {
            RawRing {
                producer: base.cast(),
                consumer: base.add(1).cast(),
                flags: base.add(2).cast(),
                descs: base.add(3).cast(),
                mask: size - 1,
                size,
                _map: Mapping::Heap(mem),
            }
        }
    }

    /// Play the kernel consuming `n` entries; returns them.
    pub(super) fn kernel_consume(&mut self, n: u32) -> Vec<T>
    where
        T: Copy,
    {
        let cons = self.consumer().load(Ordering::Relaxed);
        let prod = self.producer().load(Ordering::Relaxed);
        let n = n.min(prod.wrapping_sub(cons));
        let out = (0..n)
            // SAFETY: entries between consumer and producer are published.
            .map(|k| unsafe {
                self.descs
                    .add((cons.wrapping_add(k) & self.mask) as usize)
                    .read()
            })
            .collect();
        self.consumer()
            .store(cons.wrapping_add(n), Ordering::Release);
        out
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

    #[cfg(test)]
    pub(super) fn raw_mut(&mut self) -> &mut RawRing<T> {
        &mut self.raw
    }
}

/// Move up to `max` frames from the tail of `pool` into the fill ring:
/// exactly the frames the ring accepted leave the pool. Returns how many.
pub fn refill(fill: &mut ProducerRing<u64>, pool: &mut Vec<u64>, max: usize) -> usize {
    let room = fill.free(max as u32) as usize;
    let n = pool.len().min(max).min(room);
    if n == 0 {
        return 0;
    }
    let start = pool.len() - n;
    let done = fill.produce(&pool[start..]);
    debug_assert_eq!(done, n, "the ring had room for every frame");
    pool.truncate(start);
    n
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn refill_never_duplicates_or_loses_a_frame() {
        let mut fill = ProducerRing::new(RawRing::<u64>::in_memory(8));
        let mut pool: Vec<u64> = (0..20).map(|i| i * 4096).collect();
        let mut in_kernel: Vec<u64> = Vec::new();
        // The kernel takes a few entries at a time; frames it used come back.
        for round in 0..50u32 {
            refill(&mut fill, &mut pool, 5);
            let taken = fill.raw_mut().kernel_consume(round % 4);
            in_kernel.extend(taken);
            if in_kernel.len() > 6 {
                pool.extend(in_kernel.drain(..3));
            }
            let ring_len = fill.outstanding() as usize;
            let all: Vec<u64> = pool.iter().chain(in_kernel.iter()).copied().collect();
            let unique: HashSet<u64> = all.iter().copied().collect();
            assert_eq!(
                unique.len(),
                all.len(),
                "a frame is in two places (round {round})"
            );
            assert_eq!(all.len() + ring_len, 20, "a frame was lost (round {round})");
        }
    }

    #[test]
    fn producer_respects_ring_capacity() {
        let mut tx = ProducerRing::new(RawRing::<u64>::in_memory(4));
        assert_eq!(tx.produce(&[1, 2, 3, 4, 5, 6]), 4);
        assert_eq!(tx.produce(&[7]), 0);
        assert_eq!(tx.raw_mut().kernel_consume(2), vec![1, 2]);
        assert_eq!(tx.produce(&[7, 8, 9]), 2);
        assert_eq!(tx.raw_mut().kernel_consume(9), vec![3, 4, 7, 8]);
    }
}
