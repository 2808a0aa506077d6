//! What a guest running as a task may do with other tasks and objects:
//! submit, wait, get and cancel tasks, put and read objects, as the owner
//! its host is. While the guest waits, its task's cpus are lent back to
//! the scheduler, so a tree of tasks that each wait on their children
//! cannot deadlock the slots.
//!
//! The refs a guest makes (tasks it submits, objects it puts) belong to
//! its task: when the task ends, those its result contains are held by
//! the result, and the others are released, so a guest's temporaries are
//! freed with it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use weft_core::objects::Located;
use weft_core::{ClientError, Submission, TaskResult};
use weft_proto::HasRuntimeEnv;
use weft_proto::v1 as pb;

use super::Agent;
use crate::services::{
    self, GuestObject, KvOp, KvReply, ObjectParts, PartError, RuntimeEnv, ServiceFuture,
    TaskServices,
};
use crate::store::StoreError;

/// Why a guest's `objects.put` failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PutError {
    /// The host's owner session with the cluster failed.
    #[error(transparent)]
    Cluster(#[from] ClientError),
    /// This host's store could not take the object.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The write into the store did not finish (its thread panicked).
    #[error("storing the object was interrupted: {0}")]
    Interrupted(String),
    /// An object written in parts could not be sealed.
    #[error(transparent)]
    Part(#[from] PartError),
}

impl From<PutError> for services::PutError {
    fn from(e: PutError) -> Self {
        match e {
            PutError::Store(StoreError::Full(_)) => services::PutError::Full(e.to_string()),
            e => services::PutError::Failed(e.to_string()),
        }
    }
}

/// The task API of one running task.
pub struct TaskContext {
    agent: Arc<Agent>,
    task: String,
    cpus: f64,
    /// Refs the guest made.
    made: Mutex<Vec<String>>,
    /// The job it runs for (empty: none), stamped on every task and actor
    /// it makes so that stopping the job reaches them.
    job: String,
    /// The runtime environment it asked for, inherited by what it makes,
    /// and what its guest sees of it here.
    asked: pb::RuntimeEnv,
    granted: RuntimeEnv,
    /// The placement group what it makes goes into (its options'
    /// `capture_child_tasks`), unless that names one; empty: none.
    capture_group: String,
    /// The GPUs it holds while it runs.
    gpu: Option<Arc<crate::gpu::Lease>>,
    /// Its stream: a streaming task's, for its life; an actor's, for the
    /// streaming call it runs now.
    stream: Mutex<Option<Arc<super::stream::Emitter>>>,
    /// The Serve replica a request runs on (`app/deployment`, replica id):
    /// what the metrics its guest records belong to.
    replica: Option<(String, String)>,
}

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("task", &self.task)
            .finish()
    }
}

/// An object a guest writes in parts: room reserved in this host's store
/// for its encoding (a `list<u8>` header, then the bytes).
pub struct ObjectWriter {
    id: String,
    writer: crate::store::Writer,
    /// Where the bytes start, after the header.
    at: u64,
    size: u64,
    /// The ranges written, as (offset, length): room is reused, so what
    /// the guest never wrote is zeroed before the object is sealed (no
    /// guest reads another object's old bytes).
    written: Mutex<Vec<(u64, u64)>>,
}

impl ObjectWriter {
    /// Writes `data` at `offset` of the object's bytes.
    pub(crate) fn write(&self, offset: u64, data: &[u8]) -> Result<(), PartError> {
        let end = offset.checked_add(data.len() as u64);
        if end.is_none_or(|end| end > self.size) {
            return Err(PartError::OutOfRange {
                len: data.len(),
                offset,
                size: self.size,
            });
        }
        self.writer
            .write_at(self.at + offset, data)
            .map_err(|e| PartError::Store(e.to_string()))?;
        self.written
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((offset, data.len() as u64));
        Ok(())
    }

    /// Has `fill` write `len` bytes at `offset` of the object's bytes
    /// straight into the store's mapping (a device's memory copied there
    /// with no buffer between). The outer error is the store's; the inner
    /// one is `fill`'s.
    pub(crate) fn fill<E>(
        &self,
        offset: u64,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<Result<(), E>, StoreError> {
        // The store's writer checks the range (the object's bytes end
        // where its writer does).
        let filled = self
            .writer
            .fill_at(self.at + offset, len, |slice| Ok(fill(slice)))?;
        if filled.is_ok() {
            self.written
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((offset, len as u64));
        }
        Ok(filled)
    }

    /// Writes zeros wherever the guest wrote nothing.
    fn zero_unwritten(&self) -> Result<(), StoreError> {
        let mut written =
            std::mem::take(&mut *self.written.lock().unwrap_or_else(|p| p.into_inner()));
        written.sort_unstable();
        let zeros = vec![0u8; (1 << 20).min(self.size as usize)];
        let mut covered = 0u64;
        for (offset, len) in written.into_iter().chain([(self.size, 0)]) {
            while covered < offset {
                let n = (offset - covered).min(zeros.len() as u64);
                self.writer
                    .write_at(self.at + covered, &zeros[..n as usize])?;
                covered += n;
            }
            covered = covered.max(offset + len);
        }
        Ok(())
    }
}

/// A slice of a stored object lent to be copied into a guest: dropped,
/// the copy is made, and the pages need not stay mapped here.
struct ReleaseWhenCopied(bytes::Bytes);

impl AsRef<[u8]> for ReleaseWhenCopied {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for ReleaseWhenCopied {
    fn drop(&mut self) {
        weft_core::shm::release_copied(&self.0);
    }
}

/// An object as a guest reads it: its encoded value, inline or in this
/// host's store.
pub(crate) enum GuestBytes {
    Inline(Vec<u8>),
    Stored(crate::store::Object),
}

impl GuestObject for GuestBytes {
    fn encoded(&self) -> &[u8] {
        match self {
            GuestBytes::Inline(v) => v,
            GuestBytes::Stored(o) => &o.bytes,
        }
    }

    /// A stored object's bytes come straight from the arena: once the
    /// buffer is dropped (the guest has its copy), this process gives back
    /// its page-table entries for them.
    fn lend(&self, range: std::ops::Range<usize>) -> bytes::Bytes {
        match self {
            GuestBytes::Inline(v) => bytes::Bytes::copy_from_slice(&v[range]),
            GuestBytes::Stored(o) => {
                bytes::Bytes::from_owner(ReleaseWhenCopied(o.shared().slice(range)))
            }
        }
    }

    fn value(&self) -> Result<weft_values::Value, weft_values::DecodeError> {
        match self {
            GuestBytes::Inline(v) => weft_values::decode(v),
            GuestBytes::Stored(o) => weft_values::decode_shared(&o.shared()),
        }
    }
}

impl ObjectParts for ObjectWriter {
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), PartError> {
        ObjectWriter::write(self, offset, data)
    }

    fn fill(
        &self,
        offset: u64,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> Result<(), crate::gpu::GpuError>,
    ) -> Result<Result<(), crate::gpu::GpuError>, PartError> {
        ObjectWriter::fill(self, offset, len, fill).map_err(|e| PartError::Store(e.to_string()))
    }

    fn seal(self: Box<Self>) -> Result<(String, u64), PartError> {
        let store = |e: StoreError| PartError::Store(e.to_string());
        self.zero_unwritten().map_err(store)?;
        let ObjectWriter { id, writer, .. } = *self;
        let total = writer.size();
        writer.seal().map_err(store)?;
        Ok((id, total))
    }
}

impl TaskContext {
    pub(crate) fn new(agent: Arc<Agent>, task: String, cpus: f64) -> Self {
        TaskContext {
            agent,
            task,
            cpus,
            made: Mutex::default(),
            job: String::new(),
            asked: Default::default(),
            granted: Default::default(),
            capture_group: String::new(),
            gpu: None,
            stream: Mutex::new(None),
            replica: None,
        }
    }

    /// The same context, for a request on Serve replica `replica` of
    /// `deployment` (`app/deployment`).
    pub(crate) fn on_replica(mut self, deployment: String, replica: String) -> Self {
        self.replica = Some((deployment, replica));
        self
    }

    /// The same context, emitting items through `stream`.
    pub(crate) fn streaming(self, stream: Option<super::stream::Emitter>) -> Self {
        self.set_stream(stream);
        self
    }

    /// Emits items through `stream` from now on (an actor's streaming
    /// call), or through none.
    pub(crate) fn set_stream(&self, stream: Option<super::stream::Emitter>) {
        *self.stream.lock().unwrap_or_else(|p| p.into_inner()) = stream.map(Arc::new);
    }

    /// How many items its guest emitted (0 for a task that does not stream).
    pub(crate) fn emitted(&self) -> u64 {
        self.current_stream().map_or(0, |stream| stream.emitted())
    }

    fn current_stream(&self) -> Option<Arc<super::stream::Emitter>> {
        self.stream
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Emits the next item of the task's (or actor call's) stream.
    pub(crate) async fn emit(&self, encoded: Vec<u8>) -> Result<(), services::EmitError> {
        match self.current_stream() {
            Some(stream) => stream.emit(&self.agent, encoded).await,
            None => Err(services::EmitError::NotStreaming(format!(
                "{} is not streaming: submit the task with num_returns=\"streaming\" \
                 (`weft submit --stream`), or call the actor's method as a stream, to emit items",
                self.task
            ))),
        }
    }

    /// The same context, holding `lease`'s devices.
    pub(crate) fn with_gpu(mut self, lease: Option<Arc<crate::gpu::Lease>>) -> Self {
        self.gpu = lease;
        self
    }

    /// The devices it holds, if any.
    pub(crate) fn gpu(&self) -> Option<Arc<crate::gpu::Lease>> {
        self.gpu.clone()
    }

    /// The same context, for work of `job` that asked for runtime
    /// environment `asked`, of which its guest sees `granted`.
    pub(crate) fn in_job(
        mut self,
        job: String,
        asked: pb::RuntimeEnv,
        granted: RuntimeEnv,
    ) -> Self {
        self.job = job;
        self.asked = asked;
        self.granted = granted;
        self
    }

    /// The same context, putting what its guest makes into placement
    /// group `group` (empty: none).
    pub(crate) fn capturing(mut self, group: String) -> Self {
        self.capture_group = group;
        self
    }

    /// Puts this task's job and captured placement group on the options of
    /// a task it makes, and each part of its runtime environment the task
    /// does not set.
    pub(crate) fn stamp_task(&self, options: &mut weft_core::TaskOptions) {
        self.stamp(&mut options.job, &mut options.placement_group);
        options.env_parts().fill_from(&self.asked);
    }

    /// [`Self::stamp_task`] for an actor it makes.
    pub(crate) fn stamp_actor(&self, options: &mut weft_core::ActorOptions) {
        self.stamp(&mut options.job, &mut options.placement_group);
        options.env_parts().fill_from(&self.asked);
    }

    fn stamp(&self, job: &mut String, group: &mut String) {
        if job.is_empty() {
            job.clone_from(&self.job);
        }
        if group.is_empty() {
            group.clone_from(&self.capture_group);
        }
    }

    fn made(&self) -> std::sync::MutexGuard<'_, Vec<String>> {
        self.made.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The host's task client, which the guest's calls go through.
    pub(crate) async fn client(&self) -> Result<&weft_core::TaskClient, ClientError> {
        self.agent.nested().await
    }

    /// Calls an actor's method; the ref belongs to this task.
    pub(crate) async fn call_actor(
        &self,
        actor: &str,
        method: &str,
        args: Vec<weft_core::Arg>,
    ) -> Result<String, ClientError> {
        let client = self.agent.nested().await?;
        let handle = weft_core::ActorHandle {
            id: actor.to_string(),
        };
        let id = client.call(&handle, method, args)?;
        self.made().push(id.clone());
        Ok(id)
    }

    pub(crate) async fn submit(&self, mut submission: Submission) -> Result<String, ClientError> {
        let client = self.agent.nested().await?;
        let options = &mut submission.options;
        self.stamp_task(options);
        let mut ids = client.submit_batch(vec![submission]).await?;
        let id = ids.remove(0);
        self.made().push(id.clone());
        Ok(id)
    }

    /// Waits for `num_ready` of `ids`, with the task's cpus lent out.
    pub(crate) async fn wait(
        &self,
        ids: &[String],
        num_ready: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<TaskResult>, ClientError> {
        let client = self.agent.nested().await?;
        // A guest waiting for item n of a stream has read the items before
        // it: its producer hears so (for its backpressure).
        for id in ids {
            if let Some((task, n)) = weft_proto::stream_item_of(id).filter(|(_, n)| *n > 0) {
                client.consumed(task, n);
            }
        }
        // Results already here cost no round of blocked and unblocked.
        if let Some(ready) = client.ready_now(ids, num_ready) {
            return Ok(ready);
        }
        self.agent
            .send(pb::host_event::Kind::Blocked(self.task.clone()));
        let lent = self.agent.lend(self.cpus);
        let outcome = client.wait(ids, num_ready, timeout).await;
        drop(lent);
        self.agent
            .send(pb::host_event::Kind::Unblocked(self.task.clone()));
        Ok(outcome?.0)
    }

    /// Stores `data` (the bytes a guest passed, already out of its memory)
    /// as a new object: inline when small, else copied once into this
    /// host's store (the primary copy).
    pub(crate) async fn put(&self, data: Vec<u8>) -> Result<String, PutError> {
        let client = self.agent.nested().await?;
        let id = client.new_object_id();
        let header = weft_values::bytes_header(data.len() as u64);
        let mut result = weft_core::objects::put_record(&id, &header, &data);
        if result.value.is_empty() {
            let store = self.agent.store.clone();
            let object = id.clone();
            tokio::task::spawn_blocking(move || store.put(&object, &[&header, &data], true))
                .await
                .map_err(|e| PutError::Interrupted(e.to_string()))??;
            result.held_by = self.agent.config.id.clone();
            result.held_at = self.agent.config.address.clone();
        }
        client.register_put(result);
        self.made().push(id.clone());
        Ok(id)
    }

    /// Reserves room in this host's store for an object of `size` bytes
    /// that the guest writes in parts ([`ObjectWriter`]).
    pub(crate) async fn create(&self, size: u64) -> Result<ObjectWriter, PutError> {
        let client = self.agent.nested().await?;
        let id = client.new_object_id();
        let header = weft_values::bytes_header(size);
        let total = header.len() as u64 + size;
        let store = self.agent.store.clone();
        let object = id.clone();
        let writer = tokio::task::spawn_blocking(move || store.create(&object, total, true))
            .await
            .map_err(|e| PutError::Interrupted(e.to_string()))??;
        writer.write_at(0, &header)?;
        Ok(ObjectWriter {
            id,
            writer,
            at: header.len() as u64,
            size,
            written: Mutex::default(),
        })
    }

    /// Seals an object the guest wrote in parts and records it as the
    /// task's own, like a put.
    pub(crate) async fn finish(&self, object: Box<dyn ObjectParts>) -> Result<String, PutError> {
        let client = self.agent.nested().await?;
        let (id, total) = object.seal()?;
        client.register_put(TaskResult {
            id: id.clone(),
            ok: true,
            has_value: true,
            size: total,
            held_by: self.agent.config.id.clone(),
            held_at: self.agent.config.address.clone(),
            ..Default::default()
        });
        self.made().push(id.clone());
        Ok(id)
    }

    /// Object `id`'s bytes, waiting for it to exist; a stored one is read
    /// from this host's store (pulled here first if another host has it).
    pub(crate) async fn object(&self, id: &str) -> Result<GuestBytes, ClientError> {
        let result = self
            .wait(std::slice::from_ref(&id.to_string()), 1, None)
            .await?
            .into_iter()
            .next()
            .ok_or(ClientError::Timeout {
                after: Duration::ZERO,
                pending: 1,
            })?;
        let result = match weft_core::objects::locate(result)? {
            Located::Inline(bytes) => return Ok(GuestBytes::Inline(bytes)),
            Located::Held(result) => *result,
        };
        let address = if result.held_by == self.agent.config.id {
            ""
        } else {
            &result.held_at
        };
        self.agent
            .local_object(id, address)
            .await
            .map(GuestBytes::Stored)
            .map_err(|e| ClientError::TaskFailed {
                id: id.to_string(),
                kind: weft_proto::FailureKind::Lost,
                message: e.to_string(),
            })
    }

    pub(crate) async fn cancel(&self, id: &str) -> Result<(), ClientError> {
        self.agent.nested().await?.cancel(id).await.map(|_| ())
    }

    /// Lets go of every ref the guest made (an actor's, when it ends: its
    /// guest may have kept any of them in its state until then).
    pub(crate) fn release_made(&self) {
        let mut made = std::mem::take(&mut *self.made());
        if let Some(client) = self.agent.nested.get().filter(|_| !made.is_empty()) {
            made.extend(client.take_stream_items(&made));
            client.release(&made);
        }
    }

    /// At the task's end: the refs the guest made that its result
    /// contains (`refs`, found by type when the result was encoded), for
    /// the result to hold, and every ref it made, for the host's owner
    /// session to let go of (after the result holds its own). The leader
    /// has recorded every one of them before this returns.
    pub(crate) async fn settle(&self, refs: &[String]) -> (Vec<String>, Vec<String>) {
        let mut made = std::mem::take(&mut *self.made());
        if made.is_empty() {
            return (Vec::new(), Vec::new());
        }
        if let Ok(client) = self.agent.nested().await {
            let _ = client.flush(Duration::from_secs(30)).await;
            // The items of streams the guest read go with the streams.
            made.extend(client.take_stream_items(&made));
        }
        let contains = made
            .iter()
            .filter(|id| refs.contains(*id))
            .cloned()
            .collect();
        (contains, made)
    }
}

/// The agent's services to the guests it runs.
impl TaskServices for TaskContext {
    fn runtime_env(&self) -> &RuntimeEnv {
        &self.granted
    }

    fn serve_call(
        &self,
        deployment: String,
        request: http::Request<crate::HttpBody>,
    ) -> ServiceFuture<'_, Result<http::Response<crate::HttpBody>, String>> {
        let gateway = self.agent.gateway.get().and_then(std::sync::Weak::upgrade);
        Box::pin(async move {
            let Some(gateway) = gateway else {
                return Err(format!(
                    "Serve deployment {deployment} is reached from a host's gateway only (this \
                     host has none)"
                ));
            };
            gateway.compose(deployment, request).await
        })
    }

    fn job(&self) -> &str {
        &self.job
    }

    fn keyvalue(&self, op: KvOp) -> ServiceFuture<'_, Result<KvReply, ClientError>> {
        Box::pin(async move {
            let client = self.client().await?;
            Ok(match op {
                KvOp::Get { namespace, key } => {
                    KvReply::Value(client.kv_get(&namespace, &key).await?)
                }
                KvOp::Set {
                    namespace,
                    key,
                    value,
                } => {
                    client.kv_put(&namespace, &key, value).await?;
                    KvReply::Done
                }
                KvOp::Delete { namespace, key } => {
                    client.kv_delete(&namespace, &key).await?;
                    KvReply::Done
                }
                KvOp::List { namespace } => KvReply::Keys(client.kv_keys(&namespace).await?),
                KvOp::Increment {
                    namespace,
                    key,
                    delta,
                } => KvReply::Count(client.kv_increment(&namespace, &key, delta).await?),
            })
        })
    }

    fn gpu(&self) -> Option<Arc<crate::gpu::Lease>> {
        TaskContext::gpu(self)
    }

    fn release_made(&self) {
        TaskContext::release_made(self)
    }

    fn submit(&self, submission: Submission) -> ServiceFuture<'_, Result<String, ClientError>> {
        Box::pin(TaskContext::submit(self, submission))
    }

    fn wait<'a>(
        &'a self,
        ids: &'a [String],
        num_ready: usize,
        timeout: Option<Duration>,
    ) -> ServiceFuture<'a, Result<Vec<TaskResult>, ClientError>> {
        Box::pin(TaskContext::wait(self, ids, num_ready, timeout))
    }

    fn cancel<'a>(&'a self, id: &'a str) -> ServiceFuture<'a, Result<(), ClientError>> {
        Box::pin(TaskContext::cancel(self, id))
    }

    fn emit(&self, encoded: Vec<u8>) -> ServiceFuture<'_, Result<(), services::EmitError>> {
        Box::pin(TaskContext::emit(self, encoded))
    }

    fn record_metric(&self, name: &str, value: f64) -> Result<(), String> {
        let Some((deployment, replica)) = &self.replica else {
            return Err(format!(
                "metric `{name}`: only a request on a Serve replica records metrics ({} is not one)",
                self.task
            ));
        };
        self.agent
            .serve_load
            .record_metric(deployment, replica, name, value);
        Ok(())
    }

    fn object<'a>(
        &'a self,
        id: &'a str,
    ) -> ServiceFuture<'a, Result<Box<dyn GuestObject>, ClientError>> {
        Box::pin(async move {
            let object = TaskContext::object(self, id).await?;
            Ok(Box::new(object) as Box<dyn GuestObject>)
        })
    }

    fn put(&self, data: Vec<u8>) -> ServiceFuture<'_, Result<String, services::PutError>> {
        Box::pin(async move { Ok(TaskContext::put(self, data).await?) })
    }

    fn create(
        &self,
        size: u64,
    ) -> ServiceFuture<'_, Result<Box<dyn ObjectParts>, services::PutError>> {
        Box::pin(async move {
            let writer = TaskContext::create(self, size).await?;
            Ok(Box::new(writer) as Box<dyn ObjectParts>)
        })
    }

    fn finish(
        &self,
        object: Box<dyn ObjectParts>,
    ) -> ServiceFuture<'_, Result<String, services::PutError>> {
        Box::pin(async move { Ok(TaskContext::finish(self, object).await?) })
    }

    fn call_actor<'a>(
        &'a self,
        actor: &'a str,
        method: &'a str,
        args: Vec<weft_core::Arg>,
    ) -> ServiceFuture<'a, Result<String, ClientError>> {
        Box::pin(TaskContext::call_actor(self, actor, method, args))
    }

    fn create_actor<'a>(
        &'a self,
        component: &'a str,
        class: &'a str,
        constructor: weft_core::Constructor,
        mut options: weft_core::ActorOptions,
    ) -> ServiceFuture<'a, Result<weft_core::ActorHandle, ClientError>> {
        Box::pin(async move {
            self.stamp_actor(&mut options);
            let client = self.client().await?;
            client
                .create_actor_with(component, class, constructor, options)
                .await
        })
    }

    fn get_actor<'a>(
        &'a self,
        name: &'a str,
        namespace: &'a str,
    ) -> ServiceFuture<'a, Result<weft_core::ActorHandle, ClientError>> {
        Box::pin(async move { self.client().await?.get_actor(name, namespace).await })
    }

    fn kill_actor<'a>(&'a self, actor: &'a str) -> ServiceFuture<'a, Result<(), ClientError>> {
        Box::pin(async move {
            let handle = weft_core::ActorHandle {
                id: actor.to_string(),
            };
            self.client().await?.kill_actor(&handle).await.map(drop)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::GuestBytes;
    use crate::services::GuestObject;
    use crate::store::{ObjectStore, StoreConfig};

    #[test]
    fn a_range_of_a_stored_object_is_lent_from_the_arena_not_copied() {
        let dir = tempfile::tempdir().unwrap();
        let store = ObjectStore::open(StoreConfig {
            dir: dir.path().join("store"),
            spill_dir: dir.path().join("spill"),
            capacity: 4 << 20,
            network_pulls: false,
        })
        .unwrap();
        let data: Vec<u8> = (0..1 << 20).map(|i| (i % 251) as u8).collect();
        let header = weft_values::bytes_header(data.len() as u64);
        store.put("o", &[&header, &data], true).unwrap();
        let object: &dyn GuestObject = &GuestBytes::Stored(store.get("o").unwrap());
        let range = object.range(1000, 5000);
        assert_eq!(&range[..], &data[1000..6000]);
        // The bytes lie in the store's mapping, just past the header.
        let at = object.encoded().as_ptr() as usize + header.len() + 1000;
        assert_eq!(range.as_ptr() as usize, at);
        // Past the end is cut, as get-range promises.
        assert_eq!(object.range(data.len() as u64 - 10, 100).len(), 10);
        assert!(object.range(u64::MAX, 1).is_empty());
        let inline: &dyn GuestObject =
            &GuestBytes::Inline([&weft_values::bytes_header(3)[..], b"abc"].concat());
        assert_eq!(&inline.range(1, u64::MAX)[..], b"bc");
    }
}
