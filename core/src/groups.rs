//! Placement groups from a client: reserve bundles of resources as a gang,
//! wait until every bundle is reserved, list and remove groups. Work goes
//! into a group through its options (`placement_group`, `bundle_index`).
//!
//! ```no_run
//! # async fn demo(tasks: weft_core::TaskClient) -> Result<(), weft_core::ClientError> {
//! use weft_core::groups::{bundle, group_spec};
//! use weft_proto::v1::PlacementStrategy;
//! let spec = group_spec(vec![bundle(1.0, 0), bundle(1.0, 0)], PlacementStrategy::StrictSpread);
//! let group = tasks.create_placement_group(spec).await?;
//! let group = tasks.wait_placement_group(&group.id, std::time::Duration::from_secs(10)).await?;
//! println!("{:?}", group.bundle_hosts);
//! # Ok(()) }
//! ```

use std::time::Duration;

use weft_proto::v1 as pb;

use crate::{ClientError, TaskClient};

pub use weft_proto::v1::{PlacementGroupRecord, PlacementGroupSpec, PlacementGroupState};

/// A bundle of `cpus` and `gpus`; set more on the result for memory or
/// custom resources.
pub fn bundle(cpus: f64, gpus: u32) -> pb::Resources {
    pb::Resources {
        cpus,
        gpus,
        ..Default::default()
    }
}

/// A group of `bundles` spread by `strategy`, nameless and not detached.
pub fn group_spec(
    bundles: Vec<pb::Resources>,
    strategy: pb::PlacementStrategy,
) -> PlacementGroupSpec {
    PlacementGroupSpec {
        bundles,
        strategy: strategy.into(),
        ..Default::default()
    }
}

impl TaskClient {
    /// Asks for a placement group; returns its record at once (pending).
    /// A group that is not detached is removed when this client goes away.
    pub async fn create_placement_group(
        &self,
        spec: PlacementGroupSpec,
    ) -> Result<PlacementGroupRecord, ClientError> {
        let request = pb::CreatePlacementGroupRequest {
            spec: Some(spec),
            owner: self.owner().to_string(),
        };
        self.unary(request, |mut c, r| async move {
            c.create_placement_group(r).await
        })
        .await
    }

    /// A group's record as it is now.
    pub async fn placement_group(&self, id: &str) -> Result<PlacementGroupRecord, ClientError> {
        self.group_record(pb::GetPlacementGroupRequest {
            id: id.to_string(),
            ..Default::default()
        })
        .await
    }

    /// The group named `name` in `namespace` (empty: `default`).
    pub async fn placement_group_named(
        &self,
        name: &str,
        namespace: &str,
    ) -> Result<PlacementGroupRecord, ClientError> {
        self.group_record(pb::GetPlacementGroupRequest {
            name: name.to_string(),
            namespace: namespace.to_string(),
            ..Default::default()
        })
        .await
    }

    /// Waits up to `timeout` until the group is created (every bundle
    /// reserved) or removed; returns its record as it then is: still
    /// pending, with its `pending_reason`, when the time ran out.
    pub async fn wait_placement_group(
        &self,
        id: &str,
        timeout: Duration,
    ) -> Result<PlacementGroupRecord, ClientError> {
        self.group_record(pb::GetPlacementGroupRequest {
            id: id.to_string(),
            wait_ms: timeout.as_millis() as u64,
            ..Default::default()
        })
        .await
    }

    /// Every group the cluster knows, removed ones included.
    pub async fn list_placement_groups(&self) -> Result<Vec<PlacementGroupRecord>, ClientError> {
        let reply = self
            .rpc(|mut c| async move {
                c.list_placement_groups(pb::ListPlacementGroupsRequest {})
                    .await
            })
            .await?;
        Ok(reply.groups)
    }

    /// Removes a group: what runs in it is killed and its bundles freed.
    /// False if it was removed already.
    pub async fn remove_placement_group(&self, id: &str) -> Result<bool, ClientError> {
        let request = pb::RemovePlacementGroupRequest { id: id.to_string() };
        let reply = self
            .unary(request, |mut c, r| async move {
                c.remove_placement_group(r).await
            })
            .await?;
        Ok(reply.removed)
    }

    async fn group_record(
        &self,
        request: pb::GetPlacementGroupRequest,
    ) -> Result<PlacementGroupRecord, ClientError> {
        self.unary(
            request,
            |mut c, r| async move { c.get_placement_group(r).await },
        )
        .await
    }
}
