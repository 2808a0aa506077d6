//! The HTTP gateway every host runs (`--http-port`): a trigger over the
//! host's engine, apart from the capabilities components get.
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

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use weft_host::{CallSpec, Format, HostError, HttpBody, HttpLimits, Invocation, full_body};

use crate::controller::Controller;
use crate::error::ControllerError;

/// The default request body limit.
pub const DEFAULT_MAX_BODY: usize = 10 << 20;

/// How the gateway admits requests.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Largest request body accepted, in bytes (413 above it).
    pub max_body: usize,
    /// How long a request waits for a free slot on a busy route (then 503).
    pub queue_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            max_body: DEFAULT_MAX_BODY,
            queue_timeout: Duration::from_secs(1),
        }
    }
}

struct Gateway {
    controller: Arc<Controller>,
    config: GatewayConfig,
    /// Per route path: its concurrency limit and the semaphore enforcing it.
    slots: Mutex<HashMap<String, (u32, Arc<Semaphore>)>>,
}

/// Serves HTTP on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    controller: Arc<Controller>,
    config: GatewayConfig,
    shutdown: impl Future<Output = ()>,
) {
    let gateway = Arc::new(Gateway {
        controller,
        config,
        slots: Mutex::new(HashMap::new()),
    });
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
        });
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

/// The one mapping from controller and host errors to HTTP statuses.
pub fn status_of(err: &ControllerError) -> (StatusCode, &'static str) {
    match err {
        ControllerError::UnknownComponent(_) => (StatusCode::NOT_FOUND, "not-found"),
        ControllerError::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
        ControllerError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, "too-large"),
        ControllerError::Host(host) => match host {
            HostError::UnknownFunction { .. } => (StatusCode::NOT_FOUND, "not-found"),
            HostError::BadArguments { .. }
            | HostError::Uncallable { .. }
            | HostError::LimitTooHigh(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            HostError::Timeout { .. } => (StatusCode::GATEWAY_TIMEOUT, "deadline"),
            HostError::Trap { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "trap"),
            HostError::MemoryLimit { .. } => (StatusCode::INTERNAL_SERVER_ERROR, "memory-limit"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        },
        ControllerError::NotLeader { .. } | ControllerError::NoQuorum(_) => {
            (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    }
}

fn from_error(err: &ControllerError) -> hyper::Response<HttpBody> {
    let (status, kind) = status_of(err);
    error_response(status, kind, &err.to_string())
}

impl Gateway {
    async fn handle(&self, req: hyper::Request<Incoming>) -> hyper::Response<HttpBody> {
        let path = req.uri().path().to_string();
        if let Some(rest) = path.strip_prefix("/v1/call/") {
            let rest = rest.to_string();
            return self.json_call(req, &rest).await;
        }
        let route = match self.controller.state().route_for(&path) {
            Ok(Some(route)) => route,
            Ok(None) => {
                return error_response(
                    StatusCode::NOT_FOUND,
                    "not-found",
                    &format!("no route for {path}"),
                );
            }
            Err(e) => return from_error(&e),
        };
        let slots = self.slots_for(&route.path, route.max_concurrency);
        let Ok(Ok(_permit)) =
            tokio::time::timeout(self.config.queue_timeout, slots.acquire_owned()).await
        else {
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                &format!(
                    "route {} is at its limit of {} concurrent requests",
                    route.path, route.max_concurrency
                ),
            );
        };
        let (parts, body) = req.into_parts();
        let body = match self.read_body(&parts.headers, body).await {
            Ok(b) => b,
            Err(response) => return response,
        };
        let body = Full::new(body).map_err(|never: Infallible| -> hyper::Error { match never {} });
        let request = hyper::Request::from_parts(parts, body);
        let (prepared, grants) = match self.controller.prepare(&route.component).await {
            Ok(p) => p,
            Err(e) => return from_error(&e),
        };
        let limits = HttpLimits {
            timeout: (route.timeout_ms > 0).then(|| Duration::from_millis(route.timeout_ms)),
            memory_limit: None,
            grants,
        };
        match self
            .controller
            .host()
            .handle_http(&prepared, request, limits)
            .await
        {
            Ok(response) => response,
            Err(e) => {
                tracing::warn!(path, error = %e, "route handler failed");
                from_error(&ControllerError::Host(e))
            }
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
                    weft_host::bytes(self.config.max_body as u64)
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
    async fn json_call(
        &self,
        req: hyper::Request<Incoming>,
        rest: &str,
    ) -> hyper::Response<HttpBody> {
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
        let invocation = Invocation {
            format: Format::Json,
            ..Invocation::new(CallSpec::Json { function, args })
        };
        match self.controller.call(&component, invocation).await {
            Ok(outcome) => hyper::Response::builder()
                .status(StatusCode::OK)
                .header(header::CONTENT_TYPE, "application/json")
                .body(full_body(outcome.result.unwrap_or_else(|| "null".into())))
                .expect("static response parts"),
            Err(e) => from_error(&e),
        }
    }
}

/// Decodes `%XX` escapes (function names may carry `:` `/` `#`).
fn percent_decode(text: &str) -> String {
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
    use super::percent_decode;

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
