//! Actors on the leader: where each one lives, and what happens when it
//! traps, its host dies, it is killed, or its owner goes away.
//!
//! An actor's record is durable (the controller writes every change to
//! the replicated state, see [`Actors::persist_out`]); this table is the
//! leader's working copy. Calls never pass through here: clients send them
//! to the actor's host, and come back only to look up where it went.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use weft_proto::v1 as pb;

use super::events::{self, event};
use super::hosts::from_pb;
use super::table::Table;
use super::task::in_group;
use crate::scheduler::{ClusterView, Placement, Resources, Strategy, TaskDemand, place};

/// An actor's name is held by a live actor in its namespace.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an actor named `{name}` already lives in namespace `{namespace}` ({holder})")]
pub struct NameTaken {
    /// The name asked for.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The live actor that holds it.
    pub holder: String,
}

/// The leader's actors.
#[derive(Default)]
pub(crate) struct Actors {
    pub(crate) records: HashMap<String, pb::ActorRecord>,
    /// Actors waiting for a host, in the order they asked.
    pub(crate) waiting: VecDeque<String>,
    /// Records changed since the last flush, to write to the replicated
    /// state (in order; a later one supersedes an earlier one).
    pub(crate) persist_out: Vec<pb::ActorRecord>,
    /// Actors a previous leader placed, whose host has not registered
    /// with this one yet: since when.
    unconfirmed: HashMap<String, Instant>,
    /// What registering hosts said they run: actor id to (host,
    /// incarnation, its started event if it finished starting).
    reported: HashMap<String, (String, u32, Option<pb::ActorEvent>)>,
    /// Owners whose session ended: their non-detached actors die after the
    /// grace period unless they come back.
    departed: HashMap<String, Instant>,
    /// Whether the records were read from the replicated state.
    pub(crate) loaded: bool,
    /// Whether anything changed since the last flush (wakes lookups).
    pub(crate) changed: bool,
    /// The largest checkpoint kept (see `TaskConfig`).
    pub(crate) max_checkpoint: u64,
}

impl Actors {
    /// No actors yet; checkpoints up to `max_checkpoint` bytes are kept.
    pub(crate) fn new(max_checkpoint: u64) -> Self {
        Actors {
            max_checkpoint,
            ..Default::default()
        }
    }
}

pub(crate) fn demand(record: &pb::ActorRecord) -> Resources {
    let options = options(record);
    from_pb(&pb::Resources {
        cpus: options.cpus,
        gpus: options.gpus,
        ..Default::default()
    })
}

/// Holds what a running actor (adopted after a leader change) takes on
/// `entry`: from its placement group's bundle there, if it has one.
fn hold_actor(entry: &mut super::hosts::HostEntry, id: &str, record: &pb::ActorRecord) {
    let opts = options(record);
    let strategy = in_group(&opts.placement_group, opts.bundle_index).unwrap_or_default();
    match entry.bundle_for(&strategy) {
        Some(bundle) => entry.hold_in(&bundle, id, &demand(record), &record.gpu_devices),
        None => entry.hold(id, &demand(record), &record.gpu_devices),
    };
}

pub(crate) fn options(record: &pb::ActorRecord) -> pb::ActorOptions {
    record
        .spec
        .as_ref()
        .and_then(|s| s.options.clone())
        .unwrap_or_default()
}

impl Table {
    /// Records a new actor and looks for a host for it. Fails when its name
    /// is taken by a live actor in its namespace.
    pub(crate) fn create_actor(&mut self, record: pb::ActorRecord) -> Result<(), NameTaken> {
        let opts = options(&record);
        if !opts.name.is_empty()
            && let Some(other) = self.live_named(&opts.name, &opts.namespace)
        {
            return Err(NameTaken {
                name: opts.name.clone(),
                namespace: namespace(&opts.namespace).to_string(),
                holder: other.id.clone(),
            });
        }
        let id = record.id.clone();
        let spec = record.spec.clone().unwrap_or_default();
        self.events.record(pb::TaskEvent {
            label: format!("{}.{}", spec.component, spec.class),
            ..event(&id, pb::TaskEventKind::ActorCreated)
        });
        self.actors.records.insert(id.clone(), record);
        self.actors.waiting.push_back(id);
        self.actors.changed = true;
        Ok(())
    }

    /// Forgets an actor whose record could not be written.
    pub(crate) fn drop_actor(&mut self, id: &str) {
        self.actors.records.remove(id);
        self.actors.waiting.retain(|w| w != id);
    }

    /// The actor with this id, or the one with this name in this
    /// namespace: the live one, else the last to die (so a call by name
    /// to a killed actor says it died).
    pub(crate) fn find_actor(&self, id: &str, name: &str, ns: &str) -> Option<&pb::ActorRecord> {
        if !id.is_empty() {
            return self.actors.records.get(id);
        }
        let named = self.actors.records.values().filter(|r| {
            let o = options(r);
            o.name == name && namespace(&o.namespace) == namespace(ns)
        });
        named.max_by_key(|r| (r.state() != pb::ActorState::Dead, r.created_ms))
    }

    fn live_named(&self, name: &str, ns: &str) -> Option<&pb::ActorRecord> {
        self.find_actor("", name, ns)
            .filter(|r| r.state() != pb::ActorState::Dead)
    }

    /// Starts waiting actors on hosts with room for them.
    pub(crate) fn place_actors(&mut self) {
        let mut still = VecDeque::new();
        while let Some(id) = self.actors.waiting.pop_front() {
            let Some(record) = self.actors.records.get(&id) else {
                continue;
            };
            if record.state() == pb::ActorState::Dead {
                continue;
            }
            let need = demand(record);
            let opts = options(record);
            // A restart after a trap stays where it was when it can.
            let strategy = match self.hosts.get(&record.host) {
                _ if !opts.placement_group.is_empty() => {
                    in_group(&opts.placement_group, opts.bundle_index).unwrap_or_default()
                }
                Some(h) if h.alive => Strategy::NodeAffinity {
                    host: h.id.clone(),
                    soft: true,
                },
                _ => Strategy::Default,
            };
            if let Err(why) = self.group_usable(&strategy) {
                self.end_actor(&id, format!("it cannot be placed: {why}"));
                continue;
            }
            let view = ClusterView {
                hosts: self.hosts.values().map(|h| h.view()).collect(),
                objects: Default::default(),
            };
            let task = TaskDemand {
                resources: need.clone(),
                strategy,
                args: Vec::new(),
            };
            let placed = match place(&view, &task) {
                Ok(Placement::Host(host)) => Ok(Some((host, None))),
                Ok(Placement::InBundle { host, index }) => Ok(Some((host, Some(index)))),
                Ok(Placement::Queue) => Ok(None),
                Err(e) => Err(e),
            };
            match placed {
                Ok(Some((host, bundle))) => {
                    let Some(entry) = self.hosts.get_mut(&host) else {
                        continue;
                    };
                    let gpu_devices = match bundle {
                        Some(index) => {
                            entry.hold_in(&(opts.placement_group.clone(), index), &id, &need, &[])
                        }
                        None => entry.hold(&id, &need, &[]),
                    };
                    let address = entry.address.clone();
                    let Some(record) = self.actors.records.get_mut(&id) else {
                        continue;
                    };
                    record.incarnation += 1;
                    record.host = host.clone();
                    record.address = address;
                    record.gpu_devices = gpu_devices;
                    tracing::info!(actor = %id, host, incarnation = record.incarnation, "starting actor");
                    self.events.record(pb::TaskEvent {
                        host: host.clone(),
                        attempt: record.incarnation,
                        detail: weft_proto::format_gpus(&record.gpu_devices),
                        ..event(&id, pb::TaskEventKind::ActorPlaced)
                    });
                    let start = record.clone();
                    self.actors.persist_out.push(start.clone());
                    if let Some(entry) = self.hosts.get(&host) {
                        entry.send(pb::host_command::Kind::StartActor(start));
                    }
                }
                Ok(None) => still.push_back(id),
                Err(e) if self.hosts.values().any(|h| h.alive) => {
                    self.end_actor(&id, format!("it cannot be placed: {e}"));
                }
                Err(_) => still.push_back(id),
            }
        }
        self.actors.waiting = still;
    }

    /// What a host said about one of its actors.
    pub(crate) fn actor_event(&mut self, host: &str, event: pb::ActorEvent) {
        let Some(record) = self.actors.records.get_mut(&event.id) else {
            return;
        };
        if record.incarnation != event.incarnation
            || record.host != host
            || record.state() == pb::ActorState::Dead
        {
            return;
        }
        match event.kind() {
            pb::ActorEventKind::Started => {
                record.set_state(pb::ActorState::Alive);
                if !event.address.is_empty() {
                    record.address = event.address;
                }
                record.socket = event.socket;
                record.machine = event.machine;
                tracing::info!(actor = %event.id, host, incarnation = event.incarnation, "actor alive");
                self.events.record(pb::TaskEvent {
                    host: host.to_string(),
                    attempt: event.incarnation,
                    ..events::event(&event.id, pb::TaskEventKind::ActorAlive)
                });
            }
            pb::ActorEventKind::Checkpoint => {
                record.calls = event.calls;
                let size = event.checkpoint.len() as u64;
                if size > self.actors.max_checkpoint {
                    record.checkpoint_error = format!(
                        "the checkpoint of call {} is {}, over the limit of {} (--max-checkpoint-bytes); the one of call {} is kept",
                        event.calls,
                        weft_proto::format_bytes(size),
                        weft_proto::format_bytes(self.actors.max_checkpoint),
                        record.checkpoint_calls
                    );
                    tracing::warn!(actor = %event.id, error = %record.checkpoint_error, "checkpoint refused");
                } else {
                    record.checkpoint = event.checkpoint;
                    record.checkpoint_calls = event.calls;
                    record.checkpoint_error.clear();
                }
            }
            pb::ActorEventKind::Failed => {
                let cause = format!("its constructor failed on host {host}: {}", event.error);
                self.release_actor(&event.id, false);
                return self.end_actor(&event.id, cause);
            }
            pb::ActorEventKind::Trapped => {
                let cause = format!("it trapped on host {host}: {}", event.error);
                return self.restart_actor(&event.id, cause, false);
            }
            pb::ActorEventKind::Unspecified => return,
        }
        let record = record.clone();
        self.actors.persist_out.push(record);
        self.actors.changed = true;
    }

    /// Gives back what the actor holds on its host; `stop` tells the host
    /// to drop the instance too.
    fn release_actor(&mut self, id: &str, stop: bool) {
        let Some(record) = self.actors.records.get(id) else {
            return;
        };
        let need = demand(record);
        if let Some(entry) = self.hosts.get_mut(&record.host) {
            if record.state() != pb::ActorState::Dead {
                entry.give_back(id, &need);
            }
            if stop && entry.alive {
                entry.send(pb::host_command::Kind::StopActor(pb::ActorStop {
                    id: id.to_string(),
                    reason: String::new(),
                }));
            }
        }
    }

    /// The actor stopped (`cause`): it starts again if it has restarts
    /// left, else it is dead.
    pub(crate) fn restart_actor(&mut self, id: &str, cause: String, host_dead: bool) {
        self.release_actor(id, !host_dead);
        let Some(record) = self.actors.records.get_mut(id) else {
            return;
        };
        let max = options(record).max_restarts;
        if record.restarts >= max {
            let cause = if max == 0 {
                format!("{cause} (it may not restart: max_restarts is 0)")
            } else {
                format!("{cause} (after {} restarts, its max)", record.restarts)
            };
            return self.end_actor(id, cause);
        }
        record.restarts += 1;
        record.set_state(pb::ActorState::Restarting);
        record.cause = cause;
        tracing::warn!(actor = %id, restarts = record.restarts, cause = %record.cause, "restarting actor");
        self.events.record(pb::TaskEvent {
            host: record.host.clone(),
            attempt: record.incarnation,
            detail: record.cause.clone(),
            ..event(id, pb::TaskEventKind::ActorRestarting)
        });
        if host_dead {
            record.host.clear();
        }
        self.actors.persist_out.push(record.clone());
        self.actors.waiting.push_back(id.to_string());
        self.actors.changed = true;
    }

    /// The actor is dead for good.
    fn end_actor(&mut self, id: &str, cause: String) {
        let Some(record) = self.actors.records.get_mut(id) else {
            return;
        };
        tracing::warn!(actor = %id, %cause, "actor died");
        self.events.record(pb::TaskEvent {
            host: record.host.clone(),
            attempt: record.incarnation,
            detail: cause.clone(),
            ..event(id, pb::TaskEventKind::ActorDead)
        });
        record.set_state(pb::ActorState::Dead);
        record.cause = cause;
        record.checkpoint.clear();
        self.actors.persist_out.push(record.clone());
        self.actors.changed = true;
    }

    /// Kills an actor (no restart); false if it was already dead.
    pub(crate) fn kill_actor(&mut self, id: &str, cause: &str) -> bool {
        match self.actors.records.get(id) {
            Some(r) if r.state() != pb::ActorState::Dead => {}
            _ => return false,
        }
        self.release_actor(id, true);
        self.end_actor(id, cause.to_string());
        true
    }

    /// Host `host` died: its actors restart elsewhere or die.
    pub(crate) fn actors_lost_host(&mut self, host: &str, reason: &str) {
        let lost: Vec<String> = self
            .actors
            .records
            .values()
            .filter(|r| r.host == host && r.state() != pb::ActorState::Dead)
            .map(|r| r.id.clone())
            .collect();
        for id in lost {
            self.actors.waiting.retain(|w| *w != id);
            self.restart_actor(&id, format!("its host {host} {reason}"), true);
        }
    }

    /// Host `host` registered, running `actors` (id, incarnation), of
    /// which `started` finished starting: the ones a previous leader placed
    /// there are confirmed (and alive, if their start was reported to a
    /// leader that died before writing it); those it no longer runs are
    /// lost with its restart.
    pub(crate) fn actors_registered(
        &mut self,
        host: &str,
        actors: &[pb::RunningTask],
        started: &[pb::ActorEvent],
    ) {
        for a in actors {
            let event = started
                .iter()
                .find(|e| e.id == a.id && e.incarnation == a.attempt)
                .cloned();
            self.actors
                .reported
                .insert(a.id.clone(), (host.to_string(), a.attempt, event));
        }
        let mine: Vec<(String, u32, pb::ActorState)> = self
            .actors
            .records
            .values()
            .filter(|r| r.host == host && r.state() != pb::ActorState::Dead)
            .map(|r| (r.id.clone(), r.incarnation, r.state()))
            .collect();
        for (id, incarnation, state) in mine {
            let runs = actors
                .iter()
                .any(|a| a.id == id && a.attempt == incarnation);
            let was_unconfirmed = self.actors.unconfirmed.remove(&id).is_some();
            if runs {
                // A host this leader knew already counts what its actors hold.
                if was_unconfirmed
                    && let (Some(entry), Some(record)) =
                        (self.hosts.get_mut(host), self.actors.records.get(&id))
                {
                    hold_actor(entry, &id, record);
                }
            } else if state == pb::ActorState::Alive || !self.actors.waiting.contains(&id) {
                self.restart_actor(&id, format!("its host {host} restarted"), true);
            }
        }
        // What the host runs that is dead or placed elsewhere goes.
        if let Some(entry) = self.hosts.get(host) {
            for a in actors {
                let current = self.actors.records.get(&a.id).is_some_and(|r| {
                    r.host == host
                        && r.incarnation == a.attempt
                        && r.state() != pb::ActorState::Dead
                });
                if self.actors.loaded && !current {
                    entry.send(pb::host_command::Kind::StopActor(pb::ActorStop {
                        id: a.id.clone(),
                        reason: "it is not this actor's current incarnation".into(),
                    }));
                }
            }
        }
        for event in started {
            if self
                .actors
                .records
                .get(&event.id)
                .is_some_and(|r| r.state() != pb::ActorState::Alive)
            {
                self.actor_event(host, event.clone());
            }
        }
    }

    /// Takes over the records a previous leader left (read from the
    /// replicated state): placed actors wait for their host to register.
    pub(crate) fn load_actors(&mut self, records: Vec<pb::ActorRecord>, now: Instant) {
        self.actors.loaded = true;
        for record in records {
            let id = record.id.clone();
            if self.actors.records.contains_key(&id) {
                continue;
            }
            let live = record.state() != pb::ActorState::Dead;
            let placed = !record.host.is_empty();
            self.actors.records.insert(id.clone(), record);
            if !live {
                continue;
            }
            if !placed {
                self.actors.waiting.push_back(id);
                continue;
            }
            let (host, incarnation) = {
                let r = &self.actors.records[&id];
                (r.host.clone(), r.incarnation)
            };
            match self.actors.reported.get(&id).cloned() {
                Some((h, i, started)) if h == host && i == incarnation => {
                    let record = &self.actors.records[&id];
                    if let Some(entry) = self.hosts.get_mut(&host) {
                        hold_actor(entry, &id, record);
                    }
                    if let Some(event) = started {
                        self.actor_event(&host, event);
                    }
                }
                _ if self.hosts.get(&host).is_some_and(|h| h.alive) => {
                    self.restart_actor(&id, format!("its host {host} restarted"), true);
                }
                _ => {
                    self.actors.unconfirmed.insert(id, now);
                }
            }
        }
        self.actors.changed = true;
    }

    /// Restarts the actors whose host never came back after a failover,
    /// and kills the actors of owners gone past `grace`.
    pub(crate) fn check_actors(&mut self, now: Instant, host_timeout: Duration, grace: Duration) {
        let silent: Vec<String> = self
            .actors
            .unconfirmed
            .iter()
            .filter(|(_, since)| now.duration_since(**since) > host_timeout)
            .map(|(id, _)| id.clone())
            .collect();
        for id in silent {
            self.actors.unconfirmed.remove(&id);
            let host = self
                .actors
                .records
                .get(&id)
                .map(|r| r.host.clone())
                .unwrap_or_default();
            self.restart_actor(
                &id,
                format!("its host {host} did not come back after a leader change"),
                true,
            );
        }
        let gone: Vec<String> = self
            .actors
            .departed
            .iter()
            .filter(|(_, since)| now.duration_since(**since) > grace)
            .map(|(owner, _)| owner.clone())
            .collect();
        for owner in gone {
            self.actors.departed.remove(&owner);
            self.groups_owner_gone(&owner);
            let owned: Vec<String> = self
                .actors
                .records
                .values()
                .filter(|r| {
                    r.owner == owner && r.state() != pb::ActorState::Dead && !options(r).detached
                })
                .map(|r| r.id.clone())
                .collect();
            for id in owned {
                self.kill_actor(
                    &id,
                    &format!("its owner {owner} went away (it is not detached)"),
                );
            }
        }
        if !self.actors.waiting.is_empty() {
            self.place_actors();
        }
    }

    /// Owner `name`'s session ended (`detached`: its actors outlive it).
    pub(crate) fn actor_owner_left(&mut self, name: &str, detached: bool, now: Instant) {
        if !detached {
            self.actors.departed.insert(name.to_string(), now);
        }
    }

    /// Owner `name` is back.
    pub(crate) fn actor_owner_back(&mut self, name: &str) {
        self.actors.departed.remove(name);
    }
}

/// `default` for the empty namespace.
pub(crate) fn namespace(ns: &str) -> &str {
    if ns.is_empty() { "default" } else { ns }
}

impl super::TaskManager {
    /// Sends every changed actor record to `writes` from now on.
    pub fn persist_actors_to(&self, writes: tokio::sync::mpsc::UnboundedSender<pb::ActorRecord>) {
        *self.actor_writes.lock().unwrap_or_else(|p| p.into_inner()) = Some(writes);
    }

    /// Whether this leader has read the actor records yet.
    pub fn actors_loaded(&self) -> bool {
        self.with(|t| t.actors.loaded)
    }

    /// Takes over the actor records of the replicated state.
    pub fn load_actors(&self, records: Vec<pb::ActorRecord>) {
        self.with(|t| {
            t.load_actors(records, Instant::now());
            t.place_actors();
        });
    }

    /// Records a new actor (see [`Table::create_actor`]).
    pub fn create_actor(&self, record: pb::ActorRecord) -> Result<(), NameTaken> {
        self.with(|t| t.create_actor(record))
    }

    /// Looks for a host for the actor (once its record is durable).
    pub fn place_actor(&self) {
        self.with(|t| t.place_actors());
    }

    /// Forgets an actor whose record could not be written.
    pub fn drop_actor(&self, id: &str) {
        self.with(|t| t.drop_actor(id));
    }

    /// An actor by id or name; with `wait_alive`, waits up to `timeout`
    /// until it is alive in an incarnation after `after`, or dead.
    pub async fn actor(
        &self,
        request: &pb::GetActorRequest,
    ) -> Result<Option<pb::ActorRecord>, crate::error::ControllerError> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(request.timeout_ms);
        loop {
            let changed = self.actors_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let (found, loaded) = self.with(|t| {
                let found = t.find_actor(&request.id, &request.name, &request.namespace);
                (found.cloned(), t.actors.loaded)
            });
            let settled = |r: &pb::ActorRecord| {
                r.state() == pb::ActorState::Dead
                    || (r.state() == pb::ActorState::Alive
                        && r.incarnation > request.after_incarnation)
            };
            match found {
                Some(r) if !request.wait_alive || settled(&r) => return Ok(Some(r)),
                None if !loaded => {}
                None => return Ok(None),
                Some(_) => {}
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Ok(self.with(|t| {
                    t.find_actor(&request.id, &request.name, &request.namespace)
                        .cloned()
                }));
            }
        }
    }

    /// Every actor the cluster knows, dead ones included.
    pub fn actors(&self) -> Vec<pb::ActorRecord> {
        let mut all: Vec<pb::ActorRecord> =
            self.with(|t| t.actors.records.values().cloned().collect());
        all.sort_by(|a, b| a.id.cmp(&b.id));
        for r in &mut all {
            r.checkpoint.clear();
        }
        all
    }

    /// Kills an actor; false if it was dead already.
    pub fn kill_actor(&self, id: &str) -> Result<bool, crate::error::ControllerError> {
        self.with(|t| {
            if !t.actors.records.contains_key(id) {
                return Err(crate::error::ControllerError::NotFound(format!(
                    "no actor {id}"
                )));
            }
            let killed = t.kill_actor(id, "it was killed (weft actor kill)");
            // What it held may let queued tasks run.
            t.schedule();
            Ok(killed)
        })
    }
}
