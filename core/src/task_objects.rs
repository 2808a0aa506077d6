//! Objects through an owner: [`TaskClient::put`] stores bytes in the
//! cluster and returns a ref that tasks take like any task's result;
//! [`TaskClient::get_object`] reads an object, mapped in place when its
//! holder runs on this machine.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use weft_proto::v1 as pb;

use crate::objects::{
    Located, ObjectBytes, locate, machine_id, pin_object, pull_to_vec, put_on_host, put_record,
};
use crate::{ClientError, NodeInfo, TaskClient, TaskResult};

/// How long the host list used to place puts is trusted.
const HOSTS_FRESH: Duration = Duration::from_secs(2);

/// How long a read waits for a lost object to be rebuilt when no timeout
/// was given.
const REBUILD_WAIT: Duration = Duration::from_secs(60);

impl TaskClient {
    /// Stores `data` as a new object owned by this client and returns its
    /// ref. Small objects live inline with the owner (and the leader);
    /// larger ones go into the store of a host on this machine, written
    /// straight into its shared memory, or of another host, streamed.
    pub async fn put(&self, data: &[u8]) -> Result<String, ClientError> {
        let header = weft_values::bytes_header(data.len() as u64);
        self.put_encoded(&header, data, Vec::new()).await
    }

    /// Stores a value as a new object and returns its ref; the objects it
    /// refers to live at least as long as it does.
    pub async fn put_value(&self, value: &weft_values::Value) -> Result<String, ClientError> {
        let (head, body) = split_encoding(value);
        self.put_encoded(&head, body.as_deref().unwrap_or_default(), value.refs())
            .await
    }

    /// Stores the encoded value `head` + `body` (the two parts of a
    /// `list<u8>`'s encoding need no joining copy).
    async fn put_encoded(
        &self,
        head: &[u8],
        body: &[u8],
        contains: Vec<String>,
    ) -> Result<String, ClientError> {
        let id = self.new_object_id();
        let mut result = put_record(&id, head, body);
        result.contains = contains;
        if result.value.is_empty() {
            let host = self.pick_host().await?;
            let local = is_local(&host);
            let placed = put_on_host(&host.address, &id, &[head, body], local).await?;
            result.held_by = placed.holder;
            result.held_at = placed.address;
        }
        self.register_put(result);
        Ok(id)
    }

    /// A fresh id for an object this owner makes.
    pub fn new_object_id(&self) -> String {
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed) + 1;
        format!("{}-{seq}", self.owner())
    }

    /// Tells the cluster about an object this owner stored (inline in
    /// `result.value`, or in a host's store as `result.held_by` says); the
    /// owner holds its ref from now on. [`TaskClient::flush`] waits until
    /// the leader has recorded it.
    pub fn register_put(&self, result: TaskResult) {
        let mut state = self.shared.lock();
        state.puts.insert(result.id.clone());
        state.results.insert(result.id.clone(), result.clone());
        state.unacked.insert(result.id.clone());
        if let Some(session) = &state.session {
            // Else the next session sends it with the other puts.
            let _ = session.send(pb::OwnerMessage {
                put: vec![result],
                ..Default::default()
            });
        }
    }

    /// Reads object `id` (a put object or a task's result, see
    /// [`ObjectBytes`]), waiting for it to exist. When its holder runs on this
    /// machine the bytes are mapped from its store, not copied. When the
    /// holder died, the cluster rebuilds the object from its lineage if
    /// it can, and this waits for that.
    pub async fn get_object(
        &self,
        id: &str,
        timeout: Option<Duration>,
    ) -> Result<ObjectBytes, ClientError> {
        let (ready, _) = self
            .wait(std::slice::from_ref(&id.to_string()), 1, timeout)
            .await?;
        let result = ready.into_iter().next().ok_or(ClientError::Timeout {
            after: timeout.unwrap_or_default(),
            pending: 1,
        })?;
        self.object_bytes(result, timeout).await
    }

    /// Reads every one of `ids` (see [`get_object`](Self::get_object)),
    /// once all have finished; a timeout names how many had not.
    pub async fn get_objects(
        &self,
        ids: &[String],
        timeout: Option<Duration>,
    ) -> Result<Vec<ObjectBytes>, ClientError> {
        let (_, pending) = self.wait(ids, ids.len(), timeout).await?;
        if !pending.is_empty() {
            return Err(ClientError::Timeout {
                after: timeout.unwrap_or_default(),
                pending: pending.len(),
            });
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            out.push(self.get_object(id, timeout).await?);
        }
        Ok(out)
    }

    /// Each of `ids` read without waiting, when every one of them is this
    /// client's, finished, and either failed or small enough to have come
    /// inline with its record; `None` otherwise (then read them with
    /// [`get_object`](Self::get_object)). A caller on an event loop reads
    /// finished results this way without a trip through the runtime.
    pub fn finished_inline(&self, ids: &[String]) -> Option<Vec<Result<ObjectBytes, ClientError>>> {
        let state = self.shared.lock();
        ids.iter()
            .map(|id| {
                let result = state.results.get(id)?;
                if !result.ok {
                    return Some(Err(ClientError::failed(result.clone())));
                }
                result
                    .held_by
                    .is_empty()
                    .then(|| Ok(ObjectBytes::owned(result.value.clone())))
            })
            .collect()
    }

    /// The bytes of a finished result, read from its holder; if the
    /// holder is gone, the rebuilt result's once the leader has it.
    pub(crate) async fn object_bytes(
        &self,
        mut result: TaskResult,
        timeout: Option<Duration>,
    ) -> Result<ObjectBytes, ClientError> {
        let deadline = Instant::now() + timeout.unwrap_or(REBUILD_WAIT);
        loop {
            result = match locate(result)? {
                Located::Inline(bytes) => return Ok(ObjectBytes::owned(bytes)),
                Located::Held(result) => *result,
            };
            let error = match self.read_held(&result).await {
                Ok(bytes) => return Ok(bytes),
                Err(e) => e,
            };
            let gone = matches!(
                error.code(),
                Some(tonic::Code::Unavailable | tonic::Code::NotFound)
            ) || matches!(
                error,
                ClientError::Unreachable { .. } | ClientError::HolderUnavailable(_)
            );
            if !gone || Instant::now() >= deadline {
                return Err(error);
            }
            // Ask the leader again: it rebuilds the object, says it is
            // lost, or has not noticed the holder's death yet.
            tokio::time::sleep(Duration::from_millis(200)).await;
            let left = deadline.saturating_duration_since(Instant::now());
            let (ready, _) = self
                .wait_remote(std::slice::from_ref(&result.id), 1, Some(left))
                .await?;
            if let Some(fresh) = ready.into_iter().next() {
                self.shared
                    .lock()
                    .results
                    .entry(fresh.id.clone())
                    .and_modify(|r| *r = fresh.clone());
                result = fresh;
            }
        }
    }

    async fn read_held(&self, result: &TaskResult) -> Result<ObjectBytes, ClientError> {
        let local = self
            .hosts()
            .await?
            .iter()
            .any(|h| h.id == result.held_by && is_local(h));
        if local {
            return pin_object(&result.held_at, &result.id)
                .await
                .map(ObjectBytes::mapped);
        }
        pull_to_vec(&result.held_at, &result.id)
            .await
            .map(ObjectBytes::owned)
    }

    /// The live hosts, refreshed every few seconds.
    async fn hosts(&self) -> Result<Vec<NodeInfo>, ClientError> {
        let mut cached = self.shared.hosts.lock().await;
        if let Some((at, hosts)) = cached.as_ref()
            && at.elapsed() < HOSTS_FRESH
        {
            return Ok(hosts.clone());
        }
        let nodes = self.shared.rpc.lock().await.list_nodes().await?;
        let alive: Vec<NodeInfo> = nodes.into_iter().filter(|n| n.alive).collect();
        *cached = Some((Instant::now(), alive.clone()));
        Ok(alive)
    }

    /// Where a put goes: a host on this machine if there is one.
    async fn pick_host(&self) -> Result<NodeInfo, ClientError> {
        let hosts = self.hosts().await?;
        hosts
            .iter()
            .find(|h| is_local(h))
            .or_else(|| hosts.first())
            .cloned()
            .ok_or_else(|| {
                ClientError::NoHost(
                    "no live host to store the object on (start one with `weft host`)".into(),
                )
            })
    }
}

/// Whether `host` runs on this machine with its store reachable here.
fn is_local(host: &NodeInfo) -> bool {
    host.machine == machine_id()
        && !host.store_dir.is_empty()
        && std::path::Path::new(&host.store_dir).is_dir()
}

/// A value's encoding as a head and a body: for a `list<u8>`, its header
/// and its bytes (shared, not copied); for anything else, the whole
/// encoding and nothing.
pub(crate) fn split_encoding(value: &weft_values::Value) -> (Vec<u8>, Option<bytes::Bytes>) {
    match value {
        weft_values::Value::Bytes(b) => {
            (weft_values::bytes_header(b.len() as u64), Some(b.clone()))
        }
        other => (weft_values::encode(other), None),
    }
}
