//! The client API (`weft.v1.Weft`): deploy, list, delete and call, served
//! over tonic. Each request is checked, turned into a [`Command`] or a host
//! call, and each failure mapped once to a `tonic::Status`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Mutex;
use tonic::{Request, Response, Status};
use weft_host::{CallSpec, Format, Host, HostError, Invocation, Readiness};
use weft_proto::v1 as pb;

use crate::blobs::{BlobStore, digest_of};
use crate::command::{Applied, Command, ComponentRecord, validate_name};
use crate::error::ControllerError;
use crate::state::StateMachine;

/// The default upload limit: JavaScript and Python components run to tens
/// of megabytes, so leave room for them.
pub const DEFAULT_MAX_UPLOAD: usize = 128 << 20;

/// Where a controller keeps its state and how much it accepts.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// The data dir: `state/` (sled), `blobs/`, and the host's `cache/`.
    pub data_dir: PathBuf,
    /// The largest component upload accepted, in bytes.
    pub max_upload: usize,
}

impl ControllerConfig {
    /// Defaults, with everything under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        ControllerConfig {
            data_dir: data_dir.into(),
            max_upload: DEFAULT_MAX_UPLOAD,
        }
    }
}

/// The controller: state machine, blob store, and the host that runs calls.
pub struct Controller {
    config: ControllerConfig,
    state: StateMachine,
    blobs: Arc<BlobStore>,
    host: Arc<Host>,
    /// Commands are applied one at a time, in the order they were accepted:
    /// the single-writer discipline the replicated log will keep.
    writer: Mutex<()>,
}

impl Controller {
    /// Opens the controller's state under `config.data_dir`, dispatching
    /// calls to `host`.
    pub fn open(config: ControllerConfig, host: Arc<Host>) -> Result<Self, ControllerError> {
        let state = StateMachine::open(&config.data_dir.join("state"))?;
        let blobs = Arc::new(BlobStore::open(&config.data_dir.join("blobs"))?);
        Ok(Controller {
            config,
            state,
            blobs,
            host,
            writer: Mutex::new(()),
        })
    }

    /// Largest message the gRPC server must accept: an upload plus framing.
    pub fn max_message_size(&self) -> usize {
        self.config.max_upload + (64 << 10)
    }

    async fn apply(&self, command: Command) -> Result<Applied, ControllerError> {
        let _turn = self.writer.lock().await;
        self.state.apply(&command)
    }

    /// Validates, compiles, stores and records an upload.
    pub async fn deploy(
        &self,
        wasm: Vec<u8>,
        name: Option<String>,
    ) -> Result<(ComponentRecord, bool, Duration), ControllerError> {
        if wasm.len() > self.config.max_upload {
            return Err(ControllerError::TooLarge {
                size: weft_host::bytes(wasm.len() as u64),
                limit: weft_host::bytes(self.config.max_upload as u64),
            });
        }
        if let Some(name) = &name {
            validate_name(name).map_err(ControllerError::InvalidRequest)?;
        }
        let digest = digest_of(&wasm);
        let wasm = Arc::new(wasm);
        let (prepared, readiness) = {
            let (host, digest, wasm) = (self.host.clone(), digest.clone(), wasm.clone());
            blocking(move || host.prepare(&digest, || Ok(wasm.to_vec()))).await?
        };
        let compile_time = match readiness {
            Readiness::Compiled(d) => d,
            Readiness::Warm | Readiness::LoadedFromDisk(_) => Duration::ZERO,
        };
        self.blobs.put(&digest, &wasm)?;
        let record = ComponentRecord {
            digest: digest.clone(),
            size_bytes: wasm.len() as u64,
            names: Vec::new(),
            functions: prepared
                .functions
                .iter()
                .map(|f| (f.name.clone(), f.signature.clone()))
                .collect(),
            deployed_at_ms: now_ms(),
        };
        let Applied::Deployed { existed } = self
            .apply(Command::DeployComponent {
                component: record,
                name,
            })
            .await?
        else {
            return Err(ControllerError::Corrupt(
                "deploy applied as something else".into(),
            ));
        };
        let stored = self
            .state
            .component(&digest)?
            .ok_or_else(|| ControllerError::Corrupt(format!("{digest} vanished after deploy")))?;
        Ok((stored, existed, compile_time))
    }

    /// Removes a name or a component; returns whether the blob went too.
    pub async fn delete(&self, reference: &str) -> Result<bool, ControllerError> {
        let Applied::Deleted { removed_digest } = self
            .apply(Command::DeleteComponent {
                reference: reference.to_string(),
            })
            .await?
        else {
            return Err(ControllerError::Corrupt(
                "delete applied as something else".into(),
            ));
        };
        if let Some(digest) = &removed_digest {
            self.blobs.remove(digest);
            self.host.evict(digest);
        }
        Ok(removed_digest.is_some())
    }

    /// Calls a function of a deployed component on the host.
    pub async fn call(
        &self,
        reference: &str,
        invocation: Invocation,
    ) -> Result<weft_host::CallOutcome, ControllerError> {
        let digest = self.state.resolve(reference)?;
        let prepared = match self.host.prepared(&digest) {
            Some(p) => p,
            None => {
                // First call since start: load the compiled artifact from
                // disk (or, if it was lost, recompile from the blob).
                let (host, blobs, d) = (self.host.clone(), self.blobs.clone(), digest.clone());
                blocking(move || {
                    host.prepare(&d, || {
                        blobs
                            .get(&d)
                            .map_err(|e| HostError::Internal(e.to_string()))
                    })
                })
                .await?
                .0
            }
        };
        Ok(self.host.call(&prepared, invocation).await?)
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, HostError> + Send + 'static,
) -> Result<T, ControllerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ControllerError::Host(HostError::Internal(e.to_string())))?
        .map_err(ControllerError::Host)
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn info(record: &ComponentRecord) -> pb::ComponentInfo {
    pb::ComponentInfo {
        digest: record.digest.clone(),
        names: record.names.clone(),
        size_bytes: record.size_bytes,
        functions: record
            .functions
            .iter()
            .map(|(name, signature)| pb::ExportedFunction {
                name: name.clone(),
                signature: signature.clone(),
            })
            .collect(),
        deployed_at_ms: record.deployed_at_ms,
    }
}

/// The gRPC face of a [`Controller`].
#[derive(Clone)]
pub struct WeftService {
    controller: Arc<Controller>,
}

impl WeftService {
    /// Serves `controller`.
    pub fn new(controller: Arc<Controller>) -> Self {
        WeftService { controller }
    }

    /// The tonic server for this service, with message limits that admit
    /// the configured upload size.
    pub fn into_server(self) -> pb::weft_server::WeftServer<Self> {
        let max = self.controller.max_message_size();
        pb::weft_server::WeftServer::new(self)
            .max_decoding_message_size(max)
            .max_encoding_message_size(max)
    }
}

#[tonic::async_trait]
impl pb::weft_server::Weft for WeftService {
    async fn deploy(
        &self,
        request: Request<pb::DeployRequest>,
    ) -> Result<Response<pb::DeployResponse>, Status> {
        let req = request.into_inner();
        let name = Some(req.name).filter(|n| !n.is_empty());
        let (record, existed, compile) = self.controller.deploy(req.wasm, name).await?;
        Ok(Response::new(pb::DeployResponse {
            component: Some(info(&record)),
            existed,
            compile_micros: compile.as_micros() as u64,
        }))
    }

    async fn list_components(
        &self,
        _: Request<pb::ListComponentsRequest>,
    ) -> Result<Response<pb::ListComponentsResponse>, Status> {
        let components = self.controller.state.components().map_err(Status::from)?;
        Ok(Response::new(pb::ListComponentsResponse {
            components: components.iter().map(info).collect(),
        }))
    }

    async fn delete_component(
        &self,
        request: Request<pb::DeleteComponentRequest>,
    ) -> Result<Response<pb::DeleteComponentResponse>, Status> {
        let removed_blob = self
            .controller
            .delete(&request.into_inner().component)
            .await?;
        Ok(Response::new(pb::DeleteComponentResponse { removed_blob }))
    }

    async fn call(
        &self,
        request: Request<pb::CallRequest>,
    ) -> Result<Response<pb::CallResponse>, Status> {
        let req = request.into_inner();
        let call = match req.invocation {
            Some(pb::call_request::Invocation::WaveCall(text)) => CallSpec::Wave(text),
            Some(pb::call_request::Invocation::JsonCall(json)) => {
                let args = serde_json::from_str(&json.args_json).map_err(|e| {
                    Status::invalid_argument(format!("arguments are not valid JSON: {e}"))
                })?;
                CallSpec::Json {
                    function: json.function,
                    args,
                }
            }
            None => return Err(Status::invalid_argument("no function to call was given")),
        };
        let format = match pb::ValueFormat::try_from(req.result_format) {
            Ok(pb::ValueFormat::Json) => Format::Json,
            _ => Format::Wave,
        };
        let invocation = Invocation {
            call,
            timeout: (req.timeout_ms > 0).then(|| Duration::from_millis(req.timeout_ms)),
            memory_limit: (req.memory_limit_bytes > 0).then_some(req.memory_limit_bytes),
            format,
        };
        let outcome = self.controller.call(&req.component, invocation).await?;
        Ok(Response::new(pb::CallResponse {
            has_result: outcome.result.is_some(),
            result: outcome.result.unwrap_or_default(),
            instantiate_micros: outcome.instantiate.as_micros() as u64,
            call_micros: outcome.call.as_micros() as u64,
            guest_output: outcome.guest_output,
        }))
    }

    async fn status(
        &self,
        _: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let stats = self.controller.host.stats();
        let components = self
            .controller
            .state
            .components()
            .map_err(Status::from)?
            .len() as u64;
        Ok(Response::new(pb::StatusResponse {
            version: env!("CARGO_PKG_VERSION").to_string(),
            data_dir: self.controller.config.data_dir.display().to_string(),
            components,
            compiled_since_start: stats.compiled,
            loaded_from_disk_cache: stats.loaded_from_disk,
            calls_served: stats.calls,
        }))
    }
}
