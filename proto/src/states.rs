//! The states of tasks, actors, jobs and stored objects: proto enums on
//! the wire and in the replicated state, with the one name each is shown
//! by.
//!
//! Clients compare states as enums and print them by [`std::fmt::Display`];
//! only the CLI's and SDKs' edges turn a name a person typed back into a
//! state ([`std::str::FromStr`]). Records written before the states were
//! typed held the name as text: `upgrade` reads it into the enum once, where
//! a record is decoded from the replicated state.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use crate::v1::{
    ActorRecord, ActorState, JobRecord, JobState, ListTasksResponse, ObjectState, TaskState,
    TrialState, TuneState,
};

/// A name that is no state of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is no {kind} state; use one of: {expected}")]
pub struct UnknownState {
    /// What was given.
    pub given: String,
    /// Which kind of state: task, actor, job.
    pub kind: &'static str,
    /// The names that are.
    pub expected: String,
}

/// Gives a state enum its names, its list of states, `Display` and
/// `FromStr`, from one table.
macro_rules! named_states {
    ($ty:ident, $kind:literal, [$($variant:ident => $name:literal),+ $(,)?]) => {
        impl $ty {
            /// Every state (not `Unspecified`), in the order of a life.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name people see and type.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)+
                    $ty::Unspecified => "unknown",
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.name())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownState;

            /// Reads a name in any case: `running`, `RUNNING`.
            fn from_str(s: &str) -> Result<Self, UnknownState> {
                $ty::ALL
                    .iter()
                    .copied()
                    .find(|state| state.name().eq_ignore_ascii_case(s.trim()))
                    .ok_or_else(|| UnknownState {
                        given: s.to_string(),
                        kind: $kind,
                        expected: $ty::ALL
                            .iter()
                            .map(|state| state.name())
                            .collect::<Vec<_>>()
                            .join(", "),
                    })
            }
        }
    };
}

named_states!(ObjectState, "object", [
    Primary => "primary",
    Spilled => "spilled",
    Secondary => "secondary",
]);

named_states!(TaskState, "task", [
    Waiting => "waiting",
    Queued => "queued",
    Running => "running",
    Finished => "finished",
    Failed => "failed",
]);

named_states!(ActorState, "actor", [
    Pending => "pending",
    Alive => "alive",
    Restarting => "restarting",
    Dead => "dead",
]);

// Jobs have always been shown in capitals, as Ray shows them.
named_states!(JobState, "job", [
    Pending => "PENDING",
    Running => "RUNNING",
    Succeeded => "SUCCEEDED",
    Failed => "FAILED",
    Stopped => "STOPPED",
]);

impl JobState {
    /// Whether a job in this state has ended for good.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Stopped
        )
    }
}

// Tune's states are shown in capitals, as Ray Tune shows them.
named_states!(TuneState, "experiment", [
    Running => "RUNNING",
    Finished => "FINISHED",
    Stopped => "STOPPED",
    Failed => "FAILED",
]);

impl TuneState {
    /// Whether an experiment in this state has ended for good.
    pub fn is_finished(self) -> bool {
        !matches!(self, TuneState::Running | TuneState::Unspecified)
    }
}

named_states!(TrialState, "trial", [
    Pending => "PENDING",
    Running => "RUNNING",
    Terminated => "TERMINATED",
    Stopped => "STOPPED",
    Error => "ERROR",
]);

impl TrialState {
    /// Whether a trial in this state has ended for good.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TrialState::Terminated | TrialState::Stopped | TrialState::Error
        )
    }
}

impl ListTasksResponse {
    /// The counts by state, keyed by each state's name (for text and JSON).
    pub fn counts_by_name(&self) -> BTreeMap<&'static str, u64> {
        self.counts
            .iter()
            .map(|c| (c.state().name(), c.count))
            .collect()
    }
}

/// Gives a record kept in the replicated state its `upgrade`: a record
/// written before the state was typed has its text state read into
/// `state`; one that has `state` is returned as it is.
macro_rules! upgradable {
    ($record:ident, $state:ident) => {
        impl $record {
            /// Reads a record written before the state was typed: its text
            /// state becomes `state`.
            pub fn upgrade(mut self) -> Self {
                if self.state() == $state::Unspecified
                    && let Ok(state) = self.legacy_state.parse()
                {
                    self.set_state(state);
                }
                self.legacy_state.clear();
                self
            }
        }
    };
}

upgradable!(ActorRecord, ActorState);
upgradable!(JobRecord, JobState);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back_in_any_case() {
        for &state in TaskState::ALL {
            assert_eq!(state.name().parse::<TaskState>(), Ok(state));
        }
        assert_eq!("ALIVE".parse::<ActorState>(), Ok(ActorState::Alive));
        assert_eq!("succeeded".parse::<JobState>(), Ok(JobState::Succeeded));
        assert_eq!("Spilled".parse::<ObjectState>(), Ok(ObjectState::Spilled));
        let e = "done".parse::<TaskState>().unwrap_err().to_string();
        assert_eq!(
            e,
            "`done` is no task state; use one of: waiting, queued, running, finished, failed"
        );
    }

    #[test]
    fn records_with_text_states_upgrade_once() {
        let old = ActorRecord {
            legacy_state: "restarting".into(),
            ..Default::default()
        };
        let record = old.upgrade();
        assert_eq!(
            (record.state(), record.legacy_state.as_str()),
            (ActorState::Restarting, "")
        );
        let mut typed = JobRecord::default();
        typed.set_state(JobState::Stopped);
        typed.legacy_state = "RUNNING".into();
        assert_eq!(typed.upgrade().state(), JobState::Stopped);
        assert!(!JobState::Running.is_finished() && JobState::Failed.is_finished());
    }

    #[test]
    fn display_pads_like_a_str() {
        assert_eq!(format!("{:<8}|", TaskState::Queued), "queued  |");
    }
}
