//! The transport of the host embedded in `weft up`: its agent talks to
//! this process's task manager over channels instead of a gRPC stream, so
//! a task costs no network hop. Everything else (registration, batches,
//! heartbeats, reconnection) is the same code as a remote host's. The
//! leader also hands calls that fit straight to it ([`HandedCalls`]).

use std::sync::{Arc, Weak};

use weft_controller::{Controller, LocalHost, TaskManager};
use weft_host::agent::{Agent, BoxFuture, Connector, EventSink, Link, LinkError};
use weft_proto::v1 as pb;

/// Connects an agent to the controller in the same process.
pub struct LocalConnector {
    controller: Weak<Controller>,
}

impl LocalConnector {
    /// A connector to `controller` (held weakly: the agent does not keep
    /// a stopped controller alive).
    pub fn new(controller: &Arc<Controller>) -> Self {
        LocalConnector {
            controller: Arc::downgrade(controller),
        }
    }

    fn controller(&self) -> Result<Arc<Controller>, LinkError> {
        self.controller.upgrade().ok_or(LinkError::Stopped)
    }
}

/// Hands the embedded host's events straight to the task manager.
struct LocalSink {
    tasks: Arc<TaskManager>,
    id: String,
    connection: u64,
}

impl EventSink for LocalSink {
    fn send(&self, event: pb::HostEvent) -> bool {
        if let Some(kind) = event.kind {
            self.tasks.host_event(&self.id, self.connection, kind);
        }
        true
    }
}

impl Drop for LocalSink {
    fn drop(&mut self) {
        self.tasks
            .host_disconnected(&self.id, self.connection, "closed its session");
    }
}

impl Connector for LocalConnector {
    fn connect(
        &self,
        registration: pb::HostRegistration,
    ) -> BoxFuture<'_, Result<Link, LinkError>> {
        Box::pin(async move {
            let controller = self.controller()?;
            let id = registration.id.clone();
            let (connection, commands) = controller
                .connect_host(registration)
                .await
                .map_err(|e| LinkError::Controller(Box::new(e)))?;
            let events = Arc::new(LocalSink {
                tasks: controller.tasks().clone(),
                id,
                connection,
            });
            Ok(Link { events, commands })
        })
    }

    fn fetch_component<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<Vec<u8>, LinkError>> {
        Box::pin(async move {
            self.controller()?
                .component_bytes(digest)
                .await
                .map_err(|e| LinkError::Controller(Box::new(e)))
        })
    }
}

/// The embedded host as the leader's fast path for calls sees it.
pub struct HandedCalls(pub Arc<Agent>);

impl LocalHost for HandedCalls {
    fn id(&self) -> &str {
        self.0.id()
    }

    fn run(&self, assignment: pb::Assignment) -> BoxFuture<'static, (pb::TaskResult, Vec<String>)> {
        Box::pin(self.0.clone().run_handed(assignment))
    }
}
