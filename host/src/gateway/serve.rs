//! Serve routing on every host's gateway: a request on a deployment's
//! route goes to one of its replicas, picked by the power of two choices
//! on the requests this gateway has in flight to each, run here when the
//! replica is on this host and forwarded to its host's gateway otherwise.
//!
//! Past every replica's `max_ongoing_requests` a request waits in this
//! gateway's queue for the deployment, bounded by `max_queued_requests`
//! (503 with `Retry-After` past it, never an unbounded queue). With no
//! replica at all (scaled to zero, or still starting) it waits for the
//! catalog to bring one: the requests held here are what the host reports
//! to the leader's autoscaler, which wakes a deployment at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{StatusCode, header};
use http_body_util::BodyExt;
use tokio::sync::Notify;
use weft_proto::v1 as pb;

/// The header a forwarded request carries: the replica it was routed to,
/// so the receiving gateway runs it there and does not route it again.
pub const REPLICA_HEADER: &str = "x-weft-replica";

/// The header a forwarded request carries naming its deployment
/// (`app/deployment`): the receiving gateway finds it by this, not by the
/// path, which a composed or handle call need not share with any route.
pub const DEPLOYMENT_HEADER: &str = "x-weft-deployment";

/// The header carrying the forwarding host's token (when the cluster has
/// tokens): a forward skips routing and a route's own admission, so only
/// the cluster's gateways may send one.
pub const FORWARD_TOKEN_HEADER: &str = "x-weft-forward-token";

/// How long a request waits in a deployment's queue for a replica with
/// room, or for a deployment with no replica to get one. The queue's
/// length is what bounds it (`max_queued_requests`); this bounds a
/// deployment that cannot start.
pub const QUEUE_WAIT: Duration = Duration::from_secs(10);

/// What a host tells the leader about Serve: where its gateway listens and
/// the requests it holds per deployment (running and queued).
#[derive(Default)]
pub struct ServeLoad {
    http_address: Mutex<String>,
    held: Mutex<HashMap<String, Arc<Held>>>,
    /// Replicas here whose last health check failed, with why.
    unhealthy: Mutex<HashMap<String, String>>,
    /// The custom metrics replicas here recorded: the latest value of each,
    /// by (deployment, replica, name), with when.
    metrics: Mutex<HashMap<MetricKey, (f64, Instant)>>,
    /// Answers of requests this gateway routed: by replica, its
    /// deployment and the count of each status.
    answers: Mutex<HashMap<String, ReplicaAnswers>>,
}

/// One replica's answers: its deployment, and the count of each status.
type ReplicaAnswers = (String, HashMap<u16, u64>);

/// A recorded metric's key: deployment (`app/deployment`), replica, name.
type MetricKey = (String, String, String);

/// How long a recorded metric counts without being recorded again: a
/// replica that stopped reporting (idle, or gone) stops counting.
const METRIC_KEPT: Duration = Duration::from_secs(30);

/// A deployment's label: `app/deployment`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
pub struct DeploymentLabel {
    /// `app/deployment`.
    pub deployment: String,
}

/// An answer's labels: its deployment, the replica that gave it, its
/// status.
#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct AnswerLabel {
    deployment: String,
    replica: String,
    status: u16,
}

/// One deployment's requests at this gateway.
#[derive(Default)]
pub(crate) struct Held {
    /// Running or waiting.
    ongoing: AtomicU32,
    /// Waiting for a replica's room.
    queued: AtomicU32,
    /// Signalled when a request ends, so waiters look again.
    freed: Notify,
    /// When recent requests ended and how long they were held, for the
    /// latency the leader's autoscaler reads.
    recent: Mutex<std::collections::VecDeque<(Instant, Duration)>>,
    /// Requests ended since the gateway started.
    ended: AtomicU64,
}

/// The requests a latency percentile is read over, at most.
const RECENT_KEPT: usize = 1024;
/// How far back a latency percentile looks.
const RECENT_WINDOW: Duration = Duration::from_secs(10);

impl Held {
    fn record(&self, took: Duration) {
        self.ended.fetch_add(1, Ordering::Relaxed);
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if recent.len() == RECENT_KEPT {
            recent.pop_front();
        }
        recent.push_back((Instant::now(), took));
    }

    /// The `at` percentiles (0 to 1) of the requests held in the last
    /// [`RECENT_WINDOW`], in milliseconds (`None`: none ended).
    fn percentiles<const N: usize>(&self, at: [f64; N]) -> Option<[f64; N]> {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        while recent
            .front()
            .is_some_and(|(at, _)| at.elapsed() > RECENT_WINDOW)
        {
            recent.pop_front();
        }
        let mut took: Vec<Duration> = recent.iter().map(|(_, d)| *d).collect();
        if took.is_empty() {
            return None;
        }
        took.sort_unstable();
        Some(at.map(|q| {
            let i = ((took.len() as f64 * q).ceil() as usize).clamp(1, took.len()) - 1;
            took[i].as_secs_f64() * 1000.0
        }))
    }
}

impl ServeLoad {
    /// Records where this host's gateway listens.
    pub fn set_http_address(&self, address: String) {
        *self.http_address.lock().unwrap_or_else(|p| p.into_inner()) = address;
    }

    /// Where this host's gateway listens (empty: none).
    pub fn http_address(&self) -> String {
        self.http_address
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Replicas here whose last health check failed, with why.
    pub fn unhealthy(&self) -> HashMap<String, String> {
        self.unhealthy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Records a replica's health check; whether it newly failed.
    fn checked(&self, replica: &str, failure: Option<String>) -> bool {
        let mut unhealthy = self.unhealthy.lock().unwrap_or_else(|p| p.into_inner());
        match failure {
            Some(why) => unhealthy.insert(replica.to_string(), why).is_none(),
            None => {
                unhealthy.remove(replica);
                false
            }
        }
    }

    /// Forgets checks of replicas not in `live`.
    fn keep_checks_of(&self, live: &[&str]) {
        self.unhealthy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|id, _| live.contains(&id.as_str()));
    }

    /// Records `value` as replica `replica`'s latest `name` for
    /// `deployment` (`app/deployment`).
    pub fn record_metric(&self, deployment: &str, replica: &str, name: &str, value: f64) {
        let key = (
            deployment.to_string(),
            replica.to_string(),
            name.to_string(),
        );
        self.metrics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, (value, Instant::now()));
    }

    /// The latest value of each metric recorded in the last
    /// [`METRIC_KEPT`], for the leader.
    pub fn metrics(&self) -> Vec<pb::ServeMetric> {
        let mut metrics = self.metrics.lock().unwrap_or_else(|p| p.into_inner());
        metrics.retain(|_, (_, at)| at.elapsed() < METRIC_KEPT);
        metrics
            .iter()
            .map(
                |((deployment, replica, name), (value, _))| pb::ServeMetric {
                    deployment: deployment.clone(),
                    replica: replica.clone(),
                    name: name.clone(),
                    value: *value,
                },
            )
            .collect()
    }

    /// The p95 of recent requests per deployment, in milliseconds.
    pub fn p95_ms(&self) -> HashMap<String, f64> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter_map(|(k, h)| Some((k.clone(), h.percentiles([0.95])?[0])))
            .collect()
    }

    /// Per deployment: requests ended, queued now, and the recent p50 and
    /// p99 (the dashboard's and `weft serve status`'s figures).
    pub fn stats(&self) -> HashMap<String, pb::ServeGatewayStats> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, h)| {
                let [p50_ms, p99_ms] = h.percentiles([0.5, 0.99]).unwrap_or_default();
                let stats = pb::ServeGatewayStats {
                    requests: h.ended.load(Ordering::Relaxed),
                    queued: h.queued.load(Ordering::Relaxed),
                    p50_ms,
                    p99_ms,
                };
                (k.clone(), stats)
            })
            .collect()
    }

    /// Counts an answer a replica gave a request this gateway routed.
    pub(crate) fn answered(&self, deployment: &str, replica: &str, status: u16) {
        let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
        // Counted without allocating once the replica has answered before:
        // this runs on every request.
        if let Some((_, by_status)) = answers.get_mut(replica) {
            *by_status.entry(status).or_default() += 1;
            return;
        }
        let by_status = HashMap::from([(status, 1)]);
        answers.insert(replica.to_string(), (deployment.to_string(), by_status));
    }

    /// Forgets the answers of replicas not in `live`.
    fn keep_answers_of(&self, live: &[&str]) {
        self.answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|replica, _| live.contains(&replica.as_str()));
    }

    /// Requests held per deployment, for the leader.
    pub fn ongoing(&self) -> HashMap<String, u32> {
        self.held
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(k, h)| (k.clone(), h.ongoing.load(Ordering::Relaxed)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Registers, per deployment (`app/deployment`), the requests this
    /// gateway holds and those of them waiting in its queue.
    pub fn register_metrics(&self, registry: &mut prometheus_client::registry::Registry) {
        use prometheus_client::metrics::family::Family;
        use prometheus_client::metrics::gauge::Gauge;
        let (held, queued) = (
            Family::<DeploymentLabel, Gauge>::default(),
            Family::<DeploymentLabel, Gauge>::default(),
        );
        for (deployment, h) in self.held.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let label = DeploymentLabel {
                deployment: deployment.clone(),
            };
            held.get_or_create(&label)
                .set(i64::from(h.ongoing.load(Ordering::Relaxed)));
            queued
                .get_or_create(&label)
                .set(i64::from(h.queued.load(Ordering::Relaxed)));
        }
        registry.register(
            "serve_requests_held",
            "Serve requests this gateway holds, running or queued, by deployment",
            held,
        );
        registry.register(
            "serve_requests_queued",
            "Serve requests waiting in this gateway's queue for a replica, by deployment",
            queued,
        );
        let answers =
            Family::<AnswerLabel, prometheus_client::metrics::counter::Counter>::default();
        for (replica, (deployment, by_status)) in self
            .answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            for (status, n) in by_status {
                let label = AnswerLabel {
                    deployment: deployment.clone(),
                    replica: replica.clone(),
                    status: *status,
                };
                answers.get_or_create(&label).inc_by(*n);
            }
        }
        registry.register(
            "serve_answers",
            "Answers of Serve requests this gateway routed, by deployment, replica and status",
            answers,
        );
    }

    pub(crate) fn held(&self, deployment: &str) -> Arc<Held> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        // Found without allocating: this runs on every request.
        if let Some(found) = held.get(deployment) {
            return found.clone();
        }
        held.entry(deployment.to_string()).or_default().clone()
    }
}

/// Counts a request as held by its deployment until dropped, and then
/// records how long it was held.
pub(crate) struct Holding(Arc<Held>, Instant);

impl Holding {
    pub(crate) fn new(held: Arc<Held>) -> Self {
        held.ongoing.fetch_add(1, Ordering::Relaxed);
        Holding(held, Instant::now())
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.ongoing.fetch_sub(1, Ordering::Relaxed);
        self.0.record(self.1.elapsed());
        self.0.freed.notify_waiters();
    }
}

/// Why a request could not be given a replica.
pub(crate) enum NoReplica {
    /// The queue is full: answer 503 with `Retry-After`.
    QueueFull { queued: u32 },
    /// Waited its time without room.
    TimedOut { waited: Duration },
    /// None came in [`QUEUE_WAIT`].
    NoneRunning,
}

impl NoReplica {
    /// The gateway's answer: 503 with `Retry-After` and a JSON body naming
    /// why.
    pub(crate) fn response(&self, deployment: &str) -> hyper::Response<crate::HttpBody> {
        let message = match self {
            NoReplica::QueueFull { queued } => format!(
                "deployment {deployment} is overloaded: {queued} requests already wait here \
                 (max_queued_requests)"
            ),
            NoReplica::TimedOut { waited } => format!(
                "deployment {deployment} had no free replica within {} ms",
                waited.as_millis()
            ),
            NoReplica::NoneRunning => format!(
                "deployment {deployment} has no running replica (it did not start within {} s)",
                QUEUE_WAIT.as_secs()
            ),
        };
        let body = serde_json::json!({ "error": message, "kind": "busy" }).to_string();
        hyper::Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::RETRY_AFTER, "1")
            .body(crate::full_body(body))
            .expect("static response parts")
    }
}

/// How many replicas' in-flight counts a gateway keeps before it forgets
/// the idle ones.
const PRUNE_COUNTS_AT: usize = 4096;

/// Picks replicas and forwards requests to other hosts' gateways.
pub(crate) struct Router {
    /// Requests this gateway has in flight to each replica.
    inflight: Mutex<HashMap<String, Arc<AtomicU32>>>,
    /// For the power of two choices.
    seed: AtomicU64,
    /// Pooled connections to other hosts' gateways (HTTPS, with the
    /// cluster's CA, when the gateways speak it), made at the first
    /// forward.
    http: OnceLock<reqwest::Client>,
}

/// A replica picked for one request; counts it in flight until dropped.
pub(crate) struct Picked {
    pub(crate) replica: pb::ServeReplica,
    count: Arc<AtomicU32>,
}

impl Drop for Picked {
    fn drop(&mut self) {
        self.count.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Default for Router {
    fn default() -> Self {
        Router {
            inflight: Mutex::default(),
            seed: AtomicU64::new(0x9e37_79b9_7f4a_7c15),
            http: OnceLock::new(),
        }
    }
}

impl Router {
    fn random(&self, below: usize) -> usize {
        // A splitmix step: cheap, and good enough to spread two choices.
        let mut z = self
            .seed
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) % below as u64) as usize
    }

    /// The less loaded of two random replicas with room, if either has
    /// room; else any replica with room.
    fn try_pick(&self, serve: &pb::ServeRoute, avoid: &Avoid) -> Option<Picked> {
        let candidates: Vec<(&pb::ServeReplica, Arc<AtomicU32>)> = {
            let mut counts = self.inflight.lock().unwrap_or_else(|p| p.into_inner());
            if counts.len() > PRUNE_COUNTS_AT {
                // Replicas come and go with rollouts and scaling: forget
                // the idle counts (an idle replica starts again at 0).
                counts.retain(|_, c| c.load(Ordering::Relaxed) > 0);
            }
            serve
                .replicas
                .iter()
                .filter(|r| r.running && !r.draining && avoid.allows(r))
                .map(|r| {
                    let count = match counts.get(&r.id) {
                        Some(c) => c.clone(),
                        None => counts.entry(r.id.clone()).or_default().clone(),
                    };
                    (r, count)
                })
                .collect()
        };
        if candidates.is_empty() {
            return None;
        }
        let limit = serve.max_ongoing_requests.max(1);
        let (a, b) = (self.random(candidates.len()), self.random(candidates.len()));
        let load = |i: usize| candidates[i].1.load(Ordering::Relaxed);
        let first = if load(a) <= load(b) { a } else { b };
        let order = std::iter::once(first).chain(0..candidates.len());
        for i in order {
            let (r, count) = &candidates[i];
            let taken = count
                .fetch_update(Ordering::AcqRel, Ordering::Relaxed, |n| {
                    (n < limit).then_some(n + 1)
                })
                .is_ok();
            if taken {
                return Some(Picked {
                    replica: (*r).clone(),
                    count: count.clone(),
                });
            }
        }
        None
    }

    /// A replica with room for a request on `serve`; when none has, waits
    /// while the queue has space, for up to [`QUEUE_WAIT`], looking again
    /// (at `route()`, the catalog's newest) whenever a request ends and
    /// every few ms. `wake` is called once if the deployment has no
    /// replica at all, to tell the leader at once.
    pub(crate) async fn pick(
        &self,
        held: &Held,
        serve: &pb::ServeRoute,
        route: impl Fn() -> Option<Arc<pb::ServeRoute>>,
        avoid: &Avoid,
        wake: impl FnOnce(),
    ) -> Result<Picked, NoReplica> {
        if let Some(picked) = self.try_pick(serve, avoid) {
            return Ok(picked);
        }
        let started = Instant::now();
        let mut queued = false;
        let mut wake = Some(wake);
        let result = loop {
            let Some(serve) = route() else {
                break Err(NoReplica::NoneRunning);
            };
            let freed = held.freed.notified();
            if let Some(picked) = self.try_pick(&serve, avoid) {
                break Ok(picked);
            }
            let any = serve
                .replicas
                .iter()
                .any(|r| r.running && !r.draining && avoid.allows(r));
            if !any && let Some(wake) = wake.take() {
                wake();
            }
            if !queued {
                let limit = serve.max_queued_requests;
                let now = held.queued.fetch_add(1, Ordering::AcqRel);
                queued = true;
                if any && now >= limit {
                    break Err(NoReplica::QueueFull { queued: now });
                }
            }
            let Some(left) = QUEUE_WAIT.checked_sub(started.elapsed()) else {
                break Err(if any {
                    NoReplica::TimedOut { waited: QUEUE_WAIT }
                } else {
                    NoReplica::NoneRunning
                });
            };
            // The catalog changing (a replica coming) is checked every few
            // ms: no wake-up is missed for long.
            let _ = tokio::time::timeout(left.min(Duration::from_millis(5)), freed).await;
        };
        if queued {
            held.queued.fetch_sub(1, Ordering::AcqRel);
        }
        result
    }

    /// Sends `request` for deployment `key` to `replica`'s gateway, marked
    /// for that replica and carrying this host's token (a forward is run
    /// without routing, so only the cluster's gateways may send one). Over
    /// `tls` (the process's settings, when its gateways speak HTTPS) the
    /// connection is checked as any peer's. Connections are pooled either
    /// way.
    pub(crate) async fn forward(
        &self,
        key: &str,
        replica: &pb::ServeReplica,
        parts: &http::request::Parts,
        body: Bytes,
        tls: Option<&weft_proto::tls::Tls>,
    ) -> Result<hyper::Response<crate::HttpBody>, Forward> {
        let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
        let url = weft_core::gateway::url(&replica.http_address, tls.is_some(), path);
        let mut headers = parts.headers.clone();
        headers.remove(header::HOST);
        let unreachable = |e: &dyn std::fmt::Display| {
            Forward::Unreachable(format!("replica {} on {}: {e}", replica.id, replica.host))
        };
        let mut mark = |name: &'static str, value: &str| {
            http::HeaderValue::from_str(value)
                .map(|v| headers.insert(name, v))
                .map_err(|e| unreachable(&e))
        };
        mark(REPLICA_HEADER, &replica.id)?;
        mark(DEPLOYMENT_HEADER, key)?;
        if let Some(token) = weft_proto::auth::token_for(&replica.http_address) {
            mark(FORWARD_TOKEN_HEADER, &token)?;
        }
        let client = self.http.get_or_init(|| weft_core::gateway::client(tls));
        let sent = client
            .request(parts.method.clone(), url)
            .headers(headers)
            .body(body)
            .send()
            .await;
        let response = sent.map_err(|e| {
            let why = error_chain(&e);
            if e.is_connect() {
                unreachable(&why)
            } else {
                Forward::Failed(format!("replica {} on {}: {why}", replica.id, replica.host))
            }
        })?;
        // The body streams through as the replica's gateway sends it.
        let mut forwarded = hyper::Response::builder().status(response.status());
        if let Some(headers) = forwarded.headers_mut() {
            *headers = response.headers().clone();
        }
        let body = http_body_util::StreamBody::new(futures::TryStreamExt::map_ok(
            futures::TryStreamExt::map_err(response.bytes_stream(), |e| {
                wasmtime_wasi_http::Error::InternalError(Some(error_chain(&e)))
            }),
            hyper::body::Frame::data,
        ));
        forwarded
            .body(body.boxed_unsync())
            .map_err(|e| Forward::Failed(e.to_string()))
    }
}

/// An error with its causes, which reqwest keeps apart (`error sending
/// request: connection refused`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// A deployment's replica, as a request on it sees it.
pub(crate) struct Replica<'a> {
    pub(crate) id: &'a str,
    pub(crate) serve: &'a pb::ServeRoute,
}

impl Replica<'_> {
    /// Its deployment, `app/deployment`.
    pub(crate) fn deployment(&self) -> String {
        format!("{}/{}", self.serve.app, self.serve.deployment)
    }

    /// The replica's requests share its instances, for as long as the host
    /// keeps them (`weft_runtime::warm`): a guest's globals, a model it
    /// loaded, stay from one request to the next.
    pub(crate) fn reuse(&self) -> Option<crate::Reuse> {
        crate::Reuse::new(format!("serve {}", self.id), u32::MAX)
    }

    /// `reconfigure(user_config)`, when the component exports it and the
    /// deployment has a `user_config`.
    pub(crate) fn setup(&self, prepared: &weft_runtime::Prepared) -> Option<weft_runtime::Setup> {
        use weft_proto::serve::RECONFIGURE;
        let exported = prepared.functions.iter().any(|f| f.name == RECONFIGURE);
        let user_config = &self.serve.user_config;
        (exported && !user_config.is_empty()).then(|| weft_runtime::Setup {
            function: RECONFIGURE.to_string(),
            args: serde_json::json!([user_config]),
        })
    }
}

/// 404 for a deployment not in the catalog.
fn no_deployment(key: &str) -> hyper::Response<crate::HttpBody> {
    super::error_response(
        StatusCode::NOT_FOUND,
        "not-found",
        &format!("no Serve deployment {key} (see `weft serve status`)"),
    )
}

/// The metrics' route label of a deployment's request: its route, or
/// `app/deployment` for one without.
fn label_of(route: &pb::Route, key: &str) -> String {
    if route.path.is_empty() {
        key.to_string()
    } else {
        route.path.clone()
    }
}

/// Replicas a request may not go to: those that could not be reached
/// for it.
#[derive(Default)]
pub(crate) struct Avoid {
    unreachable: Vec<String>,
}

impl Avoid {
    fn allows(&self, r: &pb::ServeReplica) -> bool {
        !self.unreachable.contains(&r.id)
    }
}

/// Why forwarding failed.
pub(crate) enum Forward {
    /// The replica's gateway could not be reached: nothing was sent, so
    /// another replica may take the request.
    Unreachable(String),
    /// It failed after being sent.
    Failed(String),
}

impl super::Gateway {
    /// Answers a request on a deployment's route.
    pub(super) async fn serve_request(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
        route: pb::Route,
        target: super::Target,
        serve: Arc<pb::ServeRoute>,
    ) -> hyper::Response<crate::HttpBody> {
        let (parts, body) = req.into_parts();
        self.route_incoming(parts, body, route, target, serve).await
    }

    /// Reads a request's body, then routes it (gathered into a batch for a
    /// deployment that batches).
    async fn route_incoming(
        &self,
        parts: http::request::Parts,
        body: hyper::body::Incoming,
        route: pb::Route,
        target: super::Target,
        serve: Arc<pb::ServeRoute>,
    ) -> hyper::Response<crate::HttpBody> {
        let body = match self.read_body(&parts.headers, body).await {
            Ok(b) => b,
            Err(response) => return response,
        };
        if serve.max_batch_size > 1 {
            return self.batched(parts, body, route, target, serve).await;
        }
        self.route_request(parts, body, route, target, serve).await
    }

    /// A request another gateway routed to a replica here
    /// ([`REPLICA_HEADER`], [`DEPLOYMENT_HEADER`]): run on that replica's
    /// slots with its digest (a replica gone since runs the deployment's
    /// current one), once the forwarding host's token is admitted.
    pub(super) async fn forwarded(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
        route_label: &mut String,
    ) -> hyper::Response<crate::HttpBody> {
        let headers = req.headers();
        if let Err(response) =
            self.admit_token(headers.get(FORWARD_TOKEN_HEADER), "/v1/serve (forwarded)")
        {
            return response;
        }
        let named = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let (Some(id), Some(key)) = (named(REPLICA_HEADER), named(DEPLOYMENT_HEADER)) else {
            return super::error_response(
                StatusCode::BAD_REQUEST,
                "bad-request",
                &format!("a forwarded request names its {REPLICA_HEADER} and {DEPLOYMENT_HEADER}"),
            );
        };
        let Some((route, target, serve)) = self.find_deployment(&key).await else {
            return no_deployment(&key);
        };
        *route_label = label_of(&route, &key);
        let digest = serve
            .replicas
            .iter()
            .find(|r| r.id == id)
            .map(|r| r.digest.clone());
        let (parts, body) = req.into_parts();
        self.run_on_replica(&id, digest.as_ref(), &serve, parts, body, &route, target)
            .await
    }

    /// `/v1/serve/{app}/{deployment}[/path]`: a driver's handle to a
    /// deployment (the SDKs' `get_deployment_handle`), admitted with the
    /// cluster's tokens as `/v1/call` is, since a deployment without a route
    /// is otherwise reachable only from its own application. A function
    /// deployment takes the JSON array of its arguments; a handler gets the
    /// request at `/path`. Routed as any request on the deployment's route.
    pub(super) async fn handle_call(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
        rest: &str,
        route_label: &mut String,
    ) -> hyper::Response<crate::HttpBody> {
        if let Err(response) = self.admit(&req, "/v1/serve") {
            return response;
        }
        let mut segments = rest.splitn(3, '/');
        let (Some(app), Some(deployment)) = (segments.next(), segments.next()) else {
            return super::error_response(
                StatusCode::NOT_FOUND,
                "not-found",
                "use /v1/serve/{app}/{deployment}[/path]",
            );
        };
        if app.is_empty() || deployment.is_empty() {
            return super::error_response(
                StatusCode::NOT_FOUND,
                "not-found",
                "use /v1/serve/{app}/{deployment}[/path]",
            );
        }
        let key = format!(
            "{}/{}",
            super::percent_decode(app),
            super::percent_decode(deployment)
        );
        let Some((route, target, serve)) = self.find_deployment(&key).await else {
            return no_deployment(&key);
        };
        *route_label = "/v1/serve".into();
        let (mut parts, body) = req.into_parts();
        let path = format!("/{}", segments.next().unwrap_or(""));
        let path = match parts.uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path,
        };
        parts.uri = match path.parse() {
            Ok(uri) => uri,
            Err(e) => {
                return super::error_response(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    &format!("{path}: {e}"),
                );
            }
        };
        self.route_incoming(parts, body, route, target, serve).await
    }

    /// Deployment `key` (`app/deployment`) in the catalog, fetched afresh
    /// when it is not there yet.
    async fn find_deployment(
        &self,
        key: &str,
    ) -> Option<(pb::Route, super::Target, Arc<pb::ServeRoute>)> {
        match self.lookup(|c| c.deployment(key).cloned()).await? {
            super::Route {
                route,
                target: Some(target),
                serve: Some(serve),
            } => Some((route, target, serve)),
            _ => None,
        }
    }

    /// A guest's request to deployment `key` (`app/deployment`, through
    /// its `DEPLOYMENT.APP.serve.weft` authority): routed as a request
    /// from outside would be, from this host.
    pub(crate) async fn compose(
        &self,
        key: String,
        request: http::Request<crate::HttpBody>,
    ) -> Result<hyper::Response<crate::HttpBody>, String> {
        let Some((route, target, serve)) = self.find_deployment(&key).await else {
            return Err(format!(
                "no Serve deployment {key} (see `weft serve status`)"
            ));
        };
        let (parts, body) = request.into_parts();
        let body = http_body_util::Limited::new(body, self.config.max_body)
            .collect()
            .await
            .map_err(|e| format!("the request to {key}: {e}"))?
            .to_bytes();
        Ok(self.route_request(parts, body, route, target, serve).await)
    }

    /// Routes a request whose body is read to one of `serve`'s replicas.
    pub(super) async fn route_request(
        &self,
        parts: http::request::Parts,
        body: Bytes,
        route: pb::Route,
        target: super::Target,
        serve: Arc<pb::ServeRoute>,
    ) -> hyper::Response<crate::HttpBody> {
        let key = format!("{}/{}", serve.app, serve.deployment);
        let held = self.agent.serve_load.held(&key);
        let _holding = Holding::new(held.clone());
        let catalog = self.agent.catalog();
        let current = || {
            catalog
                .borrow()
                .deployment(&key)
                .and_then(|r| r.serve.clone())
        };
        let mut avoid = Avoid::default();
        loop {
            let wake = || self.agent.report_now();
            let picked = match self
                .router
                .pick(&held, &serve, &current, &avoid, wake)
                .await
            {
                Ok(p) => p,
                Err(none) => return none.response(&key),
            };
            let replica = &picked.replica;
            let answered = |response: hyper::Response<crate::HttpBody>| {
                let status = response.status().as_u16();
                self.agent.serve_load.answered(&key, &replica.id, status);
                response
            };
            if replica.host == self.agent.id() {
                let (id, digest) = (&replica.id, Some(&replica.digest));
                let response = self
                    .run_on_replica(id, digest, &serve, parts, body, &route, target)
                    .await;
                return answered(response);
            }
            let tls = self
                .config
                .tls
                .as_ref()
                .and_then(|_| weft_proto::tls::process_tls());
            match self
                .router
                .forward(&key, replica, &parts, body.clone(), tls.as_deref())
                .await
            {
                Ok(response) => return answered(response),
                Err(Forward::Unreachable(why)) if avoid.unreachable.len() < 2 => {
                    tracing::warn!(deployment = key, why, "replica unreachable, trying another");
                    avoid.unreachable.push(replica.id.clone());
                }
                Err(Forward::Unreachable(why) | Forward::Failed(why)) => {
                    let failed =
                        super::error_response(StatusCode::BAD_GATEWAY, "replica-failed", &why);
                    return answered(failed);
                }
            }
        }
    }

    /// Runs a request here on replica `id`'s slots, with its digest
    /// (`None`: a replica gone since, which runs the deployment's current
    /// one).
    #[allow(
        clippy::too_many_arguments,
        reason = "one request's parts, each needed to run it"
    )]
    async fn run_on_replica(
        &self,
        id: &str,
        digest: Option<&String>,
        serve: &pb::ServeRoute,
        parts: http::request::Parts,
        body: impl Into<super::Body>,
        route: &pb::Route,
        mut target: super::Target,
    ) -> hyper::Response<crate::HttpBody> {
        if let Some(digest) = digest {
            target.digest.clone_from(digest);
        }
        let slot = format!("replica {id}");
        if serve.function.is_empty() {
            return self
                .run_handler(
                    &slot,
                    serve.max_ongoing_requests,
                    parts,
                    body,
                    route,
                    target,
                    Some(Replica { id, serve }),
                )
                .await;
        }
        // A function deployment: the body is the JSON array of arguments.
        let body = match body.into() {
            super::Body::Read(bytes) => bytes,
            super::Body::Incoming(body) => match self.read_body(&parts.headers, body).await {
                Ok(b) => b,
                Err(response) => return response,
            },
        };
        let args: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(args) => args,
            Err(e) => {
                return super::error_response(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    &format!("request body is not a JSON array of arguments: {e}"),
                );
            }
        };
        let permit = match self.slot(&slot, serve.max_ongoing_requests).await {
            Ok(permit) => permit,
            Err(response) => return response,
        };
        let replica = Replica { id, serve };
        let function = serve.function.clone();
        if serve.stream {
            return self
                .stream_json(target, function, args, replica, permit)
                .await;
        }
        let _permit = permit;
        self.call_json(target, function, args, Some(replica)).await
    }

    /// Checks this host's replicas of deployments that ask for it, each
    /// every `health_check_period_ms`, while the gateway serves; a failure
    /// is reported to the leader at once, which replaces the replica. Each
    /// look at the catalog also forgets the answer counts of replicas gone.
    pub(super) async fn keep_checking_health(gateway: std::sync::Weak<Self>) {
        let mut last: HashMap<String, Instant> = HashMap::new();
        loop {
            tokio::time::sleep(Duration::from_millis(250)).await;
            let Some(gateway) = gateway.upgrade() else {
                return;
            };
            let catalog = gateway.agent.catalog().borrow().clone();
            let me = gateway.agent.id().to_string();
            let mut live = Vec::new();
            // Answers of replicas gone (rolled over, scaled down) are
            // forgotten, so the counts do not grow with every rollout.
            let serving: Vec<&str> = catalog
                .serve_routes()
                .filter_map(|r| r.serve.as_ref())
                .flat_map(|s| s.replicas.iter().map(|r| r.id.as_str()))
                .collect();
            gateway.agent.serve_load.keep_answers_of(&serving);
            for found in catalog.serve_routes() {
                let (Some(serve), Some(target)) = (&found.serve, &found.target) else {
                    continue;
                };
                if serve.health_check_path.is_empty() {
                    continue;
                }
                let period = Duration::from_millis(serve.health_check_period_ms);
                for r in serve
                    .replicas
                    .iter()
                    .filter(|r| r.host == me && !r.draining)
                {
                    live.push(r.id.as_str());
                    if last.get(&r.id).is_some_and(|at| at.elapsed() < period) {
                        continue;
                    }
                    last.insert(r.id.clone(), Instant::now());
                    let (gateway, route, target) =
                        (gateway.clone(), found.route.clone(), target.clone());
                    let (serve, replica) = (serve.clone(), r.clone());
                    tokio::spawn(async move {
                        let failure = gateway.check(&replica, &serve, &route, target).await;
                        if gateway.agent.serve_load.checked(&replica.id, failure) {
                            gateway.agent.report_now();
                        }
                    });
                }
            }
            gateway.agent.serve_load.keep_checks_of(&live);
            last.retain(|id, _| live.contains(&id.as_str()));
        }
    }

    /// One health check of `replica`: why it failed, if it did.
    async fn check(
        &self,
        replica: &pb::ServeReplica,
        serve: &pb::ServeRoute,
        route: &pb::Route,
        target: super::Target,
    ) -> Option<String> {
        let path = &serve.health_check_path;
        let (parts, ()) = http::Request::get(path.as_str())
            .header(header::HOST, "localhost")
            .body(())
            .ok()?
            .into_parts();
        let timeout = Duration::from_millis(serve.health_check_timeout_ms);
        let run = self.run_on_replica(
            &replica.id,
            Some(&replica.digest),
            serve,
            parts,
            Bytes::new(),
            route,
            target,
        );
        match tokio::time::timeout(timeout, run).await {
            Ok(response) if response.status().as_u16() < 500 => None,
            Ok(response) => Some(format!(
                "its health check GET {path} answered {}",
                response.status().as_u16()
            )),
            Err(_) => Some(format!(
                "its health check GET {path} did not answer within {} ms",
                timeout.as_millis()
            )),
        }
    }
}
