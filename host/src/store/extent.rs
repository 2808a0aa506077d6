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
