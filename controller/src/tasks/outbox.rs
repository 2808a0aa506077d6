//! What the table's transitions have to send, collected under the lock and
//! sent by [`Outbox::flush`] once the operation is over: one message per
//! owner and per host, however many tasks an operation touched.

use std::collections::{BTreeMap, HashMap};

use weft_proto::v1 as pb;

use super::hosts::HostEntry;
use super::owners::Owners;

/// Results for owners, assignments for hosts and freed objects, not yet
/// sent; and whether anything finished (which wakes `get`).
#[derive(Default)]
pub(crate) struct Outbox {
    results: HashMap<u64, Vec<pb::TaskResult>>,
    assignments: HashMap<String, Vec<pb::Assignment>>,
    freed: Vec<String>,
    any_finished: bool,
}

impl Outbox {
    /// Queues `result` for `owner`.
    pub(crate) fn tell(&mut self, owner: u64, result: pb::TaskResult) {
        self.results.entry(owner).or_default().push(result);
    }

    /// Queues `result` for each of `owners`.
    pub(crate) fn tell_all(&mut self, owners: &[u64], result: &pb::TaskResult) {
        for owner in owners {
            self.tell(*owner, result.clone());
        }
    }

    /// Queues an assignment for `host`.
    pub(crate) fn assign(&mut self, host: &str, assignment: pb::Assignment) {
        self.assignments
            .entry(host.to_string())
            .or_default()
            .push(assignment);
    }

    /// Queues object `id` for every host to delete.
    pub(crate) fn free(&mut self, id: String) {
        self.freed.push(id);
    }

    /// Notes that something finished (or an object appeared).
    pub(crate) fn finished(&mut self) {
        self.any_finished = true;
    }

    /// Whether something finished since the last call.
    pub(crate) fn take_finished(&mut self) -> bool {
        std::mem::take(&mut self.any_finished)
    }

    /// Sends what is queued: results to their owners' sessions, freed
    /// objects to every live host, assignments to their hosts.
    pub(crate) fn flush(&mut self, owners: &Owners, hosts: &BTreeMap<String, HostEntry>) {
        for (owner, finished) in self.results.drain() {
            owners.send(
                owner,
                pb::OwnerEvent {
                    accepted: Vec::new(),
                    finished,
                },
            );
        }
        if !self.freed.is_empty() {
            let ids = std::mem::take(&mut self.freed);
            for entry in hosts.values().filter(|h| h.alive) {
                entry.send(pb::host_command::Kind::Free(pb::ObjectIds {
                    ids: ids.clone(),
                }));
            }
        }
        for (host, tasks) in self.assignments.drain() {
            if let Some(entry) = hosts.get(&host) {
                entry.send(pb::host_command::Kind::Assign(pb::AssignmentBatch {
                    tasks,
                }));
            }
        }
    }
}
