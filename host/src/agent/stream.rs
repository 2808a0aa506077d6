//! The producing side of a stream: each value a guest emits becomes an
//! object `<id>.<n>`. A streaming task's items are kept as results are
//! (inline when small, else in this host's store) and reported to the
//! leader at once, which hands them to the task's owner; with a
//! backpressure limit, `emit` waits while that many are unread. A
//! streaming actor call's items go straight back to its caller on the
//! call's stream, inline, as its result does.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use weft_proto::v1 as pb;

use super::actors::MAX_REPLY;
use super::{Agent, INLINE_MAX};
use crate::services::EmitError;

/// Where a stream's items go.
enum Sink {
    /// A task's: to the leader, as the attempt's.
    Leader { attempt: u32 },
    /// An actor call's: to its caller, as replies before the result.
    Caller {
        to: mpsc::UnboundedSender<pb::ActorReply>,
        seq: u64,
        incarnation: u32,
    },
    /// A streaming Serve request's: each item one line of JSON of the
    /// response, sent as it comes (the bounded channel is the HTTP
    /// client's backpressure).
    Response { to: mpsc::Sender<bytes::Bytes> },
}

/// One stream: an attempt of a streaming task, or a streaming actor call.
pub(crate) struct Emitter {
    id: String,
    sink: Sink,
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
            id: assignment.id.clone(),
            sink: Sink::Leader {
                attempt: assignment.attempt,
            },
            limit: u64::from(assignment.stream_backpressure),
            skip: assignment.emitted,
            next: tokio::sync::Mutex::new(0),
            consumed,
        };
        (emitter, tx)
    }

    /// The stream of actor call `seq` (of `actor`'s incarnation
    /// `incarnation`), whose replies go to `to`.
    pub(crate) fn for_call(
        actor: &str,
        seq: u64,
        incarnation: u32,
        to: mpsc::UnboundedSender<pb::ActorReply>,
    ) -> Self {
        Emitter {
            id: format!("the call {seq} of {actor}"),
            sink: Sink::Caller {
                to,
                seq,
                incarnation,
            },
            limit: 0,
            skip: 0,
            next: tokio::sync::Mutex::new(0),
            consumed: watch::channel(0).1,
        }
    }

    /// The stream of a Serve request (`what`, for errors), whose items go
    /// to `to` as lines of JSON.
    pub(crate) fn for_response(what: String, to: mpsc::Sender<bytes::Bytes>) -> Self {
        Emitter {
            id: what,
            sink: Sink::Response { to },
            limit: 0,
            skip: 0,
            next: tokio::sync::Mutex::new(0),
            consumed: watch::channel(0).1,
        }
    }

    /// How many items it emitted.
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
                .map_err(|_| EmitError::Failed(format!("{} is no longer running", self.id)))?;
        }
        let id = weft_proto::stream_item_id(&self.id, index);
        match &self.sink {
            Sink::Leader { attempt } => {
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
                        crate::store::StoreError::Full(_) => {
                            EmitError::Full(format!("item {id}: {e}"))
                        }
                        e => EmitError::Failed(format!("item {id}: {e}")),
                    })?;
                }
                agent.send(pb::host_event::Kind::Item(pb::StreamItem {
                    task: self.id.clone(),
                    attempt: *attempt,
                    index,
                    object: Some(object),
                }));
            }
            Sink::Response { to } => {
                let value = weft_values::decode(&encoded)
                    .map_err(|e| EmitError::Failed(format!("item {id}: {e}")))?;
                let mut line = weft_values::to_json(&value).to_string().into_bytes();
                line.push(b'\n');
                to.send(line.into())
                    .await
                    .map_err(|_| EmitError::Failed(format!("{}: the client went away", self.id)))?;
            }
            Sink::Caller {
                to,
                seq,
                incarnation,
            } => {
                if encoded.len() > MAX_REPLY {
                    return Err(EmitError::Failed(format!(
                        "item {index} of {} is {}: an actor call's items travel inline, up to {}; \
                         put a larger value in the object store and emit its ref",
                        self.id,
                        crate::bytes(encoded.len() as u64),
                        crate::bytes(MAX_REPLY as u64)
                    )));
                }
                let mut object = weft_core::objects::put_record(&id, &encoded, &[]);
                object.value = encoded;
                let _ = to.send(pb::ActorReply {
                    seq: *seq,
                    result: Some(object),
                    incarnation: *incarnation,
                    item: true,
                    index,
                    ..Default::default()
                });
            }
        }
        *next += 1;
        Ok(())
    }
}
