//! The UMEM: one anonymous mapping of fixed-size frames that every port of a
//! worker receives into and transmits from, so forwarding between NICs moves
//! a descriptor, never the bytes.

use std::io;

pub struct Umem {
    area: *mut u8,
    len: usize,
    frame_size: u32,
    frames: u32,
}

// SAFETY: the mapping is owned by this struct; frames are handed out by
// address and accessed by the one worker thread that owns the Umem.
unsafe impl Send for Umem {}

impl Umem {
    pub fn new(frames: u32, frame_size: u32) -> io::Result<Umem> {
        assert!(frame_size.is_power_of_two() && frame_size >= 2048);
        let len = frames as usize * frame_size as usize;
        // SAFETY: anonymous private mapping; the result is checked below.
        let area = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if area == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Umem {
            area: area.cast(),
            len,
            frame_size,
            frames,
        })
    }

    pub fn area(&self) -> (*mut u8, usize) {
        (self.area, self.len)
    }
    pub fn frame_size(&self) -> u32 {
        self.frame_size
    }
    pub fn frames(&self) -> u32 {
        self.frames
    }
    /// Address of the start of frame `i` (what the fill ring takes).
    pub fn frame_addr(&self, i: u32) -> u64 {
        u64::from(i) * u64::from(self.frame_size)
    }
    /// The frame start of any address inside it (aligned mode).
    pub fn frame_base(&self, addr: u64) -> u64 {
        addr & !(u64::from(self.frame_size) - 1)
    }

    /// Read-only bytes of a received descriptor (see `bytes_mut`).
    #[inline]
    pub fn bytes(&self, addr: u64, len: u32) -> Option<&[u8]> {
        let end = addr.checked_add(u64::from(len))?;
        if end > self.len as u64 {
            return None;
        }
        // SAFETY: [addr, end) lies inside our mapping (checked above); &self
        // rules out a mutable slice of the UMEM being alive.
        Some(unsafe { std::slice::from_raw_parts(self.area.add(addr as usize), len as usize) })
    }

    /// The bytes of a received descriptor, or `None` if the kernel handed us
    /// something outside the UMEM (never expected; counted by the caller).
    #[inline]
    pub fn bytes_mut(&mut self, addr: u64, len: u32) -> Option<&mut [u8]> {
        let end = addr.checked_add(u64::from(len))?;
        if end > self.len as u64 {
            return None;
        }
        // SAFETY: [addr, end) lies inside our mapping (checked above), and
        // &mut self guarantees no other slice of the UMEM is alive.
        Some(unsafe { std::slice::from_raw_parts_mut(self.area.add(addr as usize), len as usize) })
    }
}

impl Drop for Umem {
    fn drop(&mut self) {
        // SAFETY: area/len are exactly what mmap returned; sockets using the
        // UMEM are dropped before it (the worker owns both, sockets first).
        unsafe { libc::munmap(self.area.cast(), self.len) };
    }
}
