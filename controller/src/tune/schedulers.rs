//! Trial schedulers: which trials to stop early, decided result by
//! result as Ray Tune's are.
//!
//! A scheduler sees each result of each trial (its iteration, from 1, and
//! its metric, oriented so that larger is better) and answers continue or
//! stop. It keeps only what those results tell it, so a new leader
//! rebuilds it by replaying the recorded results of finished trials.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

/// Whether a larger or a smaller metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Larger is better.
    Max,
    /// Smaller is better.
    Min,
}

impl Mode {
    /// Parses "max" or "min".
    pub fn parse(text: &str) -> Result<Mode, String> {
        match text {
            "max" => Ok(Mode::Max),
            "min" => Ok(Mode::Min),
            other => Err(format!("mode must be \"max\" or \"min\", not `{other}`")),
        }
    }

    /// `value` turned so that larger is better.
    pub fn score(self, value: f64) -> f64 {
        match self {
            Mode::Max => value,
            Mode::Min => -value,
        }
    }
}

/// What to do with a trial after a result.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Let it run on.
    Continue,
    /// Stop it early, for this reason.
    Stop(String),
    /// It has run its full budget: end it as done (not as stopped early).
    Finish(String),
}

/// A scheduler as an experiment names it (`TuneSpec.scheduler`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SchedulerSpec {
    /// Every trial runs to its end.
    Fifo,
    /// Asynchronous successive halving (Ray's `ASHAScheduler`).
    Asha {
        /// Iterations after which a trial stops in any case.
        #[serde(default = "default_max_t")]
        max_t: u32,
        /// Iterations before a trial can be stopped.
        #[serde(default = "one")]
        grace_period: u32,
        /// Keep 1 in this many at each rung.
        #[serde(default = "default_reduction")]
        reduction_factor: f64,
    },
    /// Stop a trial whose best is below the median of the others' running
    /// means at the same iteration (Ray's `MedianStoppingRule`).
    MedianStopping {
        /// Iterations before a trial can be stopped.
        #[serde(default = "one")]
        grace_period: u32,
        /// Other trials needed at that iteration before comparing.
        #[serde(default = "default_min_samples")]
        min_samples_required: usize,
    },
}

fn default_max_t() -> u32 {
    100
}
fn one() -> u32 {
    1
}
fn default_reduction() -> f64 {
    4.0
}
fn default_min_samples() -> usize {
    3
}

impl SchedulerSpec {
    /// Parses the spec's JSON; empty is FIFO.
    pub fn parse(text: &str) -> Result<SchedulerSpec, String> {
        if text.trim().is_empty() {
            return Ok(SchedulerSpec::Fifo);
        }
        let spec: SchedulerSpec = serde_json::from_str(text)
            .map_err(|e| format!("scheduler `{text}`: {e} (types: fifo, asha, median_stopping)"))?;
        if let SchedulerSpec::Asha {
            max_t,
            grace_period,
            reduction_factor,
        } = &spec
        {
            if *grace_period == 0 || grace_period > max_t {
                return Err(format!(
                    "scheduler asha: grace_period ({grace_period}) must be from 1 to max_t ({max_t})"
                ));
            }
            if reduction_factor.is_nan() || *reduction_factor <= 1.0 {
                return Err(format!(
                    "scheduler asha: reduction_factor ({reduction_factor}) must be above 1"
                ));
            }
        }
        Ok(spec)
    }
}

/// A scheduler at work.
pub struct Scheduler {
    kind: Kind,
}

enum Kind {
    Fifo,
    Asha(Asha),
    Median(Median),
}

impl Scheduler {
    /// A fresh scheduler of `spec`.
    pub fn new(spec: &SchedulerSpec) -> Scheduler {
        let kind = match spec {
            SchedulerSpec::Fifo => Kind::Fifo,
            SchedulerSpec::Asha {
                max_t,
                grace_period,
                reduction_factor,
            } => Kind::Asha(Asha::new(*max_t, *grace_period, *reduction_factor)),
            SchedulerSpec::MedianStopping {
                grace_period,
                min_samples_required,
            } => Kind::Median(Median {
                grace_period: *grace_period,
                min_samples: *min_samples_required,
                results: HashMap::new(),
            }),
        };
        Scheduler { kind }
    }

    /// Trial `trial`'s result at `iteration` (from 1) scored `score`
    /// (larger is better).
    pub fn on_result(&mut self, trial: u32, iteration: u32, score: f64) -> Decision {
        match &mut self.kind {
            Kind::Fifo => Decision::Continue,
            Kind::Asha(asha) => asha.on_result(trial, iteration, score),
            Kind::Median(median) => median.on_result(trial, iteration, score),
        }
    }

    /// Trial `trial` is to run again from its start (a retry): what it
    /// reported before no longer stands for it where a running record is
    /// kept.
    pub fn on_restart(&mut self, trial: u32) {
        if let Kind::Median(median) = &mut self.kind {
            median.results.remove(&trial);
        }
    }
}

/// One bracket of asynchronous successive halving: rungs at
/// `grace_period * reduction_factor^k` iterations below `max_t`; a trial
/// reaching a rung is stopped unless it is in the top `1/reduction_factor`
/// of those recorded there before it.
struct Asha {
    max_t: u32,
    reduction_factor: f64,
    /// Each rung's milestone and the scores recorded there, by trial;
    /// highest milestone first.
    rungs: Vec<(u32, BTreeMap<u32, f64>)>,
}

impl Asha {
    fn new(max_t: u32, grace_period: u32, reduction_factor: f64) -> Asha {
        let mut milestones = Vec::new();
        let mut milestone = f64::from(grace_period);
        while milestone < f64::from(max_t) {
            milestones.push(milestone.round() as u32);
            milestone *= reduction_factor;
        }
        milestones.dedup();
        milestones.reverse();
        Asha {
            max_t,
            reduction_factor,
            rungs: milestones
                .into_iter()
                .map(|m| (m, BTreeMap::new()))
                .collect(),
        }
    }

    fn on_result(&mut self, trial: u32, iteration: u32, score: f64) -> Decision {
        if iteration >= self.max_t {
            return Decision::Finish(format!("asha: reached max_t ({})", self.max_t));
        }
        let keep = 1.0 / self.reduction_factor;
        for (milestone, recorded) in &mut self.rungs {
            if iteration < *milestone || recorded.contains_key(&trial) {
                continue;
            }
            let cutoff = quantile(recorded.values().copied().collect(), 1.0 - keep);
            recorded.insert(trial, score);
            return match cutoff {
                Some(cutoff) if score < cutoff => Decision::Stop(format!(
                    "asha: below the top 1/{} at iteration {milestone}",
                    self.reduction_factor
                )),
                _ => Decision::Continue,
            };
        }
        Decision::Continue
    }
}

/// The `q` quantile of `values` by linear interpolation (numpy's
/// default, which Ray's ASHA uses), `None` for none.
fn quantile(mut values: Vec<f64>, q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let at = q * (values.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    Some(values[lo] + (values[hi] - values[lo]) * (at - lo as f64))
}

/// The median stopping rule.
struct Median {
    grace_period: u32,
    min_samples: usize,
    /// Each trial's scores, by iteration (from 1).
    results: HashMap<u32, Vec<f64>>,
}

impl Median {
    fn on_result(&mut self, trial: u32, iteration: u32, score: f64) -> Decision {
        let mine = self.results.entry(trial).or_default();
        mine.truncate(iteration.saturating_sub(1) as usize);
        mine.push(score);
        if iteration < self.grace_period {
            return Decision::Continue;
        }
        let best = mine.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let at = iteration as usize;
        let means: Vec<f64> = self
            .results
            .iter()
            .filter(|(t, r)| **t != trial && r.len() >= at)
            .map(|(_, r)| r[..at].iter().sum::<f64>() / at as f64)
            .collect();
        if means.len() < self.min_samples {
            return Decision::Continue;
        }
        match quantile(means, 0.5) {
            Some(median) if best < median => Decision::Stop(format!(
                "median_stopping: best {best} is below the others' median running mean {median} at iteration {iteration}"
            )),
            _ => Decision::Continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asha(max_t: u32, grace: u32, rf: f64) -> Scheduler {
        Scheduler::new(&SchedulerSpec::Asha {
            max_t,
            grace_period: grace,
            reduction_factor: rf,
        })
    }

    #[test]
    fn asha_keeps_the_top_share_at_each_rung() {
        let mut s = asha(9, 1, 3.0);
        // Rungs at 1 and 3. Trial 0 sets the bar at rung 1; 1 beats it;
        // 2 is below the top third of {0: 1.0, 1: 2.0}.
        assert_eq!(s.on_result(0, 1, 1.0), Decision::Continue);
        assert_eq!(s.on_result(1, 1, 2.0), Decision::Continue);
        assert!(matches!(s.on_result(2, 1, 0.5), Decision::Stop(_)));
        assert_eq!(s.on_result(1, 2, 2.5), Decision::Continue);
        assert_eq!(s.on_result(1, 3, 3.0), Decision::Continue);
        assert!(matches!(s.on_result(0, 3, 1.5), Decision::Stop(_)));
        assert!(matches!(s.on_result(1, 9, 9.0), Decision::Finish(r) if r.contains("max_t")));
    }

    #[test]
    fn asha_rungs_follow_the_reduction_factor() {
        let a = Asha::new(100, 1, 4.0);
        let milestones: Vec<u32> = a.rungs.iter().map(|(m, _)| *m).collect();
        assert_eq!(milestones, vec![64, 16, 4, 1]);
    }

    #[test]
    fn median_stopping_compares_with_the_others_running_means() {
        let mut s = Scheduler::new(&SchedulerSpec::MedianStopping {
            grace_period: 2,
            min_samples_required: 2,
        });
        for t in 0..2 {
            assert_eq!(s.on_result(t, 1, 10.0), Decision::Continue);
            assert_eq!(s.on_result(t, 2, 10.0), Decision::Continue);
        }
        assert_eq!(s.on_result(2, 1, 1.0), Decision::Continue);
        assert!(matches!(s.on_result(2, 2, 2.0), Decision::Stop(_)));
        assert_eq!(s.on_result(3, 1, 11.0), Decision::Continue);
        assert_eq!(s.on_result(3, 2, 11.0), Decision::Continue);
    }

    #[test]
    fn specs_parse_with_defaults_and_refuse_nonsense() {
        assert_eq!(SchedulerSpec::parse("").unwrap(), SchedulerSpec::Fifo);
        assert_eq!(
            SchedulerSpec::parse(r#"{"type": "asha", "max_t": 10}"#).unwrap(),
            SchedulerSpec::Asha {
                max_t: 10,
                grace_period: 1,
                reduction_factor: 4.0
            }
        );
        assert!(
            SchedulerSpec::parse(r#"{"type": "asha", "reduction_factor": 1}"#)
                .unwrap_err()
                .contains("must be above 1")
        );
        assert!(
            SchedulerSpec::parse(r#"{"type": "pbt"}"#)
                .unwrap_err()
                .contains("types: fifo, asha, median_stopping")
        );
        assert_eq!(Mode::parse("min").unwrap().score(2.0), -2.0);
    }
}
