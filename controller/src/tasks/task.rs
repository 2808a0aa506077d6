//! One task as the leader tracks it: what was asked, what it needs, where
//! it is in its life, and who waits for it.

use std::time::Instant;

use weft_proto::v1 as pb;

use crate::scheduler::{Resources, Strategy};

/// Where a task is in its life.
#[allow(
    clippy::large_enum_variant,
    reason = "most entries spend most of their life Done: boxing the result would cost an allocation per task for nothing"
)]
#[derive(Debug, Clone)]
pub(crate) enum State {
    /// Some argument tasks have not finished.
    Waiting,
    /// Ready to run, waiting for a host with room.
    Queued,
    /// Assigned to `host`; `blocked` while its guest waits on other tasks
    /// (its cpus are lent back to the scheduler meanwhile).
    Running { host: String, blocked: bool },
    /// Finished, failed or canceled, for good.
    Done(pb::TaskResult),
}

impl State {
    /// The state clients see.
    pub(crate) fn public(&self) -> pb::TaskState {
        match self {
            State::Waiting => pb::TaskState::Waiting,
            State::Queued => pb::TaskState::Queued,
            State::Running { .. } => pb::TaskState::Running,
            State::Done(r) if r.ok => pb::TaskState::Finished,
            State::Done(_) => pb::TaskState::Failed,
        }
    }
}

/// The component a task calls, resolved on the leader at submission.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) digest: String,
    pub(crate) allow_http: Vec<String>,
}

/// A task.
#[derive(Debug)]
pub(crate) struct Task {
    pub(crate) spec: pb::TaskSpec,
    pub(crate) target: Option<Target>,
    pub(crate) demand: Resources,
    pub(crate) strategy: Strategy,
    pub(crate) max_retries: u32,
    pub(crate) retry_on_trap: bool,
    /// Attempts started so far.
    pub(crate) attempt: u32,
    pub(crate) state: State,
    /// Owner sessions to send the result to.
    pub(crate) owners: Vec<u64>,
    /// Tasks waiting for this one's result.
    pub(crate) dependents: Vec<String>,
    /// Argument tasks not finished yet.
    pub(crate) unresolved: usize,
    /// Why earlier attempts failed, for the final error.
    pub(crate) failures: Vec<String>,
    /// Holders of its ref: owners, tasks taking it as an argument (while
    /// they may need it), objects containing it, the retention window.
    /// At zero, once finished, it is freed.
    pub(crate) refs: u32,
    /// An object an owner put: there is no task to rebuild it from.
    pub(crate) put: bool,
    /// Whether it still holds its argument objects: until it finishes,
    /// and after, while its result might have to be rebuilt from them.
    pub(crate) args_held: bool,
    /// Objects its result contains refs to (held while it lives).
    pub(crate) contains: Vec<String>,
    /// Held by the retention window of detached owners' results.
    pub(crate) retained: bool,
    /// When it was submitted, for the scheduling-latency histogram.
    pub(crate) submitted: Instant,
    /// The owner whose pending count it is in, until it finishes.
    pub(crate) pending_for: Option<u64>,
    /// A streaming task's items recorded so far (the next one it may
    /// emit is `<id>.<items>`), and how many its owner has read.
    pub(crate) items: u64,
    pub(crate) consumed: u64,
}

/// The options of a task that sent none.
static NO_OPTIONS: std::sync::LazyLock<pb::TaskOptions> =
    std::sync::LazyLock::new(Default::default);

/// Default attempts after a host failure, as in Ray.
pub(crate) const DEFAULT_MAX_RETRIES: u32 = 3;

impl Task {
    /// A task from its spec; `target` is `None` when the component is unknown.
    pub(crate) fn new(spec: pb::TaskSpec, target: Option<Target>) -> Self {
        let options = spec.options.as_ref().unwrap_or(&*NO_OPTIONS);
        let demand = Resources {
            cpus: if options.has_cpus { options.cpus } else { 1.0 },
            memory: options.memory,
            gpus: options.gpus,
            custom: options
                .custom
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        };
        let strategy =
            if let Some(bundle) = in_group(&options.placement_group, options.bundle_index) {
                bundle
            } else if !options.affinity_host.is_empty() {
                Strategy::NodeAffinity {
                    host: options.affinity_host.clone(),
                    soft: options.affinity_soft,
                }
            } else if options.strategy == "spread" {
                Strategy::Spread
            } else {
                Strategy::Default
            };
        let max_retries = if options.has_max_retries {
            options.max_retries
        } else {
            DEFAULT_MAX_RETRIES
        };
        let retry_on_trap = options.retry_on_trap;
        Task {
            target,
            demand,
            strategy,
            max_retries,
            retry_on_trap,
            attempt: 0,
            state: State::Queued,
            owners: Vec::new(),
            dependents: Vec::new(),
            unresolved: 0,
            failures: Vec::new(),
            refs: 0,
            put: false,
            args_held: false,
            contains: Vec::new(),
            retained: false,
            submitted: Instant::now(),
            pending_for: None,
            items: 0,
            consumed: 0,
            spec,
        }
    }

    /// An object put by an owner, finished from the start.
    pub(crate) fn object(result: pb::TaskResult) -> Self {
        let spec = pb::TaskSpec {
            id: result.id.clone(),
            function: "put".into(),
            ..Default::default()
        };
        let mut task = Task::new(spec, None);
        task.put = true;
        task.state = State::Done(result);
        task
    }

    /// Whether its result, lost with a host, can be made again by running
    /// it again.
    pub(crate) fn rebuildable(&self) -> bool {
        !self.put && self.target.is_some() && self.args_held && self.attempt <= self.max_retries
    }

    /// `component.function`, for messages.
    pub(crate) fn label(&self) -> String {
        if self.put {
            return "a put object".into();
        }
        format!("{}.{}", self.spec.component, self.spec.function)
    }

    /// Ids of the tasks whose results are arguments.
    pub(crate) fn arg_refs(&self) -> impl Iterator<Item = &str> {
        self.spec.args.iter().filter_map(|a| match &a.kind {
            Some(pb::task_arg::Kind::TaskRef(r)) => Some(r.as_str()),
            _ => None,
        })
    }

    /// Every object its arguments refer to: the refs passed as arguments
    /// and the refs nested inside argument values (recorded when they
    /// were encoded). The task holds them all while it may run.
    pub(crate) fn held_refs(&self) -> impl Iterator<Item = &str> {
        self.spec.args.iter().flat_map(|a| {
            let (top, nested): (Option<&str>, &[String]) = match &a.kind {
                Some(pb::task_arg::Kind::TaskRef(r)) => (Some(r.as_str()), &[]),
                Some(pb::task_arg::Kind::Value(v)) => (None, &v.refs),
                None => (None, &[]),
            };
            top.into_iter().chain(nested.iter().map(String::as_str))
        })
    }

    /// The task's options (defaults when it sent none).
    pub(crate) fn options(&self) -> &pb::TaskOptions {
        self.spec.options.as_ref().unwrap_or(&*NO_OPTIONS)
    }
}

/// A failed result.
pub(crate) fn failure(
    id: &str,
    kind: weft_proto::FailureKind,
    message: impl Into<String>,
) -> pb::TaskResult {
    pb::TaskResult {
        id: id.to_string(),
        ok: false,
        failure: kind.into(),
        error: message.into(),
        ..Default::default()
    }
}

/// The strategy of work placed into placement group `group` (none when
/// empty): bundle `index`, or any bundle when it is unset or negative (-1
/// in Ray's API).
pub(crate) fn in_group(group: &str, index: Option<i32>) -> Option<Strategy> {
    (!group.is_empty()).then(|| Strategy::Bundle {
        group: group.to_string(),
        index: index.and_then(|i| u32::try_from(i).ok()),
    })
}

/// Task options the scheduler cannot act on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum BadOptions {
    #[error("cpus must be a number >= 0, got {0}")]
    Cpus(f64),
    #[error("resource `{0}` must be >= 0, got {1}")]
    Resource(String, f64),
    #[error("unknown scheduling strategy `{0}` (use default or spread, or node affinity)")]
    Strategy(String),
}

/// Whether `options` ask for something the scheduler cannot parse.
pub(crate) fn check_options(options: &pb::TaskOptions) -> Result<(), BadOptions> {
    if options.has_cpus && !(options.cpus >= 0.0 && options.cpus.is_finite()) {
        return Err(BadOptions::Cpus(options.cpus));
    }
    if let Some((name, amount)) = options
        .custom
        .iter()
        .find(|(_, a)| !(**a >= 0.0 && a.is_finite()))
    {
        return Err(BadOptions::Resource(name.clone(), *amount));
    }
    if !matches!(options.strategy.as_str(), "" | "default" | "spread") {
        return Err(BadOptions::Strategy(options.strategy.clone()));
    }
    Ok(())
}
