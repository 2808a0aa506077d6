//! `weft:runtime@0.1.0`, the first version, served on top of the current
//! one so components built against it keep running unchanged (as Spin and
//! wasmtime keep serving older WASI versions).
//!
//! Its `types` and resources are the current version's, so `objects` and
//! `log` delegate function for function; `gpu` converts its own copies of
//! the records and variants. What changed is in `tasks` and `actors`:
//! arguments and values there are WAVE or JSON text, which these adapters
//! type on the guest's behalf (asking the cluster for the callee's
//! signature, as 0.1.0 did) and write back as text.
//!
//! When 0.1.0 is no longer served, this module goes, and nothing else
//! changes.

use wasmtime::component::{HasSelf, Linker};

use super::RuntimeCtx;
use super::generated_v0_1::weft::runtime as old;

mod actors;
mod gpu;
mod log;
mod objects;
mod tasks;

/// Adds every `weft:runtime@0.1.0` interface to `linker`.
pub(super) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    old::log::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)?;
    old::objects::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)?;
    super::objects::add_one_copy_reads(linker, get, "weft:runtime/objects@0.1.0")?;
    old::tasks::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)?;
    old::actors::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)?;
    old::gpu::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)?;
    super::gpu::add_direct_writes(linker, get, "weft:runtime/gpu@0.1.0")
}
