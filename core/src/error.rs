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
    /// The host holding an object cannot serve it now: it cannot be
    /// reached, it closed its stream, or its store cannot be mapped here.
    /// Readers ask the leader again, which rebuilds the object or names it
    /// lost.
    #[error("{0}")]
    HolderUnavailable(String),
    /// Something the cluster sent cannot be read by this client (a value,
    /// a signature): the two disagree on a version, or it was damaged.
    #[error("{0}")]
    Unreadable(String),
    /// The cluster has no live host to take the request.
    #[error("{0}")]
    NoHost(String),
    /// Hosts could not do what was asked of each (make a component
    /// ready); the message names each and why.
    #[error("{0}")]
    HostsFailed(String),
    /// A fault in this process: a mapping that failed, a stream opened
    /// without its sender, an object on another machine.
    #[error("{0}")]
    Local(String),
    /// A Serve deployment answered a call with a failure: the gateway's
    /// status (500 for a trap, 503 for an overloaded deployment, 404 for
    /// an unknown one) and why.
    #[error("{message}")]
    Serve {
        /// The HTTP status.
        status: u16,
        /// What the gateway said, naming the deployment.
        message: String,
    },
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

    /// Which of the error classes every SDK raises this one is.
    pub fn class(&self) -> ErrorClass {
        match self {
            ClientError::TaskFailed { kind, .. } => match kind {
                FailureKind::ActorDied => ErrorClass::ActorDied,
                FailureKind::Lost => ErrorClass::ObjectLost,
                FailureKind::Canceled => ErrorClass::Canceled,
                _ => ErrorClass::Task,
            },
            ClientError::Timeout { .. } => ErrorClass::Timeout,
            ClientError::Unreachable { .. } => ErrorClass::Connection,
            ClientError::InvalidArgument(_) => ErrorClass::InvalidArgument,
            ClientError::Serve { status: 400, .. } => ErrorClass::InvalidArgument,
            ClientError::Serve { status: 504, .. } => ErrorClass::Timeout,
            ClientError::Serve { status, .. } if *status >= 500 && *status != 503 => {
                ErrorClass::Task
            }
            _ => ErrorClass::Other,
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

/// The kinds of failure a user tells apart, one exception or error class
/// each in every SDK (`TaskError`, `ActorDiedError`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// A task or actor call failed (a trap, a deadline, a lost host...).
    Task,
    /// The actor died before answering.
    ActorDied,
    /// The object is lost and cannot be rebuilt.
    ObjectLost,
    /// The task was canceled.
    Canceled,
    /// A wait ran out of time.
    Timeout,
    /// No controller could be reached.
    Connection,
    /// A value or argument the caller gave is wrong.
    InvalidArgument,
    /// Anything else.
    Other,
}
