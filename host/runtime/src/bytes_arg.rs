//! A `list<u8>` argument lowered into guest memory a chunk at a time, with
//! the pages of each chunk given back as soon as it is copied when the
//! bytes are an object store mapping: a large argument read from the store
//! is then resident once (in the guest), not twice.
//!
//! wasmtime lowers `&[u8]` with one copy too, but only its own types can do
//! that; this type implements the canonical ABI's `list<u8>` lowering
//! itself (allocate with the guest's `realloc`, copy, write the pointer
//! pair), through wasmtime's `__internal` items. Those are pinned with the
//! wasmtime version in `Cargo.toml`; the tests in `host/runtime/tests/values.rs`
//! and `tests/e2e/values.rs` run it on every build.

use std::mem::MaybeUninit;

use wasmtime::ValRaw;
use wasmtime::component::__internal::{
    CanonicalAbiInfo, InstanceType, InterfaceType, LowerContext,
};
use wasmtime::component::{ComponentType, Lower};

/// How much is copied before the copied pages are given back.
const CHUNK: usize = 4 << 20;

/// Bytes passed to a `list<u8>` parameter.
pub(crate) struct BytesArg<'a>(pub(crate) &'a [u8]);

impl BytesArg<'_> {
    /// Allocates the list in guest memory and copies the bytes in; returns
    /// where.
    fn store<T>(&self, cx: &mut LowerContext<'_, T>) -> wasmtime::Result<usize> {
        let ptr = cx.realloc(0, 0, 1, self.0.len())?;
        let memory = cx.as_slice_mut();
        let Some(target) = memory.get_mut(ptr..ptr + self.0.len()) else {
            wasmtime::bail!("the guest's realloc returned memory out of bounds");
        };
        for (to, from) in target.chunks_mut(CHUNK).zip(self.0.chunks(CHUNK)) {
            to.copy_from_slice(from);
            weft_core::shm::release_copied(from);
        }
        Ok(ptr)
    }
}

// SAFETY: the lowered form is the canonical ABI's pointer pair, two
// `ValRaw`s, exactly what wasmtime's own `[u8]` declares, and the type
// check is `[u8]`'s.
#[allow(unsafe_code, reason = "implementing wasmtime's unsafe lowering trait")]
unsafe impl ComponentType for BytesArg<'_> {
    type Lower = [ValRaw; 2];

    const ABI: CanonicalAbiInfo = CanonicalAbiInfo::POINTER_PAIR;

    fn typecheck(ty: &InterfaceType, types: &InstanceType<'_>) -> wasmtime::Result<()> {
        <[u8] as ComponentType>::typecheck(ty, types)
    }
}

// SAFETY: writes only the memory `realloc` handed out for the list, and
// the pointer pair in the places the canonical ABI gives it (both as
// 64-bit values in flat form, as wasmtime's own lowering does).
#[allow(unsafe_code, reason = "implementing wasmtime's unsafe lowering trait")]
unsafe impl Lower for BytesArg<'_> {
    fn linear_lower_to_flat<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        dst: &mut MaybeUninit<[ValRaw; 2]>,
    ) -> wasmtime::Result<()> {
        let ptr = self.store(cx)?;
        dst.write([ValRaw::i64(ptr as i64), ValRaw::i64(self.0.len() as i64)]);
        Ok(())
    }

    fn linear_lower_to_memory<T>(
        &self,
        cx: &mut LowerContext<'_, T>,
        _ty: InterfaceType,
        offset: usize,
    ) -> wasmtime::Result<()> {
        let ptr = self.store(cx)?;
        *cx.get::<4>(offset) = u32::try_from(ptr)?.to_le_bytes();
        *cx.get::<4>(offset + 4) = u32::try_from(self.0.len())?.to_le_bytes();
        Ok(())
    }
}
