//! `weft call`, as the controller serves it: type the call, run it as a
//! task of a short-lived owner (or on the host in this process), and wait
//! for its reply (`crate::call` holds the options, the reply and the
//! local-host seam).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use weft_proto::v1 as pb;
use weft_values::CallText;

use crate::call::{
    CallOptions, CallReply, HOST_WAIT, LocalHost, OwnerGuard, TypedCall, arg, render,
};
use crate::controller::Controller;
use crate::error::ControllerError;
use crate::tasks::Target;

impl Controller {
    /// Names the host in this process, for the fast path of calls; the
    /// first one named stays.
    pub fn set_local_host(&self, host: Arc<dyn LocalHost>) {
        let _ = self.local_host.set(host);
    }

    /// Runs `text` against `component` as a task and waits for it.
    pub async fn call(
        &self,
        component: &str,
        text: CallText,
        options: CallOptions,
    ) -> Result<CallReply, ControllerError> {
        self.ensure_leader().await?;
        let TypedCall {
            digest,
            function,
            args,
        } = self.typed_call(component, text).await?;
        // A direct call runs in its component's default runtime
        // environment, if it has one.
        let defaults = self.default_env(&digest).unwrap_or_default();
        let task_options = pb::TaskOptions {
            timeout_ms: options.timeout.map_or(0, |t| t.as_millis() as u64),
            memory_limit_bytes: options.memory_limit.unwrap_or(0),
            sync_call: true,
            env: defaults.env.clone(),
            config: defaults.config.clone(),
            secrets: defaults.secrets.clone(),
            dirs: defaults.dirs.clone(),
            ..Default::default()
        };
        let term = self.raft.metrics().borrow().current_term;
        let allow_http = self.state.http_grants(&digest)?;
        if let Some(local) = self.local_host.get() {
            let n = self.local_calls.fetch_add(1, Ordering::Relaxed);
            let id = format!("call.{}.{term}.local-{n}", self.config.id);
            let label = format!("{component}.{function}");
            if let Some(reservation) = self.tasks.reserve_local_call(local.id(), &id, label) {
                let run = local.run(pb::Assignment {
                    id,
                    attempt: 1,
                    digest,
                    function: function.clone(),
                    args,
                    timeout_ms: task_options.timeout_ms,
                    memory_limit_bytes: task_options.memory_limit_bytes,
                    allow_http,
                    cpus: 1.0,
                    sync_call: true,
                    env: defaults.env,
                    config: defaults.config,
                    secrets: defaults.secrets,
                    dirs: defaults.dirs,
                    ..Default::default()
                });
                // Run in this request: a caller that goes away cancels the
                // call, as `weft cancel` would, and its reservation is
                // given back as it drops.
                let (result, made) = run.await;
                reservation.end(&result, &made);
                return render(result, &function, &options);
            }
        }
        self.wait_for_a_host().await?;
        let target = Target { allow_http, digest };

        let (owner, mut events) = self.tasks.open_owner();
        let _guard = OwnerGuard {
            tasks: &self.tasks,
            owner,
        };
        let id = format!("call.{}.{term}.{owner}-1", self.config.id);
        let spec = pb::TaskSpec {
            id: id.clone(),
            component: component.to_string(),
            function: function.clone(),
            args,
            options: Some(task_options),
        };
        self.tasks.submit(owner, vec![(spec, Ok(target))]);
        let result = loop {
            let Some(event) = events.recv().await else {
                return Err(ControllerError::NoQuorum(
                    "this replica stopped leading while the call ran; retry it".into(),
                ));
            };
            let event = event.map_err(|s| ControllerError::Raft(s.message().to_string()))?;
            if let Some(result) = event.finished.into_iter().find(|r| r.id == id) {
                break result;
            }
        };
        render(result, &function, &options)
    }
}
impl Controller {
    /// Resolves `component` and types `text` by the function it names:
    /// what a call and a job's entry have to know before they run.
    pub(crate) async fn typed_call(
        &self,
        component: &str,
        text: CallText,
    ) -> Result<TypedCall, ControllerError> {
        let (digest, exports) = self.exports(component).await?;
        let (export, args) = weft_values::parse_call(&exports, |e| e, text)?;
        if let Some((name, _)) = export
            .signature
            .params
            .iter()
            .find(|(_, t)| !t.is_passable())
        {
            return Err(ControllerError::InvalidRequest(format!(
                "function `{}` cannot be called from outside the component: parameter `{name}` is a resource or stream handle",
                export.name()
            )));
        }
        Ok(TypedCall {
            digest,
            function: export.name(),
            args: args.iter().map(arg).collect(),
        })
    }
}
impl Controller {
    /// A task queues until a host can take it, but a synchronous call with
    /// no host at all would just hang: it says so instead.
    pub(crate) async fn wait_for_a_host(&self) -> Result<(), ControllerError> {
        let deadline = tokio::time::Instant::now() + HOST_WAIT;
        while !self.tasks.any_host_alive() {
            if tokio::time::Instant::now() >= deadline {
                return Err(ControllerError::CallFailed {
                    kind: weft_proto::FailureKind::Infeasible,
                    message: "no host is alive to run the call: start one with `weft host --controller ADDRESSES ...` (user code runs only on hosts)".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}
