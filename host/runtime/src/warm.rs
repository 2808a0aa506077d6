//! Instances ready before their calls: made ahead, or kept after a task
//! that allows reuse.
//!
//! **Made ahead.** By default every call gets an instance no call has
//! used (nothing leaks from one call into the next), but for a component
//! whose instantiation is slow, the next few are made in the background
//! while the host is otherwise idle, so a call takes one ready-made.
//!
//! A Python component made by componentize-py spends about a millisecond
//! instantiating (its dynamically linked modules fill a function table
//! of thousands of entries), four times what its call costs; a Rust
//! component instantiates in tens of microseconds and is never pooled.
//! The pool is per component, holds at most `HostConfig::warm_instances`,
//! and is filled only after a call, so an idle component's pool never
//! grows. Whether a component is slow is decided by the fastest of each
//! [`SAMPLES`] instantiations (on demand or made ahead; the very first,
//! which pays for cold caches and its code being paged in, aside), and
//! decided again after the next [`SAMPLES`]: one instantiation delayed by a
//! busy machine does not make a fast component look slow, and one that
//! looked slow only while the host was busy goes back to fresh instances.
//! That matters: making instances of a fast component ahead gains its
//! calls nothing and spends a core's time on instances thrown away.
//!
//! **Kept for reuse.** Making an instance ahead moves its cost off the
//! call's path but still spends it, which caps a Python guest near a
//! thousand tasks a second per core. A task that sets `max_calls` above 1
//! (Ray's option of that name, which bounds how many tasks one worker
//! process runs) lets its instance run later tasks of the same owner: the
//! instance goes back to the pool after a call that succeeded, with the
//! guest's globals as the call left them. A trap, a timeout or a refused
//! allocation drops it, as before. Kept instances are per owner (as Ray's
//! workers are per job), at most [`KEEP_USED`] per component, and dropped
//! after [`USED_IDLE`] without a call, so they do not hold the pooling
//! allocator's slots for components no longer called.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wasmtime::component::Instance;
use wasmtime::{Engine, Store};

use crate::cache::Prepared;
use crate::grants::{Grants, OutboundHttp};
use crate::invoke::{Limits, store_for};
use crate::runtime::RuntimeCtx;
use crate::state::{CallState, OutputTail};

/// Used instances kept per component.
pub(crate) const KEEP_USED: usize = 16;

/// How long a used instance is kept without a call.
pub(crate) const USED_IDLE: Duration = Duration::from_secs(10);

/// Which earlier tasks' instance a call may run on: one that ran tasks of
/// the same `scope` (an owner session), fewer than `max_calls` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reuse {
    /// Who shares instances.
    pub scope: String,
    /// Calls one instance may run in all; 1 or less keeps none.
    pub max_calls: u32,
}

impl Reuse {
    /// `None` unless more than one call per instance is allowed.
    pub fn new(scope: impl Into<String>, max_calls: u32) -> Option<Self> {
        (max_calls > 1).then(|| Reuse {
            scope: scope.into(),
            max_calls,
        })
    }
}

/// Instantiations that decide, by the fastest of them, whether a
/// component is slow, until the next as many decide again.
const SAMPLES: usize = 4;

/// A ready instance, with its store and the output it writes.
pub(crate) struct Warm {
    pub(crate) store: Store<CallState>,
    pub(crate) instance: Instance,
    pub(crate) output: OutputTail,
    /// The memory limit its memories were created under.
    memory_limit: u64,
    /// Calls it has run (none for one made ahead).
    pub(crate) served: u32,
    /// Whose calls it ran.
    scope: String,
    /// When its last call ended.
    idle_since: Instant,
    /// The setup call it made last ([`crate::Setup`]).
    pub(crate) setup: Option<crate::Setup>,
}

impl Warm {
    /// Makes the instance the call's: its runtime context, grants and
    /// deadline.
    pub(crate) fn assign(
        &mut self,
        digest: &str,
        function: &str,
        limits: Limits,
        grants: Grants,
        tasks: Option<Arc<dyn crate::services::TaskServices>>,
    ) {
        let state = self.store.data_mut();
        state.outbound = OutboundHttp::new(grants, tasks.clone());
        state.runtime = RuntimeCtx::new(digest, function, tasks);
        state.limiter.refused = None;
        state.deadline = Instant::now() + limits.timeout;
        self.store.set_epoch_deadline(1);
    }

    /// A used instance, from a call that succeeded: what tied it to that
    /// call goes (its task context, its output and log).
    pub(crate) fn used(
        mut store: Store<CallState>,
        instance: Instance,
        output: OutputTail,
        limits: Limits,
        reuse: &Reuse,
        served: u32,
        setup: Option<crate::Setup>,
    ) -> Self {
        store.data_mut().runtime = RuntimeCtx::new("", "", None);
        output.reset();
        Warm {
            store,
            instance,
            output,
            memory_limit: limits.memory,
            served,
            scope: reuse.scope.clone(),
            idle_since: Instant::now(),
            setup,
        }
    }
}

/// The ready instances of one component.
pub(crate) struct WarmPool {
    /// Made ahead; no call has used them.
    ready: Mutex<Vec<Warm>>,
    /// Kept after calls that allow reuse, oldest first.
    used: Mutex<VecDeque<Warm>>,
    /// Whether a sweep of idle used instances is scheduled.
    sweeping: AtomicBool,
    /// Whether the fastest of the last [`SAMPLES`] instantiations took the
    /// host's `warm_after` or longer.
    worth_it: AtomicBool,
    /// Instantiations timed so far.
    sampled: AtomicUsize,
    /// The fastest of those since the last decision, in nanoseconds.
    fastest: AtomicU64,
    /// Instances being made now.
    making: AtomicUsize,
}

impl Default for WarmPool {
    fn default() -> Self {
        WarmPool {
            ready: Mutex::default(),
            used: Mutex::default(),
            sweeping: AtomicBool::new(false),
            worth_it: AtomicBool::new(false),
            sampled: AtomicUsize::new(0),
            fastest: AtomicU64::new(u64::MAX),
            making: AtomicUsize::new(0),
        }
    }
}

impl WarmPool {
    /// A ready instance for a call under `limits`, if one was made under
    /// the same memory limit: with `reuse`, the latest one the same scope
    /// used (its caches are the warmest), else one made ahead (unless
    /// `made_ahead` is false: the call needs an environment of its own).
    pub(crate) fn take(
        &self,
        limits: Limits,
        reuse: Option<&Reuse>,
        made_ahead: bool,
    ) -> Option<Warm> {
        if let Some(reuse) = reuse {
            let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
            let at = used.iter().rposition(|w| {
                w.memory_limit == limits.memory
                    && w.scope == reuse.scope
                    && w.served < reuse.max_calls
            });
            if let Some(warm) = at.and_then(|at| used.remove(at)) {
                return Some(warm);
            }
        }
        // A component never pooled costs its calls no lock.
        if !made_ahead || !self.worth_it.load(Ordering::Relaxed) {
            return None;
        }
        let mut ready = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        let at = ready.iter().position(|w| w.memory_limit == limits.memory)?;
        Some(ready.swap_remove(at))
    }

    /// Keeps a used instance for its scope's next call, unless it has run
    /// all the calls it may; returns the instances dropped (to be dropped
    /// outside the lock) and whether a sweep must be scheduled.
    fn keep(&self, warm: Warm, max_calls: u32) -> (Vec<Warm>, bool) {
        if warm.served >= max_calls {
            return (vec![warm], false);
        }
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        used.push_back(warm);
        let mut dropped = expired(&mut used, Instant::now());
        while used.len() > KEEP_USED {
            dropped.extend(used.pop_front());
        }
        drop(used);
        (dropped, !self.sweeping.swap(true, Ordering::AcqRel))
    }

    /// Drops used instances idle too long; whether any are left.
    fn sweep(&self) -> bool {
        let mut used = self.used.lock().unwrap_or_else(|p| p.into_inner());
        let dropped = expired(&mut used, Instant::now());
        let left = !used.is_empty();
        drop(used);
        drop(dropped);
        left
    }

    /// Notes how long an instantiation took; after each [`SAMPLES`],
    /// decides again whether instances are worth making ahead (dropping
    /// those made, when they no longer are).
    pub(crate) fn instantiated_in(&self, took: Duration, slow: Duration) {
        let n = self.sampled.fetch_add(1, Ordering::Relaxed);
        if n == 0 {
            return;
        }
        let took = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        let fastest = self.fastest.fetch_min(took, Ordering::Relaxed).min(took);
        if !n.is_multiple_of(SAMPLES) {
            return;
        }
        self.fastest.store(u64::MAX, Ordering::Relaxed);
        let worth_it = fastest >= u64::try_from(slow.as_nanos()).unwrap_or(u64::MAX);
        if self.worth_it.swap(worth_it, Ordering::Relaxed) && !worth_it {
            let ready = std::mem::take(&mut *self.ready.lock().unwrap_or_else(|p| p.into_inner()));
            drop(ready);
        }
    }

    /// How many instances are ready now.
    pub(crate) fn len(&self) -> usize {
        self.ready.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Claims the making of one more instance, when the pool is worth
    /// having and is not full counting those being made.
    fn claim(&self, most: usize) -> bool {
        if !self.worth_it.load(Ordering::Relaxed) {
            return false;
        }
        let making = self.making.fetch_add(1, Ordering::AcqRel);
        if making + self.len() >= most {
            self.making.fetch_sub(1, Ordering::AcqRel);
            return false;
        }
        true
    }

    fn made(&self, warm: Option<Warm>) {
        if let Some(warm) = warm {
            self.ready
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(warm);
        }
        self.making.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Takes from the front of `used` (oldest first) those idle since before
/// `now - USED_IDLE`.
fn expired(used: &mut VecDeque<Warm>, now: Instant) -> Vec<Warm> {
    let fresh_from = used
        .iter()
        .position(|w| now.duration_since(w.idle_since) < USED_IDLE)
        .unwrap_or(used.len());
    used.drain(..fresh_from).collect()
}

/// What making an instance ahead of a call needs of the host.
#[derive(Clone)]
pub(crate) struct Maker {
    engine: Engine,
    /// The limits of a call that sets none (the only calls pooled).
    limits: Limits,
    output_limit: usize,
    /// Instances kept ready per component.
    most: usize,
    /// What "slow to instantiate" means (`HostConfig::warm_after`).
    slow: Duration,
}

impl Maker {
    pub(crate) fn new(engine: &Engine, config: &crate::HostConfig) -> Self {
        Maker {
            engine: engine.clone(),
            limits: Limits {
                timeout: config.default_timeout,
                memory: config.default_memory_limit,
            },
            output_limit: config.output_limit,
            most: config.warm_instances,
            slow: config.warm_after,
        }
    }

    /// Tops `prepared`'s pool up in the background, one instance per
    /// call (outside a tokio runtime, as in a blocking test, it does
    /// nothing).
    pub(crate) fn refill(&self, prepared: &Arc<Prepared>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if !prepared.warm.claim(self.most) {
            return;
        }
        let (maker, prepared) = (self.clone(), prepared.clone());
        runtime.spawn(async move {
            let warm = maker.make(&prepared).await;
            prepared.warm.made(warm);
        });
    }

    /// Keeps a used instance in `prepared`'s pool (see [`WarmPool`]),
    /// scheduling the sweep that drops it once idle too long.
    pub(crate) fn keep(&self, prepared: &Arc<Prepared>, warm: Warm, max_calls: u32) {
        let (dropped, schedule) = prepared.warm.keep(warm, max_calls);
        drop(dropped);
        if !schedule {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            prepared.warm.sweeping.store(false, Ordering::Release);
            return;
        };
        let prepared = prepared.clone();
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(USED_IDLE).await;
                if prepared.warm.sweep() {
                    continue;
                }
                prepared.warm.sweeping.store(false, Ordering::Release);
                // One kept after the last look schedules no sweep of its
                // own while this one ran: look again.
                if prepared.warm.sweep() && !prepared.warm.sweeping.swap(true, Ordering::AcqRel) {
                    continue;
                }
                break;
            }
        });
    }

    async fn make(&self, prepared: &Prepared) -> Option<Warm> {
        let output = OutputTail::new(self.output_limit);
        let mut store = store_for(
            &self.engine,
            prepared,
            "",
            self.limits,
            &output,
            Grants::default(),
            None,
        );
        let started = Instant::now();
        let instantiated = prepared.pre.instantiate_async(&mut store).await;
        prepared.warm.instantiated_in(started.elapsed(), self.slow);
        match instantiated {
            Ok(instance) => Some(Warm {
                store,
                instance,
                output,
                memory_limit: self.limits.memory,
                served: 0,
                scope: String::new(),
                idle_since: Instant::now(),
                setup: None,
            }),
            Err(e) => {
                // The call that takes no instance from the pool makes its
                // own, and reports the error properly.
                tracing::debug!(digest = %prepared.digest, "making an instance ahead failed: {e:#}");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SLOW: Duration = Duration::from_micros(50);

    fn decide(times_us: &[u64]) -> bool {
        let pool = WarmPool::default();
        for &t in times_us {
            pool.instantiated_in(Duration::from_micros(t), SLOW);
        }
        pool.worth_it.load(Ordering::Relaxed)
    }

    #[test]
    fn a_slow_first_instantiation_or_one_delayed_one_does_not_make_a_component_slow() {
        assert!(!decide(&[5_000, 20, 400, 25, 30]));
        assert!(!decide(&[5_000, 400, 400, 30, 400]));
    }

    #[test]
    fn a_component_slow_every_time_is_pooled_after_its_samples() {
        assert!(!decide(&[5_000, 1_200, 1_100, 1_300]));
        assert!(decide(&[5_000, 1_200, 1_100, 1_300, 900]));
        // One fast instantiation decides nothing until its window is full.
        assert!(decide(&[5_000, 1_200, 1_100, 1_300, 900, 10, 1_200]));
    }

    #[test]
    fn a_component_that_only_looked_slow_goes_back_to_fresh_instances() {
        assert!(!decide(&[5_000, 1_200, 1_100, 1_300, 900, 30, 25, 20, 22]));
    }
}
