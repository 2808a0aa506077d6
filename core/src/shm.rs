//! Objects in shared memory: a client on the same machine as the host that
//! holds an object maps the object's file in the host's store and reads
//! it in place, with no copy.

#![allow(unsafe_code)]

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapOptions};

/// An object's bytes, mapped read-only from its file in a store.
///
/// Sound because store files are never truncated or written after they
/// are sealed: freeing or spilling an object unlinks its file, and the
/// pages stay valid until the last mapping goes.
pub struct MappedObject {
    map: Option<Mmap>,
    path: PathBuf,
}

impl MappedObject {
    /// Maps the sealed object file at `path`, all `size` bytes of it, with
    /// its pages mapped in at once (for a reader about to read them all).
    pub fn open(path: &Path, size: u64) -> std::io::Result<Self> {
        Self::map(path, size, true)
    }

    /// Maps it without touching its pages: each is mapped in on first
    /// read (for a holder that may never read it).
    pub fn open_lazy(path: &Path, size: u64) -> std::io::Result<Self> {
        Self::map(path, size, false)
    }

    fn map(path: &Path, size: u64, populate: bool) -> std::io::Result<Self> {
        if size == 0 {
            return Ok(MappedObject {
                map: None,
                path: path.to_path_buf(),
            });
        }
        let file = OpenOptions::new().read(true).open(path)?;
        // SAFETY: see the type's doc: the file is immutable once sealed
        // and never shrinks while it exists.
        let map = unsafe {
            let mut options = MmapOptions::new();
            options.len(size as usize);
            if populate {
                options.populate();
            }
            options.map(&file)?
        };
        Ok(MappedObject {
            map: Some(map),
            path: path.to_path_buf(),
        })
    }

    /// The file it maps.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl std::ops::Deref for MappedObject {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

impl AsRef<[u8]> for MappedObject {
    fn as_ref(&self) -> &[u8] {
        self
    }
}
