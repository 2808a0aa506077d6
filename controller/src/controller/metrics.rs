//! The controller's `/metrics`: the gauges read from this replica when a
//! scrape asks (`crate::metrics` holds the families and the task table's
//! counters).

use std::sync::atomic::Ordering;

use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Registry, Unit};

use crate::controller::Controller;
use crate::metrics::{StateLabel, dir_size};

impl Controller {
    /// Registers this replica's metrics in `registry`: Raft progress on
    /// every replica; tasks, hosts and their resources on the leader (the
    /// only replica that holds them).
    pub fn register_metrics(&self, registry: &mut Registry) {
        let group = self.group();
        let gauge = |v: u64| ConstGauge::new(v as i64);
        registry.register("raft_term", "The current Raft term", gauge(group.term));
        registry.register(
            "raft_is_leader",
            "1 on the leader, else 0",
            gauge(u64::from(group.leader == Some(group.id))),
        );
        registry.register(
            "raft_last_log_index",
            "Index of the last entry in this replica's log",
            gauge(group.last_log_index),
        );
        registry.register(
            "raft_commit_index",
            "Index of the last entry known committed",
            gauge(group.commit_index),
        );
        registry.register(
            "raft_applied_index",
            "Index of the last entry applied to the state machine",
            gauge(group.applied_index),
        );
        registry.register(
            "raft_snapshot_index",
            "Index the latest snapshot covers",
            gauge(group.snapshot_index),
        );
        registry.register(
            "raft_log_entries",
            "Entries in this replica's log not yet purged behind a snapshot",
            gauge(group.last_log_index.saturating_sub(group.purged_index)),
        );
        registry.register(
            "raft_leader_changes",
            "Leaders this replica has seen take office since it started",
            ConstCounter::new(self.leader_changes.load(Ordering::Relaxed)),
        );
        let dir = &self.config.data_dir;
        registry.register_with_unit(
            "raft_storage_size",
            "Bytes on disk of this replica's log, vote and state (sled)",
            Unit::Bytes,
            gauge(dir_size(&dir.join("raft"))),
        );
        registry.register_with_unit(
            "raft_snapshot_size",
            "Bytes of this replica's latest snapshot on disk",
            Unit::Bytes,
            gauge(dir_size(&dir.join("snapshots"))),
        );
        registry.register(
            "raft_members",
            "Members of the controller group",
            gauge(group.members.len() as u64),
        );
        if let Ok(components) = self.state().components() {
            registry.register(
                "components",
                "Deployed components",
                gauge(components.len() as u64),
            );
        }
        if let Some(by_state) = self.jobs_by_state() {
            let jobs = Family::<StateLabel, Gauge>::default();
            for (state, n) in by_state {
                jobs.get_or_create(&StateLabel { state }).set(n as i64);
            }
            registry.register("jobs", "Jobs by state (on the leader)", jobs);
        }
        self.tasks.register_metrics(registry);
        self.register_serve_metrics(registry);
    }
}
