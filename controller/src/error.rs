//! The controller's error type, and its one mapping to `tonic::Status`.

use std::path::Path;

use weft_host::HostError;

/// Why a controller request failed.
#[derive(Debug, thiserror::Error)]
pub enum ControllerError {
    /// No component by that name or digest.
    #[error("unknown component `{0}` (see `weft components`)")]
    UnknownComponent(String),
    /// A request field is malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// The upload is larger than this controller accepts.
    #[error("upload of {size} is larger than the limit of {limit}")]
    TooLarge {
        /// The upload's size, rendered.
        size: String,
        /// The limit, rendered.
        limit: String,
    },
    /// The host refused the component or the call.
    #[error(transparent)]
    Host(#[from] HostError),
    /// Stored state does not match what it should be.
    #[error("corrupt state: {0}")]
    Corrupt(String),
    /// The state store failed.
    #[error("state store error: {0}")]
    Store(#[from] sled::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl ControllerError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        ControllerError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl From<ControllerError> for tonic::Status {
    fn from(err: ControllerError) -> Self {
        use tonic::Code;
        let code = match &err {
            ControllerError::UnknownComponent(_) => Code::NotFound,
            ControllerError::InvalidRequest(_) => Code::InvalidArgument,
            ControllerError::TooLarge { .. } => Code::ResourceExhausted,
            ControllerError::Host(host) => match host {
                HostError::NotWasm
                | HostError::CoreModule
                | HostError::InvalidComponent(_)
                | HostError::MissingImport { .. }
                | HostError::BadArguments { .. }
                | HostError::Uncallable { .. }
                | HostError::LimitTooHigh(_) => Code::InvalidArgument,
                HostError::UnknownFunction { .. } => Code::NotFound,
                HostError::Timeout { .. } => Code::DeadlineExceeded,
                HostError::MemoryLimit { .. } => Code::ResourceExhausted,
                HostError::Trap { .. } => Code::Aborted,
                HostError::Internal(_) => Code::Internal,
            },
            ControllerError::Corrupt(_)
            | ControllerError::Store(_)
            | ControllerError::Io { .. } => Code::Internal,
        };
        tonic::Status::new(code, err.to_string())
    }
}
