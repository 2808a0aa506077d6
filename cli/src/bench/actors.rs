//! `weft bench actors`: actor call throughput under the names `ray
//! microbenchmark` uses, so the two print side by side:
//!
//! - **1:1 actor calls sync**: one caller calls one actor and waits for
//!   each answer;
//! - **1:1 actor calls async**: one caller sends a batch, then waits for
//!   all of it;
//! - **n:n actor calls async**: n callers, each with its own actor, at once;
//! - **1:1 and n:n async-actor calls async**: the same against a concurrent
//!   actor (`async func` methods, `max_concurrency` 1000: the test guest
//!   `weft-async-actor`'s `echo`), as Ray's async actors are measured.
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
    /// The concurrent actor of the async-actor rows: the test guest
    /// `weft-async-actor` (`cargo build --release --target wasm32-wasip2
    /// -p weft-async-actor`); the rows are left out, saying so, when it is
    /// not there.
    #[arg(
        long,
        default_value = "target/wasm32-wasip2/release/weft_async_actor.wasm"
    )]
    async_component: PathBuf,
}

const ASYNC_NAME: &str = "weft-bench-async-actors";

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

    let incr = Call {
        method: "incr",
        args: Vec::new,
    };
    let single = async_rate(&caller, &actor, &incr, args.batch, window).await?;
    row!(
        "1:1 actor calls async             {single:>10.0} calls/s  ({:.2}x sync, batches of {})",
        single / sync,
        args.batch
    );
    caller.kill_actor(&actor).await?;

    // Each caller is its own thread with its own connections and actor.
    let (owned, batch) = (address.to_string(), args.batch);
    let multi = on_threads(args.clients, move || {
        let address = owned.clone();
        async move {
            let caller = TaskClient::with_client(connect(&address).await?);
            let actor = new_actor(&caller).await?;
            let incr = Call {
                method: "incr",
                args: Vec::new,
            };
            let rate = async_rate(&caller, &actor, &incr, batch, window).await;
            caller.kill_actor(&actor).await?;
            rate
        }
    })?;
    row!(
        "n:n actor calls async             {multi:>10.0} calls/s  ({} callers and actors; {:.2}x 1:1 async)",
        args.clients.max(1),
        multi / single
    );

    let Ok(wasm) = std::fs::read(&args.async_component) else {
        row!(
            "async-actor rows left out: {} is not there (cargo build --release --target wasm32-wasip2 -p weft-async-actor)",
            args.async_component.display()
        );
        return Ok(());
    };
    client.deploy(wasm, Some(ASYNC_NAME)).await?;
    let echo = Call {
        method: "echo",
        args: || vec![weft_client::Arg::Value(weft_client::Value::U32(7))],
    };
    let concurrent = new_async_actor(&caller).await?;
    let single_async = async_rate(&caller, &concurrent, &echo, args.batch, window).await?;
    caller.kill_actor(&concurrent).await?;
    row!(
        "1:1 async-actor calls async       {single_async:>10.0} calls/s  (max_concurrency 1000; {:.2}x 1:1 actor async)",
        single_async / single
    );
    let (address, batch) = (address.to_string(), args.batch);
    let multi_async = on_threads(args.clients, move || {
        let address = address.clone();
        async move {
            let caller = TaskClient::with_client(connect(&address).await?);
            let actor = new_async_actor(&caller).await?;
            let echo = Call {
                method: "echo",
                args: || vec![weft_client::Arg::Value(weft_client::Value::U32(7))],
            };
            let rate = async_rate(&caller, &actor, &echo, batch, window).await;
            caller.kill_actor(&actor).await?;
            rate
        }
    })?;
    row!(
        "n:n async-actor calls async       {multi_async:>10.0} calls/s  ({} callers and actors; {:.2}x n:n actor async)",
        args.clients.max(1),
        multi_async / multi
    );
    Ok(())
}

/// A method to call in a rate run, and its arguments (made per call).
struct Call {
    method: &'static str,
    args: fn() -> Vec<weft_client::Arg>,
}

/// A concurrent actor of the async-actor component, alive.
async fn new_async_actor(caller: &TaskClient) -> anyhow::Result<ActorHandle> {
    let options = ActorOptions {
        max_concurrency: 1000,
        ..Default::default()
    };
    let actor = caller.create_actor(ASYNC_NAME, "", "", options).await?;
    caller
        .wait_actor_alive(&actor, Duration::from_secs(30))
        .await?;
    Ok(actor)
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
    call: &Call,
    batch: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    let (rate, _) = timed(window, || async {
        let ids = (0..batch.max(1))
            .map(|_| caller.call(actor, call.method, (call.args)()))
            .collect::<Result<Vec<_>, _>>()?;
        check(caller.get(&ids, None).await?)?;
        caller.release(&ids);
        Ok(ids.len() as u64)
    })
    .await?;
    Ok(rate)
}
