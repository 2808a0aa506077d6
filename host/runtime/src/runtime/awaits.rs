//! `weft:runtime/awaits`: the waits of `tasks` as `async func`s, which a
//! concurrent actor's methods await. Each is a concurrent host function:
//! it takes the task API out of the store and lets go of the store while
//! it waits, so the instance's other calls run meanwhile (a plain
//! `tasks.get` holds the whole instance until it returns).

use wasmtime::component::{Accessor, HasSelf, Linker};

use super::RuntimeCtx;
use super::generated::weft::runtime::awaits;
use super::generated::weft::runtime::types::{Error, ObjectRef};
use super::tasks::{millis, ready_of, value_of};

/// Adds `weft:runtime/awaits` to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    awaits::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)
}

impl awaits::Host for RuntimeCtx {}

impl<T> awaits::HostWithStore<T> for HasSelf<RuntimeCtx> {
    async fn get(
        accessor: &Accessor<T, Self>,
        task: ObjectRef,
        timeout_ms: Option<u64>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let context = accessor.with(|mut access| access.get().task_context("awaits.get"))?;
        let value = value_of(&*context, task, timeout_ms).await?;
        Ok(value.map(super::tasks::Finished::into_encoded))
    }

    async fn wait(
        accessor: &Accessor<T, Self>,
        refs: Vec<ObjectRef>,
        num_ready: u32,
        timeout_ms: Option<u64>,
    ) -> Result<Vec<ObjectRef>, Error> {
        let context = accessor.with(|mut access| access.get().task_context("awaits.wait"))?;
        ready_of(&*context, refs, num_ready, timeout_ms).await
    }

    async fn sleep(_accessor: &Accessor<T, Self>, ms: u64) {
        if let Some(pause) = millis(Some(ms)) {
            tokio::time::sleep(pause).await;
        }
    }
}
