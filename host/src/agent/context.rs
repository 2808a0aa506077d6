//! What a guest running as a task may do with other tasks: submit, wait,
//! get and cancel, as the owner its host is. While the guest waits, its
//! task's cpus are lent back to the scheduler, so a tree of tasks that
//! each wait on their children cannot deadlock the slots.

use std::sync::Arc;
use std::time::Duration;

use weft_client::{ClientError, Submission, TaskResult};
use weft_proto::v1 as pb;

use super::Agent;

/// The task API of one running task.
pub struct TaskContext {
    agent: Arc<Agent>,
    task: String,
    cpus: f64,
}

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("task", &self.task)
            .finish()
    }
}

impl TaskContext {
    pub(crate) fn new(agent: Arc<Agent>, task: String, cpus: f64) -> Self {
        TaskContext { agent, task, cpus }
    }

    pub(crate) async fn submit(&self, submission: Submission) -> Result<String, ClientError> {
        let client = self.agent.nested().await?;
        let mut ids = client.submit_batch(vec![submission])?;
        Ok(ids.remove(0))
    }

    /// Waits for `num_ready` of `ids`, with the task's cpus lent out.
    pub(crate) async fn wait(
        &self,
        ids: &[String],
        num_ready: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<TaskResult>, ClientError> {
        let client = self.agent.nested().await?;
        self.agent
            .send(pb::host_event::Kind::Blocked(self.task.clone()));
        let lent = self.agent.lend(self.cpus);
        let outcome = client.wait(ids, num_ready, timeout).await;
        drop(lent);
        self.agent
            .send(pb::host_event::Kind::Unblocked(self.task.clone()));
        Ok(outcome?.0)
    }

    /// A large result's value, from this host or the one holding it.
    pub(crate) async fn held_value(&self, task: &str, address: &str) -> Result<String, String> {
        let arg = pb::HeldArg {
            index: 0,
            task: task.to_string(),
            address: address.to_string(),
        };
        self.agent.held_value(&arg).await
    }

    pub(crate) async fn cancel(&self, id: &str) -> Result<(), ClientError> {
        self.agent.nested().await?.cancel(id).await.map(|_| ())
    }
}
