//! Serving one HTTP request with a component that exports
//! `wasi:http/incoming-handler`: the same contract as `wasmtime serve` and
//! Spin, so the same component file runs under either.
//!
//! Each request gets a fresh instance from the pre-linked cache and the
//! pooling allocator, with the call's deadline and memory limit. The
//! response body streams from the guest as it writes it.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::Host;
use crate::cache::Prepared;
use crate::error::HostError;
use crate::grants::Grants;
use crate::invoke::{Limits, classify, store_for};
use crate::state::OutputTail;

/// A response body: what the guest streams, or what the gateway writes.
pub type HttpBody = UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// Limits and grants for one request.
#[derive(Debug, Clone, Default)]
pub struct HttpLimits {
    /// The task API the handler gets (tasks, objects, actors); what it
    /// makes is released once it finishes.
    pub tasks: Option<std::sync::Arc<dyn crate::services::TaskServices>>,
    /// Deadline for the whole request, body included; `None`: the host's default.
    pub timeout: Option<Duration>,
    /// Memory limit of the instance; `None`: the host's default.
    pub memory_limit: Option<u64>,
    /// What the component may do beyond the sandbox (outbound hosts).
    pub grants: Grants,
    /// Where the handler's output lines are kept (its route's log).
    pub log: Option<crate::services::GuestLog>,
}

impl Host {
    /// Hands `request` to the component's `wasi:http/incoming-handler` and
    /// returns its response once the guest has set it (the body may still be
    /// streaming). A guest that traps or runs past its deadline before
    /// answering is reported as [`HostError::Trap`] or [`HostError::Timeout`].
    pub async fn handle_http<B>(
        &self,
        prepared: &Prepared,
        request: hyper::Request<B>,
        limits: HttpLimits,
    ) -> Result<hyper::Response<HttpBody>, HostError>
    where
        B: hyper::body::Body<Data = Bytes, Error = hyper::Error> + Send + Sync + 'static,
    {
        let Some(proxy) = &prepared.proxy else {
            return Err(HostError::Uncallable {
                function: "wasi:http/incoming-handler.handle".into(),
                reason: "the component does not export wasi:http/incoming-handler".into(),
            });
        };
        let HttpLimits {
            tasks,
            timeout,
            memory_limit,
            grants,
            log,
        } = limits;
        let limits = Limits::new(&self.config, timeout, memory_limit)?;
        let output = OutputTail::new(self.config.output_limit);
        let function = "wasi:http/incoming-handler.handle";
        let mut store = store_for(
            &self.engine,
            prepared,
            function,
            limits,
            &output,
            grants,
            tasks.clone(),
        );

        if let Some(log) = &log {
            store.data_mut().runtime.log = Some(log.clone());
            output.log_to(log.clone());
        }
        // The last unended line is written out however the handler ends.
        let log_finish = log.map(crate::invoke::LogFinish);

        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .map_err(HostError::internal)?;
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .map_err(HostError::internal)?;
        let proxy = match proxy.instantiate_async(&mut store).await {
            Ok(p) => p,
            Err(e) => return Err(classify(e, function, limits, &store, &output)),
        };
        // The guest keeps running after it sets the response, writing the
        // body; the task owns the store until it is done, and drops it (and
        // with it the response sender) when the guest finishes or fails.
        let task = tokio::spawn(async move {
            let _log_finish = log_finish;
            let result = proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await;
            if let Some(tasks) = tasks {
                tasks.release_made();
            }
            result.map_err(|e| classify(e, function, limits, &store, &output))
        });
        match receiver.await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(code)) => Err(HostError::Trap {
                function: function.into(),
                message: format!("the handler answered with an error: {code:?}"),
            }),
            Err(_) => match task.await {
                Ok(Err(e)) => Err(e),
                Ok(Ok(())) => Err(HostError::Trap {
                    function: function.into(),
                    message: "the handler returned without setting a response".into(),
                }),
                Err(e) => Err(HostError::internal(e)),
            },
        }
    }
}

/// A complete body of bytes, as the gateway writes its own answers.
pub fn full_body(bytes: impl Into<Bytes>) -> HttpBody {
    http_body_util::Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}
