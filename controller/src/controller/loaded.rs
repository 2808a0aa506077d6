//! Records a leader keeps a working copy of (jobs, Tune experiments),
//! read from the replicated state once per term.
//!
//! A new leader must read the records before it answers about them or
//! resumes what they describe: a read barrier first, so every write an
//! earlier leader committed is applied. The term the copy was read in says
//! whether it is this leader's: a replica that stops leading forgets it,
//! and one that leads again in a later term reads the records anew.

use std::sync::Arc;
use std::time::Duration;

use crate::controller::Controller;
use crate::error::ControllerError;
use crate::loaded::LoadedTerm;

impl Controller {
    /// Waits until this replica leads and has read `what` in its term.
    pub(crate) async fn loaded_ready(
        &self,
        loaded: &LoadedTerm,
        what: &str,
    ) -> Result<(), ControllerError> {
        self.ensure_leader().await?;
        let deadline = tokio::time::Instant::now() + self.config.write_timeout;
        loop {
            let term = self.raft.metrics().borrow().current_term;
            if loaded.get() == Some(term) {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(ControllerError::NoQuorum(format!(
                    "this leader has not read the {what} yet; retry"
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// While this replica leads, runs `load(term)` once in each term
    /// (again until it succeeds); forgets the term when it stops leading.
    /// `load` reads the records and sets `loaded` to the term.
    pub(crate) fn keep_loaded<F, Fut>(
        self: &Arc<Self>,
        loaded: fn(&Controller) -> &LoadedTerm,
        what: &'static str,
        load: F,
    ) where
        F: Fn(Arc<Controller>, u64) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), ControllerError>> + Send,
    {
        let load = Arc::new(load);
        self.every(Duration::from_millis(100), move |controller| {
            let load = load.clone();
            async move {
                let (leader, term) = {
                    let m = controller.raft.metrics();
                    let m = m.borrow();
                    (m.current_leader, m.current_term)
                };
                if leader != Some(controller.config.id) {
                    loaded(&controller).set(None);
                    return;
                }
                if loaded(&controller).get() == Some(term) {
                    return;
                }
                if let Err(e) = load(controller.clone(), term).await {
                    tracing::warn!(error = %e, "cannot read the {what} yet");
                }
            }
        });
    }
}
