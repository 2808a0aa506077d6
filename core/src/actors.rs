//! Actors from Rust: [`TaskClient::create_actor`] makes one,
//! [`TaskClient::call`] calls a method and returns the ref of its result
//! at once, resolved with [`TaskClient::get`] like any task's.
//!
//! Calls go straight to the actor's host over one stream per host (the
//! leader is asked only where an actor lives), and the host runs the calls
//! of one stream in order. A caller keeps every call until its answer
//! comes: when the actor restarted (`moved`) the calls it had not run are
//! sent to the new incarnation in their order; when its host died, the
//! calls in flight are sent again up to the actor's `max_task_retries`,
//! else fail; when the actor is dead, they fail with `actor-died`, naming
//! why.
//!
//! ```no_run
//! # async fn demo() -> Result<(), weft_core::ClientError> {
//! use weft_core::{ActorOptions, TaskClient};
//!
//! let client = TaskClient::connect("127.0.0.1:7077").await?;
//! let counter = client
//!     .create_actor("counter", "counter", "new(0)", ActorOptions::default())
//!     .await?;
//! let refs: Vec<String> = (0..3)
//!     .map(|_| client.call(&counter, "incr", vec![]))
//!     .collect::<Result<_, _>>()?;
//! let values = client.get_values(&refs, None).await?; // 1, 2, 3
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use weft_proto::FailureKind;
use weft_proto::auth::Bearer;
use weft_proto::v1 as pb;
use weft_proto::v1::weft_host_client::WeftHostClient;

pub use weft_proto::v1::{ActorOptions, ActorRecord};

use crate::tasks::Shared;
use crate::{Arg, ClientError, TaskClient, Value};

/// A handle on an actor: its id. Pass it to tasks and other actors as
/// [`ActorHandle::wave`] (a WIT `actor` record).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ActorHandle {
    /// The actor's cluster-wide id.
    pub id: String,
}

impl ActorHandle {
    /// The handle as the WAVE value of a `weft:runtime/actors.actor`.
    pub fn wave(&self) -> String {
        format!("{{id: \"{}\"}}", self.id)
    }
}

/// How long a caller waits for a restarting actor before its calls fail.
const RESTART_WAIT: Duration = Duration::from_secs(120);

/// Calls made and not yet answered, by actor; the streams to hosts.
#[derive(Default)]
pub(crate) struct Callers {
    actors: HashMap<String, Caller>,
    /// Which actor each unanswered call (by sequence number) is for.
    by_seq: HashMap<u64, String>,
    streams: HashMap<String, mpsc::UnboundedSender<pb::ActorCall>>,
}

#[derive(Default)]
struct Caller {
    /// Where the actor lives, when known.
    route: Option<Route>,
    /// A lookup is under way; calls wait for it.
    resolving: bool,
    calls: BTreeMap<u64, Pending>,
    /// The actor is dead: why.
    dead: Option<String>,
}

#[derive(Clone)]
struct Route {
    address: String,
    incarnation: u32,
    retries: u32,
    /// The actor's class (empty for an instance actor) and its
    /// component's exports, to type calls' arguments by.
    class: String,
    exports: Arc<Vec<weft_values::Export>>,
}

struct Pending {
    method: String,
    args: Vec<Arg>,
    /// Times its host died while it was in flight.
    tries: u32,
    sent: bool,
    /// A streaming call, and the items delivered so far: a call sent again
    /// to a restarted actor emits them again, and those are dropped.
    streaming: bool,
    items: u64,
}

/// How an actor's constructor is called.
#[derive(Debug, Clone, PartialEq)]
pub enum Constructor {
    /// A call in WAVE (`new(0)`; the name is not used for a class), typed
    /// by the actor's host. For an instance actor, an exported function to
    /// run first. Empty for none.
    Wave(String),
    /// A class's constructor arguments as values, conformed to its
    /// parameters by the actor's host (what guests send).
    Values(Vec<Value>),
}

impl Constructor {
    /// The constructor `spec` asks for.
    pub fn of(spec: &pb::ActorSpec) -> Result<Constructor, weft_values::DecodeError> {
        if spec.constructor_args.is_empty() {
            return Ok(Constructor::Wave(spec.constructor.clone()));
        }
        spec.constructor_args
            .iter()
            .map(|v| weft_values::decode(&v.encoded))
            .collect::<Result<_, _>>()
            .map(Constructor::Values)
    }
}

impl TaskClient {
    /// Creates an actor: `class` is an exported resource of `component`
    /// and `constructor` its constructor call in WAVE (`new(0)`; the name
    /// is not used). An empty `class` makes an instance actor, whose
    /// methods are the component's exported functions; `constructor` then
    /// names one to run first (or is empty). Returns once the cluster has
    /// recorded it; calls made before it is alive wait for it.
    pub async fn create_actor(
        &self,
        component: &str,
        class: &str,
        constructor: &str,
        options: ActorOptions,
    ) -> Result<ActorHandle, ClientError> {
        let constructor = Constructor::Wave(constructor.to_string());
        self.create_actor_with(component, class, constructor, options)
            .await
    }

    /// [`create_actor`](Self::create_actor) with the constructor given
    /// either way.
    pub async fn create_actor_with(
        &self,
        component: &str,
        class: &str,
        constructor: Constructor,
        options: ActorOptions,
    ) -> Result<ActorHandle, ClientError> {
        let (constructor, constructor_args) = match constructor {
            Constructor::Wave(text) => (text, Vec::new()),
            Constructor::Values(values) => (
                String::new(),
                values
                    .iter()
                    .map(|v| {
                        let weft_values::Encoded { bytes, refs } = weft_values::Encoded::new(v);
                        pb::Value {
                            encoded: bytes,
                            refs,
                        }
                    })
                    .collect(),
            ),
        };
        let request = pb::CreateActorRequest {
            spec: Some(pb::ActorSpec {
                component: component.to_string(),
                class: class.to_string(),
                constructor,
                options: Some(options),
                constructor_args,
            }),
            owner: self.owner().to_string(),
        };
        let reply = self
            .unary(request, |mut c, r| async move { c.create_actor(r).await })
            .await?;
        let record = reply.actor.unwrap_or_default();
        Ok(ActorHandle { id: record.id })
    }

    /// The live actor named `name` in `namespace` (empty: `default`).
    pub async fn get_actor(&self, name: &str, namespace: &str) -> Result<ActorHandle, ClientError> {
        let record = self
            .actor_record(pb::GetActorRequest {
                name: name.to_string(),
                namespace: namespace.to_string(),
                ..Default::default()
            })
            .await?;
        Ok(ActorHandle { id: record.id })
    }

    /// An actor's record: its state, host, restarts and why it last
    /// restarted or died.
    pub async fn describe_actor(&self, actor: &ActorHandle) -> Result<ActorRecord, ClientError> {
        self.actor_record(pb::GetActorRequest {
            id: actor.id.clone(),
            ..Default::default()
        })
        .await
    }

    /// Waits up to `timeout` until `actor` is alive (or dead); returns its
    /// record as it then is.
    pub async fn wait_actor_alive(
        &self,
        actor: &ActorHandle,
        timeout: Duration,
    ) -> Result<ActorRecord, ClientError> {
        self.actor_record(pb::GetActorRequest {
            id: actor.id.clone(),
            wait_alive: true,
            timeout_ms: timeout.as_millis() as u64,
            ..Default::default()
        })
        .await
    }

    /// The values of secrets `names` (admin only: hosts read them for the
    /// guests whose runtime environment names them). A missing one is
    /// refused by name.
    pub async fn read_secrets(
        &self,
        names: &[String],
    ) -> Result<HashMap<String, String>, ClientError> {
        let request = pb::ReadSecretsRequest {
            names: names.to_vec(),
        };
        let reply = self
            .unary(request, |mut c, r| async move { c.read_secrets(r).await })
            .await?;
        Ok(reply
            .values
            .into_iter()
            .map(|(name, value)| (name, String::from_utf8_lossy(&value).into_owned()))
            .collect())
    }

    /// Every actor the cluster knows, dead ones included.
    pub async fn list_actors(&self) -> Result<Vec<ActorRecord>, ClientError> {
        let reply = self
            .rpc(|mut c| async move { c.list_actors(pb::ListActorsRequest {}).await })
            .await?;
        Ok(reply.actors)
    }

    /// Kills an actor for good (no restart); false if it was dead already.
    /// Its calls not yet run fail with `actor-died`.
    pub async fn kill_actor(&self, actor: &ActorHandle) -> Result<bool, ClientError> {
        let request = pb::KillActorRequest {
            id: actor.id.clone(),
        };
        let reply = self
            .unary(request, |mut c, r| async move { c.kill_actor(r).await })
            .await?;
        // Calls this client makes from now on fail at once, as Ray's do
        // after `ray.kill`, rather than racing the host that stops it.
        self.shared
            .callers()
            .actors
            .entry(actor.id.clone())
            .or_default()
            .dead
            .get_or_insert_with(|| "killed".to_string());
        Ok(reply.killed)
    }

    /// Calls `method` of `actor` with `args` (WAVE and JSON typed by the
    /// method's parameters once the actor is looked up); returns the ref
    /// of its result at once. Calls from this client run in the order made.
    pub fn call(
        &self,
        actor: &ActorHandle,
        method: &str,
        args: Vec<Arg>,
    ) -> Result<String, ClientError> {
        self.call_with(actor, method, args, false)
    }

    /// Calls `method` as a stream: each value it emits (`tasks.emit`)
    /// comes back as an item, in order, while it runs (inline, up to the
    /// 1 MiB an actor reply carries), and its result ends the stream. A
    /// call sent again after a restart repeats no item.
    pub fn call_stream(
        &self,
        actor: &ActorHandle,
        method: &str,
        args: Vec<Arg>,
    ) -> Result<crate::ItemStream, ClientError> {
        let id = self.call_with(actor, method, args, true)?;
        Ok(self.stream(&id, false))
    }

    fn call_with(
        &self,
        actor: &ActorHandle,
        method: &str,
        args: Vec<Arg>,
        streaming: bool,
    ) -> Result<String, ClientError> {
        let shared = &self.shared;
        let seq = shared.next_seq();
        let id = format!("{}-{seq}", shared.owner());
        let mut callers = shared.callers();
        let caller = callers.actors.entry(actor.id.clone()).or_default();
        if let Some(cause) = &caller.dead {
            let failure = died(&actor.id, cause);
            drop(callers);
            shared.deliver_local(failure_result(&id, failure));
            return Ok(id);
        }
        caller.calls.insert(
            seq,
            Pending {
                method: method.to_string(),
                args,
                tries: 0,
                sent: false,
                streaming,
                items: 0,
            },
        );
        callers.by_seq.insert(seq, actor.id.clone());
        shared.mark_actor_ref(&id);
        dispatch(shared, &mut callers, &actor.id);
        Ok(id)
    }

    async fn actor_record(&self, request: pb::GetActorRequest) -> Result<ActorRecord, ClientError> {
        let reply = self
            .unary(request, |mut c, r| async move { c.get_actor(r).await })
            .await?;
        Ok(reply.actor.unwrap_or_default())
    }
}

/// Sends `actor`'s unsent calls if its route is known, else starts a
/// lookup (once).
fn dispatch(shared: &Arc<Shared>, callers: &mut Callers, actor: &str) {
    let Some(caller) = callers.actors.get_mut(actor) else {
        return;
    };
    let route = match (&caller.route, caller.resolving) {
        (Some(route), false) => route.clone(),
        (None, false) => {
            caller.resolving = true;
            let after = 0;
            tokio::spawn(resolve(shared.clone(), actor.to_string(), after));
            return;
        }
        (_, true) => return,
    };
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for (seq, call) in caller.calls.iter_mut().filter(|(_, c)| !c.sent) {
        match encode_call(&route, &call.method, &call.args) {
            Ok(args) => {
                call.sent = true;
                out.push(pb::ActorCall {
                    actor: actor.to_string(),
                    seq: *seq,
                    method: call.method.clone(),
                    args,
                    incarnation: route.incarnation,
                    streaming: call.streaming,
                });
            }
            Err(message) => refused.push((*seq, message)),
        }
    }
    for (seq, message) in refused {
        caller.calls.remove(&seq);
        callers.by_seq.remove(&seq);
        let id = format!("{}-{seq}", shared.owner());
        shared.deliver_local(failure_result(&id, (FailureKind::BadArgument, message)));
    }
    if out.is_empty() {
        return;
    }
    let stream = callers
        .streams
        .entry(route.address.clone())
        .or_insert_with(|| open_stream(shared.clone(), route.address.clone()));
    for call in out {
        let _ = stream.send(call);
    }
}

/// A stream of calls to the host at `address`, opened in the background;
/// its replies are delivered as they come, and its end sends the calls in
/// flight on it to be looked up again.
fn open_stream(shared: Arc<Shared>, address: String) -> mpsc::UnboundedSender<pb::ActorCall> {
    let (tx, rx) = mpsc::unbounded_channel::<pb::ActorCall>();
    tokio::spawn(async move {
        let reason = match run_stream(&shared, &address, rx).await {
            Ok(()) => "its stream ended".to_string(),
            Err(e) => e.to_string(),
        };
        host_failed(&shared, &address, &reason);
    });
    tx
}

/// Why a stream of actor calls to a host ended.
#[derive(Debug, thiserror::Error)]
enum LaneError {
    /// The host could not be reached (the transport's reason).
    #[error("cannot connect: {0}")]
    Connect(String),
    /// The host ended the stream with an error.
    #[error("{}", .0.message())]
    Rpc(#[from] tonic::Status),
}

async fn run_stream(
    shared: &Arc<Shared>,
    address: &str,
    rx: mpsc::UnboundedReceiver<pb::ActorCall>,
) -> Result<(), LaneError> {
    let channel = connect(address).await?;
    let mut rpc = WeftHostClient::with_interceptor(channel, Bearer::for_address(address))
        .max_decoding_message_size(4 << 20)
        .max_encoding_message_size(64 << 20);
    let outgoing = futures::stream::unfold(rx, |mut rx| async move {
        let first = rx.recv().await?;
        let mut calls = vec![first];
        while calls.len() < 4096 {
            match rx.try_recv() {
                Ok(call) => calls.push(call),
                Err(_) => break,
            }
        }
        Some((pb::ActorCallBatch { calls }, rx))
    });
    let mut replies = rpc.actor_calls(outgoing).await?.into_inner();
    loop {
        match replies.message().await {
            Ok(Some(batch)) => {
                for reply in batch.replies {
                    on_reply(shared, reply);
                }
            }
            Ok(None) => return Ok(()),
            Err(status) => return Err(status.into()),
        }
    }
}

/// `WEFT_ACTOR_LANES=tcp`: reach actors on this machine over TCP, as from
/// another machine.
static NETWORK_LANES: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var("WEFT_ACTOR_LANES").is_ok_and(|v| v == "tcp"));

/// A channel to `address`: `host:port`, or `unix:PATH` for a Unix socket.
/// Over TCP it speaks TLS when this process has settings for it; a Unix
/// socket is reached through the file system and its permissions.
async fn connect(address: &str) -> Result<tonic::transport::Channel, LaneError> {
    let Some(path) = address.strip_prefix("unix:") else {
        return weft_proto::tls::endpoint(address)
            .map_err(|e| LaneError::Connect(e.to_string()))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| LaneError::Connect(weft_proto::tls::describe(&e)));
    };
    let path = path.to_string();
    // The URI is not used: the connector dials the socket.
    tonic::transport::Endpoint::from_static("http://actor.local")
        .connect_timeout(Duration::from_secs(2))
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                let stream = tokio::net::UnixStream::connect(path).await?;
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(stream))
            }
        }))
        .await
        .map_err(|e| LaneError::Connect(weft_proto::tls::describe(&e)))
}

fn on_reply(shared: &Arc<Shared>, reply: pb::ActorReply) {
    let mut callers = shared.callers();
    let Some(actor) = callers.by_seq.get(&reply.seq).cloned() else {
        return;
    };
    let Some(caller) = callers.actors.get_mut(&actor) else {
        return;
    };
    if reply.moved {
        // Only news about the incarnation the caller knows: a late answer
        // from an older one was already handled.
        let current = caller.route.as_ref().map(|r| r.incarnation);
        if current == Some(reply.incarnation) {
            caller.route = None;
            for call in caller.calls.values_mut() {
                call.sent = false;
            }
            if !caller.resolving {
                caller.resolving = true;
                tokio::spawn(resolve(shared.clone(), actor, reply.incarnation));
            }
        }
        return;
    }
    if reply.item {
        // Only the next item: a call run again after a restart emits the
        // ones already delivered again.
        let Some(call) = caller.calls.get_mut(&reply.seq) else {
            return;
        };
        if reply.index != call.items {
            return;
        }
        call.items += 1;
        drop(callers);
        let mut item = reply.result.unwrap_or_default();
        let id = format!("{}-{}", shared.owner(), reply.seq);
        item.id = weft_proto::stream_item_id(&id, reply.index);
        shared.deliver_item(&id, item);
        return;
    }
    if caller.calls.remove(&reply.seq).is_none() {
        return;
    }
    callers.by_seq.remove(&reply.seq);
    drop(callers);
    let mut result = reply.result.unwrap_or_default();
    result.id = format!("{}-{}", shared.owner(), reply.seq);
    shared.deliver_local(result);
}

/// The stream to `address` ended: the calls in flight on it count a try
/// each (their host may have died mid-call) and are looked up again.
fn host_failed(shared: &Arc<Shared>, address: &str, reason: &str) {
    let mut callers = shared.callers();
    callers.streams.remove(address);
    let mut failed = Vec::new();
    let mut lookups = Vec::new();
    for (actor, caller) in callers.actors.iter_mut() {
        let Some(route) = caller.route.clone().filter(|r| r.address == address) else {
            continue;
        };
        caller.route = None;
        let mut gone = Vec::new();
        for (seq, call) in caller.calls.iter_mut().filter(|(_, c)| c.sent) {
            call.sent = false;
            call.tries += 1;
            if call.tries > route.retries {
                gone.push(*seq);
            }
        }
        for seq in gone {
            caller.calls.remove(&seq);
            failed.push((
                seq,
                format!(
                    "actor {actor}: its host at {address} failed during the call ({reason}); the call was tried {} time{} (max_task_retries {})",
                    route.retries + 1,
                    if route.retries == 0 { "" } else { "s" },
                    route.retries
                ),
            ));
        }
        if !caller.resolving {
            caller.resolving = true;
            lookups.push((actor.clone(), route.incarnation));
        }
    }
    for (seq, _) in &failed {
        callers.by_seq.remove(seq);
    }
    drop(callers);
    for (seq, message) in failed {
        let id = format!("{}-{seq}", shared.owner());
        shared.deliver_local(failure_result(&id, (FailureKind::ActorDied, message)));
    }
    for (actor, after) in lookups {
        tokio::spawn(resolve(shared.clone(), actor, after));
    }
}

/// Finds where `actor` lives now (alive in an incarnation after `after`),
/// then sends its waiting calls there; fails them if it is dead or never
/// comes back.
async fn resolve(shared: Arc<Shared>, actor: String, after: u32) {
    let deadline = tokio::time::Instant::now() + RESTART_WAIT;
    let outcome = loop {
        let request = pb::GetActorRequest {
            id: actor.clone(),
            wait_alive: true,
            after_incarnation: after,
            timeout_ms: 10_000,
            ..Default::default()
        };
        let reply = {
            let mut rpc = shared.rpc.lock().await;
            rpc.unary(request, |mut c, r| async move { c.get_actor(r).await })
                .await
        };
        match reply.map(|r| r.actor.unwrap_or_default()) {
            Ok(record) if record.state() == pb::ActorState::Dead => break Err(record.cause),
            Ok(record) if record.state() == pb::ActorState::Alive && record.incarnation > after => {
                let exports = match shared.exports(&record.digest).await {
                    Ok(exports) => exports,
                    Err(_) if tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                    Err(e) => break Err(format!("its signatures could not be read: {e}")),
                };
                // On the actor's machine, its Unix socket: half the round
                // trip (unless told to take the network path, as from
                // another machine, to test or measure it).
                let local = !*NETWORK_LANES
                    && record.machine == crate::objects::machine_id()
                    && !record.socket.is_empty()
                    && std::path::Path::new(&record.socket).exists();
                break Ok(Route {
                    class: record
                        .spec
                        .as_ref()
                        .map(|s| s.class.clone())
                        .filter(|c| c != "-")
                        .unwrap_or_default(),
                    exports,
                    address: if local {
                        format!("unix:{}", record.socket)
                    } else {
                        record.address
                    },
                    incarnation: record.incarnation,
                    retries: record
                        .spec
                        .and_then(|s| s.options)
                        .map_or(0, |o| o.max_task_retries),
                });
            }
            Err(ClientError::Rpc(status)) if status.code() == tonic::Code::NotFound => {
                break Err(format!(
                    "the cluster does not know it ({})",
                    status.message()
                ));
            }
            Ok(_) | Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Ok(record) => {
                break Err(format!(
                    "it did not come back within {RESTART_WAIT:?} (state {}: {})",
                    record.state(),
                    record.cause
                ));
            }
            Err(e) => break Err(format!("it could not be looked up: {e}")),
        }
    };
    let mut callers = shared.callers();
    let Some(caller) = callers.actors.get_mut(&actor) else {
        return;
    };
    caller.resolving = false;
    match outcome {
        Ok(route) => {
            caller.route = Some(route);
            dispatch(&shared, &mut callers, &actor);
        }
        Err(cause) => {
            caller.dead = Some(cause.clone());
            let calls = std::mem::take(&mut caller.calls);
            for seq in calls.keys() {
                callers.by_seq.remove(seq);
            }
            drop(callers);
            for seq in calls.keys() {
                let id = format!("{}-{seq}", shared.owner());
                shared.deliver_local(failure_result(&id, died(&actor, &cause)));
            }
        }
    }
}

/// A call's arguments as values typed by the method's parameters (after
/// the actor itself, for a class actor's method).
fn encode_call(route: &Route, method: &str, args: &[Arg]) -> Result<Vec<pb::Value>, String> {
    let args = if args.iter().any(Arg::needs_type) {
        let found = if route.class.is_empty() {
            weft_values::find_export(&route.exports, |e| e, method).map_err(|e| e.to_string())
        } else {
            let wanted = format!("[method]{}.{method}", route.class);
            route
                .exports
                .iter()
                .find(|e| e.function == wanted)
                .ok_or_else(|| format!("`{}` has no method `{method}`", route.class))
        }?;
        let skip = usize::from(!route.class.is_empty());
        let params = found.signature.params.get(skip..).unwrap_or_default();
        crate::typing::type_args(params, args.to_vec())
            .map_err(|e| format!("method `{method}`: {e}"))?
    } else {
        args.to_vec()
    };
    Ok(args
        .into_iter()
        .map(|arg| {
            let value = match arg {
                Arg::Ref(id) => Value::ObjectRef(id),
                Arg::Value(value) => value,
                // `type_args` left none of these.
                Arg::Wave(_) | Arg::Json(_) => Value::Tuple(Vec::new()),
            };
            let weft_values::Encoded { bytes, refs } = weft_values::Encoded::new(&value);
            pb::Value {
                encoded: bytes,
                refs,
            }
        })
        .collect())
}

fn died(actor: &str, cause: &str) -> (FailureKind, String) {
    (
        FailureKind::ActorDied,
        format!("actor {actor} died: {cause}"),
    )
}

fn failure_result(id: &str, (kind, message): (FailureKind, String)) -> pb::TaskResult {
    pb::TaskResult {
        id: id.to_string(),
        ok: false,
        failure: kind.into(),
        error: message,
        ..Default::default()
    }
}
