//! The component cache: validate an upload, compile it once per digest,
//! keep the compiled artifact on disk so a restart does not recompile, and
//! keep a pre-linked [`InstancePre`] in memory so a call only instantiates.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use wasmtime::Engine;
use wasmtime::component::{Component, InstancePre, Linker};
use wasmtime_wasi_http::p2::bindings::ProxyPre;

use crate::error::HostError;
use crate::exports::{FunctionInfo, exported_functions};
use crate::state::CallState;

/// A component ready to be instantiated: compiled, linked against the
/// host's interfaces, with its callable exports listed.
pub struct Prepared {
    /// `sha256:<hex>` of the uploaded bytes.
    pub digest: String,
    /// Every callable export.
    pub functions: Vec<FunctionInfo>,
    pub(crate) pre: InstancePre<CallState>,
    /// Set when the component exports `wasi:http/incoming-handler`.
    pub(crate) proxy: Option<ProxyPre<CallState>>,
    /// Instances made ahead of calls.
    pub(crate) warm: crate::warm::WarmPool,
}

impl Prepared {
    /// Whether HTTP requests can be routed to this component.
    pub fn serves_http(&self) -> bool {
        self.proxy.is_some()
    }
}

/// How a component came to be ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Readiness {
    /// Already in memory.
    Warm,
    /// Loaded from the on-disk compiled artifact (no compilation): `took`
    /// in all, `waited` of it for another host on the machine to finish
    /// compiling it.
    LoadedFromDisk {
        /// The whole time, the wait included.
        took: Duration,
        /// Time spent waiting on the compile lock.
        waited: Duration,
    },
    /// Compiled now (and written to disk).
    Compiled(Duration),
}

/// Counters for `weft status` and tests.
#[derive(Debug, Default)]
pub struct CacheStats {
    /// Components compiled by this process.
    pub compiled: AtomicU64,
    /// Components whose compiled artifact was loaded from disk.
    pub loaded_from_disk: AtomicU64,
}

pub(crate) struct ComponentCache {
    engine: Engine,
    linker: Arc<Linker<CallState>>,
    dir: PathBuf,
    /// Engine settings change the machine code: artifacts are keyed by
    /// both the component's digest and this hash.
    engine_key: String,
    ready: Mutex<HashMap<String, Arc<Prepared>>>,
    pub(crate) stats: CacheStats,
}

impl ComponentCache {
    pub(crate) fn new(
        engine: Engine,
        linker: Arc<Linker<CallState>>,
        dir: &Path,
    ) -> Result<Self, HostError> {
        create_cache_dir(dir)?;
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(ComponentCache {
            engine,
            linker,
            dir: dir.to_path_buf(),
            engine_key: format!("{:016x}", hasher.finish()),
            ready: Mutex::new(HashMap::new()),
            stats: CacheStats::default(),
        })
    }

    /// The prepared component for `digest` if it is in memory.
    pub(crate) fn get(&self, digest: &str) -> Option<Arc<Prepared>> {
        self.ready.lock().expect("cache lock").get(digest).cloned()
    }

    /// Makes `digest` ready: from memory, from the on-disk artifact, or by
    /// validating and compiling `wasm()` (called only when needed, so a warm
    /// cache never reads the blob).
    pub(crate) fn prepare(
        &self,
        digest: &str,
        wasm: impl FnOnce() -> Result<Vec<u8>, HostError>,
    ) -> Result<(Arc<Prepared>, Readiness), HostError> {
        if let Some(p) = self.get(digest) {
            return Ok((p, Readiness::Warm));
        }
        let started = Instant::now();
        let artifact = self.artifact_path(digest);
        let signatures = artifact.with_extension("signatures.json");
        // Hosts on one machine share the cache directory: the first to
        // miss compiles under an exclusive lock on the artifact, and the
        // others, waiting on the lock, load what it wrote.
        let mut lock = None;
        let mut waited = Duration::ZERO;
        let (component, exports, readiness) = loop {
            let loaded = self
                .load_artifact(&artifact)
                .zip(load_signatures(&signatures));
            if let Some((component, exports)) = loaded {
                self.stats.loaded_from_disk.fetch_add(1, Ordering::Relaxed);
                let readiness = Readiness::LoadedFromDisk {
                    took: started.elapsed(),
                    waited,
                };
                break (component, exports, readiness);
            }
            if lock.is_none() {
                let waiting = Instant::now();
                lock = Some(CompileLock::take(&artifact)?);
                waited = waiting.elapsed();
                continue;
            }
            let wasm = wasm()?;
            let component = compile(&self.engine, &wasm)?;
            self.link(&component)?;
            let exports = weft_values::describe(&wasm)
                .map_err(|e| HostError::InvalidComponent(e.to_string()))?;
            // The signatures first: an artifact on disk always has its
            // signatures beside it.
            write_atomically(
                &signatures,
                &serde_json::to_vec(&exports).unwrap_or_default(),
            )?;
            self.store_artifact(&component, &artifact)?;
            self.stats.compiled.fetch_add(1, Ordering::Relaxed);
            break (component, exports, Readiness::Compiled(started.elapsed()));
        };
        drop(lock);
        let pre = self.link(&component)?;
        let prepared = Arc::new(Prepared {
            digest: digest.to_string(),
            functions: exported_functions(&self.engine, &component, &exports)?,
            proxy: ProxyPre::new(pre.clone()).ok(),
            pre,
            warm: Default::default(),
        });
        tracing::info!(digest, ?readiness, "component ready");
        let mut ready = self.ready.lock().expect("cache lock");
        let entry = ready.entry(digest.to_string()).or_insert(prepared);
        Ok((entry.clone(), readiness))
    }

    /// Forgets `digest` in memory and on disk.
    pub(crate) fn evict(&self, digest: &str) {
        self.ready.lock().expect("cache lock").remove(digest);
        let artifact = self.artifact_path(digest);
        let _ = std::fs::remove_file(artifact.with_extension("signatures.json"));
        let _ = std::fs::remove_file(artifact);
    }

    fn link(&self, component: &Component) -> Result<InstancePre<CallState>, HostError> {
        self.linker
            .instantiate_pre(component)
            .map_err(|e| missing_import(&e))
    }

    fn artifact_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.join(format!("{hex}-{}.cwasm", self.engine_key))
    }

    #[allow(unsafe_code, reason = "deserializing a compiled artifact (see SAFETY)")]
    fn load_artifact(&self, path: &Path) -> Option<Component> {
        if !path.exists() {
            return None;
        }
        // SAFETY: wasmtime requires that deserialized bytes come from a
        // trusted `serialize` by a compatible engine. The file lives in a
        // cache dir private to this user (made 0700), shared only by this
        // user's weft hosts on this machine, was written by
        // `store_artifact` (write to a temp file, then rename, so it is
        // never partial), and its name
        // carries the engine's compatibility hash; wasmtime also checks the
        // header and rejects an incompatible artifact with an error.
        match unsafe { Component::deserialize_file(&self.engine, path) } {
            Ok(component) => Some(component),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable compiled artifact");
                let _ = std::fs::remove_file(path);
                None
            }
        }
    }

    fn store_artifact(&self, component: &Component, path: &Path) -> Result<(), HostError> {
        let bytes = component.serialize().map_err(HostError::internal)?;
        write_atomically(path, &bytes)
    }
}

/// Creates a compiled-artifact cache directory, readable and writable by
/// this user only (loading an artifact runs its code unchecked).
pub fn create_cache_dir(dir: &Path) -> Result<(), HostError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| HostError::Internal(format!("cannot create cache dir {}: {e}", dir.display())))
}

/// An exclusive lock on compiling one artifact, across every process that
/// shares the cache directory (released when dropped, or when the process
/// dies: the kernel drops `flock` locks with the file).
struct CompileLock {
    /// Held open for the lock's sake: closing it unlocks.
    _file: std::fs::File,
}

impl CompileLock {
    fn take(artifact: &Path) -> Result<Self, HostError> {
        let path = artifact.with_extension("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| HostError::Internal(format!("cannot open {}: {e}", path.display())))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| HostError::Internal(format!("cannot lock {}: {e}", path.display())))?;
        Ok(CompileLock { _file: file })
    }
}

/// Writes `bytes` to `path` through a uniquely named temp file and a
/// rename, so a reader never sees a partial file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), HostError> {
    // Unique per process and write: two hosts sharing a cache dir, or
    // two compiles racing here, never write the same temp file.
    static WRITES: AtomicU64 = AtomicU64::new(0);
    let n = WRITES.fetch_add(1, Ordering::Relaxed);
    let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| HostError::Internal(format!("cannot write {}: {e}", path.display())))
}

/// The signatures stored beside an artifact, if they are there and sound.
fn load_signatures(path: &Path) -> Option<Vec<weft_values::Export>> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Validates and compiles `wasm` as a component, telling apart the ways an
/// upload can fail to be one.
pub(crate) fn compile(engine: &Engine, wasm: &[u8]) -> Result<Component, HostError> {
    match wasm {
        [0x00, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00, ..] => Err(HostError::NotAComponent(
            weft_values::InspectError::CoreModule,
        )),
        [0x00, b'a', b's', b'm', ..] => Component::new(engine, wasm)
            .map_err(|e| HostError::InvalidComponent(format!("{:#}", e).replace('\n', " "))),
        _ => Err(HostError::NotAComponent(weft_values::InspectError::NotWasm)),
    }
}

/// wasmtime names the import it could not satisfy in backticks; lift it out
/// so the error leads with it.
fn missing_import(err: &wasmtime::Error) -> HostError {
    let detail = format!("{err:#}").replace('\n', " ");
    let import = detail
        .split('`')
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| "?".to_string());
    HostError::MissingImport { import, detail }
}
