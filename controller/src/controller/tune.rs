//! Tune on the leader: start, show, list and stop experiments, and run
//! each one's trials (`crate::tune` keeps the records and the rules).
//!
//! A running experiment is one tokio task on the leader with an owner
//! session of its own. It keeps up to `max_concurrent_trials` trials
//! running as streaming tasks with a backpressure of one item, so a trial
//! that reports waits (as Ray's function trainables do) until its previous
//! result is judged: the scheduler's stop lands before the trial runs on.
//! Trials started or ended are written in one entry per [`FLUSH`], so the
//! replicated state costs a write per tick rather than per trial.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use serde_bytes::ByteBuf;
use weft_proto::v1 as pb;
use weft_proto::v1::{TrialState, TuneState};
use weft_values::{CallText, Value};

use crate::call::OwnerGuard;
use crate::command::Command;
use crate::controller::Controller;
use crate::error::ControllerError;
use crate::jobs::now_ms;
use crate::tune::schedulers::{Decision, Mode, Scheduler, SchedulerSpec};
use crate::tune::search;
use crate::tune::space::Mutations;
use crate::tune::{Plan, experiment_key, take_result, trial_id, trial_key};

/// The variant case a report carrying a checkpoint comes in
/// (`weft_guest::tune::report_checkpoint`): `{result, checkpoint}`.
const CHECKPOINTED: &str = "weft-tune-checkpointed";
/// Why the trials an experiment's stop cut short ended (a resume runs
/// them again).
const EXPERIMENT_STOPPED: &str = "the experiment was stopped";
/// The namespace of trials' placement groups.
const GROUPS: &str = "tune";
/// How often ended trials are written and stop requests looked for.
const FLUSH: Duration = Duration::from_millis(100);
/// The longest experiment id or name.
const MAX_ID: usize = 128;

impl Controller {
    /// Starts an experiment: checks its spec and its first config against
    /// the trainable's signature, records it, and runs it.
    pub async fn run_tune(
        self: &Arc<Self>,
        request: pb::RunTuneRequest,
    ) -> Result<pb::TuneExperiment, ControllerError> {
        self.tune_ready().await?;
        if !request.id.is_empty() {
            check_id(&request.id)?;
            if let Some(found) = self.tune.lock().experiments.get(&request.id) {
                return Ok(found.clone());
            }
        }
        let spec = request.spec.unwrap_or_default();
        if !spec.name.is_empty() {
            check_id(&spec.name)?;
        }
        let plan = Plan::new(&spec)?;
        if !spec.placement_group_bundles.is_empty() {
            crate::controller::groups::check_spec(&pb::PlacementGroupSpec {
                bundles: spec.placement_group_bundles.clone(),
                ..Default::default()
            })?;
        }
        let seed = match spec.seed {
            0 => now_ms() ^ 0x5EED,
            seed => seed,
        };
        // The trainable must take the space's configs: the first one is
        // typed now, so a mismatch is refused before any trial runs.
        let first = plan.space.sample(0, seed);
        let typed = self
            .config_call(&spec.component, &spec.function, &first, None)
            .await?;
        let id = match request.id.is_empty() {
            true => self.new_experiment_id(),
            false => request.id,
        };
        let record = pb::TuneExperiment {
            id: id.clone(),
            digest: typed.digest,
            state: TuneState::Running as i32,
            seed,
            total_trials: plan.total,
            started_ms: now_ms(),
            spec: Some(pb::TuneSpec {
                function: typed.function,
                ..spec
            }),
            ..Default::default()
        };
        self.write_tune(vec![(experiment_key(&id), record.encode_to_vec())])
            .await?;
        self.tune
            .lock()
            .experiments
            .insert(id.clone(), record.clone());
        self.supervise_tune(id);
        Ok(record)
    }

    /// An experiment (by id, else the newest of that name) and its trials.
    pub async fn get_tune(&self, id: &str) -> Result<pb::TuneStatus, ControllerError> {
        self.tune_ready().await?;
        let experiment = self
            .tune
            .find(id)
            .ok_or_else(|| ControllerError::NotFound(format!("no experiment `{id}`")))?;
        let trials = self
            .tune
            .lock()
            .trials
            .get(&experiment.id)
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default();
        Ok(pb::TuneStatus {
            experiment: Some(experiment),
            trials,
        })
    }

    /// Every experiment, newest first.
    pub async fn list_tune(&self) -> Result<Vec<pb::TuneExperiment>, ControllerError> {
        self.tune_ready().await?;
        let mut all: Vec<_> = self.tune.lock().experiments.values().cloned().collect();
        all.sort_by(|a, b| (b.started_ms, &b.id).cmp(&(a.started_ms, &a.id)));
        Ok(all)
    }

    /// Stops an experiment: its running trials are canceled (and recorded
    /// as stopped), and no more start.
    pub async fn stop_tune(&self, id: &str) -> Result<pb::TuneExperiment, ControllerError> {
        self.tune_ready().await?;
        let mut record = self
            .tune
            .find(id)
            .ok_or_else(|| ControllerError::NotFound(format!("no experiment `{id}`")))?;
        if record.state().is_finished() {
            return Ok(record);
        }
        record.set_state(TuneState::Stopped);
        record.reason = "stopped by request".into();
        record.ended_ms = now_ms();
        self.write_tune(vec![(experiment_key(&record.id), record.encode_to_vec())])
            .await?;
        self.tune
            .lock()
            .experiments
            .insert(record.id.clone(), record.clone());
        Ok(record)
    }

    /// Goes on with an ended experiment: the trials its stop cut short
    /// (and, if asked, those that ended in ERROR) are forgotten so they run
    /// again, and the spec takes more samples or a new space for every
    /// trial that has not ended.
    pub async fn resume_tune(
        self: &Arc<Self>,
        request: pb::ResumeTuneRequest,
    ) -> Result<pb::TuneExperiment, ControllerError> {
        self.tune_ready().await?;
        let id = &request.id;
        let record = self
            .tune
            .find(id)
            .ok_or_else(|| ControllerError::NotFound(format!("no experiment `{id}`")))?;
        if !record.state().is_finished() {
            return Err(ControllerError::InvalidRequest(format!(
                "experiment {} is still running: stop it first, or wait for it",
                record.id
            )));
        }
        // A runner that saw the stop records the trials it cut short, then
        // ends: the resume waits for that, so it reads them.
        let deadline = tokio::time::Instant::now() + self.config.write_timeout;
        while self.tune.runs(&record.id) {
            if tokio::time::Instant::now() >= deadline {
                return Err(ControllerError::NoQuorum(format!(
                    "experiment {} is still recording its stopped trials; retry",
                    record.id
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let mut record = self.tune.find(&record.id).unwrap_or(record);
        if !record.state().is_finished() {
            return Err(ControllerError::InvalidRequest(format!(
                "experiment {} is running again: another resume came first",
                record.id
            )));
        }
        let mut spec = record.spec.clone().unwrap_or_default();
        if request.num_samples > 0 {
            if request.num_samples < spec.num_samples.max(1) {
                return Err(ControllerError::InvalidRequest(format!(
                    "experiment {} has {} samples: a resume can add samples, not remove them",
                    record.id,
                    spec.num_samples.max(1)
                )));
            }
            spec.num_samples = request.num_samples;
        }
        if !request.param_space.is_empty() {
            spec.param_space = request.param_space;
        }
        let plan = Plan::new(&spec)?;
        let ended: Vec<pb::TuneTrial> = self
            .tune
            .lock()
            .trials
            .get(&record.id)
            .map(|t| t.values().cloned().collect())
            .unwrap_or_default();
        let again: Vec<u32> = ended
            .iter()
            .filter(|t| {
                (t.state() == TrialState::Stopped && t.stopped_by == EXPERIMENT_STOPPED)
                    || (request.restart_errored && t.state() == TrialState::Error)
            })
            .map(|t| t.index)
            .collect();
        // The first config a trial not yet ended will draw must fit the
        // trainable, as a new experiment's first does.
        let next = (0..plan.total).find(|i| {
            again.contains(i)
                || !ended
                    .iter()
                    .any(|t| t.index == *i && t.state().is_finished())
        });
        if let Some(next) = next {
            let config = plan.space.sample(u64::from(next), record.seed);
            self.config_call(&record.digest, &spec.function, &config, None)
                .await?;
        }
        record.spec = Some(spec);
        record.total_trials = plan.total;
        record.set_state(TuneState::Running);
        record.reason.clear();
        record.ended_ms = 0;
        let mut writes: Vec<(String, Vec<u8>)> = again
            .iter()
            .map(|i| (trial_key(&record.id, *i), Vec::new()))
            .collect();
        writes.push((experiment_key(&record.id), record.encode_to_vec()));
        self.write_tune(writes).await?;
        {
            let mut records = self.tune.lock();
            if let Some(trials) = records.trials.get_mut(&record.id) {
                for i in &again {
                    trials.remove(i);
                }
            }
            records
                .experiments
                .insert(record.id.clone(), record.clone());
        }
        self.supervise_tune(record.id.clone());
        Ok(record)
    }

    fn new_experiment_id(&self) -> String {
        let records = self.tune.lock();
        let base = format!("tune-{}", now_ms());
        (0..)
            .map(|n| match n {
                0 => base.clone(),
                n => format!("{base}-{n}"),
            })
            .find(|id| !records.experiments.contains_key(id))
            .expect("an unused id")
    }

    /// Types trial config `config` for `function`: as the function's one
    /// argument; for a function taking text, as its JSON; for a function
    /// that also takes `checkpoint: option<list<u8>>`, with `checkpoint`
    /// (a trial restored from its own or, under PBT, another's).
    async fn config_call(
        &self,
        component: &str,
        function: &str,
        config: &serde_json::Value,
        checkpoint: Option<&bytes::Bytes>,
    ) -> Result<crate::call::TypedCall, ControllerError> {
        let call = |args| CallText::Json {
            function: function.to_string(),
            args,
        };
        let shapes = [
            serde_json::json!([config]),
            serde_json::json!([config, null]),
            serde_json::json!([config.to_string()]),
            serde_json::json!([config.to_string(), null]),
        ];
        let mut first = None;
        for args in shapes {
            let with_checkpoint = args.as_array().is_some_and(|a| a.len() == 2);
            match self.typed_call(component, call(args)).await {
                Ok(mut typed) => {
                    if let (true, Some(bytes)) = (with_checkpoint, checkpoint) {
                        let value = Value::Option(Some(Box::new(Value::Bytes(bytes.clone()))));
                        typed.args[1] = crate::call::arg(&value);
                    }
                    return Ok(typed);
                }
                Err(e @ ControllerError::BadCall(weft_values::CallError::BadArguments { .. })) => {
                    first.get_or_insert(e);
                }
                Err(other) => return Err(other),
            }
        }
        Err(ControllerError::InvalidRequest(format!(
            "the trainable cannot take the search space's configs: {}",
            first.map_or_else(String::new, |e| e.to_string())
        )))
    }

    async fn write_tune(&self, records: Vec<(String, Vec<u8>)>) -> Result<(), ControllerError> {
        let records = records
            .into_iter()
            .map(|(k, v)| (k, ByteBuf::from(v)))
            .collect();
        self.write(Command::PutTune { records }).await.map(|_| ())
    }

    /// Waits until this replica leads and has read the Tune records in
    /// its term.
    async fn tune_ready(&self) -> Result<(), ControllerError> {
        self.loaded_ready(&self.tune.loaded_term, "Tune records")
            .await
    }

    /// Keeps the Tune records while this replica leads: on taking office
    /// it reads them and resumes every running experiment.
    pub(crate) fn keep_tune(self: &Arc<Self>) {
        self.keep_loaded(
            |c| &c.tune.loaded_term,
            "Tune records",
            |c, term| async move { c.load_tune(term).await },
        );
    }

    async fn load_tune(self: &Arc<Self>, term: u64) -> Result<(), ControllerError> {
        self.read_barrier().await?;
        let experiments: HashMap<String, pb::TuneExperiment> = self
            .state
            .tune_records("e/")?
            .into_iter()
            .filter_map(|bytes| pb::TuneExperiment::decode(bytes.as_slice()).ok())
            .map(|e| (e.id.clone(), e))
            .collect();
        let mut trials = HashMap::new();
        for id in experiments.keys() {
            let recorded = self
                .state
                .tune_records(&format!("t/{id}/"))?
                .into_iter()
                .filter_map(|bytes| pb::TuneTrial::decode(bytes.as_slice()).ok())
                .map(|t| (t.index, t))
                .collect();
            trials.insert(id.clone(), recorded);
        }
        let running: Vec<String> = experiments
            .values()
            .filter(|e| !e.state().is_finished())
            .map(|e| e.id.clone())
            .collect();
        tracing::info!(
            experiments = experiments.len(),
            running = running.len(),
            "took over the Tune records"
        );
        {
            let mut records = self.tune.lock();
            records.experiments = experiments;
            records.trials = trials;
        }
        self.tune.loaded_term.set(Some(term));
        for id in running {
            self.supervise_tune(id);
        }
        Ok(())
    }

    /// Runs experiment `id` in the background, unless a runner here
    /// already does (one that was stopped may still be winding down).
    fn supervise_tune(self: &Arc<Self>, id: String) {
        let term = self.raft.metrics().borrow().current_term;
        if !self.tune.claim(&id, term) {
            return;
        }
        let controller = self.clone();
        tokio::spawn(async move {
            let result = controller.run_experiment(&id, term).await;
            controller.tune.release(&id, term);
            if let Err(e) = result {
                tracing::warn!(experiment = %id, error = %e, "stopped running an experiment; the next leader resumes it");
            }
        });
    }

    async fn run_experiment(self: &Arc<Self>, id: &str, term: u64) -> Result<(), ControllerError> {
        let Some(experiment) = self.tune.lock().experiments.get(id).cloned() else {
            return Ok(());
        };
        let spec = experiment.spec.clone().unwrap_or_default();
        let plan = match Plan::new(&spec) {
            Ok(plan) => plan,
            Err(e) => {
                return self
                    .end_experiment(id, TuneState::Failed, &e.to_string())
                    .await;
            }
        };
        let mut run = Run {
            controller: self.clone(),
            id: id.to_string(),
            term,
            number: self
                .tune
                .started
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            scheduler: Scheduler::new(&plan.scheduler),
            mode: plan.mode,
            plan,
            seed: experiment.seed,
            digest: experiment.digest.clone(),
            spec,
            running: HashMap::new(),
            pending: VecDeque::new(),
            to_write: Vec::new(),
            room: None,
            checkpoints: HashMap::new(),
            attempts: HashMap::new(),
            resumes: HashMap::new(),
            mutations: None,
            groups: HashMap::new(),
        };
        if let SchedulerSpec::Pbt {
            hyperparam_mutations,
            resample_probability,
            ..
        } = &run.plan.scheduler
            && let Ok(mutations) = Mutations::parse(hyperparam_mutations)
        {
            run.mutations = Some((mutations, *resample_probability));
        }
        run.replay();
        let (owner, mut events) = self.tasks.open_owner();
        let _owner = OwnerGuard {
            tasks: &self.tasks,
            owner,
        };
        let mut flush = tokio::time::interval(FLUSH);
        // Hosts bring the attempts an earlier leader started when they
        // register with this one, within a few host timeouts.
        let (started, sweep_for) = (std::time::Instant::now(), self.tasks.host_timeout() * 3);
        loop {
            if self.tune.loaded_in() != Some(term) {
                return Ok(());
            }
            let state = self
                .tune
                .lock()
                .experiments
                .get(id)
                .map_or(TuneState::Stopped, |e| e.state());
            if state.is_finished() {
                run.stop_all(EXPERIMENT_STOPPED);
                return run.flush().await;
            }
            run.start_trials(owner).await;
            if run.running.is_empty() && run.pending.is_empty() {
                run.flush().await?;
                return self.end_experiment(id, TuneState::Finished, "").await;
            }
            tokio::select! {
                event = events.recv() => {
                    let Some(Ok(event)) = event else {
                        return Ok(());
                    };
                    let mut message = pb::OwnerMessage::default();
                    for result in event.finished {
                        run.on_result(result, &mut message);
                    }
                    self.tasks.owner_message(owner, &mut message);
                }
                _ = flush.tick() => {
                    if started.elapsed() < sweep_for {
                        run.cancel_orphans();
                    }
                    run.flush().await?;
                }
            }
        }
    }

    async fn end_experiment(
        &self,
        id: &str,
        state: TuneState,
        reason: &str,
    ) -> Result<(), ControllerError> {
        let Some(mut record) = self.tune.lock().experiments.get(id).cloned() else {
            return Ok(());
        };
        record.set_state(state);
        record.reason = reason.to_string();
        record.ended_ms = now_ms();
        self.write_tune(vec![(experiment_key(id), record.encode_to_vec())])
            .await?;
        self.tune.lock().experiments.insert(id.to_string(), record);
        Ok(())
    }
}

/// An experiment being run: the trials in flight by task id, the ones not
/// started, and the ones started or ended but not yet written.
struct Run {
    controller: Arc<Controller>,
    id: String,
    term: u64,
    /// This runner's number on this replica ([`crate::tune::Tune`]'s
    /// `started`).
    number: u64,
    plan: Plan,
    scheduler: Scheduler,
    mode: Mode,
    seed: u64,
    digest: String,
    spec: pb::TuneSpec,
    running: HashMap<String, Live>,
    pending: VecDeque<u32>,
    /// Trials started or ended since the last flush.
    to_write: Vec<u32>,
    /// The trials that may run at once, and when it was read.
    room: Option<(std::time::Instant, usize)>,
    /// Each trial's latest checkpoint (held here only: a trial running at
    /// a failover starts over).
    checkpoints: HashMap<u32, bytes::Bytes>,
    /// Attempts started per trial, which name their tasks.
    attempts: HashMap<u32, u32>,
    /// Trials waiting to go on from a checkpoint, by index.
    resumes: HashMap<u32, Resume>,
    /// PBT's explorations and their resample probability.
    mutations: Option<(Mutations, f64)>,
    /// Each running trial's placement group (the spec's bundles).
    groups: HashMap<u32, String>,
}

/// A trial in flight.
struct Live {
    index: u32,
    iterations: u32,
    /// Why it is being canceled, once it is.
    stopping: Option<Ending>,
}

/// Why a trial's task is being canceled.
enum Ending {
    /// The trial ends, in this state, for this reason.
    End(TrialState, String),
    /// The trial goes on from another start (PBT's exploit).
    Restart(Resume),
}

/// Where a trial's next attempt starts.
struct Resume {
    /// Its config from now on.
    config: serde_json::Value,
    /// The checkpoint it restores.
    checkpoint: Option<bytes::Bytes>,
    /// Results so far (the attempt goes on from them).
    iterations: u32,
}

impl Run {
    /// Rebuilds the scheduler from the ended trials' results, and queues
    /// every trial that has not ended.
    fn replay(&mut self) {
        let trials = self
            .controller
            .tune
            .lock()
            .trials
            .get(&self.id)
            .cloned()
            .unwrap_or_default();
        for trial in trials.values().filter(|t| t.state().is_finished()) {
            for (n, result) in trial.results.iter().enumerate() {
                let value = serde_json::from_str::<serde_json::Value>(result)
                    .ok()
                    .and_then(|r| r.get(&self.spec.metric).and_then(|v| v.as_f64()));
                if let Some(value) = value {
                    self.scheduler
                        .on_result(trial.index, n as u32 + 1, self.mode.score(value));
                }
            }
        }
        self.pending = (0..self.plan.total)
            .filter(|i| trials.get(i).is_none_or(|t| !t.state().is_finished()))
            .collect();
    }

    /// How many trials may run at once: the spec's bound, else as many as
    /// the live hosts have cpus for (read again every [`FLUSH`], as hosts
    /// come and go, rather than on every result).
    fn concurrency(&mut self) -> usize {
        if self.spec.max_concurrent_trials > 0 {
            return self.spec.max_concurrent_trials as usize;
        }
        if let Some((at, n)) = self.room
            && at.elapsed() < FLUSH
        {
            return n;
        }
        let per_trial = match self.spec.cpus {
            0.0 => 1.0,
            cpus => cpus,
        };
        let cpus: f64 = self
            .controller
            .tasks
            .nodes()
            .iter()
            .filter(|n| n.alive)
            .filter_map(|n| n.total.as_ref().map(|r| r.cpus))
            .sum();
        let n = ((cpus / per_trial).floor() as usize).max(1);
        self.room = Some((std::time::Instant::now(), n));
        n
    }

    async fn start_trials(&mut self, owner: u64) {
        if self.pending.is_empty() {
            return;
        }
        let room = self.concurrency().saturating_sub(self.running.len());
        for _ in 0..room {
            let Some(index) = self.pending.pop_front() else {
                return;
            };
            self.start(owner, index).await;
        }
    }

    /// Trial `index`'s config: the one it already had (a retry, or a trial
    /// an earlier leader started and recorded), else the search's.
    fn config_for(&self, index: u32) -> serde_json::Value {
        let recorded = self.trial(index, |t| t.config.clone());
        if let Ok(config) = serde_json::from_str(&recorded) {
            return config;
        }
        let seed = self.seed ^ u64::from(index).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        if !self.plan.tpe {
            return self.plan.space.sample(u64::from(index), self.seed);
        }
        let records = self.controller.tune.lock();
        let Some(trials) = records.trials.get(&self.id) else {
            return search::suggest(&self.plan.space, &[], seed);
        };
        let configs: Vec<(serde_json::Value, f64)> = trials
            .values()
            .filter(|t| t.state().is_finished())
            .filter_map(|t| {
                let config = serde_json::from_str(&t.config).ok()?;
                Some((config, self.mode.score(t.best?)))
            })
            .collect();
        drop(records);
        let observed: Vec<search::Observed<'_>> = configs
            .iter()
            .map(|(config, score)| search::Observed {
                config,
                score: *score,
            })
            .collect();
        search::suggest(&self.plan.space, &observed, seed)
    }

    /// Starts trial `index`'s next attempt: from the start, or from where
    /// a [`Resume`] left it.
    async fn start(&mut self, owner: u64, index: u32) {
        let resume = self.resumes.remove(&index);
        let attempt = {
            let n = self.attempts.entry(index).or_default();
            *n += 1;
            *n
        };
        let (config, checkpoint, iterations) = match resume {
            Some(r) => {
                self.update_trial(index, |t| {
                    t.config = r.config.to_string();
                    t.set_state(TrialState::Running);
                });
                (r.config, r.checkpoint, r.iterations)
            }
            None => {
                let config = self.config_for(index);
                let failures = self.trial(index, |t| t.failures);
                self.put_trial(pb::TuneTrial {
                    experiment: self.id.clone(),
                    index,
                    id: trial_id(&self.id, index),
                    config: config.to_string(),
                    state: TrialState::Running as i32,
                    failures,
                    started_ms: now_ms(),
                    ..Default::default()
                });
                // Recorded at the next flush, so a new leader runs it again
                // with this config (a model-based search's choice cannot be
                // drawn again).
                self.to_write.push(index);
                (config, None, 0)
            }
        };
        let controller = self.controller.clone();
        let typed = match controller
            .config_call(
                &self.digest,
                &self.spec.function,
                &config,
                checkpoint.as_ref(),
            )
            .await
        {
            Ok(typed) => typed,
            Err(e) => {
                self.end_trial(index, TrialState::Error, &e.to_string());
                return;
            }
        };
        let target = match controller.target(&self.digest) {
            Ok(target) => target,
            Err(e) => {
                self.end_trial(index, TrialState::Error, &e.to_string());
                return;
            }
        };
        let group = match self.group_of(index).await {
            Ok(group) => group,
            Err(e) => {
                self.end_trial(index, TrialState::Error, &e.to_string());
                return;
            }
        };
        let task = format!(
            "tune.{}.{index}.{}-{}-{attempt}",
            self.id, self.term, self.number
        );
        let mut options = pb::TaskOptions {
            has_cpus: self.spec.cpus > 0.0,
            cpus: self.spec.cpus,
            // Failures are counted here, against max_failures.
            has_max_retries: true,
            max_retries: 0,
            timeout_ms: self.spec.timeout_ms,
            streaming: true,
            stream_backpressure: 1,
            ..Default::default()
        };
        if let (Some(group), Some(first)) = (group, self.spec.placement_group_bundles.first()) {
            // The trial runs in its gang's first bundle, on its resources,
            // and what it makes goes into the gang.
            options.has_cpus = true;
            options.cpus = first.cpus;
            options.gpus = first.gpus;
            options.placement_group = group;
            options.bundle_index = Some(0);
            options.capture_child_tasks = true;
        }
        let spec = pb::TaskSpec {
            id: task.clone(),
            component: self.digest.clone(),
            function: typed.function,
            args: typed.args,
            options: Some(options),
        };
        tracing::debug!(experiment = %self.id, trial = index, task, "starting a trial");
        self.running.insert(
            task,
            Live {
                index,
                iterations,
                stopping: None,
            },
        );
        controller.tasks.submit(owner, vec![(spec, Ok(target))]);
    }

    /// One item or end of a trial's task.
    fn on_result(&mut self, result: pb::TaskResult, message: &mut pb::OwnerMessage) {
        message.release.push(result.id.clone());
        if let Some((task, n)) = weft_proto::stream_item_of(&result.id) {
            let task = task.to_string();
            self.on_item(&task, n, result, message);
        } else if let Some(live) = self.running.remove(&result.id) {
            self.on_end(live, result);
        }
    }

    fn on_item(
        &mut self,
        task: &str,
        n: u64,
        item: pb::TaskResult,
        message: &mut pb::OwnerMessage,
    ) {
        let Some(live) = self.running.get_mut(task) else {
            return;
        };
        if live.stopping.is_some() {
            return;
        }
        let (index, mut iterations) = (live.index, live.iterations);
        let taken = self.take(index, &mut iterations, &item);
        if let Some(live) = self.running.get_mut(task) {
            live.iterations = iterations;
        }
        let decision = match taken {
            Ok(decision) => decision,
            Err(problem) => {
                self.cancel(task, Ending::End(TrialState::Error, problem), message);
                return;
            }
        };
        let go_on = |message: &mut pb::OwnerMessage| {
            message.consumed.push(pb::StreamProgress {
                task: task.to_string(),
                count: n + 1,
            })
        };
        match decision {
            Decision::Continue => go_on(message),
            Decision::Stop(why) => {
                self.cancel(task, Ending::End(TrialState::Stopped, why), message)
            }
            Decision::Finish(why) => {
                self.cancel(task, Ending::End(TrialState::Terminated, why), message)
            }
            Decision::Exploit { donor } => match self.exploit(index, donor, iterations) {
                Some(resume) => self.cancel(task, Ending::Restart(resume), message),
                None => go_on(message),
            },
        }
    }

    /// Trial `index`'s next start under PBT: donor `donor`'s latest
    /// checkpoint and its config explored; `None` while the donor has no
    /// checkpoint.
    fn exploit(&mut self, index: u32, donor: u32, iterations: u32) -> Option<Resume> {
        let checkpoint = self.checkpoints.get(&donor)?.clone();
        let donor_config: serde_json::Value =
            serde_json::from_str(&self.trial(donor, |t| t.config.clone())).ok()?;
        let config = match &self.mutations {
            Some((mutations, resample)) => {
                let seed = self.seed ^ (u64::from(index) << 32) ^ u64::from(iterations);
                mutations.explore(&donor_config, *resample, seed)
            }
            None => donor_config,
        };
        let donor_id = trial_id(&self.id, donor);
        self.update_trial(index, |t| {
            t.exploited.push(format!(
                "at iteration {iterations}: took {donor_id}'s checkpoint, config {config}"
            ));
        });
        Some(Resume {
            config,
            checkpoint: Some(checkpoint),
            iterations,
        })
    }

    /// Records one result of trial `index` (`iterations` so far) and
    /// judges it.
    fn take(
        &mut self,
        index: u32,
        iterations: &mut u32,
        item: &pb::TaskResult,
    ) -> Result<Decision, String> {
        if item.value.is_empty() && !item.held_by.is_empty() {
            return Err(format!(
                "a result of {} bytes is larger than a trial keeps",
                item.size
            ));
        }
        let value = weft_values::decode(&item.value)
            .map_err(|e| format!("a result could not be read: {e}"))?;
        let value = match value {
            Value::Variant(case, Some(payload)) if case == CHECKPOINTED => {
                let Value::Record(fields) = *payload else {
                    return Err(format!("a `{CHECKPOINTED}` report is not a record"));
                };
                let mut result = None;
                for (name, field) in fields {
                    match (name.as_str(), field) {
                        ("result", v) => result = Some(v),
                        ("checkpoint", Value::Bytes(bytes)) => {
                            self.checkpoints.insert(index, bytes);
                        }
                        (other, _) => {
                            return Err(format!("a `{CHECKPOINTED}` report has a field `{other}`"));
                        }
                    }
                }
                result.ok_or(format!("a `{CHECKPOINTED}` report has no result"))?
            }
            value => value,
        };
        let json = weft_values::to_json(&value);
        let (iteration, metric) = {
            let mut records = self.controller.tune.lock();
            let trial = records
                .trials
                .get_mut(&self.id)
                .and_then(|t| t.get_mut(&index))
                .ok_or("the trial's record is gone")?;
            take_result(trial, iterations, &json, &self.spec.metric, self.mode)
                .map_err(|e| e.to_string())?
        };
        let score = self.mode.score(metric);
        if let Some(target) = self.spec.stop_at
            && score >= self.mode.score(target)
        {
            return Ok(Decision::Finish(format!(
                "stop: {} reached {target}",
                self.spec.metric
            )));
        }
        if self.spec.stop_iterations > 0 && iteration >= self.spec.stop_iterations {
            return Ok(Decision::Finish(format!(
                "stop: {} iterations",
                self.spec.stop_iterations
            )));
        }
        Ok(self.scheduler.on_result(index, iteration, score))
    }

    fn on_end(&mut self, live: Live, result: pb::TaskResult) {
        let index = live.index;
        match live.stopping {
            Some(Ending::End(state, why)) => return self.end_trial(index, state, &why),
            Some(Ending::Restart(resume)) => {
                self.resumes.insert(index, resume);
                // It had a slot and keeps it.
                self.pending.push_front(index);
                return;
            }
            None => {}
        }
        if result.ok {
            // A trainable's return value is one more result unless it is
            // the last one it reported (as `train` returning its last
            // metrics is).
            if result.has_value && !self.repeats_last(index, &result) {
                let mut iterations = live.iterations;
                if let Err(problem) = self.take(index, &mut iterations, &result) {
                    self.end_trial(index, TrialState::Error, &problem);
                    return;
                }
            }
            self.end_trial(index, TrialState::Terminated, "");
            return;
        }
        let failures = self.trial(index, |t| t.failures) + 1;
        self.update_trial(index, |t| t.failures = failures);
        if failures > self.spec.max_failures {
            self.end_trial(index, TrialState::Error, &result.error);
            return;
        }
        tracing::info!(experiment = %self.id, trial = index, failures, error = %result.error, "a trial failed; running it again");
        // From its latest checkpoint, its results up to it kept; without
        // one, from its start.
        match self.checkpoints.get(&index).cloned() {
            Some(checkpoint) => {
                let config = serde_json::from_str(&self.trial(index, |t| t.config.clone()))
                    .unwrap_or_default();
                self.resumes.insert(
                    index,
                    Resume {
                        config,
                        checkpoint: Some(checkpoint),
                        iterations: live.iterations,
                    },
                );
            }
            None => self.scheduler.on_restart(index),
        }
        // It goes first in line: it had a slot and keeps it.
        self.pending.push_front(index);
    }

    /// Whether `result` is trial `index`'s last reported result again.
    fn repeats_last(&self, index: u32, result: &pb::TaskResult) -> bool {
        let Ok(value) = weft_values::decode(&result.value) else {
            return false;
        };
        let json = weft_values::to_json(&value).to_string();
        self.trial(index, |t| {
            t.results.last().is_some_and(|last| *last == json)
        })
    }

    /// Cancels trial task `task`, to be recorded as `state` for `why`
    /// once it ends.
    fn cancel(&mut self, task: &str, ending: Ending, message: &mut pb::OwnerMessage) {
        if let Some(live) = self.running.get_mut(task) {
            live.stopping = Some(ending);
            message.cancel.push(task.to_string());
        }
    }

    /// Cancels the attempts of this experiment's trials that an earlier
    /// leader started: their results went to it, so their trials run
    /// again here from the start, and an attempt whose reports nobody
    /// reads would hold its cpus until its deadline.
    fn cancel_orphans(&self) {
        let prefix = format!("tune.{}.", self.id);
        let ours = |task: &str| {
            weft_proto::stream_item_of(task).is_some() || self.running.contains_key(task)
        };
        for task in self.controller.tasks.cancel_strays(&prefix, ours) {
            tracing::info!(experiment = %self.id, task, "canceled a trial attempt an earlier leader started");
        }
    }

    /// Cancels every trial in flight and records it as stopped now (the
    /// experiment ends, so their ends will not be read).
    fn stop_all(&mut self, why: &str) {
        for (task, live) in std::mem::take(&mut self.running) {
            let _ = self.controller.tasks.cancel(&task);
            self.end_trial(live.index, TrialState::Stopped, why);
        }
    }

    fn trial<T>(&self, index: u32, read: impl FnOnce(&pb::TuneTrial) -> T) -> T
    where
        T: Default,
    {
        self.controller
            .tune
            .lock()
            .trials
            .get(&self.id)
            .and_then(|t| t.get(&index))
            .map(read)
            .unwrap_or_default()
    }

    fn put_trial(&self, trial: pb::TuneTrial) {
        self.controller
            .tune
            .lock()
            .trials
            .entry(self.id.clone())
            .or_default()
            .insert(trial.index, trial);
    }

    fn update_trial(&self, index: u32, change: impl FnOnce(&mut pb::TuneTrial)) {
        if let Some(trial) = self
            .controller
            .tune
            .lock()
            .trials
            .get_mut(&self.id)
            .and_then(|t| t.get_mut(&index))
        {
            change(trial);
        }
    }

    /// Trial `index`'s placement group, when the spec gives bundles: the
    /// one it has (an earlier attempt's, or an earlier leader's, found by
    /// its name `EXPERIMENT/INDEX` in namespace `tune`), else a new one.
    /// A task placed in a group not yet created waits for it.
    async fn group_of(&mut self, index: u32) -> Result<Option<String>, ControllerError> {
        if self.spec.placement_group_bundles.is_empty() {
            return Ok(None);
        }
        if let Some(id) = self.groups.get(&index) {
            return Ok(Some(id.clone()));
        }
        let name = format!("{}/{index}", self.id);
        let tasks = &self.controller.tasks;
        let id = match tasks.group("", &name, GROUPS, Duration::ZERO).await {
            Some(found) if found.state() != pb::PlacementGroupState::Removed => found.id,
            _ => {
                let spec = pb::PlacementGroupSpec {
                    bundles: self.spec.placement_group_bundles.clone(),
                    strategy: self.spec.placement_group_strategy,
                    name,
                    namespace: GROUPS.into(),
                    // The experiment's, not a client's: removed when the
                    // trial ends.
                    detached: true,
                    ..Default::default()
                };
                self.controller.create_group(spec, String::new()).await?.id
            }
        };
        self.groups.insert(index, id.clone());
        Ok(Some(id))
    }

    fn end_trial(&mut self, index: u32, state: TrialState, why: &str) {
        if let Some(group) = self.groups.remove(&index) {
            self.controller.tasks.remove_group(&group);
        }
        self.update_trial(index, |t| {
            t.set_state(state);
            t.ended_ms = now_ms();
            match state {
                TrialState::Error => t.error = why.to_string(),
                TrialState::Stopped | TrialState::Terminated => t.stopped_by = why.to_string(),
                _ => {}
            }
        });
        self.to_write.push(index);
    }

    /// Writes the trials started or ended since the last flush, in one
    /// entry.
    async fn flush(&mut self) -> Result<(), ControllerError> {
        if self.to_write.is_empty() {
            return Ok(());
        }
        let records: Vec<(String, Vec<u8>)> = {
            let records = self.controller.tune.lock();
            let trials = records.trials.get(&self.id);
            self.to_write
                .iter()
                .filter_map(|i| trials.and_then(|t| t.get(i)))
                .map(|t| (trial_key(&self.id, t.index), t.encode_to_vec()))
                .collect()
        };
        self.controller.write_tune(records).await?;
        self.to_write.clear();
        Ok(())
    }
}

/// Checks a user-given experiment id or name: it becomes part of task
/// ids and state keys.
fn check_id(id: &str) -> Result<(), ControllerError> {
    if id.is_empty()
        || id.len() > MAX_ID
        || !id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ControllerError::InvalidRequest(format!(
            "experiment id or name `{id}` must be 1 to {MAX_ID} letters, digits, `-` or `_`"
        )));
    }
    Ok(())
}
