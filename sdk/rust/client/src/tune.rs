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

    /// Goes on with an ended or stopped experiment: the trials its stop
    /// cut short run again (and its ERROR ones with `restart_errored`),
    /// with `num_samples` samples (0: as many as it had) and a new
    /// `param_space` (empty: its own) for the trials not yet ended.
    pub async fn resume_tune(
        &mut self,
        id: &str,
        num_samples: u32,
        param_space: &str,
        restart_errored: bool,
    ) -> Result<TuneExperiment, ClientError> {
        let request = pb::ResumeTuneRequest {
            id: id.to_string(),
            num_samples,
            param_space: param_space.to_string(),
            restart_errored,
        };
        self.unary(request, |mut c, r| async move { c.resume_tune(r).await })
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

/// The best trial of an ended or running experiment: the best value of
/// the metric any trial reported.
pub fn best_trial(status: &TuneStatus) -> Option<&TuneTrial> {
    let max = status
        .experiment
        .as_ref()
        .and_then(|e| e.spec.as_ref())
        .is_none_or(|s| s.mode != "min");
    status
        .trials
        .iter()
        .filter_map(|t| t.best.map(|b| (t, if max { b } else { -b })))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.index.cmp(&a.0.index)))
        .map(|(t, _)| t)
}

/// The status as JSON: results and configs as values, not text.
pub fn status_json(status: &TuneStatus) -> serde_json::Value {
    let parse = |text: &str| serde_json::from_str(text).unwrap_or(serde_json::Value::Null);
    let experiment = status.experiment.clone().unwrap_or_default();
    let spec = experiment.spec.clone().unwrap_or_default();
    serde_json::json!({
        "id": experiment.id,
        "name": spec.name,
        "state": experiment.state().name(),
        "reason": experiment.reason,
        "metric": spec.metric,
        "mode": spec.mode,
        "seed": experiment.seed,
        "total_trials": experiment.total_trials,
        "best_trial": best_trial(status).map(|t| t.id.clone()),
        "trials": status.trials.iter().map(|t| serde_json::json!({
            "id": t.id,
            "index": t.index,
            "state": t.state().name(),
            "config": parse(&t.config),
            "results": t.results.iter().map(|r| parse(r)).collect::<Vec<_>>(),
            "best": t.best,
            "best_iteration": t.best_iteration,
            "failures": t.failures,
            "error": t.error,
            "stopped_by": t.stopped_by,
            "exploited": t.exploited,
            "time_ms": t.ended_ms.saturating_sub(t.started_ms),
        })).collect::<Vec<_>>(),
    })
}

/// An experiment's spec as SDKs in other languages write it: JSON with
/// the fields of [`TuneSpec`], `param_space` and `scheduler` as objects
/// (or their JSON text), and `timeout_s` for the deadline in seconds.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecJson {
    #[serde(default)]
    name: String,
    component: String,
    function: String,
    param_space: serde_json::Value,
    metric: String,
    #[serde(default = "max")]
    mode: String,
    #[serde(default)]
    num_samples: u32,
    #[serde(default)]
    max_concurrent_trials: u32,
    #[serde(default)]
    scheduler: serde_json::Value,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    cpus: f64,
    #[serde(default)]
    timeout_s: f64,
    #[serde(default)]
    max_failures: u32,
    #[serde(default)]
    stop_at: Option<f64>,
    #[serde(default)]
    stop_iterations: u32,
    #[serde(default)]
    search_alg: String,
    #[serde(default)]
    placement_group_bundles: Vec<std::collections::BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    placement_group_strategy: Option<String>,
}

fn max() -> String {
    "max".into()
}

/// Reads a [`TuneSpec`] from its JSON form (see [`SpecJson`]'s fields),
/// naming what is wrong.
pub fn spec_from_json(text: &str) -> Result<TuneSpec, String> {
    let spec: SpecJson =
        serde_json::from_str(text).map_err(|e| format!("not an experiment spec: {e}"))?;
    let as_text = |v: serde_json::Value| match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    let placement_group_bundles = spec
        .placement_group_bundles
        .iter()
        .enumerate()
        .map(|(i, b)| crate::serve::bundle_of(b).map_err(|e| format!("bundle {i}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let placement_group_strategy = match &spec.placement_group_strategy {
        None => pb::PlacementStrategy::Pack,
        Some(name) => pb::PlacementStrategy::parse(name).map_err(|e| e.to_string())?,
    };
    Ok(TuneSpec {
        placement_group_bundles,
        placement_group_strategy: placement_group_strategy.into(),
        name: spec.name,
        component: spec.component,
        function: spec.function,
        param_space: as_text(spec.param_space),
        metric: spec.metric,
        mode: spec.mode,
        num_samples: spec.num_samples,
        max_concurrent_trials: spec.max_concurrent_trials,
        scheduler: as_text(spec.scheduler),
        seed: spec.seed,
        cpus: spec.cpus,
        timeout_ms: (spec.timeout_s.max(0.0) * 1000.0) as u64,
        max_failures: spec.max_failures,
        stop_at: spec.stop_at,
        stop_iterations: spec.stop_iterations,
        search_alg: spec.search_alg,
    })
}

/// Experiments as JSON: what `weft tune list` shows, one object each.
pub fn experiments_json(experiments: &[TuneExperiment]) -> serde_json::Value {
    experiments
        .iter()
        .map(|e| {
            let spec = e.spec.clone().unwrap_or_default();
            serde_json::json!({
                "id": e.id,
                "name": spec.name,
                "state": e.state().name(),
                "reason": e.reason,
                "component": spec.component,
                "function": spec.function,
                "metric": spec.metric,
                "mode": spec.mode,
                "total_trials": e.total_trials,
                "started_ms": e.started_ms,
                "ended_ms": e.ended_ms,
            })
        })
        .collect()
}
