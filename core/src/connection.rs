//! The connection every side of the cluster's clients shares: it finds
//! the leader among the controller replicas, follows its hints, and
//! retries unreachable replicas until a deadline. "No quorum" is final
//! and is not retried.

use std::time::Duration;

use weft_proto::auth::{AuthedChannel, Bearer};
use weft_proto::v1 as pb;
use weft_proto::v1::weft_client::WeftClient;

use crate::{ClientError, NodeInfo};

/// The largest message the client sends or accepts (component uploads).
const MAX_MESSAGE: usize = 256 << 20;

/// How long a request keeps looking for a leader before giving up.
const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(15);

/// A connection to a weft cluster's controller group that follows the
/// leader: every request goes to the replica it believes leads.
#[derive(Clone)]
pub struct Connection {
    addresses: Vec<String>,
    /// Index into `addresses` of the replica requests go to now.
    current: usize,
    rpc: Option<WeftClient<AuthedChannel>>,
    retry_for: Duration,
    /// This client's id and its last request number: a write is sent with
    /// both, and its retries with the same pair, so it applies once.
    session: (u64, u64),
}

/// A write's identity: its connection's id and its number there. Every
/// attempt of one write carries the same, so the leader applies it once.
#[derive(Debug, Clone, Copy)]
pub struct WriteId {
    client: u64,
    seq: u64,
}

impl WriteId {
    /// `message` wrapped in a request carrying this identity.
    pub fn request<T>(self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        let metadata = request.metadata_mut();
        metadata.insert(
            weft_proto::metadata::CLIENT_ID,
            self.client.to_string().parse().expect("digits"),
        );
        metadata.insert(
            weft_proto::metadata::SEQ,
            self.seq.to_string().parse().expect("digits"),
        );
        request
    }
}

/// What to do after a failed attempt.
enum Next {
    /// Give up with this error.
    Fail(ClientError),
    /// Go to this address (a leader hint) and retry at once.
    Redirect(String),
    /// Try the next address after a short pause.
    Rotate(String),
}

fn classify(status: tonic::Status) -> Next {
    if status
        .metadata()
        .get(weft_proto::metadata::NO_QUORUM)
        .is_some()
    {
        return Next::Fail(ClientError::Rpc(status));
    }
    if let Some(leader) = status
        .metadata()
        .get(weft_proto::metadata::LEADER)
        .and_then(|v| v.to_str().ok())
    {
        return Next::Redirect(leader.to_string());
    }
    match status.code() {
        // Transport failures surface as Unavailable (refused, reset) or
        // Unknown/Cancelled (connection dropped mid-request).
        tonic::Code::Unavailable | tonic::Code::Cancelled => {
            Next::Rotate(transport_reason(&status))
        }
        tonic::Code::Unknown if status.message().contains("transport") => {
            Next::Rotate(transport_reason(&status))
        }
        // A plaintext request to a TLS port ends as an h2 protocol error.
        tonic::Code::Internal if status.message().starts_with("h2 protocol error") => {
            Next::Rotate(transport_reason(&status))
        }
        _ => Next::Fail(ClientError::Rpc(status)),
    }
}

/// What broke a transport: its innermost cause where it has one (a TLS
/// alert, say), else the status's message.
fn transport_reason(status: &tonic::Status) -> String {
    match std::error::Error::source(status) {
        Some(_) => weft_proto::tls::describe(status),
        None => status.message().to_string(),
    }
}

impl Connection {
    /// Connects to a cluster given one address or a comma-separated list
    /// (`host:port,host:port`); the first that answers is used first.
    pub async fn connect(addresses: &str) -> Result<Self, ClientError> {
        let addresses: Vec<String> = addresses
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
            .collect();
        if addresses.is_empty() {
            return Err(ClientError::Unreachable {
                address: String::new(),
                reason: "no address given".into(),
            });
        }
        let mut client = Connection {
            addresses,
            current: 0,
            rpc: None,
            retry_for: DEFAULT_RETRY_FOR,
            session: (crate::new_client_id(), 0),
        };
        let mut last = String::new();
        for i in 0..client.addresses.len() {
            client.current = i;
            match client.channel().await {
                Ok(_) => return Ok(client),
                Err(reason) => last = reason,
            }
        }
        Err(client.unreachable(last))
    }

    /// How long a request keeps looking for a reachable leader (default 15 s).
    pub fn retry_for(mut self, duration: Duration) -> Self {
        self.retry_for = duration;
        self
    }

    fn unreachable(&self, reason: String) -> ClientError {
        ClientError::Unreachable {
            address: self.addresses.join(","),
            reason: weft_proto::tls::explain(&self.addresses[self.current], reason),
        }
    }

    async fn channel(&mut self) -> Result<WeftClient<AuthedChannel>, String> {
        if let Some(rpc) = &self.rpc {
            return Ok(rpc.clone());
        }
        let address = &self.addresses[self.current];
        let endpoint = weft_proto::tls::endpoint(address)
            .map_err(|e| e.to_string())?
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true);
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| format!("{address}: {}", weft_proto::tls::describe(&e)))?;
        let rpc = WeftClient::with_interceptor(channel, Bearer::for_address(address))
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE);
        self.rpc = Some(rpc.clone());
        Ok(rpc)
    }

    fn go_to(&mut self, address: &str) {
        self.rpc = None;
        match self.addresses.iter().position(|a| a == address) {
            Some(i) => self.current = i,
            None => {
                self.addresses.push(address.to_string());
                self.current = self.addresses.len() - 1;
            }
        }
    }

    fn rotate(&mut self) {
        self.rpc = None;
        self.current = (self.current + 1) % self.addresses.len();
    }

    /// Runs one RPC (unary, or the opening of a stream) on the leader,
    /// following leader hints and retrying unreachable replicas until the
    /// deadline, as every method of this client does.
    pub async fn request<T, F, Fut>(&mut self, mut op: F) -> Result<T, ClientError>
    where
        F: FnMut(WeftClient<AuthedChannel>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let deadline = tokio::time::Instant::now() + self.retry_for;
        let mut redirects = 0;
        loop {
            let next = match self.channel().await {
                Ok(rpc) => match op(rpc).await {
                    Ok(response) => return Ok(response.into_inner()),
                    Err(status) => classify(status),
                },
                Err(reason) => Next::Rotate(reason),
            };
            match next {
                Next::Fail(e) => return Err(e),
                Next::Redirect(leader) => {
                    // A follower may still name a leader that just died
                    // until it notices; keep following hints (they change
                    // once a new leader is elected) until the deadline.
                    if tokio::time::Instant::now() >= deadline {
                        return Err(
                            self.unreachable(format!("the leader {leader} could not be reached"))
                        );
                    }
                    redirects += 1;
                    self.go_to(&leader);
                    if redirects > 2 {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
                Next::Rotate(reason) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(self.unreachable(reason));
                    }
                    self.rotate();
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Runs one unary RPC on the leader as [`request`](Self::request)
    /// does, sending a clone of `message` on each attempt.
    pub async fn unary<M, T, F, Fut>(&mut self, message: M, mut op: F) -> Result<T, ClientError>
    where
        M: Clone,
        F: FnMut(WeftClient<AuthedChannel>, M) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        self.request(|rpc| op(rpc, message.clone())).await
    }

    /// Opens a bidirectional stream on the leader, found as every request
    /// finds it, and returns the sender of the stream's requests with its
    /// responses. `first` is queued before the stream opens (a server may
    /// wait for it before answering).
    pub async fn open_stream<M, R, F, Fut>(
        &mut self,
        first: Option<M>,
        mut open: F,
    ) -> Result<(tokio::sync::mpsc::UnboundedSender<M>, R), ClientError>
    where
        M: Clone,
        F: FnMut(
            WeftClient<AuthedChannel>,
            tokio_stream::wrappers::UnboundedReceiverStream<M>,
        ) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, tonic::Status>>,
    {
        let slot = std::sync::Mutex::new(None);
        let response = self
            .request(|rpc| {
                let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
                if let Some(message) = &first {
                    let _ = tx.send(message.clone());
                }
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
                open(
                    rpc,
                    tokio_stream::wrappers::UnboundedReceiverStream::new(rx),
                )
            })
            .await?;
        let sender = slot
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .ok_or_else(|| ClientError::Local("a stream opened without a sender".into()))?;
        Ok((sender, response))
    }

    /// The address of the replica this connection talks to now.
    pub fn current_address(&self) -> &str {
        &self.addresses[self.current]
    }

    /// The identity of this connection's next write.
    pub fn next_write(&mut self) -> WriteId {
        self.session.1 += 1;
        WriteId {
            client: self.session.0,
            seq: self.session.1,
        }
    }

    /// Worker hosts as the leader sees them.
    pub async fn list_nodes(&mut self) -> Result<Vec<NodeInfo>, ClientError> {
        let reply = self
            .request(|mut c| async move { c.list_nodes(pb::ListNodesRequest {}).await })
            .await?;
        Ok(reply.nodes)
    }

    /// What waits for room no live host has now (queued tasks, waiting
    /// actors, bundles not placed), oldest first: an autoscaler's input.
    pub async fn demand(&mut self) -> Result<Vec<pb::Demand>, ClientError> {
        let reply = self
            .request(|mut c| async move { c.get_demand(pb::GetDemandRequest {}).await })
            .await?;
        Ok(reply.demands)
    }

    /// The cluster's objects, newest first (at most `limit`), each with the
    /// copies the live hosts' stores hold (their state and readers), and
    /// how many objects the leader knows in all. A host that cannot be
    /// asked leaves its copies out.
    pub async fn list_objects(
        &mut self,
        limit: u32,
    ) -> Result<(Vec<pb::ObjectInfo>, u64), ClientError> {
        let reply = self
            .request(|mut c| async move { c.list_objects(pb::ListObjectsRequest { limit }).await })
            .await?;
        let mut objects = reply.objects;
        let mut by_id: std::collections::HashMap<String, usize> = objects
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.clone(), i))
            .collect();
        for node in self.list_nodes().await?.into_iter().filter(|n| n.alive) {
            let Ok(stats) = crate::objects::store_stats(&node.address, u32::MAX).await else {
                continue;
            };
            for stored in stats.largest {
                if let Some(&i) = by_id.get(&stored.id) {
                    objects[i].copies.push(pb::ObjectCopy {
                        host: node.id.clone(),
                        state: stored.state,
                        pins: stored.pins,
                    });
                }
            }
        }
        by_id.clear();
        Ok((objects, reply.total))
    }

    /// A deployed component's bytes.
    pub async fn fetch_component(&mut self, digest: &str) -> Result<Vec<u8>, ClientError> {
        let request = pb::FetchComponentRequest {
            digest: digest.to_string(),
        };
        let reply = self
            .unary(
                request,
                |mut c, r| async move { c.fetch_component(r).await },
            )
            .await?;
        Ok(reply.wasm)
    }
}
