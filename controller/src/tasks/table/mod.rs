//! The leader's task table and the transitions between task states. Every
//! method runs under the manager's lock and only records what must be sent
//! in the [`Outbox`]; [`Table::flush`] sends it, so one host batch or
//! submission becomes one message per host and per owner.
//!
//! The table is the tasks themselves (entries, the queue, orphans) and
//! parts that own their state: [`Owners`] (sessions and their holds), the
//! [`Outbox`], the [`Retention`] window, and hosts with their resources
//! ([`HostEntry`]). Its methods live here: task transitions in this file,
//! object lifetimes in `objects.rs`, ending a job's work in `jobs.rs`; only
//! what actors do to the table sits with the actors' own state
//! (`super::actors`), whose fields it needs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Instant;

use weft_proto::FailureKind;
use weft_proto::v1 as pb;

use super::events::event;
use super::hosts::HostEntry;
use super::outbox::Outbox;
use super::owners::Owners;
use super::retention::Retention;
use super::task::{State, Task, failure};
use crate::scheduler::{ClusterView, ObjectLocation, Placement, Resources, TaskDemand, place};

mod jobs;
mod objects;
mod streams;

pub use jobs::JobWorkEnded;

/// How many queued tasks in a row may find no room before a scheduling
/// round stops: tasks behind them mostly ask for the same, so scanning a
/// deep queue on every completion would cost more than it finds.
const MAX_MISSES: usize = 8;

/// How far past its cpus a host may be assigned tasks, as a share of its
/// cpus. The host queues the extra ones and starts each the moment a slot
/// frees, so a slot never idles for the round trip to the leader and back.
/// Only cpus are oversubscribed this way; feasibility still uses a host's
/// real total, so every queued task fits once the slots ahead of it free.
const PIPELINE: f64 = 1.0;

/// What hosts reported about tasks this leader does not know yet (after a
/// failover, before their owners resubmit them).
#[derive(Default)]
pub(crate) struct Orphans {
    pub(crate) running: HashMap<String, (String, u32, Vec<u32>)>,
    pub(crate) results: HashMap<String, pb::TaskResult>,
    /// Objects hosts hold that no entry names: their owners claim them by
    /// putting them again; the rest are freed after a while.
    pub(crate) objects: HashMap<String, (String, Instant)>,
}

/// The leader's tasks and objects (one entry each), and the parts that
/// keep the rest.
pub(crate) struct Table {
    pub(crate) tasks: HashMap<String, Task>,
    pub(crate) queue: VecDeque<String>,
    pub(crate) hosts: BTreeMap<String, HostEntry>,
    pub(crate) owners: Owners,
    pub(crate) orphans: Orphans,
    pub(crate) outbox: Outbox,
    retention: Retention,
    pub(crate) actors: super::actors::Actors,
    pub(crate) groups: super::groups::Groups,
    /// Counters and histograms for `/metrics`, kept across a reset.
    pub(crate) metrics: crate::metrics::TaskMetrics,
    /// Recent state changes, for `--detail` and `weft timeline`.
    pub(crate) events: super::events::Events,
    pub(crate) limits: crate::limits::Limits,
}

impl Table {
    pub(crate) fn new(config: &super::TaskConfig) -> Self {
        Table {
            tasks: HashMap::new(),
            queue: VecDeque::new(),
            hosts: BTreeMap::new(),
            owners: Owners::default(),
            orphans: Orphans::default(),
            outbox: Outbox::default(),
            retention: Retention::new(config.retain_finished, config.retain_bytes),
            actors: super::actors::Actors::new(config.max_checkpoint_bytes),
            groups: Default::default(),
            metrics: Default::default(),
            events: Default::default(),
            limits: config.limits,
        }
    }

    /// Records a submitted task (or attaches `owner` to a known one).
    pub(crate) fn submit(&mut self, owner: u64, spec: pb::TaskSpec, target: super::Resolved) {
        let id = spec.id.clone();
        if let Some(task) = self.tasks.get_mut(&id) {
            if let State::Done(result) = &task.state {
                self.outbox.tell(owner, result.clone());
            }
            self.add_owner(owner, &id);
            return;
        }
        let mut task = Task::new(spec, target.as_ref().ok().cloned());
        let pending = self.owners.pending(owner);
        let target = match target {
            Ok(_)
                if pending >= self.limits.queued_per_owner && self.limits.queued_per_owner > 0 =>
            {
                Err((
                    FailureKind::Refused,
                    format!(
                        "refused: this client has {pending} tasks pending, the cluster's limit per \
                         client (--max-pending-tasks); wait for some to finish"
                    ),
                ))
            }
            Ok(target) => {
                self.owners.add_pending(owner);
                task.pending_for = Some(owner);
                Ok(target)
            }
            Err(e) => Err(e),
        };
        self.events.record(pb::TaskEvent {
            label: task.label(),
            ..event(&id, pb::TaskEventKind::Submitted)
        });
        self.tasks.insert(id.clone(), task);
        self.add_owner(owner, &id);
        self.hold_args(&id);
        self.orphans.objects.remove(&id);
        // A host already finished or runs it (reported after a failover).
        if let Some(result) = self.orphans.results.remove(&id) {
            return self.finish(&id, result);
        }
        if let Some((host, attempt, devices)) = self.orphans.running.remove(&id)
            && self.hosts.get(&host).is_some_and(|h| h.alive)
        {
            self.adopt(&id, &host, attempt, &devices);
            return;
        }
        let problem = match target {
            Err(problem) => Some(problem),
            Ok(_) => super::task::check_options(self.tasks[&id].options())
                .err()
                .map(|e| (FailureKind::BadArgument, e.to_string())),
        };
        if let Some((kind, message)) = problem {
            return self.finish(&id, failure(&id, kind, message));
        }
        self.enqueue(&id);
    }

    /// Queues `id`, or has it wait for the argument objects not made yet
    /// (or being rebuilt); fails it at once on one that failed.
    pub(crate) fn enqueue(&mut self, id: &str) {
        let id = id.to_string();
        let refs: Vec<(usize, String)> = self.tasks[&id]
            .spec
            .args
            .iter()
            .enumerate()
            .filter_map(|(i, a)| match &a.kind {
                Some(pb::task_arg::Kind::TaskRef(r)) => Some((i + 1, r.clone())),
                _ => None,
            })
            .collect();
        let mut unresolved = 0;
        for (n, r) in refs {
            let problem = match self.tasks.get_mut(&r) {
                None => Some(format!(
                    "argument {n} refers to object {r}, which this cluster does not know (or has freed)"
                )),
                Some(producer) => match &producer.state {
                    State::Done(res) if res.ok && res.has_value => None,
                    State::Done(res) if res.ok => Some(format!(
                        "argument {n} refers to task {r}, which returned no value"
                    )),
                    State::Done(res) => Some(format!(
                        "argument {n} refers to task {r}, which failed: {}",
                        res.error
                    )),
                    _ => {
                        producer.dependents.push(id.clone());
                        unresolved += 1;
                        None
                    }
                },
            };
            if let Some(message) = problem {
                return self.finish(&id, failure(&id, FailureKind::Dependency, message));
            }
        }
        let Some(task) = self.tasks.get_mut(&id) else {
            return;
        };
        task.unresolved = unresolved;
        if unresolved == 0 {
            task.state = State::Queued;
            self.queue.push_back(id);
        } else {
            task.state = State::Waiting;
        }
    }

    /// Records that `host` runs attempt `attempt` of `id` on GPUs
    /// `devices` (it said so when it registered with this leader).
    pub(crate) fn adopt(&mut self, id: &str, host: &str, attempt: u32, devices: &[u32]) {
        let (Some(task), Some(entry)) = (self.tasks.get_mut(id), self.hosts.get_mut(host)) else {
            return;
        };
        match entry.bundle_for(&task.strategy) {
            Some(bundle) => entry.hold_in(&bundle, id, &task.demand, devices),
            None => entry.hold(id, &task.demand, devices),
        };
        entry.running.insert(id.to_string());
        task.attempt = attempt;
        task.state = State::Running {
            host: host.to_string(),
            blocked: false,
        };
    }

    /// Places queued tasks on hosts with room, in submission order.
    pub(crate) fn schedule(&mut self) {
        if self.queue.is_empty() || !self.hosts.values().any(|h| h.alive) {
            return;
        }
        let mut view = ClusterView {
            hosts: self
                .hosts
                .values()
                .filter(|h| h.alive)
                .map(|h| {
                    let mut view = h.view();
                    view.used.cpus = (view.used.cpus - h.total.cpus * PIPELINE).max(0.0);
                    view
                })
                .collect(),
            objects: BTreeMap::new(),
        };
        let mut skipped = Vec::new();
        while let Some(id) = self.queue.pop_front() {
            let Some(task) = self.tasks.get(&id) else {
                continue;
            };
            if !matches!(task.state, State::Queued) {
                continue;
            }
            let mut demand = TaskDemand {
                resources: task.demand.clone(),
                strategy: task.strategy.clone(),
                args: Vec::new(),
            };
            let mut ready = true;
            for r in task.arg_refs() {
                let Some(State::Done(res)) = self.tasks.get(r).map(|t| &t.state) else {
                    ready = false;
                    break;
                };
                if !res.ok {
                    ready = false;
                    break;
                }
                let holder = if res.held_by.is_empty() {
                    &res.host
                } else {
                    &res.held_by
                };
                view.objects.insert(
                    r.to_string(),
                    ObjectLocation {
                        hosts: vec![holder.clone()],
                        size: res.size.max(res.value.len() as u64),
                    },
                );
                demand.args.push(r.to_string());
            }
            // An argument lost with its host since this was queued waits
            // for its rebuild (or fails it).
            if !ready {
                self.enqueue(&id);
                continue;
            }
            if let Err(why) = self.group_usable(&demand.strategy) {
                let message = format!("task {id} ({}) cannot run: {why}", task.label());
                self.finish(&id, failure(&id, FailureKind::Infeasible, message));
                continue;
            }
            match place(&view, &demand) {
                Ok(Placement::Host(host)) => {
                    if let Some(h) = view.hosts.iter_mut().find(|h| h.id == host) {
                        h.used = h.used.plus(&demand.resources);
                    }
                    self.start(&id, &host, None);
                }
                Ok(Placement::InBundle { host, index }) => {
                    let bundle = view
                        .hosts
                        .iter_mut()
                        .filter(|h| h.id == host)
                        .flat_map(|h| h.bundles.iter_mut())
                        .find(|b| b.index == index && Some(&b.group) == demand.group());
                    if let Some(b) = bundle {
                        b.used = b.used.plus(&demand.resources);
                    }
                    self.start(&id, &host, Some(index));
                }
                Ok(Placement::Queue) => {
                    skipped.push(id);
                    if skipped.len() >= MAX_MISSES {
                        break;
                    }
                }
                Err(e) => {
                    let message = format!("task {id} ({}) cannot run: {e}", task.label());
                    self.finish(&id, failure(&id, FailureKind::Infeasible, message));
                }
            }
        }
        for id in skipped.into_iter().rev() {
            self.queue.push_front(id);
        }
    }

    /// Starts the next attempt of `id` on `host` (in bundle `bundle` of
    /// its placement group, when it runs in one).
    fn start(&mut self, id: &str, host: &str, bundle: Option<u32>) {
        let Some(task) = self.tasks.get(id) else {
            return;
        };
        let Some(target) = task.target.clone() else {
            return;
        };
        let mut objects = Vec::new();
        let args: Vec<pb::TaskArg> = task
            .spec
            .args
            .iter()
            .enumerate()
            .map(|(index, arg)| match &arg.kind {
                Some(pb::task_arg::Kind::TaskRef(r)) => match self.tasks.get(r).map(|t| &t.state) {
                    Some(State::Done(res)) => {
                        let held = !res.held_by.is_empty();
                        objects.push(pb::ObjectArg {
                            index: index as u32,
                            id: r.clone(),
                            held,
                            address: if held && res.held_by != host {
                                res.held_at.clone()
                            } else {
                                String::new()
                            },
                            size: res.size,
                        });
                        // An inline value goes with the task; a held one
                        // the host reads from its store.
                        if held {
                            arg.clone()
                        } else {
                            pb::TaskArg {
                                kind: Some(pb::task_arg::Kind::Value(pb::Value {
                                    encoded: res.value.clone(),
                                    refs: res.contains.clone(),
                                })),
                            }
                        }
                    }
                    _ => arg.clone(),
                },
                _ => arg.clone(),
            })
            .collect();
        let (timeout_ms, memory_limit_bytes, sync_call, max_calls) = (
            task.options().timeout_ms,
            task.options().memory_limit_bytes,
            task.options().sync_call,
            task.options().max_calls,
        );
        let (job, env) = (task.options().job.clone(), task.options().env.clone());
        let (config, secrets, dirs) = (
            task.options().config.clone(),
            task.options().secrets.clone(),
            task.options().dirs.clone(),
        );
        let capture_group = if task.options().capture_child_tasks {
            task.options().placement_group.clone()
        } else {
            String::new()
        };
        let (streaming, stream_backpressure, consumed, emitted) = (
            task.options().streaming,
            task.options().stream_backpressure,
            task.consumed,
            task.items,
        );
        // Instances are shared only among one owner's tasks of one job, as
        // Ray's workers are among one job's (a job's instances also hold
        // its runtime env).
        let instance_scope = match task.owners.first() {
            Some(owner) if max_calls > 1 && job.is_empty() => owner.to_string(),
            Some(owner) if max_calls > 1 => format!("{owner}/{job}"),
            _ => String::new(),
        };
        let function = task.spec.function.clone();
        let demand = task.demand.clone();
        let group = task.strategy.group().cloned();
        let Some(entry) = self.hosts.get_mut(host) else {
            return;
        };
        let gpu_devices = match (bundle, group) {
            (Some(index), Some(group)) => entry.hold_in(&(group, index), id, &demand, &[]),
            _ => entry.hold(id, &demand, &[]),
        };
        entry.running.insert(id.to_string());
        let Some(task) = self.tasks.get_mut(id) else {
            return;
        };
        if task.attempt == 0 {
            self.metrics.started(task.submitted.elapsed());
        }
        task.attempt += 1;
        self.events.record(pb::TaskEvent {
            host: host.to_string(),
            attempt: task.attempt,
            detail: weft_proto::format_gpus(&gpu_devices),
            ..event(id, pb::TaskEventKind::Scheduled)
        });
        task.state = State::Running {
            host: host.to_string(),
            blocked: false,
        };
        self.outbox.assign(
            host,
            pb::Assignment {
                id: id.to_string(),
                attempt: task.attempt,
                digest: target.digest,
                function,
                args,
                timeout_ms,
                memory_limit_bytes,
                allow_http: target.allow_http,
                cpus: demand.cpus,
                gpus: demand.gpus,
                gpu_devices,
                objects,
                sync_call,
                max_calls,
                instance_scope,
                job,
                env,
                streaming,
                stream_backpressure,
                consumed,
                emitted,
                capture_group,
                config,
                secrets,
                dirs,
            },
        );
    }

    /// Takes `id` off its host, giving back what it held.
    fn release(&mut self, id: &str) {
        let Some(task) = self.tasks.get(id) else {
            return;
        };
        if let State::Running { host, blocked } = &task.state
            && let Some(entry) = self.hosts.get_mut(host)
        {
            let mut held = task.demand.clone();
            if *blocked {
                held.cpus = 0.0;
            }
            entry.give_back(id, &held);
            entry.running.remove(id);
        }
    }

    /// Ends `id` for good with `result`, and settles the tasks waiting on it.
    pub(crate) fn finish(&mut self, id: &str, mut result: pb::TaskResult) {
        let mut work = vec![(id.to_string(), None::<pb::TaskResult>)];
        let mut first = true;
        while let Some((id, dependent_result)) = work.pop() {
            let mut result = if first {
                first = false;
                std::mem::take(&mut result)
            } else {
                match dependent_result {
                    Some(r) => r,
                    None => continue,
                }
            };
            self.release(&id);
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            if matches!(task.state, State::Done(_)) {
                continue;
            }
            if !task.put {
                record_end(&self.metrics, &mut self.events, &id, task.attempt, &result);
            }
            // An owner's entry lives while it has tasks pending: sessions
            // come and go by the million.
            if let Some(owner) = task.pending_for.take() {
                self.owners.done_pending(owner);
            }
            if let State::Running { host, .. } = &task.state
                && let Some(entry) = self.hosts.get_mut(host)
            {
                entry.done += 1;
            }
            // Its arguments stay held only while its result might have to
            // be rebuilt from them: a large result of a retriable task.
            let lineage = result.ok && !result.held_by.is_empty() && task.max_retries > 0;
            let release_args = task.args_held && !lineage;
            if release_args {
                task.args_held = false;
            }
            // A detached owner's hold passes to the retention window once.
            let window = std::mem::take(&mut task.retained);
            let contains = if result.ok {
                result.contains.clone()
            } else {
                Vec::new()
            };
            // A stream's end says how many items it had, however it ended.
            if task.options().streaming {
                result.items = task.items;
            }
            self.outbox.tell_all(&task.owners, &result);
            task.state = State::Done(result.clone());
            let dependents = std::mem::take(&mut task.dependents);
            for d in dependents {
                let Some(dep) = self.tasks.get_mut(&d) else {
                    continue;
                };
                if !matches!(dep.state, State::Waiting) {
                    continue;
                }
                if result.ok && result.has_value {
                    dep.unresolved -= 1;
                    if dep.unresolved == 0 {
                        dep.state = State::Queued;
                        self.queue.push_back(d);
                    }
                } else {
                    let why = if result.ok {
                        format!("argument task {id} returned no value")
                    } else {
                        format!("argument task {id} failed: {}", result.error)
                    };
                    work.push((d.clone(), Some(failure(&d, FailureKind::Dependency, why))));
                }
            }
            for c in contains {
                if self.hold(&c)
                    && let Some(task) = self.tasks.get_mut(&id)
                {
                    task.contains.push(c);
                }
            }
            if release_args {
                self.release_args(&id);
            }
            if window {
                self.retire(id.clone());
            }
            self.settle(&id);
        }
        self.outbox.finished();
    }

    /// Reserves `demand` on `host` for a synchronous call it runs in the
    /// leader's process (`local_call.rs`), when it fits there now and no
    /// task waits in the queue (the call must not pass them). The call is
    /// recorded as submitted and scheduled, as a task is.
    pub(crate) fn reserve_local(
        &mut self,
        host: &str,
        id: &str,
        label: String,
        demand: &Resources,
    ) -> bool {
        if !self.queue.is_empty() {
            return false;
        }
        let Some(entry) = self.hosts.get_mut(host) else {
            return false;
        };
        if !entry.alive || entry.used.cpus + demand.cpus > entry.total.cpus + 1e-9 {
            return false;
        }
        entry.hold(id, demand, &[]);
        self.metrics.started(std::time::Duration::ZERO);
        self.events.record(pb::TaskEvent {
            label,
            ..event(id, pb::TaskEventKind::Submitted)
        });
        self.events.record(pb::TaskEvent {
            host: host.to_string(),
            attempt: 1,
            ..event(id, pb::TaskEventKind::Scheduled)
        });
        true
    }

    /// Gives back what [`Table::reserve_local`] took, records how the call
    /// ended (`None`: it was dropped unfinished), frees the objects its
    /// guest made, and starts what now fits.
    pub(crate) fn end_local(
        &mut self,
        host: &str,
        id: &str,
        demand: &Resources,
        ended: Option<(&pb::TaskResult, &[String])>,
    ) {
        if let Some(entry) = self.hosts.get_mut(host) {
            entry.give_back(id, demand);
            entry.done += u64::from(ended.is_some());
        }
        if let Some((result, made)) = ended {
            record_end(&self.metrics, &mut self.events, id, 1, result);
            self.release_guest_refs(made);
        }
        self.schedule();
    }

    /// Puts a detached owner's finished object in the retention window,
    /// and lets go of what the window no longer holds.
    pub(crate) fn retire(&mut self, id: String) {
        let size = match self.tasks.get(&id).map(|t| &t.state) {
            Some(State::Done(r)) => (r.value.len() + r.error.len()) as u64,
            _ => 0,
        };
        for old in self.retention.retire(id, size) {
            self.unhold(&old);
        }
    }

    /// A host reports an attempt's end.
    pub(crate) fn complete(&mut self, host: &str, completion: pb::Completion) {
        let release = completion.release;
        if let Some(result) = completion.result {
            self.complete_attempt(host, completion.attempt, result);
        }
        self.release_guest_refs(&release);
    }

    fn complete_attempt(&mut self, host: &str, attempt: u32, mut result: pb::TaskResult) {
        let id = result.id.clone();
        let Some(task) = self.tasks.get_mut(&id) else {
            self.orphans.results.insert(id, result);
            return;
        };
        let current = matches!(&task.state, State::Running { host: h, .. } if h == host)
            && task.attempt == attempt;
        if !current {
            return;
        }
        result.host = host.to_string();
        result.attempts = task.attempt;
        // A trap is retried only when asked; an argument lost with its
        // host always is (it is rebuilt, or fails this task for good).
        let retry = !result.ok
            && match result.failure_kind() {
                FailureKind::Trap => task.retry_on_trap,
                kind => kind == FailureKind::Lost,
            }
            && task.attempt <= task.max_retries;
        if retry {
            self.metrics.retried();
            self.events.record(pb::TaskEvent {
                host: host.to_string(),
                attempt,
                detail: format!("{}: {}", result.failure_kind().as_str(), result.error),
                ..event(&id, pb::TaskEventKind::Retried)
            });
            task.failures
                .push(format!("attempt {attempt} on {host}: {}", result.error));
            self.release(&id);
            if let Some(task) = self.tasks.get_mut(&id) {
                task.state = State::Queued;
            }
            self.queue.push_front(id);
            return;
        }
        result.contains.retain(|c| *c != id);
        if !result.ok && task.attempt > 1 {
            result.error = format!(
                "task {id} ({}) failed after {} attempts: {} (earlier: {})",
                task.label(),
                task.attempt,
                result.error,
                task.failures.join("; ")
            );
        }
        self.finish(&id, result);
    }

    /// A guest of `id` waits on other tasks (or stopped waiting).
    pub(crate) fn set_blocked(&mut self, host: &str, id: &str, blocked: bool) {
        let Some(task) = self.tasks.get_mut(id) else {
            return;
        };
        let State::Running {
            host: h,
            blocked: b,
        } = &mut task.state
        else {
            return;
        };
        if h != host || *b == blocked {
            return;
        }
        *b = blocked;
        let cpus = task.demand.cpus;
        if let Some(entry) = self.hosts.get_mut(host) {
            entry.lend_cpus(id, cpus, blocked);
        }
    }

    /// Declares `host` dead and retries or fails what ran there.
    pub(crate) fn host_died(&mut self, host: &str, reason: &str) {
        let Some(entry) = self.hosts.get_mut(host) else {
            return;
        };
        if !entry.alive {
            return;
        }
        entry.alive = false;
        entry.dead_reason = reason.to_string();
        entry.commands = None;
        let address = entry.address.clone();
        let running: Vec<String> = entry.running.iter().cloned().collect();
        tracing::warn!(host, %address, reason, tasks = running.len(), "host is dead");
        // Its bundles are placed again first, before the work that ran in
        // them looks for room.
        self.groups_lost_host(host);
        self.actors_lost_host(host, reason);
        for id in running {
            self.release(&id);
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            let cause = format!("host {host} at {address} {reason}");
            if task.attempt <= task.max_retries {
                task.failures
                    .push(format!("attempt {}: {cause}", task.attempt));
                task.state = State::Queued;
                self.queue.push_front(id);
            } else {
                let message = format!(
                    "task {id} ({}) failed after {} attempt{}: {cause}{}",
                    task.label(),
                    task.attempt,
                    if task.attempt == 1 { "" } else { "s" },
                    if task.failures.is_empty() {
                        String::new()
                    } else {
                        format!(" (earlier: {})", task.failures.join("; "))
                    }
                );
                let mut result = failure(&id, FailureKind::HostDied, message);
                result.host = host.to_string();
                result.attempts = task.attempt;
                self.finish(&id, result);
            }
        }
        self.lose_objects(host, &address, reason);
        // Hard affinity to it, or needs only it had, may now be infeasible:
        // the next round says so.
        self.schedule();
    }

    /// Cancels `id`; false when it had already ended.
    pub(crate) fn cancel(&mut self, id: &str) -> Option<bool> {
        let task = self.tasks.get(id)?;
        match &task.state {
            State::Done(_) => Some(false),
            State::Running { host, .. } => {
                if let Some(entry) = self.hosts.get(host) {
                    entry.send(pb::host_command::Kind::Cancel(id.to_string()));
                }
                let message = format!("task {id} ({}) was canceled while running", task.label());
                self.finish(id, failure(id, FailureKind::Canceled, message));
                Some(true)
            }
            State::Waiting | State::Queued => {
                let message = format!("task {id} ({}) was canceled before it ran", task.label());
                self.finish(id, failure(id, FailureKind::Canceled, message));
                Some(true)
            }
        }
    }

    /// Sends what the last operation produced.
    pub(crate) fn flush(&mut self) {
        self.outbox.flush(&self.owners, &self.hosts);
    }

    /// Hosts silent for longer than `timeout`.
    pub(crate) fn silent_hosts(&self, now: Instant, timeout: std::time::Duration) -> Vec<String> {
        self.hosts
            .values()
            .filter(|h| h.alive && now.duration_since(h.last_seen) > timeout)
            .map(|h| h.id.clone())
            .collect()
    }
}

/// Counts and records how attempt `attempt` of `id` ended.
fn record_end(
    metrics: &crate::metrics::TaskMetrics,
    events: &mut super::events::Events,
    id: &str,
    attempt: u32,
    result: &pb::TaskResult,
) {
    metrics.finished(result);
    let (kind, detail) = if result.ok {
        (pb::TaskEventKind::Finished, String::new())
    } else {
        let kind = result.failure_kind().as_str();
        (
            pb::TaskEventKind::Failed,
            format!("{kind}: {}", result.error),
        )
    };
    events.record(pb::TaskEvent {
        host: result.host.clone(),
        attempt,
        detail,
        run_micros: result.run_micros,
        ..event(id, kind)
    });
}
