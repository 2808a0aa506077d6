//! `weft:runtime/tasks`: a task's guest submits nested tasks, waits for
//! them, reads their values and cancels them, through
//! [`TaskServices`](crate::services::TaskServices).
//!
//! Arguments and values cross in the binary encoding: an argument is
//! decoded once here and sent on as the value it is (the host that runs
//! the callee conforms it to the parameter's type), and a value goes to
//! the guest as the bytes it was stored as. Nothing is typed here, so a
//! nested submission asks the leader for no signature.

use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use weft_core::{Arg, ClientError, Submission, TaskOptions};

use super::generated::weft::runtime::tasks;
use super::generated::weft::runtime::types::{Error, ObjectRef};
use super::{RuntimeCtx, guest_error};
use crate::services::{GuestObject, TaskServices};

/// Adds `weft:runtime/tasks` to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    tasks::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)
}

pub(super) fn millis(ms: Option<u64>) -> Option<Duration> {
    ms.map(Duration::from_millis)
}

/// A guest's encoded arguments as the task API's: each value decoded
/// (refused, naming the argument, if it is not an encoded value), each
/// object passed by ref.
pub(super) fn args_of(args: Vec<tasks::Argument>) -> Result<Vec<Arg>, Error> {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| match a {
            tasks::Argument::Value(bytes) => decoded(i, &bytes).map(Arg::Value),
            tasks::Argument::Object(r) => Ok(Arg::Ref(r.id)),
        })
        .collect()
}

/// A guest's encoded arguments as values, each object as the ref itself
/// (an actor's constructor arguments are not resolved before it runs).
pub(super) fn values_of(args: Vec<tasks::Argument>) -> Result<Vec<weft_values::Value>, Error> {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| match a {
            tasks::Argument::Value(bytes) => decoded(i, &bytes),
            tasks::Argument::Object(r) => Ok(weft_values::Value::ObjectRef(r.id)),
        })
        .collect()
}

/// Argument `i`'s bytes decoded, or why they are no encoded value.
fn decoded(i: usize, bytes: &[u8]) -> Result<weft_values::Value, Error> {
    weft_values::decode(bytes).map_err(|e| {
        Error::InvalidArgument(format!(
            "argument {} is not an encoded value (docs/VALUES.md): {e}",
            i + 1
        ))
    })
}

/// A finished task's encoded value: inline with its result, or read from
/// the host that holds it.
pub(super) enum Finished {
    Inline(Vec<u8>),
    Held(Box<dyn GuestObject>),
}

impl Finished {
    /// The encoding, borrowed.
    pub(super) fn encoded(&self) -> &[u8] {
        match self {
            Finished::Inline(bytes) => bytes,
            Finished::Held(object) => object.encoded(),
        }
    }

    /// The encoding, owned: an inline value without a copy.
    pub(super) fn into_encoded(self) -> Vec<u8> {
        match self {
            Finished::Inline(bytes) => bytes,
            Finished::Held(object) => object.encoded().to_vec(),
        }
    }
}

/// A guest's task options as the task API's.
pub(super) fn options_of(options: tasks::Options) -> TaskOptions {
    TaskOptions {
        has_cpus: options.cpus.is_some(),
        cpus: options.cpus.unwrap_or(0.0),
        gpus: options.gpus.unwrap_or(0),
        has_max_retries: options.max_retries.is_some(),
        max_retries: options.max_retries.unwrap_or(0),
        retry_on_trap: options.retry_on_trap.unwrap_or(false),
        timeout_ms: options.timeout_ms.unwrap_or(0),
        memory_limit_bytes: options.memory_limit_bytes.unwrap_or(0),
        ..Default::default()
    }
}

/// `options` with a guest's placement on top, or why it is no placement.
fn placed(mut options: TaskOptions, placement: tasks::Placement) -> Result<TaskOptions, Error> {
    if let Some(strategy) = placement.strategy {
        if !matches!(strategy.as_str(), "default" | "spread") {
            return Err(Error::InvalidArgument(format!(
                "placement strategy `{strategy}` is not one of: default, spread"
            )));
        }
        options.strategy = strategy;
    }
    if placement.soft.is_some() && placement.node.is_none() {
        return Err(Error::InvalidArgument(
            "placement `soft` goes with `node`".into(),
        ));
    }
    options.affinity_host = placement.node.unwrap_or_default();
    options.affinity_soft = placement.soft.unwrap_or(false);
    options.memory = placement.memory.unwrap_or(0);
    for (name, amount) in placement.resources {
        if !amount.is_finite() || amount < 0.0 {
            return Err(Error::InvalidArgument(format!(
                "custom resource `{name}`: {amount} is not an amount"
            )));
        }
        options.custom.insert(name, amount);
    }
    if let Some(window) = placement.streaming {
        options.streaming = true;
        options.stream_backpressure = window;
    }
    Ok(options)
}

impl RuntimeCtx {
    /// Submits a task for the guest.
    pub(super) async fn submit_task(
        &mut self,
        component: String,
        function: String,
        args: Vec<Arg>,
        options: TaskOptions,
    ) -> Result<ObjectRef, Error> {
        let context = self.task_context("tasks.submit")?;
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

    /// Waits for a task and returns its encoded value (None for a function
    /// that returns nothing): inline with its result, or read from the
    /// host that holds it when it is large.
    pub(super) async fn task_value(
        &mut self,
        what: &str,
        task: ObjectRef,
        timeout_ms: Option<u64>,
    ) -> Result<Option<Finished>, Error> {
        let context = self.task_context(what)?;
        value_of(&*context, task, timeout_ms).await
    }

    /// Waits until `num_ready` of `refs` are ready; the ready ones.
    pub(super) async fn wait_tasks(
        &mut self,
        refs: Vec<ObjectRef>,
        num_ready: u32,
        timeout_ms: Option<u64>,
    ) -> Result<Vec<ObjectRef>, Error> {
        let context = self.task_context("tasks.wait")?;
        ready_of(&*context, refs, num_ready, timeout_ms).await
    }
}

/// Task `task`'s encoded value through `context` (see
/// [`RuntimeCtx::task_value`]): what `tasks.get` and `awaits.get` share.
pub(super) async fn value_of(
    context: &dyn TaskServices,
    task: ObjectRef,
    timeout_ms: Option<u64>,
) -> Result<Option<Finished>, Error> {
    let result = context
        .wait(std::slice::from_ref(&task.id), 1, millis(timeout_ms))
        .await
        .map_err(guest_error)?;
    match result.into_iter().next() {
        Some(r) if !r.ok => Err(guest_error(ClientError::failed(r))),
        Some(r) if !r.held_by.is_empty() => Ok(Some(Finished::Held(
            context.object(&r.id).await.map_err(guest_error)?,
        ))),
        Some(r) if r.has_value => Ok(Some(Finished::Inline(r.value))),
        Some(_) => Ok(None),
        None => Err(Error::Timeout(format!(
            "task {} did not finish within {} ms",
            task.id,
            timeout_ms.unwrap_or(0)
        ))),
    }
}

/// The ready ones of `refs` once `num_ready` are, through `context`: what
/// `tasks.wait` and `awaits.wait` share.
pub(super) async fn ready_of(
    context: &dyn TaskServices,
    refs: Vec<ObjectRef>,
    num_ready: u32,
    timeout_ms: Option<u64>,
) -> Result<Vec<ObjectRef>, Error> {
    let ids: Vec<String> = refs.into_iter().map(|r| r.id).collect();
    let ready = context
        .wait(&ids, num_ready as usize, millis(timeout_ms))
        .await
        .map_err(guest_error)?;
    Ok(ready.into_iter().map(|r| ObjectRef { id: r.id }).collect())
}

impl RuntimeCtx {
    /// Cancels a task the guest submitted.
    pub(super) async fn cancel_task(&mut self, task: ObjectRef) -> Result<(), Error> {
        let context = self.task_context("tasks.cancel")?;
        context.cancel(&task.id).await.map_err(guest_error)
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
        let args = args_of(args)?;
        self.submit_task(component, function, args, options_of(options))
            .await
    }

    async fn submit_placed(
        &mut self,
        component: String,
        function: String,
        args: Vec<tasks::Argument>,
        options: tasks::Options,
        placement: tasks::Placement,
    ) -> Result<ObjectRef, Error> {
        let args = args_of(args)?;
        let options = placed(options_of(options), placement)?;
        self.submit_task(component, function, args, options).await
    }

    async fn get(
        &mut self,
        task: ObjectRef,
        timeout_ms: Option<u64>,
    ) -> Result<Option<Vec<u8>>, Error> {
        let value = self.task_value("tasks.get", task, timeout_ms).await?;
        Ok(value.map(Finished::into_encoded))
    }

    async fn wait(
        &mut self,
        refs: Vec<ObjectRef>,
        num_ready: u32,
        timeout_ms: Option<u64>,
    ) -> Result<Vec<ObjectRef>, Error> {
        self.wait_tasks(refs, num_ready, timeout_ms).await
    }

    async fn cancel(&mut self, task: ObjectRef) -> Result<(), Error> {
        self.cancel_task(task).await
    }

    async fn emit(&mut self, value: Vec<u8>) -> Result<(), Error> {
        use crate::services::EmitError;
        // Refused here rather than at the consumer, which could not say
        // which emit was wrong.
        if let Err(e) = weft_values::decode(&value) {
            return Err(Error::InvalidArgument(format!(
                "the item is not an encoded value (docs/VALUES.md): {e}"
            )));
        }
        let context = self.task_context("tasks.emit")?;
        context.emit(value).await.map_err(|e| match e {
            EmitError::NotStreaming(m) => Error::Unsupported(m),
            EmitError::Full(m) => Error::ResourceExhausted(m),
            EmitError::Failed(m) => Error::Other(m),
        })
    }
}
