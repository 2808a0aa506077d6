//! `weft:runtime/tasks@0.1.0`: arguments as WAVE or JSON text, typed for
//! the guest by the callee's signature (which the task API asks the
//! cluster for), and values handed back as text.

use weft_core::Arg;

use super::old::tasks;
use crate::runtime::RuntimeCtx;
use crate::runtime::generated::weft::runtime::tasks as current;
use crate::runtime::generated::weft::runtime::types::{Error, ObjectRef};

impl RuntimeCtx {
    /// Waits for a task and decodes its value.
    async fn decoded_value(
        &mut self,
        what: &str,
        task: ObjectRef,
        timeout_ms: Option<u64>,
    ) -> Result<Option<weft_values::Value>, Error> {
        let id = task.id.clone();
        let Some(object) = self.task_value(what, task, timeout_ms).await? else {
            return Ok(None);
        };
        weft_values::decode(object.encoded())
            .map(Some)
            .map_err(|e| Error::Other(format!("the value of {id} cannot be read: {e}")))
    }
}

/// Text arguments as the task API's, typed there by the callee's
/// parameters.
fn text_args(args: Vec<tasks::Argument>) -> Result<Vec<Arg>, Error> {
    args.into_iter()
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
        .collect()
}

impl tasks::Host for RuntimeCtx {
    async fn submit(
        &mut self,
        component: String,
        function: String,
        args: Vec<tasks::Argument>,
        options: tasks::Options,
    ) -> Result<ObjectRef, Error> {
        let args = text_args(args)?;
        let options = current::Options {
            timeout_ms: options.timeout_ms,
            memory_limit_bytes: options.memory_limit_bytes,
            cpus: options.cpus,
            gpus: options.gpus,
            max_retries: options.max_retries,
            retry_on_trap: options.retry_on_trap,
        };
        let options = crate::runtime::tasks::options_of(options);
        self.submit_task(component, function, args, options).await
    }

    async fn get(&mut self, task: ObjectRef, timeout_ms: Option<u64>) -> Result<String, Error> {
        let value = self.decoded_value("tasks.get", task, timeout_ms).await?;
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
        let value = self
            .decoded_value("tasks.get-json", task, timeout_ms)
            .await?;
        Ok(value.map_or_else(|| "null".into(), |v| weft_values::to_json(&v).to_string()))
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
