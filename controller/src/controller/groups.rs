//! The controller's placement-group operations: create, look up, list and
//! remove groups, and keep their records in the replicated state so that a
//! new leader keeps every reservation the old one made.

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use weft_proto::v1 as pb;

use crate::command::Command;
use crate::controller::Controller;
use crate::controller::actors::new_id;
use crate::error::ControllerError;
use crate::tasks::groups::now_ms;

/// The most bundles one group may have: a gang larger than this is a
/// mistake (Ray's largest documented groups are a few hundred bundles).
const MAX_BUNDLES: usize = 1024;

/// The longest a lookup waits for a group to be created.
const MAX_WAIT: Duration = Duration::from_secs(600);

impl Controller {
    /// Creates a placement group: checks its bundles and has the leader
    /// place it where it fits now. Returns at once, as Ray's does: the
    /// group is created (its `ready`) once its record, naming every
    /// bundle's host, is in the replicated state, which the writer does for
    /// every group changed meanwhile in one entry (see [`Self::get_group`]).
    pub async fn create_group(
        &self,
        spec: pb::PlacementGroupSpec,
        owner: String,
    ) -> Result<pb::PlacementGroupRecord, ControllerError> {
        self.ensure_leader().await?;
        check_spec(&spec)?;
        let record = pb::PlacementGroupRecord {
            id: format!("pg-{:016x}", new_id()),
            spec: Some(spec),
            state: pb::PlacementGroupState::Pending.into(),
            owner,
            created_ms: now_ms(),
            ..Default::default()
        };
        let id = record.id.clone();
        self.tasks
            .create_group(record)
            .map_err(|e| ControllerError::InvalidRequest(e.to_string()))?;
        self.tasks
            .group(&id, "", "", Duration::ZERO)
            .await
            .ok_or_else(|| ControllerError::NotFound(format!("no placement group {id}")))
    }

    /// A group by id or name, waiting up to `wait_ms` for it to be created.
    pub async fn get_group(
        &self,
        request: &pb::GetPlacementGroupRequest,
    ) -> Result<pb::PlacementGroupRecord, ControllerError> {
        self.ensure_leader().await?;
        let wait = Duration::from_millis(request.wait_ms).min(MAX_WAIT);
        self.tasks
            .group(&request.id, &request.name, &request.namespace, wait)
            .await
            .ok_or_else(|| {
                ControllerError::NotFound(if request.id.is_empty() {
                    format!(
                        "no placement group named `{}` in namespace `{}`",
                        request.name,
                        crate::tasks::actors::namespace(&request.namespace)
                    )
                } else {
                    format!("no placement group {}", request.id)
                })
            })
    }

    /// Every group, removed ones included.
    pub async fn list_groups(&self) -> Result<Vec<pb::PlacementGroupRecord>, ControllerError> {
        self.ensure_leader().await?;
        Ok(self.tasks.groups())
    }

    /// Removes a group; false if it was removed already.
    pub async fn remove_group(&self, id: &str) -> Result<bool, ControllerError> {
        self.ensure_leader().await?;
        if self.tasks.group(id, "", "", Duration::ZERO).await.is_none() {
            return Err(ControllerError::NotFound(format!(
                "no placement group {id}"
            )));
        }
        if !self.tasks.remove_group(id) {
            return Ok(false);
        }
        // Removed once the removal is durable: a new leader must not bring
        // the group back.
        if !self
            .tasks
            .group_durable(id, self.config.write_timeout)
            .await
        {
            return Err(self.no_quorum(&format!(
                "the removal of placement group {id} was not recorded within {:?} (it may \
                 still be)",
                self.config.write_timeout
            )));
        }
        Ok(true)
    }

    /// Writes the latest record of each group of `ids` in one entry, then
    /// tells the leader's table which version the replicated state holds.
    /// Writes take turns, and each writes the records as they are when its
    /// turn comes, so the state ends with the leader's latest whatever
    /// order changes were made in.
    async fn write_groups(&self, ids: &[String]) -> Result<(), ControllerError> {
        let _turn = self.group_writes.lock().await;
        let snapshots: Vec<(pb::PlacementGroupRecord, u64)> = ids
            .iter()
            .filter_map(|id| self.tasks.group_snapshot(id))
            .collect();
        if snapshots.is_empty() {
            return Ok(());
        }
        let records = snapshots
            .iter()
            .map(|(r, _)| (r.id.clone(), serde_bytes::ByteBuf::from(r.encode_to_vec())))
            .collect();
        self.write(Command::PutPlacementGroups { records }).await?;
        for (record, version) in snapshots {
            self.tasks.group_written(&record.id, version);
        }
        Ok(())
    }

    /// Keeps group records durable while this replica leads: writes every
    /// change the task manager reports (then lets the group's bundles take
    /// work), and on becoming leader reads the records the previous leader
    /// wrote.
    pub(crate) fn keep_groups(self: &Arc<Self>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        self.tasks.persist_groups_to(tx);
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            // Groups whose write failed: tried again while this replica
            // leads (the table knows they are not written, so none is
            // ready or acknowledged removed meanwhile).
            let mut again: Vec<String> = Vec::new();
            loop {
                let mut changed = std::mem::take(&mut again);
                if changed.is_empty() {
                    match rx.recv().await {
                        Some(id) => changed.push(id),
                        None => return,
                    }
                } else {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                // Each group's latest record is written once, however
                // often it changed meanwhile, all of them in one entry.
                while let Ok(next) = rx.try_recv() {
                    changed.push(next);
                }
                changed.sort();
                changed.dedup();
                let Some(controller) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = controller.write_groups(&changed).await {
                    tracing::warn!(groups = changed.len(), error = %e, "cannot record placement groups");
                    if controller.ensure_leader().await.is_ok() {
                        again = changed;
                    }
                }
            }
        });
        self.every(Duration::from_millis(100), |controller| async move {
            let leading =
                controller.raft.metrics().borrow().current_leader == Some(controller.config.id);
            if !leading || controller.tasks.groups_loaded() {
                return;
            }
            if let Err(e) = controller.load_groups().await {
                tracing::warn!(error = %e, "cannot read the placement group records yet");
            }
        });
    }

    async fn load_groups(&self) -> Result<(), ControllerError> {
        self.read_barrier().await?;
        let records = self
            .state
            .placement_groups()?
            .into_iter()
            .filter_map(|bytes| pb::PlacementGroupRecord::decode(bytes.as_slice()).ok())
            .collect::<Vec<_>>();
        tracing::info!(
            groups = records.len(),
            "took over the placement group records"
        );
        self.tasks.load_groups(records);
        Ok(())
    }
}

/// Refuses a group no scheduler could make sense of.
pub(crate) fn check_spec(spec: &pb::PlacementGroupSpec) -> Result<(), ControllerError> {
    let bad = |m: String| Err(ControllerError::InvalidRequest(m));
    if spec.bundles.is_empty() {
        return bad("a placement group needs at least one bundle".into());
    }
    if spec.bundles.len() > MAX_BUNDLES {
        return bad(format!(
            "a placement group may have at most {MAX_BUNDLES} bundles, not {}",
            spec.bundles.len()
        ));
    }
    if pb::PlacementStrategy::try_from(spec.strategy).is_err() {
        return bad(format!("unknown placement strategy {}", spec.strategy));
    }
    for (index, bundle) in spec.bundles.iter().enumerate() {
        let amounts = [("cpus", bundle.cpus)]
            .into_iter()
            .chain(bundle.custom.iter().map(|(n, a)| (n.as_str(), *a)));
        for (name, amount) in amounts {
            if !(amount >= 0.0 && amount.is_finite()) {
                return bad(format!(
                    "bundle {index}: {name} must be a number >= 0, not {amount}"
                ));
            }
        }
        let empty = bundle.cpus == 0.0
            && bundle.memory == 0
            && bundle.gpus == 0
            && bundle.custom.values().all(|a| *a == 0.0);
        if empty {
            return bad(format!(
                "bundle {index} reserves nothing: give it cpus, memory, gpus or a custom resource"
            ));
        }
    }
    Ok(())
}
