//! Making room: evicting secondary copies, spilling primary ones to disk,
//! and restoring spilled objects when they are read.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Entry, Inner, Object, ObjectStore, Place, StoreError, io};

/// What to do with one object to make room.
enum Victim {
    Evict(String),
    Spill(String, Arc<super::Mapped>),
}

impl ObjectStore {
    /// Reserves `size` bytes of memory, making room if needed.
    pub(super) fn reserve(&self, size: u64) -> Result<(), StoreError> {
        let capacity = self.config.capacity;
        if size > capacity {
            return Err(StoreError::Full(format!(
                "an object of {size} bytes is larger than the store's capacity of {capacity} bytes"
            )));
        }
        loop {
            let victim = {
                let mut inner = self.lock();
                if inner.used + size <= capacity {
                    inner.used += size;
                    return Ok(());
                }
                match pick_victim(&inner) {
                    Some(v) => v,
                    None => {
                        return Err(StoreError::Full(format!(
                            "{size} bytes do not fit: {} of {capacity} bytes are taken by objects in use or being written",
                            inner.used
                        )));
                    }
                }
            };
            match victim {
                Victim::Evict(id) => {
                    if self.remove(&id) {
                        self.evictions.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Victim::Spill(id, bytes) => self.spill(&id, bytes)?,
            }
        }
    }

    /// Copies a primary object to the spill dir and frees its memory.
    fn spill(&self, id: &str, bytes: Arc<super::Mapped>) -> Result<(), StoreError> {
        let target = self.config.spill_dir.join(id);
        // A kernel-side copy from the file, not a read through the mapping.
        std::fs::copy(bytes.path(), &target).map_err(|e| {
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
        inner.used -= size;
        inner.spilled += size;
        drop(inner);
        let _ = std::fs::remove_file(bytes.path());
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
        self.reserve(size)?;
        let path = self.path_of(id)?;
        let made = super::file::create_file(&path, size).and_then(|file| {
            let mut from = std::fs::File::open(&spilled).map_err(io(&spilled))?;
            let mut buf = vec![0u8; (1 << 20).min(size as usize)];
            let mut at = 0u64;
            while at < size {
                let n = ((size - at) as usize).min(buf.len());
                std::io::Read::read_exact(&mut from, &mut buf[..n]).map_err(io(&spilled))?;
                file.write_at(&path, at, &buf[..n])?;
                at += n as u64;
            }
            file.seal(&path)
        });
        let bytes = match made {
            Ok(bytes) => Arc::new(bytes),
            Err(e) => {
                self.lock().used -= size;
                let _ = std::fs::remove_file(&path);
                return Err(e);
            }
        };
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
                inner.used -= size;
                drop(inner);
                let _ = std::fs::remove_file(&path);
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
