//! What every side of the wire agrees on besides the messages: metadata
//! keys, sizes, and what the kinds of failure (a proto enum) mean. They live here,
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

/// Names of the logs hosts keep, besides tasks' and actors' (which go by
/// their ids).
pub mod logs {
    /// The log of a route's HTTP handlers on one host: every request the
    /// route served there, interleaved as written.
    pub fn route_source(path: &str) -> String {
        format!("route:{path}")
    }
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

pub use crate::v1::FailureKind;

impl FailureKind {
    /// Every kind a failed task reports (not `None`), for tests and
    /// documentation.
    pub const ALL: [FailureKind; 14] = [
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
        FailureKind::Refused,
    ];

    /// The kind's name for people and for JSON: `host-died`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::None => "none",
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
            FailureKind::Refused => "refused",
        }
    }

    /// The kind named `text` (as [`as_str`](Self::as_str) names it).
    pub fn parse(text: &str) -> Option<FailureKind> {
        FailureKind::ALL.into_iter().find(|k| k.as_str() == text)
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

impl crate::v1::TaskResult {
    /// Why the task failed: `None` when it succeeded, and `Internal` for a
    /// failure whose kind this side does not know (a newer peer's).
    pub fn failure_kind(&self) -> FailureKind {
        match FailureKind::try_from(self.failure) {
            Ok(FailureKind::None) if !self.ok => FailureKind::Internal,
            Ok(kind) => kind,
            Err(_) => FailureKind::Internal,
        }
    }

    /// Marks the result failed with `kind` and `error`.
    pub fn fail(&mut self, kind: FailureKind, error: impl Into<String>) {
        self.ok = false;
        self.set_failure(kind);
        self.error = error.into();
    }
}

#[cfg(test)]
mod tests {
    use super::FailureKind;

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in FailureKind::ALL {
            assert_eq!(FailureKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(FailureKind::parse("from-the-future"), None);
    }

    #[test]
    fn an_unknown_kind_reads_as_internal() {
        let mut result = crate::v1::TaskResult {
            failure: 99,
            ..Default::default()
        };
        assert_eq!(result.failure_kind(), FailureKind::Internal);
        result.failure = 0;
        assert_eq!(result.failure_kind(), FailureKind::Internal);
        result.ok = true;
        assert_eq!(result.failure_kind(), FailureKind::None);
    }
}
