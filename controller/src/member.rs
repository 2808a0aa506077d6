//! Who is in a controller group: a replica's id and its address as the
//! membership records them. A leaf, so errors and configuration can name
//! replicas without reaching into Raft.

/// A controller replica's id.
pub type NodeId = u64;

/// A replica's address as the membership records it.
pub type Node = openraft::BasicNode;
