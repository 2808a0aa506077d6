//! The controller's error type, and its one mapping to `tonic::Status`.

use weft_proto::{FailureKind, metadata};

use crate::member::NodeId;

/// Why a controller request failed.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// No component by that name or digest.
    #[error("unknown component `{0}` (see `weft components`)")]
    UnknownComponent(String),
    /// No such task (or other named thing).
    #[error("{0}")]
    NotFound(String),
    /// A request field is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// A name, key or path is not one the cluster accepts.
    #[error(transparent)]
    InvalidInput(#[from] crate::command::InvalidInput),
    /// The upload is larger than this controller accepts.
    #[error("upload of {size} is larger than the limit of {limit}")]
    TooLarge {
        /// The upload's size, rendered.
        size: String,
        /// The limit, rendered.
        limit: String,
    },
    /// A limit on one client refused the request; the message names it.
    #[error("{0}")]
    Limited(String),
    /// This replica is not the leader; writes go to the leader.
    #[error("not the leader: {}", match .leader { Some((id, addr)) => format!("the leader is node {id} at {addr}"), None => "no leader is known yet".into() })]
    NotLeader {
        /// The leader's id and client address, when known.
        leader: Option<(NodeId, String)>,
    },
    /// A write or linearizable read could not reach a quorum.
    #[error("no quorum: {0}")]
    NoQuorum(String),
    /// The upload is not a component a host can run.
    #[error(transparent)]
    Invalid(#[from] weft_values::InspectError),
    /// A call's text names no export or does not fit its parameters.
    #[error(transparent)]
    BadCall(#[from] weft_values::CallError),
    /// A call ran and failed, as its task reported it.
    #[error("{message}")]
    CallFailed {
        /// The failure kind.
        kind: FailureKind,
        /// What went wrong.
        message: String,
    },
    /// Stored state does not match what it should be.
    #[error("corrupt state: {0}")]
    Corrupt(String),
    /// The state store failed.
    #[error("state store error: {0}")]
    Store(#[from] sled::Error),
    /// Raft failed for a reason other than leadership or quorum.
    #[error("replication error: {0}")]
    Raft(String),
}

impl From<ControllerError> for tonic::Status {
    fn from(err: ControllerError) -> Self {
        use tonic::Code;
        let code = match &err {
            ControllerError::UnknownComponent(_) | ControllerError::NotFound(_) => Code::NotFound,
            ControllerError::InvalidRequest(_) | ControllerError::InvalidInput(_) => {
                Code::InvalidArgument
            }
            ControllerError::TooLarge { .. } | ControllerError::Limited(_) => {
                Code::ResourceExhausted
            }
            ControllerError::NotLeader { .. } | ControllerError::NoQuorum(_) => Code::Unavailable,
            ControllerError::Invalid(_) => Code::InvalidArgument,
            ControllerError::BadCall(weft_values::CallError::UnknownFunction(_)) => Code::NotFound,
            ControllerError::BadCall(_) => Code::InvalidArgument,
            ControllerError::CallFailed { kind, .. } => match kind {
                FailureKind::BadArgument => Code::InvalidArgument,
                FailureKind::NotFound => Code::NotFound,
                FailureKind::Timeout => Code::DeadlineExceeded,
                FailureKind::Memory
                | FailureKind::Infeasible
                | FailureKind::TooLarge
                | FailureKind::Refused => Code::ResourceExhausted,
                FailureKind::Trap | FailureKind::Canceled | FailureKind::Dependency => {
                    Code::Aborted
                }
                FailureKind::HostDied | FailureKind::Lost | FailureKind::ActorDied => {
                    Code::Unavailable
                }
                FailureKind::Internal | FailureKind::None => Code::Internal,
            },
            ControllerError::Corrupt(_) | ControllerError::Store(_) | ControllerError::Raft(_) => {
                Code::Internal
            }
        };
        let mut status = tonic::Status::new(code, err.to_string());
        match &err {
            ControllerError::NotLeader {
                leader: Some((_, addr)),
            } => {
                if let Ok(value) = addr.parse() {
                    status.metadata_mut().insert(metadata::LEADER, value);
                }
            }
            ControllerError::NoQuorum(_) => {
                status
                    .metadata_mut()
                    .insert(metadata::NO_QUORUM, "1".parse().expect("ascii"));
            }
            _ => {}
        }
        status
    }
}
