//! Getting component bytes where they are needed: onto a quorum before a
//! deploy is proposed, to any replica that lacks them afterwards, and to
//! hosts that run them.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;

use crate::blobs;
use crate::controller::Controller;
use crate::error::ControllerError;
use crate::raft::NodeId;

/// How often a replica looks for components whose bytes it lacks.
pub(crate) const CATCH_UP_EVERY: Duration = Duration::from_secs(2);

impl Controller {
    /// The other members' ids and addresses, voters first.
    fn peers(&self) -> Vec<(NodeId, String, bool)> {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: Vec<NodeId> = membership.voter_ids().collect();
        let mut peers: Vec<(NodeId, String, bool)> = membership
            .nodes()
            .filter(|(id, _)| **id != self.config.id)
            .map(|(id, node)| (*id, node.addr.clone(), voters.contains(id)))
            .collect();
        peers.sort_by_key(|(id, _, voter)| (!voter, *id));
        peers
    }

    /// Stores `bytes` here and on peers until a majority of the voters hold
    /// them; the other pushes carry on after this returns.
    pub(crate) async fn replicate_bytes(
        &self,
        digest: &str,
        bytes: Arc<Vec<u8>>,
    ) -> Result<(), ControllerError> {
        {
            let (blobs, digest, bytes) = (self.blobs.clone(), digest.to_string(), bytes.clone());
            tokio::task::spawn_blocking(move || blobs.put(&digest, &bytes))
                .await
                .map_err(|e| ControllerError::Raft(format!("storing the bytes stopped: {e}")))??;
        }
        let peers = self.peers();
        let voters = 1 + peers.iter().filter(|(_, _, voter)| *voter).count();
        let needed = voters / 2 + 1;
        let mut held = 1;
        let timeout = self.config.write_timeout;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for (id, address, voter) in peers {
            let (tx, digest, bytes) = (tx.clone(), digest.to_string(), bytes.clone());
            tokio::spawn(async move {
                let pushed = blobs::push(&address, &digest, bytes.to_vec(), timeout * 4).await;
                if let Err(e) = &pushed {
                    tracing::warn!(peer = id, %address, error = %e, digest, "could not push component bytes");
                }
                let _ = tx.send((id, address, voter, pushed.is_ok()));
            });
        }
        drop(tx);
        let mut missing = Vec::new();
        let deadline = tokio::time::Instant::now() + timeout;
        while held < needed {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((_, _, true, true))) => held += 1,
                Ok(Some((id, address, true, false))) => missing.push(format!("{id} at {address}")),
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    return Err(ControllerError::NoQuorum(format!(
                        "the component's bytes reached {held} of the {needed} voters a deploy needs within {timeout:?}; unreachable members: {}",
                        if missing.is_empty() {
                            "none recorded".into()
                        } else {
                            missing.join(", ")
                        }
                    )));
                }
            }
        }
        Ok(())
    }

    /// A component's bytes, for a host that lacks its artifact: from this
    /// replica's blob store, else from an older log's state, else fetched
    /// from a peer (and kept).
    pub async fn component_bytes(&self, digest: &str) -> Result<Vec<u8>, ControllerError> {
        if self.state.component(digest)?.is_none() {
            return Err(ControllerError::UnknownComponent(digest.to_string()));
        }
        if let Some(bytes) = self.blobs.get(digest)? {
            return Ok(bytes);
        }
        if let Some(bytes) = self.state.legacy_blob(digest)? {
            return Ok(bytes);
        }
        self.fetch_from_peers(digest).await
    }

    /// Asks each peer in turn for `digest`'s bytes and keeps them.
    async fn fetch_from_peers(&self, digest: &str) -> Result<Vec<u8>, ControllerError> {
        let mut asked = Vec::new();
        let mut fetches: FuturesUnordered<_> = self
            .peers()
            .into_iter()
            .map(|(id, address, _)| async move {
                let got = blobs::fetch(&address, digest).await;
                (id, address, got)
            })
            .collect();
        while let Some((id, address, got)) = fetches.next().await {
            match got {
                Ok(Some(bytes)) => {
                    let (blobs, d, b) = (self.blobs.clone(), digest.to_string(), bytes.clone());
                    tokio::task::spawn_blocking(move || blobs.put(&d, &b))
                        .await
                        .map_err(|e| ControllerError::Raft(e.to_string()))??;
                    tracing::info!(digest, from = id, "fetched component bytes from a peer");
                    return Ok(bytes);
                }
                Ok(None) => asked.push(format!("{id} at {address}: lacks them")),
                Err(e) => asked.push(format!("{id} at {address}: {e}")),
            }
        }
        Err(ControllerError::Corrupt(format!(
            "no replica holds the bytes of {digest} ({})",
            if asked.is_empty() {
                "this replica has no peers".into()
            } else {
                asked.join("; ")
            }
        )))
    }

    /// Keeps this replica's blob store complete: a replica that was down
    /// during a deploy, or joined from a snapshot, fetches the bytes it
    /// lacks from its peers in the background.
    pub(crate) fn keep_bytes(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(CATCH_UP_EVERY);
            loop {
                tick.tick().await;
                let Some(controller) = weak.upgrade() else {
                    return;
                };
                let Ok(components) = controller.state.components() else {
                    continue;
                };
                for component in components {
                    let digest = &component.digest;
                    let present = controller.blobs.has(digest)
                        || controller.state.has_legacy_blob(digest).unwrap_or(false);
                    if !present && let Err(e) = controller.fetch_from_peers(digest).await {
                        tracing::debug!(digest, error = %e, "component bytes not fetched yet");
                    }
                }
            }
        });
    }
}
