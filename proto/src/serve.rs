//! What every side calls a Serve replica's state.

use crate::v1::ServeReplica;

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
