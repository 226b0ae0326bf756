//! Arrays for the connection tables on transparent huge pages. A table of a
//! million connections spans ~100 MB: on 4 KB pages nearly every lookup also
//! misses the TLB, which no prefetch hides; on 2 MB pages the whole table
//! needs ~50 TLB entries. The memory is mapped, advised (MADV_HUGEPAGE, so
//! it works with THP in "madvise" mode) and, for `zeroed`, touched once
//! here, so the hot path never faults. A `reserved` array (the IPv6 slots,
//! which most directors barely use) is backed page by page as it is used.

use std::ops::Deref;
use std::ptr::NonNull;

pub struct HugeArray<T> {
    ptr: NonNull<T>,
    len: usize,
    bytes: usize,
}

// SAFETY: HugeArray owns its elements like a Box<[T]>; sharing or sending it
// is as safe as sharing or sending the elements.
unsafe impl<T: Send> Send for HugeArray<T> {}
// SAFETY: as above; only shared references to the elements are handed out.
unsafe impl<T: Sync> Sync for HugeArray<T> {}

impl<T> HugeArray<T> {
    /// `len` elements, every byte zero.
    ///
    /// # Safety
    /// An all-zero `T` must be a valid value (integers, atomics, arrays of
    /// them), and `T` must need no more than page alignment.
    pub unsafe fn zeroed(len: usize) -> HugeArray<T> {
        // SAFETY: the caller's promise, passed on.
        let a = unsafe { HugeArray::<T>::reserved(len) };
        // Fault every page in now (as huge pages where the kernel can).
        let base = a.ptr.as_ptr().cast::<u8>();
        for off in (0..a.bytes).step_by(4096) {
            // SAFETY: off < bytes, inside the mapping; the page is zero and
            // stays zero.
            unsafe { std::ptr::write_volatile(base.add(off), 0) };
        }
        a
    }

    /// `len` elements, every byte zero, with memory only behind the pages
    /// that are used: the first touch of each page faults (once).
    ///
    /// # Safety
    /// As for `zeroed`.
    pub unsafe fn reserved(len: usize) -> HugeArray<T> {
        assert!(std::mem::align_of::<T>() <= 4096);
        let bytes = (len.max(1) * std::mem::size_of::<T>()).max(1);
        // SAFETY: an anonymous private mapping; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            std::alloc::handle_alloc_error(
                std::alloc::Layout::from_size_align(bytes, 4096).expect("valid layout"),
            );
        }
        // SAFETY: the range is the mapping just made. Failure (no THP in
        // this kernel) only means 4 KB pages.
        unsafe { libc::madvise(p, bytes, libc::MADV_HUGEPAGE) };
        HugeArray {
            ptr: NonNull::new(p.cast::<T>()).expect("mmap never returns null on success"),
            len,
            bytes,
        }
    }
}

impl<T> Deref for HugeArray<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: ptr points at `len` initialised (zero-valid, see `zeroed`)
        // elements that live as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for HugeArray<T> {
    fn drop(&mut self) {
        // SAFETY: the elements need no drop beyond their memory (zero-valid
        // plain data); ptr/bytes are exactly the mapping.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.bytes) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn elements_start_zero_and_are_writable() {
        // SAFETY: an all-zero AtomicU64 is 0.
        let a: HugeArray<AtomicU64> = unsafe { HugeArray::zeroed(1 << 20) };
        assert_eq!(a.len(), 1 << 20);
        assert!(a
            .iter()
            .step_by(4099)
            .all(|x| x.load(Ordering::Relaxed) == 0));
        a[12345].store(7, Ordering::Relaxed);
        assert_eq!(a[12345].load(Ordering::Relaxed), 7);
    }
}
