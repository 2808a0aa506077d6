//! `weft:runtime`: the host side of the interfaces guests import.
//!
//! `log` is served here. `objects` and `tasks` are part of the ABI from the
//! start, so components built today link on every later host, but this
//! host answers them with `error::unsupported` until the object store and
//! the distributed scheduler exist.

use generated::weft::runtime::types::{Error, ObjectRef};
use generated::weft::runtime::{log, objects, tasks, types};
use wasmtime::component::{HasSelf, Linker};

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "weft:runtime/guest",
    });
}

/// Per-call context for `weft:runtime`: who is calling, for attribution.
pub(crate) struct RuntimeCtx {
    component: String,
    function: String,
}

impl RuntimeCtx {
    pub(crate) fn new(component: &str, function: &str) -> Self {
        RuntimeCtx {
            component: component.to_string(),
            function: function.to_string(),
        }
    }
}

/// Adds every `weft:runtime` interface to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    generated::Guest::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)
}

fn unsupported(what: &str, issue: &str) -> Error {
    Error::Unsupported(format!(
        "{what} is not supported by this host yet ({issue})"
    ))
}

impl types::Host for RuntimeCtx {}

impl log::Host for RuntimeCtx {
    fn log(&mut self, level: log::Level, message: String) {
        let (component, function) = (&self.component, &self.function);
        match level {
            log::Level::Trace => {
                tracing::trace!(target: "weft::guest", component, function, "{message}")
            }
            log::Level::Debug => {
                tracing::debug!(target: "weft::guest", component, function, "{message}")
            }
            log::Level::Info => {
                tracing::info!(target: "weft::guest", component, function, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(target: "weft::guest", component, function, "{message}")
            }
            log::Level::Error => {
                tracing::error!(target: "weft::guest", component, function, "{message}")
            }
        }
    }
}

const OBJECTS: &str = "the object store comes with the shared-memory store";
const TASKS: &str = "nested tasks come with the distributed scheduler";

impl objects::Host for RuntimeCtx {
    fn put(&mut self, _data: Vec<u8>) -> Result<ObjectRef, Error> {
        Err(unsupported("objects.put", OBJECTS))
    }

    fn get(&mut self, _object: ObjectRef) -> Result<Vec<u8>, Error> {
        Err(unsupported("objects.get", OBJECTS))
    }

    fn get_range(
        &mut self,
        _object: ObjectRef,
        _offset: u64,
        _length: u64,
    ) -> Result<Vec<u8>, Error> {
        Err(unsupported("objects.get-range", OBJECTS))
    }

    fn size(&mut self, _object: ObjectRef) -> Result<u64, Error> {
        Err(unsupported("objects.size", OBJECTS))
    }
}

impl tasks::Host for RuntimeCtx {
    fn submit(
        &mut self,
        _component: String,
        _function: String,
        _args: Vec<tasks::Argument>,
        _options: tasks::Options,
    ) -> Result<ObjectRef, Error> {
        Err(unsupported("tasks.submit", TASKS))
    }

    fn get(&mut self, _task: ObjectRef, _timeout_ms: Option<u64>) -> Result<String, Error> {
        Err(unsupported("tasks.get", TASKS))
    }

    fn wait(
        &mut self,
        _refs: Vec<ObjectRef>,
        _num_ready: u32,
        _timeout_ms: Option<u64>,
    ) -> Result<Vec<ObjectRef>, Error> {
        Err(unsupported("tasks.wait", TASKS))
    }

    fn cancel(&mut self, _task: ObjectRef) -> Result<(), Error> {
        Err(unsupported("tasks.cancel", TASKS))
    }
}
