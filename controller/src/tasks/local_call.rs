//! The fast path of `weft call` on a leader whose process also runs a
//! host (`weft up`'s embedded one).
//!
//! A call taken as a task goes through an owner session of its own, the
//! queue, the host's command channel and its completion report: about
//! 50 µs of a 0.3 ms call on this path, spent in locks and in waking the
//! tasks on either side. When the host in this process has room now and
//! no task waits in the queue, the leader instead reserves the call's cpu
//! on that host in the task table, exactly as a placed task's, and hands
//! the call to the host directly. The call is still scheduled (it never
//! passes queued tasks, and a busy host sends it the task's way), still
//! counted against the host's resources, still recorded as submitted,
//! scheduled and finished, and still runs only in the host's runtime.

use std::sync::Arc;

use weft_proto::v1 as pb;

use super::TaskManager;
use crate::scheduler::Resources;

/// A call's reservation on the host in this process; given back when the
/// call ends, or when it is dropped unfinished.
pub(crate) struct LocalCall {
    tasks: Arc<TaskManager>,
    host: String,
    id: String,
    demand: Resources,
    ended: bool,
}

impl TaskManager {
    /// Reserves one cpu on `host` for call `id`, if it has one free now
    /// and nothing is queued.
    pub(crate) fn reserve_local_call(
        self: &Arc<Self>,
        host: &str,
        id: &str,
        label: String,
    ) -> Option<LocalCall> {
        let demand = Resources {
            cpus: 1.0,
            ..Resources::default()
        };
        self.with(|t| t.reserve_local(host, id, label, &demand))
            .then(|| LocalCall {
                tasks: self.clone(),
                host: host.to_string(),
                id: id.to_string(),
                demand,
                ended: false,
            })
    }
}

impl LocalCall {
    /// Ends the call with `result`; `made` are the objects its guest made,
    /// which nothing holds once the reply is rendered.
    pub(crate) fn end(mut self, result: &pb::TaskResult, made: &[String]) {
        self.ended = true;
        self.tasks
            .with(|t| t.end_local(&self.host, &self.id, &self.demand, Some((result, made))));
    }
}

impl Drop for LocalCall {
    fn drop(&mut self) {
        if !self.ended {
            self.tasks
                .with(|t| t.end_local(&self.host, &self.id, &self.demand, None));
        }
    }
}
