//! `weft call`: a task with a synchronous wait. The leader types the
//! call's text by the function's signature, submits it as a task of a
//! short-lived owner of its own (so it is scheduled and counted against a
//! host's resources like any task), waits for its result, and renders it.
//! The controller itself never runs user code. On a leader whose process
//! also runs a host, a call that fits that host now takes a shorter way
//! there (`tasks/local_call.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use weft_proto::v1 as pb;
use weft_values::Value;

use crate::error::ControllerError;
use crate::tasks::TaskManager;

/// How a call runs and renders.
#[derive(Debug, Clone, Default)]
pub struct CallOptions {
    /// The guest's deadline; `None`: the host's default.
    pub timeout: Option<Duration>,
    /// Linear-memory limit; `None`: the host's default.
    pub memory_limit: Option<u64>,
    /// Render the result as JSON (else WAVE).
    pub json: bool,
}

/// What a call produced.
#[derive(Debug, Clone)]
pub struct CallReply {
    /// The rendered result; `None` for a function without one.
    pub result: Option<String>,
    /// What the guest wrote to stdout and stderr (bounded).
    pub output: String,
    /// Time spent instantiating, and in the whole task on its host.
    pub instantiate: Duration,
    /// Time the guest's call took.
    pub call: Duration,
    /// The host that ran it.
    pub host: String,
}

/// Closes the call's owner session however the call ends (done, failed,
/// or its client gone), dropping its ref to the result.
pub(crate) struct OwnerGuard<'a> {
    pub(crate) tasks: &'a Arc<TaskManager>,
    pub(crate) owner: u64,
}

impl Drop for OwnerGuard<'_> {
    fn drop(&mut self) {
        self.tasks.close_owner(self.owner);
    }
}

/// A host in the leader's own process (`weft up`'s), which runs a call
/// handed to it directly, on the leader's reservation.
pub trait LocalHost: Send + Sync {
    /// The id it registered with.
    fn id(&self) -> &str;

    /// Runs one assignment to its end: its result, and the objects its
    /// guest made.
    fn run(
        &self,
        assignment: pb::Assignment,
    ) -> Pin<Box<dyn Future<Output = (pb::TaskResult, Vec<String>)> + Send + 'static>>;
}

/// A call's text typed by its function's signature and encoded.
pub(crate) struct TypedCall {
    /// The component it resolved to.
    pub(crate) digest: String,
    /// `func` or `iface.func`.
    pub(crate) function: String,
    /// The arguments, encoded.
    pub(crate) args: Vec<pb::TaskArg>,
}

/// The reply to a call from its task's result.
pub(crate) fn render(
    result: pb::TaskResult,
    function: &str,
    options: &CallOptions,
) -> Result<CallReply, ControllerError> {
    if !result.ok {
        return Err(ControllerError::CallFailed {
            kind: result.failure_kind(),
            message: result.error,
        });
    }
    let rendered = if result.has_value {
        let value = weft_values::decode(&result.value).map_err(|e| {
            ControllerError::Corrupt(format!("the result of `{function}` does not decode: {e}"))
        })?;
        Some(if options.json {
            weft_values::to_json(&value).to_string()
        } else {
            weft_values::to_wave(&value)
        })
    } else {
        None
    };
    let instantiate = Duration::from_micros(result.instantiate_micros);
    Ok(CallReply {
        result: rendered,
        output: result.output,
        instantiate,
        call: Duration::from_micros(result.run_micros).saturating_sub(instantiate),
        host: result.host,
    })
}

/// How long a call waits for a first host to register (one starting with
/// the cluster) before it fails rather than queue with nowhere to run.
pub(crate) const HOST_WAIT: Duration = Duration::from_secs(3);

/// One argument, encoded, as a task takes it.
pub(crate) fn arg(value: &Value) -> pb::TaskArg {
    pb::TaskArg {
        kind: Some(pb::task_arg::Kind::Value(pb::Value {
            encoded: weft_values::encode(value),
            refs: value.refs(),
        })),
    }
}
