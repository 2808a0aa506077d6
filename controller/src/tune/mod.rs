//! Tune: hyperparameter search as the leader runs it.
//!
//! An experiment is a record in the replicated state (`Command::PutTune`)
//! naming a trainable (a component function), a search space, a metric and
//! a scheduler. The leader runs its trials as streaming tasks: each result
//! a trial reports is an item of its stream, which the leader reads,
//! records and hands to the scheduler, and a trial the scheduler stops is
//! canceled. A trial is written to the replicated state when it starts
//! (with its config) and when it ends, so a new leader (or a driver that
//! comes back) finds every ended trial exactly once and runs again, with
//! the configs they had, only the ones that had not ended.
//!
//! This module keeps the records and the rules for them; running them is
//! `controller/tune.rs`'s.

pub mod schedulers;
pub mod search;
pub mod space;

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use weft_proto::v1 as pb;

use crate::error::ControllerError;
use schedulers::{Mode, SchedulerSpec};
use space::{MAX_TRIALS, Space};

/// Longest result (as JSON) a trial keeps; a larger one is refused.
pub const MAX_RESULT_BYTES: usize = 16 << 10;
/// Most results a trial keeps: later ones count but only the last are
/// kept, so a trial of millions of iterations cannot fill the state.
pub const MAX_RESULTS_KEPT: usize = 1_000;

/// What an experiment's spec makes, checked before anything runs.
pub struct Plan {
    /// The search space.
    pub space: Space,
    /// The scheduler.
    pub scheduler: SchedulerSpec,
    /// Which way the metric is better.
    pub mode: Mode,
    /// Trials in all: the grid times `num_samples`.
    pub total: u32,
    /// Whether configs come from TPE rather than the basic variant search.
    pub tpe: bool,
}

impl Plan {
    /// Checks `spec`, naming what is wrong.
    pub fn new(spec: &pb::TuneSpec) -> Result<Plan, ControllerError> {
        let bad = |m: String| ControllerError::InvalidRequest(m);
        if spec.component.is_empty() || spec.function.is_empty() {
            return Err(bad(
                "an experiment names a component and its function".into()
            ));
        }
        if spec.metric.is_empty() {
            return Err(bad(
                "an experiment names the metric to compare trials by".into()
            ));
        }
        let mode = Mode::parse(&spec.mode).map_err(bad)?;
        let space = Space::parse_text(&spec.param_space).map_err(|e| bad(e.to_string()))?;
        let scheduler = SchedulerSpec::parse(&spec.scheduler).map_err(bad)?;
        let samples = u64::from(spec.num_samples.max(1));
        let total = space.grid_size().saturating_mul(samples);
        if total > MAX_TRIALS {
            return Err(bad(format!(
                "the experiment would run {total} trials (the grid times num_samples); at most {MAX_TRIALS}"
            )));
        }
        let tpe = match spec.search_alg.as_str() {
            "" | "random" => false,
            "tpe" => {
                search::check(&space).map_err(|e| bad(format!("search_alg {e}")))?;
                true
            }
            other => {
                return Err(bad(format!(
                    "search_alg `{other}` is not one: use random or tpe"
                )));
            }
        };
        if !spec.cpus.is_finite() || spec.cpus < 0.0 {
            return Err(bad(format!(
                "cpus per trial ({}) must be 0 or more",
                spec.cpus
            )));
        }
        Ok(Plan {
            space,
            scheduler,
            mode,
            total: total as u32,
            tpe,
        })
    }
}

/// Trial `index` of experiment `experiment`'s id.
pub fn trial_id(experiment: &str, index: u32) -> String {
    format!("{experiment}_{index:05}")
}

/// The replicated-state key of an experiment's record.
pub fn experiment_key(id: &str) -> String {
    format!("e/{id}")
}

/// The replicated-state key of a trial's record.
pub fn trial_key(experiment: &str, index: u32) -> String {
    format!("t/{experiment}/{index:08}")
}

/// Why a result cannot be taken.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ResultError {
    /// The metric is not a number in it.
    #[error("the result has no numeric `{metric}` (it has {fields})")]
    NoMetric {
        /// The metric.
        metric: String,
        /// What it has.
        fields: String,
    },
    /// It is too large to keep.
    #[error("a result of {0} bytes is larger than a trial keeps ({MAX_RESULT_BYTES})")]
    TooLarge(usize),
}

/// Appends `result` (a reported value as JSON) to `trial`: its iteration
/// (from 1) and its metric's value.
pub fn take_result(
    trial: &mut pb::TuneTrial,
    iterations: &mut u32,
    result: &serde_json::Value,
    metric: &str,
    mode: Mode,
) -> Result<(u32, f64), ResultError> {
    let Some(value) = result.get(metric).and_then(serde_json::Value::as_f64) else {
        let fields = match result {
            serde_json::Value::Object(map) => map.keys().cloned().collect::<Vec<_>>().join(", "),
            other => format!("no fields: it is {other}"),
        };
        return Err(ResultError::NoMetric {
            metric: metric.to_string(),
            fields,
        });
    };
    let text = result.to_string();
    if text.len() > MAX_RESULT_BYTES {
        return Err(ResultError::TooLarge(text.len()));
    }
    *iterations += 1;
    if trial.results.len() >= MAX_RESULTS_KEPT {
        trial.results.remove(0);
    }
    trial.results.push(text);
    if trial.best.is_none_or(|b| mode.score(value) > mode.score(b)) {
        trial.best = Some(value);
        trial.best_iteration = *iterations;
    }
    Ok((*iterations, value))
}

/// The leader's working copy of the experiments and their trials.
#[derive(Default)]
pub(crate) struct Tune {
    inner: Mutex<Records>,
    /// The term in which this replica read the records as leader.
    pub(crate) loaded_term: crate::loaded::LoadedTerm,
    /// Experiments a runner on this replica is running (or winding down),
    /// with the term it runs in: one runner per experiment and term (one
    /// of an earlier term ends by itself at its next look).
    pub(crate) runners: Mutex<HashMap<String, u64>>,
    /// Runners started on this replica: each names its trials' tasks with
    /// its number, so a resumed experiment's tasks never take the ids of
    /// an earlier runner's in the same term (a task id names one task).
    pub(crate) started: std::sync::atomic::AtomicU64,
}

/// Experiments by id, and each one's trials by index.
#[derive(Default)]
pub(crate) struct Records {
    pub(crate) experiments: HashMap<String, pb::TuneExperiment>,
    pub(crate) trials: HashMap<String, BTreeMap<u32, pb::TuneTrial>>,
}

impl Tune {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Records> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn loaded_in(&self) -> Option<u64> {
        self.loaded_term.get()
    }

    /// Claims experiment `id` for a new runner in `term`; false if one of
    /// this term runs it.
    pub(crate) fn claim(&self, id: &str, term: u64) -> bool {
        let mut runners = self.runners.lock().unwrap_or_else(|p| p.into_inner());
        match runners.get(id) {
            Some(t) if *t >= term => false,
            _ => {
                runners.insert(id.to_string(), term);
                true
            }
        }
    }

    /// Whether a runner runs (or winds down) experiment `id`.
    pub(crate) fn runs(&self, id: &str) -> bool {
        self.runners
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(id)
    }

    /// The runner of experiment `id` in `term` has ended.
    pub(crate) fn release(&self, id: &str, term: u64) {
        let mut runners = self.runners.lock().unwrap_or_else(|p| p.into_inner());
        if runners.get(id) == Some(&term) {
            runners.remove(id);
        }
    }

    /// The experiment with this id, else the newest with this name.
    pub(crate) fn find(&self, id_or_name: &str) -> Option<pb::TuneExperiment> {
        let records = self.lock();
        records.experiments.get(id_or_name).cloned().or_else(|| {
            records
                .experiments
                .values()
                .filter(|e| e.spec.as_ref().is_some_and(|s| s.name == id_or_name))
                .max_by_key(|e| (e.started_ms, e.id.clone()))
                .cloned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_count_iterations_and_keep_the_best_by_mode() {
        let mut trial = pb::TuneTrial::default();
        let mut n = 0;
        let take = |t: &mut pb::TuneTrial, n: &mut u32, v: f64| {
            take_result(t, n, &json!({"loss": v, "x": 1}), "loss", Mode::Min)
        };
        assert_eq!(take(&mut trial, &mut n, 3.0), Ok((1, 3.0)));
        assert_eq!(take(&mut trial, &mut n, 1.0), Ok((2, 1.0)));
        assert_eq!(take(&mut trial, &mut n, 2.0), Ok((3, 2.0)));
        assert_eq!((trial.best, trial.best_iteration), (Some(1.0), 2));
        assert_eq!(trial.results.len(), 3);
        let err = take_result(&mut trial, &mut n, &json!({"acc": 1}), "loss", Mode::Min);
        assert_eq!(
            err.unwrap_err().to_string(),
            "the result has no numeric `loss` (it has acc)"
        );
        assert_eq!(n, 3);
    }

    #[test]
    fn plans_refuse_what_cannot_run() {
        let spec = |f: &dyn Fn(&mut pb::TuneSpec)| {
            let mut s = pb::TuneSpec {
                component: "c".into(),
                function: "train".into(),
                param_space: r#"{"a": {"grid_search": [1, 2, 3]}}"#.into(),
                metric: "score".into(),
                mode: "max".into(),
                num_samples: 2,
                ..Default::default()
            };
            f(&mut s);
            Plan::new(&s)
        };
        assert_eq!(spec(&|_| {}).unwrap().total, 6);
        assert!(spec(&|s| s.mode = "best".into()).is_err());
        assert!(spec(&|s| s.metric.clear()).is_err());
        assert!(spec(&|s| s.scheduler = "{\"type\": \"nope\"}".into()).is_err());
        assert!(spec(&|s| s.num_samples = 2_000_000).is_err());
    }
}
