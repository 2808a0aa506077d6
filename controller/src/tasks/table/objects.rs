//! Objects in the task table: reference counts, puts, freeing, and what
//! happens to the objects a dead host held (lineage).
//!
//! Every task's result is an object, and so is every put; both are
//! entries of the same table, so a ref is a ref wherever it came from.
//! An object lives while something holds its ref: an owner session (until
//! it releases the ref or goes away), a task taking it as an argument
//! (until that task finishes, or, when that task's own large result may
//! have to be rebuilt, until that result is freed), an object whose value
//! contains the ref, or, for detached owners such as the CLI, the
//! retention window of recent results. When the last holder lets go of a
//! finished object, the leader forgets it and tells every host to delete
//! its copies.

use weft_proto::FailureKind;
use weft_proto::v1 as pb;

use super::Table;
use crate::tasks::task::{State, Task, failure};

impl Table {
    /// Adds a holder to `id`; false when the table does not know it.
    pub(crate) fn hold(&mut self, id: &str) -> bool {
        match self.tasks.get_mut(id) {
            Some(task) => {
                task.refs += 1;
                true
            }
            None => false,
        }
    }

    /// Drops a holder of `id`, freeing it (and what only it held) when
    /// it was the last one.
    pub(crate) fn unhold(&mut self, id: &str) {
        if let Some(task) = self.tasks.get_mut(id) {
            task.refs = task.refs.saturating_sub(1);
        }
        self.settle(id);
    }

    /// Frees `id` now if it is finished and nothing holds it, and then
    /// whatever only it held (iteratively: lineage chains may be long).
    pub(crate) fn settle(&mut self, id: &str) {
        if !self.idle(id) {
            return;
        }
        let mut work = Vec::new();
        self.free(id, &mut work);
        while let Some(next) = work.pop() {
            if let Some(task) = self.tasks.get_mut(&next) {
                task.refs = task.refs.saturating_sub(1);
            }
            if self.idle(&next) {
                self.free(&next, &mut work);
            }
        }
    }

    fn idle(&self, id: &str) -> bool {
        self.tasks
            .get(id)
            .is_some_and(|t| t.refs == 0 && matches!(t.state, State::Done(_)))
    }

    /// Forgets `id`; the objects it held go on `work` to be let go of.
    fn free(&mut self, id: &str, work: &mut Vec<String>) {
        let Some(task) = self.tasks.remove(id) else {
            return;
        };
        if let State::Done(result) = &task.state
            && !result.held_by.is_empty()
        {
            self.outbox.free(id.to_string());
        }
        if task.args_held {
            work.extend(task.held_refs().map(str::to_string));
        }
        work.extend(task.contains);
    }

    /// A new task holds its argument objects.
    pub(crate) fn hold_args(&mut self, id: &str) {
        let refs: Vec<String> = match self.tasks.get(id) {
            Some(task) => task.held_refs().map(str::to_string).collect(),
            None => return,
        };
        for r in &refs {
            self.hold(r);
        }
        if let Some(task) = self.tasks.get_mut(id) {
            task.args_held = true;
        }
    }

    /// A task lets go of its argument objects.
    pub(crate) fn release_args(&mut self, id: &str) {
        let refs: Vec<String> = match self.tasks.get_mut(id) {
            Some(task) => {
                task.args_held = false;
                task.held_refs().map(str::to_string).collect()
            }
            None => return,
        };
        for r in refs {
            self.unhold(&r);
        }
    }

    /// `owner` holds `id` (once, however often it submits or puts it).
    pub(crate) fn add_owner(&mut self, owner: u64, id: &str) {
        let Some(task) = self.tasks.get_mut(id) else {
            return;
        };
        if task.owners.contains(&owner) {
            return;
        }
        task.owners.push(owner);
        task.refs += 1;
        if self.owners.is_detached(owner) {
            if matches!(task.state, State::Done(_)) {
                self.retire(id.to_string());
            } else {
                task.retained = true;
            }
        } else {
            self.owners.hold(owner, id);
        }
    }

    /// `owner` drops its refs to `ids`.
    pub(crate) fn release_refs(&mut self, owner: u64, ids: &[String]) {
        for id in ids {
            if self.owners.let_go(owner, id) {
                if let Some(task) = self.tasks.get_mut(id) {
                    task.owners.retain(|o| *o != owner);
                }
                self.unhold(id);
            }
        }
    }

    /// `owner`'s session ended. Its refs are kept for a while, in case it
    /// reconnects (a network blip); then they are dropped.
    pub(crate) fn close_owner(&mut self, owner: u64, now: std::time::Instant) {
        let closed = self.owners.close(owner, now);
        if let Some(name) = &closed.name {
            self.actor_owner_left(name, closed.detached, now);
        }
        self.drop_holds(owner, closed.dropped);
    }

    /// Owner `name` is back as session `owner`: it holds its refs again.
    pub(crate) fn reattach(&mut self, name: &str, owner: u64) {
        self.actor_owner_back(name);
        let Some((old, held)) = self.owners.come_back(name, owner) else {
            return;
        };
        for id in &held {
            if let Some(task) = self.tasks.get_mut(id) {
                task.owners.retain(|o| *o != old);
                task.owners.push(owner);
            }
        }
    }

    /// Drops the refs of owners gone for longer than `grace`.
    pub(crate) fn expire_departed(&mut self, now: std::time::Instant, grace: std::time::Duration) {
        for (owner, held) in self.owners.expire(now, grace) {
            self.drop_holds(owner, held);
        }
    }

    fn drop_holds(&mut self, owner: u64, held: std::collections::HashSet<String>) {
        for id in held {
            if let Some(task) = self.tasks.get_mut(&id) {
                task.owners.retain(|o| *o != owner);
            }
            self.unhold(&id);
        }
    }

    /// A host's guest is done with refs its host's owner session holds
    /// (the session is found by the owner name each id starts with).
    pub(crate) fn release_guest_refs(&mut self, ids: &[String]) {
        for id in ids {
            let owner = id
                .rsplit_once('-')
                .and_then(|(name, _)| self.owners.named(name));
            if let Some(owner) = owner {
                self.release_refs(owner, std::slice::from_ref(id));
            }
        }
    }

    /// Records objects `owner` put (or puts again on a new session).
    pub(crate) fn put(&mut self, owner: u64, objects: Vec<pb::TaskResult>) {
        for mut result in objects {
            let id = result.id.clone();
            self.orphans.objects.remove(&id);
            if !self.tasks.contains_key(&id) {
                result.ok = true;
                result.has_value = true;
                result.contains.clear();
                self.tasks.insert(id.clone(), Task::object(result));
            }
            self.add_owner(owner, &id);
        }
        self.outbox.finished();
    }

    /// Frees the objects hosts reported that nobody claimed within `ttl`.
    pub(crate) fn free_unclaimed(&mut self, now: std::time::Instant, ttl: std::time::Duration) {
        let expired: Vec<(String, String)> = self
            .orphans
            .objects
            .iter()
            .filter(|(_, (_, since))| now.duration_since(*since) > ttl)
            .map(|(id, (host, _))| (id.clone(), host.clone()))
            .collect();
        for (id, host) in expired {
            self.orphans.objects.remove(&id);
            if let Some(entry) = self.hosts.get(&host) {
                tracing::info!(object = %id, host, "freeing an object no owner claimed after a failover");
                entry.send(pb::host_command::Kind::Free(pb::ObjectIds {
                    ids: vec![id],
                }));
            }
        }
    }

    /// Host `host` died: the objects whose copy it held are rebuilt by
    /// running their tasks again where that is possible, and otherwise
    /// fail as lost, naming the object, its task and the host.
    pub(crate) fn lose_objects(&mut self, host: &str, address: &str, reason: &str) {
        let lost: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, t)| matches!(&t.state, State::Done(r) if r.ok && r.held_by == host))
            .map(|(id, _)| id.clone())
            .collect();
        let mut rebuild = Vec::new();
        for id in lost {
            let Some(task) = self.tasks.get_mut(&id) else {
                continue;
            };
            let place = format!("its only copy was on host {host} at {address}, which {reason}");
            if task.rebuildable() {
                tracing::info!(object = %id, task = %task.label(), host, "rebuilding a lost object from its lineage");
                task.failures.push(format!("its result was lost: {place}"));
                task.state = State::Waiting;
                rebuild.push(id);
                continue;
            }
            let message = if task.put {
                format!("object {id} lost: it was put by a client, and {place}")
            } else {
                let why = if task.max_retries == 0 {
                    "it is not retriable (max_retries is 0)".to_string()
                } else {
                    format!("its {} attempts are used up", task.attempt)
                };
                format!(
                    "object {id} lost: it is the result of task {id} ({}), {place}; the task cannot be run again because {why}",
                    task.label()
                )
            };
            let mut result = failure(&id, FailureKind::Lost, message);
            result.host = host.to_string();
            result.attempts = task.attempt;
            self.outbox.tell_all(&task.owners, &result);
            task.state = State::Done(result);
        }
        for id in rebuild {
            self.enqueue(&id);
        }
        self.outbox.finished();
    }
}
