//! The agent's object store duties: keeping large task results, reading
//! a task's object arguments (pulling them from their holder first, with
//! concurrent pulls of one object merged into one transfer), deleting
//! what the cluster frees, and serving its store to other hosts and to
//! clients (`WeftHost`).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use tokio::sync::OnceCell;
use tonic::{Request, Response, Status, Streaming};
use weft_core::ClientError;
use weft_core::objects::{PullEvent, pull};
use weft_proto::limits::{CHUNK, LANES};
use weft_proto::v1 as pb;

use super::Agent;
use crate::store::{Object, ObjectStore, StoreError, Writer};

/// The least left after the first chunk for a pull to use bulk streams.
const BULK_MIN: u64 = 4 << 20;

/// Bulk streams per pull.
pub const BULK_LANES: usize = 3;

/// One pull in flight; later askers for the same object wait on it.
pub(crate) type Pull = Arc<OnceCell<Result<(), PullError>>>;

/// Why an object could not be brought into this host's store. Cheap to
/// clone: every task waiting on one pull gets its outcome.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PullError {
    /// The object should be here, and is not (freed, or this host restarted).
    #[error("host {host} no longer holds object {id}")]
    Gone {
        /// This host.
        host: String,
        /// The object.
        id: String,
    },
    /// This store could not take it.
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// The holder could not be reached, or failed mid-transfer.
    #[error("pulling object {id}: {source}")]
    Transfer {
        /// The object.
        id: String,
        /// What failed.
        source: Arc<ClientError>,
    },
    /// The holder answered with no data.
    #[error("object {0}: the holder sent nothing")]
    Empty(String),
}

impl From<StoreError> for PullError {
    fn from(e: StoreError) -> Self {
        PullError::Store(Arc::new(e))
    }
}

fn transfer(id: &str) -> impl FnOnce(ClientError) -> PullError + '_ {
    move |e| PullError::Transfer {
        id: id.to_string(),
        source: Arc::new(e),
    }
}

/// Puts from clients on this machine, between `CreateObject` and
/// `SealObject`, with when each began.
#[derive(Default)]
pub(crate) struct Creating(HashMap<String, (std::time::Instant, Writer)>);

/// A client put not sealed within this long is given up (the client died
/// or gave up), and its room given back.
const CREATE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

impl Creating {
    fn start(&mut self, id: String, writer: Writer) {
        let now = std::time::Instant::now();
        self.0
            .retain(|_, (since, _)| now.duration_since(*since) < CREATE_TIMEOUT);
        self.0.insert(id, (now, writer));
    }

    fn finish(&mut self, id: &str) -> Option<Writer> {
        self.0.remove(id).map(|(_, w)| w)
    }
}

impl Agent {
    /// Keeps a large encoded result (the concatenation of `parts`) in the
    /// store; returns who holds it, where.
    pub(crate) fn hold(&self, id: &str, parts: &[&[u8]]) -> Result<(String, String), StoreError> {
        self.store.put(id, parts, true)?;
        Ok((self.config.id.clone(), self.config.address.clone()))
    }

    /// Object `id` from this host's store, pulled first from the host at
    /// `address` when it is not here (empty: it should be here).
    pub(crate) async fn local_object(&self, id: &str, address: &str) -> Result<Object, PullError> {
        if let Ok(object) = self.store.get(id) {
            return Ok(object);
        }
        if address.is_empty() || address == self.config.address {
            return Err(PullError::Gone {
                host: self.config.id.clone(),
                id: id.to_string(),
            });
        }
        let cell: Pull = {
            let mut pulls = self.pulls.lock().unwrap_or_else(|p| p.into_inner());
            pulls.entry(id.to_string()).or_default().clone()
        };
        let outcome = cell
            .get_or_init(|| pull_into(&self.store, id, address))
            .await
            .clone();
        self.pulls
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        outcome?;
        Ok(self.store.get(id)?)
    }

    /// Deletes objects the cluster freed.
    pub(crate) fn free(&self, ids: &[String]) {
        for id in ids {
            self.store.remove(id);
        }
    }

    fn creating(&self) -> std::sync::MutexGuard<'_, Creating> {
        self.creating.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sealed(&self) -> pb::SealObjectResponse {
        pb::SealObjectResponse {
            holder: self.config.id.clone(),
            address: self.config.address.clone(),
        }
    }
}

/// Copies object `id` from the host at `address` into `store` as a
/// secondary copy (what a host does for a task whose argument another
/// host holds): from the holder's arena, mapped, when it runs on this
/// machine (one copy at memory speed), else over the network.
pub async fn pull_into(store: &Arc<ObjectStore>, id: &str, address: &str) -> Result<(), PullError> {
    if store.contains(id) {
        return Ok(());
    }
    // A holder on another machine answers that it is (one round trip,
    // small beside any object held in a store); then the network it is.
    let shared = if store.config().network_pulls {
        None
    } else {
        weft_core::objects::pin_object(address, id).await.ok()
    };
    if let Some(view) = shared {
        let size = view.len() as u64;
        let (store, id) = (store.clone(), id.to_string());
        // A large copy: off the async threads.
        tokio::task::spawn_blocking(move || {
            store.put(&id, &[&view], false)?;
            store.count_pull(size);
            Ok::<_, StoreError>(())
        })
        .await
        .map_err(|e| {
            PullError::Store(Arc::new(StoreError::Io {
                path: std::path::PathBuf::new(),
                source: std::io::Error::other(e.to_string()),
            }))
        })??;
        return Ok(());
    }
    pull_over_network(store, id, address).await
}

/// Copies object `id` from the host at `address` into `store` over the
/// network: the first chunk says the object's size; the rest comes as
/// ranges pulled at once over several connections.
pub async fn pull_over_network(
    store: &Arc<ObjectStore>,
    id: &str,
    address: &str,
) -> Result<(), PullError> {
    if store.contains(id) {
        return Ok(());
    }
    let mut writer: Option<Writer> = None;
    let mut failure = None;
    let first = pull(address, id, (0, CHUNK as u64), 0, |event| {
        match event {
            PullEvent::Start { size } => match store.create(id, size, false) {
                Ok(w) => writer = Some(w),
                Err(e) => {
                    let error = ClientError::Local(e.to_string());
                    failure = Some(e);
                    return Err(error);
                }
            },
            PullEvent::Chunk { offset, data } => {
                if let Some(w) = writer.as_ref() {
                    write_chunk(w, (0, CHUNK as u64), offset, data, id)?;
                }
            }
        }
        Ok(())
    })
    .await;
    if let Some(e) = failure {
        return Err(e.into());
    }
    first.map_err(transfer(id))?;
    let writer = writer.ok_or_else(|| PullError::Empty(id.to_string()))?;
    let size = writer.size();
    let rest = (CHUNK as u64, size.saturating_sub(CHUNK as u64));
    // The rest of a large object moves over bulk streams; a holder that
    // cannot serve them gets the gRPC lanes.
    let bulk = match rest.1 >= BULK_MIN {
        true => super::bulk::peer_of(address).await.ok(),
        false => None,
    };
    if let Some(bulk) = bulk {
        let writer = Arc::new(writer);
        super::bulk::receive_lanes(bulk, id.to_string(), rest, BULK_LANES, writer.clone())
            .await
            .map_err(|e| transfer(id)(ClientError::HolderUnavailable(e.to_string())))?;
        let writer = Arc::into_inner(writer).ok_or_else(|| PullError::Empty(id.to_string()))?;
        writer.seal()?;
        store.count_pull(size);
        return Ok(());
    }
    if size > CHUNK as u64 {
        let rest = size - CHUNK as u64;
        let per = rest.div_ceil(LANES as u64).next_multiple_of(CHUNK as u64);
        let writer = &writer;
        let ranges = (0..LANES as u64)
            .map(|lane| (CHUNK as u64 + lane * per, per))
            .filter(|(start, _)| *start < size)
            .enumerate()
            .map(|(lane, (start, per))| async move {
                let range = (start, per.min(size - start));
                pull(address, id, range, lane, |event| match event {
                    PullEvent::Chunk { offset, data } => {
                        write_chunk(writer, range, offset, data, id)
                    }
                    PullEvent::Start { .. } => Ok(()),
                })
                .await
            });
        futures::future::try_join_all(ranges)
            .await
            .map_err(transfer(id))?;
    }
    writer.seal()?;
    store.count_pull(size);
    Ok(())
}

/// Writes a chunk at object offset `offset`, which must lie in the range
/// `(start, length)` asked for.
fn write_chunk(
    writer: &Writer,
    (start, length): (u64, u64),
    offset: u64,
    data: &[u8],
    id: &str,
) -> Result<(), ClientError> {
    let inside = offset >= start && offset + data.len() as u64 <= start + length;
    if !inside {
        return Err(ClientError::Unreadable(format!(
            "object {id}: a chunk at {offset} falls outside the range asked for"
        )));
    }
    writer
        .write_at(offset, data)
        .map_err(|e| ClientError::Local(e.to_string()))
}

pub(super) fn status(e: StoreError) -> Status {
    match e {
        StoreError::Full(_) => Status::resource_exhausted(e.to_string()),
        StoreError::Missing(_) => Status::not_found(e.to_string()),
        StoreError::BadId(_) => Status::invalid_argument(e.to_string()),
        StoreError::Io { .. } => Status::internal(e.to_string()),
    }
}

/// `WeftHost`: this host's store and actors, for other hosts and for
/// clients.
pub struct HostService {
    agent: Weak<Agent>,
    /// The host's main server keeps the agent alive; its actor threads'
    /// servers do not, so a host that stops drops its agent (and store).
    _keep: Option<Arc<Agent>>,
}

impl HostService {
    /// The tonic server for `agent`'s store and actors.
    pub fn server(agent: Arc<Agent>) -> pb::weft_host_server::WeftHostServer<Self> {
        Self::wrap(HostService {
            agent: Arc::downgrade(&agent),
            _keep: Some(agent),
        })
    }

    /// A server that serves `agent` while something else keeps it alive.
    pub(crate) fn weak(agent: Weak<Agent>) -> pb::weft_host_server::WeftHostServer<Self> {
        Self::wrap(HostService { agent, _keep: None })
    }

    fn wrap(service: Self) -> pb::weft_host_server::WeftHostServer<Self> {
        pb::weft_host_server::WeftHostServer::new(service)
            .max_encoding_message_size(CHUNK + (1 << 20))
            .max_decoding_message_size(CHUNK + (1 << 20))
    }

    fn agent(&self) -> Result<Arc<Agent>, Status> {
        self.agent
            .upgrade()
            .ok_or_else(|| Status::unavailable("this host is stopping"))
    }
}

type ChunkStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::ObjectChunk, Status>> + Send>>;

#[tonic::async_trait]
impl pb::weft_host_server::WeftHost for HostService {
    type PullStream = ChunkStream;
    type PinsStream = super::pins::PinStream;
    type ActorCallsStream = super::actors::ReplyStream;

    async fn actor_calls(
        &self,
        request: Request<Streaming<pb::ActorCallBatch>>,
    ) -> Result<Response<Self::ActorCallsStream>, Status> {
        Ok(Response::new(super::actors::serve_calls(
            self.agent()?,
            request.into_inner(),
        )))
    }

    async fn pull(
        &self,
        request: Request<pb::PullRequest>,
    ) -> Result<Response<Self::PullStream>, Status> {
        let request = request.into_inner();
        let agent = self.agent()?;
        let object = agent.store.get(&request.id).map_err(status)?.shared();
        let size = object.len();
        let start = (request.offset as usize).min(size);
        let end = if request.length == 0 {
            size
        } else {
            start.saturating_add(request.length as usize).min(size)
        };
        let mut offsets: Vec<usize> = (start..end).step_by(CHUNK).collect();
        if offsets.is_empty() {
            offsets.push(start);
        }
        let id = request.id;
        let served = agent.store.clone();
        // Chunks are slices of the object in the arena (it stays pinned
        // while any is in flight): gRPC copies each once, into its frame.
        let chunks = offsets.into_iter().enumerate().map(move |(i, at)| {
            let data = object.slice(at..(at + CHUNK).min(end));
            served
                .served_bytes
                .fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Ok(pb::ObjectChunk {
                id: if i == 0 { id.clone() } else { String::new() },
                size: size as u64,
                offset: at as u64,
                data,
            })
        });
        Ok(Response::new(Box::pin(tokio_stream::iter(chunks))))
    }

    async fn create_object(
        &self,
        request: Request<pb::CreateObjectRequest>,
    ) -> Result<Response<pb::CreateObjectResponse>, Status> {
        let r = request.into_inner();
        let agent = self.agent()?;
        let writer = agent.store.create(&r.id, r.size, true).map_err(status)?;
        let arena = agent.store.arena();
        let reply = pb::CreateObjectResponse {
            arena: arena.path().display().to_string(),
            arena_size: arena.len() as u64,
            offset: writer.offset(),
        };
        agent.creating().start(r.id, writer);
        Ok(Response::new(reply))
    }

    async fn seal_object(
        &self,
        request: Request<pb::SealObjectRequest>,
    ) -> Result<Response<pb::SealObjectResponse>, Status> {
        let id = request.into_inner().id;
        let writer = self.agent()?.creating().finish(&id).ok_or_else(|| {
            Status::not_found(format!("no object {id} is being put on this host"))
        })?;
        writer.seal().map_err(status)?;
        Ok(Response::new(self.agent()?.sealed()))
    }

    async fn put_object(
        &self,
        request: Request<Streaming<pb::ObjectChunk>>,
    ) -> Result<Response<pb::SealObjectResponse>, Status> {
        let mut chunks = request.into_inner();
        let mut writer: Option<Writer> = None;
        while let Some(chunk) = chunks.message().await? {
            let w = match writer.as_ref() {
                Some(w) => w,
                None => writer.insert(
                    self.agent()?
                        .store
                        .create(&chunk.id, chunk.size, true)
                        .map_err(status)?,
                ),
            };
            w.write_at(chunk.offset, &chunk.data)
                .map_err(|e| Status::invalid_argument(e.to_string()))?;
        }
        let writer = writer.ok_or_else(|| Status::invalid_argument("an empty put"))?;
        writer.seal().map_err(status)?;
        Ok(Response::new(self.agent()?.sealed()))
    }

    async fn pins(
        &self,
        request: Request<Streaming<pb::PinRequest>>,
    ) -> Result<Response<Self::PinsStream>, Status> {
        let store = self.agent()?.store.clone();
        Ok(Response::new(super::pins::serve(
            store,
            request.into_inner(),
        )))
    }

    async fn logs(
        &self,
        request: Request<pb::LogsRequest>,
    ) -> Result<Response<pb::LogsResponse>, Status> {
        let request = request.into_inner();
        let agent = self.agent()?;
        let Some(logs) = agent.config.logs.clone() else {
            return Ok(Response::new(pb::LogsResponse::default()));
        };
        let query = super::logs::LogQuery {
            tail: usize::try_from(request.tail).unwrap_or(usize::MAX),
            from_line: request.from_line,
            since_micros: request.since_micros,
        };
        let read = tokio::task::spawn_blocking(move || logs.read(&request.source, query))
            .await
            .map_err(|e| Status::internal(e.to_string()))?
            .map_err(|e| Status::internal(format!("cannot read the log: {e}")))?;
        Ok(Response::new(read.unwrap_or_default()))
    }

    async fn bulk_port(
        &self,
        _: Request<pb::BulkPortRequest>,
    ) -> Result<Response<pb::BulkPortReply>, Status> {
        let agent = self.agent()?;
        let port = agent.bulk_port.get_or_init(|| {
            let ip = agent
                .config
                .address
                .rsplit_once(':')
                .map_or("0.0.0.0", |(ip, _)| ip);
            super::bulk::serve(Arc::downgrade(&agent), ip).map_err(|e| e.to_string())
        });
        match port {
            Ok(port) => Ok(Response::new(pb::BulkPortReply {
                port: u32::from(*port),
                key: agent.bulk_key.clone(),
            })),
            Err(e) => Err(Status::unavailable(format!(
                "this host cannot serve bulk streams: {e}"
            ))),
        }
    }

    async fn store_stats(
        &self,
        request: Request<pb::StoreStatsRequest>,
    ) -> Result<Response<pb::StoreStatsResponse>, Status> {
        let largest = request.into_inner().largest as usize;
        let agent = self.agent()?;
        let stats = agent.store.stats(largest);
        let config = agent.store.config();
        Ok(Response::new(pb::StoreStatsResponse {
            host: agent.config.id.clone(),
            dir: config.dir.display().to_string(),
            spill_dir: config.spill_dir.display().to_string(),
            capacity: stats.capacity,
            used: stats.used,
            objects: stats.objects,
            primary_bytes: stats.primary_bytes,
            secondary_bytes: stats.secondary_bytes,
            spilled_bytes: stats.spilled_bytes,
            spilled_objects: stats.spilled_objects,
            spills: stats.spills,
            restores: stats.restores,
            evictions: stats.evictions,
            pulls: stats.pulls,
            pulled_bytes: stats.pulled_bytes,
            served_bytes: stats.served_bytes,
            largest_free: stats.largest_free,
            client_pins: stats.client_pins,
            largest: stats
                .largest
                .into_iter()
                .map(|o| pb::StoredObject {
                    id: o.id,
                    size: o.size,
                    state: o.state.into(),
                    pins: o.pins,
                })
                .collect(),
        }))
    }
}
