//! One object's file: made with its pages reserved, mapped to be written,
//! then sealed read-only.

use std::fs::OpenOptions;
use std::path::Path;

use memmap2::MmapMut;
pub use weft_client::shm::MappedObject as Mapped;

use super::{StoreError, io};

/// An object's mapping while it is written.
pub(super) struct Writable(Option<MmapMut>);

impl Writable {
    pub(super) fn as_mut(&mut self) -> &mut [u8] {
        self.0.as_deref_mut().unwrap_or(&mut [])
    }

    /// Makes the mapping read-only: the object is immutable from now on.
    pub(super) fn seal(self, path: &Path) -> Result<Mapped, StoreError> {
        let map = self
            .0
            .map(|m| m.make_read_only())
            .transpose()
            .map_err(io(path))?;
        Ok(Mapped::from_map(map, path.to_path_buf()))
    }
}

/// Makes `path`, `size` bytes long with every page reserved, and maps it.
///
/// `fallocate` makes the filesystem find the room now: a full tmpfs fails
/// here with ENOSPC instead of killing the process with SIGBUS when a
/// write first touches a page it cannot back.
pub(super) fn create_file(path: &Path, size: u64) -> Result<Writable, StoreError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(io(path))?;
    if size > 0 {
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, size)
            .map_err(|e| io(path)(e.into()))?;
    }
    drop(file);
    weft_client::shm::map_for_writing(path, size)
        .map(Writable)
        .map_err(io(path))
}
