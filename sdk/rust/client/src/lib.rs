//! The Rust client for a weft cluster: deploy components, list them, and
//! call their functions. The `weft` CLI is built on it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), weft_client::ClientError> {
//! use weft_client::{Call, CallOptions, Client};
//!
//! let mut client = Client::connect(weft_client::DEFAULT_ADDRESS).await?;
//! let wasm = std::fs::read("example_pi.wasm").expect("a component");
//! client.deploy(wasm, Some("pi")).await?;
//! let reply = client
//!     .call("pi", Call::Wave("estimate(1000000, 42)".into()), CallOptions::default())
//!     .await?;
//! println!("pi is about {}", reply.result);
//! # Ok(()) }
//! ```

use std::time::Duration;

use tonic::transport::{Channel, Endpoint};
use weft_proto::v1 as pb;
use weft_proto::v1::weft_client::WeftClient;

pub use weft_proto::v1::{CallResponse, ComponentInfo, DeployResponse, StatusResponse};

/// Where `weft up` listens unless told otherwise.
pub const DEFAULT_ADDRESS: &str = "127.0.0.1:7077";

/// The largest message the client sends or accepts (component uploads).
const MAX_MESSAGE: usize = 256 << 20;

/// Why a client request failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The cluster could not be reached.
    #[error("cannot reach the weft cluster at {address}: {reason} (is `weft up` running?)")]
    Unreachable {
        /// The address tried.
        address: String,
        /// What went wrong.
        reason: String,
    },
    /// The cluster answered with an error; its message is the whole story.
    #[error("{}", .0.message())]
    Rpc(tonic::Status),
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> Self {
        ClientError::Rpc(status)
    }
}

impl ClientError {
    /// The gRPC status code, when the cluster answered.
    pub fn code(&self) -> Option<tonic::Code> {
        match self {
            ClientError::Rpc(status) => Some(status.code()),
            ClientError::Unreachable { .. } => None,
        }
    }
}

/// What to call.
#[derive(Debug, Clone)]
pub enum Call {
    /// `func(arg, ...)` in WAVE.
    Wave(String),
    /// A function name and its arguments as a JSON array.
    Json {
        /// The function.
        function: String,
        /// A JSON array, one element per parameter.
        args_json: String,
    },
}

/// Limits and output form of a call.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions {
    /// Deadline; `None` takes the host's default.
    pub timeout: Option<Duration>,
    /// Memory limit in bytes; `None` takes the host's default.
    pub memory_limit: Option<u64>,
    /// Render the result as JSON instead of WAVE.
    pub json_result: bool,
}

/// A connection to a weft cluster.
#[derive(Clone)]
pub struct Client {
    rpc: WeftClient<Channel>,
}

impl Client {
    /// Connects to the cluster at `address` (`host:port`).
    pub async fn connect(address: &str) -> Result<Self, ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            address: address.to_string(),
            reason,
        };
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| unreachable(format!("bad address: {e}")))?
            .connect_timeout(Duration::from_secs(3))
            .tcp_nodelay(true);
        let channel = endpoint.connect().await.map_err(|e| {
            let mut reason = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                reason = s.to_string();
                source = s.source();
            }
            unreachable(reason)
        })?;
        Ok(Client {
            rpc: WeftClient::new(channel)
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
        })
    }

    /// Uploads a component, optionally binding `name` to it.
    pub async fn deploy(
        &mut self,
        wasm: Vec<u8>,
        name: Option<&str>,
    ) -> Result<DeployResponse, ClientError> {
        let request = pb::DeployRequest {
            wasm,
            name: name.unwrap_or_default().to_string(),
        };
        Ok(self.rpc.deploy(request).await?.into_inner())
    }

    /// Every deployed component.
    pub async fn components(&mut self) -> Result<Vec<ComponentInfo>, ClientError> {
        Ok(self
            .rpc
            .list_components(pb::ListComponentsRequest {})
            .await?
            .into_inner()
            .components)
    }

    /// Removes a name or (by digest) a component; true when the component
    /// itself was removed.
    pub async fn delete(&mut self, component: &str) -> Result<bool, ClientError> {
        let request = pb::DeleteComponentRequest {
            component: component.to_string(),
        };
        Ok(self
            .rpc
            .delete_component(request)
            .await?
            .into_inner()
            .removed_blob)
    }

    /// Calls a function of `component` and waits for its result.
    pub async fn call(
        &mut self,
        component: &str,
        call: Call,
        options: CallOptions,
    ) -> Result<CallResponse, ClientError> {
        let invocation = match call {
            Call::Wave(text) => pb::call_request::Invocation::WaveCall(text),
            Call::Json {
                function,
                args_json,
            } => pb::call_request::Invocation::JsonCall(pb::JsonCall {
                function,
                args_json,
            }),
        };
        let request = pb::CallRequest {
            component: component.to_string(),
            invocation: Some(invocation),
            timeout_ms: options.timeout.map_or(0, |t| t.as_millis().max(1) as u64),
            memory_limit_bytes: options.memory_limit.unwrap_or(0),
            result_format: if options.json_result {
                pb::ValueFormat::Json as i32
            } else {
                pb::ValueFormat::Wave as i32
            },
        };
        Ok(self.rpc.call(request).await?.into_inner())
    }

    /// The cluster's status.
    pub async fn status(&mut self) -> Result<StatusResponse, ClientError> {
        Ok(self.rpc.status(pb::StatusRequest {}).await?.into_inner())
    }
}
