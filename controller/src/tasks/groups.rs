//! Placement groups on the leader: their records, which bundles are
//! reserved on which host, and what happens when a host holding bundles
//! dies, a group is removed, or its owner goes away.
//!
//! A group's record is durable, as an actor's is: every change goes to the
//! replicated state (see [`Groups::persist_out`]). Its placement is atomic:
//! the leader reserves every bundle on its host at once (or none, while it
//! waits), and a bundle takes work only once the record naming its host is
//! written, so no work runs in a placement that a leader change could
//! forget. A new leader reads the records and reserves each written bundle
//! again as its host registers.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use weft_proto::v1 as pb;

use super::actors::{namespace, options};
use super::hosts::from_pb;
use super::table::Table;
use super::task::{State, failure};
use crate::scheduler::{
    ClusterView, GroupDemand, GroupPlacement, GroupStrategy, Resources, Strategy, place_group,
};

/// A placement group's name is held by another group in its namespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a placement group named `{name}` already exists in namespace `{namespace}` ({holder})")]
pub struct GroupNameTaken {
    /// The name asked for.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The group that holds it.
    pub holder: String,
}

/// A group and how far its record is written.
pub(crate) struct GroupEntry {
    pub(crate) record: pb::PlacementGroupRecord,
    /// Bumped at every change that is persisted.
    version: u64,
    /// The latest version the replicated state holds.
    written: u64,
}

/// The leader's placement groups.
#[derive(Default)]
pub(crate) struct Groups {
    pub(crate) entries: BTreeMap<String, GroupEntry>,
    /// Groups with bundles to place, in the order they asked (groups that
    /// lost a host go first).
    waiting: VecDeque<String>,
    /// Groups changed since the last flush: the writer writes each one's
    /// latest record.
    pub(crate) persist_out: Vec<String>,
    /// Hosts that loaded records name and that have not registered with
    /// this leader yet: since when.
    unconfirmed: HashMap<String, Instant>,
    /// Whether the records were read from the replicated state.
    pub(crate) loaded: bool,
    /// Whether anything changed since the last flush (wakes waiters).
    pub(crate) changed: bool,
}

/// Milliseconds since the epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn spec(record: &pb::PlacementGroupRecord) -> pb::PlacementGroupSpec {
    record.spec.clone().unwrap_or_default()
}

fn bundles(record: &pb::PlacementGroupRecord) -> Vec<Resources> {
    spec(record).bundles.iter().map(from_pb).collect()
}

fn strategy(record: &pb::PlacementGroupRecord) -> GroupStrategy {
    match spec(record).strategy() {
        pb::PlacementStrategy::Pack => GroupStrategy::Pack,
        pb::PlacementStrategy::Spread => GroupStrategy::Spread,
        pb::PlacementStrategy::StrictPack => GroupStrategy::StrictPack,
        pb::PlacementStrategy::StrictSpread => GroupStrategy::StrictSpread,
    }
}

impl Table {
    /// Records a new group and looks for hosts for it. Fails when its name
    /// is taken in its namespace.
    pub(crate) fn create_group(
        &mut self,
        record: pb::PlacementGroupRecord,
    ) -> Result<(), GroupNameTaken> {
        let s = spec(&record);
        if !s.name.is_empty()
            && let Some(other) = self.find_group("", &s.name, &s.namespace)
            && other.state() != pb::PlacementGroupState::Removed
        {
            return Err(GroupNameTaken {
                name: s.name.clone(),
                namespace: namespace(&s.namespace).to_string(),
                holder: other.id.clone(),
            });
        }
        let id = record.id.clone();
        self.groups.entries.insert(
            id.clone(),
            GroupEntry {
                record,
                version: 1,
                written: 0,
            },
        );
        // Placed at once where it fits, so that its first record already
        // names every bundle's host: one write creates it.
        self.groups.waiting.push_back(id.clone());
        self.place_groups();
        if !self.groups.persist_out.contains(&id) {
            self.groups.persist_out.push(id);
        }
        Ok(())
    }

    /// Group `id`'s latest record and its version, when the replicated
    /// state does not hold that version yet.
    pub(crate) fn group_snapshot(&self, id: &str) -> Option<(pb::PlacementGroupRecord, u64)> {
        self.groups
            .entries
            .get(id)
            .filter(|e| e.written < e.version)
            .map(|e| (e.record.clone(), e.version))
    }

    /// Group `id` changed: a new version, for the writer.
    fn group_changed(&mut self, id: &str) {
        if let Some(entry) = self.groups.entries.get_mut(id) {
            entry.version += 1;
        }
        self.groups.persist_out.push(id.to_string());
        self.groups.changed = true;
    }

    /// The group with this id, or the one with this name in this namespace
    /// (the one not removed, else the newest).
    pub(crate) fn find_group(
        &self,
        id: &str,
        name: &str,
        ns: &str,
    ) -> Option<&pb::PlacementGroupRecord> {
        if !id.is_empty() {
            return self.groups.entries.get(id).map(|e| &e.record);
        }
        self.groups
            .entries
            .values()
            .map(|e| &e.record)
            .filter(|r| {
                let s = spec(r);
                s.name == name && namespace(&s.namespace) == namespace(ns)
            })
            .max_by_key(|r| (r.state() != pb::PlacementGroupState::Removed, r.created_ms))
    }

    /// Every group, in id order (created only once written).
    pub(crate) fn groups(&self) -> Vec<pb::PlacementGroupRecord> {
        self.groups
            .entries
            .values()
            .map(|e| shown(e.record.clone(), self.group_ready(&e.record.id)))
            .collect()
    }

    /// Whether work placed with `strategy` can ever run: its group exists,
    /// is not removed, and has the bundle it names.
    pub(crate) fn group_usable(&self, strategy: &Strategy) -> Result<(), String> {
        let Strategy::Bundle { group, index } = strategy else {
            return Ok(());
        };
        let Some(entry) = self.groups.entries.get(group) else {
            // A new leader reads the records before it schedules.
            return if self.groups.loaded {
                Err(format!(
                    "there is no placement group {group} (see `weft pg list`)"
                ))
            } else {
                Ok(())
            };
        };
        if entry.record.state() == pb::PlacementGroupState::Removed {
            return Err(format!("its placement group {group} was removed"));
        }
        let count = spec(&entry.record).bundles.len();
        match index {
            Some(i) if *i as usize >= count => Err(format!(
                "bundle_index {i} is out of range: placement group {group} has {count} bundles"
            )),
            _ => Ok(()),
        }
    }

    /// Places the groups that wait, each whole or not at all.
    pub(crate) fn place_groups(&mut self) {
        if self.groups.waiting.is_empty() || !self.hosts.values().any(|h| h.alive) {
            return;
        }
        let mut still = VecDeque::new();
        while let Some(id) = self.groups.waiting.pop_front() {
            let Some(entry) = self.groups.entries.get(&id) else {
                continue;
            };
            let record = &entry.record;
            if record.state() == pb::PlacementGroupState::Removed {
                continue;
            }
            let view = ClusterView {
                hosts: self.hosts.values().map(|h| h.view()).collect(),
                objects: Default::default(),
            };
            let demand = GroupDemand {
                bundles: bundles(record),
                strategy: strategy(record),
                placed: record
                    .bundle_hosts
                    .iter()
                    .map(|h| (!h.is_empty()).then(|| h.clone()))
                    .collect(),
            };
            match place_group(&view, &demand) {
                GroupPlacement::Hosts(hosts) => {
                    for (index, (host, bundle)) in hosts.iter().zip(&demand.bundles).enumerate() {
                        if let Some(entry) = self.hosts.get_mut(host) {
                            entry.reserve((id.clone(), index as u32), bundle, false);
                        }
                    }
                    let Some(entry) = self.groups.entries.get_mut(&id) else {
                        continue;
                    };
                    let record = &mut entry.record;
                    record.bundle_hosts = hosts;
                    record.set_state(pb::PlacementGroupState::Created);
                    record.pending_reason.clear();
                    record.placed_ms = now_ms();
                    tracing::debug!(group = %id, hosts = ?record.bundle_hosts, "placement group placed");
                    self.group_changed(&id);
                }
                GroupPlacement::Pending(reason) => {
                    if let Some(entry) = self.groups.entries.get_mut(&id)
                        && entry.record.pending_reason != reason
                    {
                        tracing::info!(group = %id, %reason, "placement group waits");
                        entry.record.pending_reason = reason;
                        self.groups.changed = true;
                    }
                    still.push_back(id);
                }
            }
        }
        self.groups.waiting = still;
    }

    /// The replicated state holds version `version` of group `id`: once it
    /// holds the latest, the group's bundles take work.
    pub(crate) fn group_written(&mut self, id: &str, version: u64) {
        let Some(entry) = self.groups.entries.get_mut(id) else {
            return;
        };
        entry.written = entry.written.max(version);
        if entry.written < entry.version {
            return;
        }
        for (index, host) in entry.record.bundle_hosts.iter().enumerate() {
            if let Some(slot) = self
                .hosts
                .get_mut(host)
                .and_then(|h| h.bundles.get_mut(&(id.to_string(), index as u32)))
            {
                slot.ready = true;
            }
        }
        self.groups.changed = true;
        self.schedule();
        self.place_actors();
    }

    /// Whether group `id` is created and written (its work may run).
    pub(crate) fn group_ready(&self, id: &str) -> bool {
        self.groups.entries.get(id).is_some_and(|e| {
            e.record.state() == pb::PlacementGroupState::Created && e.written >= e.version
        })
    }

    /// Removes a group: frees its bundles and kills what runs in it.
    /// False if it was removed already.
    pub(crate) fn remove_group(&mut self, id: &str, cause: &str) -> bool {
        let Some(entry) = self.groups.entries.get_mut(id) else {
            return false;
        };
        if entry.record.state() == pb::PlacementGroupState::Removed {
            return false;
        }
        let record = &mut entry.record;
        for (index, host) in record.bundle_hosts.iter().enumerate() {
            if let Some(h) = self.hosts.get_mut(host) {
                h.unreserve(&(id.to_string(), index as u32));
            }
        }
        record.set_state(pb::PlacementGroupState::Removed);
        record.removed_ms = now_ms();
        record.pending_reason.clear();
        self.group_changed(id);
        self.groups.waiting.retain(|w| w != id);
        tracing::debug!(group = %id, cause, "placement group removed");
        let why = format!("its placement group {id} was removed ({cause})");
        let actors: Vec<String> = self
            .actors
            .records
            .values()
            .filter(|r| options(r).placement_group == id && r.state() != pb::ActorState::Dead)
            .map(|r| r.id.clone())
            .collect();
        for actor in actors {
            self.kill_actor(&actor, &why);
        }
        let tasks: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| {
                t.strategy.group().is_some_and(|g| g == id) && !matches!(t.state, State::Done(_))
            })
            .map(|(task, _)| task.clone())
            .collect();
        for task in tasks {
            if let Some(State::Running { host, .. }) = self.tasks.get(&task).map(|t| &t.state)
                && let Some(entry) = self.hosts.get(host)
            {
                entry.send(pb::host_command::Kind::Cancel(task.clone()));
            }
            let message = format!("task {task} was stopped: {why}");
            self.finish(
                &task,
                failure(&task, weft_proto::FailureKind::Canceled, message),
            );
        }
        // What the group held may let other work run.
        self.place_groups();
        self.schedule();
        self.place_actors();
        true
    }

    /// Host `host` died (or never came back after a leader change): the
    /// bundles it held are placed again, before any new work.
    pub(crate) fn groups_lost_host(&mut self, host: &str) {
        let mut lost = Vec::new();
        for (id, entry) in self.groups.entries.iter_mut() {
            let record = &mut entry.record;
            if record.state() == pb::PlacementGroupState::Removed
                || !record.bundle_hosts.iter().any(|h| h == host)
            {
                continue;
            }
            for h in record.bundle_hosts.iter_mut().filter(|h| *h == host) {
                h.clear();
            }
            record.set_state(pb::PlacementGroupState::Rescheduling);
            lost.push(id.clone());
        }
        for id in lost.into_iter().rev() {
            self.group_changed(&id);
            tracing::warn!(group = %id, host, "placement group lost bundles with their host");
            self.groups.waiting.retain(|w| *w != id);
            self.groups.waiting.push_front(id);
            self.groups.changed = true;
        }
        self.place_groups();
    }

    /// Host `host` registered with this leader: the bundles written
    /// records place there are reserved again (before the work it reports
    /// is adopted into them).
    pub(crate) fn groups_registered(&mut self, host: &str) {
        self.groups.unconfirmed.remove(host);
        let Some(entry) = self.hosts.get_mut(host) else {
            return;
        };
        for (id, group) in &self.groups.entries {
            if matches!(
                group.record.state(),
                pb::PlacementGroupState::Removed | pb::PlacementGroupState::Pending
            ) {
                continue;
            }
            let wanted = bundles(&group.record);
            for (index, h) in group.record.bundle_hosts.iter().enumerate() {
                if h == host
                    && let Some(bundle) = wanted.get(index)
                {
                    entry.reserve(
                        (id.clone(), index as u32),
                        bundle,
                        group.written >= group.version,
                    );
                }
            }
        }
    }

    /// Takes over the records a previous leader left: written placements
    /// are reserved on their hosts as they register; the rest wait.
    pub(crate) fn load_groups(&mut self, records: Vec<pb::PlacementGroupRecord>, now: Instant) {
        self.groups.loaded = true;
        for record in records {
            let id = record.id.clone();
            if self.groups.entries.contains_key(&id) {
                continue;
            }
            let state = record.state();
            for host in record.bundle_hosts.iter().filter(|h| !h.is_empty()) {
                if !self.hosts.contains_key(host) {
                    self.groups.unconfirmed.entry(host.clone()).or_insert(now);
                }
            }
            let placed: Vec<String> = record.bundle_hosts.clone();
            self.groups.entries.insert(
                id.clone(),
                GroupEntry {
                    record,
                    version: 1,
                    written: 1,
                },
            );
            match state {
                pb::PlacementGroupState::Removed => {}
                pb::PlacementGroupState::Pending => self.groups.waiting.push_back(id),
                pb::PlacementGroupState::Created | pb::PlacementGroupState::Rescheduling => {
                    for host in placed {
                        if self.hosts.contains_key(&host) {
                            self.groups_registered(&host);
                        }
                    }
                    if state == pb::PlacementGroupState::Rescheduling {
                        self.groups.waiting.push_front(id);
                    }
                }
            }
        }
        self.groups.changed = true;
        self.place_groups();
    }

    /// Places again the bundles whose host never came back after a leader
    /// change, and removes the groups of owners gone past the grace.
    pub(crate) fn check_groups(&mut self, now: Instant, host_timeout: Duration) {
        let silent: Vec<String> = self
            .groups
            .unconfirmed
            .iter()
            .filter(|(_, since)| now.duration_since(**since) > host_timeout)
            .map(|(host, _)| host.clone())
            .collect();
        for host in silent {
            self.groups.unconfirmed.remove(&host);
            self.groups_lost_host(&host);
        }
        if !self.groups.waiting.is_empty() {
            self.place_groups();
        }
    }

    /// Owner `owner` went away: its groups that are not detached go too.
    pub(crate) fn groups_owner_gone(&mut self, owner: &str) {
        let owned: Vec<String> = self
            .groups
            .entries
            .values()
            .filter(|e| {
                e.record.owner == owner
                    && !spec(&e.record).detached
                    && e.record.state() != pb::PlacementGroupState::Removed
            })
            .map(|e| e.record.id.clone())
            .collect();
        for id in owned {
            self.remove_group(
                &id,
                &format!("its owner {owner} went away; it is not detached"),
            );
        }
    }

    /// Groups by state, for `/metrics`.
    pub(crate) fn group_counts(&self) -> BTreeMap<&'static str, u64> {
        let mut counts: BTreeMap<&'static str, u64> = [
            pb::PlacementGroupState::Pending,
            pb::PlacementGroupState::Created,
            pb::PlacementGroupState::Rescheduling,
            pb::PlacementGroupState::Removed,
        ]
        .iter()
        .map(|s| (s.label(), 0))
        .collect();
        for entry in self.groups.entries.values() {
            *counts.entry(entry.record.state().label()).or_default() += 1;
        }
        counts
    }
}

impl super::TaskManager {
    /// Sends the id of every changed group to `writes` from now on; the
    /// writer writes its latest record ([`Self::group_snapshot`]) and
    /// reports back with [`Self::group_written`].
    pub fn persist_groups_to(&self, writes: tokio::sync::mpsc::UnboundedSender<String>) {
        *self.group_writes.lock().unwrap_or_else(|p| p.into_inner()) = Some(writes);
    }

    /// Version `version` of group `id` is in the replicated state.
    pub fn group_written(&self, id: &str, version: u64) {
        self.with(|t| t.group_written(id, version));
    }

    /// Whether this leader has read the group records yet.
    pub fn groups_loaded(&self) -> bool {
        self.with(|t| t.groups.loaded)
    }

    /// Takes over the group records of the replicated state.
    pub fn load_groups(&self, records: Vec<pb::PlacementGroupRecord>) {
        self.with(|t| {
            t.load_groups(records, Instant::now());
            t.schedule();
            t.place_actors();
        });
    }

    /// Records a new group (see [`Table::create_group`]).
    pub fn create_group(&self, record: pb::PlacementGroupRecord) -> Result<(), GroupNameTaken> {
        self.with(|t| t.create_group(record))
    }

    /// Group `id`'s latest record and its version, unless already written.
    pub fn group_snapshot(&self, id: &str) -> Option<(pb::PlacementGroupRecord, u64)> {
        self.with(|t| t.group_snapshot(id))
    }

    /// Waits up to `timeout` until the replicated state holds group `id`
    /// as it is now; whether it does.
    pub async fn group_durable(&self, id: &str, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let Some(version) = self.with(|t| t.groups.entries.get(id).map(|e| e.version)) else {
            return false;
        };
        loop {
            let changed = self.groups_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let written = self.with(|t| t.groups.entries.get(id).map_or(0, |e| e.written));
            if written >= version {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return false;
            }
        }
    }

    /// Removes a group (see [`Table::remove_group`]).
    pub fn remove_group(&self, id: &str) -> bool {
        self.with(|t| t.remove_group(id, "removed by request"))
    }

    /// Every group.
    pub fn groups(&self) -> Vec<pb::PlacementGroupRecord> {
        self.with(|t| t.groups())
    }

    /// Placement groups by state, for `/metrics`.
    pub fn group_counts(&self) -> BTreeMap<&'static str, u64> {
        self.with(|t| t.group_counts())
    }

    /// A group by id or name; waits up to `wait` until it is created (or
    /// removed). `None`: no such group.
    pub async fn group(
        &self,
        id: &str,
        name: &str,
        ns: &str,
        wait: Duration,
    ) -> Option<pb::PlacementGroupRecord> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let changed = self.groups_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (found, ready, loaded) = self.with(|t| {
                let found = t.find_group(id, name, ns).cloned();
                let ready = found.as_ref().is_some_and(|r| t.group_ready(&r.id));
                (found, ready, t.groups.loaded)
            });
            let settled = |r: &pb::PlacementGroupRecord| {
                ready || r.state() == pb::PlacementGroupState::Removed
            };
            match found {
                Some(r) if wait.is_zero() || settled(&r) => {
                    return Some(shown(r, ready));
                }
                None if loaded => return None,
                found => {
                    if tokio::time::timeout_at(deadline, changed).await.is_err() {
                        return found.map(|r| shown(r, ready));
                    }
                }
            }
        }
    }
}

/// A group as clients see it: created only once its placement is written.
fn shown(mut record: pb::PlacementGroupRecord, ready: bool) -> pb::PlacementGroupRecord {
    if record.state() == pb::PlacementGroupState::Created && !ready {
        record.set_state(pb::PlacementGroupState::Pending);
    }
    record
}
