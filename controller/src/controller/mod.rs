//! What a controller replica does for clients: deploy, delete and call
//! components, the key-value table, membership and status. Writes are
//! proposed to the Raft log and acknowledged once committed and applied;
//! reads come from this replica's state unless asked to be linearizable.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{ChangeMembers, ServerState};

use crate::blobs::digest_of;
use crate::command::{
    Applied, Command, ComponentRecord, RouteRecord, validate_kv_key, validate_name,
    validate_route_path,
};
use crate::config::ReplicaConfig;
use crate::error::ControllerError;
use crate::raft::log_store::LogStore;
use crate::raft::network::PeerHealth;
use crate::raft::peer_service::RaftPeerService;
use crate::raft::{Node, NodeId, Raft};
use crate::state::StateMachine;

// What clients ask of a controller, by concern: each module holds the
// controller's methods for it, over the parts that keep its state
// (`crate::jobs`, `crate::signatures`, `crate::blobs`, ...), which never
// reach back here.
mod actors;
mod call;
mod catalog;
mod component_bytes;
mod groups;
mod jobs;
mod loaded;
mod metrics;
mod prepare;
mod runtime_env;
mod secrets;
mod serve;
mod signatures;
mod tasks;
mod tune;

/// One controller replica's client-facing logic.
pub struct Controller {
    pub(crate) config: ReplicaConfig,
    pub(crate) raft: Raft,
    pub(crate) state: StateMachine,
    pub(crate) log: LogStore,
    pub(crate) health: Arc<PeerHealth>,
    pub(crate) tasks: Arc<crate::tasks::TaskManager>,
    /// The job records, while this replica leads (`jobs.rs`).
    pub(crate) jobs: crate::jobs::Jobs,
    pub(crate) signatures: crate::signatures::Signatures,
    pub(crate) blobs: Arc<crate::blobs::BlobStore>,
    /// Leaders this replica has seen take office (its first included).
    pub(crate) leader_changes: Arc<std::sync::atomic::AtomicU64>,
    /// The host in this process, when there is one (`weft up`): calls
    /// may take the fast path to it (`tasks/local_call.rs`).
    pub(crate) local_host: std::sync::OnceLock<Arc<dyn crate::call::LocalHost>>,
    /// Calls that took that path, for their ids.
    pub(crate) local_calls: std::sync::atomic::AtomicU64,
    /// Deploys per client address (`Limits::deploys_per_minute`).
    pub(crate) deploys: crate::limits::Buckets<std::net::IpAddr>,
    /// Held while a placement group's record is written, so that records
    /// reach the replicated state in the order the leader made them
    /// (`groups.rs`).
    pub(crate) group_writes: tokio::sync::Mutex<()>,
    /// The leader's own part of Serve (`serve.rs`).
    pub(crate) serve: std::sync::Mutex<serve::ServeState>,
    /// The leader's working copy of the Tune records (`tune.rs`).
    pub(crate) tune: crate::tune::Tune,
}

/// A group member as `weft status` shows it.
#[derive(Debug, Clone)]
pub struct MemberView {
    /// The replica's id.
    pub id: NodeId,
    /// Its address.
    pub address: String,
    /// Voter (or learner).
    pub voter: bool,
    /// On the leader: the last index replicated to it.
    pub matched: Option<u64>,
    /// On the leader: how many entries it is behind.
    pub lag: Option<u64>,
}

/// What a replica knows of itself and the group.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// This replica's id.
    pub id: NodeId,
    /// leader, follower, candidate or learner.
    pub role: &'static str,
    /// The leader, if known.
    pub leader: Option<NodeId>,
    /// The current term.
    pub term: u64,
    /// Last index in this replica's log.
    pub last_log_index: u64,
    /// Last index known committed.
    pub commit_index: u64,
    /// Last index applied to the state machine.
    pub applied_index: u64,
    /// Last index covered by a snapshot.
    pub snapshot_index: u64,
    /// Last index purged from the log.
    pub purged_index: u64,
    /// On the leader: milliseconds since a quorum acknowledged it.
    pub millis_since_quorum_ack: Option<u64>,
    /// The members.
    pub members: Vec<MemberView>,
}

impl Controller {
    /// The tonic server for this replica's peer RPCs.
    pub fn peer_server(
        &self,
    ) -> weft_proto::raft::raft_peer_server::RaftPeerServer<RaftPeerService> {
        RaftPeerService::server(
            self.raft.clone(),
            self.health.clone(),
            self.blobs.clone(),
            self.state.clone(),
        )
    }

    /// This replica's state (reads may be stale on a follower).
    pub fn state(&self) -> &StateMachine {
        &self.state
    }

    /// The replica's configuration.
    pub fn config(&self) -> &ReplicaConfig {
        &self.config
    }

    /// Largest message the gRPC server must accept: an upload (or, when
    /// larger, one chunk of a chunked upload, whose announced size is then
    /// checked against the limit) plus framing.
    pub fn max_message_size(&self) -> usize {
        self.config.max_upload.max(weft_proto::limits::CHUNK) + (64 << 10)
    }

    /// Runs `step` every `period` for as long as the controller lives:
    /// the leader's background duties.
    pub(crate) fn every<F, Fut>(self: &Arc<Self>, period: Duration, step: F)
    where
        F: Fn(Arc<Controller>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send,
    {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                let Some(controller) = weak.upgrade() else {
                    return;
                };
                step(controller).await;
            }
        });
    }

    /// Stops Raft cleanly.
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }

    pub(crate) fn leader_hint(&self, leader: Option<NodeId>) -> ControllerError {
        let metrics = self.raft.metrics().borrow().clone();
        let leader = leader.or(metrics.current_leader).and_then(|id| {
            metrics
                .membership_config
                .membership()
                .get_node(&id)
                .map(|n| (id, n.addr.clone()))
        });
        ControllerError::NotLeader { leader }
    }

    pub(crate) fn is_follower_of_known_leader(&self) -> bool {
        let leader = self.raft.metrics().borrow().current_leader;
        leader.is_some_and(|l| l != self.config.id)
    }

    /// The members this replica has not heard from recently, for a
    /// "no quorum" error.
    fn no_quorum(&self, what: &str) -> ControllerError {
        let metrics = self.raft.metrics().borrow().clone();
        // Members answer every heartbeat: one silent for as long as the
        // shortest election timeout is out of reach, not merely slow.
        let silent_limit = self.config.election_timeout.0;
        let mut unreachable = Vec::new();
        for (id, node) in metrics.membership_config.membership().nodes() {
            if *id == self.config.id {
                continue;
            }
            match self.health.silent_for(*id) {
                Some(silent) if silent < silent_limit => {}
                Some(silent) => unreachable.push(format!(
                    "{id} at {} (silent {:.1}s)",
                    node.addr,
                    silent.as_secs_f64()
                )),
                None => unreachable.push(format!("{id} at {} (never reached)", node.addr)),
            }
        }
        let members = if unreachable.is_empty() {
            "none recorded".to_string()
        } else {
            unreachable.join(", ")
        };
        ControllerError::NoQuorum(format!("{what}; unreachable members: {members}"))
    }

    /// Fails fast when this replica cannot lead a write: a follower names
    /// the leader; a leader that has not heard from a quorum for two
    /// election timeouts, or a replica with no leader after waiting, says
    /// there is no quorum.
    pub(crate) async fn ensure_leader(&self) -> Result<(), ControllerError> {
        let deadline = tokio::time::Instant::now() + self.config.write_timeout;
        loop {
            // Read in place: cloning the metrics (membership, replication
            // map) on every request costs more than the checks.
            let (leader, stale, alone) = {
                let metrics = self.raft.metrics();
                let metrics = metrics.borrow();
                (
                    metrics.current_leader,
                    metrics.millis_since_quorum_ack.is_some_and(|ms| {
                        Duration::from_millis(ms) > self.config.election_timeout.1 * 2
                    }),
                    metrics
                        .membership_config
                        .membership()
                        .voter_ids()
                        .nth(1)
                        .is_none(),
                )
            };
            match leader {
                Some(leader) if leader == self.config.id => {
                    if stale && !alone {
                        return Err(self.no_quorum("this leader has not heard from a quorum"));
                    }
                    return Ok(());
                }
                Some(leader) => return Err(self.leader_hint(Some(leader))),
                None if tokio::time::Instant::now() >= deadline => {
                    return Err(self.no_quorum(&format!(
                        "no leader could be elected within {:?}",
                        self.config.write_timeout
                    )));
                }
                None => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Proposes `command` and waits until it is committed and applied.
    pub(crate) async fn write(&self, command: Command) -> Result<(Applied, u64), ControllerError> {
        self.ensure_leader().await?;
        match tokio::time::timeout(self.config.write_timeout, self.raft.client_write(command)).await {
            Ok(Ok(response)) => Ok((response.data, response.log_id.index)),
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f)))) => Err(self.leader_hint(f.leader_id)),
            Ok(Err(e)) => Err(ControllerError::Raft(e.to_string())),
            Err(_) => Err(self.no_quorum(&format!(
                "the write was not committed within {:?} (it may still commit if the members return)",
                self.config.write_timeout
            ))),
        }
    }

    /// Makes a following read linearizable: confirms leadership with a
    /// quorum and waits until this replica has applied everything committed
    /// before the read began (read-index).
    pub(crate) async fn read_barrier(&self) -> Result<(), ControllerError> {
        self.ensure_leader().await?;
        match tokio::time::timeout(self.config.write_timeout, self.raft.ensure_linearizable()).await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(RaftError::APIError(CheckIsLeaderError::ForwardToLeader(f)))) => {
                Err(self.leader_hint(f.leader_id))
            }
            Ok(Err(RaftError::APIError(CheckIsLeaderError::QuorumNotEnough(e)))) => {
                Err(self.no_quorum(&format!("leadership could not be confirmed ({e})")))
            }
            Ok(Err(e)) => Err(ControllerError::Raft(e.to_string())),
            Err(_) => Err(self.no_quorum("leadership could not be confirmed in time")),
        }
    }

    /// Refuses a deploy from `client` past its rate
    /// (`--max-deploys-per-minute`); callers without an address (in this
    /// process) are not limited.
    pub fn admit_deploy(&self, client: Option<std::net::IpAddr>) -> Result<(), ControllerError> {
        let Some(client) = client else {
            return Ok(());
        };
        if self.deploys.take(&client, 1) == 1 {
            return Ok(());
        }
        Err(ControllerError::Limited(format!(
            "refused: {client} deployed more than {} components in a minute, the cluster's limit \
             per client (--max-deploys-per-minute); retry in {:.0?}",
            self.config.tasks.limits.deploys_per_minute,
            self.deploys.retry_after(&client)
        )))
    }

    /// Refuses an upload of `size` bytes past `--max-upload`, before any
    /// of it is read when the size is announced.
    pub fn check_upload_size(&self, size: u64) -> Result<(), ControllerError> {
        if size > self.config.max_upload as u64 {
            return Err(ControllerError::TooLarge {
                size: weft_proto::format_bytes(size),
                limit: weft_proto::format_bytes(self.config.max_upload as u64),
            });
        }
        Ok(())
    }

    /// Validates and records an upload. The controller never compiles or
    /// runs a component: it checks the upload is a valid component that
    /// imports only what hosts provide and reads its signatures from its
    /// type; hosts compile it when asked to prepare it or when they first
    /// run it.
    pub async fn deploy(
        &self,
        wasm: Vec<u8>,
        name: Option<String>,
        http_hosts: Vec<String>,
    ) -> Result<(ComponentRecord, bool, Duration), ControllerError> {
        self.check_upload_size(wasm.len() as u64)?;
        if let Some(name) = &name {
            validate_name(name)?;
        }
        // A follower would redirect the write anyway: refuse before the work.
        self.ensure_leader().await?;
        let digest = digest_of(&wasm);
        let started = std::time::Instant::now();
        let wasm = Arc::new(wasm);
        let inspected = {
            let wasm = wasm.clone();
            tokio::task::spawn_blocking(move || weft_values::inspect(&wasm))
                .await
                .map_err(|e| ControllerError::Raft(format!("validation stopped: {e}")))??
        };
        let validate_time = started.elapsed();
        let record = ComponentRecord {
            digest: digest.clone(),
            size_bytes: wasm.len() as u64,
            names: Vec::new(),
            functions: inspected
                .exports
                .iter()
                .map(|e| (e.name(), e.signature.to_string()))
                .collect(),
            deployed_at_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        };
        self.signatures.insert(&digest, Arc::new(inspected.exports));
        // The bytes go beside the log, on a quorum, before the entry that
        // names them: once the deploy commits, a quorum can serve them.
        self.replicate_bytes(&digest, wasm).await?;
        // The manifest is part of the deploy, in the same entry: a redeploy
        // with other grants replaces them, one without any clears them.
        let command = Command::Deploy {
            component: record,
            name,
            http_hosts,
        };
        let existed = match self.write(command).await?.0 {
            Applied::Deployed { existed } => existed,
            other => {
                return Err(ControllerError::Corrupt(format!(
                    "deploy applied as {other:?}"
                )));
            }
        };
        self.publish_catalog();
        let stored = self
            .state
            .component(&digest)?
            .ok_or_else(|| ControllerError::Corrupt(format!("{digest} vanished after deploy")))?;
        Ok((stored, existed, validate_time))
    }

    /// Removes a name or a component; returns whether the component went.
    pub async fn delete(&self, reference: &str) -> Result<bool, ControllerError> {
        let command = Command::DeleteComponent {
            reference: reference.to_string(),
        };
        match self.write(command).await?.0 {
            Applied::Deleted { removed_digest } => {
                self.publish_catalog();
                Ok(removed_digest.is_some())
            }
            Applied::Refused(_) => Err(ControllerError::UnknownComponent(reference.to_string())),
            other => Err(ControllerError::Corrupt(format!(
                "delete applied as {other:?}"
            ))),
        }
    }

    /// Binds an HTTP route to a component that serves HTTP.
    pub async fn add_route(&self, route: RouteRecord) -> Result<bool, ControllerError> {
        validate_route_path(&route.path)?;
        if route.max_concurrency == 0 {
            return Err(ControllerError::InvalidRequest(
                "max concurrency must be at least 1".into(),
            ));
        }
        // A write: only the leader checks the component, since a follower's
        // state may not have applied the deploy that came just before.
        self.ensure_leader().await?;
        self.refuse_serve_route(&route.path)?;
        let digest = self.state.resolve(&route.component)?;
        if !self.state.serves_http(&digest)? {
            return Err(ControllerError::InvalidRequest(format!(
                "component `{}` does not export wasi:http/incoming-handler, so it cannot serve a route",
                route.component
            )));
        }
        match self.write(Command::AddRoute { route }).await?.0 {
            Applied::Done { existed } => {
                self.publish_catalog();
                Ok(existed)
            }
            other => Err(ControllerError::Corrupt(format!(
                "route applied as {other:?}"
            ))),
        }
    }

    /// Removes the route on `path`.
    pub async fn remove_route(&self, path: &str) -> Result<(), ControllerError> {
        match self
            .write(Command::RemoveRoute { path: path.into() })
            .await?
            .0
        {
            Applied::Done { existed: true } => {
                self.publish_catalog();
                Ok(())
            }
            Applied::Done { existed: false } => Err(ControllerError::InvalidRequest(format!(
                "no route on `{path}` (see `weft route list`)"
            ))),
            other => Err(ControllerError::Corrupt(format!(
                "route removal applied as {other:?}"
            ))),
        }
    }

    /// Sets a key; returns the log index it was committed at.
    pub async fn kv_put(
        &self,
        namespace: &str,
        key: &str,
        value: Vec<u8>,
        session: Option<(u64, u64)>,
    ) -> Result<u64, ControllerError> {
        validate_kv_key(namespace, key)?;
        let command = Command::KvPut {
            namespace: namespace.into(),
            key: key.into(),
            value,
        };
        Ok(self.write(in_session(command, session)).await?.1)
    }

    /// Adds `delta` to a key's count; returns the count now.
    pub async fn kv_increment(
        &self,
        namespace: &str,
        key: &str,
        delta: u64,
        session: Option<(u64, u64)>,
    ) -> Result<u64, ControllerError> {
        validate_kv_key(namespace, key)?;
        let command = Command::KvIncrement {
            namespace: namespace.into(),
            key: key.into(),
            delta,
        };
        match self.write(in_session(command, session)).await?.0 {
            Applied::Counted { value } => Ok(value),
            Applied::Refused(why) => Err(ControllerError::InvalidRequest(why)),
            other => Err(ControllerError::Corrupt(format!(
                "an increment applied as {other:?}"
            ))),
        }
    }

    /// Removes a key; returns whether it existed.
    pub async fn kv_delete(
        &self,
        namespace: &str,
        key: &str,
        session: Option<(u64, u64)>,
    ) -> Result<bool, ControllerError> {
        validate_kv_key(namespace, key)?;
        let command = Command::KvDelete {
            namespace: namespace.into(),
            key: key.into(),
        };
        match self.write(in_session(command, session)).await?.0 {
            Applied::KvDeleted { existed } => Ok(existed),
            other => Err(ControllerError::Corrupt(format!(
                "kv delete applied as {other:?}"
            ))),
        }
    }

    /// Reads a key, through the leader when `linearizable`.
    pub async fn kv_get(
        &self,
        namespace: &str,
        key: &str,
        linearizable: bool,
    ) -> Result<Option<Vec<u8>>, ControllerError> {
        validate_kv_key(namespace, key)?;
        if linearizable {
            self.read_barrier().await?;
        }
        self.state.kv_get(namespace, key)
    }

    /// Lists keys under a prefix, through the leader when `linearizable`.
    pub async fn kv_list(
        &self,
        namespace: &str,
        prefix: &str,
        linearizable: bool,
    ) -> Result<Vec<(String, Vec<u8>)>, ControllerError> {
        if linearizable {
            self.read_barrier().await?;
        }
        self.state.kv_list(namespace, prefix)
    }

    /// Adds a replica: first as a learner that catches up (by log or
    /// snapshot), then as a voter.
    pub async fn add_member(
        &self,
        id: NodeId,
        address: String,
    ) -> Result<Vec<MemberView>, ControllerError> {
        self.ensure_leader().await?;
        let map = |e: RaftError<NodeId, ClientWriteError<NodeId, Node>>| match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                self.leader_hint(f.leader_id)
            }
            other => ControllerError::Raft(other.to_string()),
        };
        self.raft
            .add_learner(id, Node::new(address), true)
            .await
            .map_err(map)?;
        let voters: BTreeSet<NodeId> = self
            .group()
            .members
            .iter()
            .filter(|m| m.voter)
            .map(|m| m.id)
            .collect();
        if !voters.contains(&id) {
            self.raft
                .change_membership(ChangeMembers::AddVoterIds(BTreeSet::from([id])), false)
                .await
                .map_err(map)?;
        }
        Ok(self.group().members)
    }

    /// Removes a replica from the group.
    pub async fn remove_member(&self, id: NodeId) -> Result<Vec<MemberView>, ControllerError> {
        self.ensure_leader().await?;
        let group = self.group();
        let member = group.members.iter().find(|m| m.id == id);
        let Some(member) = member else {
            return Err(ControllerError::InvalidRequest(format!(
                "node {id} is not a member"
            )));
        };
        let change = if member.voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        self.raft
            .change_membership(change, false)
            .await
            .map_err(|e| match e {
                RaftError::APIError(ClientWriteError::ForwardToLeader(f)) => {
                    self.leader_hint(f.leader_id)
                }
                other => ControllerError::Raft(other.to_string()),
            })?;
        Ok(self.group().members)
    }

    /// What this replica knows of the group.
    pub fn group(&self) -> GroupView {
        let m = self.raft.metrics().borrow().clone();
        let membership = m.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let last = m.last_log_index.unwrap_or(0);
        let progress = m.replication.clone().unwrap_or_default();
        let members = membership
            .nodes()
            .map(|(id, node)| {
                let matched = progress.get(id).map(|l| l.map_or(0, |l| l.index));
                MemberView {
                    id: *id,
                    address: node.addr.clone(),
                    voter: voters.contains(id),
                    matched,
                    lag: matched.map(|i| last.saturating_sub(i)),
                }
            })
            .collect();
        GroupView {
            id: self.config.id,
            role: match m.state {
                ServerState::Leader => "leader",
                ServerState::Follower => "follower",
                ServerState::Candidate => "candidate",
                ServerState::Learner => "learner",
                ServerState::Shutdown => "shut down",
            },
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: last,
            commit_index: self.log.committed_index().unwrap_or(0),
            applied_index: m.last_applied.map_or(0, |l| l.index),
            snapshot_index: m.snapshot.map_or(0, |l| l.index),
            purged_index: m.purged.map_or(0, |l| l.index),
            millis_since_quorum_ack: m.millis_since_quorum_ack,
            members,
        }
    }
}

/// Wraps a client's numbered request so a retry applies it once.
fn in_session(command: Command, session: Option<(u64, u64)>) -> Command {
    match session {
        Some((client, seq)) => Command::Session {
            client,
            seq,
            command: Box::new(command),
        },
        None => command,
    }
}
