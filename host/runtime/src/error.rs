//! The host's error type: one enum for everything a deploy or a call can get
//! wrong, each case worded so its `Display` is the one line a user sees.

use std::time::Duration;

/// Why a component could not be deployed or a call could not complete.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The bytes are not a component at all (not WebAssembly, or a core
    /// module): worded as the controller's check of an upload words it.
    #[error(transparent)]
    NotAComponent(weft_values::InspectError),
    /// The component failed validation or compilation.
    #[error("invalid component: {0}")]
    InvalidComponent(String),
    /// The component imports something the host does not provide.
    #[error("component imports `{import}`, which weft hosts do not provide ({detail})")]
    MissingImport {
        /// The import's name as the component spells it.
        import: String,
        /// wasmtime's own explanation.
        detail: String,
    },
    /// No exported function by that name.
    #[error("component has no exported function `{function}`; it exports: {available}")]
    UnknownFunction {
        /// The name asked for.
        function: String,
        /// A comma-separated list of what can be called.
        available: String,
    },
    /// The function cannot be called from outside (e.g. it takes a resource).
    #[error("function `{function}` cannot be called from outside the component: {reason}")]
    Uncallable {
        /// The function's name.
        function: String,
        /// Why not.
        reason: String,
    },
    /// The arguments do not fit the function's parameter types.
    #[error("bad arguments for `{function}`: {detail}")]
    BadArguments {
        /// The function's name.
        function: String,
        /// Which argument and what type was expected.
        detail: String,
    },
    /// The guest trapped or panicked.
    #[error("guest trapped in `{function}`: {message}")]
    Trap {
        /// The function's name.
        function: String,
        /// The guest's own panic message where it printed one, else the trap.
        message: String,
    },
    /// The guest ran past its deadline and was stopped.
    #[error("guest `{function}` ran past its deadline of {} and was stopped", humanize(*.deadline))]
    Timeout {
        /// The function's name.
        function: String,
        /// The deadline it was given.
        deadline: Duration,
    },
    /// The guest tried to grow its memory past the limit.
    #[error(
        "guest `{function}` exceeded its memory limit of {} (it asked for {}); raise it with --memory-limit",
        bytes(*.limit),
        bytes(*.requested)
    )]
    MemoryLimit {
        /// The function's name.
        function: String,
        /// The limit in bytes.
        limit: u64,
        /// The size the guest asked to grow to.
        requested: u64,
    },
    /// A requested limit is above what this host allows.
    #[error("{0}")]
    LimitTooHigh(String),
    /// The host failed for a reason that is not the guest's fault.
    #[error("host error: {0}")]
    Internal(String),
}

impl HostError {
    pub(crate) fn internal(err: impl std::fmt::Display) -> Self {
        HostError::Internal(format!("{err:#}"))
    }
}

fn humanize(d: Duration) -> String {
    if d.as_millis().is_multiple_of(1000) {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Bytes as the largest whole binary unit, e.g. `512 MiB`.
pub use weft_proto::format_bytes as bytes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_names_the_deadline() {
        let e = HostError::Timeout {
            function: "spin".into(),
            deadline: Duration::from_millis(1500),
        };
        assert_eq!(
            e.to_string(),
            "guest `spin` ran past its deadline of 1500ms and was stopped"
        );
    }
}
