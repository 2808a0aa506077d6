//! `weft bench actors`: actor call throughput under the names `ray
//! microbenchmark` uses, so the two print side by side:
//!
//! - **1:1 actor calls sync**: one caller calls one actor and waits for
//!   each answer;
//! - **1:1 actor calls async**: one caller sends a batch, then waits for
//!   all of it;
//! - **n:n actor calls async**: n callers, each with its own actor, at once.
//!
//! The baseline, measured in the same run, is the single client sync
//! task: the same round trip through the leader instead of straight to
//! the actor's host, with a fresh instance per call instead of a live one.

use crate::bench::row;
use std::path::PathBuf;
use std::time::Duration;

use weft_client::{ActorHandle, ActorOptions, Submission, TaskClient, TaskOptions};

use crate::bench::{check, ms, on_threads, percentile, timed};
use crate::client::connect;

#[derive(clap::Args)]
pub struct ActorBenchArgs {
    /// The component of the actor (a counter class with `incr`).
    #[arg(
        long,
        default_value = "target/wasm32-wasip2/release/example_counter.wasm"
    )]
    component: PathBuf,
    /// The component of the baseline task (its `greet("ok")`).
    #[arg(
        long,
        default_value = "target/wasm32-wasip2/release/example_hello.wasm"
    )]
    baseline: PathBuf,
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Calls per batch in the async runs.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Caller-actor pairs in the n:n run.
    #[arg(long, default_value_t = 4)]
    clients: usize,
}

const NAME: &str = "weft-bench-actors";
const BASELINE: &str = "weft-bench-actors-baseline";

pub async fn run(address: &str, args: ActorBenchArgs) -> anyhow::Result<()> {
    let wasm = crate::bench::read_component(&args.component)?;
    let mut client = connect(address).await?;
    client.deploy(wasm, Some(NAME)).await?;
    client
        .deploy(
            crate::bench::read_component(&args.baseline)?,
            Some(BASELINE),
        )
        .await?;
    row!("actor calls of {NAME}.counter.incr() through {address}");
    let window = Duration::from_secs_f64(args.seconds);

    // Baseline: a trivial task, one at a time.
    let caller = TaskClient::with_client(client.clone());
    let task = Submission {
        component: BASELINE.into(),
        function: "greet".into(),
        args: vec![weft_client::Arg::wave("\"ok\"")],
        options: TaskOptions::default(),
    };
    let (task_sync, _) = crate::bench::tasks::sync_rate(&caller, &task, window).await?;
    row!("single client tasks sync (baseline) {task_sync:>8.0} tasks/s");

    let actor = new_actor(&caller).await?;
    let (sync, mut latencies) = timed(window, || async {
        let id = caller.call(&actor, "incr", Vec::new())?;
        check(caller.get(std::slice::from_ref(&id), None).await?)?;
        caller.release(&[id]);
        Ok(1)
    })
    .await?;
    row!(
        "1:1 actor calls sync              {sync:>10.0} calls/s  (p50 {:.3} ms, p99 {:.3} ms; {:.2}x the sync task)",
        ms(percentile(&mut latencies, 50.0)),
        ms(percentile(&mut latencies, 99.0)),
        sync / task_sync
    );

    let single = async_rate(&caller, &actor, args.batch, window).await?;
    row!(
        "1:1 actor calls async             {single:>10.0} calls/s  ({:.2}x sync, batches of {})",
        single / sync,
        args.batch
    );
    caller.kill_actor(&actor).await?;

    // Each caller is its own thread with its own connections and actor.
    let (address, batch) = (address.to_string(), args.batch);
    let multi = on_threads(args.clients, move || {
        let address = address.clone();
        async move {
            let caller = TaskClient::with_client(connect(&address).await?);
            let actor = new_actor(&caller).await?;
            let rate = async_rate(&caller, &actor, batch, window).await;
            caller.kill_actor(&actor).await?;
            rate
        }
    })?;
    row!(
        "n:n actor calls async             {multi:>10.0} calls/s  ({} callers and actors; {:.2}x 1:1 async)",
        args.clients.max(1),
        multi / single
    );
    Ok(())
}

async fn new_actor(caller: &TaskClient) -> anyhow::Result<ActorHandle> {
    let actor = caller
        .create_actor(NAME, "counter", "new(0)", ActorOptions::default())
        .await?;
    let record = caller
        .wait_actor_alive(&actor, Duration::from_secs(30))
        .await?;
    anyhow::ensure!(
        record.state() == weft_proto::v1::ActorState::Alive,
        "the bench actor is {}: {}",
        record.state(),
        record.cause
    );
    Ok(actor)
}

/// Sends batches of calls and waits for each, for `window`; calls per second.
async fn async_rate(
    caller: &TaskClient,
    actor: &ActorHandle,
    batch: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    let (rate, _) = timed(window, || async {
        let ids = (0..batch.max(1))
            .map(|_| caller.call(actor, "incr", Vec::new()))
            .collect::<Result<Vec<_>, _>>()?;
        check(caller.get(&ids, None).await?)?;
        caller.release(&ids);
        Ok(ids.len() as u64)
    })
    .await?;
    Ok(rate)
}
