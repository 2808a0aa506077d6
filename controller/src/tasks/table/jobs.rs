//! What a job made: every task and actor stamped with its id (hosts stamp
//! the work a job's guests submit, `TaskOptions.job`), ended together when
//! the job stops, fails, or finishes.

use weft_proto::v1 as pb;

use super::Table;
use crate::tasks::actors::options;
use crate::tasks::task::State;

/// What ending a job's work reached.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct JobWorkEnded {
    /// Tasks canceled (queued, waiting or running).
    pub tasks: usize,
    /// Actors killed (detached ones are left to live on, as in Ray).
    pub actors: usize,
}

impl Table {
    pub(crate) fn end_job_work(&mut self, job: &str, why: &str) -> JobWorkEnded {
        let mut tasks: Vec<String> = self
            .tasks
            .iter()
            .filter(|(_, task)| task.options().job == job && !matches!(task.state, State::Done(_)))
            .map(|(id, _)| id.clone())
            .collect();
        let actors: Vec<String> = self
            .actors
            .records
            .values()
            .filter(|r| r.state() != pb::ActorState::Dead)
            .filter(|r| {
                let o = options(r);
                o.job == job && !o.detached
            })
            .map(|r| r.id.clone())
            .collect();
        // In the order they were made (ids number them), not the table's.
        tasks.sort_by(|a, b| crate::tasks::natural(a).cmp(&crate::tasks::natural(b)));
        let mut ended = JobWorkEnded::default();
        for id in &tasks {
            ended.tasks += usize::from(self.cancel(id) == Some(true));
        }
        for id in &actors {
            ended.actors += usize::from(self.kill_actor(id, why));
        }
        ended
    }
}
