//! What the engine and its `weft:runtime` capabilities reach through: the
//! services of whatever process runs the guest. The worker agent provides
//! them (the agent's `TaskContext` and `LogWriter`); tests provide fakes.
//!
//! The runtime (engine, invocation, actors, the host interfaces) names only
//! these traits, never the agent: the agent sits above the runtime and
//! plugs into it, as Spin's triggers and factors sit above its engine.
//!
//! The traits are object-safe (`Arc<dyn TaskServices>`), so a call's store
//! holds one pointer and the runtime is not generic over its host; a nested
//! submission's boxed future costs nothing next to the round trip it makes.

use std::collections::HashMap;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use weft_core::{ActorHandle, ActorOptions, Arg, ClientError, Constructor, Submission, TaskResult};

use crate::gpu::{GpuError, Lease};

/// A boxed future a service answers with.
pub type ServiceFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where a guest's output and `log` lines go. Cloned per call; `finish`
/// is called once the call or actor has ended, by any path.
pub trait LogSink: Send + Sync + std::fmt::Debug {
    /// Takes what the guest wrote (whole lines or parts of them).
    fn write(&self, data: &[u8]);
    /// Writes out what is buffered, an unended last line included.
    fn finish(&self);
}

/// A guest's log, shared by the clones of its output.
pub type GuestLog = Arc<dyn LogSink>;

/// Why storing a guest's object failed.
#[derive(Debug, thiserror::Error)]
pub enum PutError {
    /// The host's store has no room for it.
    #[error("{0}")]
    Full(String),
    /// Anything else: the cluster session, an interrupted write.
    #[error("{0}")]
    Failed(String),
}

/// Why a guest's `tasks.emit` failed.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The guest does not run as a streaming task.
    #[error("{0}")]
    NotStreaming(String),
    /// The host's store has no room for the item.
    #[error("{0}")]
    Full(String),
    /// Anything else: the task was canceled, a write was interrupted.
    #[error("{0}")]
    Failed(String),
}

/// Why writing part of an object failed.
#[derive(Debug, thiserror::Error)]
pub enum PartError {
    /// The part does not fit the object's size.
    #[error("{len} bytes at {offset} run past the object's {size} bytes")]
    OutOfRange {
        /// The part's length.
        len: usize,
        /// Where it was to go.
        offset: u64,
        /// The object's size.
        size: u64,
    },
    /// The store could not take the bytes.
    #[error("{0}")]
    Store(String),
}

/// An object a guest writes in parts (`objects.writer`), before it is
/// sealed with [`TaskServices::finish`].
pub trait ObjectParts: Send + Sync {
    /// Writes `data` at `offset` of the object's bytes.
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), PartError>;

    /// Has `fill` write `len` bytes at `offset` straight into the object's
    /// memory (a device's memory copied there with no buffer between).
    /// The outer error is the object's; the inner one is `fill`'s.
    fn fill(
        &self,
        offset: u64,
        len: usize,
        fill: &mut dyn FnMut(&mut [u8]) -> Result<(), GpuError>,
    ) -> Result<Result<(), GpuError>, PartError>;

    /// Zeroes what was never written (room is reused: no guest reads
    /// another object's old bytes) and seals the object; its id and size.
    fn seal(self: Box<Self>) -> Result<(String, u64), PartError>;
}

/// An object as a guest reads it: its encoded value, inline or lent from
/// a store in shared memory.
pub trait GuestObject: Send + Sync {
    /// The whole encoded value.
    fn encoded(&self) -> &[u8];

    /// Bytes `range` of [`GuestObject::encoded`], lent without a copy
    /// where the object lives in shared memory.
    fn lend(&self, range: Range<usize>) -> bytes::Bytes;

    /// The object decoded as a value.
    fn value(&self) -> Result<weft_values::Value, weft_values::DecodeError> {
        weft_values::decode(self.encoded())
    }
}

impl dyn GuestObject {
    /// The range of [`GuestObject::encoded`] that `objects.get` reads:
    /// the raw bytes of a `list<u8>` (a put object), else the whole
    /// encoding (docs/VALUES.md).
    fn payload(&self) -> Range<usize> {
        let encoded = self.encoded();
        match weft_values::bytes_payload(encoded) {
            Some(range) if range.end == encoded.len() => range,
            _ => 0..encoded.len(),
        }
    }

    /// What `objects.get` reads, as a slice.
    pub fn as_slice(&self) -> &[u8] {
        &self.encoded()[self.payload()]
    }

    /// Bytes `offset..offset + length` of what `objects.get` reads, cut at
    /// its end, lent without a copy where they can be.
    pub fn range(&self, offset: u64, length: u64) -> bytes::Bytes {
        let payload = self.payload();
        let start = payload.start + offset.min(payload.len() as u64) as usize;
        let end = start
            .saturating_add(length.min(usize::MAX as u64) as usize)
            .min(payload.end);
        self.lend(start..end)
    }
}

/// An object held in memory (inline with its task's result).
impl GuestObject for Vec<u8> {
    fn encoded(&self) -> &[u8] {
        self
    }

    fn lend(&self, range: Range<usize>) -> bytes::Bytes {
        bytes::Bytes::copy_from_slice(&self[range])
    }
}

/// What a guest is given beyond the sandbox (its runtime environment, as
/// its host resolved it): environment variables, configuration it reads by
/// key through `wasi:config/store` (the secrets it names among it), and
/// directories preopened at `/NAME`.
#[derive(Debug, Clone, Default)]
pub struct RuntimeEnv {
    /// Environment variables.
    pub vars: HashMap<String, String>,
    /// Configuration and secrets, by key.
    pub config: HashMap<String, String>,
    /// Directories of the host, by the name the guest sees them under.
    pub dirs: Vec<DirGrant>,
}

impl RuntimeEnv {
    /// Nothing granted: an instance made ahead will do.
    pub fn is_empty(&self) -> bool {
        self.vars.is_empty() && self.config.is_empty() && self.dirs.is_empty()
    }
}

/// A directory a host offers guests (`weft host --dir NAME=PATH[:ro]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirGrant {
    /// The name guests ask for, and see it at (`/NAME`).
    pub name: String,
    /// Where it is on the host.
    pub path: std::path::PathBuf,
    /// Guests may read it but not write to it.
    pub read_only: bool,
}

/// One `wasi:keyvalue` operation on the cluster's key-value table.
#[derive(Debug, Clone)]
pub enum KvOp {
    /// The value of a key.
    Get {
        /// The table namespace of the bucket.
        namespace: String,
        /// The key.
        key: String,
    },
    /// Sets a key.
    Set {
        /// The table namespace of the bucket.
        namespace: String,
        /// The key.
        key: String,
        /// Its value.
        value: Vec<u8>,
    },
    /// Removes a key.
    Delete {
        /// The table namespace of the bucket.
        namespace: String,
        /// The key.
        key: String,
    },
    /// Every key of a bucket, in order.
    List {
        /// The table namespace of the bucket.
        namespace: String,
    },
    /// Adds to a key's count, atomically.
    Increment {
        /// The table namespace of the bucket.
        namespace: String,
        /// The key.
        key: String,
        /// What to add.
        delta: u64,
    },
}

/// What a [`KvOp`] answers.
#[derive(Debug, Clone)]
pub enum KvReply {
    /// A key's value (`Get`).
    Value(Option<Vec<u8>>),
    /// A bucket's keys (`List`).
    Keys(Vec<String>),
    /// A key's count after an `Increment`.
    Count(u64),
    /// Done (`Set`, `Delete`).
    Done,
}

/// What a guest running as a task may ask of its host: nested tasks,
/// objects, actors, and the devices and environment it was given.
pub trait TaskServices: Send + Sync + std::fmt::Debug {
    /// The runtime environment the guest sees.
    fn runtime_env(&self) -> &RuntimeEnv;

    /// The job the guest runs for (empty: none).
    fn job(&self) -> &str;

    /// Runs `op` on the cluster's key-value table (the guest's
    /// `wasi:keyvalue` buckets).
    fn keyvalue(&self, op: KvOp) -> ServiceFuture<'_, Result<KvReply, ClientError>>;

    /// The GPUs it holds, if any.
    fn gpu(&self) -> Option<Arc<Lease>>;

    /// Lets go of every ref the guest made (its call or actor is over).
    fn release_made(&self);

    /// Submits a task for the guest; the ref is the guest's.
    fn submit(&self, submission: Submission) -> ServiceFuture<'_, Result<String, ClientError>>;

    /// Waits for `num_ready` of `ids` (the guest's cpus lent out meanwhile).
    fn wait<'a>(
        &'a self,
        ids: &'a [String],
        num_ready: usize,
        timeout: Option<Duration>,
    ) -> ServiceFuture<'a, Result<Vec<TaskResult>, ClientError>>;

    /// Hands the task's owner the next item of its stream (an encoded
    /// value), once the owner has read enough of the ones before it.
    fn emit(&self, encoded: Vec<u8>) -> ServiceFuture<'_, Result<(), EmitError>>;

    /// Sends `request` to Serve deployment `deployment` (`app/deployment`)
    /// with the routing, queue and limits of a request at this host's
    /// gateway: a guest's handle on another deployment, reached as
    /// `http://DEPLOYMENT.APP.serve.weft/PATH`. None where the host has no
    /// gateway.
    fn serve_call(
        &self,
        deployment: String,
        request: http::Request<wasmtime_wasi_http::WasiBody>,
    ) -> ServiceFuture<'_, Result<http::Response<wasmtime_wasi_http::WasiBody>, String>> {
        let _ = request;
        Box::pin(async move {
            Err(format!(
                "Serve deployment {deployment} is reached from a host's gateway only (this host \
                 has none)"
            ))
        })
    }

    /// Records `value` as the latest `name` of the Serve replica the call
    /// serves (`weft:runtime/serve`); why not, where it serves none.
    fn record_metric(&self, name: &str, value: f64) -> Result<(), String> {
        let _ = value;
        Err(format!(
            "metric `{name}`: only a request on a Serve replica records metrics"
        ))
    }

    /// Cancels a task the guest submitted.
    fn cancel<'a>(&'a self, id: &'a str) -> ServiceFuture<'a, Result<(), ClientError>>;

    /// Object `id`, once it exists, read where it can be read without a
    /// copy.
    fn object<'a>(
        &'a self,
        id: &'a str,
    ) -> ServiceFuture<'a, Result<Box<dyn GuestObject>, ClientError>>;

    /// Stores `data` as a new object the guest owns.
    fn put(&self, data: Vec<u8>) -> ServiceFuture<'_, Result<String, PutError>>;

    /// Reserves room for an object of `size` bytes written in parts.
    fn create(&self, size: u64) -> ServiceFuture<'_, Result<Box<dyn ObjectParts>, PutError>>;

    /// Seals an object written in parts; the ref is the guest's.
    fn finish(&self, object: Box<dyn ObjectParts>) -> ServiceFuture<'_, Result<String, PutError>>;

    /// Calls an actor's method; the ref is the guest's.
    fn call_actor<'a>(
        &'a self,
        actor: &'a str,
        method: &'a str,
        args: Vec<Arg>,
    ) -> ServiceFuture<'a, Result<String, ClientError>>;

    /// Creates an actor (stamped with the guest's job and environment).
    fn create_actor<'a>(
        &'a self,
        component: &'a str,
        class: &'a str,
        constructor: Constructor,
        options: ActorOptions,
    ) -> ServiceFuture<'a, Result<ActorHandle, ClientError>>;

    /// Finds a live actor by name.
    fn get_actor<'a>(
        &'a self,
        name: &'a str,
        namespace: &'a str,
    ) -> ServiceFuture<'a, Result<ActorHandle, ClientError>>;

    /// Kills an actor.
    fn kill_actor<'a>(&'a self, actor: &'a str) -> ServiceFuture<'a, Result<(), ClientError>>;
}
