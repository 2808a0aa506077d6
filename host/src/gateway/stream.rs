//! Streaming function deployments (`stream: true`): each value the export
//! emits (`tasks.emit`, as a streaming task does) goes to the client at
//! once as one line of JSON (`application/x-ndjson`), and the call's
//! result, when it has one, ends the body. The status waits for the first
//! item or the end, so a call that fails before emitting is answered with
//! its failure's status; one that fails later cuts the body.
//!
//! The lines pass through a small bounded channel, so a guest that emits
//! faster than its client reads waits in `emit`: the client's backpressure
//! reaches the guest. A client that goes away stops the call.

use bytes::Bytes;
use http::{StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Frame;
use tokio::sync::mpsc;

use super::serve::Replica;
use super::{Failure, Target, from_error};
use crate::HttpBody;
use crate::agent::stream::Emitter;

/// Lines emitted but not yet taken by the response body.
const WINDOW: usize = 16;

/// The content type of a streamed answer: one JSON value per line.
pub const NDJSON: &str = "application/x-ndjson";

impl super::Gateway {
    /// Calls `function` on `replica` with JSON `args`, streaming what it
    /// emits; holds `permit` (the replica's slot) until the call ends.
    pub(super) async fn stream_json(
        &self,
        target: Target,
        function: String,
        args: serde_json::Value,
        replica: Replica<'_>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> hyper::Response<HttpBody> {
        let (prepared, context, invocation) = match self
            .json_invocation(target, function, args, Some(&replica))
            .await
        {
            Ok(call) => call,
            Err(response) => return response,
        };
        let (lines, mut emitted) = mpsc::channel::<Bytes>(WINDOW);
        let what = format!("the request on replica {}", replica.id);
        context.set_stream(Some(Emitter::for_response(what, lines)));
        let host = self.agent.host().clone();
        let mut call = tokio::spawn(async move {
            let outcome = host.call(&prepared, invocation).await;
            // The emitter goes with the stream: the lines end here.
            context.set_stream(None);
            context.release_made();
            drop(permit);
            outcome
        });
        let first = emitted.recv().await;
        if first.is_none() {
            // Nothing emitted: the answer is the call's, status and all.
            return match (&mut call).await {
                Ok(Ok(outcome)) => answer(None, outcome.result),
                Ok(Err(e)) => from_error(Failure::Host(e)),
                Err(e) => from_error(Failure::Host(crate::HostError::Internal(format!(
                    "the streaming call stopped: {e}"
                )))),
            };
        }
        let (frames, body) = mpsc::channel::<Result<Frame<Bytes>, wasmtime_wasi_http::Error>>(1);
        tokio::spawn(async move {
            let mut next = first;
            while let Some(line) = next {
                if frames.send(Ok(Frame::data(line))).await.is_err() {
                    // The client went away: so does the call.
                    call.abort();
                    return;
                }
                next = emitted.recv().await;
            }
            let last = match call.await {
                Ok(Ok(outcome)) => last_line(outcome.result).map(|l| Ok(Frame::data(l))),
                Ok(Err(e)) => Some(Err(cut(e.to_string()))),
                Err(e) => Some(Err(cut(e.to_string()))),
            };
            if let Some(last) = last {
                let _ = frames.send(last).await;
            }
        });
        let body =
            http_body_util::StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(body));
        answer(Some(body.boxed_unsync()), None)
    }
}

/// A 200 streaming `body`, or one holding only `result`'s line.
fn answer(body: Option<HttpBody>, result: Option<String>) -> hyper::Response<HttpBody> {
    let body = body.unwrap_or_else(|| crate::full_body(last_line(result).unwrap_or_default()));
    hyper::Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, NDJSON)
        .body(body)
        .expect("static response parts")
}

/// The result's line, unless the export returns nothing.
fn last_line(result: Option<String>) -> Option<Bytes> {
    result
        .filter(|r| r != "null")
        .map(|r| Bytes::from(format!("{r}\n")))
}

/// The error that cuts a streamed body after its status was sent.
fn cut(why: String) -> wasmtime_wasi_http::Error {
    tracing::warn!(why, "a streaming Serve call failed after its first item");
    wasmtime_wasi_http::Error::InternalError(Some(why))
}
