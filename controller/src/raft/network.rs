//! The Raft peer RPCs as a tonic client.
//!
//! Transport failures (refused, reset, timed out) become
//! `RPCError::Unreachable`, so openraft backs off and retries; an error the
//! peer's Raft returned travels back as `RemoteError`. Every answered RPC
//! updates [`PeerHealth`], which is how a replica can say which members it
//! cannot reach when there is no quorum.

use std::collections::HashMap;
use std::error::Error;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use weft_proto::auth::{AuthedChannel, Bearer};
use weft_proto::raft::RaftPayload;
use weft_proto::raft::raft_peer_client::RaftPeerClient;

use super::{Node, NodeId, TypeConfig, decode, encode};

/// When each peer last answered an RPC from this replica.
#[derive(Default)]
pub struct PeerHealth {
    last_ok: Mutex<HashMap<NodeId, Instant>>,
}

impl PeerHealth {
    /// Records that `peer` was heard from (it answered, or it called us).
    pub fn answered(&self, peer: NodeId) {
        self.last_ok
            .lock()
            .expect("health lock")
            .insert(peer, Instant::now());
    }

    /// How long ago `peer` last answered, if it ever did.
    pub fn silent_for(&self, peer: NodeId) -> Option<Duration> {
        self.last_ok
            .lock()
            .expect("health lock")
            .get(&peer)
            .map(Instant::elapsed)
    }
}

/// Makes a client per peer. One per replica.
#[derive(Clone, Default)]
pub struct Network {
    /// Shared with the client API service for "no quorum" errors.
    pub health: Arc<PeerHealth>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> Self::Network {
        PeerClient {
            target,
            client: weft_proto::tls::endpoint(&node.addr)
                .map(|e| {
                    e.connect_timeout(Duration::from_secs(1))
                        .tcp_nodelay(true)
                        .connect_lazy()
                })
                .map(|ch| {
                    RaftPeerClient::with_interceptor(ch, Bearer::for_address(&node.addr))
                        .max_decoding_message_size(usize::MAX)
                        .max_encoding_message_size(usize::MAX)
                })
                .map_err(|e| e.to_string()),
            health: self.health.clone(),
        }
    }
}

/// The RPC client for one peer.
pub struct PeerClient {
    target: NodeId,
    client: Result<RaftPeerClient<AuthedChannel>, String>,
    health: Arc<PeerHealth>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct TransportError(String);

impl PeerClient {
    /// Sends one RPC: `call` picks the method; the reply decodes to the
    /// peer's `Result`, whose error is the peer's Raft error.
    async fn send<Req, Resp, E, F, Fut>(
        &mut self,
        request: &Req,
        option: &RPCOption,
        call: F,
    ) -> Result<Resp, RPCError<NodeId, Node, RaftError<NodeId, E>>>
    where
        Req: Serialize,
        Resp: DeserializeOwned,
        E: Error + DeserializeOwned,
        F: FnOnce(RaftPeerClient<AuthedChannel>, RaftPayload) -> Fut,
        Fut: Future<Output = Result<tonic::Response<RaftPayload>, tonic::Status>>,
    {
        let client = match &self.client {
            Ok(c) => c.clone(),
            Err(e) => {
                return Err(RPCError::Unreachable(Unreachable::new(&TransportError(
                    e.clone(),
                ))));
            }
        };
        let payload = RaftPayload {
            data: encode(request),
        };
        let reply = match tokio::time::timeout(option.hard_ttl(), call(client, payload)).await {
            Ok(Ok(reply)) => reply.into_inner(),
            Ok(Err(status)) if status.code() == tonic::Code::InvalidArgument => {
                return Err(RPCError::Network(NetworkError::new(&TransportError(
                    status.message().into(),
                ))));
            }
            Ok(Err(status)) => {
                return Err(RPCError::Unreachable(Unreachable::new(&TransportError(
                    status.to_string(),
                ))));
            }
            Err(_) => {
                return Err(RPCError::Unreachable(Unreachable::new(&TransportError(
                    format!("no answer within {:?}", option.hard_ttl()),
                ))));
            }
        };
        self.health.answered(self.target);
        let result: Result<Resp, RaftError<NodeId, E>> = decode(&reply.data).map_err(|e| {
            RPCError::Network(NetworkError::new(&TransportError(format!(
                "undecodable reply: {e}"
            ))))
        })?;
        result.map_err(|e| RPCError::RemoteError(RemoteError::new(self.target, e)))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.send(&rpc, &option, |mut c, p| async move {
            c.append_entries(p).await
        })
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.send(&rpc, &option, |mut c, p| async move {
            c.install_snapshot(p).await
        })
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.send(&rpc, &option, |mut c, p| async move { c.vote(p).await })
            .await
    }
}
