//! `weft bench tune`: Tune experiments of the example trainable, in the
//! shape `scripts/bench-tune-vs-ray` runs beside Ray Tune: N trials of 10
//! iterations of 1 ms of work each, random search over the trainable's
//! rate, ASHA (Ray's defaults but `max_t`: grace period 1, reduction
//! factor 4).
//!
//! The baseline, measured in the same run on the same cluster: the same N
//! trials' work as plain streaming tasks this client submits and drains
//! itself, as many at once as the cluster has cpus, each reading every
//! report with a window of one (what the leader does for a trial, less
//! the bookkeeping). A FIFO experiment of the same trials runs the same
//! work through Tune, so its ratio to the baseline is Tune's own cost; the
//! ASHA experiment is the figure to set beside Ray's.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use weft_client::{Arg, TaskClient, TaskOptions, TrialState, TuneSpec, Value};

use crate::bench::row;
use crate::client::connect;

#[derive(clap::Args)]
pub struct TuneBenchArgs {
    /// The example trainable
    /// (`cargo build --release --target wasm32-wasip2 -p example-tune`).
    #[arg(long, default_value = "target/wasm32-wasip2/release/example_tune.wasm")]
    component: PathBuf,
    /// Trials of each experiment, one run each (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "200,2000")]
    trials: Vec<u32>,
    /// Iterations a trial reports.
    #[arg(long, default_value_t = 10)]
    iterations: u32,
    /// Milliseconds of work per iteration.
    #[arg(long, default_value_t = 1)]
    work_ms: u32,
}

const NAME: &str = "weft-bench-tune";

pub async fn run(address: &str, args: TuneBenchArgs) -> anyhow::Result<()> {
    let wasm = crate::bench::read_component(&args.component)?;
    let mut client = connect(address).await?;
    client.deploy(wasm, Some(NAME)).await?;
    let tasks = TaskClient::connect(address).await?;
    let cpus: f64 = client
        .list_nodes()
        .await?
        .iter()
        .filter(|n| n.alive)
        .filter_map(|n| n.total.as_ref().map(|r| r.cpus))
        .sum();
    let slots = (cpus as u32).max(1);
    row!(
        "Tune experiments of {NAME}.train through {address}: {} iterations of {} ms per trial, {slots} trials at once",
        args.iterations,
        args.work_ms
    );
    for &n in &args.trials {
        let started = Instant::now();
        let results = plain_trials(&tasks, n, slots, &args).await?;
        let base = started.elapsed();
        line("baseline: plain streaming tasks", n, base, results, None);

        let fifo = experiment(&mut client, n, "", &args).await?;
        line("tune, FIFO (the same work)", n, fifo.0, fifo.1, Some(base));
        let asha = experiment(
            &mut client,
            n,
            &serde_json::json!({
                "type": "asha",
                "max_t": args.iterations,
                "grace_period": 1,
                "reduction_factor": 4,
            })
            .to_string(),
            &args,
        )
        .await?;
        line("tune, random search + ASHA", n, asha.0, asha.1, Some(base));
    }
    Ok(())
}

/// One row: wall time, per trial, results/s, and the ratio to `base`.
fn line(what: &str, n: u32, wall: Duration, results: u64, base: Option<Duration>) {
    let ratio = base.map_or(String::new(), |b| {
        format!(
            "; {:.2}x the baseline's time",
            wall.as_secs_f64() / b.as_secs_f64()
        )
    });
    row!(
        "{what}: {n} trials in {:.2} s, {:.2} ms a trial, {results} results at {:.0} results/s{ratio}",
        wall.as_secs_f64(),
        wall.as_secs_f64() * 1e3 / f64::from(n),
        results as f64 / wall.as_secs_f64()
    );
}

/// Runs an experiment of `n` trials under `scheduler` to its end; its
/// wall time and the results it recorded.
async fn experiment(
    client: &mut weft_client::Client,
    n: u32,
    scheduler: &str,
    args: &TuneBenchArgs,
) -> anyhow::Result<(Duration, u64)> {
    let spec = TuneSpec {
        component: NAME.into(),
        function: "train".into(),
        param_space: serde_json::json!({
            "rate": {"uniform": [0.0, 1.0]},
            "iterations": args.iterations,
            "work-ms": args.work_ms,
        })
        .to_string(),
        metric: "score".into(),
        mode: "max".into(),
        num_samples: n,
        scheduler: scheduler.into(),
        ..Default::default()
    };
    let started = Instant::now();
    let experiment = client.run_tune(spec, None).await?;
    let status = client.wait_tune(&experiment.id, |_| {}).await?;
    let wall = started.elapsed();
    let failed = status
        .trials
        .iter()
        .find(|t| t.state() == TrialState::Error);
    if let Some(t) = failed {
        anyhow::bail!("trial {} failed: {}", t.id, t.error);
    }
    anyhow::ensure!(
        status.trials.len() == n as usize,
        "the experiment ended with {} of {n} trials",
        status.trials.len()
    );
    let results = status.trials.iter().map(|t| t.results.len() as u64).sum();
    Ok((wall, results))
}

/// `n` trials' work as streaming tasks, `slots` at a time, every report
/// read with a window of one; the reports read.
async fn plain_trials(
    tasks: &TaskClient,
    n: u32,
    slots: u32,
    args: &TuneBenchArgs,
) -> anyhow::Result<u64> {
    let next = Arc::new(AtomicU32::new(0));
    let (iterations, work_ms) = (args.iterations, args.work_ms);
    let config = move |i: u32| {
        Value::Record(vec![
            ("rate".into(), Value::F64(f64::from(i % 100) / 100.0)),
            ("iterations".into(), Value::U32(iterations)),
            ("work-ms".into(), Value::U32(work_ms)),
            ("trap-at".into(), Value::Option(None)),
        ])
    };
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..slots {
        let (tasks, next) = (tasks.clone(), next.clone());
        workers.spawn(async move {
            let mut read = 0u64;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return Ok::<u64, anyhow::Error>(read);
                }
                let options = TaskOptions {
                    streaming: true,
                    stream_backpressure: 1,
                    ..Default::default()
                };
                let args = vec![Arg::Value(config(i))];
                let id = tasks.submit(NAME, "train", args, options).await?;
                let mut stream = tasks.stream(&id, true);
                let mut items = Vec::new();
                while let Some(item) = stream.next(Some(Duration::from_secs(60))).await? {
                    items.push(item);
                }
                read += items.len() as u64;
                items.push(id);
                tasks.release(&items);
            }
        });
    }
    let mut read = 0;
    while let Some(done) = workers.join_next().await {
        read += done??;
    }
    Ok(read)
}
