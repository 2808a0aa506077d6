//! The server side of the Raft peer RPCs: decode, hand to openraft, encode
//! openraft's `Result` back, errors included, so the caller sees the peer's
//! Raft error as a `RemoteError`.

use tonic::{Request, Response, Status};
use weft_proto::raft::RaftPayload;
use weft_proto::raft::raft_peer_server::{RaftPeer, RaftPeerServer};

use std::sync::Arc;

use openraft::raft::{AppendEntriesRequest, InstallSnapshotRequest, VoteRequest};

use super::network::PeerHealth;
use super::{NodeId, Raft, TypeConfig, decode, encode};

/// Serves one replica's Raft to its peers.
pub struct RaftPeerService {
    raft: Raft,
    health: Arc<PeerHealth>,
}

impl RaftPeerService {
    /// The tonic server for `raft`'s peer RPCs (no size limit: snapshots
    /// travel in chunks sized by openraft's config, entries in batches).
    /// Calls from peers count as hearing from them in `health`.
    pub fn server(raft: Raft, health: Arc<PeerHealth>) -> RaftPeerServer<Self> {
        RaftPeerServer::new(RaftPeerService { raft, health })
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }
}

impl RaftPeerService {
    fn heard_from(&self, peer: Option<NodeId>) {
        if let Some(peer) = peer {
            self.health.answered(peer);
        }
    }
}

fn undecodable(e: bincode::Error) -> Status {
    Status::invalid_argument(format!("undecodable Raft request: {e}"))
}

#[tonic::async_trait]
impl RaftPeer for RaftPeerService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let rpc: AppendEntriesRequest<TypeConfig> =
            decode(&request.into_inner().data).map_err(undecodable)?;
        self.heard_from(rpc.vote.leader_id().voted_for());
        let result = self.raft.append_entries(rpc).await;
        Ok(Response::new(RaftPayload {
            data: encode(&result),
        }))
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let rpc: InstallSnapshotRequest<TypeConfig> =
            decode(&request.into_inner().data).map_err(undecodable)?;
        self.heard_from(rpc.vote.leader_id().voted_for());
        let result = self.raft.install_snapshot(rpc).await;
        Ok(Response::new(RaftPayload {
            data: encode(&result),
        }))
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc: VoteRequest<NodeId> = decode(&request.into_inner().data).map_err(undecodable)?;
        self.heard_from(rpc.vote.leader_id().voted_for());
        let result = self.raft.vote(rpc).await;
        Ok(Response::new(RaftPayload {
            data: encode(&result),
        }))
    }
}
