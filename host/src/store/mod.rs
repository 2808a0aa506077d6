//! The host's object store: immutable objects in shared memory, one file
//! per object in a tmpfs directory (`/dev/shm/weft-<host>` by default),
//! mapped with memmap2.
//!
//! A file per object keeps the store simple and sound: tasks read an
//! object through its mapping, a client on the same machine maps the same
//! file (no copy at all), and freeing or spilling an object is unlinking a
//! file, which never pulls pages from under a mapping someone still holds.
//! Every object's space is reserved with `fallocate` before it is mapped,
//! so a full tmpfs is an error at `create`, never a SIGBUS on a write.
//!
//! Under pressure the store makes room by evicting secondary copies
//! (pulled from another host, which still holds the primary), least
//! recently used first, then by spilling primary copies to the spill dir
//! on disk; a spilled object is restored on its next read. An object in
//! use (a reader holds its mapping) is neither evicted nor spilled. A put
//! that cannot fit even then fails with "object store full".

mod file;
mod space;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub use self::file::Mapped;
use self::file::{Writable, create_file};

/// Where and how big a host's store is.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The directory of the objects' files; a tmpfs for shared memory.
    pub dir: PathBuf,
    /// Where primary copies go when memory runs short.
    pub spill_dir: PathBuf,
    /// The most bytes of objects kept in `dir`.
    pub capacity: u64,
}

impl StoreConfig {
    /// The default for host `id`: `/dev/shm/weft-<id>`, 30% of the
    /// machine's memory, spilling into `data_dir/spill`.
    pub fn for_host(id: &str, data_dir: &Path) -> Self {
        StoreConfig {
            dir: PathBuf::from(format!("/dev/shm/weft-{id}")),
            spill_dir: data_dir.join("spill"),
            capacity: default_capacity(),
        }
    }
}

/// 30% of the machine's memory (Ray's default share for its store).
pub fn default_capacity() -> u64 {
    let total = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(8 << 30, |kib| kib * 1024);
    total / 10 * 3
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No room, even after evicting and spilling what could go.
    #[error("object store full: {0}")]
    Full(String),
    /// The store does not have the object.
    #[error("object {0} is not in this host's store")]
    Missing(String),
    /// An id that cannot name a file.
    #[error("`{0}` is not a valid object id (letters, digits, `-`, `_` and `.` only)")]
    BadId(String),
    /// The filesystem failed.
    #[error("object store I/O on {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Where an object's bytes are.
enum Place {
    Memory(Arc<Mapped>),
    Spilled(PathBuf),
}

struct Entry {
    size: u64,
    /// The copy the cluster counts on (this host made it, or was given
    /// it); a secondary one was pulled and may be dropped at any time.
    primary: bool,
    place: Place,
    last_used: u64,
}

#[derive(Default)]
struct Inner {
    objects: HashMap<String, Entry>,
    /// Bytes in `dir`: sealed objects and reservations for ones being written.
    used: u64,
    spilled: u64,
    clock: u64,
}

/// A host's object store.
pub struct ObjectStore {
    config: StoreConfig,
    inner: Mutex<Inner>,
    spills: AtomicU64,
    restores: AtomicU64,
    evictions: AtomicU64,
    /// Objects pulled from other hosts.
    pub(crate) pulls: AtomicU64,
    /// Their bytes.
    pub(crate) pulled_bytes: AtomicU64,
    /// Bytes sent to other hosts and clients that pulled from this one.
    pub(crate) served_bytes: AtomicU64,
}

/// One object read from the store.
#[derive(Clone)]
pub struct Object {
    /// The bytes, mapped; the object cannot be spilled while this lives.
    pub bytes: Arc<Mapped>,
}

impl Object {
    /// The bytes as a shared buffer that keeps the object mapped (and so
    /// neither spilled nor freed under it) while any slice of it lives.
    pub fn shared(&self) -> bytes::Bytes {
        bytes::Bytes::from_owner(Pinned::new(self.bytes.clone()))
    }
}

/// A mapped object as the owner of a [`bytes::Bytes`]. While one lives, its
/// address range is known to [`release_copied`].
struct Pinned(Arc<Mapped>);

/// Address ranges of the mappings lent out as buffers: start -> (end,
/// lenders), since one mapping may be lent several times.
static LENT: Mutex<BTreeMap<usize, (usize, usize)>> = Mutex::new(BTreeMap::new());

fn lent() -> std::sync::MutexGuard<'static, BTreeMap<usize, (usize, usize)>> {
    LENT.lock().unwrap_or_else(|p| p.into_inner())
}

impl Pinned {
    fn new(map: Arc<Mapped>) -> Self {
        let start = map.as_ptr() as usize;
        let end = start + map.len();
        lent().entry(start).or_insert((end, 0)).1 += 1;
        Pinned(map)
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        let start = self.0.as_ptr() as usize;
        let mut lent = lent();
        if let Some(entry) = lent.get_mut(&start) {
            entry.1 -= 1;
            if entry.1 == 0 {
                lent.remove(&start);
            }
        }
    }
}

impl AsRef<[u8]> for Pinned {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Gives back this process's pages of `copied` (bytes a reader has copied
/// elsewhere) when they lie in an object mapping lent by [`Object::shared`]:
/// the file keeps them, and a later read faults them in again, so nothing
/// is lost, while a large argument copied into a guest stops counting
/// twice. Anything else is left alone.
pub(crate) fn release_copied(copied: &[u8]) {
    const PAGE: usize = 4096;
    let (start, end) = (
        copied.as_ptr() as usize,
        copied.as_ptr() as usize + copied.len(),
    );
    let lent = lent();
    let inside = lent
        .range(..=start)
        .next_back()
        .is_some_and(|(_, (map_end, _))| end <= *map_end);
    // Whole pages inside the range only: a neighbour's bytes stay mapped.
    let (first, last) = (start.next_multiple_of(PAGE), end / PAGE * PAGE);
    if !inside || first >= last {
        return;
    }
    // SAFETY: the range lies inside a shared, read-only file mapping that
    // stays mapped (the lock is held and a lender pins it). MADV_DONTNEED on
    // a shared file mapping only drops this process's page-table entries:
    // the next access maps the file's same pages again.
    #[allow(unsafe_code, reason = "madvise on a mapping this store owns")]
    let _ = unsafe {
        rustix::mm::madvise(
            first as *mut std::ffi::c_void,
            last - first,
            rustix::mm::Advice::LinuxDontNeed,
        )
    };
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("path", &self.bytes.path())
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl ObjectStore {
    /// Opens a store, emptying its directories: objects a previous run
    /// left behind are no longer known to the cluster.
    pub fn open(config: StoreConfig) -> Result<Arc<Self>, StoreError> {
        for dir in [&config.dir, &config.spill_dir] {
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(io(dir))?;
            }
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        Ok(Arc::new(ObjectStore {
            config,
            inner: Mutex::default(),
            spills: AtomicU64::new(0),
            restores: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            pulls: AtomicU64::new(0),
            pulled_bytes: AtomicU64::new(0),
            served_bytes: AtomicU64::new(0),
        }))
    }

    /// The store's configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn path_of(&self, id: &str) -> Result<PathBuf, StoreError> {
        let valid = !id.is_empty()
            && !id.starts_with('.')
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid {
            return Err(StoreError::BadId(id.to_string()));
        }
        Ok(self.config.dir.join(id))
    }

    /// Reserves room for an object of `size` bytes and makes its file;
    /// write it through the returned writer (or the file, from another
    /// process), then [`Writer::seal`] it. An object already here under
    /// `id` is replaced.
    pub fn create(
        self: &Arc<Self>,
        id: &str,
        size: u64,
        primary: bool,
    ) -> Result<Writer, StoreError> {
        let path = self.path_of(id)?;
        self.remove(id);
        self.reserve(size)?;
        match create_file(&path, size) {
            Ok(map) => Ok(Writer {
                store: self.clone(),
                id: id.to_string(),
                path,
                map: Some(map),
                size,
                primary,
            }),
            Err(e) => {
                self.lock().used -= size;
                let _ = std::fs::remove_file(&path);
                Err(match e {
                    StoreError::Io { source, .. }
                        if source.raw_os_error()
                            == Some(rustix::io::Errno::NOSPC.raw_os_error()) =>
                    {
                        StoreError::Full(format!(
                            "{} has no room for {} more bytes",
                            self.config.dir.display(),
                            size
                        ))
                    }
                    other => other,
                })
            }
        }
    }

    /// Stores the concatenation of `parts` as object `id` in one step
    /// (an encoded value's header and its bytes need no joining copy).
    pub fn put(
        self: &Arc<Self>,
        id: &str,
        parts: &[&[u8]],
        primary: bool,
    ) -> Result<Object, StoreError> {
        let size = parts.iter().map(|p| p.len() as u64).sum();
        let writer = self.create(id, size, primary)?;
        let mut offset = 0;
        for part in parts {
            writer.write_at(offset, part)?;
            offset += part.len() as u64;
        }
        writer.seal()
    }

    /// Reads object `id`, restoring it from the spill dir if it was spilled.
    pub fn get(&self, id: &str) -> Result<Object, StoreError> {
        {
            let mut inner = self.lock();
            inner.clock += 1;
            let clock = inner.clock;
            let entry = inner
                .objects
                .get_mut(id)
                .ok_or_else(|| StoreError::Missing(id.to_string()))?;
            entry.last_used = clock;
            if let Place::Memory(bytes) = &entry.place {
                return Ok(Object {
                    bytes: bytes.clone(),
                });
            }
        }
        self.restore(id)
    }

    /// The ids of the primary copies here (in memory or spilled).
    pub fn primaries(&self) -> Vec<String> {
        self.lock()
            .objects
            .iter()
            .filter(|(_, e)| e.primary)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Whether the store has object `id` (in memory or spilled).
    pub fn contains(&self, id: &str) -> bool {
        self.lock().objects.contains_key(id)
    }

    /// The file of object `id` in shared memory, for a client on this
    /// machine to map (restored first if it was spilled).
    pub fn file(&self, id: &str) -> Result<(PathBuf, u64), StoreError> {
        let object = self.get(id)?;
        Ok((object.bytes.path().to_path_buf(), object.bytes.len() as u64))
    }

    /// Deletes object `id` (freed by the cluster); a reader that still maps
    /// it keeps its pages until it lets go.
    pub fn remove(&self, id: &str) -> bool {
        let entry = {
            let mut inner = self.lock();
            let Some(entry) = inner.objects.remove(id) else {
                return false;
            };
            match &entry.place {
                Place::Memory(_) => inner.used -= entry.size,
                Place::Spilled(_) => inner.spilled -= entry.size,
            }
            entry
        };
        match entry.place {
            Place::Memory(bytes) => {
                let _ = std::fs::remove_file(bytes.path());
            }
            Place::Spilled(path) => {
                let _ = std::fs::remove_file(path);
            }
        }
        true
    }

    /// Usage, counters and the `largest` biggest objects.
    pub fn stats(&self, largest: usize) -> StoreStats {
        let inner = self.lock();
        let mut stats = StoreStats {
            capacity: self.config.capacity,
            used: inner.used,
            spilled_bytes: inner.spilled,
            objects: inner.objects.len() as u64,
            spills: self.spills.load(Ordering::Relaxed),
            restores: self.restores.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            pulls: self.pulls.load(Ordering::Relaxed),
            pulled_bytes: self.pulled_bytes.load(Ordering::Relaxed),
            served_bytes: self.served_bytes.load(Ordering::Relaxed),
            ..Default::default()
        };
        let mut all = Vec::with_capacity(inner.objects.len());
        for (id, e) in &inner.objects {
            let spilled = matches!(e.place, Place::Spilled(_));
            if spilled {
                stats.spilled_objects += 1;
            } else if e.primary {
                stats.primary_bytes += e.size;
            } else {
                stats.secondary_bytes += e.size;
            }
            all.push(StoredObject {
                id: id.clone(),
                size: e.size,
                primary: e.primary,
                spilled,
            });
        }
        all.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.id.cmp(&b.id)));
        all.truncate(largest);
        stats.largest = all;
        stats
    }

    fn insert(&self, id: String, size: u64, primary: bool, bytes: Arc<Mapped>) {
        let mut inner = self.lock();
        inner.clock += 1;
        let entry = Entry {
            size,
            primary,
            place: Place::Memory(bytes),
            last_used: inner.clock,
        };
        if let Some(old) = inner.objects.insert(id, entry) {
            // A concurrent writer of the same id won: account for one copy.
            match old.place {
                Place::Memory(_) => inner.used -= old.size,
                Place::Spilled(path) => {
                    inner.spilled -= old.size;
                    let _ = std::fs::remove_file(path);
                }
            }
        }
    }
}

impl Drop for ObjectStore {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.config.dir);
        let _ = std::fs::remove_dir_all(&self.config.spill_dir);
    }
}

/// An object being written; dropped unsealed, its room is given back.
pub struct Writer {
    store: Arc<ObjectStore>,
    id: String,
    path: PathBuf,
    map: Option<Writable>,
    size: u64,
    primary: bool,
}

impl Writer {
    /// Writes `data` at `offset` of the object. Several writers of
    /// disjoint ranges may share one `Writer`.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        match self.map.as_ref() {
            Some(file) => file.write_at(&self.path, offset, data),
            None => Ok(()),
        }
    }

    /// The object's size.
    pub fn size(&self) -> u64 {
        self.map.as_ref().map_or(0, |f| f.size())
    }

    /// The object's file (another process on this machine may write it).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Makes the object readable by everyone and immutable.
    pub fn seal(mut self) -> Result<Object, StoreError> {
        let map = self.map.take().expect("a writer is sealed once");
        let bytes = Arc::new(map.seal(&self.path)?);
        self.store
            .insert(self.id.clone(), self.size, self.primary, bytes.clone());
        Ok(Object { bytes })
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if self.map.take().is_some() {
            self.store.lock().used -= self.size;
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// What `weft memory` shows of one host's store.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    /// The most bytes kept in memory.
    pub capacity: u64,
    /// Bytes in memory, reservations included.
    pub used: u64,
    /// Objects, spilled ones included.
    pub objects: u64,
    /// Bytes of primary and of secondary copies in memory.
    pub primary_bytes: u64,
    /// Bytes of copies pulled from other hosts.
    pub secondary_bytes: u64,
    /// Bytes and count of objects in the spill dir.
    pub spilled_bytes: u64,
    /// Objects in the spill dir.
    pub spilled_objects: u64,
    /// Objects spilled, restored and evicted, and pulled from other hosts.
    pub spills: u64,
    /// See `spills`.
    pub restores: u64,
    /// See `spills`.
    pub evictions: u64,
    /// See `spills`.
    pub pulls: u64,
    /// Bytes of the objects pulled from other hosts.
    pub pulled_bytes: u64,
    /// Bytes sent to other hosts and clients that pulled from this one.
    pub served_bytes: u64,
    /// The biggest objects, biggest first.
    pub largest: Vec<StoredObject>,
}

/// One object in [`StoreStats::largest`].
#[derive(Debug, Clone)]
pub struct StoredObject {
    /// Its id.
    pub id: String,
    /// Its size in bytes.
    pub size: u64,
    /// Whether this is the copy the cluster counts on.
    pub primary: bool,
    /// Whether it is in the spill dir.
    pub spilled: bool,
}

#[cfg(test)]
mod tests;
