//! One object's file: made with its pages reserved, written with
//! positional writes, then sealed and mapped read-only.
//!
//! Writes go through the file, not a mapping: copying into a tmpfs file
//! costs the copy and the page allocation, while writing through a fresh
//! mapping also costs a page-table entry per page to set up and tear
//! down, which on a virtual machine took longer than the copy itself.
//! Readers map the sealed file (an object is read in place, shared by
//! every process that maps it).

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

pub use weft_core::shm::MappedObject as Mapped;

use super::{StoreError, io};

/// An object's file while it is written.
pub(super) struct Writable {
    file: File,
    size: u64,
}

impl Writable {
    /// Writes `data` at `offset`; the range must lie inside the object.
    pub(super) fn write_at(&self, path: &Path, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        let end = offset.checked_add(data.len() as u64);
        if end.is_none_or(|end| end > self.size) {
            return Err(StoreError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "{} bytes at {offset} run past the object's {} bytes",
                        data.len(),
                        self.size
                    ),
                ),
            });
        }
        self.file.write_all_at(data, offset).map_err(io(path))
    }

    /// The object's size.
    pub(super) fn size(&self) -> u64 {
        self.size
    }

    /// Makes the object readable in place: it is immutable from now on.
    pub(super) fn seal(self, path: &Path) -> Result<Mapped, StoreError> {
        drop(self.file);
        Mapped::open_lazy(path, self.size).map_err(io(path))
    }
}

/// Makes `path`, `size` bytes long with every page reserved.
///
/// `fallocate` makes the filesystem find the room now: a full tmpfs fails
/// here with ENOSPC instead of killing the process with SIGBUS when a
/// write through a mapping first touches a page it cannot back.
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
    Ok(Writable { file, size })
}
