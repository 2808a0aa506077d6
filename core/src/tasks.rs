//! Tasks from Rust: [`TaskClient::submit`] returns a task's id (its ref) at
//! once; [`TaskClient::get`] and [`TaskClient::wait`] resolve refs.
//!
//! A task client is an *owner*: it keeps one session with the leader, over
//! which batches of submissions go out and its tasks' results come back as
//! they finish, so a synchronous submit-and-get is one message each way.
//! It also keeps every unfinished task's spec. When the session breaks (the
//! leader died), it opens one with the new leader and resubmits them under
//! the same ids, passing by value the results it already holds; the
//! cluster recognises ids, so nothing runs or is reported twice.
//!
//! ```no_run
//! # async fn demo() -> Result<(), weft_core::ClientError> {
//! use weft_core::{Arg, TaskClient, TaskOptions};
//!
//! let tasks = TaskClient::connect("127.0.0.1:7077").await?;
//! let a = tasks.submit("pi", "estimate", vec![Arg::wave("100000"), Arg::wave("1")], TaskOptions::default()).await?;
//! let b = tasks.submit("pi", "estimate", vec![Arg::wave("100000"), Arg::wave("2")], TaskOptions::default()).await?;
//! for value in tasks.get_values(&[a, b], None).await?.into_iter().flatten() {
//!     println!("{}", weft_core::values::to_wave(&value));
//! }
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use weft_proto::v1 as pb;

pub use weft_proto::v1::{NodeInfo, TaskInfo, TaskOptions, TaskResult};

use crate::{Arg, ClientError, Connection};
use weft_values::Value;

/// What one `submit` asks for.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Component name or digest.
    pub component: String,
    /// `func` or `iface.func`.
    pub function: String,
    /// Arguments, one per parameter.
    pub args: Vec<Arg>,
    /// Resources, retries, deadline, placement.
    pub options: TaskOptions,
}

#[derive(Default)]
pub(crate) struct Owned {
    /// Unfinished tasks by number, for resubmission.
    pending: BTreeMap<u64, pb::TaskSpec>,
    /// Ids sent but not yet acknowledged by the leader.
    pub(crate) unacked: HashSet<String>,
    pub(crate) results: HashMap<String, TaskResult>,
    /// Why the session is down, while it is.
    broken: Option<String>,
    /// Results received from the cluster, duplicates included.
    deliveries: u64,
    /// The open session's sender: submissions go straight onto it.
    pub(crate) session: Option<mpsc::UnboundedSender<pb::OwnerMessage>>,
    /// Refs of actor calls: their results live only here, so a task
    /// taking one gets its value.
    actor_refs: HashSet<String>,
    /// Objects this owner put (a new leader learns of them only from it).
    pub(crate) puts: HashSet<String>,
    /// Arguments too large to travel inline, put as objects, by the task
    /// that takes them: this owner lets go of them when the task is done.
    stored_args: HashMap<String, Vec<String>>,
    /// Tasks held back until the actor calls they take are answered: the
    /// leader has not heard of them, so a cancel is settled here.
    deferred: HashSet<String>,
    /// Streaming tasks whose consumer went away before their end: items
    /// of theirs that still arrive are let go of at once.
    pub(crate) dropped_streams: HashSet<String>,
    /// The items that arrived, by streaming task, until the task's ref is
    /// released (see [`TaskClient::take_stream_items`]).
    pub(crate) items_of: HashMap<String, Vec<String>>,
}

pub(crate) struct Shared {
    owner: String,
    pub(crate) seq: AtomicU64,
    pub(crate) rpc: tokio::sync::Mutex<Connection>,
    state: Mutex<Owned>,
    pub(crate) changed: Notify,
    /// The owner's refs outlive its session (see `OwnerMessage.detached`).
    detached: bool,
    /// Signatures of the components this owner calls.
    pub(crate) signatures: crate::typing::Signatures,
    /// Hosts seen lately, to place puts.
    pub(crate) hosts: tokio::sync::Mutex<Option<(std::time::Instant, Vec<NodeInfo>)>>,
    /// Actor calls in flight and the streams they go on.
    callers: Mutex<crate::actors::Callers>,
}

impl Shared {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Owned> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn mine(&self, id: &str) -> bool {
        id.strip_prefix(self.owner.as_str())
            .is_some_and(|rest| rest.starts_with('-'))
    }

    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    /// The next number for an id this owner makes.
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn callers(&self) -> std::sync::MutexGuard<'_, crate::actors::Callers> {
        self.callers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `id` is an actor call's ref.
    pub(crate) fn mark_actor_ref(&self, id: &str) {
        self.lock().actor_refs.insert(id.to_string());
    }

    /// An item of actor call `call`'s stream (it lives only here).
    pub(crate) fn deliver_item(&self, call: &str, item: TaskResult) {
        {
            let mut state = self.lock();
            if state.dropped_streams.contains(call) {
                return;
            }
            state.actor_refs.insert(item.id.clone());
            state
                .items_of
                .entry(call.to_string())
                .or_default()
                .push(item.id.clone());
            state.results.insert(item.id.clone(), item);
        }
        self.changed.notify_waiters();
    }

    /// A result that arrived other than through the leader (an actor call's).
    pub(crate) fn deliver_local(&self, result: TaskResult) {
        {
            let mut state = self.lock();
            state.dropped_streams.remove(&result.id);
            state.results.insert(result.id.clone(), result);
        }
        self.changed.notify_waiters();
    }
}

/// An owner of tasks on a weft cluster. Cheap to clone; clones share the
/// session and the results.
#[derive(Clone)]
pub struct TaskClient {
    pub(crate) shared: Arc<Shared>,
    /// Dropped with the last clone, which ends the session.
    _alive: mpsc::UnboundedSender<()>,
}

impl TaskClient {
    /// Connects to a cluster (one address or a comma-separated list) and
    /// opens the owner session in the background.
    pub async fn connect(addresses: &str) -> Result<Self, ClientError> {
        let connection = Connection::connect(addresses).await?;
        Ok(Self::with_client(connection))
    }

    /// A task client over an existing connection (a [`Connection`], or
    /// anything that wraps one).
    pub fn with_client(connection: impl Into<Connection>) -> Self {
        Self::start(connection.into(), false)
    }

    /// A task client whose objects outlive it (the CLI's): the cluster
    /// keeps them while they are among its most recent results, instead
    /// of freeing them when this client goes.
    pub fn detached(connection: impl Into<Connection>) -> Self {
        Self::start(connection.into(), true)
    }

    fn start(client: Connection, detached: bool) -> Self {
        let owner = format!("{:016x}", crate::new_client_id());
        let shared = Arc::new(Shared {
            owner,
            seq: AtomicU64::new(0),
            rpc: tokio::sync::Mutex::new(client.clone()),
            state: Mutex::new(Owned::default()),
            changed: Notify::new(),
            detached,
            signatures: Default::default(),
            hosts: tokio::sync::Mutex::new(None),
            callers: Mutex::default(),
        });
        let (alive, rx) = mpsc::unbounded_channel();
        tokio::spawn(drive(shared.clone(), client, rx));
        TaskClient {
            shared,
            _alive: alive,
        }
    }

    /// Runs one request on the leader over this client's connection.
    pub(crate) async fn rpc<T, F, Fut>(&self, op: F) -> Result<T, ClientError>
    where
        F: FnMut(weft_proto::v1::weft_client::WeftClient<weft_proto::auth::AuthedChannel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.shared.rpc.lock().await.request(op).await
    }

    /// Runs one unary RPC on the leader over this client's connection.
    pub(crate) async fn unary<M, T, F, Fut>(&self, message: M, op: F) -> Result<T, ClientError>
    where
        M: Clone,
        F: FnMut(
            weft_proto::v1::weft_client::WeftClient<weft_proto::auth::AuthedChannel>,
            M,
        ) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.shared.rpc.lock().await.unary(message, op).await
    }

    /// This owner's id: every task id it makes starts with it.
    pub fn owner(&self) -> &str {
        &self.shared.owner
    }

    /// Submits one task; returns its id once it is queued (typing WAVE or
    /// JSON arguments may first ask the cluster for the signature).
    pub async fn submit(
        &self,
        component: &str,
        function: &str,
        args: Vec<Arg>,
        options: TaskOptions,
    ) -> Result<String, ClientError> {
        let mut ids = self
            .submit_batch(vec![Submission {
                component: component.to_string(),
                function: function.to_string(),
                args,
                options,
            }])
            .await?;
        Ok(ids.remove(0))
    }

    /// Submits several tasks in one message; returns their ids in order.
    ///
    /// An argument that is an actor call's ref is passed by value (the
    /// cluster never saw it): a batch taking one not answered yet is sent
    /// once the answers are in.
    pub async fn submit_batch(&self, batch: Vec<Submission>) -> Result<Vec<String>, ClientError> {
        let mut specs: Vec<(u64, pb::TaskSpec)> = Vec::with_capacity(batch.len());
        for s in batch {
            let (args, stored) = self.encode_args(&s.component, &s.function, s.args).await?;
            let seq = self.shared.next_seq();
            let id = format!("{}-{seq}", self.shared.owner);
            if !stored.is_empty() {
                self.shared.lock().stored_args.insert(id.clone(), stored);
            }
            let spec = pb::TaskSpec {
                id,
                component: s.component,
                function: s.function,
                args,
                options: Some(s.options),
            };
            specs.push((seq, spec));
        }
        let ids = specs.iter().map(|(_, s)| s.id.clone()).collect();
        let waiting: Vec<String> = {
            let state = self.shared.lock();
            specs
                .iter()
                .flat_map(|(_, s)| &s.args)
                .filter_map(|a| match &a.kind {
                    Some(pb::task_arg::Kind::TaskRef(r))
                        if state.actor_refs.contains(r) && !state.results.contains_key(r) =>
                    {
                        Some(r.clone())
                    }
                    _ => None,
                })
                .collect()
        };
        if waiting.is_empty() {
            self.send_specs(specs);
        } else {
            self.shared
                .lock()
                .deferred
                .extend(specs.iter().map(|(_, s)| s.id.clone()));
            let client = self.clone();
            tokio::spawn(async move {
                let _ = client.wait(&waiting, waiting.len(), None).await;
                client.send_specs(specs);
            });
        }
        Ok(ids)
    }

    /// Records `specs` as pending and sends them, with actor call refs
    /// replaced by their values (or the task failed, naming the call).
    fn send_specs(&self, specs: Vec<(u64, pb::TaskSpec)>) {
        let mut failed = Vec::new();
        // Under the state lock, so a reconnecting session either resubmits
        // these (they are pending) or is the one they are sent on.
        let mut state = self.shared.lock();
        let mut sent = Vec::with_capacity(specs.len());
        'specs: for (seq, mut spec) in specs {
            // A deferred task canceled while it waited has its result.
            if state.results.contains_key(&spec.id) {
                state.deferred.remove(&spec.id);
                continue;
            }
            state.deferred.remove(&spec.id);
            for (i, arg) in spec.args.iter_mut().enumerate() {
                let Some(pb::task_arg::Kind::TaskRef(r)) = &arg.kind else {
                    continue;
                };
                if !state.actor_refs.contains(r) {
                    continue;
                }
                match state.results.get(r) {
                    Some(result) if result.ok && result.has_value => {
                        arg.kind = Some(by_value(result));
                    }
                    other => {
                        let why = other.map_or("was released".to_string(), |r| {
                            if r.ok {
                                "returned no value".to_string()
                            } else {
                                format!("failed: {}", r.error)
                            }
                        });
                        failed.push(TaskResult {
                            id: spec.id.clone(),
                            failure: weft_proto::FailureKind::Dependency.into(),
                            error: format!(
                                "argument {} refers to actor call {r}, which {why}",
                                i + 1
                            ),
                            ..Default::default()
                        });
                        continue 'specs;
                    }
                }
            }
            state.pending.insert(seq, spec.clone());
            state.unacked.insert(spec.id.clone());
            sent.push(spec);
        }
        let any_failed = !failed.is_empty();
        for result in failed {
            state.results.insert(result.id.clone(), result);
        }
        if let Some(session) = state.session.as_ref().filter(|_| !sent.is_empty()) {
            let message = pb::OwnerMessage {
                submit: sent,
                ..Default::default()
            };
            if session.send(message).is_err() {
                // The session just broke; the next one resubmits them.
                state.session = None;
            }
        }
        drop(state);
        if any_failed {
            self.shared.changed.notify_waiters();
        }
    }

    /// Waits until the leader has recorded every task submitted so far.
    pub async fn flush(&self, timeout: Duration) -> Result<(), ClientError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.shared.lock();
                if state.unacked.is_empty() {
                    return Ok(());
                }
                if let Some(reason) = &state.broken {
                    return Err(ClientError::Unreachable {
                        address: String::new(),
                        reason: reason.clone(),
                    });
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(ClientError::Timeout {
                    after: timeout,
                    pending: self.shared.lock().unacked.len(),
                });
            }
        }
    }

    /// Waits for every task in `ids` and returns their results in order
    /// (failed tasks included: see [`TaskResult::ok`]). `None` waits as
    /// long as it takes.
    pub async fn get(
        &self,
        ids: &[String],
        timeout: Option<Duration>,
    ) -> Result<Vec<TaskResult>, ClientError> {
        let (ready, pending) = self.wait(ids, ids.len(), timeout).await?;
        if !pending.is_empty() {
            return Err(ClientError::Timeout {
                after: timeout.unwrap_or_default(),
                pending: pending.len(),
            });
        }
        let mut by_id: HashMap<String, TaskResult> =
            ready.into_iter().map(|r| (r.id.clone(), r)).collect();
        let mut results: Vec<TaskResult> = ids.iter().filter_map(|id| by_id.remove(id)).collect();
        // Large values stay on the host that made them: read them there.
        for r in &mut results {
            if r.ok && r.has_value && !r.held_by.is_empty() {
                let object = self.object_bytes(r.clone(), timeout).await?;
                r.value = object.encoded().to_vec();
            }
        }
        Ok(results)
    }

    /// Like [`TaskClient::get`], with each failed task as an error.
    pub async fn get_values(
        &self,
        ids: &[String],
        timeout: Option<Duration>,
    ) -> Result<Vec<Option<Value>>, ClientError> {
        self.get(ids, timeout)
            .await?
            .into_iter()
            .map(value_of)
            .collect()
    }

    /// The results of `ids` that are here, if at least `num_ready` are
    /// and this owner submitted them all: what a caller that must announce
    /// that it blocks (a guest lending its cpus) checks first.
    pub fn ready_now(&self, ids: &[String], num_ready: usize) -> Option<Vec<TaskResult>> {
        let need = num_ready.clamp(0, ids.len());
        if !ids.iter().all(|id| self.shared.mine(id)) {
            return None;
        }
        let state = self.shared.lock();
        let ready: Vec<TaskResult> = ids
            .iter()
            .filter_map(|id| state.results.get(id).cloned())
            .collect();
        (ready.len() >= need).then_some(ready)
    }

    /// Waits until `num_ready` of `ids` have finished or the timeout
    /// passes; returns the finished results and the ids still pending.
    pub async fn wait(
        &self,
        ids: &[String],
        num_ready: usize,
        timeout: Option<Duration>,
    ) -> Result<(Vec<TaskResult>, Vec<String>), ClientError> {
        let need = num_ready.clamp(0, ids.len());
        if !ids.iter().all(|id| self.shared.mine(id)) {
            return self.wait_remote(ids, need, timeout).await;
        }
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        // Tasks tend to finish in order: skip the finished prefix once, so
        // waiting for a large batch costs O(batch), not O(batch) per wake.
        let mut first_pending = 0;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.shared.lock();
                while first_pending < ids.len() && state.results.contains_key(&ids[first_pending]) {
                    first_pending += 1;
                }
                let expired = deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
                // Waiting for all of them, the prefix says when; for some,
                // count them.
                let worth_counting = first_pending == ids.len() || expired || need < ids.len();
                if worth_counting {
                    let (ready, pending): (Vec<&String>, Vec<&String>) =
                        ids.iter().partition(|id| state.results.contains_key(*id));
                    if ready.len() >= need || expired {
                        return Ok((
                            ready.iter().map(|id| state.results[*id].clone()).collect(),
                            pending.into_iter().cloned().collect(),
                        ));
                    }
                }
                if let Some(reason) = &state.broken {
                    return Err(ClientError::Unreachable {
                        address: String::new(),
                        reason: reason.clone(),
                    });
                }
            }
            match deadline {
                Some(d) => {
                    let _ = tokio::time::timeout_at(d, notified).await;
                }
                None => notified.await,
            }
        }
    }

    /// Waits on the leader for tasks other owners made.
    pub(crate) async fn wait_remote(
        &self,
        ids: &[String],
        need: usize,
        timeout: Option<Duration>,
    ) -> Result<(Vec<TaskResult>, Vec<String>), ClientError> {
        // Long polls of at most a minute, so a wait without a timeout
        // survives proxies and notices a dead leader.
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        loop {
            let left = deadline.map_or(Duration::from_secs(60), |d| {
                d.saturating_duration_since(tokio::time::Instant::now())
                    .min(Duration::from_secs(60))
            });
            let request = pb::GetTasksRequest {
                ids: ids.to_vec(),
                num_ready: need as u32,
                timeout_ms: left.as_millis() as u64,
            };
            let reply = {
                let mut rpc = self.shared.rpc.lock().await;
                rpc.unary(request, |mut c, r| async move { c.get_tasks(r).await })
                    .await?
            };
            let expired = deadline.is_some_and(|d| tokio::time::Instant::now() >= d);
            if reply.finished.len() >= need || expired {
                return Ok((reply.finished, reply.pending));
            }
        }
    }

    /// Stops a task; false when it had already finished.
    ///
    /// A cancel of this owner's own task waits until the leader has
    /// recorded it: the submission goes on the session stream and the
    /// cancel on its own call, so sent at once the cancel would overtake
    /// it and find no task.
    pub async fn cancel(&self, id: &str) -> Result<bool, ClientError> {
        if self.shared.mine(id) {
            if let Some(canceled) = self.cancel_unsent(id) {
                return Ok(canceled);
            }
            self.recorded(id).await?;
        }
        let request = pb::CancelTaskRequest { id: id.to_string() };
        let mut rpc = self.shared.rpc.lock().await;
        let reply = rpc
            .unary(request, |mut c, r| async move { c.cancel_task(r).await })
            .await?;
        Ok(reply.canceled)
    }

    /// Settles the cancel of a task the leader has not been sent yet (one
    /// waiting for actor calls it takes): it fails as canceled, here.
    fn cancel_unsent(&self, id: &str) -> Option<bool> {
        let mut state = self.shared.lock();
        if !state.deferred.remove(id) {
            return None;
        }
        let result = TaskResult {
            id: id.to_string(),
            failure: weft_proto::FailureKind::Canceled.into(),
            error: format!("task {id} was canceled before it ran"),
            ..Default::default()
        };
        state.results.insert(id.to_string(), result);
        drop(state);
        self.shared.changed.notify_waiters();
        Some(true)
    }

    /// Waits until the leader has acknowledged `id` (or it has finished).
    async fn recorded(&self, id: &str) -> Result<(), ClientError> {
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.shared.lock();
                if !state.unacked.contains(id) || state.results.contains_key(id) {
                    return Ok(());
                }
                if let Some(reason) = &state.broken {
                    return Err(ClientError::Unreachable {
                        address: String::new(),
                        reason: reason.clone(),
                    });
                }
            }
            notified.await;
        }
    }

    /// How many results the cluster has sent this owner in all. Each task
    /// is reported once, so this equals the number of finished tasks even
    /// across leader failovers (tests check exactly that).
    pub fn deliveries(&self) -> u64 {
        self.shared.lock().deliveries
    }

    /// Drops this client's refs to `ids`: it forgets their results, and
    /// the cluster frees each object once nothing else refers to it.
    pub fn release(&self, ids: &[String]) {
        let mut state = self.shared.lock();
        let mut cluster = Vec::with_capacity(ids.len());
        for id in ids {
            state.results.remove(id);
            state.puts.remove(id);
            // Its items stay as they are: the caller may hold them.
            state.items_of.remove(id);
            // An actor call's result lives only here.
            if state.actor_refs.remove(id) {
                continue;
            }
            if let Some(seq) = id.rsplit_once('-').and_then(|(_, s)| s.parse::<u64>().ok())
                && self.shared.mine(id)
            {
                state.pending.remove(&seq);
            }
            cluster.push(id.clone());
        }
        if let Some(session) = state.session.as_ref().filter(|_| !cluster.is_empty()) {
            let _ = session.send(pb::OwnerMessage {
                release: cluster,
                ..Default::default()
            });
        }
    }
}

/// A result's value (decoded from its inline encoding; [`TaskClient::get`]
/// fills that in for held ones), or the task's failure as an error.
pub fn value_of(result: TaskResult) -> Result<Option<Value>, ClientError> {
    if result.ok {
        if !result.has_value {
            return Ok(None);
        }
        weft_values::decode(&result.value).map(Some).map_err(|e| {
            ClientError::Unreadable(format!("the value of {} cannot be read: {e}", result.id))
        })
    } else {
        Err(ClientError::failed(result))
    }
}

/// The owner session: connect to the leader, (re)submit what is pending,
/// then forward submissions out and results in until the session breaks.
async fn drive(
    shared: Arc<Shared>,
    mut client: Connection,
    mut alive: mpsc::UnboundedReceiver<()>,
) {
    loop {
        let opened = client
            .open_stream(None, |mut c, requests| async move {
                c.task_session(requests).await
            })
            .await;
        let (tx, mut events) = match opened {
            Ok(opened) => opened,
            Err(e) => {
                shared.lock().broken = Some(e.to_string());
                shared.changed.notify_waiters();
                // Retry when asked for more work, or after a pause.
                tokio::select! {
                    _ = alive.recv() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
                continue;
            }
        };
        {
            let mut state = shared.lock();
            state.broken = None;
            // Objects it put, and the stored results it holds, are known
            // to a new leader only through it (their hosts still have them).
            let put: Vec<TaskResult> = state
                .results
                .values()
                .filter(|r| {
                    r.ok && (state.puts.contains(&r.id)
                        || (shared.mine(&r.id) && !r.held_by.is_empty()))
                })
                .cloned()
                .collect();
            for r in &put {
                state.unacked.insert(r.id.clone());
            }
            let first = pb::OwnerMessage {
                owner: shared.owner.clone(),
                submit: resubmission(&mut state),
                put,
                detached: shared.detached,
                ..Default::default()
            };
            if tx.send(first).is_err() {
                continue;
            }
            state.session = Some(tx);
        }
        shared.changed.notify_waiters();
        loop {
            tokio::select! {
                _ = alive.recv() => return,
                event = events.message() => match event {
                    Ok(Some(event)) => deliver(&shared, event),
                    _ => break,
                },
            }
        }
        shared.lock().session = None;
        // A short pause before reconnecting, so a leader change is not
        // hammered.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The pending specs to send to a new leader, with the arguments whose
/// results this owner already holds passed by value (the new leader may
/// not know those tasks).
fn resubmission(state: &mut Owned) -> Vec<pb::TaskSpec> {
    let mut specs = Vec::with_capacity(state.pending.len());
    for spec in state.pending.values() {
        let mut spec = spec.clone();
        for arg in &mut spec.args {
            if let Some(pb::task_arg::Kind::TaskRef(r)) = &arg.kind
                && let Some(result) = state
                    .results
                    .get(r)
                    .filter(|r| r.ok && r.has_value && r.held_by.is_empty())
            {
                arg.kind = Some(by_value(result));
            }
        }
        state.unacked.insert(spec.id.clone());
        specs.push(spec);
    }
    specs
}

/// A finished result held inline, as an argument passed by value.
fn by_value(result: &TaskResult) -> pb::task_arg::Kind {
    pb::task_arg::Kind::Value(pb::Value {
        encoded: result.value.clone(),
        refs: result.contains.clone(),
    })
}

fn deliver(shared: &Shared, event: pb::OwnerEvent) {
    {
        let mut state = shared.lock();
        let mut done_with = Vec::new();
        for id in &event.accepted {
            state.unacked.remove(id);
        }
        for result in event.finished {
            if let Some(task) = crate::streams::stream_of(&result.id) {
                if state.dropped_streams.contains(task) {
                    done_with.push(result.id);
                } else {
                    let task = task.to_string();
                    state
                        .items_of
                        .entry(task)
                        .or_default()
                        .push(result.id.clone());
                    state.results.insert(result.id.clone(), result);
                }
                continue;
            }
            // The end of a dropped stream: no more items come. (Its ref
            // is the submitter's, who may still read how it ended.)
            state.dropped_streams.remove(&result.id);
            if let Some(seq) = result
                .id
                .rsplit_once('-')
                .and_then(|(_, s)| s.parse::<u64>().ok())
            {
                state.pending.remove(&seq);
            }
            state.unacked.remove(&result.id);
            state.deliveries += 1;
            if let Some(stored) = state.stored_args.remove(&result.id) {
                done_with.extend(stored);
            }
            state.results.insert(result.id.clone(), result);
        }
        // The task holds its arguments while it may run again (lineage);
        // this owner's own refs to them go now.
        for id in &done_with {
            state.results.remove(id);
            state.puts.remove(id);
        }
        if let Some(session) = state.session.as_ref().filter(|_| !done_with.is_empty()) {
            let _ = session.send(pb::OwnerMessage {
                release: done_with,
                ..Default::default()
            });
        }
    }
    shared.changed.notify_waiters();
}
