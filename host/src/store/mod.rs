//! The host's object store: immutable objects in shared memory, as
//! extents of one arena (a file in a tmpfs, `/dev/shm/weft-<host>` by
//! default) that the host maps once at start and every client on its
//! machine maps once too.
//!
//! One arena mapped once, rather than a file per object, is what lets a
//! put run at memory speed: a freed extent's pages are reused by the next
//! object as they are (no zeroing, no page-table entries to set up and
//! tear down), and a reader on this machine needs no mapping of its own.
//! Each extent is backed with `fallocate` before it is handed out, so a
//! full tmpfs is an error at `create`, never a SIGBUS on a write.
//!
//! An object's extent goes back to the free list only when its last
//! reader lets go: a reader in this process holds an [`Object`], a client
//! on this machine holds a pin (see the agent's pin streams), so an object
//! freed by the cluster while someone still reads it keeps its bytes until
//! they are done.
//!
//! Under pressure the store makes room by evicting secondary copies
//! (pulled from another host, which still holds the primary), least
//! recently used first, then by spilling primary copies to the spill dir
//! on disk; a spilled object is restored on its next read. An object in
//! use is neither evicted nor spilled. A put that cannot fit even then
//! fails with "object store full".

mod extent;
mod extents;
mod space;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use weft_core::shm::Arena;
use weft_proto::v1::ObjectState;

pub use self::extent::Extent;
use self::extents::Extents;

/// Where and how big a host's store is.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The directory of the arena's file; a tmpfs for shared memory.
    pub dir: PathBuf,
    /// Where primary copies go when memory runs short.
    pub spill_dir: PathBuf,
    /// The most bytes of objects kept in `dir`.
    pub capacity: u64,
    /// Pull objects from hosts on this machine over the network as from
    /// any other host, instead of copying them from the holder's arena
    /// (to exercise and measure the network path on one machine).
    pub network_pulls: bool,
}

impl StoreConfig {
    /// The default for host `id`: `/dev/shm/weft-<id>`, 30% of the
    /// machine's memory, spilling into `data_dir/spill`.
    pub fn for_host(id: &str, data_dir: &Path) -> Self {
        StoreConfig {
            dir: PathBuf::from(format!("/dev/shm/weft-{id}")),
            spill_dir: data_dir.join("spill"),
            capacity: default_capacity(),
            network_pulls: false,
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
    Memory(Arc<Extent>),
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
    spilled: u64,
    clock: u64,
}

/// A host's object store.
pub struct ObjectStore {
    config: StoreConfig,
    arena: Arc<Arena>,
    free: Arc<Mutex<Extents>>,
    inner: Mutex<Inner>,
    spills: AtomicU64,
    restores: AtomicU64,
    evictions: AtomicU64,
    /// Objects pulled from other hosts.
    pulls: AtomicU64,
    /// Their bytes.
    pulled_bytes: AtomicU64,
    /// Bytes sent to other hosts and clients that pulled from this one.
    pub(crate) served_bytes: AtomicU64,
    /// Objects pinned by clients on this machine reading them in place.
    pub(crate) client_pins: AtomicU64,
}

/// One object read from the store.
#[derive(Clone)]
pub struct Object {
    /// The bytes; the object is neither spilled nor its room reused while
    /// this lives.
    pub bytes: Arc<Extent>,
}

impl Object {
    /// The bytes as a shared buffer that keeps the object in place (and so
    /// neither spilled nor freed under it) while any slice of it lives.
    pub fn shared(&self) -> bytes::Bytes {
        bytes::Bytes::from_owner(Pinned::new(self.bytes.clone()))
    }
}

/// An object as the owner of a [`bytes::Bytes`]. While one lives, its
/// address range is lent ([`weft_core::shm::Lent`]), so copies made from
/// it may give their pages back ([`weft_core::shm::release_copied`]).
struct Pinned {
    extent: Arc<Extent>,
    /// Held for its drop: the range stops being lent with the buffer.
    _lent: weft_core::shm::Lent,
}

impl Pinned {
    fn new(extent: Arc<Extent>) -> Self {
        let _lent = weft_core::shm::Lent::new(&extent);
        Pinned { extent, _lent }
    }
}

impl AsRef<[u8]> for Pinned {
    fn as_ref(&self) -> &[u8] {
        &self.extent
    }
}

impl std::fmt::Debug for Object {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Object")
            .field("offset", &self.bytes.offset())
            .field("len", &self.bytes.len())
            .finish()
    }
}

impl ObjectStore {
    /// Opens a store, emptying its directories (objects a previous run
    /// left behind are no longer known to the cluster), and makes its
    /// arena. The arena's name is new for every run, so a client still
    /// mapping a previous run's arena never mistakes it for this one.
    pub fn open(config: StoreConfig) -> Result<Arc<Self>, StoreError> {
        for dir in [&config.dir, &config.spill_dir] {
            if dir.exists() {
                std::fs::remove_dir_all(dir).map_err(io(dir))?;
            }
            std::fs::create_dir_all(dir).map_err(io(dir))?;
        }
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let path = config
            .dir
            .join(format!("arena-{}-{started}", std::process::id()));
        let free = Extents::new(config.capacity);
        let arena = Arena::create(&path, free.capacity()).map_err(io(&path))?;
        Ok(Arc::new(ObjectStore {
            config,
            arena,
            free: Arc::new(Mutex::new(free)),
            inner: Mutex::default(),
            spills: AtomicU64::new(0),
            restores: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
            pulls: AtomicU64::new(0),
            pulled_bytes: AtomicU64::new(0),
            served_bytes: AtomicU64::new(0),
            client_pins: AtomicU64::new(0),
        }))
    }

    /// Counts an object of `size` bytes pulled from another host.
    pub(crate) fn count_pull(&self, size: u64) {
        self.pulls.fetch_add(1, Ordering::Relaxed);
        self.pulled_bytes.fetch_add(size, Ordering::Relaxed);
    }

    /// The store's configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The arena every object lies in.
    pub fn arena(&self) -> &Arc<Arena> {
        &self.arena
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn free_list(&self) -> std::sync::MutexGuard<'_, Extents> {
        self.free.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Checks that `id` can name a spill file.
    fn check_id(id: &str) -> Result<(), StoreError> {
        let valid = !id.is_empty()
            && !id.starts_with('.')
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if valid {
            Ok(())
        } else {
            Err(StoreError::BadId(id.to_string()))
        }
    }

    /// Reserves room for an object of `size` bytes; write it through the
    /// returned writer (or, from another process on this machine, at
    /// [`Writer::offset`] of the arena), then [`Writer::seal`] it. An
    /// object already here under `id` is replaced.
    pub fn create(
        self: &Arc<Self>,
        id: &str,
        size: u64,
        primary: bool,
    ) -> Result<Writer, StoreError> {
        Self::check_id(id)?;
        self.remove(id);
        let extent = self.allocate(size)?;
        Ok(Writer {
            store: self.clone(),
            id: id.to_string(),
            extent: Some(extent),
            size,
            primary,
        })
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

    /// Deletes object `id` (freed by the cluster); a reader that still
    /// holds it keeps its bytes, and its room, until it lets go.
    pub fn remove(&self, id: &str) -> bool {
        let entry = {
            let mut inner = self.lock();
            let Some(entry) = inner.objects.remove(id) else {
                return false;
            };
            if let Place::Spilled(_) = &entry.place {
                inner.spilled -= entry.size;
            }
            entry
        };
        if let Place::Spilled(path) = entry.place {
            let _ = std::fs::remove_file(path);
        }
        true
    }

    /// Usage, counters and the `largest` biggest objects.
    pub fn stats(&self, largest: usize) -> StoreStats {
        let (used, largest_free) = {
            let free = self.free_list();
            (free.used(), free.largest_free())
        };
        let inner = self.lock();
        let mut stats = StoreStats {
            capacity: self.config.capacity,
            used,
            largest_free,
            spilled_bytes: inner.spilled,
            objects: inner.objects.len() as u64,
            spills: self.spills.load(Ordering::Relaxed),
            restores: self.restores.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            pulls: self.pulls.load(Ordering::Relaxed),
            pulled_bytes: self.pulled_bytes.load(Ordering::Relaxed),
            served_bytes: self.served_bytes.load(Ordering::Relaxed),
            client_pins: self.client_pins.load(Ordering::Relaxed),
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
                pins: match &e.place {
                    // The store's own hold, and one per reader.
                    Place::Memory(extent) => Arc::strong_count(extent).saturating_sub(1) as u32,
                    Place::Spilled(_) => 0,
                },
                state: match (e.primary, spilled) {
                    (true, false) => ObjectState::Primary,
                    (true, true) => ObjectState::Spilled,
                    // Secondary copies are evicted, never spilled.
                    (false, _) => ObjectState::Secondary,
                },
            });
        }
        all.sort_by(|a, b| b.size.cmp(&a.size).then_with(|| a.id.cmp(&b.id)));
        all.truncate(largest);
        stats.largest = all;
        stats
    }

    fn insert(&self, id: String, size: u64, primary: bool, bytes: Arc<Extent>) {
        let mut inner = self.lock();
        inner.clock += 1;
        let entry = Entry {
            size,
            primary,
            place: Place::Memory(bytes),
            last_used: inner.clock,
        };
        if let Some(old) = inner.objects.insert(id, entry) {
            // A concurrent writer of the same id won: keep one copy.
            if let Place::Spilled(path) = old.place {
                inner.spilled -= old.size;
                let _ = std::fs::remove_file(path);
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
    extent: Option<Extent>,
    size: u64,
    primary: bool,
}

impl Writer {
    /// Writes `data` at `offset` of the object. Several writers of
    /// disjoint ranges may share one `Writer`.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<(), StoreError> {
        self.check(offset, data.len())?;
        let Some(extent) = self.extent.as_ref() else {
            return Ok(());
        };
        extent
            .write_at(offset, data)
            .map_err(io(self.store.arena.path()))
    }

    /// Has `fill` write `len` bytes at `offset` of the object straight
    /// into the arena's mapping (see `Extent::fill_at`). Several fills of
    /// disjoint ranges may share one `Writer`.
    pub fn fill_at<T>(
        &self,
        offset: u64,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> std::io::Result<T>,
    ) -> Result<T, StoreError> {
        self.check(offset, len)?;
        match self.extent.as_ref() {
            Some(extent) => extent
                .fill_at(offset, len, fill)
                .map_err(io(self.store.arena.path())),
            None => fill(&mut []).map_err(io(self.store.arena.path())),
        }
    }

    /// Fails when `len` bytes at `offset` do not lie inside the object.
    fn check(&self, offset: u64, len: usize) -> Result<(), StoreError> {
        if offset
            .checked_add(len as u64)
            .is_some_and(|end| end <= self.size)
        {
            return Ok(());
        }
        Err(StoreError::Io {
            path: self.store.arena.path().to_path_buf(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "{len} bytes at {offset} run past object {}'s {} bytes",
                    self.id, self.size
                ),
            ),
        })
    }

    /// The object's size.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Where the object starts in the arena (another process on this
    /// machine may write it there).
    pub fn offset(&self) -> u64 {
        self.extent.as_ref().map_or(0, Extent::offset)
    }

    /// Makes the object readable by everyone and immutable.
    pub fn seal(mut self) -> Result<Object, StoreError> {
        let extent = self.extent.take().expect("a writer is sealed once");
        let bytes = Arc::new(extent);
        self.store
            .insert(self.id.clone(), self.size, self.primary, bytes.clone());
        Ok(Object { bytes })
    }
}

/// What `weft memory` shows of one host's store.
#[derive(Debug, Clone, Default)]
pub struct StoreStats {
    /// The most bytes kept in memory.
    pub capacity: u64,
    /// Bytes of the arena taken (whole pages per object), by objects,
    /// objects being written, and freed ones a reader still holds.
    pub used: u64,
    /// The largest object that fits without making room.
    pub largest_free: u64,
    /// Objects pinned by clients on this machine reading them in place.
    pub client_pins: u64,
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
    /// Which copy it is, and whether it is spilled.
    pub state: ObjectState,
    /// Readers holding its bytes in place now.
    pub pins: u32,
}

#[cfg(test)]
mod tests;
