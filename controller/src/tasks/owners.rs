//! Owner sessions: the clients, hosts and jobs that submit tasks and put
//! objects, and the refs each holds.
//!
//! The invariants kept here: an open session that is not detached holds
//! its refs in `holds`; a detached one (the CLI) holds none, the retention
//! window holding for it; a session that ends with a name and refs leaves
//! them in `departed` under its name for a grace period, so a client that
//! reconnects (a network blip) finds them; `pending` has an entry for a
//! session only while it has unfinished submissions.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tonic::Status;
use weft_proto::v1 as pb;

/// Where a session's events go.
pub(crate) type Session = UnboundedSender<Result<pb::OwnerEvent, Status>>;

/// What a session left when it closed.
pub(crate) struct Closed {
    /// Its name, if it gave one.
    pub(crate) name: Option<String>,
    /// Whether it was detached.
    pub(crate) detached: bool,
    /// The refs it held that nobody keeps for it: the caller lets go.
    pub(crate) dropped: HashSet<String>,
}

/// The owner sessions and their holds.
#[derive(Default)]
pub(crate) struct Owners {
    sessions: HashMap<u64, Session>,
    holds: HashMap<u64, HashSet<String>>,
    detached: HashSet<u64>,
    names: HashMap<String, u64>,
    departed: HashMap<String, (u64, Instant, HashSet<String>)>,
    pending: HashMap<u64, usize>,
}

impl Owners {
    /// Opens session `owner`.
    pub(crate) fn open(&mut self, owner: u64, session: Session) {
        self.sessions.insert(owner, session);
    }

    /// Whether `owner` is an open session (this replica may have dropped
    /// it when it stopped leading).
    pub(crate) fn is_open(&self, owner: u64) -> bool {
        self.sessions.contains_key(&owner)
    }

    /// Sends `event` to `owner`'s session, if it is open.
    pub(crate) fn send(&self, owner: u64, event: pb::OwnerEvent) {
        if let Some(tx) = self.sessions.get(&owner) {
            let _ = tx.send(Ok(event));
        }
    }

    /// Session `owner` says who it is.
    pub(crate) fn name(&mut self, owner: u64, name: &str, detached: bool) {
        self.names.insert(name.to_string(), owner);
        if detached {
            self.detached.insert(owner);
        }
    }

    /// Whether `owner`'s refs outlive it (the retention window holds its
    /// results instead of the session).
    pub(crate) fn is_detached(&self, owner: u64) -> bool {
        self.detached.contains(&owner)
    }

    /// The session of the owner called `name`.
    pub(crate) fn named(&self, name: &str) -> Option<u64> {
        self.names.get(name).copied()
    }

    /// `owner` holds `id`.
    pub(crate) fn hold(&mut self, owner: u64, id: &str) {
        self.holds.entry(owner).or_default().insert(id.to_string());
    }

    /// `owner` lets go of `id`; whether it held it.
    pub(crate) fn let_go(&mut self, owner: u64, id: &str) -> bool {
        self.holds.get_mut(&owner).is_some_and(|h| h.remove(id))
    }

    /// Closes session `owner`. A named session's refs wait in `departed`
    /// for it to come back; the rest are the caller's to let go of.
    pub(crate) fn close(&mut self, owner: u64, now: Instant) -> Closed {
        self.sessions.remove(&owner);
        let detached = self.detached.remove(&owner);
        let name = self
            .names
            .iter()
            .find(|(_, o)| **o == owner)
            .map(|(n, _)| n.clone());
        if let Some(name) = &name {
            self.names.remove(name);
        }
        let held = self.holds.remove(&owner).unwrap_or_default();
        let dropped = match &name {
            Some(name) if !held.is_empty() => {
                self.departed.insert(name.clone(), (owner, now, held));
                HashSet::new()
            }
            _ => held,
        };
        Closed {
            name,
            detached,
            dropped,
        }
    }

    /// The owner called `name` is back as session `owner`: it holds its
    /// refs again. Returns its old session and those refs.
    pub(crate) fn come_back(&mut self, name: &str, owner: u64) -> Option<(u64, HashSet<String>)> {
        let (old, _, held) = self.departed.remove(name)?;
        self.holds
            .entry(owner)
            .or_default()
            .extend(held.iter().cloned());
        Some((old, held))
    }

    /// The refs of owners gone for longer than `grace`, with the session
    /// that held them: the caller lets go of them.
    pub(crate) fn expire(&mut self, now: Instant, grace: Duration) -> Vec<(u64, HashSet<String>)> {
        let gone: Vec<String> = self
            .departed
            .iter()
            .filter(|(_, (_, since, _))| now.duration_since(*since) > grace)
            .map(|(name, _)| name.clone())
            .collect();
        gone.into_iter()
            .filter_map(|name| self.departed.remove(&name))
            .map(|(owner, _, held)| (owner, held))
            .collect()
    }

    /// How many of `owner`'s submissions have not finished.
    pub(crate) fn pending(&self, owner: u64) -> usize {
        self.pending.get(&owner).copied().unwrap_or(0)
    }

    /// One more of `owner`'s submissions is pending.
    pub(crate) fn add_pending(&mut self, owner: u64) {
        *self.pending.entry(owner).or_default() += 1;
    }

    /// One of `owner`'s submissions finished (the entry goes at zero:
    /// sessions come and go by the million).
    pub(crate) fn done_pending(&mut self, owner: u64) {
        if let std::collections::hash_map::Entry::Occupied(mut pending) = self.pending.entry(owner)
        {
            *pending.get_mut() -= 1;
            if *pending.get() == 0 {
                pending.remove();
            }
        }
    }
}
