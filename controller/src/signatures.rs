//! Component signatures for callers: read from a component's type (never
//! by compiling it) the first time someone asks, then kept by digest, since
//! a digest's bytes never change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use weft_values::Export;

/// Exports by digest.
#[derive(Default)]
pub(crate) struct Signatures {
    by_digest: Mutex<HashMap<String, Arc<Vec<Export>>>>,
}

impl Signatures {
    pub(crate) fn get(&self, digest: &str) -> Option<Arc<Vec<Export>>> {
        self.by_digest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(digest)
            .cloned()
    }

    pub(crate) fn insert(&self, digest: &str, exports: Arc<Vec<Export>>) {
        self.by_digest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(digest.to_string(), exports);
    }
}
