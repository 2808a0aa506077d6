//! Applying committed entries to the [`StateMachine`], and snapshots of it.
//!
//! A snapshot is the state tree's every key and value (components, names,
//! key-value table, and the applied log id and membership), encoded with
//! bincode. Component bytes are not in it: they live beside the log
//! (`blobs.rs`), and a replica that installs a snapshot fetches the bytes it
//! lacks from its peers, so a snapshot stays small however large the
//! components are. The latest one is kept in `snapshot.bin` beside the
//! state, so a restarted replica can still send it to a lagging peer.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError, StorageIOError,
    StoredMembership,
};
use serde::{Deserialize, Serialize};

use super::{Node, NodeId, TypeConfig, decode, decode_pairs, encode, encode_pairs};
use crate::blobs::BlobStore;
use crate::command::Applied;
use crate::state::{EntryMeta, Pairs, StateMachine};

/// The last applied log id and the membership as of it.
type AppliedState = (Option<LogId<NodeId>>, StoredMembership<NodeId, Node>);

#[derive(Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<NodeId, Node>,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

/// The Raft-facing side of the state machine. Clones share everything.
#[derive(Clone)]
pub struct StateMachineStore {
    state: StateMachine,
    snapshot_path: PathBuf,
    current: Arc<Mutex<Option<StoredSnapshot>>>,
    /// Held while applying and while exporting, so a snapshot is always a
    /// state as of exactly one applied entry.
    apply_lock: Arc<Mutex<()>>,
    /// Component bytes beside the log: a delete drops them once applied.
    blobs: Arc<BlobStore>,
}

fn sm_read(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::read_state_machine(&e).into()
}

fn sm_write(e: impl std::error::Error + 'static) -> StorageError<NodeId> {
    StorageIOError::write_state_machine(&e).into()
}

impl StateMachineStore {
    /// Wraps `state`, keeping snapshots in `dir`.
    pub fn open(state: StateMachine, dir: &Path, blobs: Arc<BlobStore>) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let snapshot_path = dir.join("snapshot.bin");
        let current = match std::fs::read(&snapshot_path) {
            Ok(bytes) => decode::<StoredSnapshot>(&bytes).ok(),
            Err(_) => None,
        };
        Ok(StateMachineStore {
            state,
            snapshot_path,
            current: Arc::new(Mutex::new(current)),
            apply_lock: Arc::new(Mutex::new(())),
            blobs,
        })
    }

    fn applied_state_sync(&self) -> Result<AppliedState, StorageError<NodeId>> {
        let (applied, membership) = self.state.applied().map_err(sm_read)?;
        let applied = applied.map(|b| decode(&b)).transpose().map_err(sm_read)?;
        let membership = membership
            .map(|b| decode(&b))
            .transpose()
            .map_err(sm_read)?
            .unwrap_or_default();
        Ok((applied, membership))
    }

    /// Writes the snapshot durably (temp file, fsync, rename, fsync of the
    /// dir) and makes it the one served to peers.
    fn keep(&self, stored: StoredSnapshot) -> Result<(), StorageError<NodeId>> {
        use std::io::Write as _;
        let tmp = self.snapshot_path.with_extension("tmp");
        let dir = self.snapshot_path.parent().unwrap_or(Path::new("."));
        (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(&encode(&stored))?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.snapshot_path)?;
            std::fs::File::open(dir)?.sync_all()
        })()
        .map_err(|e| {
            StorageError::from(StorageIOError::write_snapshot(
                Some(stored.meta.signature()),
                &e,
            ))
        })?;
        *self.current.lock().expect("snapshot lock") = Some(stored);
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError<NodeId>> {
        let (entries, (last_log_id, last_membership)) = {
            let _applying = self.apply_lock.lock().expect("apply lock");
            (
                self.state.export().map_err(sm_read)?,
                self.applied_state_sync()?,
            )
        };
        let data = encode_pairs(&entries);
        let snapshot_id = match &last_log_id {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, std::process::id()),
            None => format!("empty-{}", std::process::id()),
        };
        let meta = SnapshotMeta {
            last_log_id,
            last_membership,
            snapshot_id,
        };
        tracing::info!(snapshot = %meta, bytes = data.len(), "built a snapshot");
        self.keep(StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        })?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<AppliedState, StorageError<NodeId>> {
        self.applied_state_sync()
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError<NodeId>>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + openraft::OptionalSend,
        I::IntoIter: openraft::OptionalSend,
    {
        let mut results = Vec::new();
        let _applying = self.apply_lock.lock().expect("apply lock");
        for entry in entries {
            let mut meta = EntryMeta {
                applied: encode(&entry.log_id),
                membership: None,
            };
            let command = match &entry.payload {
                EntryPayload::Blank => None,
                EntryPayload::Normal(command) => Some(command),
                EntryPayload::Membership(m) => {
                    meta.membership = Some(encode(&StoredMembership::new(
                        Some(entry.log_id),
                        m.clone(),
                    )));
                    None
                }
            };
            let applied = self.state.apply(&meta, command).map_err(sm_write)?;
            if let Applied::Deleted {
                removed_digest: Some(digest),
            } = &applied
            {
                self.blobs.remove(digest);
            }
            results.push(applied);
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(
        &mut self,
    ) -> Result<Box<Cursor<Vec<u8>>>, StorageError<NodeId>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Node>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError<NodeId>> {
        let data = snapshot.into_inner();
        let entries: Pairs = decode_pairs(&data).map_err(|e| {
            StorageError::from(StorageIOError::read_snapshot(Some(meta.signature()), &e))
        })?;
        {
            // The snapshot carries its own `meta/applied` and
            // `meta/membership` keys, exported under the same lock as its
            // content, so they agree with `meta`.
            let _applying = self.apply_lock.lock().expect("apply lock");
            self.state.import(entries).map_err(sm_write)?;
        }
        tracing::info!(snapshot = %meta, bytes = data.len(), "installed a snapshot");
        self.keep(StoredSnapshot {
            meta: meta.clone(),
            data,
        })
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, StorageError<NodeId>> {
        Ok(self
            .current
            .lock()
            .expect("snapshot lock")
            .as_ref()
            .map(|s| Snapshot {
                meta: s.meta.clone(),
                snapshot: Box::new(Cursor::new(s.data.clone())),
            }))
    }
}
