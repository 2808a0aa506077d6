//! The controller's task operations: resolve what owners submit, and hand
//! tasks and host sessions to the leader's [`TaskManager`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use weft_proto::HasRuntimeEnv;
use weft_proto::v1 as pb;

use crate::controller::Controller;
use crate::error::ControllerError;
use crate::tasks::{HostCommands, OwnerEvents, Target, TaskManager};

impl Controller {
    /// The leader's task table (empty on a follower).
    pub fn tasks(&self) -> &Arc<TaskManager> {
        &self.tasks
    }

    /// Opens an owner session on the leader.
    pub async fn open_owner(&self) -> Result<(u64, OwnerEvents), ControllerError> {
        self.ensure_leader().await?;
        Ok(self.tasks.open_owner())
    }

    /// Records a batch of tasks from an owner session. Components are
    /// resolved here, once per distinct name in the batch.
    pub fn submit_tasks(&self, owner: u64, specs: Vec<pb::TaskSpec>) {
        let mut resolved: HashMap<String, (crate::tasks::Resolved, Option<pb::RuntimeEnv>)> =
            HashMap::new();
        let batch = specs
            .into_iter()
            .map(|mut spec| {
                let (target, defaults) = resolved
                    .entry(spec.component.clone())
                    .or_insert_with(|| {
                        let target = self
                            .target(&spec.component)
                            .map_err(|e| (weft_proto::FailureKind::NotFound, e.to_string()));
                        let defaults = target
                            .as_ref()
                            .ok()
                            .and_then(|t| self.default_env(&t.digest));
                        (target, defaults)
                    })
                    .clone();
                if let Some(defaults) = defaults {
                    let options = spec.options.get_or_insert_with(Default::default);
                    options.env_parts().fill_from(&defaults);
                }
                (spec, target)
            })
            .collect();
        self.tasks.submit(owner, batch);
    }

    pub(crate) fn target(&self, reference: &str) -> Result<Target, ControllerError> {
        let digest = self.state.resolve(reference)?;
        let allow_http = self.state.http_grants(&digest)?;
        Ok(Target { digest, allow_http })
    }

    /// Registers a host with the leader.
    pub async fn connect_host(
        &self,
        registration: pb::HostRegistration,
    ) -> Result<(u64, HostCommands), ControllerError> {
        self.ensure_leader().await?;
        if registration.id.is_empty() {
            return Err(ControllerError::InvalidRequest(
                "a host must register with an id".into(),
            ));
        }
        Ok(self.tasks.connect_host(registration))
    }

    /// Results of tasks, waiting up to `timeout` for `num_ready` of them.
    pub async fn get_tasks(
        &self,
        ids: &[String],
        num_ready: usize,
        timeout: Duration,
    ) -> Result<(Vec<pb::TaskResult>, Vec<String>), ControllerError> {
        self.ensure_leader().await?;
        self.tasks.get(ids, num_ready, timeout).await
    }

    /// What waits for room no live host has now, for an autoscaler.
    pub async fn demand(&self) -> Result<Vec<pb::Demand>, ControllerError> {
        self.ensure_leader().await?;
        Ok(self.tasks.demand())
    }

    /// Cancels a task.
    pub async fn cancel_task(&self, id: &str) -> Result<bool, ControllerError> {
        self.ensure_leader().await?;
        self.tasks.cancel(id)
    }
}
