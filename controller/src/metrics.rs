//! The controller's Prometheus metrics: counters and histograms the task
//! table records as tasks finish, and gauges read from the replica's state
//! (Raft progress, tasks by state, hosts) when a scrape asks. Label sets
//! are bounded: outcomes are the fixed failure kinds, never task ids.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use weft_proto::v1 as pb;

/// How a task ended: `ok`, or its failure kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

/// A task state's label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StateLabel {
    pub(crate) state: &'static str,
}

/// What the task table records as tasks move; cheap atomics, shared with
/// every scrape's registry.
#[derive(Clone, Debug)]
pub(crate) struct TaskMetrics {
    finished: Family<Outcome, Counter>,
    /// Those of `finished` that failed, whatever the kind.
    failed: Counter,
    retries: Counter,
    run_seconds: Histogram,
    wait_seconds: Histogram,
}

impl Default for TaskMetrics {
    fn default() -> Self {
        TaskMetrics {
            finished: Family::default(),
            failed: Counter::default(),
            retries: Counter::default(),
            // 50 µs to about 100 s.
            run_seconds: Histogram::new(exponential_buckets(50e-6, 2.0, 22)),
            wait_seconds: Histogram::new(exponential_buckets(10e-6, 2.0, 22)),
        }
    }
}

impl TaskMetrics {
    /// A task ended for good (puts are objects, not tasks: not counted).
    pub(crate) fn finished(&self, result: &pb::TaskResult) {
        let outcome = if result.ok {
            "ok"
        } else {
            self.failed.inc();
            result.failure_kind().as_str()
        };
        self.finished.get_or_create(&Outcome { outcome }).inc();
        if result.run_micros > 0 {
            self.run_seconds
                .observe(Duration::from_micros(result.run_micros).as_secs_f64());
        }
    }

    /// Tasks that finished and that failed, since this replica first led.
    pub(crate) fn totals(&self) -> (u64, u64) {
        let ok = self
            .finished
            .get_or_create(&Outcome { outcome: "ok" })
            .get();
        (ok, self.failed.get())
    }

    /// An attempt failed and the task was queued again.
    pub(crate) fn retried(&self) {
        self.retries.inc();
    }

    /// A task started its first attempt `waited` after it was submitted.
    pub(crate) fn started(&self, waited: Duration) {
        self.wait_seconds.observe(waited.as_secs_f64());
    }

    fn register(&self, registry: &mut Registry) {
        registry.register(
            "tasks_finished",
            "Tasks that ended for good, by outcome (ok, or the failure kind)",
            self.finished.clone(),
        );
        registry.register(
            "task_retries",
            "Attempts that failed and were queued again",
            self.retries.clone(),
        );
        registry.register_with_unit(
            "task_run",
            "Time a task's last attempt took on its host",
            Unit::Seconds,
            self.run_seconds.clone(),
        );
        registry.register_with_unit(
            "task_scheduling",
            "Time from a task's submission to the start of its first attempt",
            Unit::Seconds,
            self.wait_seconds.clone(),
        );
    }
}

/// The bytes of the files in `dir` and below (0 when it cannot be read:
/// a scrape reports what it can).
pub(crate) fn dir_size(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The task table's contents at a scrape.
#[derive(Debug, Default)]
pub(crate) struct TableGauges {
    pub(crate) by_state: Vec<(&'static str, u64)>,
    pub(crate) queued: u64,
    pub(crate) hosts_alive: u64,
    pub(crate) hosts_dead: u64,
    pub(crate) cpus: f64,
    pub(crate) cpus_used: f64,
    pub(crate) gpus_used: f64,
    /// Placement groups by state.
    pub(crate) groups: Vec<(&'static str, u64)>,
}

impl TableGauges {
    /// Registers these gauges and the table's recorded `metrics`.
    pub(crate) fn register(self, metrics: &TaskMetrics, registry: &mut Registry) {
        metrics.register(registry);
        let tasks = Family::<StateLabel, Gauge>::default();
        for (state, n) in self.by_state {
            tasks.get_or_create(&StateLabel { state }).set(n as i64);
        }
        registry.register("tasks", "Tasks the leader tracks, by state", tasks);
        let groups = Family::<StateLabel, Gauge>::default();
        for (state, n) in self.groups {
            groups.get_or_create(&StateLabel { state }).set(n as i64);
        }
        registry.register(
            "placement_groups",
            "Placement groups the leader tracks, by state",
            groups,
        );
        let int = |v: u64| ConstGauge::new(v as i64);
        registry.register(
            "task_queue_depth",
            "Tasks ready to run and waiting for a host with room",
            int(self.queued),
        );
        registry.register("hosts_alive", "Worker hosts alive", int(self.hosts_alive));
        registry.register(
            "hosts_dead",
            "Worker hosts declared dead",
            int(self.hosts_dead),
        );
        registry.register(
            "cluster_cpus",
            "CPU slots offered by live hosts",
            ConstGauge::new(self.cpus),
        );
        registry.register(
            "cluster_cpus_used",
            "CPU slots held by running tasks on live hosts",
            ConstGauge::new(self.cpus_used),
        );
        registry.register(
            "cluster_gpus_used",
            "GPUs held by running tasks on live hosts",
            ConstGauge::new(self.gpus_used),
        );
    }
}
