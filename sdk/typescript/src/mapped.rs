//! A stored object handed to JavaScript without a copy: its pages in the
//! holder's arena, mapped again privately (copy-on-write) into this
//! process. Reads see the store's bytes; a write to the `Buffer` makes the
//! touched page this process's own, so no user code can change an object
//! in the store through a view of it. The object's pin lives with the
//! mapping, so its extent is neither freed nor reused while viewed.
#![allow(
    unsafe_code,
    reason = "mapping a stored object's pages into this process"
)]

use std::fs::File;
use std::ops::Range;

use memmap2::{MmapMut, MmapOptions};
use weft_client::objects::ObjectBytes;

/// Objects from this size up have their pages mapped in one go (a
/// populate), rather than faulted in one by one on first read.
const POPULATE_FROM: usize = 1 << 20;

/// An object's bytes, mapped privately, with its pin.
pub struct MappedObject {
    map: MmapMut,
    payload: Range<usize>,
    _pin: ObjectBytes,
}

impl MappedObject {
    /// The private mapping of `object`, or `None` when it was not read in
    /// place (then its bytes are already this process's own).
    pub fn of(object: ObjectBytes) -> std::io::Result<Result<Self, ObjectBytes>> {
        let Some((path, offset)) = object.mapped_at() else {
            return Ok(Err(object));
        };
        let len = object.encoded().len();
        let file = File::open(path)?;
        let mut options = MmapOptions::new();
        options.offset(offset).len(len);
        if len >= POPULATE_FROM {
            options.populate();
        }
        // SAFETY: the range lies in the arena (the pin's view checked it)
        // and holds a sealed object that the pin keeps from being freed,
        // reused or spilled while this mapping lives; the mapping is
        // private, so writes through it never reach the file.
        let map = unsafe { options.map_copy(&file)? };
        Ok(Ok(MappedObject {
            map,
            payload: object.payload_range(),
            _pin: object,
        }))
    }
}

impl AsMut<[u8]> for MappedObject {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.map[self.payload.clone()]
    }
}
