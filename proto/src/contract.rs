//! What every side of the wire agrees on besides the messages: metadata
//! keys, sizes, and the kinds of failure a task reports. They live here,
//! with the messages, so the controller, hosts and clients cannot drift
//! apart.

/// gRPC metadata keys.
pub mod metadata {
    /// On a redirect: the leader's client address.
    pub const LEADER: &str = "weft-leader";
    /// Marks a "no quorum" error, which clients do not retry.
    pub const NO_QUORUM: &str = "weft-no-quorum";
    /// A client's id on a numbered request (a retry carries the same).
    pub const CLIENT_ID: &str = "weft-client-id";
    /// The request's number among its client's requests.
    pub const SEQ: &str = "weft-seq";
}

/// Sizes both ends of a transfer agree on.
pub mod limits {
    /// Objects and results up to this size travel inline with their owner
    /// and through the leader (Ray's inline threshold is 100 KiB); larger
    /// ones live in a host's store.
    pub const INLINE_MAX: usize = 64 << 10;
    /// Bytes per chunk of a transfer between hosts: large enough that the
    /// per-message cost vanishes, small enough to pipeline.
    pub const CHUNK: usize = 1 << 20;
    /// Connections a large transfer spreads its ranges over: one HTTP/2
    /// connection is one socket and one I/O task at each end.
    pub const LANES: usize = 2;
}

/// Why a task (or call, or actor call) failed: the `error_kind` of a
/// `TaskResult`, which decides retries and how clients report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// The guest trapped or panicked.
    Trap,
    /// It ran past its deadline.
    Timeout,
    /// It went past its memory limit (or its result could not be kept).
    Memory,
    /// Its arguments do not fit the function.
    BadArgument,
    /// No such component or function.
    NotFound,
    /// No host can ever fit what it asks for.
    Infeasible,
    /// The host running it died.
    HostDied,
    /// It was canceled.
    Canceled,
    /// A task whose result it takes failed.
    Dependency,
    /// A value too large to carry.
    TooLarge,
    /// An object it needs was lost with its host.
    Lost,
    /// The actor it called is dead.
    ActorDied,
    /// Anything else.
    Internal,
}

impl FailureKind {
    /// Every kind, for tests and documentation.
    pub const ALL: [FailureKind; 13] = [
        FailureKind::Trap,
        FailureKind::Timeout,
        FailureKind::Memory,
        FailureKind::BadArgument,
        FailureKind::NotFound,
        FailureKind::Infeasible,
        FailureKind::HostDied,
        FailureKind::Canceled,
        FailureKind::Dependency,
        FailureKind::TooLarge,
        FailureKind::Lost,
        FailureKind::ActorDied,
        FailureKind::Internal,
    ];

    /// The kind as it travels in `TaskResult.error_kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::BadArgument => "bad-argument",
            FailureKind::NotFound => "not-found",
            FailureKind::Infeasible => "infeasible",
            FailureKind::HostDied => "host-died",
            FailureKind::Canceled => "canceled",
            FailureKind::Dependency => "dependency",
            FailureKind::TooLarge => "too-large",
            FailureKind::Lost => "lost",
            FailureKind::ActorDied => "actor-died",
            FailureKind::Internal => "internal",
        }
    }

    /// The kind named `text`; an unknown name (from a newer peer) is
    /// `Internal`.
    pub fn parse(text: &str) -> FailureKind {
        FailureKind::ALL
            .into_iter()
            .find(|k| k.as_str() == text)
            .unwrap_or(FailureKind::Internal)
    }

    /// Whether running the task again may succeed: the host went away or
    /// an input was lost with one (a trap is retried only when asked).
    pub fn is_transient(self) -> bool {
        matches!(self, FailureKind::HostDied | FailureKind::Lost)
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<FailureKind> for String {
    fn from(kind: FailureKind) -> String {
        kind.as_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::FailureKind;

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in FailureKind::ALL {
            assert_eq!(FailureKind::parse(kind.as_str()), kind);
        }
        assert_eq!(FailureKind::parse("from-the-future"), FailureKind::Internal);
    }
}
