//! The Rust client for a weft cluster: deploy components, call their
//! functions, use the replicated key-value table, manage the controller
//! group. The `weft` CLI is built on it.
//!
//! A client is given one or more controller addresses. It sends each request
//! to the replica it believes leads; a follower answers a write with the
//! leader's address and the client retries there; when a replica cannot be
//! reached, or has no leader yet, the client tries the others until a
//! deadline. "No quorum" is final and is not retried.
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

mod actors;
pub mod objects;
pub mod shm;
mod task_objects;
mod tasks;
mod typing;

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use weft_proto::v1 as pb;
use weft_proto::v1::weft_client::WeftClient;

pub use weft_proto::v1::{
    CallResponse, ComponentInfo, DeployResponse, KvGetResponse, KvListResponse, Member, Route,
    StatusResponse,
};

pub use actors::{ActorHandle, ActorOptions, ActorRecord};
pub use tasks::{NodeInfo, Submission, TaskClient, TaskInfo, TaskOptions, TaskResult, value_of};
pub use typing::Arg;
pub use weft_proto::FailureKind;
pub use weft_values::{self as values, Value};

/// Where `weft up` listens unless told otherwise.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:7077";

/// The largest message the client sends or accepts (component uploads).
const MAX_MESSAGE: usize = 256 << 20;

/// How long a request keeps looking for a leader before giving up.
const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(15);

/// Why a client request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No controller could be reached.
    #[error("cannot reach the weft cluster at {address}: {reason} (is `weft up` running?)")]
    Unreachable {
        /// The addresses tried.
        address: String,
        /// What went wrong last.
        reason: String,
    },
    /// The cluster answered with an error; its message is the whole story.
    #[error("{}", .0.message())]
    Rpc(tonic::Status),
    /// A task failed; `kind` says how (trap, timeout, host-died, ...).
    #[error("{message}")]
    TaskFailed {
        /// The task's id.
        id: String,
        /// How it failed.
        kind: FailureKind,
        /// What happened, naming the task and, for a lost host, the host.
        message: String,
    },
    /// Arguments that do not fit the function's parameters, or a function
    /// the component does not export.
    #[error("{0}")]
    InvalidArgument(String),
    /// The wait ended before the tasks finished.
    #[error("timed out after {after:?} with {pending} task(s) still pending")]
    Timeout {
        /// How long it waited.
        after: Duration,
        /// How many had not finished.
        pending: usize,
    },
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        ClientError::Rpc(status)
    }
}

impl ClientError {
    /// The error a failed task's result stands for.
    pub fn failed(result: TaskResult) -> ClientError {
        ClientError::TaskFailed {
            kind: result.failure_kind(),
            id: result.id,
            message: result.error,
        }
    }

    /// The gRPC status code, when the cluster answered.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            ClientError::Rpc(status) => Some(status.code()),
            _ => None,
        }
    }
}

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

/// A connection to a weft cluster.
#[derive(Clone)]
pub struct Client {
    addresses: Vec<String>,
    /// Index into `addresses` of the replica requests go to now.
    current: usize,
    rpc: Option<WeftClient<Channel>>,
    retry_for: Duration,
    /// This client's id and its last request number: a write is sent with
    /// both, and its retries with the same pair, so it applies once.
    session: (u64, u64),
}

/// A client id unlikely to collide: time, process and a per-process count.
pub(crate) fn new_client_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.write_u64(COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish()
}

/// `message` wrapped in a request carrying the session metadata.
fn numbered<T>(message: T, (client, seq): (u64, u64)) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let metadata = request.metadata_mut();
    metadata.insert(
        weft_proto::metadata::CLIENT_ID,
        client.to_string().parse().expect("digits"),
    );
    metadata.insert(
        weft_proto::metadata::SEQ,
        seq.to_string().parse().expect("digits"),
    );
    request
}

/// What to do after a failed attempt.
enum Next {
    /// Give up with this error.
    Fail(ClientError),
    /// Go to this address (a leader hint) and retry at once.
    Redirect(String),
    /// Try the next address after a short pause.
    Rotate(String),
}

fn classify(status: tonic::Status) -> Next {
    if status
        .metadata()
        .get(weft_proto::metadata::NO_QUORUM)
        .is_some()
    {
        return Next::Fail(ClientError::Rpc(status));
    }
    if let Some(leader) = status
        .metadata()
        .get(weft_proto::metadata::LEADER)
        .and_then(|v| v.to_str().ok())
    {
        return Next::Redirect(leader.to_string());
    }
    match status.code() {
        // Transport failures surface as Unavailable (refused, reset) or
        // Unknown/Cancelled (connection dropped mid-request).
        tonic::Code::Unavailable | tonic::Code::Cancelled => {
            Next::Rotate(status.message().to_string())
        }
        tonic::Code::Unknown if status.message().contains("transport") => {
            Next::Rotate(status.message().to_string())
        }
        _ => Next::Fail(ClientError::Rpc(status)),
    }
}

impl Client {
    /// Connects to a cluster given one address or a comma-separated list
    /// (`host:port,host:port`); the first that answers is used first.
    pub async fn connect(addresses: &str) -> Result<Self, ClientError> {
        let addresses: Vec<String> = addresses
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        if addresses.is_empty() {
            return Err(ClientError::Unreachable {
                address: String::new(),
                reason: "no address given".into(),
            });
        }
        let mut client = Client {
            addresses,
            current: 0,
            rpc: None,
            retry_for: DEFAULT_RETRY_FOR,
            session: (new_client_id(), 0),
        };
        let mut last = String::new();
        for i in 0..client.addresses.len() {
            client.current = i;
            match client.channel().await {
                Ok(_) => return Ok(client),
                Err(reason) => last = reason,
            }
        }
        Err(client.unreachable(last))
    }

    /// How long a request keeps looking for a reachable leader (default 15 s).
    pub fn retry_for(mut self, duration: Duration) -> Self {
        self.retry_for = duration;
        self
    }

    fn unreachable(&self, reason: String) -> ClientError {
        ClientError::Unreachable {
            address: self.addresses.join(","),
            reason,
        }
    }

    async fn channel(&mut self) -> Result<WeftClient<Channel>, String> {
        if let Some(rpc) = &self.rpc {
            return Ok(rpc.clone());
        }
        let address = &self.addresses[self.current];
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| format!("bad address {address}: {e}"))?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        let channel = endpoint.connect().await.map_err(|e| {
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                reason = s.to_string();
                source = s.source();
            }
            format!("{address}: {reason}")
        })?;
        let rpc = WeftClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        self.rpc = Some(rpc.clone());
        Ok(rpc)
    }

    fn go_to(&mut self, address: &str) {
        self.rpc = None;
        match self.addresses.iter().position(|a| a == address) {
            Some(i) => self.current = i,
            None => {
                self.addresses.push(address.to_string());
                self.current = self.addresses.len() - 1;
            }
        }
    }

    fn rotate(&mut self) {
        self.rpc = None;
        self.current = (self.current + 1) % self.addresses.len();
    }

    /// Runs one RPC (unary, or the opening of a stream) on the leader,
    /// following leader hints and retrying unreachable replicas until the
    /// deadline, as every method of this client does.
    pub async fn request<T, F, Fut>(&mut self, mut op: F) -> Result<T, ClientError>
    where
        F: FnMut(WeftClient<Channel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let deadline = tokio::time::Instant::now() + self.retry_for;
        let mut redirects = 0;
        loop {
            let next = match self.channel().await {
                Ok(rpc) => match op(rpc).await {
                    Ok(response) => return Ok(response.into_inner()),
                    Err(status) => classify(status),
                },
                Err(reason) => Next::Rotate(reason),
            };
            match next {
                Next::Fail(e) => return Err(e),
                Next::Redirect(leader) => {
                    // A follower may still name a leader that just died
                    // until it notices; keep following hints (they change
                    // once a new leader is elected) until the deadline.
                    if tokio::time::Instant::now() >= deadline {
                        return Err(
                            self.unreachable(format!("the leader {leader} could not be reached"))
                        );
                    }
                    redirects += 1;
                    self.go_to(&leader);
                    if redirects > 2 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                Next::Rotate(reason) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(self.unreachable(reason));
                    }
                    self.rotate();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Opens a bidirectional stream on the leader, found as every request
    /// finds it, and returns the sender of the stream's requests with its
    /// responses. `first` is queued before the stream opens (a server may
    /// wait for it before answering).
    pub async fn open_stream<M, R, F, Fut>(
        &mut self,
        first: Option<M>,
        mut open: F,
    ) -> Result<(tokio::sync::mpsc::UnboundedSender<M>, R), ClientError>
    where
        M: Clone,
        F: FnMut(WeftClient<Channel>, tokio_stream::wrappers::UnboundedReceiverStream<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let slot = std::sync::Mutex::new(None);
        let response = self
            .request(|rpc| {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                if let Some(message) = &first {
                    let _ = tx.send(message.clone());
                }
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
                open(
                    rpc,
                    tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
                )
            })
            .await?;
        let sender = slot
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .ok_or_else(|| {
                ClientError::Rpc(tonic::Status::internal("a stream opened without a sender"))
            })?;
        Ok((sender, response))
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
        let request = pb::DeployRequest {
            wasm,
            name: name.unwrap_or_default().to_string(),
            allow_http: allow_http.to_vec(),
        };
        self.request(|mut c| {
            let r = request.clone();
            async move { c.deploy(r).await }
        })
        .await
    }

    /// Binds an HTTP route (`/exact` or `/prefix/...`) to a component;
    /// true when a route on the path was replaced.
    pub async fn add_route(&mut self, route: Route) -> Result<bool, ClientError> {
        let request = pb::AddRouteRequest { route: Some(route) };
        let reply = self
            .request(|mut c| {
                let r = request.clone();
                async move { c.add_route(r).await }
            })
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
        self.request(|mut c| {
            let r = request.clone();
            async move { c.remove_route(r).await }
        })
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
            .request(|mut c| {
                let r = request.clone();
                async move { c.delete_component(r).await }
            })
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
        self.request(|mut c| {
            let r = request.clone();
            async move { c.call(r).await }
        })
        .await
    }

    /// The status of the replica this client talks to.
    pub async fn status(&mut self) -> Result<StatusResponse, ClientError> {
        self.request(|mut c| async move { c.status(pb::StatusRequest {}).await })
            .await
    }

    /// The address of the replica this client talks to now.
    pub fn current_address(&self) -> &str {
        &self.addresses[self.current]
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
        self.session.1 += 1;
        let session = self.session;
        let reply = self
            .request(|mut c| {
                let r = numbered(request.clone(), session);
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
        self.request(|mut c| {
            let r = request.clone();
            async move { c.kv_get(r).await }
        })
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
        self.request(|mut c| {
            let r = request.clone();
            async move { c.kv_list(r).await }
        })
        .await
    }

    /// Removes `key`; returns whether it existed.
    pub async fn kv_delete(&mut self, namespace: &str, key: &str) -> Result<bool, ClientError> {
        let request = pb::KvDeleteRequest {
            namespace: namespace.into(),
            key: key.into(),
        };
        self.session.1 += 1;
        let session = self.session;
        let reply = self
            .request(|mut c| {
                let r = numbered(request.clone(), session);
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
            .request(|mut c| {
                let r = request.clone();
                async move { c.add_member(r).await }
            })
            .await?;
        Ok(reply.members)
    }

    /// Tasks the leader holds, newest first, optionally in one state
    /// (`waiting`, `queued`, `running`, `finished`, `failed`).
    pub async fn list_tasks(
        &mut self,
        state: &str,
        limit: u32,
    ) -> Result<pb::ListTasksResponse, ClientError> {
        let request = pb::ListTasksRequest {
            state: state.to_string(),
            limit,
        };
        self.request(|mut c| {
            let r = request.clone();
            async move { c.list_tasks(r).await }
        })
        .await
    }

    /// Worker hosts as the leader sees them.
    pub async fn list_nodes(&mut self) -> Result<Vec<NodeInfo>, ClientError> {
        let reply = self
            .request(|mut c| async move { c.list_nodes(pb::ListNodesRequest {}).await })
            .await?;
        Ok(reply.nodes)
    }

    /// A deployed component's bytes.
    pub async fn fetch_component(&mut self, digest: &str) -> Result<Vec<u8>, ClientError> {
        let request = pb::FetchComponentRequest {
            digest: digest.to_string(),
        };
        let reply = self
            .request(|mut c| {
                let r = request.clone();
                async move { c.fetch_component(r).await }
            })
            .await?;
        Ok(reply.wasm)
    }

    /// Removes controller replica `id` from the group.
    pub async fn remove_member(&mut self, id: u64) -> Result<Vec<Member>, ClientError> {
        let reply = self
            .request(|mut c| async move { c.remove_member(pb::RemoveMemberRequest { id }).await })
            .await?;
        Ok(reply.members)
    }
}
