//! Jobs, as clients ask for them: submit, list, stop and wait for a
//! driver, and supervise it on the leader (`crate::jobs` keeps the records
//! and the rules for them).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use weft_proto::FailureKind;
use weft_proto::HasRuntimeEnv;
use weft_proto::v1 as pb;
use weft_proto::v1::JobState;
use weft_values::CallText;

use crate::command::Command;
use crate::controller::Controller;
use crate::error::ControllerError;
use crate::jobs::{DRIVER_DEADLINE, add_reason, check_id, now_ms, render_result};
use crate::tasks::Target;

impl Controller {
    /// Submits a job: types its entry call by the driver's signature,
    /// writes its record (PENDING) and starts supervising it.
    pub async fn submit_job(
        self: &Arc<Self>,
        request: pb::SubmitJobRequest,
    ) -> Result<pb::JobRecord, ControllerError> {
        self.jobs_ready().await?;
        if !request.id.is_empty() {
            check_id(&request.id)?;
            // A retried submission: the job it made the first time.
            if let Some(record) = self.jobs.get(&request.id) {
                return Ok(record);
            }
        }
        if let Some((key, _)) = request
            .env
            .iter()
            .find(|(k, _)| k.is_empty() || k.contains(['=', '\0']))
        {
            return Err(ControllerError::InvalidRequest(format!(
                "runtime env key `{key}` is not a variable name (it is empty or holds `=`)"
            )));
        }
        if !request.name.is_empty()
            && let Some(other) = self
                .jobs
                .lock()
                .values()
                .find(|r| r.name == request.name && !r.state().is_finished())
        {
            return Err(ControllerError::InvalidRequest(format!(
                "a job named `{}` is still {} ({}): stop it or pick another name",
                request.name,
                other.state().name().to_lowercase(),
                other.id
            )));
        }
        let typed = self
            .typed_call(&request.component, CallText::Wave(request.call.clone()))
            .await?;
        let id = match request.id.is_empty() {
            true => format!("job-{:012x}", super::actors::new_id() >> 16),
            false => request.id,
        };
        let mut record = pb::JobRecord {
            id,
            name: request.name,
            component: request.component,
            digest: typed.digest,
            call: request.call,
            function: typed.function,
            args: typed.args,
            max_retries: request.max_retries,
            env: request.env,
            config: request.config,
            secrets: request.secrets,
            dirs: request.dirs,
            state: JobState::Pending.into(),
            submitted_ms: now_ms(),
            ..Default::default()
        };
        if let Some(defaults) = self.default_env(&record.digest) {
            record.env_parts().fill_from(&defaults);
        }
        {
            let _write = self.jobs.writes.lock().await;
            self.write_job(&record).await?;
            self.jobs.lock().insert(record.id.clone(), record.clone());
        }
        self.supervise_job(record.id.clone(), false);
        Ok(record)
    }

    /// A job by id or name.
    pub async fn get_job(&self, job: &str) -> Result<pb::JobRecord, ControllerError> {
        self.jobs_ready().await?;
        self.jobs.find(job).ok_or_else(|| {
            ControllerError::NotFound(format!("no job `{job}` (see `weft job list`)"))
        })
    }

    /// Every job, oldest first.
    pub async fn list_jobs(&self) -> Result<Vec<pb::JobRecord>, ControllerError> {
        self.jobs_ready().await?;
        let mut jobs: Vec<pb::JobRecord> = self.jobs.lock().values().cloned().collect();
        jobs.sort_by(|a, b| (a.submitted_ms, &a.id).cmp(&(b.submitted_ms, &b.id)));
        Ok(jobs)
    }

    /// Stops a job: records it STOPPED, then cancels its driver and the
    /// tasks it made and kills its non-detached actors. A job that already
    /// ended is returned as it is, with `false`.
    pub async fn stop_job(&self, job: &str) -> Result<(pb::JobRecord, bool), ControllerError> {
        let id = self.get_job(job).await?.id;
        let mut stopped = false;
        let record = self
            .update_job(&id, |r| {
                if r.state().is_finished() {
                    return false;
                }
                r.set_state(JobState::Stopped);
                add_reason(r, "stopped by request");
                r.ended_ms = now_ms();
                stopped = true;
                true
            })
            .await?;
        if stopped {
            let ended = self
                .tasks
                .end_job_work(&id, &format!("its job {id} was stopped"));
            tracing::info!(job = %id, tasks = ended.tasks, actors = ended.actors, "job stopped");
        }
        record
            .map(|r| (r, stopped))
            .ok_or_else(|| ControllerError::NotFound(format!("no job `{job}`")))
    }

    /// Jobs by state, while this replica leads and has read the records.
    pub(crate) fn jobs_by_state(&self) -> Option<Vec<(&'static str, usize)>> {
        self.jobs.loaded_in()?;
        let records = self.jobs.lock();
        Some(
            JobState::ALL
                .iter()
                .map(|&state| {
                    let n = records.values().filter(|r| r.state() == state).count();
                    (state.name(), n)
                })
                .collect(),
        )
    }

    /// Where a job's output is: its latest attempt's task.
    pub(crate) fn job_task(&self, job: &str) -> Option<String> {
        self.jobs
            .find(job)
            .filter(|r| !r.task.is_empty())
            .map(|r| r.task)
    }

    /// Waits until this replica leads and has read the job records in
    /// its term.
    async fn jobs_ready(&self) -> Result<(), ControllerError> {
        self.loaded_ready(&self.jobs.loaded_term, "job records")
            .await
    }

    async fn write_job(&self, record: &pb::JobRecord) -> Result<(), ControllerError> {
        self.write(Command::PutJob {
            id: record.id.clone(),
            record: record.encode_to_vec(),
        })
        .await
        .map(|_| ())
    }

    /// Changes job `id`'s record with `change` (which says whether it
    /// changed anything), writes it, and only then keeps it. `Ok(None)`:
    /// no such job.
    async fn update_job(
        &self,
        id: &str,
        change: impl FnOnce(&mut pb::JobRecord) -> bool,
    ) -> Result<Option<pb::JobRecord>, ControllerError> {
        let _write = self.jobs.writes.lock().await;
        let Some(mut record) = self.jobs.get(id) else {
            return Ok(None);
        };
        if change(&mut record) {
            self.write_job(&record).await?;
            self.jobs.lock().insert(id.to_string(), record.clone());
        }
        Ok(Some(record))
    }

    /// Keeps the job records while this replica leads: on taking office
    /// it reads them and resumes every unfinished job.
    pub(crate) fn keep_jobs(self: &Arc<Self>) {
        self.keep_loaded(
            |c| &c.jobs.loaded_term,
            "job records",
            |c, term| async move { c.load_jobs(term).await },
        );
    }

    async fn load_jobs(self: &Arc<Self>, term: u64) -> Result<(), ControllerError> {
        self.read_barrier().await?;
        let records: HashMap<String, pb::JobRecord> = self
            .state
            .jobs()?
            .into_iter()
            .filter_map(|bytes| pb::JobRecord::decode(bytes.as_slice()).ok())
            .map(pb::JobRecord::upgrade)
            .map(|r| (r.id.clone(), r))
            .collect();
        let unfinished: Vec<String> = records
            .values()
            .filter(|r| !r.state().is_finished())
            .map(|r| r.id.clone())
            .collect();
        tracing::info!(
            jobs = records.len(),
            unfinished = unfinished.len(),
            "took over the job records"
        );
        *self.jobs.lock() = records;
        self.jobs.loaded_term.set(Some(term));
        for id in unfinished {
            self.supervise_job(id, true);
        }
        Ok(())
    }

    /// Runs job `id` to its end in the background (`resumed`: a previous
    /// leader started it).
    fn supervise_job(self: &Arc<Self>, id: String, resumed: bool) {
        let controller = self.clone();
        tokio::spawn(async move {
            if let Err(e) = controller.run_job(&id, resumed).await {
                tracing::warn!(job = %id, error = %e, "stopped supervising a job; the next leader resumes it");
            }
        });
    }

    async fn run_job(&self, id: &str, mut resumed: bool) -> Result<(), ControllerError> {
        let term = self.raft.metrics().borrow().current_term;
        loop {
            let Some(record) = self.jobs.get(id) else {
                return Ok(());
            };
            if record.state().is_finished() || self.jobs.loaded_in() != Some(term) {
                return Ok(());
            }
            let attempt = if resumed && record.state() == JobState::Running {
                // The attempt may still run on its host: let the host
                // register and report it before resubmitting its task.
                let deadline = tokio::time::Instant::now() + self.tasks.host_timeout();
                while !record.host.is_empty()
                    && !self.tasks.host_alive(&record.host)
                    && tokio::time::Instant::now() < deadline
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                record.attempt
            } else {
                let attempt = record.attempt + 1;
                self.update_job(id, |r| {
                    r.set_state(JobState::Running);
                    r.attempt = attempt;
                    r.task = format!("{id}-{attempt}");
                    r.host.clear();
                    if r.started_ms == 0 {
                        r.started_ms = now_ms();
                    }
                    true
                })
                .await?;
                attempt
            };
            resumed = false;
            let Some(record) = self.jobs.get(id) else {
                return Ok(());
            };
            let Some(result) = self.run_attempt(&record).await? else {
                return Ok(());
            };
            let retry = !result.ok
                && result.failure_kind() == FailureKind::HostDied
                && attempt <= record.max_retries;
            let rendered = render_result(&result);
            let updated = self
                .update_job(id, |r| {
                    if r.state().is_finished() {
                        return false;
                    }
                    if !result.host.is_empty() {
                        r.host.clone_from(&result.host);
                    }
                    if result.ok {
                        r.set_state(JobState::Succeeded);
                        r.result = rendered;
                    } else {
                        add_reason(
                            r,
                            &format!(
                                "attempt {attempt} on host {}: {}",
                                result.host, result.error
                            ),
                        );
                        if !retry {
                            r.set_state(JobState::Failed);
                        }
                    }
                    if !retry {
                        r.ended_ms = now_ms();
                    }
                    true
                })
                .await?;
            // The driver is gone: what it left running goes with it (a
            // rerun starts its work anew).
            let why = format!("its job {id}'s driver ended");
            self.tasks.end_job_work(id, &why);
            if !retry || updated.is_none_or(|r| r.state().is_finished()) {
                return Ok(());
            }
        }
    }

    /// Runs the job's current attempt as a task and waits for its result,
    /// noting in the record which host runs it. `Ok(None)`: this replica
    /// stopped leading.
    async fn run_attempt(
        &self,
        record: &pb::JobRecord,
    ) -> Result<Option<pb::TaskResult>, ControllerError> {
        let target = Target {
            allow_http: self.state.http_grants(&record.digest)?,
            digest: record.digest.clone(),
        };
        let spec = pb::TaskSpec {
            id: record.task.clone(),
            component: record.component.clone(),
            function: record.function.clone(),
            args: record.args.clone(),
            options: Some(pb::TaskOptions {
                // A driver mostly waits on its tasks; like Ray's driver it
                // holds no cpu slot of the hosts it runs on.
                has_cpus: true,
                cpus: 0.0,
                // Reruns are the job's business: it records each cause.
                has_max_retries: true,
                max_retries: 0,
                timeout_ms: DRIVER_DEADLINE.as_millis() as u64,
                job: record.id.clone(),
                env: record.env.clone(),
                config: record.config.clone(),
                secrets: record.secrets.clone(),
                dirs: record.dirs.clone(),
                ..Default::default()
            }),
        };
        let (owner, mut events) = self.tasks.open_owner();
        let _owner = crate::call::OwnerGuard {
            tasks: &self.tasks,
            owner,
        };
        self.tasks.submit(owner, vec![(spec, Ok(target))]);
        let mut noted_host = record.host.clone();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                event = events.recv() => {
                    let Some(Ok(event)) = event else {
                        return Ok(None);
                    };
                    if let Some(result) = event.finished.into_iter().find(|r| r.id == record.task) {
                        return Ok(Some(result));
                    }
                }
                _ = tick.tick() => {
                    let host = match self.tasks.log_host(&record.task) {
                        Ok(Some(located)) => located.host,
                        _ => continue,
                    };
                    if host != noted_host {
                        self.update_job(&record.id, |r| {
                            let change = !r.state().is_finished() && r.task == record.task;
                            if change {
                                r.host.clone_from(&host);
                            }
                            change
                        })
                        .await?;
                        noted_host = host;
                    }
                }
            }
        }
    }
}
