//! `weft:runtime`: the host side of the interfaces guests import.
//!
//! `log`, `tasks` and `objects` are served here; `tasks` and `objects`
//! work for guests running as tasks (their host is a worker agent with a
//! session to the leader and an object store).

use generated::weft::runtime::types::{Error, ObjectRef};
use generated::weft::runtime::{actors, log, objects, tasks, types};
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, Resource, ResourceTable};
use weft_core::{Arg, ClientError, Submission, TaskOptions, value_of};
use weft_proto::FailureKind;

use crate::services::{GuestLog, ObjectParts, PutError, TaskServices};

mod gpu;

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "weft:runtime/guest",
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
    generated::Guest::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)?;
    add_one_copy_reads(linker, get)?;
    gpu::add_direct_writes(linker, get)
}

/// Defines `objects.get` and `objects.get-range` again, over bindgen's:
/// they return the object's bytes as a `bytes::Bytes` lent from the arena,
/// which wasmtime lowers straight into the guest's memory (bindgen's
/// `Vec<u8>` would cost a copy of its own first).
fn add_one_copy_reads<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let mut objects = linker.instance("weft:runtime/objects@0.1.0")?;
    objects.func_wrap_async(
        "get-range",
        move |mut store, (object, offset, length): (ObjectRef, u64, u64)| {
            Box::new(async move { Ok((get(store.data_mut()).read(object, offset, length).await,)) })
        },
    )?;
    objects.func_wrap_async("get", move |mut store, (object,): (ObjectRef,)| {
        Box::new(async move { Ok((get(store.data_mut()).read(object, 0, u64::MAX).await,)) })
    })?;
    linker.allow_shadowing(false);
    Ok(())
}

impl RuntimeCtx {
    /// Bytes `offset..offset + length` of an object, lent without a copy.
    async fn read(
        &mut self,
        object: ObjectRef,
        offset: u64,
        length: u64,
    ) -> Result<bytes::Bytes, Error> {
        let context = self.task_context("objects.get")?;
        let bytes = context.object(&object.id).await.map_err(guest_error)?;
        Ok(bytes.range(offset, length))
    }
}

impl types::Host for RuntimeCtx {}

impl log::Host for RuntimeCtx {
    fn log(&mut self, level: log::Level, message: String) {
        if let Some(log) = &self.log {
            let level = match level {
                log::Level::Trace => "TRACE",
                log::Level::Debug => "DEBUG",
                log::Level::Info => "INFO",
                log::Level::Warn => "WARN",
                log::Level::Error => "ERROR",
            };
            log.write(format!("[{level}] {message}\n").as_bytes());
        }
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

impl objects::Host for RuntimeCtx {
    async fn put(&mut self, data: Vec<u8>) -> Result<ObjectRef, Error> {
        let context = self.task_context("objects.put")?;
        let id = context.put(data).await.map_err(put_error)?;
        Ok(ObjectRef { id })
    }

    // The linker serves these two with `RuntimeCtx::read` (one copy, see
    // `add_one_copy_reads`); bindgen's trait still wants them.
    async fn get(&mut self, object: ObjectRef) -> Result<Vec<u8>, Error> {
        self.read(object, 0, u64::MAX).await.map(Vec::from)
    }

    async fn get_range(
        &mut self,
        object: ObjectRef,
        offset: u64,
        length: u64,
    ) -> Result<Vec<u8>, Error> {
        self.read(object, offset, length).await.map(Vec::from)
    }

    async fn size(&mut self, object: ObjectRef) -> Result<u64, Error> {
        let context = self.task_context("objects.size")?;
        let bytes = context.object(&object.id).await.map_err(guest_error)?;
        Ok(bytes.as_slice().len() as u64)
    }

    async fn create(&mut self, size: u64) -> Result<Resource<ObjectWriter>, Error> {
        let context = self.task_context("objects.create")?;
        let writer = context.create(size).await.map_err(put_error)?;
        self.resources
            .push(ObjectWriter(writer))
            .map_err(|e| Error::ResourceExhausted(format!("objects.create: {e}")))
    }
}

impl objects::HostWriter for RuntimeCtx {
    async fn write(
        &mut self,
        writer: Resource<ObjectWriter>,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<(), Error> {
        let writer = self
            .resources
            .get(&writer)
            .map_err(|e| Error::InvalidArgument(format!("writer.write: {e}")))?;
        writer
            .0
            .write(offset, &data)
            .map_err(|e| Error::InvalidArgument(e.to_string()))
    }

    async fn finish(&mut self, writer: Resource<ObjectWriter>) -> Result<ObjectRef, Error> {
        let context = self.task_context("writer.finish")?;
        let writer = self
            .resources
            .delete(writer)
            .map_err(|e| Error::InvalidArgument(format!("writer.finish: {e}")))?;
        let id = context.finish(writer.0).await.map_err(put_error)?;
        Ok(ObjectRef { id })
    }

    async fn drop(&mut self, writer: Resource<ObjectWriter>) -> wasmtime::Result<()> {
        // Unfinished: the room goes back with the writer.
        self.resources.delete(writer)?;
        Ok(())
    }
}

/// A failed put or create as the guest sees it.
fn put_error(e: PutError) -> Error {
    match e {
        PutError::Full(message) => Error::ResourceExhausted(message),
        PutError::Failed(message) => Error::Other(message),
    }
}

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

fn millis(ms: Option<u64>) -> Option<Duration> {
    ms.map(Duration::from_millis)
}

impl RuntimeCtx {
    /// Waits for a task and returns its value (None for a function that
    /// returns nothing), read from its holder when it is large.
    async fn task_value(
        &mut self,
        what: &str,
        task: ObjectRef,
        timeout_ms: Option<u64>,
    ) -> Result<Option<weft_values::Value>, Error> {
        let context = self.task_context(what)?;
        let result = context
            .wait(std::slice::from_ref(&task.id), 1, millis(timeout_ms))
            .await
            .map_err(guest_error)?;
        match result.into_iter().next() {
            // A large value stays on the host that made it.
            Some(r) if r.ok && !r.held_by.is_empty() => {
                let object = context.object(&r.id).await.map_err(guest_error)?;
                Ok(Some(object.value().map_err(|e| {
                    Error::Other(format!("the value of {} cannot be read: {e}", r.id))
                })?))
            }
            Some(r) => value_of(r).map_err(guest_error),
            None => Err(Error::Timeout(format!(
                "task {} did not finish within {} ms",
                task.id,
                timeout_ms.unwrap_or(0)
            ))),
        }
    }
}

impl tasks::Host for RuntimeCtx {
    async fn submit(
        &mut self,
        component: String,
        function: String,
        args: Vec<tasks::Argument>,
        options: tasks::Options,
    ) -> Result<ObjectRef, Error> {
        let context = self.task_context("tasks.submit")?;
        let args = args
            .into_iter()
            .enumerate()
            .map(|(i, a)| match a {
                tasks::Argument::Wave(text) => Ok(Arg::Wave(text)),
                tasks::Argument::Object(r) => Ok(Arg::Ref(r.id)),
                tasks::Argument::Json(text) => {
                    serde_json::from_str(&text).map(Arg::Json).map_err(|e| {
                        Error::InvalidArgument(format!("argument {} is not JSON: {e}", i + 1))
                    })
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let options = TaskOptions {
            has_cpus: options.cpus.is_some(),
            cpus: options.cpus.unwrap_or(0.0),
            gpus: options.gpus.unwrap_or(0),
            has_max_retries: options.max_retries.is_some(),
            max_retries: options.max_retries.unwrap_or(0),
            retry_on_trap: options.retry_on_trap.unwrap_or(false),
            timeout_ms: options.timeout_ms.unwrap_or(0),
            memory_limit_bytes: options.memory_limit_bytes.unwrap_or(0),
            ..Default::default()
        };
        let id = context
            .submit(Submission {
                component,
                function,
                args,
                options,
            })
            .await
            .map_err(guest_error)?;
        Ok(ObjectRef { id })
    }

    async fn get(&mut self, task: ObjectRef, timeout_ms: Option<u64>) -> Result<String, Error> {
        let value = self.task_value("tasks.get", task, timeout_ms).await?;
        Ok(match value {
            None => String::new(),
            // Megabytes of text take a while: written off the threads
            // that drive guests and the host's session with the leader.
            Some(value) if large(&value) => {
                tokio::task::spawn_blocking(move || weft_values::to_wave(&value))
                    .await
                    .map_err(|e| Error::Other(format!("writing the value's text failed: {e}")))?
            }
            Some(value) => weft_values::to_wave(&value),
        })
    }

    async fn get_json(
        &mut self,
        task: ObjectRef,
        timeout_ms: Option<u64>,
    ) -> Result<String, Error> {
        let value = self.task_value("tasks.get-json", task, timeout_ms).await?;
        Ok(value.map_or_else(|| "null".into(), |v| weft_values::to_json(&v).to_string()))
    }

    async fn wait(
        &mut self,
        refs: Vec<ObjectRef>,
        num_ready: u32,
        timeout_ms: Option<u64>,
    ) -> Result<Vec<ObjectRef>, Error> {
        let context = self.task_context("tasks.wait")?;
        let ids: Vec<String> = refs.into_iter().map(|r| r.id).collect();
        let ready = context
            .wait(&ids, num_ready as usize, millis(timeout_ms))
            .await
            .map_err(guest_error)?;
        Ok(ready.into_iter().map(|r| ObjectRef { id: r.id }).collect())
    }

    async fn cancel(&mut self, task: ObjectRef) -> Result<(), Error> {
        let context = self.task_context("tasks.cancel")?;
        context.cancel(&task.id).await.map_err(guest_error)
    }
}

impl actors::Host for RuntimeCtx {
    async fn create(
        &mut self,
        component: String,
        class: String,
        constructor: String,
        options: actors::Options,
    ) -> Result<actors::Actor, Error> {
        let context = self.task_context("actors.create")?;
        let options = weft_core::ActorOptions {
            name: options.name.unwrap_or_default(),
            namespace: options.namespace.unwrap_or_default(),
            detached: options.detached.unwrap_or(false),
            max_restarts: options.max_restarts.unwrap_or(0),
            max_task_retries: options.max_task_retries.unwrap_or(0),
            cpus: options.cpus.unwrap_or(0.0),
            checkpoint_every_calls: options.checkpoint_every_calls.unwrap_or(0),
            checkpoint_every_ms: options.checkpoint_every_ms.unwrap_or(0),
            ..Default::default()
        };
        let handle = context
            .create_actor(&component, &class, &constructor, options)
            .await
            .map_err(guest_error)?;
        Ok(actors::Actor { id: handle.id })
    }

    async fn lookup(
        &mut self,
        name: String,
        namespace: Option<String>,
    ) -> Result<actors::Actor, Error> {
        let context = self.task_context("actors.lookup")?;
        let handle = context
            .get_actor(&name, namespace.as_deref().unwrap_or(""))
            .await
            .map_err(guest_error)?;
        Ok(actors::Actor { id: handle.id })
    }

    async fn call(
        &mut self,
        actor: actors::Actor,
        method: String,
        args: Vec<String>,
    ) -> Result<ObjectRef, Error> {
        let context = self.task_context("actors.call")?;
        let id = context
            .call_actor(
                &actor.id,
                &method,
                args.into_iter().map(Arg::Wave).collect(),
            )
            .await
            .map_err(guest_error)?;
        Ok(ObjectRef { id })
    }

    async fn kill(&mut self, actor: actors::Actor) -> Result<(), Error> {
        let context = self.task_context("actors.kill")?;
        context.kill_actor(&actor.id).await.map_err(guest_error)
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

/// Whether `value` is large enough that writing its text belongs on a
/// blocking thread: bytes or text too large to travel inline, or a list
/// of over 4096 items.
fn large(value: &weft_values::Value) -> bool {
    use weft_values::Value;
    match value {
        Value::Bytes(b) => b.len() > weft_proto::limits::INLINE_MAX,
        Value::String(s) => s.len() > weft_proto::limits::INLINE_MAX,
        Value::List(items) => items.len() > 4096,
        _ => false,
    }
}
