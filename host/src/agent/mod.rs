//! The worker agent: a host's session with the cluster's leader. It
//! registers the host's resources, heartbeats, runs the tasks the leader
//! assigns (each in a fresh instance, as a direct call would), reports
//! their results in batches, and serves nested tasks to its guests.
//!
//! The transport is a [`Connector`]: a gRPC stream for a host in its own
//! process ([`GrpcConnector`]), or channels for the host embedded in
//! `weft up`. When the session breaks (the leader died), the agent keeps
//! running its tasks, registers with the next leader and reports what it
//! runs and what it finished meanwhile, so no result is lost.

mod actors;
mod bulk;
mod context;
mod grpc;
mod lanes;
mod logs;
mod metrics;
mod objects;
mod pins;
mod runtime_env;
pub(crate) mod stream;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use weft_proto::FailureKind;
use weft_proto::HasRuntimeEnv;
use weft_proto::v1 as pb;

pub use context::{ObjectWriter, TaskContext};
pub use grpc::GrpcConnector;
pub use logs::{LogWriter, Logs};
pub use objects::{BULK_LANES, HostService, PullError, pull_into, pull_over_network};
pub use weft_proto::limits::INLINE_MAX;

use crate::store::ObjectStore;
use crate::{CallSpec, Grants, Host, HostError, Invocation, Prepared, Readiness};

/// A boxed future, for the object-safe [`Connector`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a session's events go: a gRPC stream's sender, or, for the
/// embedded host, the task manager itself.
pub trait EventSink: Send + Sync {
    /// Sends one event; false once the session is gone.
    fn send(&self, event: pb::HostEvent) -> bool;
}

impl EventSink for mpsc::UnboundedSender<pb::HostEvent> {
    fn send(&self, event: pb::HostEvent) -> bool {
        mpsc::UnboundedSender::send(self, event).is_ok()
    }
}

/// One session with the leader: events out, commands in. The session ends
/// when `commands` ends or yields an error; dropping `events` ends it too.
pub struct Link {
    /// Events to the leader.
    pub events: Arc<dyn EventSink>,
    /// Commands from the leader.
    pub commands: mpsc::UnboundedReceiver<Result<pb::HostCommand, tonic::Status>>,
}

/// Why a [`Connector`] could not open a session or fetch a component.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The controller in this process has stopped.
    #[error("the controller has stopped")]
    Stopped,
    /// The cluster could not be reached or refused (over gRPC).
    #[error(transparent)]
    Client(#[from] weft_core::ClientError),
    /// The controller in this process refused.
    #[error(transparent)]
    Controller(Box<dyn std::error::Error + Send + Sync>),
}

/// How an agent reaches the leader.
pub trait Connector: Send + Sync + 'static {
    /// Opens a session with the leader, registering with `registration`.
    fn connect(&self, registration: pb::HostRegistration)
    -> BoxFuture<'_, Result<Link, LinkError>>;
    /// The bytes of a deployed component.
    fn fetch_component<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<Vec<u8>, LinkError>>;
}

/// Who the host is and what it offers.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The host's id in the cluster.
    pub id: String,
    /// Where the host can be reached, for `weft list nodes`.
    pub address: String,
    /// What it offers to tasks.
    pub resources: pb::Resources,
    /// Controller addresses, for the tasks guests submit.
    pub controllers: String,
    /// How often it tells the leader it is alive.
    pub heartbeat: Duration,
    /// Threads its actors run on, each with its own port (0: actors run
    /// on the main runtime and are called on the host's port).
    pub actor_threads: usize,
    /// Who may call the host's ports (its actor threads' too).
    pub keys: Arc<weft_proto::auth::Keys>,
    /// Where tasks' output is kept for `weft logs`; `None` keeps only the
    /// tail a synchronous call returns.
    pub logs: Option<Logs>,
    /// The devices it lends to tasks that ask for GPUs (none: it has none).
    pub gpus: Option<Arc<crate::gpu::Gpus>>,
    /// The directories guests may ask for by name (`--dir`).
    pub dirs: Vec<weft_runtime::services::DirGrant>,
}

/// Results kept for the next leader after a failover.
const RECENT_KEEP: Duration = Duration::from_secs(60);
const RECENT_MAX: usize = 20_000;
/// At most this much of them goes in one registration.
const RECENT_REPORT_BYTES: usize = 32 << 20;

/// The host's cpu slots: the leader may assign more than fit (see the
/// controller's pipelining); the extra tasks wait here and start the
/// moment a slot frees.
struct Slots {
    free: f64,
    queue: VecDeque<pb::Assignment>,
}

/// A task assigned here.
struct Running {
    attempt: u32,
    /// Its handle, once started.
    abort: Option<AbortHandle>,
    /// The GPUs the leader gave it (reported to a new leader).
    gpu_devices: Vec<u32>,
    /// A streaming task's: where its owner's progress goes, and the
    /// stream, until the attempt starts and takes it.
    consumed: Option<tokio::sync::watch::Sender<u64>>,
    stream: Option<stream::Emitter>,
}

/// A worker agent.
pub struct Agent {
    host: Arc<Host>,
    pub(crate) config: AgentConfig,
    connector: Arc<dyn Connector>,
    nested: tokio::sync::OnceCell<weft_core::TaskClient>,
    /// Assigned tasks by id.
    running: Mutex<HashMap<String, Running>>,
    slots: Mutex<Slots>,
    store: Arc<ObjectStore>,
    pulls: Mutex<HashMap<String, objects::Pull>>,
    creating: Mutex<objects::Creating>,
    recent: Mutex<VecDeque<(Instant, pb::Completion)>>,
    events: Mutex<Option<Arc<dyn EventSink>>>,
    fetching: Arc<tokio::sync::Mutex<()>>,
    actors: Mutex<HashMap<String, actors::Slot>>,
    lanes: lanes::Lanes,
    /// What this host's HTTP gateway serves, as the leader last sent it.
    catalog: tokio::sync::watch::Sender<Arc<crate::gateway::Catalog>>,
    /// What the gateway answered, for `/metrics`.
    pub(crate) gateway_metrics: metrics::GatewayMetrics,
    /// Where its gateway listens and the Serve requests it holds, for the
    /// leader.
    pub serve_load: crate::gateway::ServeLoad,
    /// This host's HTTP gateway, once it serves: guests reach Serve
    /// deployments through it.
    pub(crate) gateway: std::sync::OnceLock<std::sync::Weak<crate::gateway::Gateway>>,
    /// The port of this host's bulk streams, opened when first asked for
    /// (`bulk.rs`), or why it could not be.
    bulk_port: std::sync::OnceLock<Result<u16, String>>,
    /// What requests on the bulk port must start with (random, per
    /// process; learned through the guarded `BulkPort` RPC).
    bulk_key: String,
}

impl Agent {
    /// Starts an agent for `host` with its object store; it connects, and
    /// reconnects, on its own.
    pub fn start(
        host: Arc<Host>,
        config: AgentConfig,
        connector: Arc<dyn Connector>,
        store: Arc<ObjectStore>,
    ) -> Arc<Self> {
        let cpus = config.resources.cpus;
        let agent = Arc::new(Agent {
            host,
            config,
            connector,
            nested: tokio::sync::OnceCell::new(),
            running: Mutex::default(),
            store,
            pulls: Mutex::default(),
            creating: Mutex::default(),
            slots: Mutex::new(Slots {
                free: cpus,
                queue: VecDeque::new(),
            }),
            recent: Mutex::default(),
            events: Mutex::default(),
            fetching: Arc::new(tokio::sync::Mutex::new(())),
            actors: Mutex::default(),
            lanes: lanes::Lanes::default(),
            catalog: tokio::sync::watch::Sender::new(Arc::default()),
            gateway_metrics: Default::default(),
            serve_load: Default::default(),
            gateway: std::sync::OnceLock::new(),
            bulk_port: std::sync::OnceLock::new(),
            bulk_key: random_key(),
        });
        tokio::spawn(agent.clone().run());
        agent
    }

    /// The host's id.
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// A writer into the log of route `path`'s handlers on this host
    /// (`None` when the host keeps no logs).
    pub(crate) fn route_log(&self, path: &str) -> Option<LogWriter> {
        let source = weft_proto::logs::route_source(path);
        self.config
            .logs
            .as_ref()
            .map(|logs| logs.shared_writer(&source))
    }

    /// The host that runs this agent's calls.
    pub fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// What the gateway serves now, and a receiver that sees each change.
    pub(crate) fn catalog(&self) -> tokio::sync::watch::Receiver<Arc<crate::gateway::Catalog>> {
        self.catalog.subscribe()
    }

    /// Sends the engine's and gateway's figures to the leader now rather
    /// than at the next heartbeat (a request waits for a Serve deployment
    /// that has no replica).
    pub(crate) fn report_now(&self) {
        self.send(pb::host_event::Kind::Engine(engine_stats(self)));
    }

    /// Asks the leader for its current catalog (a gateway met a route or
    /// name it does not know).
    pub(crate) fn want_catalog(&self) {
        self.send(pb::host_event::Kind::WantCatalog(true));
    }

    /// Takes a new catalog from the leader, dropping compiled components
    /// the previous one listed and this one does not (they were deleted).
    fn set_catalog(&self, catalog: pb::Catalog) {
        let new = crate::gateway::Catalog::from(catalog);
        let old = self.catalog.borrow().clone();
        if new.version < old.version {
            return;
        }
        for digest in old.digests() {
            if !new.has_digest(digest) {
                self.host.evict(digest);
            }
        }
        self.catalog.send_replace(Arc::new(new));
    }

    fn send(&self, kind: pb::host_event::Kind) {
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(sink) = events.as_ref() {
            sink.send(pb::HostEvent { kind: Some(kind) });
        }
    }

    fn registration(&self) -> pb::HostRegistration {
        let (actors, started_actors) = self.running_actors();
        let running = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(id, r)| pb::RunningTask {
                id: id.clone(),
                attempt: r.attempt,
                gpu_devices: r.gpu_devices.clone(),
            })
            .collect();
        // The newest results first, within a size that fits one message.
        let mut budget = RECENT_REPORT_BYTES;
        let finished = self
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .rev()
            .map(|(_, c)| c.clone())
            .take_while(|c| {
                let size = c
                    .result
                    .as_ref()
                    .map_or(0, |r| r.value.len() + r.error.len());
                budget = budget.saturating_sub(size);
                budget > 0
            })
            .collect();
        pb::HostRegistration {
            id: self.config.id.clone(),
            address: self.config.address.clone(),
            resources: Some(self.config.resources.clone()),
            running,
            finished,
            store_dir: self.store.config().dir.display().to_string(),
            machine: weft_core::objects::machine_id().to_string(),
            objects: self.store.primaries(),
            actors,
            started_actors,
            gpu: self
                .config
                .gpus
                .as_ref()
                .map(|g| g.describe())
                .unwrap_or_default(),
        }
    }

    /// Session after session with whoever leads.
    async fn run(self: Arc<Self>) {
        let mut announced = false;
        loop {
            let since = Instant::now();
            let link = match self.connector.connect(self.registration()).await {
                Ok(link) => link,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot reach the leader; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            *self.events.lock().unwrap_or_else(|p| p.into_inner()) = Some(link.events.clone());
            self.resend_finished_since(since);
            let heartbeat = tokio::spawn(heartbeat(
                link.events.clone(),
                self.config.heartbeat,
                Arc::downgrade(&self),
            ));
            let mut commands = link.commands;
            while let Some(command) = commands.recv().await {
                match command {
                    Ok(pb::HostCommand { kind: Some(kind) }) => self.handle(kind, &mut announced),
                    Ok(_) => {}
                    Err(status) => {
                        tracing::warn!(error = %status.message(), "leader session failed");
                        break;
                    }
                }
            }
            heartbeat.abort();
            *self.events.lock().unwrap_or_else(|p| p.into_inner()) = None;
            tracing::warn!("lost the leader session; reconnecting");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Whether it has a session with the leader now.
    pub fn connected(&self) -> bool {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    fn handle(self: &Arc<Self>, command: pb::host_command::Kind, announced: &mut bool) {
        use pb::host_command::Kind;
        match command {
            Kind::Registered(_) => {
                if !*announced {
                    *announced = true;
                    tracing::info!(id = %self.config.id, "host registered with the leader");
                }
            }
            Kind::Assign(batch) => {
                {
                    let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                    for assignment in &batch.tasks {
                        let (stream, consumed) = if assignment.streaming {
                            let (stream, consumed) = stream::Emitter::new(assignment);
                            (Some(stream), Some(consumed))
                        } else {
                            (None, None)
                        };
                        running.insert(
                            assignment.id.clone(),
                            Running {
                                attempt: assignment.attempt,
                                abort: None,
                                gpu_devices: assignment.gpu_devices.clone(),
                                consumed,
                                stream,
                            },
                        );
                    }
                }
                self.slots
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .queue
                    .extend(batch.tasks);
                self.start_ready();
            }
            Kind::Free(objects) => self.free(&objects.ids),
            Kind::StartActor(record) => self.start_actor(record),
            Kind::StopActor(stop) => self.stop_actor(&stop.id),
            Kind::Catalog(catalog) => self.set_catalog(catalog),
            Kind::Prepare(digest) => {
                let agent = self.clone();
                tokio::spawn(async move {
                    let started = Instant::now();
                    let outcome = agent.make_ready(&digest).await;
                    let prepared = prepared_event(digest, outcome, started.elapsed());
                    // The counters first, so `weft status` agrees with the
                    // report as soon as it arrives.
                    agent.send(pb::host_event::Kind::Engine(engine_stats(&agent)));
                    agent.send(pb::host_event::Kind::Prepared(prepared));
                });
            }
            Kind::Consumed(progress) => {
                let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                if let Some(tx) = running
                    .get(&progress.task)
                    .and_then(|r| r.consumed.as_ref())
                {
                    tx.send_if_modified(|read| {
                        let more = progress.count > *read;
                        *read = (*read).max(progress.count);
                        more
                    });
                }
            }
            Kind::Cancel(id) => {
                let entry = self
                    .running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&id);
                // A task still queued here is skipped when its turn comes.
                if let Some(Running {
                    abort: Some(handle),
                    ..
                }) = entry
                {
                    handle.abort();
                    tracing::info!(task = %id, "canceled");
                }
            }
        }
    }

    /// Starts queued tasks while their cpus are free. A task never waits
    /// on an idle host, whatever it asks for: the leader checked that it
    /// fits this host's total.
    fn start_ready(self: &Arc<Self>) {
        let mut starting = Vec::new();
        {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let total = self.config.resources.cpus;
            while let Some(next) = slots.queue.front() {
                let fits = next.cpus <= slots.free + 1e-9 || slots.free >= total - 1e-9;
                if !fits {
                    break;
                }
                let Some(task) = slots.queue.pop_front() else {
                    break;
                };
                let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                if running
                    .get(&task.id)
                    .is_none_or(|r| r.attempt != task.attempt)
                {
                    continue; // canceled while queued
                }
                slots.free -= task.cpus;
                // Taken here, given back when the task's future is dropped:
                // finished, or aborted by a cancel, even one that comes
                // before the future first runs.
                let slot = Held {
                    agent: self.clone(),
                    cpus: task.cpus,
                };
                starting.push((task, slot));
            }
        }
        // Spawned with no lock held: dropping a future gives its cpus back,
        // which takes the locks.
        for (task, slot) in starting {
            let (id, attempt) = (task.id.clone(), task.attempt);
            let agent = self.clone();
            let handle = tokio::spawn(async move {
                let (result, release) = agent.execute(task).await;
                drop(slot);
                agent.finished(attempt, result, release);
            });
            let canceled = {
                let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
                match running.get_mut(&id).filter(|r| r.attempt == attempt) {
                    Some(entry) => {
                        entry.abort = Some(handle.abort_handle());
                        false
                    }
                    // Canceled (or finished) since it was taken off the queue.
                    None => true,
                }
            };
            if canceled {
                handle.abort();
            }
        }
    }

    /// Runs an assignment the leader in this process handed over directly
    /// (its fast path for calls, on its own reservation of the cpus):
    /// it holds its cpus here as a queued task would, and reports nothing
    /// over the session. Its result, and the objects its guest made.
    pub async fn run_handed(
        self: Arc<Self>,
        task: pb::Assignment,
    ) -> (pb::TaskResult, Vec<String>) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).free -= task.cpus;
        let _slot = Held {
            agent: self.clone(),
            cpus: task.cpus,
        };
        self.execute(task).await
    }

    /// Gives `cpus` back to the slots (a task ended, or waits on others)
    /// and starts what now fits.
    fn release(self: &Arc<Self>, cpus: f64) {
        self.slots.lock().unwrap_or_else(|p| p.into_inner()).free += cpus;
        self.start_ready();
    }

    /// Lends a waiting task's `cpus` to the queue until the returned guard
    /// drops; then the task takes them back at once, even past the total
    /// for a moment (as Ray does), so it resumes without waiting.
    pub(crate) fn lend(self: &Arc<Self>, cpus: f64) -> Lent {
        self.release(cpus);
        Lent {
            agent: self.clone(),
            cpus,
        }
    }

    /// Records a finished attempt and queues its report.
    fn finished(&self, attempt: u32, result: pb::TaskResult, release: Vec<String>) {
        {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            if running
                .get(&result.id)
                .is_some_and(|r| r.attempt == attempt)
            {
                running.remove(&result.id);
            }
        }
        let completion = pb::Completion {
            attempt,
            result: Some(result),
            release,
        };
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            while recent
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > RECENT_KEEP)
                || recent.len() >= RECENT_MAX
            {
                recent.pop_front();
            }
            recent.push_back((now, completion.clone()));
        }
        // Sent at once: the transport coalesces messages under load (HTTP/2
        // frames share writes), and a task waiting for this result should
        // not wait for a batch to fill.
        self.send(pb::host_event::Kind::Completed(pb::CompletionBatch {
            completions: vec![completion],
        }));
    }

    /// Reports again what finished since `since`: a task that finished
    /// while the registration was on its way may be listed there as
    /// running, and its completion, sent while no session was open, went
    /// nowhere. The leader ignores a completion it already has.
    fn resend_finished_since(&self, since: Instant) {
        let completions: Vec<pb::Completion> = self
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(at, _)| *at >= since)
            .map(|(_, c)| c.clone())
            .collect();
        if !completions.is_empty() {
            self.send(pb::host_event::Kind::Completed(pb::CompletionBatch {
                completions,
            }));
        }
    }

    /// Lends `n` of this host's devices (none for 0): `devices`, the ones
    /// the leader picked (any free ones when it picked none). The leader
    /// counted them free, so they are, or are about to be (an actor that
    /// held them is stopping).
    pub(crate) async fn lease_gpus(
        &self,
        n: u32,
        devices: &[u32],
    ) -> Result<Option<Arc<crate::gpu::Lease>>, crate::gpu::GpuError> {
        if n == 0 {
            return Ok(None);
        }
        match &self.config.gpus {
            Some(gpus) => gpus
                .lease_when_free(n, devices, Duration::from_secs(30))
                .await
                .map(Some),
            None => Err(crate::gpu::GpuError::InvalidArgument(format!(
                "{n} GPU(s) asked for, and host {} has none",
                self.config.id
            ))),
        }
    }

    /// Runs one attempt of a task; returns its result and the refs its
    /// guest made that the result does not contain.
    async fn execute(self: &Arc<Self>, mut task: pb::Assignment) -> (pb::TaskResult, Vec<String>) {
        let started = Instant::now();
        let mut result = pb::TaskResult {
            id: task.id.clone(),
            host: self.config.id.clone(),
            attempts: task.attempt,
            ..Default::default()
        };
        let prepared = match self.prepare(&task.digest).await {
            Ok(prepared) => prepared,
            Err(e) => {
                result.set_failure(failure_kind_of(&e));
                result.error = e.to_string();
                return (result, Vec::new());
            }
        };
        let args = match self.task_args(&prepared, &mut task).await {
            Ok(args) => args,
            Err((kind, e)) => {
                result.set_failure(kind);
                result.error = e;
                return (result, Vec::new());
            }
        };
        let lease = match self.lease_gpus(task.gpus, &task.gpu_devices).await {
            Ok(lease) => lease,
            Err(e) => {
                result.set_failure(FailureKind::Infeasible);
                result.error = format!("task {}: {e}", task.id);
                return (result, Vec::new());
            }
        };
        let asked = task.env_parts().take();
        let granted = match self.resolve_env(&asked).await {
            Ok(granted) => granted,
            Err(e) => {
                result.set_failure(FailureKind::NotFound);
                result.error = format!("task {}: {e}", task.id);
                return (result, Vec::new());
            }
        };
        let stream = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(&task.id)
            .filter(|r| r.attempt == task.attempt)
            .and_then(|r| r.stream.take());
        let context = Arc::new(
            TaskContext::new(self.clone(), task.id.clone(), task.cpus)
                .in_job(std::mem::take(&mut task.job), asked, granted)
                .capturing(std::mem::take(&mut task.capture_group))
                .with_gpu(lease)
                .streaming(stream),
        );
        let invocation = Invocation {
            call: CallSpec::Values {
                function: task.function.clone(),
                args,
            },
            timeout: (task.timeout_ms > 0).then(|| Duration::from_millis(task.timeout_ms)),
            memory_limit: (task.memory_limit_bytes > 0).then_some(task.memory_limit_bytes),
            format: crate::Format::Value,
            grants: Grants {
                http_hosts: task.allow_http.clone(),
            },
            tasks: Some(context.clone()),
            // A synchronous call's output comes back in its reply: keeping
            // it again would cost every `weft call` for nothing.
            log: self
                .config
                .logs
                .as_ref()
                .filter(|_| !task.sync_call)
                .map(|l| Arc::new(l.writer(&task.id)) as crate::services::GuestLog),
            reuse: crate::Reuse::new(task.instance_scope.clone(), task.max_calls),
            setup: None,
        };
        let outcome = self.host.call(&prepared, invocation).await;
        result.run_micros = started.elapsed().as_micros() as u64;
        result.items = context.emitted();
        let mut refs = Vec::new();
        match outcome {
            Ok(outcome) => {
                result.ok = true;
                result.has_value = outcome.value.is_some();
                if task.sync_call {
                    result.output = outcome.guest_output;
                    result.instantiate_micros = outcome.instantiate.as_micros() as u64;
                }
                if let Some(value) = outcome.value {
                    refs = value.refs();
                    if let Err(e) = self.keep_result(&mut result, &value, task.sync_call) {
                        result.ok = false;
                        result.has_value = false;
                        result.set_failure(FailureKind::Memory);
                        result.error =
                            format!("cannot keep the result of `{}`: {e}", task.function);
                    }
                }
            }
            Err(e) => {
                result.set_failure(failure_kind_of(&e));
                result.error = e.to_string();
            }
        }
        let (contains, release) = context.settle(&refs).await;
        if result.ok {
            result.contains = contains;
        }
        (result, release)
    }

    /// Puts a task's result into its record: inline when small (or when
    /// `inline`: a synchronous call's caller wants it in the reply), else
    /// into this host's store (a `list<u8>` written as its header and its
    /// bytes, without joining them first).
    fn keep_result(
        &self,
        result: &mut pb::TaskResult,
        value: &weft_values::Value,
        inline: bool,
    ) -> Result<(), crate::store::StoreError> {
        let encoded;
        let header;
        let parts: [&[u8]; 2] = match value {
            weft_values::Value::Bytes(bytes) => {
                header = weft_values::bytes_header(bytes.len() as u64);
                [&header, bytes]
            }
            other => {
                encoded = weft_values::encode(other);
                [&encoded, &[]]
            }
        };
        let size = parts.iter().map(|p| p.len()).sum::<usize>();
        result.size = size as u64;
        if size <= INLINE_MAX || inline {
            result.value = parts.concat();
        } else {
            (result.held_by, result.held_at) = self.hold(&result.id, &parts)?;
        }
        Ok(())
    }

    /// The task's arguments as values: literal ones decoded, a ref's
    /// object read from this host's store (pulled here first when another
    /// host has it), and a parameter of type `object-ref` given the ref
    /// itself (its object pulled here first, so the guest reads it
    /// locally).
    async fn task_args(
        &self,
        prepared: &Prepared,
        task: &mut pb::Assignment,
    ) -> Result<Vec<weft_values::Value>, (FailureKind, String)> {
        use pb::task_arg::Kind;
        use weft_values::{Ty, Value};
        let params = crate::find_function(&prepared.functions, &task.function)
            .map(|f| f.params())
            .unwrap_or_default();
        let objects: HashMap<usize, pb::ObjectArg> = std::mem::take(&mut task.objects)
            .into_iter()
            .map(|o| (o.index as usize, o))
            .collect();
        let mut out = Vec::with_capacity(task.args.len());
        for (index, arg) in std::mem::take(&mut task.args).into_iter().enumerate() {
            let bad = |e: weft_values::DecodeError| {
                (
                    FailureKind::BadArgument,
                    format!("argument {}: {e}", index + 1),
                )
            };
            let lost = |e: PullError| (FailureKind::Lost, format!("argument {}: {e}", index + 1));
            let wants_ref = matches!(params.get(index), Some((_, Ty::ObjectRef)));
            let value = match (objects.get(&index), arg.kind) {
                (Some(object), _) if wants_ref => {
                    if object.held {
                        self.local_object(&object.id, &object.address)
                            .await
                            .map_err(lost)?;
                    }
                    Value::ObjectRef(object.id.clone())
                }
                (_, Some(Kind::Value(v))) => {
                    weft_values::decode_shared(&bytes::Bytes::from(v.encoded)).map_err(bad)?
                }
                (Some(object), _) if object.held => {
                    let stored = self
                        .local_object(&object.id, &object.address)
                        .await
                        .map_err(lost)?;
                    weft_values::decode_shared(&stored.shared()).map_err(bad)?
                }
                (_, Some(Kind::TaskRef(id))) => {
                    return Err((
                        FailureKind::Internal,
                        format!("argument {}: object {id} was not resolved", index + 1),
                    ));
                }
                (_, None) => {
                    return Err((
                        FailureKind::BadArgument,
                        format!("argument {} is empty", index + 1),
                    ));
                }
            };
            out.push(value);
        }
        Ok(out)
    }

    /// The component `digest`, fetched and compiled once if this host has
    /// never seen it (the artifact cache on disk makes restarts cheap).
    pub(crate) async fn prepare(&self, digest: &str) -> Result<Arc<Prepared>, HostError> {
        self.make_ready(digest).await.map(|(p, _)| p)
    }

    /// [`Agent::prepare`], saying how the component was made ready.
    async fn make_ready(&self, digest: &str) -> Result<(Arc<Prepared>, Readiness), HostError> {
        if let Some(p) = self.host.prepared(digest) {
            return Ok((p, Readiness::Warm));
        }
        // The guard travels into the compile: a canceled task drops this
        // future, but its compile runs on, and the next task for the same
        // component must wait for it rather than compile a second copy.
        let one_at_a_time = self.fetching.clone().lock_owned().await;
        if let Some(p) = self.host.prepared(digest) {
            return Ok((p, Readiness::Warm));
        }
        let wasm =
            self.connector.fetch_component(digest).await.map_err(|e| {
                HostError::Internal(format!("cannot fetch component {digest}: {e}"))
            })?;
        let (host, d) = (self.host.clone(), digest.to_string());
        tokio::task::spawn_blocking(move || {
            let _one_at_a_time = one_at_a_time;
            host.prepare(&d, || Ok(wasm))
        })
        .await
        .map_err(|e| HostError::Internal(e.to_string()))?
    }

    /// The task client guests' nested tasks go through, made on first use.
    async fn nested(&self) -> Result<&weft_core::TaskClient, weft_core::ClientError> {
        self.nested
            .get_or_try_init(|| weft_core::TaskClient::connect(&self.config.controllers))
            .await
    }
}

/// A running task's cpus, given back when it ends however it ends.
struct Held {
    agent: Arc<Agent>,
    cpus: f64,
}

impl Drop for Held {
    fn drop(&mut self) {
        self.agent.release(self.cpus);
    }
}

/// A waiting task's cpus, lent to the queue while the guard lives.
pub(crate) struct Lent {
    agent: Arc<Agent>,
    cpus: f64,
}

impl Drop for Lent {
    fn drop(&mut self) {
        self.agent
            .slots
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .free -= self.cpus;
    }
}

async fn heartbeat(events: Arc<dyn EventSink>, every: Duration, agent: std::sync::Weak<Agent>) {
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        let Some(agent) = agent.upgrade() else {
            return;
        };
        let beat = pb::HostEvent {
            kind: Some(pb::host_event::Kind::Engine(engine_stats(&agent))),
        };
        if !events.send(beat) {
            return;
        }
    }
}

/// The engine's and gateway's counters as the leader shows them.
fn engine_stats(agent: &Agent) -> pb::EngineStats {
    let stats = agent.host.stats();
    pb::EngineStats {
        compiled: stats.compiled,
        loaded_from_disk: stats.loaded_from_disk,
        calls: stats.calls,
        warm_starts: stats.warm_starts,
        reused: stats.reused,
        answered: agent.gateway_metrics.counts(),
        http_address: agent.serve_load.http_address(),
        serve_ongoing: agent.serve_load.ongoing(),
        serve_p95_ms: agent.serve_load.p95_ms(),
        serve_unhealthy: agent.serve_load.unhealthy(),
        serve_metrics: agent.serve_load.metrics(),
        serve_stats: agent.serve_load.stats(),
    }
}

/// What a host reports when a `prepare` command finishes; `took` counts
/// the fetch as well as the compile.
fn prepared_event(
    digest: String,
    outcome: Result<(Arc<Prepared>, Readiness), HostError>,
    took: Duration,
) -> pb::ComponentPrepared {
    let mut waited = Duration::ZERO;
    let (readiness, error) = match outcome {
        Ok((_, Readiness::Compiled(_))) => (pb::Readiness::Compiled, String::new()),
        Ok((_, Readiness::LoadedFromDisk { waited: w, .. })) => {
            waited = w;
            (pb::Readiness::LoadedFromCache, String::new())
        }
        Ok((_, Readiness::Warm)) => (pb::Readiness::AlreadyReady, String::new()),
        Err(e) => (pb::Readiness::Failed, e.to_string()),
    };
    pb::ComponentPrepared {
        digest,
        host: String::new(),
        readiness: readiness as i32,
        micros: took.as_micros() as u64,
        error,
        waited_micros: waited.as_micros() as u64,
    }
}

/// How a failed attempt is classified for retries and for guests.
fn failure_kind_of(e: &HostError) -> FailureKind {
    match e {
        HostError::Trap { .. } => FailureKind::Trap,
        HostError::Timeout { .. } => FailureKind::Timeout,
        HostError::MemoryLimit { .. } => FailureKind::Memory,
        HostError::UnknownFunction { .. } => FailureKind::NotFound,
        HostError::BadArguments { .. }
        | HostError::Uncallable { .. }
        | HostError::LimitTooHigh(_) => FailureKind::BadArgument,
        _ => FailureKind::Internal,
    }
}

/// 128 random bits, hex: two of std's randomly seeded hashers, which
/// draw on the operating system's randomness.
fn random_key() -> String {
    use std::hash::{BuildHasher, Hasher};
    let word = || {
        std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish()
    };
    format!("{:016x}{:016x}", word(), word())
}
