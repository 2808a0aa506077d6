//! The term in which a leader read a kind of records (jobs, Tune
//! experiments) into its working copy; `controller/loaded.rs` reads them.

use std::sync::Mutex;

/// The term in which this replica read a kind of records as leader.
#[derive(Default)]
pub(crate) struct LoadedTerm(Mutex<Option<u64>>);

impl LoadedTerm {
    pub(crate) fn get(&self) -> Option<u64> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn set(&self, term: Option<u64>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = term;
    }
}
