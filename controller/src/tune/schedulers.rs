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
    /// Population-based training: restart it from trial `donor`'s latest
    /// checkpoint with the donor's config, explored.
    Exploit {
        /// The trial whose checkpoint and config it takes.
        donor: u32,
    },
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
        /// Brackets (Ray's `AsyncHyperBandScheduler(brackets=N)`): trial
        /// `i` is in bracket `i mod N`, whose first rung is at
        /// `grace_period * reduction_factor^b`.
        #[serde(default = "one")]
        brackets: u32,
    },
    /// Asynchronous HyperBand: ASHA with every bracket that fits below
    /// `max_t`, so some trials are judged early and others only late.
    Hyperband {
        /// Iterations after which a trial stops in any case.
        #[serde(default = "default_max_t")]
        max_t: u32,
        /// Iterations before a trial of the most eager bracket can be
        /// stopped.
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
    /// Population-based training (Ray's `PopulationBasedTraining`): every
    /// `perturbation_interval` iterations, a trial in the bottom
    /// `quantile_fraction` takes the checkpoint and config of one in the
    /// top, and explores the config: each of `hyperparam_mutations`
    /// resampled with `resample_probability`, else a number scaled by 0.8
    /// or 1.2 and a list's value moved to a neighbour.
    Pbt {
        /// Iterations between perturbations.
        #[serde(default = "default_interval")]
        perturbation_interval: u32,
        /// The share of trials at the top and at the bottom.
        #[serde(default = "default_quantile")]
        quantile_fraction: f64,
        /// Parameters to explore: a draw (`{"uniform": [0, 1]}`) or a list
        /// of values.
        #[serde(default)]
        hyperparam_mutations: serde_json::Map<String, serde_json::Value>,
        /// The chance a parameter is drawn anew rather than perturbed.
        #[serde(default = "default_quantile")]
        resample_probability: f64,
    },
}

fn default_interval() -> u32 {
    4
}
fn default_quantile() -> f64 {
    0.25
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
        let spec: SchedulerSpec = serde_json::from_str(text).map_err(|e| {
            format!("scheduler `{text}`: {e} (types: fifo, asha, hyperband, median_stopping, pbt)")
        })?;
        if let SchedulerSpec::Asha {
            max_t,
            grace_period,
            reduction_factor,
            ..
        }
        | SchedulerSpec::Hyperband {
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
        if let SchedulerSpec::Pbt {
            perturbation_interval,
            quantile_fraction,
            resample_probability,
            hyperparam_mutations,
        } = &spec
        {
            if *perturbation_interval == 0 {
                return Err("scheduler pbt: perturbation_interval must be at least 1".into());
            }
            if !(0.0..=0.5).contains(quantile_fraction) {
                return Err(format!(
                    "scheduler pbt: quantile_fraction ({quantile_fraction}) must be from 0 to 0.5"
                ));
            }
            if !(0.0..=1.0).contains(resample_probability) {
                return Err(format!(
                    "scheduler pbt: resample_probability ({resample_probability}) must be from 0 to 1"
                ));
            }
            if hyperparam_mutations.is_empty() {
                return Err(
                    "scheduler pbt: hyperparam_mutations names no parameter to explore".into(),
                );
            }
            crate::tune::space::Mutations::parse(hyperparam_mutations)
                .map_err(|e| format!("scheduler pbt: {e}"))?;
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
    Pbt(Pbt),
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
                brackets,
            } => Kind::Asha(Asha::new(
                *max_t,
                *grace_period,
                *reduction_factor,
                *brackets,
            )),
            SchedulerSpec::Hyperband {
                max_t,
                grace_period,
                reduction_factor,
            } => {
                // Every bracket whose first rung is still below max_t.
                let mut brackets = 1;
                let mut first = f64::from(*grace_period) * reduction_factor;
                while first < f64::from(*max_t) {
                    brackets += 1;
                    first *= reduction_factor;
                }
                Kind::Asha(Asha::new(
                    *max_t,
                    *grace_period,
                    *reduction_factor,
                    brackets,
                ))
            }
            SchedulerSpec::MedianStopping {
                grace_period,
                min_samples_required,
            } => Kind::Median(Median {
                grace_period: *grace_period,
                min_samples: *min_samples_required,
                results: HashMap::new(),
            }),
            SchedulerSpec::Pbt {
                perturbation_interval,
                quantile_fraction,
                ..
            } => Kind::Pbt(Pbt {
                interval: *perturbation_interval,
                quantile: *quantile_fraction,
                last: BTreeMap::new(),
                draws: 0,
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
            Kind::Pbt(pbt) => pbt.on_result(trial, iteration, score),
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

/// Asynchronous successive halving in one or more brackets. Bracket `b`
/// has rungs at `grace_period * reduction_factor^(b + k)` iterations below
/// `max_t`; a trial reaching a rung of its bracket is stopped unless it is
/// in the top `1/reduction_factor` of those recorded there before it.
struct Asha {
    max_t: u32,
    reduction_factor: f64,
    /// Each bracket's rungs: a milestone and the scores recorded there, by
    /// trial; highest milestone first.
    brackets: Vec<Vec<(u32, BTreeMap<u32, f64>)>>,
}

impl Asha {
    fn new(max_t: u32, grace_period: u32, reduction_factor: f64, brackets: u32) -> Asha {
        let bracket = |b: i32| {
            let mut milestones = Vec::new();
            let mut milestone = f64::from(grace_period) * reduction_factor.powi(b);
            while milestone < f64::from(max_t) {
                milestones.push(milestone.round() as u32);
                milestone *= reduction_factor;
            }
            milestones.dedup();
            milestones.reverse();
            milestones
                .into_iter()
                .map(|m| (m, BTreeMap::new()))
                .collect()
        };
        Asha {
            max_t,
            reduction_factor,
            brackets: (0..brackets.max(1) as i32).map(bracket).collect(),
        }
    }

    fn on_result(&mut self, trial: u32, iteration: u32, score: f64) -> Decision {
        if iteration >= self.max_t {
            return Decision::Finish(format!("asha: reached max_t ({})", self.max_t));
        }
        let keep = 1.0 / self.reduction_factor;
        let n = self.brackets.len();
        let rungs = &mut self.brackets[trial as usize % n];
        for (milestone, recorded) in rungs {
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

/// Population-based training's choice of who exploits whom (exploring
/// the config is the runner's: it knows the configs).
struct Pbt {
    interval: u32,
    quantile: f64,
    /// Each trial's latest score.
    last: BTreeMap<u32, f64>,
    /// Donors drawn so far: picks the next donor among the top, in turn.
    draws: u64,
}

impl Pbt {
    fn on_result(&mut self, trial: u32, iteration: u32, score: f64) -> Decision {
        self.last.insert(trial, score);
        if !iteration.is_multiple_of(self.interval) || self.last.len() < 2 {
            return Decision::Continue;
        }
        let mut ranked: Vec<(u32, f64)> = self.last.iter().map(|(t, s)| (*t, *s)).collect();
        ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        // At least one at each end once there are two trials.
        let n = ((ranked.len() as f64 * self.quantile).ceil() as usize).max(1);
        let bottom = &ranked[..n];
        let top = &ranked[ranked.len() - n..];
        if !bottom.iter().any(|(t, _)| *t == trial) || top.iter().any(|(t, _)| *t == trial) {
            return Decision::Continue;
        }
        let donor = top[(self.draws % top.len() as u64) as usize].0;
        self.draws += 1;
        Decision::Exploit { donor }
    }
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
            brackets: 1,
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
        let a = Asha::new(100, 1, 4.0, 1);
        let milestones: Vec<u32> = a.brackets[0].iter().map(|(m, _)| *m).collect();
        assert_eq!(milestones, vec![64, 16, 4, 1]);
    }

    #[test]
    fn hyperband_spreads_trials_over_every_bracket_below_max_t() {
        let spec =
            SchedulerSpec::parse(r#"{"type": "hyperband", "max_t": 27, "reduction_factor": 3}"#)
                .unwrap();
        let Kind::Asha(a) = Scheduler::new(&spec).kind else {
            panic!("hyperband is asha with brackets");
        };
        let rungs: Vec<Vec<u32>> = a
            .brackets
            .iter()
            .map(|b| b.iter().map(|(m, _)| *m).collect())
            .collect();
        assert_eq!(rungs, vec![vec![9, 3, 1], vec![9, 3], vec![9]]);
        // Trial 2 is in the last bracket: nothing judges it before 9.
        let mut s = Scheduler::new(&spec);
        assert_eq!(s.on_result(2, 1, 0.0), Decision::Continue);
        assert_eq!(s.on_result(5, 1, 5.0), Decision::Continue);
        assert_eq!(s.on_result(2, 3, 0.0), Decision::Continue);
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
    fn pbt_has_the_bottom_exploit_the_top_at_each_interval() {
        let mut s = Scheduler::new(&SchedulerSpec::Pbt {
            perturbation_interval: 2,
            quantile_fraction: 0.25,
            hyperparam_mutations: Default::default(),
            resample_probability: 0.25,
        });
        for t in 0..4 {
            assert_eq!(s.on_result(t, 1, f64::from(t)), Decision::Continue);
        }
        // At iteration 2, trial 0 is the bottom quarter and 3 the top.
        assert_eq!(s.on_result(3, 2, 6.0), Decision::Continue);
        assert_eq!(s.on_result(1, 2, 2.0), Decision::Continue);
        assert_eq!(s.on_result(0, 2, 0.5), Decision::Exploit { donor: 3 });
        // Between intervals nothing moves.
        assert_eq!(s.on_result(0, 3, 0.6), Decision::Continue);
    }

    #[test]
    fn specs_parse_with_defaults_and_refuse_nonsense() {
        assert_eq!(SchedulerSpec::parse("").unwrap(), SchedulerSpec::Fifo);
        assert_eq!(
            SchedulerSpec::parse(r#"{"type": "asha", "max_t": 10}"#).unwrap(),
            SchedulerSpec::Asha {
                max_t: 10,
                grace_period: 1,
                reduction_factor: 4.0,
                brackets: 1
            }
        );
        assert!(
            SchedulerSpec::parse(r#"{"type": "asha", "reduction_factor": 1}"#)
                .unwrap_err()
                .contains("must be above 1")
        );
        assert!(
            SchedulerSpec::parse(r#"{"type": "hyperband9"}"#)
                .unwrap_err()
                .contains("types: fifo, asha, hyperband, median_stopping, pbt")
        );
        assert!(
            SchedulerSpec::parse(r#"{"type": "pbt"}"#)
                .unwrap_err()
                .contains("names no parameter")
        );
        assert!(
            SchedulerSpec::parse(
                r#"{"type": "pbt", "hyperparam_mutations": {"lr": {"uniform": [1, 0]}}}"#
            )
            .unwrap_err()
            .contains("lower (1) must be below upper (0)")
        );
        assert_eq!(Mode::parse("min").unwrap().score(2.0), -2.0);
    }
}
