//! `weft:runtime`: the host side of the interfaces guests import, one
//! module per interface, each with its own `add_to_linker`: `log`,
//! `objects`, `tasks`, `awaits`, `actors`, `gpu`. All but `log` work for guests
//! running as tasks, and reach the host's store, session and devices only
//! through [`TaskServices`] (the agent provides them; the tests here, a
//! fake).
//!
//! Hosts serve two versions: `weft:runtime@0.2.0` (`wit/`), whose tasks
//! and actor calls carry the binary value encoding, and the first,
//! `@0.1.0` (`wit/v0.1.0/`), whose carry text, so components built
//! against it keep running unchanged. The modules here implement 0.2.0;
//! [`v0_1`] adapts the old interfaces onto them.

use std::sync::Arc;

use generated::weft::runtime::types;
use generated::weft::runtime::types::Error;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use weft_core::ClientError;
use weft_proto::FailureKind;

use crate::services::{GuestLog, ObjectParts, TaskServices};

mod actors;
mod awaits;
mod gpu;
mod keyvalue;
mod log;
mod objects;
mod serve;
mod tasks;
#[cfg(test)]
mod tests;
mod v0_1;

mod generated {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "weft:runtime/concurrent-guest",
        // Waiting on tasks suspends the guest without blocking a thread.
        imports: {
            "weft:runtime/tasks": async,
            "weft:runtime/objects": async,
            "weft:runtime/actors": async,
            "weft:runtime/gpu": async,
        },
        with: {
            "weft:runtime/objects.writer": crate::runtime::ObjectWriter,
            "weft:runtime/gpu.buffer": crate::gpu::Buffer,
            "weft:runtime/gpu.module": crate::gpu::Module,
        },
    });
}

/// The first version's bindings. Its `types` are the current version's
/// (the same records and variants) and its resources the same Rust types,
/// so a guest's error, refs and handles mean the same in both.
mod generated_v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.1.0",
        world: "weft:runtime/guest",
        imports: {
            "weft:runtime/tasks": async,
            "weft:runtime/objects": async,
            "weft:runtime/actors": async,
            "weft:runtime/gpu": async,
        },
        with: {
            "weft:runtime/types": super::generated::weft::runtime::types,
            "weft:runtime/objects.writer": crate::runtime::ObjectWriter,
            "weft:runtime/gpu.buffer": crate::gpu::Buffer,
            "weft:runtime/gpu.module": crate::gpu::Module,
        },
    });
}

/// Per-call context for `weft:runtime`: who is calling, for attribution,
/// and, when the call is a task, the task API it may use.
pub(crate) struct RuntimeCtx {
    component: String,
    function: String,
    tasks: Option<Arc<dyn TaskServices>>,
    /// The task's log, which `log` lines also go to (with their level).
    pub(crate) log: Option<GuestLog>,
    /// The guest's resources: objects it writes in parts
    /// (`objects.writer`), GPU buffers and modules. They go with the call.
    resources: ResourceTable,
}

impl RuntimeCtx {
    pub(crate) fn new(
        component: &str,
        function: &str,
        tasks: Option<Arc<dyn TaskServices>>,
    ) -> Self {
        RuntimeCtx {
            component: component.to_string(),
            function: function.to_string(),
            tasks,
            log: None,
            resources: ResourceTable::new(),
        }
    }
}

/// An object a guest writes in parts: the `objects.writer` resource.
pub struct ObjectWriter(Box<dyn ObjectParts>);

/// Adds every `weft:runtime` interface to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    types::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)?;
    log::add_to_linker(linker, get)?;
    objects::add_to_linker(linker, get)?;
    tasks::add_to_linker(linker, get)?;
    awaits::add_to_linker(linker, get)?;
    actors::add_to_linker(linker, get)?;
    gpu::add_to_linker(linker, get)?;
    keyvalue::add_to_linker(linker, get)?;
    serve::add_to_linker(linker, get)?;
    v0_1::add_to_linker(linker, get)
}

impl types::Host for RuntimeCtx {}

impl RuntimeCtx {
    /// The task context, or the error a guest gets when it is not running
    /// as a task (a plain `weft call` or an HTTP request).
    fn task_context(&self, what: &str) -> Result<Arc<dyn TaskServices>, Error> {
        self.tasks.clone().ok_or_else(|| {
            Error::Unsupported(format!(
                "{what} needs the guest to run as a task (`weft submit`), not as a direct call"
            ))
        })
    }
}

/// A client-side failure as the guest sees it.
fn guest_error(err: ClientError) -> Error {
    match err {
        ClientError::TaskFailed { kind, message, .. } => match kind {
            FailureKind::Trap => Error::Trapped(message),
            FailureKind::Timeout => Error::Timeout(message),
            FailureKind::Memory | FailureKind::TooLarge | FailureKind::Refused => {
                Error::ResourceExhausted(message)
            }
            FailureKind::Lost | FailureKind::ActorDied | FailureKind::NotFound => {
                Error::NotFound(message)
            }
            FailureKind::BadArgument => Error::InvalidArgument(message),
            _ => Error::Other(message),
        },
        ClientError::Timeout { .. } => Error::Timeout(err.to_string()),
        ClientError::Rpc(status) if status.code() == tonic::Code::NotFound => {
            Error::NotFound(status.message().to_string())
        }
        other => Error::Other(other.to_string()),
    }
}
