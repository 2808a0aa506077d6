//! Objects in shared memory: a client on the same machine as the host that
//! holds an object maps the object's file in the host's store and reads
//! it in place, with no copy; a large put is written straight into a file
//! the host made for it.

#![allow(unsafe_code)]

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};

use memmap2::{Mmap, MmapMut, MmapOptions};

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
    /// Maps the sealed object file at `path`, all `size` bytes of it.
    pub fn open(path: &Path, size: u64) -> std::io::Result<Self> {
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
            MmapOptions::new()
                .len(size as usize)
                .populate()
                .map(&file)?
        };
        Ok(MappedObject {
            map: Some(map),
            path: path.to_path_buf(),
        })
    }

    /// A sealed mapping made from a writable one.
    pub fn from_map(map: Option<Mmap>, path: PathBuf) -> Self {
        MappedObject { map, path }
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

/// Maps the object file at `path`, already `size` bytes long, to write it.
///
/// The file must be one a store created for this writer alone (see
/// `CreateObject`): nobody else writes or truncates it until it is sealed.
pub fn map_for_writing(path: &Path, size: u64) -> std::io::Result<Option<MmapMut>> {
    if size == 0 {
        return Ok(None);
    }
    let file = OpenOptions::new().read(true).write(true).open(path)?;
    // SAFETY: the file is this writer's alone until sealed, and its pages
    // are reserved (`fallocate`), so no write can fault with SIGBUS.
    let map = unsafe {
        MmapOptions::new()
            .len(size as usize)
            .populate()
            .map_mut(&file)?
    };
    Ok(Some(map))
}
