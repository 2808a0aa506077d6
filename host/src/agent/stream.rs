//! The producing side of a streaming task: each value its guest emits
//! becomes an object `<task>.<n>`, kept as a result is (inline when small,
//! else in this host's store) and reported to the leader at once, which
//! hands it to the task's owner. With a backpressure limit, `emit` waits
//! while that many items are unread.

use std::sync::Arc;

use tokio::sync::watch;
use weft_proto::v1 as pb;

use super::{Agent, INLINE_MAX};
use crate::services::EmitError;

/// The stream of one attempt of a streaming task.
pub(crate) struct Emitter {
    task: String,
    attempt: u32,
    /// Items that may be unread before `emit` waits (0: no limit).
    limit: u64,
    /// Items the leader has from earlier attempts, not sent again.
    skip: u64,
    /// The next item's index; a guest emits one item at a time, and the
    /// lock keeps the indices in emit order if it ever does not.
    next: tokio::sync::Mutex<u64>,
    /// How many items the owner has read, as the leader last said.
    consumed: watch::Receiver<u64>,
}

impl Emitter {
    /// The stream of `assignment` (a streaming task's), and the sender its
    /// owner's progress arrives on.
    pub(crate) fn new(assignment: &pb::Assignment) -> (Self, watch::Sender<u64>) {
        let (tx, consumed) = watch::channel(assignment.consumed);
        let emitter = Emitter {
            task: assignment.id.clone(),
            attempt: assignment.attempt,
            limit: u64::from(assignment.stream_backpressure),
            skip: assignment.emitted,
            next: tokio::sync::Mutex::new(0),
            consumed,
        };
        (emitter, tx)
    }

    /// How many items this attempt emitted.
    pub(crate) fn emitted(&self) -> u64 {
        self.next.try_lock().map_or(0, |n| *n)
    }

    /// Emits `encoded` as the next item, once the owner has read enough
    /// of the items before it.
    pub(crate) async fn emit(&self, agent: &Arc<Agent>, encoded: Vec<u8>) -> Result<(), EmitError> {
        let mut next = self.next.lock().await;
        let index = *next;
        if index < self.skip {
            *next += 1;
            return Ok(());
        }
        if self.limit > 0 {
            let mut consumed = self.consumed.clone();
            let limit = self.limit;
            // The sender lives in the task's running entry: gone, the task
            // was canceled and this future is about to be dropped.
            consumed
                .wait_for(|read| index < read + limit)
                .await
                .map_err(|_| {
                    EmitError::Failed(format!("task {} is no longer running", self.task))
                })?;
        }
        let id = weft_proto::stream_item_id(&self.task, index);
        let mut object = weft_core::objects::put_record(&id, &encoded, &[]);
        if encoded.len() > INLINE_MAX {
            let holder = agent.clone();
            let key = id.clone();
            let held = tokio::task::spawn_blocking(move || holder.hold(&key, &[&encoded]))
                .await
                .map_err(|e| {
                    EmitError::Failed(format!("storing item {id} was interrupted: {e}"))
                })?;
            (object.held_by, object.held_at) = held.map_err(|e| match e {
                crate::store::StoreError::Full(_) => EmitError::Full(format!("item {id}: {e}")),
                e => EmitError::Failed(format!("item {id}: {e}")),
            })?;
        }
        agent.send(pb::host_event::Kind::Item(pb::StreamItem {
            task: self.task.clone(),
            attempt: self.attempt,
            index,
            object: Some(object),
        }));
        *next += 1;
        Ok(())
    }
}
