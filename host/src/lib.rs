//! weft's host: the worker process around the runtime. The agent keeps a
//! session with the leader, runs the tasks and actors it is given on the
//! runtime ([`weft_runtime`], re-exported here whole), serves the guests'
//! host services (nested tasks, objects, actors: [`services`]), keeps the
//! object store in shared memory, and serves HTTP routes.
//!
//! The runtime sits below: it reaches the agent only through the traits the
//! agent implements, and Cargo keeps it that way (it cannot depend on this
//! crate).

pub use weft_runtime::*;

pub mod agent;
pub mod gateway;
pub mod store;
