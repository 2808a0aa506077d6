//! Objects in shared memory. A host's store is one arena: a file in a
//! tmpfs (`/dev/shm`), as large as the store's capacity, that the host and
//! every client on its machine map once and keep mapped. An object is an
//! extent of it. Mapping once is what makes puts and gets run at memory
//! speed: pages freed by one object are reused by the next without being
//! zeroed, mapped and unmapped again, and a read needs no mapping of its
//! own.

#![allow(unsafe_code, reason = "mapping the arena and handing out ranges of it")]

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};

use memmap2::{MmapOptions, MmapRaw};

/// The alignment of every object in an arena: a page, so that another
/// reader (Python's `mmap`, say) can map one object on its own.
pub const PAGE: u64 = 4096;

/// An arena mapped into this process, shared and writable.
///
/// Soundness rests on the store's protocol, not on the type system: an
/// extent is written only by the one writer it was handed to, before it is
/// sealed, and read only after; it is handed out again only once every
/// reader has let go of it (see [`ObjectView`] and the host's pins).
pub struct Arena {
    map: MmapRaw,
    file: File,
    path: PathBuf,
}

impl Arena {
    /// Makes a new arena file at `path`, `len` bytes long. Its pages are
    /// not backed yet: the store backs each extent before handing it out
    /// (see [`Arena::back`]).
    pub fn create(path: &Path, len: u64) -> std::io::Result<Arc<Self>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)?;
        file.set_len(len)?;
        Self::map(file, path, len)
    }

    /// Maps the arena at `path` made by a host on this machine; one
    /// mapping per arena per process, shared by every view of it.
    pub fn open(path: &Path, len: u64) -> std::io::Result<Arc<Self>> {
        static OPEN: Mutex<Option<HashMap<PathBuf, Weak<Arena>>>> = Mutex::new(None);
        let mut open = OPEN.lock().unwrap_or_else(|p| p.into_inner());
        let open = open.get_or_insert_with(HashMap::new);
        if let Some(arena) = open.get(path).and_then(Weak::upgrade)
            && arena.len() as u64 >= len
        {
            return Ok(arena);
        }
        open.retain(|_, a| a.strong_count() > 0);
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        let arena = Self::map(file, path, len)?;
        open.insert(path.to_path_buf(), Arc::downgrade(&arena));
        Ok(arena)
    }

    fn map(file: File, path: &Path, len: u64) -> std::io::Result<Arc<Self>> {
        let map = MmapOptions::new().len(len as usize).map_raw(&file)?;
        Ok(Arc::new(Arena {
            map,
            file,
            path: path.to_path_buf(),
        }))
    }

    /// The arena's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its size in bytes.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether it has no bytes at all.
    pub fn is_empty(&self) -> bool {
        self.map.len() == 0
    }

    /// Backs `len` bytes at `offset` with memory now, so that a full tmpfs
    /// is an error here (`ENOSPC`) and never a SIGBUS on a later write.
    /// Pages already backed (an extent reused) cost only a lookup.
    pub fn back(&self, offset: u64, len: u64) -> std::io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        rustix::fs::fallocate(&self.file, rustix::fs::FallocateFlags::empty(), offset, len)
            .map_err(Into::into)
    }

    /// Checks that `len` bytes at `offset` (as a host named them) lie
    /// inside the arena.
    pub fn contains(&self, offset: u64, len: u64) -> std::io::Result<()> {
        let fits = offset
            .checked_add(len)
            .is_some_and(|end| end <= self.len() as u64);
        if fits {
            return Ok(());
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{len} bytes at {offset} lie outside the arena {} of {} bytes",
                self.path.display(),
                self.len()
            ),
        ))
    }

    /// Writes `data` at `offset` through the file, not the mapping: the
    /// same pages, without page-table entries in this process (a host that
    /// writes a result it never reads keeps none of it resident).
    pub fn write_at(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.check(offset as usize, data.len());
        std::os::unix::fs::FileExt::write_all_at(&self.file, data, offset)
    }

    fn check(&self, offset: usize, len: usize) {
        assert!(
            offset.checked_add(len).is_some_and(|end| end <= self.len()),
            "{len} bytes at {offset} run past an arena of {} bytes",
            self.len()
        );
    }

    /// The bytes of an extent.
    ///
    /// # Safety
    /// The extent must be sealed (no one writes it) for as long as the
    /// slice lives.
    pub unsafe fn slice(&self, offset: usize, len: usize) -> &[u8] {
        if len == 0 {
            return &[];
        }
        self.check(offset, len);
        // SAFETY: in bounds (checked); immutable per the caller's promise.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(offset), len) }
    }

    /// The bytes of an extent, to write.
    ///
    /// # Safety
    /// The caller must be the extent's only writer and no one may read it
    /// while the slice lives (it is not sealed yet).
    #[allow(clippy::mut_from_ref, reason = "the arena is shared memory")]
    pub unsafe fn slice_mut(&self, offset: usize, len: usize) -> &mut [u8] {
        if len == 0 {
            return &mut [];
        }
        self.check(offset, len);
        // SAFETY: in bounds (checked); exclusive per the caller's promise.
        unsafe { std::slice::from_raw_parts_mut(self.map.as_mut_ptr().add(offset), len) }
    }
}

/// One object read in place from an arena on this machine. The holder's
/// pin (`hold`) lives as long as the view, so the extent is neither freed
/// nor reused nor spilled while it is read.
pub struct ObjectView {
    arena: Arc<Arena>,
    offset: usize,
    len: usize,
    _hold: Box<dyn Send + Sync>,
}

impl ObjectView {
    /// The view of `len` bytes at `offset` of `arena`, kept readable by `hold`.
    pub fn new(
        arena: Arc<Arena>,
        offset: u64,
        len: u64,
        hold: Box<dyn Send + Sync>,
    ) -> std::io::Result<Self> {
        arena.contains(offset, len)?;
        Ok(ObjectView {
            arena,
            offset: offset as usize,
            len: len as usize,
            _hold: hold,
        })
    }

    /// The arena file it lies in.
    pub fn path(&self) -> &Path {
        self.arena.path()
    }

    /// Where in that file it starts (a multiple of [`PAGE`]).
    pub fn offset(&self) -> u64 {
        self.offset as u64
    }
}

impl std::ops::Deref for ObjectView {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: a view is made of a sealed object, pinned by `_hold`.
        unsafe { self.arena.slice(self.offset, self.len) }
    }
}

impl AsRef<[u8]> for ObjectView {
    fn as_ref(&self) -> &[u8] {
        self
    }
}
/// Address ranges of arena memory lent out as buffers (a stored object a
/// guest reads): start -> (end, lenders), as one range may be lent more
/// than once. [`release_copied`] gives back pages only inside them.
static LENT: Mutex<std::collections::BTreeMap<usize, (usize, usize)>> =
    Mutex::new(std::collections::BTreeMap::new());

fn lent() -> std::sync::MutexGuard<'static, std::collections::BTreeMap<usize, (usize, usize)>> {
    LENT.lock().unwrap_or_else(|p| p.into_inner())
}

/// A range of an arena's mapping lent out: while it lives,
/// [`release_copied`] may give back the pages of copies made from it.
#[derive(Debug)]
pub struct Lent {
    start: usize,
}

impl Lent {
    /// Marks `bytes` (a slice of an arena's mapping, kept mapped by the
    /// caller for as long as this lives) as lent.
    pub fn new(bytes: &[u8]) -> Self {
        let start = bytes.as_ptr() as usize;
        let end = start + bytes.len();
        lent().entry(start).or_insert((end, 0)).1 += 1;
        Lent { start }
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        let mut lent = lent();
        if let Some(entry) = lent.get_mut(&self.start) {
            entry.1 -= 1;
            if entry.1 == 0 {
                lent.remove(&self.start);
            }
        }
    }
}

/// Gives back this process's page-table entries for `copied` (bytes a
/// reader has copied elsewhere) when they lie in a range that is
/// [`Lent`]: the arena keeps the pages, and a later read maps them in
/// again, so nothing is lost, while a large argument copied into a guest
/// stops counting twice. Anything else is left alone.
pub fn release_copied(copied: &[u8]) {
    const PAGE_SIZE: usize = PAGE as usize;
    let (start, end) = (
        copied.as_ptr() as usize,
        copied.as_ptr() as usize + copied.len(),
    );
    let lent = lent();
    let inside = lent
        .range(..=start)
        .next_back()
        .is_some_and(|(_, (lent_end, _))| end <= *lent_end);
    // Whole pages inside the range only: a neighbour's bytes stay mapped.
    let (first, last) = (
        start.next_multiple_of(PAGE_SIZE),
        end / PAGE_SIZE * PAGE_SIZE,
    );
    if !inside || first >= last {
        return;
    }
    // SAFETY: the range lies inside an arena's shared mapping, which stays
    // mapped (the lock is held and a lender keeps it mapped). MADV_DONTNEED
    // on a shared file mapping only drops this process's page-table
    // entries: the next access maps the file's same pages again.
    let _ = unsafe {
        rustix::mm::madvise(
            first as *mut std::ffi::c_void,
            last - first,
            rustix::mm::Advice::LinuxDontNeed,
        )
    };
}
