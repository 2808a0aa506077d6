//! A deploy's second half: every live host makes the component ready
//! (fetches its bytes, then compiles it or loads the artifact another host
//! on its machine compiled) before its first call, and says how long that
//! took, so `weft deploy` can show compile progress and no first call
//! pays for a compile.

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::mpsc;
use tonic::Status;
use weft_proto::v1 as pb;

/// How long a prepare waits for its slowest host when the caller sets no
/// limit: a large Python guest compiles in seconds, not minutes.
pub(crate) const DEFAULT_PREPARE_TIMEOUT: Duration = Duration::from_secs(600);

/// How often hosts that have not reported are checked for having died.
pub(crate) const LIVENESS_CHECK: Duration = Duration::from_millis(250);

/// A prepare's events as they happen.
pub type PrepareEvents = mpsc::UnboundedReceiver<Result<pb::PrepareEvent, Status>>;

pub(crate) fn event(kind: pb::prepare_event::Kind) -> pb::PrepareEvent {
    pb::PrepareEvent { kind: Some(kind) }
}

pub(crate) fn failed(digest: &str, host: String, why: &str) -> pb::PrepareEvent {
    event(pb::prepare_event::Kind::Prepared(pb::ComponentPrepared {
        digest: digest.to_string(),
        host,
        readiness: pb::Readiness::Failed as i32,
        micros: 0,
        error: why.to_string(),
        waited_micros: 0,
    }))
}

pub(crate) fn sorted(hosts: &HashSet<String>) -> Vec<String> {
    let mut out: Vec<String> = hosts.iter().cloned().collect();
    out.sort();
    out
}
