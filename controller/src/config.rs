//! How one controller replica runs: its id, addresses, data dir, limits.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::raft::NodeId;
use crate::tasks::TaskConfig;

/// The default upload limit: JavaScript and Python components run to tens
/// of megabytes, so leave room for them.
pub const DEFAULT_MAX_UPLOAD: usize = 128 << 20;

/// How one controller replica runs.
#[derive(Debug, Clone)]
pub struct ReplicaConfig {
    /// This replica's id in the group.
    pub id: NodeId,
    /// `host:port` other replicas and clients reach this one at.
    pub address: String,
    /// The data dir: `raft/` (sled: log and state), `blobs/` (component
    /// bytes) and `snapshots/`.
    pub data_dir: PathBuf,
    /// The group to form on first start (id -> address); empty to join an
    /// existing group later (`weft cluster add-member`) or on a restart.
    pub initial_members: BTreeMap<NodeId, String>,
    /// Build a snapshot (and compact the log) every this many entries.
    pub snapshot_every: u64,
    /// The largest component upload accepted, in bytes.
    pub max_upload: usize,
    /// How long a write may wait to commit before it fails with "no quorum".
    pub write_timeout: Duration,
    /// Leader heartbeat interval.
    pub heartbeat: Duration,
    /// A follower starts an election after a random silence in this range.
    pub election_timeout: (Duration, Duration),
    /// How the leader runs tasks.
    pub tasks: TaskConfig,
    /// This replica's web dashboard (`http://HOST:PORT/`), or empty: `weft
    /// status` and the dashboards of other replicas link to it.
    pub dashboard: String,
}

impl ReplicaConfig {
    /// Defaults for a replica `id` at `address` keeping state in `data_dir`.
    pub fn new(id: NodeId, address: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        ReplicaConfig {
            id,
            address: address.into(),
            data_dir: data_dir.into(),
            initial_members: BTreeMap::new(),
            snapshot_every: 10_000,
            max_upload: DEFAULT_MAX_UPLOAD,
            write_timeout: Duration::from_secs(3),
            heartbeat: Duration::from_millis(100),
            election_timeout: (Duration::from_millis(600), Duration::from_millis(1200)),
            tasks: TaskConfig::default(),
            dashboard: String::new(),
        }
    }
}
