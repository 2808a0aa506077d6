//! Why a request to the cluster failed, for every side that makes one
//! (clients, and hosts acting for their guests).

use std::time::Duration;

use crate::TaskResult;
use weft_proto::FailureKind;

/// Why a client request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No controller could be reached.
    #[error("cannot reach the weft cluster at {address}: {reason} (is `weft up` running?)")]
    Unreachable {
        /// The addresses tried.
        address: String,
        /// What went wrong last.
        reason: String,
    },
    /// The cluster answered with an error; its message is the whole story.
    #[error("{}", .0.message())]
    Rpc(tonic::Status),
    /// A task failed; `kind` says how (trap, timeout, host-died, ...).
    #[error("{message}")]
    TaskFailed {
        /// The task's id.
        id: String,
        /// How it failed.
        kind: FailureKind,
        /// What happened, naming the task and, for a lost host, the host.
        message: String,
    },
    /// Arguments that do not fit the function's parameters, or a function
    /// the component does not export.
    #[error("{0}")]
    InvalidArgument(String),
    /// The wait ended before the tasks finished.
    #[error("timed out after {after:?} with {pending} task(s) still pending")]
    Timeout {
        /// How long it waited.
        after: Duration,
        /// How many had not finished.
        pending: usize,
    },
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        ClientError::Rpc(status)
    }
}

impl ClientError {
    /// The error a failed task's result stands for.
    pub fn failed(result: TaskResult) -> ClientError {
        ClientError::TaskFailed {
            kind: result.failure_kind(),
            id: result.id,
            message: result.error,
        }
    }

    /// The gRPC status code, when the cluster answered.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            ClientError::Rpc(status) => Some(status.code()),
            _ => None,
        }
    }
}
