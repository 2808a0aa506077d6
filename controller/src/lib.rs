//! weft's controller, the cluster's Global Control Service.
//!
//! Each controller process is one replica of a Raft group (openraft over
//! sled storage, peer RPCs over tonic). Durable cluster state (components
//! with their bytes, names, the namespaced key-value table) lives in a
//! [`StateMachine`] changed only by committed [`Command`]s, so losing a
//! minority of replicas loses no acknowledged write. The leader takes
//! writes; any replica serves reads, linearizable ones through the leader.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use weft_controller::{ReplicaConfig, WeftService};
//!
//! let mut config = ReplicaConfig::new(1, "127.0.0.1:7077", "/tmp/weft");
//! config.initial_members.insert(1, "127.0.0.1:7077".into());
//! let controller = weft_controller::start(config).await?;
//! tonic::transport::Server::builder()
//!     .add_service(controller.peer_server())
//!     .add_service(WeftService::new(controller).into_server())
//!     .serve("127.0.0.1:7077".parse()?)
//!     .await?;
//! # Ok(()) }
//! ```

pub mod blobs;
mod call;
pub mod codec;
mod command;
mod config;
mod controller;
mod error;
pub mod jobs;
pub mod limits;
mod loaded;
mod member;
mod metrics;
mod prepare;
pub mod raft;
mod replica;
pub mod scheduler;
mod service;
mod signatures;
mod state;
pub mod tasks;
pub mod tune;

pub use blobs::digest_of;
pub use call::{CallOptions, CallReply, LocalHost};
pub use command::{
    Applied, Command, ComponentRecord, InvalidInput, RouteRecord, validate_name,
    validate_route_path,
};
pub use config::{DEFAULT_MAX_UPLOAD, ReplicaConfig};
pub use controller::{Controller, GroupView, MemberView};
pub use error::ControllerError;
pub use raft::peer_service::RaftPeerService;
pub use replica::start;
pub use service::WeftService;
pub use state::{EntryMeta, StateMachine};
pub use tasks::{TaskConfig, TaskManager};
