//! The controller's replication: openraft over sled storage and tonic.
//!
//! - [`codec`]: how records are encoded (versioned, able to gain fields);
//! - [`log_store`]: the Raft log, vote and committed index in sled;
//! - [`state_machine`]: applies entries to the [`StateMachine`](crate::StateMachine)
//!   and builds and installs snapshots;
//! - [`network`]: the peer RPCs as a tonic client, with every transport
//!   failure reported as `Unreachable` so openraft's retry logic works, and
//!   a record of when each peer last answered (for "no quorum" errors);
//! - [`peer_service`]: the peer RPCs' server side, a service apart from the
//!   client API.

// `declare_raft_types!` names `Cursor` for the default snapshot data type.
use std::io::Cursor;

use crate::command::{Applied, Command};

// openraft's trait methods return its `StorageError`, large as it is; the
// helpers that feed them return it too.
#[allow(
    clippy::result_large_err,
    reason = "openraft's StorageError, as its traits return it"
)]
pub mod log_store;
pub mod network;
pub mod peer_service;
#[allow(
    clippy::result_large_err,
    reason = "openraft's StorageError, as its traits return it"
)]
pub mod state_machine;

openraft::declare_raft_types!(
    /// weft's Raft types: log entries carry [`Command`]s, applying one
    /// yields [`Applied`]; nodes are `u64` ids with their address.
    pub TypeConfig:
        D = Command,
        R = Applied,
);

pub use crate::member::{Node, NodeId};

/// The Raft handle of one replica.
pub type Raft = openraft::Raft<TypeConfig>;

pub(crate) use crate::codec::{decode, encode};

/// Encodes a snapshot's content: raw keys and values, a shape that never
/// gains fields, so plain bincode (compact for bytes) serves.
pub(crate) fn encode_pairs(pairs: &crate::state::Pairs) -> Vec<u8> {
    bincode::serialize(pairs).expect("bincode encodes plain data")
}

/// Decodes what [`encode_pairs`] produced.
pub(crate) fn decode_pairs(bytes: &[u8]) -> Result<crate::state::Pairs, bincode::Error> {
    bincode::deserialize(bytes)
}
