//! Large task results stay on the host that made them: the leader records
//! where, a dependent task placed here reads the value in place, one placed
//! elsewhere (and an owner's `get`) fetches it from this host's
//! `WeftHost` service. Small results travel inline with the completion.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use tonic::{Request, Response, Status};
use weft_proto::v1 as pb;

use super::Agent;

/// Results up to this size travel inline through the leader (Ray's inline
/// threshold is 100 KiB); larger ones stay here.
pub const INLINE_MAX: usize = 64 << 10;

/// The most bytes of results a host keeps for others; the oldest go first.
const KEEP_BYTES: usize = 1 << 30;

/// Results this host holds, oldest first.
#[derive(Default)]
pub(crate) struct HeldResults {
    values: HashMap<String, Arc<String>>,
    order: VecDeque<String>,
    bytes: usize,
}

impl HeldResults {
    pub(crate) fn insert(&mut self, task: String, value: String) {
        self.bytes += value.len();
        if let Some(old) = self.values.insert(task.clone(), Arc::new(value)) {
            self.bytes -= old.len();
        } else {
            self.order.push_back(task);
        }
        while self.bytes > KEEP_BYTES && self.order.len() > 1 {
            if let Some(old) = self.order.pop_front()
                && let Some(value) = self.values.remove(&old)
            {
                self.bytes -= value.len();
            }
        }
    }

    pub(crate) fn get(&self, task: &str) -> Option<Arc<String>> {
        self.values.get(task).cloned()
    }
}

impl Agent {
    fn held(&self) -> std::sync::MutexGuard<'_, HeldResults> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a large result here and returns where to find it.
    pub(crate) fn hold(&self, task: &str, value: String) -> (String, String, u64) {
        let size = value.len() as u64;
        self.held().insert(task.to_string(), value);
        (self.config.id.clone(), self.config.address.clone(), size)
    }

    /// The value of a held argument: from this host, or fetched from the
    /// one that holds it.
    pub(crate) async fn held_value(&self, arg: &pb::HeldArg) -> Result<String, String> {
        if arg.address.is_empty() || arg.address == self.config.address {
            return self
                .held()
                .get(&arg.task)
                .map(|v| v.as_ref().clone())
                .ok_or_else(|| {
                    format!(
                        "argument {}: host {} no longer holds the result of task {}",
                        arg.index + 1,
                        self.config.id,
                        arg.task
                    )
                });
        }
        weft_client::fetch_held(&arg.address, &arg.task)
            .await
            .map_err(|e| format!("argument {}: {e}", arg.index + 1))
    }
}

/// `WeftHost`: serves held results to other hosts and to clients.
pub struct HostService {
    agent: Arc<Agent>,
}

impl HostService {
    /// The tonic server for `agent`'s held results.
    pub fn server(agent: Arc<Agent>) -> pb::weft_host_server::WeftHostServer<Self> {
        pb::weft_host_server::WeftHostServer::new(HostService { agent })
            .max_encoding_message_size(super::MAX_RESULT + (1 << 20))
    }
}

#[tonic::async_trait]
impl pb::weft_host_server::WeftHost for HostService {
    async fn fetch_result(
        &self,
        request: Request<pb::FetchResultRequest>,
    ) -> Result<Response<pb::FetchResultResponse>, Status> {
        let task = request.into_inner().task;
        let value = self.agent.held().get(&task).ok_or_else(|| {
            Status::not_found(format!(
                "host {} no longer holds the result of task {task}",
                self.agent.config.id
            ))
        })?;
        Ok(Response::new(pb::FetchResultResponse {
            value: value.as_ref().clone(),
        }))
    }
}
