//! What waits for room that no live host has now, by resource shape: the
//! signal an autoscaler starts hosts on (Ray's autoscaler reads the same
//! from its GCS: pending tasks, actors and placement-group bundles).

use weft_proto::v1 as pb;

use super::actors;
use super::hosts::to_pb;
use super::table::Table;
use super::task::State;
use crate::scheduler::{Resources, Strategy};

impl Table {
    /// Up to `limit` demands, oldest first: queued tasks and waiting actors
    /// that no live host has room for now, and bundles not placed.
    pub(crate) fn demand(&self, limit: usize) -> Vec<pb::Demand> {
        let free: Vec<Resources> = self
            .hosts
            .values()
            .filter(|h| h.alive)
            .map(|h| h.total.minus(&h.used))
            .collect();
        let fits_now = |need: &Resources| free.iter().any(|f| f.covers(need));
        let mut out = Vec::new();
        for id in &self.queue {
            let Some(task) = self.tasks.get(id) else {
                continue;
            };
            // Work in a placement group waits for its bundle, not a host.
            if !matches!(task.state, State::Queued)
                || matches!(task.strategy, Strategy::Bundle { .. })
                || fits_now(&task.demand)
            {
                continue;
            }
            out.push(pb::Demand {
                resources: Some(to_pb(&task.demand)),
                kind: "task".into(),
                id: id.clone(),
            });
        }
        for id in &self.actors.waiting {
            let Some(record) = self.actors.records.get(id) else {
                continue;
            };
            let need = actors::demand(record);
            if actors::options(record).placement_group.is_empty() && !fits_now(&need) {
                out.push(pb::Demand {
                    resources: Some(to_pb(&need)),
                    kind: "actor".into(),
                    id: id.clone(),
                });
            }
        }
        for entry in self.groups.entries.values() {
            let record = &entry.record;
            if !matches!(
                record.state(),
                pb::PlacementGroupState::Pending | pb::PlacementGroupState::Rescheduling
            ) {
                continue;
            }
            let spec = record.spec.clone().unwrap_or_default();
            for (index, bundle) in spec.bundles.iter().enumerate() {
                if record.bundle_hosts.get(index).is_none_or(String::is_empty) {
                    out.push(pb::Demand {
                        resources: Some(bundle.clone()),
                        kind: "bundle".into(),
                        id: record.id.clone(),
                    });
                }
            }
        }
        out.truncate(limit);
        out
    }
}

impl super::TaskManager {
    /// What waits for room no live host has now (see [`Table::demand`]).
    pub fn demand(&self) -> Vec<pb::Demand> {
        self.with(|t| t.demand(10_000))
    }
}
