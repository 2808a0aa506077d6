//! A deploy's second half, as the controller drives it: every live host
//! makes the component ready and reports how long it took (`crate::prepare`
//! holds the events and the waiting).

use std::collections::HashSet;
use std::time::Duration;

use tokio::sync::mpsc;
use tonic::Status;
use weft_proto::v1 as pb;

use crate::controller::Controller;
use crate::error::ControllerError;
use crate::prepare::{
    DEFAULT_PREPARE_TIMEOUT, LIVENESS_CHECK, PrepareEvents, event, failed, sorted,
};

impl Controller {
    /// Asks every live host to make `component` ready and streams one event
    /// per host as each finishes, after a first event naming them. A host
    /// that dies first is reported as failed; the stream ends when every
    /// host has reported or `timeout` (default 10 minutes) passes.
    pub async fn prepare(
        &self,
        component: &str,
        timeout: Option<Duration>,
    ) -> Result<PrepareEvents, ControllerError> {
        self.ensure_leader().await?;
        let (digest, _) = self.exports(component).await?;
        let (hosts, mut reports) = self.tasks.prepare(&digest);
        let (tx, rx) = mpsc::unbounded_channel();
        let started = pb::PrepareStarted {
            digest: digest.clone(),
            hosts: hosts.clone(),
        };
        let _ = tx.send(Ok(event(pb::prepare_event::Kind::Started(started))));
        let tasks = self.tasks.clone();
        let deadline = tokio::time::Instant::now() + timeout.unwrap_or(DEFAULT_PREPARE_TIMEOUT);
        tokio::spawn(async move {
            let mut waiting: HashSet<String> = hosts.into_iter().collect();
            let mut check = tokio::time::interval(LIVENESS_CHECK);
            while !waiting.is_empty() {
                let report = tokio::select! {
                    report = reports.recv() => report,
                    _ = check.tick() => {
                        let dead: Vec<String> = waiting
                            .iter()
                            .filter(|h| !tasks.host_alive(h))
                            .cloned()
                            .collect();
                        for host in dead {
                            waiting.remove(&host);
                            let gone = failed(&digest, host, "the host left the cluster first");
                            let _ = tx.send(Ok(gone));
                        }
                        continue;
                    }
                    _ = tokio::time::sleep_until(deadline) => {
                        let message = format!(
                            "{} host(s) had not finished preparing {digest} in time: {}",
                            waiting.len(),
                            sorted(&waiting).join(", ")
                        );
                        let _ = tx.send(Err(Status::deadline_exceeded(message)));
                        return;
                    }
                };
                let Some(report) = report else { return };
                // A host's own answer counts once: a second deploy's
                // prepare of the same digest may report to both waiters.
                if waiting.remove(&report.host) {
                    let _ = tx.send(Ok(event(pb::prepare_event::Kind::Prepared(report))));
                }
            }
        });
        Ok(rx)
    }
}
