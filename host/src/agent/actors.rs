//! The actors this host runs. Each is one instance driven by one tokio
//! task that takes calls from its mailbox in the order they came, so the
//! calls of one caller (one stream) run in the order they were made.
//!
//! Callers reach the mailbox straight through `WeftHost.ActorCalls`; the
//! leader only starts and stops actors. A call that cannot run here (the
//! actor is not here, or not in the caller's incarnation, or stopped
//! before the call's turn) is answered `moved`: the caller looks the actor
//! up and sends it again, in order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;
use weft_proto::HasRuntimeEnv;
use weft_proto::v1 as pb;

use super::{Agent, TaskContext, failure_kind_of};
use crate::HostError;
use crate::services::GuestLog;
use crate::{ActorStart, Grants};

/// The largest value an actor call returns inline: larger results belong
/// in the object store (put them and return the ref).
pub(crate) const MAX_REPLY: usize = 1 << 20;

/// An actor on this host.
pub(crate) struct Slot {
    incarnation: u32,
    /// The GPUs the leader gave this incarnation (reported to a new leader).
    gpu_devices: Vec<u32>,
    mailbox: mpsc::UnboundedSender<Mail>,
    task: tokio::task::JoinHandle<()>,
    /// Its started event, once it started (reported again to a new leader).
    started: Option<pb::ActorEvent>,
}

/// One call waiting its turn.
pub(crate) struct Mail {
    call: pb::ActorCall,
    reply: Reply,
}

/// Where a call's answer goes. Dropped unanswered (the actor stopped
/// first), it answers `moved`.
pub(crate) struct Reply {
    seq: u64,
    incarnation: u32,
    to: Option<mpsc::UnboundedSender<pb::ActorReply>>,
}

impl Reply {
    /// A stream for the call's items, which go back the way its reply does.
    fn stream(&self, actor: &str) -> Option<super::stream::Emitter> {
        let to = self.to.clone()?;
        Some(super::stream::Emitter::for_call(
            actor,
            self.seq,
            self.incarnation,
            to,
        ))
    }

    fn send(mut self, result: pb::TaskResult) {
        if let Some(to) = self.to.take() {
            let _ = to.send(pb::ActorReply {
                seq: self.seq,
                result: Some(result),
                incarnation: self.incarnation,
                ..Default::default()
            });
        }
    }
}

impl Drop for Reply {
    fn drop(&mut self) {
        if let Some(to) = self.to.take() {
            let _ = to.send(pb::ActorReply {
                seq: self.seq,
                moved: true,
                incarnation: self.incarnation,
                ..Default::default()
            });
        }
    }
}

impl Agent {
    /// Queues `call` for its actor, or answers `moved`.
    pub(crate) fn actor_call(
        &self,
        call: pb::ActorCall,
        to: &mpsc::UnboundedSender<pb::ActorReply>,
    ) {
        let reply = Reply {
            seq: call.seq,
            incarnation: call.incarnation,
            to: Some(to.clone()),
        };
        let actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(slot) = actors.get(&call.actor)
            && slot.incarnation == call.incarnation
        {
            let _ = slot.mailbox.send(Mail { call, reply });
        }
        // Else `reply` drops here and answers `moved`.
    }

    /// The actors running here, and the started events of those that
    /// finished starting, for a registration.
    pub(crate) fn running_actors(&self) -> (Vec<pb::RunningTask>, Vec<pb::ActorEvent>) {
        let actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        let running = actors
            .iter()
            .map(|(id, slot)| pb::RunningTask {
                id: id.clone(),
                attempt: slot.incarnation,
                gpu_devices: slot.gpu_devices.clone(),
            })
            .collect();
        let started = actors.values().filter_map(|s| s.started.clone()).collect();
        (running, started)
    }

    /// Starts an incarnation of an actor (replacing any older one here).
    pub(crate) fn start_actor(self: &Arc<Self>, record: pb::ActorRecord) {
        let (tx, rx) = mpsc::unbounded_channel();
        let agent = self.clone();
        let (id, incarnation) = (record.id.clone(), record.incarnation);
        let gpu_devices = record.gpu_devices.clone();
        let mut actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = actors.get(&id)
            && old.incarnation >= incarnation
        {
            return; // a repeated command
        }
        let threads = self.config.actor_threads;
        let sockets = format!("{}.actors", self.store.config().dir.display());
        let task =
            match self
                .lanes
                .pick(self, &self.config.address, threads, &sockets)
            {
                Some(lane) => {
                    let started = pb::ActorEvent {
                        address: lane.address.clone(),
                        socket: lane.socket.clone().unwrap_or_default(),
                        machine: weft_core::objects::machine_id().to_string(),
                        ..Default::default()
                    };
                    lane.handle
                        .spawn(async move { agent.run_actor(record, rx, started).await })
                }
                None => tokio::spawn(async move {
                    agent.run_actor(record, rx, pb::ActorEvent::default()).await
                }),
            };
        if let Some(old) = actors.insert(
            id,
            Slot {
                incarnation,
                gpu_devices,
                mailbox: tx,
                task,
                started: None,
            },
        ) {
            old.task.abort();
        }
    }

    /// Stops an actor: its instance goes, and calls waiting for it are
    /// answered `moved`.
    pub(crate) fn stop_actor(&self, id: &str) {
        let slot = self
            .actors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        if let Some(slot) = slot {
            tracing::info!(actor = %id, incarnation = slot.incarnation, "actor stopped");
            slot.task.abort();
        }
    }

    /// Stops every actor here and waits until their tasks are gone (they
    /// run on the lanes' threads, which outlive the host's runtime: a
    /// stopping host must end them for its agent, and store, to drop).
    pub async fn stop_actors(&self) {
        let slots: Vec<Slot> = self
            .actors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, slot)| slot)
            .collect();
        for slot in slots {
            slot.task.abort();
            let _ = slot.task.await;
        }
    }

    /// Forgets the slot of `id` if it is still `incarnation`.
    fn drop_slot(&self, id: &str, incarnation: u32) {
        let mut actors = self.actors.lock().unwrap_or_else(|p| p.into_inner());
        if actors.get(id).is_some_and(|s| s.incarnation == incarnation) {
            actors.remove(id);
        }
    }

    fn actor_event(&self, event: pb::ActorEvent) {
        self.send(pb::host_event::Kind::Actor(event));
    }

    /// One incarnation of an actor, from its constructor to its end.
    /// `started` says where its callers connect (empty: the host's own
    /// address).
    async fn run_actor(
        self: Arc<Self>,
        record: pb::ActorRecord,
        mut mailbox: mpsc::UnboundedReceiver<Mail>,
        started: pb::ActorEvent,
    ) {
        let (id, incarnation) = (record.id.clone(), record.incarnation);
        let event = |kind: pb::ActorEventKind, error: String| pb::ActorEvent {
            id: id.clone(),
            incarnation,
            kind: kind.into(),
            error,
            ..Default::default()
        };
        let spec = record.spec.clone().unwrap_or_default();
        let options = spec.options.clone().unwrap_or_default();
        // An incarnation that cannot start frees its slot and says why.
        let failed = |message: String| {
            self.drop_slot(&id, incarnation);
            self.actor_event(event(pb::ActorEventKind::Failed, message));
        };
        let constructor = match weft_core::Constructor::of(&spec) {
            Ok(constructor) => constructor,
            Err(e) => {
                return failed(format!(
                    "actor {id}: its constructor's arguments are not encoded values: {e}"
                ));
            }
        };
        let start = ActorStart {
            class: spec.class.clone(),
            constructor,
            call_timeout: (options.call_timeout_ms > 0)
                .then(|| Duration::from_millis(options.call_timeout_ms)),
            memory_limit: (options.memory_limit_bytes > 0).then_some(options.memory_limit_bytes),
            grants: Grants {
                http_hosts: record.allow_http.clone(),
            },
            checkpoint: (record.checkpoint_calls > 0).then(|| record.checkpoint.clone()),
            // Every incarnation's lines go to the actor's one log.
            log: self
                .config
                .logs
                .as_ref()
                .map(|l| Arc::new(l.writer(&id)) as GuestLog),
        };
        // Its GPUs are its own for as long as this incarnation lives, and
        // so are the buffers it makes on them.
        let lease = match self.lease_gpus(options.gpus, &record.gpu_devices).await {
            Ok(lease) => lease,
            Err(e) => return failed(format!("actor {id}: {e}")),
        };
        let asked = options.clone().env_parts().take();
        let granted = match self.resolve_env(&asked).await {
            Ok(granted) => granted,
            Err(e) => return failed(format!("actor {id}: {e}")),
        };
        let context = Arc::new(
            TaskContext::new(self.clone(), id.clone(), 0.0)
                .in_job(options.job.clone(), asked, granted)
                .capturing(if options.capture_child_tasks {
                    options.placement_group.clone()
                } else {
                    String::new()
                })
                .with_gpu(lease),
        );
        // However this incarnation ends (a trap, a stop, an abort), the refs
        // its guest made go with it.
        let _made = ReleaseOnDrop(context.clone());
        let streams = context.clone();
        let made = match self.prepare(&record.digest).await {
            Ok(prepared) => self.host.start_actor(prepared, start, Some(context)).await,
            Err(e) => Err(e),
        };
        let mut instance = match made {
            Ok(instance) => instance,
            Err(e) => {
                tracing::warn!(actor = %id, error = %e, "actor failed to start");
                return failed(e.to_string());
            }
        };
        let concurrent = options.max_concurrency > 1 || !options.concurrency_groups.is_empty();
        if concurrent && !instance.concurrent() {
            // The leader checks this at creation; a component replaced
            // since under the same digest cannot be, so this is the
            // second line.
            return failed(format!(
                "actor {id}: max_concurrency {} needs `async func` methods, and `{}` has none",
                options.max_concurrency, spec.component
            ));
        }
        tracing::info!(actor = %id, incarnation, restored = record.checkpoint_calls, "actor started");
        let started = pb::ActorEvent {
            kind: pb::ActorEventKind::Started.into(),
            id: id.clone(),
            incarnation,
            ..started
        };
        if let Some(slot) = self
            .actors
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&id)
            .filter(|s| s.incarnation == incarnation)
        {
            slot.started = Some(started.clone());
        }
        self.actor_event(started);

        if concurrent {
            let concurrency = crate::Concurrency {
                max: options.max_concurrency,
                groups: options.concurrency_groups.clone(),
                method_groups: options.method_groups.clone(),
            };
            let host = self.config.id.clone();
            let calls = futures::stream::poll_fn(move |cx| mailbox.poll_recv(cx)).filter_map(
                |Mail { call, reply }| {
                    let (host, id) = (host.clone(), id.clone());
                    let args = if call.streaming {
                        // Which of the calls in flight emits cannot be
                        // told apart in one instance.
                        Err(HostError::Uncallable {
                            function: call.method.clone(),
                            reason: "a concurrent actor's calls do not stream (call it plainly, \
                                     or stream from an actor of max_concurrency 1)"
                                .into(),
                        })
                    } else {
                        decode_args(call.args)
                    };
                    let call = match args {
                        Ok(args) => Some(crate::ActorCall {
                            method: call.method.clone(),
                            args,
                            done: Box::new(move |outcome| {
                                reply.send(reply_of(&host, &id, &call.method, outcome).0);
                            }),
                        }),
                        Err(error) => {
                            let outcome = Err(crate::ActorError {
                                error,
                                poisoned: false,
                            });
                            reply.send(reply_of(&host, &id, &call.method, outcome).0);
                            None
                        }
                    };
                    std::future::ready(call)
                },
            );
            if let Err(cause) = instance.serve(calls, &concurrency).await {
                self.drop_slot(&id, incarnation);
                self.actor_event(event(pb::ActorEventKind::Trapped, cause.to_string()));
            }
            return;
        }

        let every_calls = u64::from(options.checkpoint_every_calls);
        let every = Duration::from_millis(options.checkpoint_every_ms);
        let checkpoints = instance.checkpoints() && (every_calls > 0 || !every.is_zero());
        let mut calls = record.checkpoint_calls;
        let mut unsaved = 0u64;
        let mut saved_at = Instant::now();
        loop {
            let timer = checkpoints && unsaved > 0 && !every.is_zero();
            let due = tokio::time::Instant::from_std(saved_at + every);
            let mail = tokio::select! {
                mail = mailbox.recv() => mail,
                _ = tokio::time::sleep_until(due), if timer => None,
            };
            let poisoned = match mail {
                Some(Mail { call, reply }) => {
                    // A streaming call's items go back on its reply's way.
                    if call.streaming {
                        streams.set_stream(reply.stream(&id));
                    }
                    let outcome = match decode_args(call.args) {
                        Ok(args) => instance.call(&call.method, args).await,
                        Err(error) => Err(crate::ActorError {
                            error,
                            poisoned: false,
                        }),
                    };
                    if call.streaming {
                        streams.set_stream(None);
                    }
                    calls += 1;
                    unsaved += 1;
                    let (result, poisoned) = reply_of(&self.config.id, &id, &call.method, outcome);
                    reply.send(result);
                    poisoned
                }
                None if timer && !mailbox.is_closed() => None,
                None => return,
            };
            if let Some(cause) = poisoned {
                self.drop_slot(&id, incarnation);
                self.actor_event(event(pb::ActorEventKind::Trapped, cause));
                return;
            }
            let due_now = (every_calls > 0 && unsaved >= every_calls)
                || (!every.is_zero() && unsaved > 0 && saved_at.elapsed() >= every);
            if checkpoints && due_now {
                match instance.save().await {
                    Ok(Some(state)) => {
                        self.actor_event(pb::ActorEvent {
                            checkpoint: state,
                            calls,
                            ..event(pb::ActorEventKind::Checkpoint, String::new())
                        });
                        unsaved = 0;
                        saved_at = Instant::now();
                    }
                    Ok(None) => {}
                    Err(e) => {
                        self.drop_slot(&id, incarnation);
                        self.actor_event(event(
                            pb::ActorEventKind::Trapped,
                            format!("checkpoint: {}", e.error),
                        ));
                        return;
                    }
                }
            }
        }
    }
}

/// The reply to a call of `method` of actor `id` (on host `host`) that
/// ended with `outcome`, and the cause when it left the instance unusable.
fn reply_of(
    host: &str,
    id: &str,
    method: &str,
    outcome: Result<Option<weft_values::Value>, crate::ActorError>,
) -> (pb::TaskResult, Option<String>) {
    let mut result = pb::TaskResult {
        host: host.to_string(),
        attempts: 1,
        ..Default::default()
    };
    let poisoned = match outcome.map(|value| value.map(|v| weft_values::encode(&v))) {
        Ok(value) if value.as_ref().is_some_and(|v| v.len() > MAX_REPLY) => {
            result.set_failure(weft_proto::FailureKind::TooLarge);
            result.error = format!(
                "the result of `{method}` is more than the {} an actor call returns inline: put large values in the object store and return the ref",
                crate::bytes(MAX_REPLY as u64)
            );
            None
        }
        Ok(value) => {
            result.ok = true;
            result.has_value = value.is_some();
            result.value = value.unwrap_or_default();
            None
        }
        Err(e) => {
            result.set_failure(failure_kind_of(&e.error));
            result.error = if e.poisoned {
                format!("actor {id}: {} (the actor restarts if it may)", e.error)
            } else {
                format!("actor {id}: {}", e.error)
            };
            e.poisoned.then(|| e.error.to_string())
        }
    };
    (result, poisoned)
}

/// Releases the refs an actor's guest made when its incarnation ends.
struct ReleaseOnDrop(Arc<TaskContext>);

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        self.0.release_made();
    }
}

/// The replies of one `ActorCalls` stream, as the server sends them.
pub(crate) type ReplyStream = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<pb::ActorReplyBatch, tonic::Status>> + Send>,
>;

/// One caller's stream as its server polls it.
struct Serving {
    agent: Arc<Agent>,
    /// The caller's calls, until it stops sending.
    incoming: Option<tonic::Streaming<pb::ActorCallBatch>>,
    /// Where the replies of calls queued from here go (dropped with
    /// `incoming`, so the stream ends once the last reply is out).
    to: Option<mpsc::UnboundedSender<pb::ActorReply>>,
    replies: mpsc::UnboundedReceiver<pb::ActorReply>,
}

/// Serves one caller's stream: its calls go to their actors' mailboxes as
/// they arrive; replies go back in batches of whatever is ready. Both
/// happen in the connection's own task, which polls this stream: a call
/// costs no hop through another task on its way in.
pub(crate) fn serve_calls(
    agent: Arc<Agent>,
    incoming: tonic::Streaming<pb::ActorCallBatch>,
) -> ReplyStream {
    let (to, replies) = mpsc::unbounded_channel::<pb::ActorReply>();
    let serving = Serving {
        agent,
        incoming: Some(incoming),
        to: Some(to),
        replies,
    };
    Box::pin(futures::stream::unfold(serving, |mut s| async move {
        loop {
            tokio::select! {
                biased;
                reply = s.replies.recv() => {
                    let mut replies = vec![reply?];
                    while replies.len() < 4096 {
                        match s.replies.try_recv() {
                            Ok(reply) => replies.push(reply),
                            Err(_) => break,
                        }
                    }
                    return Some((Ok(pb::ActorReplyBatch { replies }), s));
                }
                batch = next_batch(&mut s.incoming), if s.incoming.is_some() => match (batch, &s.to) {
                    (Some(batch), Some(to)) => {
                        for call in batch.calls {
                            s.agent.actor_call(call, to);
                        }
                    }
                    _ => {
                        s.incoming = None;
                        s.to = None;
                    }
                },
            }
        }
    }))
}

async fn next_batch(
    incoming: &mut Option<tonic::Streaming<pb::ActorCallBatch>>,
) -> Option<pb::ActorCallBatch> {
    incoming.as_mut()?.message().await.ok().flatten()
}

/// A call's arguments, decoded.
fn decode_args(args: Vec<pb::Value>) -> Result<Vec<weft_values::Value>, HostError> {
    args.into_iter()
        .enumerate()
        .map(|(i, v)| {
            weft_values::decode_shared(&bytes::Bytes::from(v.encoded)).map_err(|e| {
                HostError::BadArguments {
                    function: "an actor call".into(),
                    detail: format!("argument {}: {e}", i + 1),
                }
            })
        })
        .collect()
}
