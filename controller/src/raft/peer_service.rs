//! The server side of the Raft peer RPCs: decode, hand to openraft, encode
//! openraft's `Result` back, errors included, so the caller sees the peer's
//! Raft error as a `RemoteError`.

use tonic::{Request, Response, Status};
use weft_proto::raft::raft_peer_server::{RaftPeer, RaftPeerServer};
use weft_proto::raft::{Blob, BlobAck, BlobRequest, RaftPayload};

use std::sync::Arc;

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};

use super::network::PeerHealth;
use super::{NodeId, Raft, TypeConfig, decode, encode};
use crate::blobs::BlobStore;
use crate::state::StateMachine;

/// Serves one replica's Raft, and its component bytes, to its peers.
pub struct RaftPeerService {
    raft: Raft,
    health: Arc<PeerHealth>,
    blobs: Arc<BlobStore>,
    state: StateMachine,
}

impl RaftPeerService {
    /// The tonic server for `raft`'s peer RPCs (no size limit: snapshots
    /// travel in chunks sized by openraft's config, entries in batches).
    /// Calls from peers count as hearing from them in `health`.
    pub fn server(
        raft: Raft,
        health: Arc<PeerHealth>,
        blobs: Arc<BlobStore>,
        state: StateMachine,
    ) -> RaftPeerServer<Self> {
        RaftPeerServer::new(RaftPeerService {
            raft,
            health,
            blobs,
            state,
        })
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX)
    }
}

fn undecodable(e: crate::codec::CodecError) -> Status {
    Status::invalid_argument(format!("undecodable Raft request: {e}"))
}

impl RaftPeerService {
    /// Decodes a request, notes its sender as heard from, hands it to Raft
    /// and encodes Raft's whole `Result` back.
    async fn serve<Req, Resp, F, Fut>(
        &self,
        request: Request<RaftPayload>,
        call: F,
    ) -> Result<Response<RaftPayload>, Status>
    where
        Req: serde::de::DeserializeOwned + HasVote,
        Resp: serde::Serialize,
        F: FnOnce(Raft, Req) -> Fut,
        Fut: Future<Output = Resp>,
    {
        let rpc: Req = decode(&request.into_inner().data).map_err(undecodable)?;
        if let Some(peer) = rpc.sender() {
            self.health.answered(peer);
        }
        let result = call(self.raft.clone(), rpc).await;
        Ok(Response::new(RaftPayload {
            data: encode(&result),
        }))
    }
}

/// The peer that sent a Raft request, from the vote it carries.
trait HasVote {
    fn sender(&self) -> Option<NodeId>;
}

impl HasVote for AppendEntriesRequest<TypeConfig> {
    fn sender(&self) -> Option<NodeId> {
        self.vote.leader_id().voted_for()
    }
}

impl HasVote for InstallSnapshotRequest<TypeConfig> {
    fn sender(&self) -> Option<NodeId> {
        self.vote.leader_id().voted_for()
    }
}

impl HasVote for VoteRequest<NodeId> {
    fn sender(&self) -> Option<NodeId> {
        self.vote.leader_id().voted_for()
    }
}

#[tonic::async_trait]
impl RaftPeer for RaftPeerService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.serve(request, |raft, rpc: AppendEntriesRequest<TypeConfig>| async move {
            raft.append_entries(rpc).await
        })
        .await
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        self.serve(
            request,
            |raft, rpc: InstallSnapshotRequest<TypeConfig>| async move {
                raft.install_snapshot(rpc).await
            },
        )
        .await
    }

    async fn put_blob(&self, request: Request<Blob>) -> Result<Response<BlobAck>, Status> {
        let blob = request.into_inner();
        let blobs = self.blobs.clone();
        tokio::task::spawn_blocking(move || blobs.put(&blob.digest, &blob.data))
            .await
            .map_err(|e| Status::internal(e.to_string()))??;
        Ok(Response::new(BlobAck {}))
    }

    async fn fetch_blob(&self, request: Request<BlobRequest>) -> Result<Response<Blob>, Status> {
        let digest = request.into_inner().digest;
        let data = match self.blobs.get(&digest)? {
            Some(bytes) => Some(bytes),
            None => self.state.legacy_blob(&digest)?,
        };
        Ok(Response::new(Blob {
            digest,
            found: data.is_some(),
            data: data.unwrap_or_default(),
        }))
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        self.serve(request, |raft, rpc: VoteRequest<NodeId>| async move {
            raft.vote(rpc).await
        })
        .await
    }
}
