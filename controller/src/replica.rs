//! Starting a controller replica: open its sled stores, start Raft, and
//! form the group on first start.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use openraft::{Config, SnapshotPolicy};

use crate::blobs::BlobStore;
use crate::config::ReplicaConfig;
use crate::controller::Controller;
use crate::error::ControllerError;
use crate::raft::log_store::LogStore;
use crate::raft::network::Network;
use crate::raft::state_machine::StateMachineStore;
use crate::raft::{Node, NodeId, Raft};
use crate::state::StateMachine;
use crate::tasks::TaskManager;

/// Opens the stores, starts Raft, forms the group if asked and not yet
/// formed, and returns the controller that serves clients.
pub async fn start(config: ReplicaConfig) -> Result<Arc<Controller>, ControllerError> {
    let db = sled::open(config.data_dir.join("raft"))?;
    let log = LogStore::open(&db)?;
    let state = StateMachine::new(db.open_tree("state")?);
    let blobs = Arc::new(
        BlobStore::open(&config.data_dir.join("blobs"))
            .map_err(|e| ControllerError::Raft(format!("cannot open the blob dir: {e}")))?,
    );
    let machine = StateMachineStore::open(
        state.clone(),
        &config.data_dir.join("snapshots"),
        blobs.clone(),
    )
    .map_err(|e| ControllerError::Raft(format!("cannot open the snapshot dir: {e}")))?;
    let network = Network::default();
    let health = network.health.clone();

    let raft_config = Config {
        cluster_name: "weft".into(),
        heartbeat_interval: config.heartbeat.as_millis() as u64,
        election_timeout_min: config.election_timeout.0.as_millis() as u64,
        election_timeout_max: config.election_timeout.1.as_millis() as u64,
        snapshot_policy: SnapshotPolicy::LogsSinceLast(config.snapshot_every),
        // Keep a few entries behind a snapshot so a briefly lagging
        // follower catches up by log rather than by a whole snapshot.
        max_in_snapshot_log_to_keep: (config.snapshot_every / 10).min(1000),
        install_snapshot_timeout: 10_000,
        ..Default::default()
    }
    .validate()
    .map_err(|e| ControllerError::Raft(format!("bad Raft config: {e}")))?;

    let raft = Raft::new(
        config.id,
        Arc::new(raft_config),
        network,
        log.clone(),
        machine,
    )
    .await
    .map_err(|e| ControllerError::Raft(e.to_string()))?;

    let initialized = raft
        .is_initialized()
        .await
        .map_err(|e| ControllerError::Raft(e.to_string()))?;
    if !initialized && !config.initial_members.is_empty() {
        let members: BTreeMap<NodeId, Node> = config
            .initial_members
            .iter()
            .map(|(id, addr)| (*id, Node::new(addr.clone())))
            .collect();
        // Every initial member may do this with the same membership; the
        // ones that lose the race get `NotAllowed`, which is harmless.
        if let Err(e) = raft.initialize(members).await {
            tracing::info!(error = %e, "group already formed");
        }
    }
    tracing::info!(id = config.id, address = %config.address, initialized, "controller replica started");
    let tasks = Arc::new(TaskManager::new(config.tasks.clone()));
    let leader_changes = Arc::new(AtomicU64::new(0));
    watch_tasks(&raft, config.id, &tasks, leader_changes.clone());
    let per_minute = f64::from(config.tasks.limits.deploys_per_minute);
    let deploys = crate::limits::Buckets::new(per_minute / 60.0, per_minute);
    let controller = Arc::new(Controller {
        config,
        raft,
        state,
        log,
        health,
        tasks,
        signatures: Default::default(),
        blobs,
        leader_changes,
        local_host: std::sync::OnceLock::new(),
        local_calls: AtomicU64::new(0),
        deploys,
        jobs: Default::default(),
        group_writes: Default::default(),
        serve: Default::default(),
        tune: Default::default(),
    });
    controller.keep_actors();
    controller.keep_groups();
    controller.keep_jobs();
    controller.keep_catalog();
    controller.keep_serve();
    controller.keep_tune();
    controller.keep_bytes();
    Ok(controller)
}

/// Keeps the task table honest: hosts that stop heartbeating are declared
/// dead, and a replica that stops leading drops its table, which ends every
/// owner and host session so they move to the new leader. It also counts
/// the leaders this replica has seen come in, for the metrics.
fn watch_tasks(raft: &Raft, id: NodeId, tasks: &Arc<TaskManager>, leader_changes: Arc<AtomicU64>) {
    let mut metrics = raft.metrics();
    let weak = Arc::downgrade(tasks);
    tokio::spawn(async move {
        let mut leading = false;
        let mut last_leader = None;
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                changed = metrics.changed() => if changed.is_err() { return },
                _ = tick.tick() => {}
            }
            let Some(tasks) = weak.upgrade() else { return };
            let (leader, state) = {
                let m = metrics.borrow();
                (m.current_leader, m.state)
            };
            if leader.is_some() && leader != last_leader {
                leader_changes.fetch_add(1, Ordering::Relaxed);
                last_leader = leader;
            }
            let now_leading = leader == Some(id) && state == openraft::ServerState::Leader;
            if leading && !now_leading {
                tracing::info!("no longer the leader: dropping the task table");
                tasks.reset();
            }
            leading = now_leading;
            if leading {
                tasks.check_hosts();
            }
        }
    });
}
