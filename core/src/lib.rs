//! What every process that takes part in a weft cluster as a client
//! shares: drivers (the CLI, the Rust and Python SDKs) and hosts, which act
//! for their guests when a guest submits tasks, calls actors or stores
//! objects. Neither side depends on the other; both build on this crate
//! and on the wire contract (`weft-proto`).
//!
//! - [`Connection`]: the leader-following connection to the controllers.
//! - [`TaskClient`]: an *owner* session — tasks, actor calls and objects
//!   it owns, their results streamed back, resubmitted across failovers.
//! - [`objects`]: moving objects between stores (pull, put, locate);
//!   [`shm`]: a same-machine store's arena, mapped once, and objects read
//!   in place from it.

mod actors;
mod connection;
mod error;
pub mod gateway;
pub mod groups;
mod keyvalue;
pub mod objects;
mod pins;
pub mod shm;
mod streams;
mod task_objects;
mod tasks;
mod typing;

pub use actors::{ActorHandle, ActorOptions, ActorRecord, Constructor};
pub use connection::{Connection, WriteId};
pub use error::{ClientError, ErrorClass};
pub use streams::ItemStream;
pub use tasks::{NodeInfo, Submission, TaskClient, TaskInfo, TaskOptions, TaskResult, value_of};
pub use typing::Arg;
pub use weft_proto::FailureKind;
pub use weft_values::{self as values, Value};

/// A client id unlikely to collide: time, process and a per-process count.
pub(crate) fn new_client_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    static COUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    h.write_u64(COUNT.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    h.finish()
}
