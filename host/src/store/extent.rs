//! One object's bytes in the arena. The extent is given back to the free
//! list when the last holder of it drops: the store's entry, a reader in
//! this process, or a client's pin.

#![allow(
    unsafe_code,
    reason = "an extent is a range of the shared arena mapping"
)]

use std::sync::{Arc, Mutex};

use weft_core::shm::Arena;

use super::extents::Extents;

/// An extent of the arena holding (or being written with) one object.
pub struct Extent {
    arena: Arc<Arena>,
    free: Arc<Mutex<Extents>>,
    offset: u64,
    len: u64,
}

impl Extent {
    pub(super) fn new(arena: Arc<Arena>, free: Arc<Mutex<Extents>>, offset: u64, len: u64) -> Self {
        Extent {
            arena,
            free,
            offset,
            len,
        }
    }

    /// Where it starts in the arena (a multiple of a page).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The arena it lies in.
    pub fn arena(&self) -> &Arc<Arena> {
        &self.arena
    }

    /// Copies `data` to `at` of an extent not sealed yet, through the
    /// arena's file: the host writes results and pulled copies it may
    /// never read, so it maps none of their pages.
    ///
    /// Callers write disjoint ranges of an extent only its writer holds;
    /// that is the [`Writer`](super::Writer)'s contract.
    pub(super) fn write_at(&self, at: u64, data: &[u8]) -> std::io::Result<()> {
        debug_assert!(at + data.len() as u64 <= self.len);
        self.arena.write_at(self.offset + at, data)
    }

    /// Has `fill` write `len` bytes at `at` straight into the mapping (a
    /// socket read lands in the arena with no copy between), its pages
    /// mapped in one call first; afterwards this process gives back its
    /// page-table entries for them, as a write through the file leaves
    /// none.
    pub(super) fn fill_at<T>(
        &self,
        at: u64,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        assert!(at + len as u64 <= self.len, "a fill past the extent");
        // SAFETY: the extent is not sealed, so no one reads it, and its
        // writers fill disjoint ranges (the caller's promise, as for
        // `write_at`).
        let slice = unsafe { self.arena.slice_mut((self.offset + at) as usize, len) };
        let range = whole_pages(slice);
        if let Some((start, pages)) = range {
            // SAFETY: whole pages inside the arena's mapping, which lives
            // as long as `self`; populating only maps the file's pages in.
            let _ = unsafe {
                rustix::mm::madvise(start, pages, rustix::mm::Advice::LinuxPopulateWrite)
            };
        }
        let out = fill(slice);
        if let Some((start, pages)) = range {
            // SAFETY: as above; on a shared file mapping DONTNEED drops only
            // this process's page-table entries, never the bytes.
            let _ = unsafe { rustix::mm::madvise(start, pages, rustix::mm::Advice::LinuxDontNeed) };
        }
        out
    }
}

impl std::ops::Deref for Extent {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: readers get an extent only once it is sealed (an `Object`).
        unsafe { self.arena.slice(self.offset as usize, self.len as usize) }
    }
}

impl AsRef<[u8]> for Extent {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for Extent {
    fn drop(&mut self) {
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .free(self.offset, self.len);
    }
}

/// The whole pages inside `slice`, as (start, length).
fn whole_pages(slice: &mut [u8]) -> Option<(*mut std::ffi::c_void, usize)> {
    const PAGE: usize = weft_core::shm::PAGE as usize;
    let start = slice.as_mut_ptr() as usize;
    let (first, last) = (
        start.next_multiple_of(PAGE),
        (start + slice.len()) / PAGE * PAGE,
    );
    (first < last).then_some((first as *mut std::ffi::c_void, last - first))
}
