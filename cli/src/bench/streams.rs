//! `weft bench streams`: streaming tasks, under the shapes Ray's streaming
//! generator is measured by (`scripts/bench-streams-vs-ray` runs both):
//!
//! - **generator items**: one task emits N small items (the testkit's
//!   `streams.count`), one consumer reads each; items/s from submission to
//!   the last item read, best of the rounds;
//! - **first item latency**: a stream of one item, from submission to its
//!   arrival, p50 and p99;
//! - **with backpressure**: the items row with the producer held to a
//!   window of unread items.
//!
//! The baselines, measured in the same run on the same client: the async
//! rate of tasks of the same function (what a stream's items replace), and
//! a synchronous task's round trip (what the first item's latency is
//! against).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use weft_client::{Arg, Submission, TaskClient, TaskOptions, Value};

use crate::bench::{check, ms, percentile, row};
use crate::client::connect;

#[derive(clap::Args)]
pub struct StreamBenchArgs {
    /// The test guest, whose `streams.count` emits the items
    /// (`cargo build --release --target wasm32-wasip2 -p weft-testkit`).
    #[arg(long, default_value = "target/wasm32-wasip2/release/weft_testkit.wasm")]
    component: PathBuf,
    /// Items of one generator.
    #[arg(long, default_value_t = 100_000)]
    items: u32,
    /// Rounds of the items rows (the best is printed).
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Streams of one item timed for the latency row.
    #[arg(long, default_value_t = 500)]
    latency_samples: usize,
    /// The window of the backpressure row.
    #[arg(long, default_value_t = 1000)]
    window: u32,
}

const NAME: &str = "weft-bench-streams";

pub async fn run(address: &str, args: StreamBenchArgs) -> anyhow::Result<()> {
    let wasm = crate::bench::read_component(&args.component)?;
    let mut client = connect(address).await?;
    client.deploy(wasm, Some(NAME)).await?;
    let tasks = TaskClient::connect(address).await?;
    row!("streaming tasks of {NAME}.streams.count through {address}");

    // Baselines: tasks of the same component, async (a batch) and sync.
    let add = |i: u32| Submission {
        component: NAME.into(),
        function: "add".into(),
        args: vec![Arg::Value(Value::S32(i as i32)), Arg::Value(Value::S32(1))],
        options: TaskOptions::default(),
    };
    let batch = args.items.min(10_000);
    let mut task_rate: f64 = 0.0;
    for _ in 0..args.rounds {
        let started = Instant::now();
        let ids = tasks.submit_batch((0..batch).map(add).collect()).await?;
        check(tasks.get(&ids, None).await?)?;
        tasks.release(&ids);
        task_rate = task_rate.max(f64::from(batch) / started.elapsed().as_secs_f64());
    }
    let mut sync = Vec::with_capacity(args.latency_samples);
    for i in 0..args.latency_samples {
        let started = Instant::now();
        let id = tasks.submit_batch(vec![add(i as u32)]).await?.remove(0);
        check(tasks.get(std::slice::from_ref(&id), None).await?)?;
        sync.push(started.elapsed());
        tasks.release(&[id]);
    }
    let sync_p50 = percentile(&mut sync, 50.0);
    row!(
        "baseline: async tasks {task_rate:.0} tasks/s (batches of {batch}, best of {}); sync task p50 {:.3} ms",
        args.rounds,
        ms(sync_p50)
    );

    let mut rate: f64 = 0.0;
    for _ in 0..args.rounds {
        rate = rate.max(items_per_second(&tasks, args.items, 0).await?);
    }
    row!(
        "generator items {rate:.0} items/s ({} items to one consumer, best of {}; {:.1}x async tasks)",
        args.items,
        args.rounds,
        rate / task_rate
    );

    let mut first = Vec::with_capacity(args.latency_samples);
    for _ in 0..args.latency_samples {
        let started = Instant::now();
        let mut stream = submit_count(&tasks, 1, 0).await?;
        let item = stream
            .next(None)
            .await?
            .ok_or_else(|| anyhow::anyhow!("a stream of one item ended with none"))?;
        first.push(started.elapsed());
        while stream.next(None).await?.is_some() {}
        tasks.release(&[item, stream.task_id().to_string()]);
    }
    let p50 = percentile(&mut first, 50.0);
    let p99 = percentile(&mut first, 99.0);
    row!(
        "first item latency p50 {:.3} ms, p99 {:.3} ms ({} streams; {:.2}x a sync task's round trip)",
        ms(p50),
        ms(p99),
        args.latency_samples,
        p50.as_secs_f64() / sync_p50.as_secs_f64().max(1e-9)
    );

    let mut held: f64 = 0.0;
    for _ in 0..args.rounds {
        held = held.max(items_per_second(&tasks, args.items, args.window).await?);
    }
    row!(
        "generator items with backpressure {held:.0} items/s (window {}, best of {}; {:.2}x without)",
        args.window,
        args.rounds,
        held / rate
    );
    Ok(())
}

/// Submits `streams.count(n, 0, 0)` as a stream with `window` (0: none).
async fn submit_count(
    tasks: &TaskClient,
    n: u32,
    window: u32,
) -> anyhow::Result<weft_client::ItemStream> {
    let id = tasks
        .submit(
            NAME,
            "streams.count",
            vec![
                Arg::Value(Value::U32(n)),
                Arg::Value(Value::U32(0)),
                Arg::Value(Value::U32(0)),
            ],
            TaskOptions {
                streaming: true,
                stream_backpressure: window,
                ..Default::default()
            },
        )
        .await?;
    Ok(tasks.stream(&id, window > 0))
}

/// One generator of `n` items read to its end, each item's value checked;
/// items/s from submission to the last item.
async fn items_per_second(tasks: &TaskClient, n: u32, window: u32) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut stream = submit_count(tasks, n, window).await?;
    let mut read = 0u32;
    let mut done = Vec::with_capacity(1024);
    while let Some(item) = stream.next(Some(Duration::from_secs(120))).await? {
        let value = tasks.get_values(std::slice::from_ref(&item), None).await?;
        anyhow::ensure!(
            matches!(value.first(), Some(Some(Value::U32(v))) if *v == read),
            "item {read} of the stream is {value:?}"
        );
        read += 1;
        done.push(item);
        if done.len() == 1024 {
            tasks.release(&done);
            done.clear();
        }
    }
    let elapsed = started.elapsed();
    tasks.release(&done);
    tasks.release(&[stream.task_id().to_string()]);
    anyhow::ensure!(read == n, "the stream ended after {read} of {n} items");
    Ok(f64::from(n) / elapsed.as_secs_f64())
}
