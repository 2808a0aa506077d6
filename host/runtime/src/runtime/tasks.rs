//! `weft:runtime/tasks`: a task's guest submits nested tasks, waits for
//! them, reads their values and cancels them, through
//! [`TaskServices`](crate::services::TaskServices).

use std::time::Duration;

use wasmtime::component::{HasSelf, Linker};
use weft_core::{Arg, Submission, TaskOptions, value_of};

use super::generated::weft::runtime::tasks;
use super::generated::weft::runtime::types::{Error, ObjectRef};
use super::{RuntimeCtx, guest_error};

/// Adds `weft:runtime/tasks` to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    tasks::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)
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
