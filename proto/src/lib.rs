//! weft's wire contract: the client API generated from `proto/weft.proto`.
//!
//! No logic lives here, so clients (the CLI, SDKs) depend on the wire types
//! without depending on the controller or the host.

#![allow(missing_docs, unused_qualifications, clippy::all)]

/// `weft.v1`: the client API service and its messages.
pub mod v1 {
    tonic::include_proto!("weft.v1");
}

/// `weft.raft.v1`: the Raft RPCs between controller replicas.
pub mod raft {
    tonic::include_proto!("weft.raft.v1");
}

pub use v1::*;
