//! Distributed tasks on the leader: owners submit, the scheduler places,
//! hosts run, results flow back to owners and to anyone waiting in `get`.
//!
//! The task table lives in the leader's memory, not in the Raft log: a
//! task costs no disk write, so the hot path runs at the speed of the
//! network. What survives a leader's death is held by the parties that
//! need it: each owner keeps the specs of its unfinished tasks and
//! resubmits them, under the same ids, to the next leader; each host keeps
//! running its tasks and reports them, and its recent results, when it
//! registers with the next leader. A task id names one task forever, so a
//! resubmission finds the reported result or running attempt instead of
//! running the task again, and no owner sees a result twice.

#[cfg(test)]
mod actor_tests;
pub(crate) mod actors;
mod demand;
mod events;
pub(crate) mod groups;
mod hosts;
pub(crate) mod local_call;
mod outbox;
mod owners;
mod retention;
mod table;
mod task;
#[cfg(test)]
mod tests;

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};
use tonic::Status;
use weft_proto::v1 as pb;

use self::hosts::{HostEntry, from_pb};
pub use self::table::JobWorkEnded;
use self::table::Table;
use self::task::State;
pub(crate) use self::task::Target;
use crate::error::ControllerError;
use crate::scheduler::Devices;

/// How the leader runs tasks.
#[derive(Debug, Clone)]
pub struct TaskConfig {
    /// A host silent this long is declared dead and its tasks retried.
    pub host_timeout: Duration,
    /// Finished tasks kept for `get` and as arguments; older ones are
    /// forgotten (their owners already have their results).
    pub retain_finished: usize,
    /// The most bytes of finished results kept, whatever their number.
    pub retain_bytes: u64,
    /// The largest actor checkpoint kept: checkpoints go through the
    /// replicated log, so a larger one is refused (named in the actor's
    /// record) and the previous one stays.
    pub max_checkpoint_bytes: u64,
    /// How fast one owner may submit and how many of its tasks may be
    /// pending.
    pub limits: crate::limits::Limits,
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            host_timeout: Duration::from_secs(10),
            retain_finished: 200_000,
            retain_bytes: 1 << 30,
            max_checkpoint_bytes: DEFAULT_MAX_CHECKPOINT,
            limits: crate::limits::DEFAULT_LIMITS,
        }
    }
}

/// The default largest actor checkpoint kept.
pub const DEFAULT_MAX_CHECKPOINT: u64 = 16 << 20;

/// Reports from hosts about unknown tasks are kept this long for their
/// owners to resubmit.
const ORPHAN_TTL: Duration = Duration::from_secs(60);

/// How long the refs of an owner whose session ended are kept for it to
/// reconnect before they are dropped.
const OWNER_GRACE: Duration = Duration::from_secs(5);

/// The leader's task and host tables.
pub struct TaskManager {
    table: Mutex<Table>,
    finished: Notify,
    config: TaskConfig,
    next_id: AtomicU64,
    orphans_since: Mutex<Instant>,
    /// Where changed actor records go to be written to the replicated state.
    actor_writes: Mutex<Option<mpsc::UnboundedSender<pb::ActorRecord>>>,
    actors_changed: Notify,
    /// Where changed placement-group records go to be written, with their
    /// versions, and who waits for a group to be created.
    group_writes: Mutex<Option<mpsc::UnboundedSender<String>>>,
    groups_changed: Notify,
    /// Something Serve's reconciler should look at now, not at its next
    /// tick: a group changed (a replica placed, moved or removed), or a
    /// gateway reported requests it holds (one may wait for a deployment
    /// scaled to zero).
    pub serve_changed: Notify,
    /// What hosts' gateways serve: the newest one built, sent to every
    /// host when it changes, on registration, and when a host asks.
    catalog: Mutex<Option<pb::Catalog>>,
    /// Who waits for hosts' reports on preparing a component: the digest
    /// and where its reports go.
    prepare_waiters: Mutex<Vec<(String, mpsc::UnboundedSender<pb::ComponentPrepared>)>>,
    /// Submission rate per owner session.
    submits: crate::limits::Buckets<u64>,
}

/// A submitted task's component, resolved, or why it will not run.
pub(crate) type Resolved = Result<Target, (weft_proto::FailureKind, String)>;

/// Channel of events to an owner session.
pub type OwnerEvents = mpsc::UnboundedReceiver<Result<pb::OwnerEvent, Status>>;
/// Channel of commands to a host session.
pub type HostCommands = mpsc::UnboundedReceiver<Result<pb::HostCommand, Status>>;

impl TaskManager {
    /// An empty table.
    pub fn new(config: TaskConfig) -> Self {
        let rate = f64::from(config.limits.submits_per_second);
        TaskManager {
            submits: crate::limits::Buckets::new(rate, rate),
            table: Mutex::new(Table::new(&config)),
            finished: Notify::new(),
            config,
            next_id: AtomicU64::new(1),
            orphans_since: Mutex::new(Instant::now()),
            actor_writes: Mutex::new(None),
            actors_changed: Notify::new(),
            group_writes: Mutex::new(None),
            groups_changed: Notify::new(),
            serve_changed: Notify::new(),
            catalog: Mutex::new(None),
            prepare_waiters: Mutex::new(Vec::new()),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut Table) -> T) -> T {
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        let out = f(&mut table);
        table.flush();
        if table.outbox.take_finished() {
            self.finished.notify_waiters();
        }
        if !table.actors.persist_out.is_empty() {
            let writes = self.actor_writes.lock().unwrap_or_else(|p| p.into_inner());
            for record in table.actors.persist_out.drain(..) {
                if let Some(tx) = writes.as_ref() {
                    let _ = tx.send(record);
                }
            }
        }
        if std::mem::take(&mut table.actors.changed) {
            self.actors_changed.notify_waiters();
        }
        if !table.groups.persist_out.is_empty() {
            let writes = self.group_writes.lock().unwrap_or_else(|p| p.into_inner());
            for record in table.groups.persist_out.drain(..) {
                if let Some(tx) = writes.as_ref() {
                    let _ = tx.send(record);
                }
            }
        }
        if std::mem::take(&mut table.groups.changed) {
            self.groups_changed.notify_waiters();
            self.serve_changed.notify_one();
        }
        out
    }

    /// Opens an owner session; its tasks' results arrive on the channel.
    pub fn open_owner(&self) -> (u64, OwnerEvents) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        self.with(|t| t.owners.open(id, tx));
        (id, rx)
    }

    /// Closes an owner session: its tasks keep running, and the refs it
    /// held are dropped (unless it is detached).
    pub fn close_owner(&self, owner: u64) {
        self.with(|t| t.close_owner(owner, Instant::now()));
    }

    /// Handles one message of owner session `owner` (everything but its
    /// submissions, which come resolved through [`TaskManager::submit`]):
    /// who it is, the objects it put, the refs it drops.
    pub fn owner_message(&self, owner: u64, message: &mut pb::OwnerMessage) {
        let put = std::mem::take(&mut message.put);
        let release = std::mem::take(&mut message.release);
        let consumed = std::mem::take(&mut message.consumed);
        let cancel = std::mem::take(&mut message.cancel);
        if message.owner.is_empty()
            && put.is_empty()
            && release.is_empty()
            && consumed.is_empty()
            && cancel.is_empty()
        {
            return;
        }
        self.with(|t| {
            if !t.owners.is_open(owner) {
                return;
            }
            if !message.owner.is_empty() {
                t.owners.name(owner, &message.owner, message.detached);
                t.reattach(&message.owner, owner);
            }
            if !put.is_empty() {
                let accepted = put.iter().map(|r| r.id.clone()).collect();
                t.put(owner, put);
                t.owners.send(
                    owner,
                    pb::OwnerEvent {
                        accepted,
                        finished: Vec::new(),
                    },
                );
            }
            t.release_refs(owner, &release);
            for progress in consumed {
                t.stream_consumed(progress);
            }
            for id in &cancel {
                t.cancel(id);
            }
        });
    }

    /// Records a batch of tasks from `owner`, each with its component
    /// resolved (or why not), and acknowledges it.
    pub(crate) fn submit(&self, owner: u64, mut batch: Vec<(pb::TaskSpec, Resolved)>) {
        if batch.is_empty() {
            return;
        }
        let admitted = self.submits.take(&owner, batch.len());
        if admitted < batch.len() {
            let rate = self.config.limits.submits_per_second;
            let message = format!(
                "refused: this client submitted more than {rate} tasks a second, the cluster's \
                 limit per client (--max-submits-per-second); retry in {:?}",
                self.submits.retry_after(&owner)
            );
            for (_, target) in &mut batch[admitted..] {
                *target = Err((weft_proto::FailureKind::Refused, message.clone()));
            }
        }
        self.with(|t| {
            // A session this replica dropped when it stopped leading: its
            // owner resubmits on its session with the new leader.
            if !t.owners.is_open(owner) {
                return;
            }
            let accepted: Vec<String> = batch.iter().map(|(s, _)| s.id.clone()).collect();
            for (spec, target) in batch {
                t.submit(owner, spec, target);
            }
            t.schedule();
            t.owners.send(
                owner,
                pb::OwnerEvent {
                    accepted,
                    finished: Vec::new(),
                },
            );
        });
    }

    /// Sends `catalog` to every host, and to hosts that register later.
    /// An older catalog than the one held is ignored.
    pub fn set_catalog(&self, catalog: pb::Catalog) {
        {
            let mut held = self.catalog.lock().unwrap_or_else(|p| p.into_inner());
            if held.as_ref().is_some_and(|c| c.version > catalog.version) {
                return;
            }
            *held = Some(catalog.clone());
        }
        self.with(|t| {
            for host in t.hosts.values().filter(|h| h.alive) {
                host.send(pb::host_command::Kind::Catalog(catalog.clone()));
            }
        });
    }

    fn catalog_command(&self) -> Option<pb::HostCommand> {
        let held = self.catalog.lock().unwrap_or_else(|p| p.into_inner());
        held.clone().map(|c| pb::HostCommand {
            kind: Some(pb::host_command::Kind::Catalog(c)),
        })
    }

    /// Registers a host (or its new connection) and returns the channel
    /// its commands go on.
    pub fn connect_host(&self, registration: pb::HostRegistration) -> (u64, HostCommands) {
        let connection = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::unbounded_channel();
        let _ = tx.send(Ok(pb::HostCommand {
            kind: Some(pb::host_command::Kind::Registered(true)),
        }));
        if let Some(catalog) = self.catalog_command() {
            let _ = tx.send(Ok(catalog));
        }
        self.with(|t| {
            let id = registration.id.clone();
            let reported: std::collections::HashSet<&str> =
                registration.running.iter().map(|r| r.id.as_str()).collect();
            // Tasks this leader placed there that the host no longer runs
            // (it restarted) are lost with it.
            let lost: Vec<String> = t
                .hosts
                .get(&id)
                .map(|h| {
                    h.running
                        .iter()
                        .filter(|r| !reported.contains(r.as_str()))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            if !lost.is_empty() {
                t.host_died(&id, "restarted and lost its running tasks");
            }
            // A host that registers again while alive keeps what its work
            // holds; one back from the dead starts empty.
            let total = from_pb(&registration.resources.clone().unwrap_or_default());
            let (used, devices, running, bundles, in_bundle) =
                match t.hosts.remove(&id).filter(|p| p.alive) {
                    Some(p) => (
                        p.used,
                        p.devices.resized(total.gpus),
                        p.running,
                        p.bundles,
                        p.in_bundle,
                    ),
                    None => (
                        Default::default(),
                        Devices::new(total.gpus),
                        Default::default(),
                        Default::default(),
                        Default::default(),
                    ),
                };
            let entry = HostEntry {
                id: id.clone(),
                address: registration.address.clone(),
                total,
                used,
                devices,
                alive: true,
                dead_reason: String::new(),
                last_seen: Instant::now(),
                connection,
                commands: Some(tx),
                running,
                done: 0,
                store_dir: registration.store_dir.clone(),
                machine: registration.machine.clone(),
                engine: None,
                gpu: registration.gpu.clone(),
                bundles,
                in_bundle,
            };
            tracing::info!(host = %id, address = %entry.address, cpus = entry.total.cpus, "host registered");
            t.hosts.insert(id.clone(), entry);
            t.groups_registered(&id);
            // What the host runs that this leader has not placed: a task
            // resubmitted before the host came back is adopted (not run
            // twice); an unknown one waits for its owner to resubmit it.
            for running in registration.running {
                match t.tasks.get(&running.id).map(|task| &task.state) {
                    None => {
                        t.orphans.running.insert(
                            running.id,
                            (id.clone(), running.attempt, running.gpu_devices),
                        );
                    }
                    Some(State::Queued) => t.adopt(&running.id, &id, running.attempt, &running.gpu_devices),
                    Some(_) => {}
                }
            }
            for done in registration.finished {
                t.complete(&id, done);
            }
            t.actors_registered(&id, &registration.actors, &registration.started_actors);
            let now = Instant::now();
            for object in registration.objects {
                if !t.tasks.contains_key(&object) {
                    t.orphans.objects.insert(object, (id.clone(), now));
                }
            }
            t.place_groups();
            t.schedule();
            t.place_actors();
        });
        (connection, rx)
    }

    /// Handles one event from host `id`'s connection `connection`.
    pub fn host_event(&self, id: &str, connection: u64, event: pb::host_event::Kind) {
        use pb::host_event::Kind;
        let catalog = matches!(event, Kind::WantCatalog(_))
            .then(|| self.catalog_command())
            .flatten();
        self.with(|t| {
            let Some(entry) = t.hosts.get_mut(id).filter(|h| h.connection == connection) else {
                return;
            };
            entry.last_seen = Instant::now();
            if !entry.alive {
                return;
            }
            match event {
                Kind::Heartbeat(_) | Kind::Register(_) => {}
                Kind::Engine(stats) => {
                    if !stats.serve_ongoing.is_empty() {
                        self.serve_changed.notify_one();
                    }
                    entry.engine = Some(stats);
                }
                Kind::Prepared(mut prepared) => {
                    prepared.host = id.to_string();
                    let mut waiters = self
                        .prepare_waiters
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    waiters.retain(|(digest, tx)| {
                        digest != &prepared.digest || tx.send(prepared.clone()).is_ok()
                    });
                }
                Kind::WantCatalog(_) => {
                    if let Some(pb::HostCommand { kind: Some(kind) }) = catalog {
                        entry.send(kind);
                    }
                }
                Kind::Completed(batch) => {
                    for c in batch.completions {
                        t.complete(id, c);
                    }
                    t.schedule();
                }
                Kind::Blocked(task) => {
                    t.set_blocked(id, &task, true);
                    t.schedule();
                }
                Kind::Unblocked(task) => t.set_blocked(id, &task, false),
                Kind::Item(item) => t.stream_item(id, item),
                Kind::Actor(event) => {
                    t.actor_event(id, event);
                    t.place_actors();
                    // A dead actor's resources may let queued tasks run.
                    t.schedule();
                }
            }
        });
    }

    /// Host `id`'s connection `connection` ended.
    pub fn host_disconnected(&self, id: &str, connection: u64, reason: &str) {
        self.with(|t| {
            if t.hosts.get(id).is_some_and(|h| h.connection == connection) {
                t.host_died(id, reason);
            }
        });
    }

    /// Declares hosts dead that missed their heartbeats, and forgets stale
    /// reports about unknown tasks. Call it periodically.
    pub fn check_hosts(&self) {
        let timeout = self.config.host_timeout;
        self.with(|t| {
            for id in t.silent_hosts(Instant::now(), timeout) {
                let reason = format!("missed its heartbeats for {timeout:?}");
                t.host_died(&id, &reason);
            }
        });
        self.with(|t| {
            let now = Instant::now();
            t.free_unclaimed(now, ORPHAN_TTL);
            t.expire_departed(now, OWNER_GRACE);
            t.check_groups(now, timeout);
            t.check_actors(now, timeout, OWNER_GRACE);
        });
        let mut since = self.orphans_since.lock().unwrap_or_else(|p| p.into_inner());
        if since.elapsed() > ORPHAN_TTL {
            *since = Instant::now();
            self.with(|t| {
                t.orphans.running.clear();
                t.orphans.results.clear();
            });
        }
    }

    /// Forgets everything (this replica stopped leading): every session
    /// ends, so owners and hosts reconnect to the new leader.
    pub fn reset(&self) {
        self.with(|t| {
            let metrics = t.metrics.clone();
            *t = Table::new(&self.config);
            t.metrics = metrics;
        });
        self.finished.notify_waiters();
    }

    /// Waits until `num_ready` of `ids` (all when 0) have finished or
    /// `timeout` passes; returns the finished results and the pending ids.
    pub async fn get(
        &self,
        ids: &[String],
        num_ready: usize,
        timeout: Duration,
    ) -> Result<(Vec<pb::TaskResult>, Vec<String>), ControllerError> {
        let need = if num_ready == 0 || num_ready > ids.len() {
            ids.len()
        } else {
            num_ready
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.finished.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (done, pending) = self.with(|t| {
                let mut done = Vec::new();
                let mut pending = Vec::new();
                for id in ids {
                    match t.tasks.get(id).map(|task| &task.state) {
                        None => {
                            return Err(ControllerError::NotFound(format!(
                                "no object `{id}` on this cluster (unknown, or freed once nothing referred to it)"
                            )));
                        }
                        Some(State::Done(result)) => done.push(result.clone()),
                        Some(_) => pending.push(id.clone()),
                    }
                }
                Ok((done, pending))
            })?;
            if done.len() >= need || tokio::time::Instant::now() >= deadline {
                return Ok((done, pending));
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    /// Cancels a task: queued ones never run, running ones are stopped.
    pub fn cancel(&self, id: &str) -> Result<bool, ControllerError> {
        self.with(|t| {
            t.cancel(id)
                .ok_or_else(|| ControllerError::NotFound(format!("no task `{id}` on this cluster")))
        })
    }

    /// Stops every task whose id starts with `prefix` and that `keep`
    /// does not claim, whether this leader placed it or a host reported it
    /// running after a failover (an orphan its owner never resubmitted):
    /// a leader's own work from an earlier term, whose results nobody
    /// would read. Returns their ids.
    pub(crate) fn cancel_strays(&self, prefix: &str, keep: impl Fn(&str) -> bool) -> Vec<String> {
        self.with(|t| {
            let placed: Vec<String> = t
                .tasks
                .iter()
                .filter(|(id, task)| {
                    id.starts_with(prefix) && !matches!(task.state, State::Done(_)) && !keep(id)
                })
                .map(|(id, _)| id.clone())
                .collect();
            for id in &placed {
                t.cancel(id);
            }
            let orphans: Vec<(String, String)> = t
                .orphans
                .running
                .iter()
                .filter(|(id, _)| id.starts_with(prefix) && !keep(id))
                .map(|(id, (host, ..))| (id.clone(), host.clone()))
                .collect();
            for (id, host) in &orphans {
                t.orphans.running.remove(id);
                if let Some(entry) = t.hosts.get(host) {
                    entry.send(pb::host_command::Kind::Cancel(id.clone()));
                }
            }
            placed
                .into_iter()
                .chain(orphans.into_iter().map(|(id, _)| id))
                .collect()
        })
    }

    /// The objects that hold a value (finished results, puts, stream
    /// items), newest first, at most `limit`, and how many there are.
    pub fn objects(&self, limit: usize) -> pb::ListObjectsResponse {
        self.with(|t| {
            let mut objects: Vec<(&String, &task::Task, &pb::TaskResult)> = t
                .tasks
                .iter()
                .filter_map(|(id, task)| match &task.state {
                    State::Done(r) if r.ok && r.has_value => Some((id, task, r)),
                    _ => None,
                })
                .collect();
            let total = objects.len() as u64;
            objects.sort_by(|a, b| natural(b.0).cmp(&natural(a.0)));
            pb::ListObjectsResponse {
                objects: objects
                    .into_iter()
                    .take(limit)
                    .map(|(id, task, r)| pb::ObjectInfo {
                        id: id.clone(),
                        owner: natural(id).0.to_string(),
                        size: if r.size > 0 {
                            r.size
                        } else {
                            r.value.len() as u64
                        },
                        held_by: r.held_by.clone(),
                        refs: task.refs,
                        kind: if weft_proto::stream_item_of(id).is_some() {
                            "item"
                        } else if task.put {
                            "put"
                        } else {
                            "result"
                        }
                        .into(),
                        copies: Vec::new(),
                    })
                    .collect(),
                total,
            }
        })
    }

    /// Tasks, newest first, in one state (or all for `Unspecified`), and
    /// counts by state.
    pub fn list(&self, state: pb::TaskState, limit: usize) -> pb::ListTasksResponse {
        self.with(|t| {
            let mut counts = std::collections::BTreeMap::new();
            let mut tasks: Vec<(&String, &task::Task)> = Vec::new();
            for (id, task) in &t.tasks {
                let public = task.state.public();
                *counts.entry(public).or_insert(0u64) += 1;
                if state == pb::TaskState::Unspecified || state == public {
                    tasks.push((id, task));
                }
            }
            tasks.sort_by(|a, b| natural(b.0).cmp(&natural(a.0)));
            pb::ListTasksResponse {
                tasks: tasks
                    .into_iter()
                    .take(limit)
                    .map(|(id, task)| pb::TaskInfo {
                        id: id.clone(),
                        component: task.spec.component.clone(),
                        function: task.spec.function.clone(),
                        state: task.state.public().into(),
                        host: match &task.state {
                            State::Running { host, .. } => host.clone(),
                            State::Done(r) => r.host.clone(),
                            _ => String::new(),
                        },
                        attempts: task.attempt,
                        error: match &task.state {
                            State::Done(r) if !r.ok => r.error.clone(),
                            _ => String::new(),
                        },
                        run_micros: match &task.state {
                            State::Done(r) => r.run_micros,
                            _ => 0,
                        },
                        gpu_devices: match &task.state {
                            State::Running { host, .. } => t
                                .hosts
                                .get(host)
                                .map(|h| h.devices.of(id))
                                .unwrap_or_default(),
                            _ => Vec::new(),
                        },
                    })
                    .collect(),
                counts: counts
                    .into_iter()
                    .map(|(state, count)| pb::TaskStateCount {
                        state: state.into(),
                        count,
                    })
                    .collect(),
                finished_total: t.metrics.totals().0,
                failed_total: t.metrics.totals().1,
            }
        })
    }

    /// Asks every live host to make `digest` ready now; returns their ids
    /// and where their reports will arrive.
    pub fn prepare(
        &self,
        digest: &str,
    ) -> (Vec<String>, mpsc::UnboundedReceiver<pb::ComponentPrepared>) {
        let (tx, rx) = mpsc::unbounded_channel();
        {
            let mut waiters = self
                .prepare_waiters
                .lock()
                .unwrap_or_else(|p| p.into_inner());
            waiters.retain(|(_, tx)| !tx.is_closed());
            // Registered before the commands go out, so no report is missed.
            waiters.push((digest.to_string(), tx));
        }
        let hosts = self.with(|t| {
            let mut asked = Vec::new();
            for host in t.hosts.values().filter(|h| h.alive) {
                host.send(pb::host_command::Kind::Prepare(digest.to_string()));
                asked.push(host.id.clone());
            }
            asked
        });
        (hosts, rx)
    }

    /// Registers the task table's metrics: its contents now, and what it
    /// recorded as tasks ran.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        let (gauges, metrics) = self.with(|t| {
            let mut counts: std::collections::BTreeMap<pb::TaskState, u64> =
                pb::TaskState::ALL.iter().map(|&s| (s, 0)).collect();
            for task in t.tasks.values().filter(|task| !task.put) {
                *counts.entry(task.state.public()).or_default() += 1;
            }
            let live = || t.hosts.values().filter(|h| h.alive);
            let gauges = crate::metrics::TableGauges {
                by_state: counts.into_iter().map(|(s, n)| (s.name(), n)).collect(),
                queued: t.queue.len() as u64,
                hosts_alive: live().count() as u64,
                hosts_dead: t.hosts.values().filter(|h| !h.alive).count() as u64,
                cpus: live().map(|h| h.total.cpus).sum(),
                cpus_used: live().map(|h| h.used.cpus).sum(),
                gpus_used: live().map(|h| f64::from(h.used.gpus)).sum(),
                groups: t.group_counts().into_iter().collect(),
            };
            (gauges, t.metrics.clone())
        });
        gauges.register(&metrics, registry);
    }

    /// Task `task`'s recorded events, or every task's when it is empty.
    pub fn events(&self, task: &str) -> pb::TaskEventsResponse {
        self.with(|t| t.events.of(task))
    }

    /// The host that ran (or runs) `task`'s latest attempt, for reading
    /// its output there: from the table, or from the history once the
    /// table has let the task go. An actor's id names the host of its
    /// latest incarnation. `Ok(None)`: it has not started yet.
    pub fn log_host(&self, task: &str) -> Result<Option<pb::LocateLogsResponse>, String> {
        self.with(|t| {
            if let Some(actor) = t.actors.records.get(task) {
                if actor.host.is_empty() {
                    return Ok(None);
                }
                let entry = t.hosts.get(&actor.host);
                return Ok(Some(pb::LocateLogsResponse {
                    address: entry.map(|h| h.address.clone()).unwrap_or_default(),
                    alive: entry.is_some_and(|h| h.alive),
                    dead_reason: entry.map(|h| h.dead_reason.clone()).unwrap_or_default(),
                    host: actor.host.clone(),
                    running: actor.state() != pb::ActorState::Dead,
                    source: task.to_string(),
                }));
            }
            let state = t.tasks.get(task).map(|task| &task.state);
            let running = matches!(state, Some(State::Running { .. }));
            let host = match state {
                Some(State::Running { host, .. }) => host.clone(),
                Some(State::Done(result)) => result.host.clone(),
                Some(State::Waiting | State::Queued) => return Ok(None),
                None => t
                    .events
                    .of(task)
                    .events
                    .iter()
                    .rev()
                    .find(|e| !e.host.is_empty())
                    .map(|e| e.host.clone())
                    .ok_or_else(|| {
                        format!("the cluster knows no task {task} (nor an actor or a job)")
                    })?,
            };
            if host.is_empty() {
                return Ok(None);
            }
            let entry = t.hosts.get(&host);
            Ok(Some(pb::LocateLogsResponse {
                address: entry.map(|h| h.address.clone()).unwrap_or_default(),
                alive: entry.is_some_and(|h| h.alive),
                dead_reason: entry.map(|h| h.dead_reason.clone()).unwrap_or_default(),
                host,
                running,
                source: task.to_string(),
            }))
        })
    }

    /// How long a silent host has before it is declared dead.
    pub fn host_timeout(&self) -> Duration {
        self.config.host_timeout
    }

    /// Whether host `id` is registered and alive.
    pub fn host_alive(&self, id: &str) -> bool {
        self.with(|t| t.hosts.get(id).is_some_and(|h| h.alive))
    }

    /// Whether any host is alive to run tasks.
    pub fn any_host_alive(&self) -> bool {
        self.with(|t| t.hosts.values().any(|h| h.alive))
    }

    /// Every known host.
    pub fn nodes(&self) -> Vec<pb::NodeInfo> {
        let now = Instant::now();
        self.with(|t| {
            t.hosts
                .values()
                .map(|h| {
                    let mut info = h.info(now);
                    info.actors = t
                        .actors
                        .records
                        .values()
                        .filter(|a| a.host == h.id && a.state() != pb::ActorState::Dead)
                        .count() as u32;
                    info
                })
                .collect()
        })
    }
}

/// Sorts `owner-seq` ids by owner, then by number.
pub(crate) fn natural(id: &str) -> (&str, u64) {
    // A stream item `<owner>-<seq>.<n>` sorts with its task.
    let task = weft_proto::stream_item_of(id).map_or(id, |(task, _)| task);
    match task.rsplit_once('-') {
        Some((owner, seq)) => (owner, seq.parse().unwrap_or(0)),
        None => (task, 0),
    }
}

impl TaskManager {
    /// Cancels every unfinished task of `job` and kills its non-detached
    /// actors, naming `why` as the actors' cause of death.
    pub fn end_job_work(&self, job: &str, why: &str) -> JobWorkEnded {
        if job.is_empty() {
            return JobWorkEnded::default();
        }
        self.with(|t| t.end_job_work(job, why))
    }
}
