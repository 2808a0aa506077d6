//! weft's runtime: the part of a worker that runs components, and the
//! capabilities guests import, below whatever process drives it.
//!
//! One wasmtime [`Engine`](wasmtime::Engine) per host with the component
//! model, the pooling allocator, epoch-based deadlines and per-instance
//! memory limits; a component cache that compiles each digest once and keeps
//! the artifact on disk; dynamic invocation of any exported function with
//! arguments typed by its WIT signature; actors; HTTP handlers; and the
//! `weft:runtime` interfaces, one module each. What a guest may ask of the
//! cluster (nested tasks, objects, actors) reaches the driving process only
//! through the traits in [`services`]: the worker agent (`weft-host`)
//! implements them, and this crate cannot name it.
//!
//! ```no_run
//! # async fn demo(wasm: Vec<u8>) -> Result<(), weft_runtime::HostError> {
//! use weft_runtime::{CallSpec, Host, HostConfig, Invocation};
//!
//! let host = Host::new(HostConfig::new("/tmp/weft-cache"))?;
//! let (component, _) = host.prepare("sha256:...", || Ok(wasm))?;
//! let outcome = host
//!     .call(&component, Invocation::new(CallSpec::Wave("greet(\"weft\")".into())))
//!     .await?;
//! println!("{}", outcome.result.unwrap_or_default());
//! # Ok(()) }
//! ```

mod actor;
mod bytes_arg;
mod cache;
mod concurrent;
mod engine;
mod error;
mod exports;
pub mod gpu;
mod grants;
mod http;
mod invoke;
mod runtime;
pub mod services;
mod state;
pub mod values;
mod warm;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use wasmtime::Engine;
use wasmtime::component::Linker;

pub use actor::{ActorError, ActorInstance, ActorStart};
pub use cache::{Prepared, Readiness, create_cache_dir};
pub use concurrent::{ActorCall, CallDone, Concurrency};
pub use engine::EPOCH_TICK;
pub use error::{HostError, bytes};
pub use exports::{FunctionInfo, async_methods, find_function};
pub use grants::Grants;
pub use http::{HttpBody, HttpLimits, full_body};
pub use invoke::{CallOutcome, CallSpec, Format, Invocation, Setup};
pub use services::{DirGrant, RuntimeEnv};
pub use warm::Reuse;

use crate::cache::ComponentCache;
use crate::state::CallState;

/// The default deadline of a call: long enough for real work, short enough
/// that a stuck guest is noticed.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The default linear-memory limit of an instance. Well under the 4 GiB a
/// 32-bit memory can address, so a runaway guest fails long before the host
/// feels it; a call may ask for more, up to [`HostConfig::max_memory_limit`].
pub const DEFAULT_MEMORY_LIMIT: u64 = 512 << 20;

/// Instances a host makes ahead of calls, per component slow to
/// instantiate.
pub const DEFAULT_WARM_INSTANCES: usize = 2;

/// How a host runs components.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Where compiled artifacts are kept across restarts.
    pub cache_dir: PathBuf,
    /// Deadline of a call that asks for none.
    pub default_timeout: Duration,
    /// Memory limit of a call that asks for none.
    pub default_memory_limit: u64,
    /// The most memory any call may ask for (also sizes the pool's slots).
    pub max_memory_limit: u64,
    /// How many instances may be live at once (the pooling allocator's size).
    pub max_instances: u32,
    /// How much of a guest's stdout and stderr is kept per call.
    pub output_limit: usize,
    /// Instances made ahead of calls per component that is slow to
    /// instantiate (`warm.rs`); 0 turns that off.
    pub warm_instances: usize,
    /// What "slow to instantiate" means: the fastest of a component's
    /// first few instantiations (after its very first) taking this long
    /// or longer.
    pub warm_after: Duration,
}

impl HostConfig {
    /// Defaults, with compiled artifacts under `cache_dir`.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        HostConfig {
            cache_dir: cache_dir.into(),
            default_timeout: DEFAULT_TIMEOUT,
            default_memory_limit: DEFAULT_MEMORY_LIMIT,
            max_memory_limit: 4 << 30,
            max_instances: 256,
            output_limit: 64 << 10,
            warm_instances: DEFAULT_WARM_INSTANCES,
            warm_after: Duration::from_micros(50),
        }
    }
}

impl Invocation {
    /// A call with the host's default limits, rendering the result as WAVE.
    pub fn new(call: CallSpec) -> Self {
        Invocation {
            call,
            timeout: None,
            memory_limit: None,
            format: Format::Wave,
            grants: Grants::default(),
            tasks: None,
            log: None,
            reuse: None,
            setup: None,
        }
    }
}

/// Counters a host keeps about itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostStats {
    /// Components compiled by this process.
    pub compiled: u64,
    /// Components loaded from the on-disk artifact cache.
    pub loaded_from_disk: u64,
    /// Calls that returned a result.
    pub calls: u64,
    /// Calls that ran on an instance made ahead of them.
    pub warm_starts: u64,
    /// Calls that ran on an instance an earlier call used (`max_calls`).
    pub reused: u64,
}

#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    warm_starts: AtomicU64,
    reused: AtomicU64,
}

/// A host: the engine, the linker with everything guests may import, and
/// the component cache. Cheap to share behind an `Arc`.
pub struct Host {
    engine: Engine,
    cache: ComponentCache,
    config: HostConfig,
    stats: Counters,
    /// Makes instances ahead of calls (`warm.rs`).
    maker: warm::Maker,
    _ticker: engine::EpochTicker,
}

impl Host {
    /// Builds the engine and linker and opens the artifact cache.
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        let engine = engine::build(&config)?;
        let mut linker = Linker::<CallState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(HostError::internal)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)
            .map_err(HostError::internal)?;
        runtime::add_to_linker(&mut linker, |state| &mut state.runtime)
            .map_err(HostError::internal)?;
        wasmtime_wasi_config::add_to_linker(&mut linker, |state| {
            wasmtime_wasi_config::WasiConfig::from(&state.config)
        })
        .map_err(HostError::internal)?;
        let cache = ComponentCache::new(engine.clone(), Arc::new(linker), &config.cache_dir)?;
        Ok(Host {
            _ticker: engine::EpochTicker::start(&engine),
            maker: warm::Maker::new(&engine, &config),
            engine,
            cache,
            config,
            stats: Counters::default(),
        })
    }

    /// The host's configuration.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Makes the component `digest` ready to call, compiling `wasm()` only
    /// when neither memory nor the disk cache has it. Validation (is it a
    /// component, can every import be satisfied) happens here, so a deploy
    /// that succeeds is callable. CPU-heavy on a miss: call it off the async
    /// executor's threads.
    pub fn prepare(
        &self,
        digest: &str,
        wasm: impl FnOnce() -> Result<Vec<u8>, HostError>,
    ) -> Result<(Arc<Prepared>, Readiness), HostError> {
        self.cache.prepare(digest, wasm)
    }

    /// The prepared component for `digest`, if this host has it in memory.
    pub fn prepared(&self, digest: &str) -> Option<Arc<Prepared>> {
        self.cache.get(digest)
    }

    /// Forgets a component (after it was deleted from the cluster).
    pub fn evict(&self, digest: &str) {
        self.cache.evict(digest);
    }

    /// What this host has done since it started.
    pub fn stats(&self) -> HostStats {
        HostStats {
            compiled: self.cache.stats.compiled.load(Ordering::Relaxed),
            loaded_from_disk: self.cache.stats.loaded_from_disk.load(Ordering::Relaxed),
            calls: self.stats.calls.load(Ordering::Relaxed),
            warm_starts: self.stats.warm_starts.load(Ordering::Relaxed),
            reused: self.stats.reused.load(Ordering::Relaxed),
        }
    }
}
