//! Batching for function deployments whose export takes one list: each
//! request's body is one element; the gateway gathers elements from any
//! connections into one call of up to `max_batch_size`, sent the moment
//! the batch is full or `batch_wait_timeout_ms` after its first element,
//! and hands each request its element of the result (Ray Serve's
//! `@serve.batch`, done by the gateway rather than in the replica).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{StatusCode, header};
use http_body_util::BodyExt;
use tokio::sync::oneshot;
use weft_proto::v1 as pb;

use super::{Gateway, Target, error_response};
use crate::{HttpBody, full_body};

/// One request waiting in a batch: its element and where its answer goes.
type Waiter = (
    serde_json::Value,
    oneshot::Sender<hyper::Response<HttpBody>>,
);

/// The batches being gathered, per deployment.
#[derive(Default)]
pub(crate) struct Batches {
    open: Mutex<HashMap<String, Open>>,
}

/// A deployment's batch being gathered.
#[derive(Default)]
struct Open {
    waiters: Vec<Waiter>,
    /// Counts the batches sent, so a timer only sends the batch it was
    /// started for.
    generation: u64,
}

impl Open {
    fn take(&mut self) -> Vec<Waiter> {
        self.generation += 1;
        std::mem::take(&mut self.waiters)
    }
}

/// What a batch is sent with.
struct Batch {
    key: String,
    route: pb::Route,
    target: Target,
    serve: Arc<pb::ServeRoute>,
    waiters: Vec<Waiter>,
}

impl Gateway {
    /// Adds a request to its deployment's batch and waits for its element
    /// of the batch's result.
    pub(super) async fn batched(
        &self,
        parts: http::request::Parts,
        body: Bytes,
        route: pb::Route,
        target: Target,
        serve: Arc<pb::ServeRoute>,
    ) -> hyper::Response<HttpBody> {
        let element: serde_json::Value = match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return error_response(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    &format!("request body is not JSON (one element of a batch): {e}"),
                );
            }
        };
        drop(parts);
        let key = format!("{}/{}", serve.app, serve.deployment);
        let _holding = super::serve::Holding::new(self.agent.serve_load.held(&key));
        let (tx, rx) = oneshot::channel();
        let max = serve.max_batch_size as usize;
        let wait = Duration::from_millis(serve.batch_wait_timeout_ms);
        let (full, first) = {
            let mut open = self.batches.open.lock().unwrap_or_else(|p| p.into_inner());
            let batch = open.entry(key.clone()).or_default();
            batch.waiters.push((element, tx));
            let first = (batch.waiters.len() == 1).then_some(batch.generation);
            let full = (batch.waiters.len() >= max).then(|| batch.take());
            (full, first)
        };
        let Some(gateway) = self.agent.gateway.get().and_then(std::sync::Weak::upgrade) else {
            return error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the gateway is shutting down",
            );
        };
        let batch = |waiters| Batch {
            key: key.clone(),
            route: route.clone(),
            target: target.clone(),
            serve: serve.clone(),
            waiters,
        };
        if let Some(waiters) = full {
            tokio::spawn(gateway.send_batch(batch(waiters)));
        } else if let Some(generation) = first {
            let later = batch(Vec::new());
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                let waiters = {
                    let mut open = gateway
                        .batches
                        .open
                        .lock()
                        .unwrap_or_else(|p| p.into_inner());
                    match open.get_mut(&later.key) {
                        Some(b) if b.generation == generation && !b.waiters.is_empty() => b.take(),
                        _ => return,
                    }
                };
                gateway.send_batch(Batch { waiters, ..later }).await;
            });
        }
        rx.await.unwrap_or_else(|_| {
            error_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "the batch this request was in was dropped",
            )
        })
    }

    /// Calls the deployment once with the batch's elements as one list
    /// (routed like any request) and hands each waiter its element.
    async fn send_batch(self: Arc<Self>, batch: Batch) {
        let Batch {
            key,
            route,
            target,
            serve,
            waiters,
        } = batch;
        let (elements, senders): (Vec<_>, Vec<_>) = waiters.into_iter().unzip();
        let n = elements.len();
        let body = serde_json::json!([elements]).to_string();
        let (parts, ()) = http::Request::builder()
            .method(http::Method::POST)
            .uri(if route.path.is_empty() {
                "/"
            } else {
                route.path.as_str()
            })
            .header(header::CONTENT_TYPE, "application/json")
            .body(())
            .expect("static request parts")
            .into_parts();
        let response = self
            .route_request(parts, Bytes::from(body), route, target, serve)
            .await;
        let (head, body) = response.into_parts();
        let bytes = body.collect().await.map(|b| b.to_bytes());
        let results = match (&bytes, head.status) {
            (Ok(bytes), StatusCode::OK) => match serde_json::from_slice(bytes) {
                Ok(serde_json::Value::Array(results)) if results.len() == n => Some(results),
                _ => None,
            },
            _ => None,
        };
        let Some(results) = results else {
            // The call failed (or answered no list of one result per
            // element): every request of the batch gets that answer.
            let bytes = bytes.unwrap_or_default();
            let status = if head.status == StatusCode::OK {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                head.status
            };
            let message = if head.status == StatusCode::OK {
                format!(
                    "deployment {key}'s function answered something other than a list of {n} \
                     results for a batch of {n}"
                )
            } else {
                String::from_utf8_lossy(&bytes).into_owned()
            };
            for tx in senders {
                let _ = tx.send(if head.status == StatusCode::OK {
                    error_response(status, "bad-batch", &message)
                } else {
                    json_response(status, bytes.clone())
                });
            }
            return;
        };
        for (tx, result) in senders.into_iter().zip(results) {
            let _ = tx.send(json_response(
                StatusCode::OK,
                Bytes::from(result.to_string()),
            ));
        }
    }
}

fn json_response(status: StatusCode, body: Bytes) -> hyper::Response<HttpBody> {
    hyper::Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full_body(body))
        .expect("static response parts")
}
