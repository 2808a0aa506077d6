//! Tune: experiments of trials the leader runs and stops early (see the
//! controller's `tune.rs`), started, watched and stopped from here. The
//! experiment lives in the cluster, not in this client: a driver that
//! goes away and comes back finds it where it is.

use std::time::Duration;

use weft_proto::v1 as pb;

use crate::jobs::new_id;
use crate::{Client, ClientError};

pub use weft_proto::v1::{TrialState, TuneExperiment, TuneSpec, TuneState, TuneStatus, TuneTrial};

impl Client {
    /// Starts an experiment and returns its record at once. `id`: `None`
    /// makes one here, so a start retried after a lost answer is still
    /// one experiment.
    pub async fn run_tune(
        &mut self,
        spec: TuneSpec,
        id: Option<String>,
    ) -> Result<TuneExperiment, ClientError> {
        let request = pb::RunTuneRequest {
            id: id.unwrap_or_else(|| new_id("tune")),
            spec: Some(spec),
        };
        self.unary(request, |mut c, r| async move { c.run_tune(r).await })
            .await
    }

    /// An experiment by id or name (the newest of that name), with its
    /// trials.
    pub async fn tune_status(&mut self, id: &str) -> Result<TuneStatus, ClientError> {
        let request = pb::GetTuneRequest { id: id.to_string() };
        self.unary(request, |mut c, r| async move { c.get_tune(r).await })
            .await
    }

    /// Every experiment the cluster keeps, newest first.
    pub async fn tune_experiments(&mut self) -> Result<Vec<TuneExperiment>, ClientError> {
        let reply = self
            .request(|mut c| async move { c.list_tune(pb::ListTuneRequest {}).await })
            .await?;
        Ok(reply.experiments)
    }

    /// Stops an experiment; returns its record.
    pub async fn stop_tune(&mut self, id: &str) -> Result<TuneExperiment, ClientError> {
        let request = pb::StopTuneRequest { id: id.to_string() };
        self.unary(request, |mut c, r| async move { c.stop_tune(r).await })
            .await
    }

    /// Waits for an experiment to end, calling `progress` with each status
    /// seen, and returns the last.
    pub async fn wait_tune(
        &mut self,
        id: &str,
        mut progress: impl FnMut(&TuneStatus),
    ) -> Result<TuneStatus, ClientError> {
        let mut poll = Duration::from_millis(20);
        loop {
            let status = self.tune_status(id).await?;
            progress(&status);
            if status
                .experiment
                .as_ref()
                .is_some_and(|e| e.state().is_finished())
            {
                return Ok(status);
            }
            tokio::time::sleep(poll).await;
            poll = (poll * 2).min(Duration::from_millis(500));
        }
    }
}
