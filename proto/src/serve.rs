//! What every side calls a Serve replica's state, and the export its
//! instances are configured with.

use crate::v1::ServeReplica;

/// The export a function deployment's instances call with the
/// deployment's `user_config` (JSON text) before serving, when the
/// component has one (Ray's `reconfigure`): the leader checks its
/// signature, hosts call it.
pub const RECONFIGURE: &str = "reconfigure";

impl ServeReplica {
    /// `starting` (not yet placed on a live host), `running`, or
    /// `draining` (finishing what it has; it takes nothing new).
    pub fn state(&self) -> &'static str {
        match (self.running, self.draining) {
            (_, true) => "draining",
            (true, false) => "running",
            (false, false) => "starting",
        }
    }
}
