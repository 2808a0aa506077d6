//! Jobs: a driver component run under the cluster's supervision (see the
//! controller's `jobs.rs`), submitted, watched and stopped from here.

use std::collections::HashMap;

use weft_proto::v1 as pb;

use crate::{Client, ClientError};

pub use weft_proto::v1::JobRecord;

/// What a job runs and how.
#[derive(Debug, Clone, Default)]
pub struct JobSpec {
    /// The driver: a component name or digest.
    pub component: String,
    /// Its entry call in WAVE: `run("input", 3)`.
    pub call: String,
    /// A name to find it by (unique among unfinished jobs).
    pub name: Option<String>,
    /// Runs again from the start after its host died (default 0).
    pub max_retries: u32,
    /// Environment variables of the driver and of every task and actor it
    /// makes.
    pub env: HashMap<String, String>,
    /// Configuration its guests read through `wasi:config/store`, as for
    /// tasks (`TaskOptions::config`).
    pub config: HashMap<String, String>,
    /// Secrets its guests read among their configuration, by name.
    pub secrets: Vec<String>,
    /// Directories of its hosts its guests see, by name.
    pub dirs: Vec<String>,
    /// The job's id (letters, digits, `.`, `_`, `-`); `None`: one is made
    /// here, so that a submission retried after a lost answer is still one
    /// job.
    pub id: Option<String>,
}

impl Client {
    /// Submits a job; returns its record (PENDING) at once.
    pub async fn submit_job(&mut self, spec: JobSpec) -> Result<JobRecord, ClientError> {
        let request = pb::SubmitJobRequest {
            id: spec.id.unwrap_or_else(|| new_id("job")),
            component: spec.component,
            call: spec.call,
            name: spec.name.unwrap_or_default(),
            max_retries: spec.max_retries,
            env: spec.env,
            config: spec.config,
            secrets: spec.secrets,
            dirs: spec.dirs,
        };
        self.unary(request, |mut c, r| async move { c.submit_job(r).await })
            .await
    }

    /// A job by id or name (the newest of that name).
    pub async fn job(&mut self, job: &str) -> Result<JobRecord, ClientError> {
        let request = pb::GetJobRequest {
            job: job.to_string(),
        };
        self.unary(request, |mut c, r| async move { c.get_job(r).await })
            .await
    }

    /// Every job the cluster keeps, oldest first.
    pub async fn jobs(&mut self) -> Result<Vec<JobRecord>, ClientError> {
        let reply = self
            .request(|mut c| async move { c.list_jobs(pb::ListJobsRequest {}).await })
            .await?;
        Ok(reply.jobs)
    }

    /// Stops a job with its tasks and non-detached actors; returns its
    /// record, and false when it had already ended (the record as it
    /// ended).
    pub async fn stop_job(&mut self, job: &str) -> Result<(JobRecord, bool), ClientError> {
        let request = pb::StopJobRequest {
            job: job.to_string(),
        };
        let reply = self
            .unary(request, |mut c, r| async move { c.stop_job(r).await })
            .await?;
        Ok((reply.job.unwrap_or_default(), reply.stopped))
    }
}

/// An id (of a job or an experiment) no other submission makes: the
/// time and this process mixed by a randomly keyed hash.
pub(crate) fn new_id(kind: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("{kind}-{:012x}", h.finish() >> 16)
}
