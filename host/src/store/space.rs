//! Making room: evicting secondary copies, spilling primary ones to disk,
//! and restoring spilled objects when they are read.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Entry, Extent, Inner, Object, ObjectStore, Place, StoreError, extents, io};

/// What to do with one object to make room.
enum Victim {
    Evict(String),
    Spill(String, Arc<Extent>),
}

impl ObjectStore {
    /// An extent of `size` bytes, backed with memory, making room if
    /// needed: by evicting and spilling until a free extent is large enough.
    pub(super) fn allocate(&self, size: u64) -> Result<Extent, StoreError> {
        let capacity = self.config.capacity;
        if extents::rounded(size) > self.free_list().capacity() {
            return Err(StoreError::Full(format!(
                "an object of {size} bytes is larger than the store's capacity of {capacity} bytes"
            )));
        }
        loop {
            let offset = self.free_list().alloc(size);
            if let Some(offset) = offset {
                let extent = Extent::new(self.arena.clone(), self.free.clone(), offset, size);
                return match self.back(offset, extents::rounded(size)) {
                    Ok(()) => Ok(extent),
                    Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()) => {
                        Err(StoreError::Full(format!(
                            "{} has no room for {size} more bytes",
                            self.config.dir.display()
                        )))
                    }
                    Err(e) => Err(io(self.arena.path())(e)),
                };
            }
            let victim = pick_victim(&self.lock());
            match victim {
                Some(Victim::Evict(id)) => {
                    if self.remove(&id) {
                        self.evictions.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Some(Victim::Spill(id, bytes)) => self.spill(&id, bytes)?,
                None => {
                    let free = self.free_list();
                    return Err(StoreError::Full(format!(
                        "{size} bytes do not fit: {} of {capacity} bytes are taken by objects in use or being written (the largest free extent is {} bytes)",
                        free.used(),
                        free.largest_free()
                    )));
                }
            }
        }
    }

    /// Backs the pages of an extent that are not backed yet.
    fn back(&self, offset: u64, len: u64) -> std::io::Result<()> {
        let gaps = self.free_list().unbacked(offset, len);
        for (at, len) in gaps {
            self.arena.back(at, len)?;
            self.free_list().mark_backed(at, len);
        }
        Ok(())
    }

    /// Copies a primary object to the spill dir and frees its memory.
    fn spill(&self, id: &str, bytes: Arc<Extent>) -> Result<(), StoreError> {
        let target = self.config.spill_dir.join(id);
        std::fs::write(&target, &bytes[..]).map_err(|e| {
            let _ = std::fs::remove_file(&target);
            StoreError::Full(format!(
                "cannot spill object {id} to {}: {e}",
                self.config.spill_dir.display()
            ))
        })?;
        let mut inner = self.lock();
        let still_same = inner
            .objects
            .get(id)
            .is_some_and(|e| matches!(&e.place, Place::Memory(b) if Arc::ptr_eq(b, &bytes)));
        if !still_same || Arc::strong_count(&bytes) > 2 {
            // Freed, replaced or picked up by a reader meanwhile.
            drop(inner);
            let _ = std::fs::remove_file(&target);
            return Ok(());
        }
        let entry = inner.objects.get_mut(id).expect("checked above");
        entry.place = Place::Spilled(target);
        let size = entry.size;
        inner.spilled += size;
        drop(inner);
        // The last holder: its room goes back to the free list now.
        drop(bytes);
        self.spills.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(object = id, size, "spilled");
        Ok(())
    }

    /// Brings a spilled object back into memory.
    pub(super) fn restore(&self, id: &str) -> Result<Object, StoreError> {
        let (spilled, size) = {
            let inner = self.lock();
            match inner.objects.get(id) {
                None => return Err(StoreError::Missing(id.to_string())),
                Some(Entry {
                    place: Place::Memory(bytes),
                    ..
                }) => {
                    return Ok(Object {
                        bytes: bytes.clone(),
                    });
                }
                Some(Entry {
                    place: Place::Spilled(path),
                    size,
                    ..
                }) => (path.clone(), *size),
            }
        };
        let extent = self.allocate(size)?;
        {
            let mut from = std::fs::File::open(&spilled).map_err(io(&spilled))?;
            let mut buf = vec![0u8; (1 << 20).min(size as usize)];
            let mut at = 0u64;
            while at < size {
                let n = ((size - at) as usize).min(buf.len());
                std::io::Read::read_exact(&mut from, &mut buf[..n]).map_err(io(&spilled))?;
                extent
                    .write_at(at, &buf[..n])
                    .map_err(io(self.arena.path()))?;
                at += n as u64;
            }
        }
        let bytes = Arc::new(extent);
        let mut inner = self.lock();
        inner.clock += 1;
        let clock = inner.clock;
        match inner.objects.get_mut(id) {
            Some(entry) if matches!(&entry.place, Place::Spilled(p) if *p == spilled) => {
                entry.place = Place::Memory(bytes.clone());
                entry.last_used = clock;
                inner.spilled -= size;
                drop(inner);
                let _ = std::fs::remove_file(&spilled);
                self.restores.fetch_add(1, Ordering::Relaxed);
                Ok(Object { bytes })
            }
            // Freed or restored by someone else meanwhile.
            _ => {
                drop(inner);
                drop(bytes);
                self.get(id)
            }
        }
    }
}

/// The least recently used secondary copy not in use, else the least
/// recently used primary one.
fn pick_victim(inner: &Inner) -> Option<Victim> {
    let lru = |primary: bool| {
        inner
            .objects
            .iter()
            .filter(|(_, e)| e.primary == primary)
            .filter_map(|(id, e)| match &e.place {
                Place::Memory(b) if Arc::strong_count(b) == 1 => Some((id, b, e.last_used)),
                _ => None,
            })
            .min_by_key(|(_, _, used)| *used)
    };
    if let Some((id, _, _)) = lru(false) {
        return Some(Victim::Evict(id.clone()));
    }
    lru(true).map(|(id, bytes, _)| Victim::Spill(id.clone(), bytes.clone()))
}
