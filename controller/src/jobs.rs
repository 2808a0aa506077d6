//! Jobs: a driver component (a guest that submits tasks and makes actors
//! itself) run under the cluster's supervision, as Ray Jobs runs a driver
//! script.
//!
//! A job's record is durable: every change goes through the replicated
//! state (`Command::PutJob`) before anyone is told of it, so a job
//! outlives a leader failover. The leader runs one supervisor per
//! unfinished job: it submits the driver's entry call as a task of an
//! owner session of its own (scheduled like any task, run only on a host),
//! stamped with the job's id so that every task and actor the driver makes
//! carries it too; it waits for the result, and writes how the job ended.
//! A driver whose host dies is run again from the start while
//! `max_retries` allows; otherwise the job fails naming the host. However
//! a job ends, the tasks it left running are canceled and its non-detached
//! actors killed.
//!
//! A new leader reads the records and resumes each unfinished job: it
//! resubmits the running attempt under the same task id once that
//! attempt's host has had time to register, so the host's report of the
//! task it still runs is adopted instead of the driver running twice.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use weft_proto::v1 as pb;

use crate::error::ControllerError;

/// A driver's deadline: jobs run until they end or are stopped.
pub(crate) const DRIVER_DEADLINE: Duration = Duration::from_secs(30 * 24 * 3600);

/// The longest result text a record keeps.
const MAX_RESULT_TEXT: usize = 64 << 10;

/// The leader's working copy of the job records.
#[derive(Default)]
pub(crate) struct Jobs {
    records: Mutex<HashMap<String, pb::JobRecord>>,
    /// The term in which this replica read the records as leader.
    pub(crate) loaded_term: crate::loaded::LoadedTerm,
    /// One record write at a time, so a job's changes reach the log in
    /// the order they were made.
    pub(crate) writes: tokio::sync::Mutex<()>,
}

impl Jobs {
    pub(crate) fn get(&self, id: &str) -> Option<pb::JobRecord> {
        self.lock().get(id).cloned()
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, pb::JobRecord>> {
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn loaded_in(&self) -> Option<u64> {
        self.loaded_term.get()
    }

    /// The job with this id, else the newest job with this name.
    pub(crate) fn find(&self, job: &str) -> Option<pb::JobRecord> {
        let records = self.lock();
        records.get(job).cloned().or_else(|| {
            records
                .values()
                .filter(|r| !r.name.is_empty() && r.name == job)
                .max_by_key(|r| (r.submitted_ms, r.id.clone()))
                .cloned()
        })
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Checks a submitter's job id: 1 to 64 letters, digits, `.`, `_`, `-`.
pub(crate) fn check_id(id: &str) -> Result<(), ControllerError> {
    let fits = id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if fits {
        return Ok(());
    }
    Err(ControllerError::InvalidRequest(format!(
        "job id `{id}` is not 1 to 64 letters, digits, `.`, `_` or `-`"
    )))
}

/// Appends `line` to a record's reason (earlier attempts' causes stay).
pub(crate) fn add_reason(record: &mut pb::JobRecord, line: &str) {
    if !record.reason.is_empty() {
        record.reason.push_str("; ");
    }
    record.reason.push_str(line);
}

/// A driver's result as its record keeps it: WAVE text, or what it was
/// when it is too large to keep (or held in a host's store).
pub(crate) fn render_result(result: &pb::TaskResult) -> String {
    if !result.ok || !result.has_value {
        return String::new();
    }
    if result.value.is_empty() {
        return format!(
            "<an object of {} bytes, not kept in the job record>",
            result.size
        );
    }
    match weft_values::decode(&result.value) {
        Ok(value) => {
            let text = weft_values::to_wave(&value);
            if text.len() > MAX_RESULT_TEXT {
                format!("<{} bytes of text, not kept in the job record>", text.len())
            } else {
                text
            }
        }
        Err(e) => format!("<a result that does not decode: {e}>"),
    }
}
