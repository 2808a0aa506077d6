//! Errors as the TypeScript wrapper rethrows them: the native side throws
//! a plain `Error` whose message is a small JSON envelope naming the class
//! (`TaskError`, `ActorDiedError`, `TypeError`, ...) and its fields, and
//! `ts/errors.ts` turns it into an instance of that class. One envelope
//! serves the synchronous and the Promise paths alike.

use napi::{Error, Status};
use weft_client::{ClientError, ErrorClass};

/// An error of the wrapper's `class`, with a task's `kind` and id where it
/// has them.
pub fn weft_error(class: &str, message: impl Into<String>, kind: &str, task_id: &str) -> Error {
    let envelope = serde_json::json!({
        "weft": class,
        "message": message.into(),
        "kind": kind,
        "taskId": task_id,
    });
    Error::new(Status::GenericFailure, envelope.to_string())
}

/// A `TypeError`: a value that does not fit its WIT type, a bad option.
pub fn type_error(message: impl Into<String>) -> Error {
    weft_error("TypeError", message, "", "")
}

/// A `WeftError`: anything else the SDK refuses.
pub fn plain(message: impl Into<String>) -> Error {
    weft_error("WeftError", message, "", "")
}

/// A client error as the class a user catches.
pub fn raise(error: ClientError) -> Error {
    let class = match error.class() {
        ErrorClass::ActorDied => "ActorDiedError",
        ErrorClass::ObjectLost => "ObjectLostError",
        ErrorClass::Canceled => "TaskCancelledError",
        ErrorClass::Task => "TaskError",
        ErrorClass::Timeout => "TimeoutError",
        ErrorClass::Connection => "WeftConnectionError",
        ErrorClass::InvalidArgument => "TypeError",
        ErrorClass::Other => "WeftError",
    };
    match error {
        ClientError::TaskFailed { id, kind, message } => {
            weft_error(class, message, kind.as_str(), &id)
        }
        ClientError::InvalidArgument(message) => type_error(message),
        other => weft_error(class, other.to_string(), "", ""),
    }
}
