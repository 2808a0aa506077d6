//! Serving one HTTP request with a component that exports
//! `wasi:http/incoming-handler`: the same contract as `wasmtime serve` and
//! Spin, so the same component file runs under either.
//!
//! Each request gets a fresh instance from the pre-linked cache and the
//! pooling allocator, with the call's deadline and memory limit, unless it
//! allows reuse (a Serve replica's requests share the replica's instances,
//! kept as `warm.rs` keeps a task's). The response body streams from the
//! guest as it writes it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::Proxy;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;

use crate::Host;
use crate::cache::Prepared;
use crate::error::HostError;
use crate::grants::Grants;
use crate::invoke::{CallStore, Limits, classify};
use crate::warm::Warm;

/// A response body: what the guest streams, or what the gateway writes.
pub type HttpBody = UnsyncBoxBody<Bytes, wasmtime_wasi_http::Error>;

/// Limits and grants for one request.
#[derive(Debug, Clone, Default)]
pub struct HttpLimits {
    /// The task API the handler gets (tasks, objects, actors); what it
    /// makes is released once it finishes.
    pub tasks: Option<Arc<dyn crate::services::TaskServices>>,
    /// Deadline for the whole request, body included; `None`: the host's default.
    pub timeout: Option<Duration>,
    /// Memory limit of the instance; `None`: the host's default.
    pub memory_limit: Option<u64>,
    /// What the component may do beyond the sandbox (outbound hosts).
    pub grants: Grants,
    /// Where the handler's output lines are kept (its route's log).
    pub log: Option<crate::services::GuestLog>,
    /// Whether the request may run on an instance earlier requests of the
    /// same scope used (a Serve replica's), and leave its own for later
    /// ones; `None`: a fresh instance.
    pub reuse: Option<crate::Reuse>,
    /// A call its instance makes first, unless it made this one already
    /// (a Serve replica's `reconfigure`).
    pub setup: Option<crate::Setup>,
}

impl Host {
    /// Hands `request` to the component's `wasi:http/incoming-handler` and
    /// returns its response once the guest has set it (the body may still be
    /// streaming). A guest that traps or runs past its deadline before
    /// answering is reported as [`HostError::Trap`] or [`HostError::Timeout`].
    pub async fn handle_http<B>(
        &self,
        prepared: &Arc<Prepared>,
        request: hyper::Request<B>,
        limits: HttpLimits,
    ) -> Result<hyper::Response<HttpBody>, HostError>
    where
        B: hyper::body::Body<Data = Bytes, Error = hyper::Error> + Send + Sync + 'static,
    {
        let Some(proxy_pre) = &prepared.proxy else {
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
            reuse,
            setup,
        } = limits;
        let limits = Limits::new(&self.config, timeout, memory_limit)?;
        let function = "wasi:http/incoming-handler.handle";
        // An instance an earlier request of the same scope left, if any.
        let CallStore {
            mut store,
            instance: kept_instance,
            output,
            served,
            setup: made,
        } = self.call_store(
            prepared,
            function,
            limits,
            grants,
            tasks.clone(),
            reuse.as_ref(),
            false,
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
        // A request that may be kept needs the instance itself; one that
        // may not takes the bindings' faster way in.
        let (proxy, instance) = match kept_instance {
            Some(instance) => (
                Proxy::new(&mut store, &instance).map_err(HostError::internal)?,
                Some(instance),
            ),
            None if reuse.is_some() || setup.is_some() => {
                let instance = match proxy_pre.instance_pre().instantiate_async(&mut store).await {
                    Ok(i) => i,
                    Err(e) => return Err(classify(e, function, limits, &store, &output)),
                };
                let proxy = Proxy::new(&mut store, &instance).map_err(HostError::internal)?;
                (proxy, Some(instance))
            }
            None => match proxy_pre.instantiate_async(&mut store).await {
                Ok(p) => (p, None),
                Err(e) => return Err(classify(e, function, limits, &store, &output)),
            },
        };
        let made = match &instance {
            Some(instance) => {
                crate::invoke::run_setup(
                    prepared, &mut store, instance, setup, made, limits, &output,
                )
                .await?
            }
            None => made,
        };
        // The guest keeps running after it sets the response, writing the
        // body; the task owns the store until it is done, and drops it (and
        // with it the response sender) when the guest finishes or fails,
        // or keeps it for the scope's next request.
        let (prepared, maker) = (prepared.clone(), self.maker.clone());
        let task = tokio::spawn(async move {
            let _log_finish = log_finish;
            let result = proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, req, out)
                .await;
            if let Some(tasks) = tasks {
                tasks.release_made();
            }
            if let Err(e) = result {
                return Err(classify(e, function, limits, &store, &output));
            }
            if let (Some(reuse), Some(instance)) = (&reuse, instance) {
                let warm = Warm::used(store, instance, output, limits, reuse, served + 1, made);
                maker.keep(&prepared, warm, reuse.max_calls);
            }
            Ok(())
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
