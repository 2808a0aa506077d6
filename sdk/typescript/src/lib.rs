//! `weft.node`: the Rust client (`weft-client`) as a Node.js addon, so
//! TypeScript speaks weft's protocol through the one implementation of it
//! (leader following, owner sessions, ref counting, resubmission after a
//! failover). The package's TypeScript (`ts/`) builds the API on top.
//!
//! Calls that only enqueue work (a task's submission, an actor call, a
//! put) return at once on the JavaScript thread; everything that waits on
//! the cluster returns a Promise settled from napi's tokio runtime, where
//! the client's own tasks run too.

mod convert;
mod errors;
mod js;
mod mapped;
mod options;
mod session;
