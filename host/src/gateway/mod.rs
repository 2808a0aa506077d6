//! The HTTP gateway a host serves (`weft host --http-port`, and
//! `weft up --http-port` for the embedded host): a trigger over the host's
//! engine, apart from the capabilities components get. Routes and names
//! come from the leader's catalog (see [`Catalog`]); a handler runs with
//! the whole `weft:runtime`, so it can submit tasks, read objects and call
//! actors, as a task does.
//!
//! - **Routes** (`weft route add PATH NAME`): a request whose path matches
//!   a route (exact, else the longest `/prefix/...`) is handed to the
//!   component's `wasi:http/incoming-handler`, a fresh instance per request.
//!   Each route admits `max_concurrency` requests at once per host; more
//!   wait up to the queue timeout, then get 503.
//! - **JSON calls**: `POST /v1/call/{component}/{function}` with a JSON
//!   array of arguments answers with the JSON result.
//!
//! Request bodies above the limit get 413. Errors map to statuses in one
//! place ([`status_of`]) and carry a JSON body `{"error": ..., "kind": ...}`.

mod batch;
mod catalog;
mod serve;
mod stream;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use self::catalog::{Catalog, Route, Target};
pub use self::serve::{DeploymentLabel, REPLICA_HEADER, ServeLoad};
use crate::agent::{Agent, TaskContext};
use crate::{CallSpec, Format, Grants, HostError, HttpBody, HttpLimits, Invocation, full_body};
use weft_proto::v1 as pb;

/// The default request body limit.
pub const DEFAULT_MAX_BODY: usize = 10 << 20;

/// The content type of a Prometheus exposition in the OpenMetrics text
/// format, wherever a process serves one.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Renders this process's Prometheus exposition for `GET /metrics`.
pub type MetricsRender = Arc<dyn Fn() -> String + Send + Sync>;

/// How the gateway admits requests.
#[derive(Clone)]
pub struct GatewayConfig {
    /// Largest request body accepted, in bytes (413 above it).
    pub max_body: usize,
    /// How long a request waits for a free slot on a busy route (then 503).
    pub queue_timeout: Duration,
    /// When set, `GET /metrics` answers with what it renders (a route on
    /// `/metrics` is then unreachable).
    pub metrics: Option<MetricsRender>,
    /// When set, the gateway speaks HTTPS with these settings.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_body: DEFAULT_MAX_BODY,
            queue_timeout: Duration::from_secs(1),
            metrics: None,
            tls: None,
        }
    }
}

/// How long a request for an unknown route or name waits for a fresher
/// catalog from the leader before it gets 404 (the leader answers at once;
/// this bounds a leader that is gone).
const CATALOG_WAIT: Duration = Duration::from_secs(2);

pub(crate) struct Gateway {
    agent: Arc<Agent>,
    config: GatewayConfig,
    /// Per route path: its concurrency limit and the semaphore enforcing it.
    slots: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
    /// Numbers the requests, to name their task contexts.
    requests: AtomicU64,
    /// When a miss last asked the leader for a fresh catalog: misses
    /// within [`REFRESH_EVERY`] of it answer 404 without asking again, so
    /// a flood of unknown paths costs the leader nothing.
    refreshed: Mutex<Option<Instant>>,
    /// Picks Serve replicas and forwards to other hosts' gateways.
    router: serve::Router,
    /// Batches being gathered, per deployment.
    batches: batch::Batches,
}

/// A request body: still to read, or read.
enum Body {
    Incoming(Incoming),
    Read(Bytes),
}

impl From<Incoming> for Body {
    fn from(body: Incoming) -> Self {
        Body::Incoming(body)
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Self {
        Body::Read(bytes)
    }
}

/// The least time between two catalog refreshes asked for by misses.
const REFRESH_EVERY: Duration = Duration::from_millis(500);

/// Why the gateway cannot serve a request.
enum Failure {
    Host(HostError),
    UnknownComponent(String),
}

/// Serves HTTP on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    agent: Arc<Agent>,
    config: GatewayConfig,
    shutdown: impl Future<Output = ()>,
) {
    let gateway = Arc::new(Gateway {
        agent,
        config,
        slots: Mutex::new(HashMap::new()),
        requests: AtomicU64::new(0),
        refreshed: Mutex::new(None),
        router: serve::Router::default(),
        batches: batch::Batches::default(),
    });
    // Guests' handles on deployments go through this gateway.
    let _ = gateway.agent.gateway.set(Arc::downgrade(&gateway));
    tokio::spawn(Gateway::keep_checking_health(Arc::downgrade(&gateway)));
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "gateway accept failed");
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let gateway = gateway.clone();
        tokio::spawn(async move {
            let Some(tls) = gateway.config.tls.clone() else {
                return serve_connection(gateway, stream).await;
            };
            match tokio_rustls::TlsAcceptor::from(tls).accept(stream).await {
                Ok(stream) => serve_connection(gateway, stream).await,
                Err(e) => tracing::debug!(error = %e, "gateway TLS handshake failed"),
            }
        });
    }
}

/// Serves the HTTP/1.1 requests of one connection.
async fn serve_connection(
    gateway: Arc<Gateway>,
    stream: impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
) {
    let service = hyper::service::service_fn(move |req| {
        let gateway = gateway.clone();
        async move { Ok::<_, Infallible>(gateway.handle(req).await) }
    });
    if let Err(e) = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        tracing::debug!(error = %e, "gateway connection ended");
    }
}

/// A gateway-made answer: a status and a JSON error body.
fn error_response(status: StatusCode, kind: &str, message: &str) -> hyper::Response<HttpBody> {
    let body = serde_json::json!({ "error": message, "kind": kind }).to_string();
    hyper::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full_body(body))
        .expect("static response parts")
}

/// The one mapping from failures to HTTP statuses.
fn status_of(failure: &Failure) -> (StatusCode, &'static str) {
    match failure {
        Failure::UnknownComponent(_) => (StatusCode::NOT_FOUND, "not-found"),
        Failure::Host(host) => match host {
            HostError::UnknownFunction { .. } => (StatusCode::NOT_FOUND, "not-found"),
            HostError::BadArguments { .. }
            | HostError::Uncallable { .. }
            | HostError::LimitTooHigh(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            HostError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "deadline"),
            HostError::Trap { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "trap"),
            HostError::MemoryLimit { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "memory-limit"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        },
    }
}

fn from_error(failure: Failure) -> hyper::Response<HttpBody> {
    let (status, kind) = status_of(&failure);
    let message = match failure {
        Failure::Host(e) => e.to_string(),
        Failure::UnknownComponent(name) => {
            format!("unknown component `{name}` (see `weft components`)")
        }
    };
    error_response(status, kind, &message)
}

impl Gateway {
    /// Answers one request, counting it by route and status with its time.
    async fn handle(&self, req: hyper::Request<Incoming>) -> hyper::Response<HttpBody> {
        let started = Instant::now();
        let mut route = String::new();
        let response = self.answer(req, &mut route).await;
        self.agent
            .gateway_metrics
            .answered(route, response.status().as_u16(), started.elapsed());
        response
    }

    /// Answers one request; `route` learns the route it matched (the
    /// metrics' label: a route's path, `/v1/call`, or empty for none).
    async fn answer(
        &self,
        req: hyper::Request<Incoming>,
        route_label: &mut String,
    ) -> hyper::Response<HttpBody> {
        if req.headers().contains_key(REPLICA_HEADER) {
            return self.forwarded(req, route_label).await;
        }
        let path = req.uri().path().to_string();
        if let Some(rest) = path.strip_prefix("/v1/serve/") {
            let rest = rest.to_string();
            return self.handle_call(req, &rest, route_label).await;
        }
        if let Some(rest) = path.strip_prefix("/v1/call/") {
            let rest = rest.to_string();
            *route_label = "/v1/call".into();
            return self.json_call(req, &rest).await;
        }
        if let Some(render) = self.config.metrics.as_ref().filter(|_| path == "/metrics") {
            *route_label = "/metrics".into();
            return hyper::Response::builder()
                .header(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)
                .body(full_body(render()))
                .unwrap_or_default();
        }
        let Some(found) = self.lookup(|c| c.route_for(&path).cloned()).await else {
            return error_response(
                StatusCode::NOT_FOUND,
                "not-found",
                &format!("no route for {path}"),
            );
        };
        let Route {
            route,
            target,
            serve,
        } = found;
        route_label.clone_from(&route.path);
        if route.auth
            && let Err(response) = self.admit(&req, &route.path)
        {
            return response;
        }
        let Some(target) = target else {
            return from_error(Failure::UnknownComponent(route.component));
        };
        if let Some(serve) = serve {
            return self.serve_request(req, route, target, serve).await;
        }
        let (parts, body) = req.into_parts();
        self.run_handler(
            &route.path,
            route.max_concurrency,
            parts,
            body,
            &route,
            target,
            None,
        )
        .await
    }

    /// Runs a route's handler here, once one of the `limit` slots of
    /// `slot` is free (503 when none frees within the queue timeout).
    #[allow(
        clippy::too_many_arguments,
        reason = "one request's parts, each needed to run it"
    )]
    async fn run_handler(
        &self,
        slot: &str,
        limit: u32,
        parts: http::request::Parts,
        body: impl Into<Body>,
        route: &pb::Route,
        target: Target,
        replica: Option<serve::Replica<'_>>,
    ) -> hyper::Response<HttpBody> {
        let _permit = match self.slot(slot, limit).await {
            Ok(permit) => permit,
            Err(response) => return response,
        };
        let body = match body.into() {
            Body::Read(bytes) => bytes,
            Body::Incoming(body) => match self.read_body(&parts.headers, body).await {
                Ok(b) => b,
                Err(response) => return response,
            },
        };
        let path = parts.uri.path().to_string();
        let body = Full::new(body).map_err(|never: Infallible| -> hyper::Error { match never {} });
        let request = hyper::Request::from_parts(parts, body);
        let prepared = match self.agent.prepare(&target.digest).await {
            Ok(p) => p,
            Err(e) => return from_error(Failure::Host(e)),
        };
        let limits = HttpLimits {
            timeout: (route.timeout_ms > 0).then(|| Duration::from_millis(route.timeout_ms)),
            memory_limit: None,
            grants: Grants {
                http_hosts: target.allow_http,
            },
            tasks: Some(self.context(replica.as_ref())),
            log: self
                .agent
                .route_log(&route.path)
                .map(|l| Arc::new(l) as crate::services::GuestLog),
            // A Serve replica's requests share its instances, and each
            // instance runs the component's `reconfigure` first.
            reuse: replica.as_ref().and_then(|r| r.reuse()),
            setup: replica.as_ref().and_then(|r| r.setup(&prepared)),
        };
        match self
            .agent
            .host()
            .handle_http(&prepared, request, limits)
            .await
        {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(path, error = %e, "route handler failed");
                from_error(Failure::Host(e))
            }
        }
    }

    /// The task API of one request: what its guest submits or puts is its
    /// own, released when the request is done. On a Serve `replica`, its
    /// guest reads the deployment's `user_config` (JSON text) through
    /// wasi:config/store and records the replica's metrics.
    fn context(&self, replica: Option<&serve::Replica<'_>>) -> Arc<TaskContext> {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let mut context = TaskContext::new(
            self.agent.clone(),
            format!("http.{}.{n}", self.agent.id()),
            0.0,
        );
        let Some(replica) = replica else {
            return Arc::new(context);
        };
        context = context.on_replica(replica.deployment(), replica.id.to_string());
        if replica.serve.capture {
            // What it submits or creates uses its replica's other bundles.
            context = context.capturing(replica.id.to_string());
        }
        if replica.serve.user_config.is_empty() {
            return Arc::new(context);
        }
        let granted = crate::services::RuntimeEnv {
            config: [("user_config".to_string(), replica.serve.user_config.clone())].into(),
            ..Default::default()
        };
        Arc::new(context.in_job(String::new(), Default::default(), granted))
    }

    /// Looks something up in the catalog; when it is not there, asks the
    /// leader for a fresh catalog (a change acknowledged to a client may
    /// still be on its way here) and looks once more when it comes.
    async fn lookup<T>(&self, find: impl Fn(&Catalog) -> Option<T>) -> Option<T> {
        let mut catalog = self.agent.catalog();
        if let Some(found) = find(&catalog.borrow_and_update()) {
            return Some(found);
        }
        {
            let mut refreshed = self.refreshed.lock().unwrap_or_else(|p| p.into_inner());
            if refreshed.is_some_and(|at| at.elapsed() < REFRESH_EVERY) {
                return None;
            }
            *refreshed = Some(Instant::now());
        }
        self.agent.want_catalog();
        match tokio::time::timeout(CATALOG_WAIT, catalog.changed()).await {
            Ok(Ok(())) => find(&catalog.borrow_and_update()),
            _ => None,
        }
    }

    /// One of the `limit` slots of `slot`, once free (503 when none frees
    /// within the queue timeout).
    #[allow(
        clippy::result_large_err,
        reason = "the refusal is the response itself, built once on a rare path"
    )]
    async fn slot(
        &self,
        slot: &str,
        limit: u32,
    ) -> Result<tokio::sync::OwnedSemaphorePermit, hyper::Response<HttpBody>> {
        let slots = self.slots_for(slot, limit);
        match tokio::time::timeout(self.config.queue_timeout, slots.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                &format!("{slot} is at its limit of {limit} concurrent requests"),
            )),
        }
    }

    fn slots_for(&self, path: &str, limit: u32) -> Arc<Semaphore> {
        let mut slots = self.slots.lock().expect("slots lock");
        match slots.get(path) {
            Some((l, s)) if *l == limit => s.clone(),
            _ => {
                let s = Arc::new(Semaphore::new(limit as usize));
                slots.insert(path.to_string(), (limit, s.clone()));
                s
            }
        }
    }

    /// Reads a whole request body, refusing one over the limit with 413
    /// (by its Content-Length before reading, else while reading).
    async fn read_body(
        &self,
        headers: &http::HeaderMap,
        body: Incoming,
    ) -> Result<Bytes, hyper::Response<HttpBody>> {
        let too_large = || {
            error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too-large",
                &format!(
                    "request body is larger than the limit of {}",
                    crate::bytes(self.config.max_body as u64)
                ),
            )
        };
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.config.max_body as u64) {
            return Err(too_large());
        }
        match Limited::new(body, self.config.max_body).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                Err(too_large())
            }
            Err(e) => Err(error_response(
                StatusCode::BAD_REQUEST,
                "bad-request",
                &format!("cannot read the body: {e}"),
            )),
        }
    }

    /// `POST /v1/call/{component}/{function}` with a JSON array body.
    /// Admits a request that must carry one of the cluster's tokens (the
    /// admin or the invoke token); the refusal is 401, or 403 for a token
    /// that may not.
    #[allow(
        clippy::result_large_err,
        reason = "the refusal is the response itself, built once on a rare path"
    )]
    fn admit(
        &self,
        req: &hyper::Request<Incoming>,
        what: &str,
    ) -> Result<(), hyper::Response<HttpBody>> {
        self.admit_token(req.headers().get(header::AUTHORIZATION), what)
    }

    /// Admits `token` (a header's value) to `what`, as [`Self::admit`].
    #[allow(
        clippy::result_large_err,
        reason = "the refusal is the response itself, built once on a rare path"
    )]
    fn admit_token(
        &self,
        token: Option<&http::HeaderValue>,
        what: &str,
    ) -> Result<(), hyper::Response<HttpBody>> {
        let token = token.map(|v| v.as_bytes());
        self.agent.config.keys.admit(what, token).map_err(|status| {
            let code = match status.code() {
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                _ => StatusCode::UNAUTHORIZED,
            };
            error_response(code, "unauthenticated", status.message())
        })
    }

    async fn json_call(
        &self,
        req: hyper::Request<Incoming>,
        rest: &str,
    ) -> hyper::Response<HttpBody> {
        // The JSON endpoint calls any function of any component: it takes
        // the cluster's tokens, as its gRPC API does (routes are the
        // user's app, public unless added with `--auth`).
        if let Err(response) = self.admit(&req, "/v1/call") {
            return response;
        }
        if req.method() != Method::POST {
            return error_response(
                StatusCode::METHOD_NOT_ALLOWED,
                "bad-request",
                "use POST with a JSON array of arguments",
            );
        }
        let Some((component, function)) = rest
            .split_once('/')
            .filter(|(c, f)| !c.is_empty() && !f.is_empty())
        else {
            return error_response(
                StatusCode::NOT_FOUND,
                "not-found",
                "use /v1/call/{component}/{function}",
            );
        };
        let (component, function) = (component.to_string(), percent_decode(function));
        let (parts, body) = req.into_parts();
        let body = match self.read_body(&parts.headers, body).await {
            Ok(b) => b,
            Err(response) => return response,
        };
        let args: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    &format!("request body is not valid JSON: {e}"),
                );
            }
        };
        let Some(target) = self.lookup(|c| c.component(&component).cloned()).await else {
            return from_error(Failure::UnknownComponent(component));
        };
        self.call_json(target, function, args, None).await
    }

    /// What a JSON call of `function` of `target` here runs with: the
    /// prepared component, the call's context and its invocation. On a
    /// Serve `replica`, the call may run on an instance the replica's
    /// earlier requests left and sets the replica's configuration up first.
    async fn json_invocation(
        &self,
        target: Target,
        function: String,
        args: serde_json::Value,
        replica: Option<&serve::Replica<'_>>,
    ) -> Result<(Arc<crate::Prepared>, Arc<TaskContext>, Invocation), hyper::Response<HttpBody>>
    {
        let prepared = self
            .agent
            .prepare(&target.digest)
            .await
            .map_err(|e| from_error(Failure::Host(e)))?;
        let context = self.context(replica);
        let invocation = Invocation {
            format: Format::Json,
            grants: Grants {
                http_hosts: target.allow_http,
            },
            tasks: Some(context.clone()),
            reuse: replica.and_then(|r| r.reuse()),
            setup: replica.and_then(|r| r.setup(&prepared)),
            ..Invocation::new(CallSpec::Json { function, args })
        };
        Ok((prepared, context, invocation))
    }

    /// Calls `function` of `target` here with JSON `args`; its JSON
    /// result, or the failure's status. On a Serve `replica`, the call may
    /// run on an instance the replica's earlier requests used (what they
    /// loaded stays), its guest reads the replica's `user_config`, and an
    /// instance first calls the component's `reconfigure` export with it
    /// (once per instance and configuration, as Ray calls a replica's).
    async fn call_json(
        &self,
        target: Target,
        function: String,
        args: serde_json::Value,
        replica: Option<serve::Replica<'_>>,
    ) -> hyper::Response<HttpBody> {
        let (prepared, context, invocation) = match self
            .json_invocation(target, function, args, replica.as_ref())
            .await
        {
            Ok(call) => call,
            Err(response) => return response,
        };
        let outcome = self.agent.host().call(&prepared, invocation).await;
        context.release_made();
        match outcome {
            Ok(outcome) => hyper::Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(full_body(outcome.result.unwrap_or_else(|| "null".into())))
                .expect("static response parts"),
            Err(e) => from_error(Failure::Host(e)),
        }
    }
}

/// Decodes `%XX` escapes (function names may carry `:` `/` `#`); the
/// dashboard decodes its query strings with it too.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    // Byte-wise: the path may hold any UTF-8, and slicing the text right
    // after a `%` could split a character.
    let hex = |b: u8| (b as char).to_digit(16);
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).copied().and_then(hex),
                bytes.get(i + 2).copied().and_then(hex),
            )
        {
            out.push((hi * 16 + lo) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::percent_decode;

    proptest! {
        /// Any path decodes without panicking, and a percent-encoded
        /// string decodes back to itself.
        #[test]
        fn any_path_decodes(text in "\\PC{0,40}", raw in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = percent_decode(&text);
            let _ = percent_decode(&String::from_utf8_lossy(&raw));
            let encoded: String = text.bytes().map(|b| format!("%{b:02X}")).collect();
            prop_assert_eq!(percent_decode(&encoded), text);
        }
    }

    #[test]
    fn function_names_are_percent_decoded() {
        assert_eq!(percent_decode("values.echo"), "values.echo");
        assert_eq!(
            percent_decode("weft%3Atestkit%2Fvalues%23echo"),
            "weft:testkit/values#echo"
        );
        assert_eq!(percent_decode("bad%zz"), "bad%zz");
        assert_eq!(percent_decode("end%4"), "end%4");
        // A `%` before a multi-byte character once sliced through it.
        assert_eq!(percent_decode("%Aé"), "%Aé");
        assert_eq!(percent_decode("%é1"), "%é1");
        assert_eq!(percent_decode("é%41"), "éA");
    }
}
