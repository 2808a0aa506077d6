//! weft's controller, the cluster's Global Control Service.
//!
//! It keeps durable cluster state in a command-driven [`StateMachine`] over
//! sled (today: the component registry, content-addressed blobs and names),
//! and serves the client API, dispatching calls to a host. Every change is a
//! [`Command`] applied in order and flushed before it is acknowledged, so
//! replicating the controller means replicating the command log.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use weft_controller::{Controller, ControllerConfig, WeftService};
//! use weft_host::{Host, HostConfig};
//!
//! let host = Arc::new(Host::new(HostConfig::new("/tmp/weft/cache"))?);
//! let controller = Arc::new(Controller::open(ControllerConfig::new("/tmp/weft"), host)?);
//! tonic::transport::Server::builder()
//!     .add_service(WeftService::new(controller).into_server())
//!     .serve("127.0.0.1:7070".parse()?)
//!     .await?;
//! # Ok(()) }
//! ```

mod blobs;
mod command;
mod error;
mod service;
mod state;

pub use blobs::{BlobStore, digest_of};
pub use command::{Applied, Command, ComponentRecord, validate_name};
pub use error::ControllerError;
pub use service::{Controller, ControllerConfig, DEFAULT_MAX_UPLOAD, WeftService};
pub use state::StateMachine;
