//! Jobs from the terminal: `weft job submit|list|status|logs|stop`.
//!
//! A job runs a driver component's entry call under the cluster's
//! supervision; it outlives the command that submitted it, a leader
//! failover, and (with `--max-retries`) the death of its host.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use weft_client::{JobRecord, JobSpec, JobState};

use crate::client::connect;

#[derive(clap::Subcommand)]
pub enum JobCommand {
    /// Submit a job and print its id: `weft job submit driver 'run(100)'`.
    /// The driver's entry call runs on a host; the tasks and actors it
    /// makes belong to the job and end with it.
    Submit(SubmitArgs),
    /// List jobs: id, name, state, attempt, host, and how it ended.
    List,
    /// Show one job's record: state, reason, times, result.
    Status {
        /// The job's id or name.
        job: String,
    },
    /// Print what the job's driver wrote (its latest attempt's output).
    Logs(crate::client::logs::LogsArgs),
    /// Stop a job: its driver, the tasks it made and its non-detached
    /// actors are stopped, and it is recorded STOPPED.
    Stop {
        /// The job's id or name.
        job: String,
    },
}

#[derive(clap::Args)]
pub struct SubmitArgs {
    /// The driver component: a name, `name@version`, or a digest.
    component: String,
    /// Its entry call in WAVE, e.g. `run(100)`.
    call: String,
    /// A name to find it by (unique among unfinished jobs).
    #[arg(long)]
    name: Option<String>,
    /// Runs again from the start when its host dies, this many times.
    #[arg(long, default_value_t = 0)]
    max_retries: u32,
    #[command(flatten)]
    runtime_env: crate::client::runtime_env::RuntimeEnvArgs,
    /// Wait until it ends; print its result, or fail with its reason.
    #[arg(long)]
    wait: bool,
    /// The job's id (letters, digits, `.`, `_`, `-`): submitting the same
    /// id again answers with that job instead of making another.
    #[arg(long)]
    submission_id: Option<String>,
}

/// How often `--wait` reads the record.
const POLL: Duration = Duration::from_millis(100);

pub async fn job(address: &str, command: JobCommand) -> anyhow::Result<()> {
    if let JobCommand::Logs(args) = command {
        return crate::client::logs::logs(address, args).await;
    }
    let mut client = connect(address).await?;
    match command {
        JobCommand::Submit(args) => {
            let weft_proto::v1::RuntimeEnv {
                env,
                config,
                secrets,
                dirs,
            } = args.runtime_env.parts();
            let record = client
                .submit_job(JobSpec {
                    component: args.component,
                    call: args.call,
                    name: args.name,
                    max_retries: args.max_retries,
                    env,
                    config,
                    secrets,
                    dirs,
                    id: args.submission_id,
                })
                .await?;
            println!("{}", record.id);
            if args.wait {
                let mut record = record;
                while !record.state().is_finished() {
                    tokio::time::sleep(POLL).await;
                    record = client.job(&record.id).await?;
                }
                return ended(&record);
            }
        }
        JobCommand::List => {
            crate::client::print_lines(&client.jobs().await?, "no jobs", line);
        }
        JobCommand::Status { job } => print!("{}", status(&client.job(&job).await?)),
        JobCommand::Stop { job } => {
            let (record, stopped) = client.stop_job(&job).await?;
            if stopped {
                println!("stopped {}", record.id);
            } else {
                println!("{} had already ended: {}", record.id, record.state());
            }
        }
        JobCommand::Logs(_) => unreachable!("handled above"),
    }
    Ok(())
}

/// A finished job's result, or its failure as the command's error.
fn ended(record: &JobRecord) -> anyhow::Result<()> {
    if record.state() == JobState::Succeeded {
        if !record.result.is_empty() {
            println!("{}", record.result);
        }
        return Ok(());
    }
    bail!("job {} {}: {}", record.id, record.state(), record.reason)
}

fn line(j: &JobRecord) -> String {
    let name = if j.name.is_empty() { "-" } else { &j.name };
    let mut out = format!(
        "{}  {name}  {}  {} {}  attempt {}/{}",
        j.id,
        j.state(),
        j.component,
        j.call,
        j.attempt,
        j.max_retries + 1
    );
    if !j.host.is_empty() {
        out += &format!("  host {}", j.host);
    }
    if j.started_ms > 0 {
        let end = if j.ended_ms > 0 { j.ended_ms } else { now_ms() };
        out += &format!("  {:.1}s", end.saturating_sub(j.started_ms) as f64 / 1e3);
    }
    if !j.reason.is_empty() {
        out += &format!("  ({})", j.reason);
    }
    out
}

fn status(j: &JobRecord) -> String {
    let mut out = format!("id:         {}\n", j.id);
    let mut field = |name: &str, value: &str| {
        if !value.is_empty() {
            out += &format!("{name:<12}{value}\n");
        }
    };
    field("name:", &j.name);
    field("state:", j.state().name());
    field("driver:", &format!("{} {}", j.component, j.call));
    field(
        "attempt:",
        &format!("{} of {}", j.attempt, j.max_retries + 1),
    );
    field("task:", &j.task);
    field("host:", &j.host);
    field("submitted:", &time(j.submitted_ms));
    field("started:", &time(j.started_ms));
    field("ended:", &time(j.ended_ms));
    field("reason:", &j.reason);
    field("result:", &j.result);
    let mut env: Vec<_> = j.env.iter().collect();
    env.sort();
    for (k, v) in env {
        field("env:", &format!("{k}={v}"));
    }
    out
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Milliseconds since the epoch as UTC, `2026-11-30 15:04:05.123`.
fn time(ms: u64) -> String {
    if ms == 0 {
        return String::new();
    }
    crate::client::logs::utc(ms * 1000)
}
