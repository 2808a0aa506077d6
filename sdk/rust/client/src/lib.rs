//! The Rust client for a weft cluster: deploy components, call their
//! functions, run tasks and actors, store objects, use the replicated
//! key-value table, manage the controller group. The `weft` CLI and the
//! Python SDK are built on it.
//!
//! A client is given one or more controller addresses. It sends each request
//! to the replica it believes leads; a follower answers a write with the
//! leader's address and the client retries there; when a replica cannot be
//! reached, or has no leader yet, the client tries the others until a
//! deadline. "No quorum" is final and is not retried.
//!
//! The protocol itself (the leader-following [`Connection`], owner
//! sessions in [`TaskClient`], object transfer) lives in `weft-core`,
//! which hosts share for their guests' nested work; this crate adds the
//! cluster's administration ([`Client`]) and re-exports the rest.
//!
//! ```no_run
//! # async fn demo() -> Result<(), weft_client::ClientError> {
//! use weft_client::{Call, CallOptions, Client};
//!
//! let mut client = Client::connect("127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003").await?;
//! let wasm = std::fs::read("example_pi.wasm").expect("a component");
//! client.deploy(wasm, Some("pi")).await?;
//! let reply = client
//!     .call("pi", Call::Wave("estimate(1000000, 42)".into()), CallOptions::default())
//!     .await?;
//! println!("pi is about {}", reply.result);
//! client.kv_put("default", "greeting", b"hello".to_vec()).await?;
//! # Ok(()) }
//! ```

mod jobs;
mod route_logs;
mod secrets;
pub mod serve;
mod serve_handle;
pub mod tune;

use std::sync::Arc;
use std::time::Duration;

use weft_proto::limits::CHUNK;
use weft_proto::v1 as pb;

pub use weft_core::{
    ActorHandle, ActorOptions, ActorRecord, Arg, ClientError, Connection, ErrorClass, FailureKind,
    ItemStream, NodeInfo, Submission, TaskClient, TaskInfo, TaskOptions, TaskResult, Value, groups,
    objects, shm, value_of, values,
};
pub use weft_proto::v1::{
    ActorState, CallResponse, ComponentInfo, ComponentPrepared, DeployResponse, JobState,
    KvGetResponse, KvListResponse, Member, ObjectState, PrepareStarted, Readiness, Route,
    StatusResponse, TaskState,
};

pub use jobs::{JobRecord, JobSpec};
pub use route_logs::{RouteLines, RouteLogs};
pub use serve_handle::{DeploymentHandle, ServeReply, ServeStream};
pub use tune::{TrialState, TuneExperiment, TuneSpec, TuneState, TuneStatus, TuneTrial};

/// Where `weft up` listens unless told otherwise.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:7077";

/// What to call.
#[derive(Debug, Clone)]
pub enum Call {
    /// `func(arg, ...)` in WAVE.
    Wave(String),
    /// A function name and its arguments as a JSON array.
    Json {
        /// The function.
        function: String,
        /// A JSON array, one element per parameter.
        args_json: String,
    },
}

/// `wasm` as a chunked upload, the header on the first chunk; `progress`
/// hears of each chunk as the transport takes it.
fn upload_chunks(
    wasm: Arc<Vec<u8>>,
    header: pb::DeployRequest,
    progress: Arc<impl Fn(u64, u64) + Send + Sync + 'static>,
) -> impl tokio_stream::Stream<Item = pb::DeployChunk> + Send + 'static {
    use tokio_stream::StreamExt;
    let total = wasm.len() as u64;
    let count = wasm.len().div_ceil(CHUNK).max(1);
    tokio_stream::iter(0..count).map(move |i| {
        let range = i * CHUNK..((i + 1) * CHUNK).min(wasm.len());
        progress(range.end as u64, total);
        pb::DeployChunk {
            header: (i == 0).then(|| header.clone()),
            total_bytes: total,
            data: wasm[range].to_vec(),
        }
    })
}

/// A prepare under way: which hosts were asked, then their reports.
pub struct Preparing {
    /// The component's digest and the hosts asked to prepare it.
    pub started: PrepareStarted,
    events: tonic::Streaming<pb::PrepareEvent>,
    failures: Vec<String>,
}

impl Preparing {
    /// The next host's report; `None` once every host has reported.
    pub async fn next(&mut self) -> Result<Option<ComponentPrepared>, ClientError> {
        loop {
            match self.events.message().await? {
                None => return Ok(None),
                Some(pb::PrepareEvent {
                    kind: Some(pb::prepare_event::Kind::Prepared(report)),
                }) => {
                    if !matches!(
                        report.readiness(),
                        Readiness::Compiled | Readiness::LoadedFromCache | Readiness::AlreadyReady
                    ) {
                        self.failures
                            .push(format!("{}: {}", report.host, report.error));
                    }
                    return Ok(Some(report));
                }
                Some(_) => continue,
            }
        }
    }

    /// Waits for every host's report.
    pub async fn finish(mut self) -> Result<Vec<ComponentPrepared>, ClientError> {
        let mut reports = Vec::new();
        while let Some(report) = self.next().await? {
            reports.push(report);
        }
        match self.failed() {
            Some(e) => Err(e),
            None => Ok(reports),
        }
    }

    /// The hosts that reported they could not make the component ready,
    /// as one error naming each and why; `None` when none failed.
    pub fn failed(&self) -> Option<ClientError> {
        (!self.failures.is_empty()).then(|| {
            ClientError::HostsFailed(format!(
                "{} of {} host(s) could not make {} ready: {}",
                self.failures.len(),
                self.started.hosts.len(),
                self.started.digest,
                self.failures.join("; ")
            ))
        })
    }
}

/// Limits and output form of a call.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions {
    /// Deadline; `None` takes the host's default.
    pub timeout: Option<Duration>,
    /// Memory limit in bytes; `None` takes the host's default.
    pub memory_limit: Option<u64>,
    /// Render the result as JSON instead of WAVE.
    pub json_result: bool,
}

/// A connection to a weft cluster with its administration: deploys,
/// routes, calls, the key-value table, the controller group. It derefs to
/// the [`Connection`] underneath, and a [`TaskClient`] can be made over it.
#[derive(Clone)]
pub struct Client {
    connection: Connection,
}

impl std::ops::Deref for Client {
    type Target = Connection;

    fn deref(&self) -> &Connection {
        &self.connection
    }
}

impl std::ops::DerefMut for Client {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.connection
    }
}

impl From<Client> for Connection {
    fn from(client: Client) -> Connection {
        client.connection
    }
}

impl Client {
    /// Connects to a cluster given one address or a comma-separated list
    /// (`host:port,host:port`); the first that answers is used first.
    pub async fn connect(addresses: &str) -> Result<Self, ClientError> {
        Ok(Client {
            connection: Connection::connect(addresses).await?,
        })
    }

    /// How long a request keeps looking for a reachable leader (default 15 s).
    pub fn retry_for(self, duration: Duration) -> Self {
        Client {
            connection: self.connection.retry_for(duration),
        }
    }

    /// Uploads a component, optionally binding `name` to it.
    pub async fn deploy(
        &mut self,
        wasm: Vec<u8>,
        name: Option<&str>,
    ) -> Result<DeployResponse, ClientError> {
        self.deploy_with_grants(wasm, name, &[]).await
    }

    /// Uploads a component with a deploy manifest granting outbound HTTP to
    /// `allow_http` hosts (`name` or `name:port`).
    pub async fn deploy_with_grants(
        &mut self,
        wasm: Vec<u8>,
        name: Option<&str>,
        allow_http: &[String],
    ) -> Result<DeployResponse, ClientError> {
        self.deploy_with_progress(wasm, name, allow_http, |_, _| {})
            .await
    }

    /// [`deploy_with_grants`](Self::deploy_with_grants), uploading in
    /// chunks and calling `progress(sent, total)` as each is handed to the
    /// connection (again from the start if the upload is retried on
    /// another replica).
    pub async fn deploy_with_progress(
        &mut self,
        wasm: Vec<u8>,
        name: Option<&str>,
        allow_http: &[String],
        progress: impl Fn(u64, u64) + Send + Sync + 'static,
    ) -> Result<DeployResponse, ClientError> {
        let header = pb::DeployRequest {
            wasm: Vec::new(),
            name: name.unwrap_or_default().to_string(),
            allow_http: allow_http.to_vec(),
        };
        let (wasm, progress) = (Arc::new(wasm), Arc::new(progress));
        self.request(|mut c| {
            let chunks = upload_chunks(wasm.clone(), header.clone(), progress.clone());
            async move { c.deploy_chunks(chunks).await }
        })
        .await
    }

    /// Has every live host make `component` ready now (fetch it, then
    /// compile it or load its cached artifact), so no first call pays for
    /// a compile. The hosts' reports arrive on the returned stream as each
    /// finishes; `timeout` bounds the wait for the slowest (default 10
    /// minutes).
    pub async fn prepare(
        &mut self,
        component: &str,
        timeout: Option<Duration>,
    ) -> Result<Preparing, ClientError> {
        let request = pb::PrepareRequest {
            component: component.to_string(),
            timeout_ms: timeout.map_or(0, |t| t.as_millis().max(1) as u64),
        };
        let mut events = self
            .unary(request, |mut c, r| async move { c.prepare(r).await })
            .await?;
        let started = match events.message().await?.and_then(|e| e.kind) {
            Some(pb::prepare_event::Kind::Started(started)) => started,
            _ => {
                return Err(ClientError::Unreadable(
                    "the cluster did not say which hosts prepare the component".into(),
                ));
            }
        };
        Ok(Preparing {
            started,
            events,
            failures: Vec::new(),
        })
    }

    /// Binds an HTTP route (`/exact` or `/prefix/...`) to a component;
    /// true when a route on the path was replaced.
    pub async fn add_route(&mut self, route: Route) -> Result<bool, ClientError> {
        let request = pb::AddRouteRequest { route: Some(route) };
        let reply = self
            .unary(request, |mut c, r| async move { c.add_route(r).await })
            .await?;
        Ok(reply.replaced)
    }

    /// Every route.
    pub async fn routes(&mut self) -> Result<Vec<Route>, ClientError> {
        let reply = self
            .request(|mut c| async move { c.list_routes(pb::ListRoutesRequest {}).await })
            .await?;
        Ok(reply.routes)
    }

    /// Removes the route on `path`.
    pub async fn remove_route(&mut self, path: &str) -> Result<(), ClientError> {
        let request = pb::RemoveRouteRequest { path: path.into() };
        self.unary(request, |mut c, r| async move { c.remove_route(r).await })
            .await?;
        Ok(())
    }

    /// Every deployed component.
    pub async fn components(&mut self) -> Result<Vec<ComponentInfo>, ClientError> {
        let reply = self
            .request(|mut c| async move { c.list_components(pb::ListComponentsRequest {}).await })
            .await?;
        Ok(reply.components)
    }

    /// Removes a name or (by digest) a component; true when the component
    /// itself was removed.
    pub async fn delete(&mut self, component: &str) -> Result<bool, ClientError> {
        let request = pb::DeleteComponentRequest {
            component: component.to_string(),
        };
        let reply = self
            .unary(
                request,
                |mut c, r| async move { c.delete_component(r).await },
            )
            .await?;
        Ok(reply.removed_blob)
    }

    /// Calls a function of `component` and waits for its result.
    pub async fn call(
        &mut self,
        component: &str,
        call: Call,
        options: CallOptions,
    ) -> Result<CallResponse, ClientError> {
        let invocation = match call {
            Call::Wave(text) => pb::call_request::Invocation::WaveCall(text),
            Call::Json {
                function,
                args_json,
            } => pb::call_request::Invocation::JsonCall(pb::JsonCall {
                function,
                args_json,
            }),
        };
        let request = pb::CallRequest {
            component: component.to_string(),
            invocation: Some(invocation),
            timeout_ms: options.timeout.map_or(0, |t| t.as_millis().max(1) as u64),
            memory_limit_bytes: options.memory_limit.unwrap_or(0),
            result_format: if options.json_result {
                pb::ValueFormat::Json as i32
            } else {
                pb::ValueFormat::Wave as i32
            },
        };
        self.unary(request, |mut c, r| async move { c.call(r).await })
            .await
    }

    /// The status of the replica this client talks to.
    pub async fn status(&mut self) -> Result<StatusResponse, ClientError> {
        self.request(|mut c| async move { c.status(pb::StatusRequest {}).await })
            .await
    }

    /// Sets `key` in `namespace`; returns the log index it committed at.
    pub async fn kv_put(
        &mut self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
    ) -> Result<u64, ClientError> {
        let request = pb::KvPutRequest {
            namespace: namespace.into(),
            key: key.into(),
            value,
        };
        let write = self.next_write();
        let reply = self
            .request(|mut c| {
                let r = write.request(request.clone());
                async move { c.kv_put(r).await }
            })
            .await?;
        Ok(reply.log_index)
    }

    /// Reads `key`; `linearizable` reads go through the leader.
    pub async fn kv_get(
        &mut self,
        namespace: &str,
        key: &str,
        linearizable: bool,
    ) -> Result<KvGetResponse, ClientError> {
        let request = pb::KvGetRequest {
            namespace: namespace.into(),
            key: key.into(),
            linearizable,
        };
        self.unary(request, |mut c, r| async move { c.kv_get(r).await })
            .await
    }

    /// Lists keys under `prefix`.
    pub async fn kv_list(
        &mut self,
        namespace: &str,
        prefix: &str,
        linearizable: bool,
    ) -> Result<KvListResponse, ClientError> {
        let request = pb::KvListRequest {
            namespace: namespace.into(),
            prefix: prefix.into(),
            linearizable,
        };
        self.unary(request, |mut c, r| async move { c.kv_list(r).await })
            .await
    }

    /// Removes `key`; returns whether it existed.
    pub async fn kv_delete(&mut self, namespace: &str, key: &str) -> Result<bool, ClientError> {
        let request = pb::KvDeleteRequest {
            namespace: namespace.into(),
            key: key.into(),
        };
        let write = self.next_write();
        let reply = self
            .request(|mut c| {
                let r = write.request(request.clone());
                async move { c.kv_delete(r).await }
            })
            .await?;
        Ok(reply.existed)
    }

    /// Adds controller replica `id` at `address` to the group.
    pub async fn add_member(&mut self, id: u64, address: &str) -> Result<Vec<Member>, ClientError> {
        let request = pb::AddMemberRequest {
            id,
            address: address.into(),
        };
        let reply = self
            .unary(request, |mut c, r| async move { c.add_member(r).await })
            .await?;
        Ok(reply.members)
    }

    /// Tasks the leader holds, newest first, in one state, or in any for
    /// [`pb::TaskState::Unspecified`].
    pub async fn list_tasks(
        &mut self,
        state: TaskState,
        limit: u32,
    ) -> Result<pb::ListTasksResponse, ClientError> {
        let request = pb::ListTasksRequest {
            state: state.into(),
            limit,
        };
        self.unary(request, |mut c, r| async move { c.list_tasks(r).await })
            .await
    }

    /// The leader's recorded state changes of task `task`, or of every
    /// task it remembers when `task` is empty, oldest first.
    pub async fn task_events(&mut self, task: &str) -> Result<pb::TaskEventsResponse, ClientError> {
        let request = pb::TaskEventsRequest {
            task: task.to_string(),
        };
        self.unary(request, |mut c, r| async move { c.task_events(r).await })
            .await
    }

    /// The lines task `task`'s guest wrote to stdout and stderr that
    /// `query` asks for, read from the host that ran (or runs) its latest
    /// attempt, and whether it still runs there. A host that has left the
    /// cluster took them with it: that is an error naming the host. A task
    /// not started yet is a `FailedPrecondition` error.
    pub async fn logs(&mut self, task: &str, query: LogsQuery) -> Result<TaskLogs, ClientError> {
        let request = pb::LocateLogsRequest {
            task: task.to_string(),
        };
        let located = self
            .unary(request, |mut c, r| async move { c.locate_logs(r).await })
            .await?;
        if !located.alive {
            let why = if located.dead_reason.is_empty() {
                String::new()
            } else {
                format!(" ({})", located.dead_reason)
            };
            return Err(ClientError::HolderUnavailable(format!(
                "the output of task {task} was on host {}, which has left the cluster{why}: it is gone",
                located.host
            )));
        }
        let mut host = objects::host_rpc(&located.address).await?;
        let reply = host
            .logs(pb::LogsRequest {
                source: if located.source.is_empty() {
                    task.to_string()
                } else {
                    located.source
                },
                tail: query.tail,
                from_line: query.from_line,
                since_micros: query.since_micros,
            })
            .await?
            .into_inner();
        Ok(TaskLogs {
            reply,
            running: located.running,
        })
    }

    /// Removes controller replica `id` from the group.
    pub async fn remove_member(&mut self, id: u64) -> Result<Vec<Member>, ClientError> {
        let reply = self
            .request(|mut c| async move { c.remove_member(pb::RemoveMemberRequest { id }).await })
            .await?;
        Ok(reply.members)
    }
}

/// Which lines of a task's output [`Client::logs`] reads.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogsQuery {
    /// The last this many; 0 for all the host keeps.
    pub tail: u64,
    /// Only lines from this number on (a follower passes the last read's
    /// `next_line`).
    pub from_line: u64,
    /// Only lines written at or after this time, in microseconds since the
    /// Unix epoch; 0 for any.
    pub since_micros: u64,
}

/// One read of a task's output.
#[derive(Debug, Clone)]
pub struct TaskLogs {
    /// The lines, and where a follower reads from next.
    pub reply: pb::LogsResponse,
    /// The task still runs: more lines may come.
    pub running: bool,
}
