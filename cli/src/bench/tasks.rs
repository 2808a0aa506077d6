//! `weft bench tasks`: task throughput under the names `ray
//! microbenchmark` uses, so the two print side by side:
//!
//! - **single client tasks sync**: submit one task, wait for it, repeat;
//! - **single client tasks async**: submit a batch, wait for all, repeat;
//! - **multi client tasks async**: several owners doing the same at once;
//! - **nested tasks from a guest**: a guest (the testkit's `fanout.adds`)
//!   submits a batch of `add` tasks itself and waits for all, beside the
//!   Rust client's async rate for the same tasks.
//!
//! The baseline, measured in the same run, is the direct call (`Call`
//! RPC): one round trip that runs the function on the controller's own
//! host. The ratio says what the task machinery (owner session, queue,
//! scheduler, host session) costs or gains against it.
//!
//! With `--scrape`, single-client async runs alternate with runs made
//! while Prometheus endpoints are scraped every second, and the medians
//! are compared: what metrics cost the hot path.

use crate::bench::row;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use weft_client::{Arg, Call, CallOptions, Submission, TaskClient, TaskOptions, Value};

use crate::bench::{check, ms, on_threads, percentile, timed};
use crate::client::connect;

#[derive(clap::Args)]
pub struct TaskBenchArgs {
    /// The component whose function each task calls.
    #[arg(
        long,
        default_value = "target/wasm32-wasip2/release/example_hello.wasm"
    )]
    component: PathBuf,
    /// The function each task calls.
    #[arg(long, default_value = "greet")]
    function: String,
    /// Its arguments, in WAVE, comma-separated.
    #[arg(long, default_value = "\"ok\"")]
    args: String,
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Tasks per batch in the async runs.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Owners in the multi-client run.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Tasks one instance may run (the `max_calls` task option); 1 gives
    /// every task a fresh instance.
    #[arg(long, default_value_t = 1)]
    max_calls: u32,
    /// Metrics endpoints (`HOST:PORT`, comma-separated: what
    /// `--metrics-port` serves) to scrape every second during a second
    /// single-client async run.
    #[arg(long, value_delimiter = ',')]
    scrape: Vec<String>,
    /// The guest that submits nested tasks for the nested row: the test
    /// guest `weft-testkit` (`cargo build --release --target wasm32-wasip2
    /// -p weft-testkit`); the row is left out, saying so, when it is not
    /// there.
    #[arg(long, default_value = "target/wasm32-wasip2/release/weft_testkit.wasm")]
    nested_component: PathBuf,
}

const NAME: &str = "weft-bench-tasks";

pub async fn run(address: &str, args: TaskBenchArgs) -> anyhow::Result<()> {
    let wasm = crate::bench::read_component(&args.component)?;
    let mut client = connect(address).await?;
    client.deploy(wasm, Some(NAME)).await?;
    let nodes = client.list_nodes().await?;
    let live: Vec<String> = nodes
        .iter()
        .filter(|n| n.alive)
        .map(|n| {
            format!(
                "{} ({} cpus)",
                n.id,
                n.total.as_ref().map_or(0.0, |t| t.cpus)
            )
        })
        .collect();
    anyhow::ensure!(
        !live.is_empty(),
        "no worker host is registered: start `weft host` or use `weft up`"
    );
    row!(
        "tasks of {}.{}({}) through {address}",
        NAME,
        args.function,
        args.args
    );
    row!("hosts: {}", live.join(", "));
    if args.max_calls > 1 {
        row!(
            "instances: reused for up to {} tasks of one owner",
            args.max_calls
        );
    }
    let window = Duration::from_secs_f64(args.seconds);
    let task_args: Vec<Arg> = crate::client::tasks::split_call(&format!("f({})", args.args))?
        .1
        .into_iter()
        .map(Arg::Wave)
        .collect();
    let mut submission = Submission {
        component: NAME.into(),
        function: args.function.clone(),
        args: task_args,
        options: TaskOptions {
            max_calls: args.max_calls,
            ..TaskOptions::default()
        },
    };

    // Baseline: the direct call, one round trip (after one untimed call:
    // the first may wait for the component to be compiled).
    let call = Call::Wave(format!("{}({})", args.function, args.args));
    client
        .call(NAME, call.clone(), CallOptions::default())
        .await?;
    let (mut n, started) = (0u64, Instant::now());
    while started.elapsed() < window {
        client
            .call(NAME, call.clone(), CallOptions::default())
            .await?;
        n += 1;
    }
    let direct = n as f64 / started.elapsed().as_secs_f64();
    row!("direct call (baseline)            {direct:>10.0} calls/s");
    // The transport's own round trip on the same channel: the floor under
    // a synchronous task (client -> leader -> host -> leader -> client).
    let mut empty = Vec::with_capacity(1000);
    let started = Instant::now();
    while started.elapsed() < window.min(Duration::from_secs(2)) {
        let t = Instant::now();
        client.status().await?;
        empty.push(t.elapsed());
    }
    let empty_p50 = percentile(&mut empty, 50.0);
    row!(
        "transport: an empty RPC (status)  p50 {:.3} ms on the same channel ({} round trips)",
        ms(empty_p50),
        empty.len()
    );

    let tasks = TaskClient::with_client(client.clone());
    // Typed once: every submission then carries encoded values.
    submission.args = tasks
        .typed(NAME, &submission.function, submission.args)
        .await?;
    let (sync, mut latencies) = sync_rate(&tasks, &submission, window).await?;
    let sync_p50 = percentile(&mut latencies, 50.0);
    row!(
        "single client tasks sync          {sync:>10.0} tasks/s  (p50 {:.3} ms = {:.1}x an empty RPC, p99 {:.3} ms; {:.2}x the direct call)",
        ms(sync_p50),
        ms(sync_p50) / ms(empty_p50).max(1e-9),
        ms(percentile(&mut latencies, 99.0)),
        sync / direct
    );

    let single = async_rate(&tasks, &submission, args.batch, window).await?;
    row!(
        "single client tasks async         {single:>10.0} tasks/s  ({:.2}x sync, batches of {})",
        single / sync,
        args.batch
    );

    if !args.scrape.is_empty() {
        // Run to run, async throughput moves by more than scraping costs:
        // runs with and without alternate, and their medians are compared.
        let (mut plain, mut scraped) = (vec![single], Vec::new());
        let (mut scrapes, mut bytes) = (0, 0);
        for round in 0..SCRAPE_ROUNDS {
            if round > 0 {
                plain.push(async_rate(&tasks, &submission, args.batch, window).await?);
            }
            let scraper = Scraper::start(args.scrape.clone());
            scraped.push(async_rate(&tasks, &submission, args.batch, window).await?);
            let (n, b) = scraper.stop().await?;
            (scrapes, bytes) = (scrapes + n, bytes + b);
        }
        let (plain, scraped) = (median(&mut plain), median(&mut scraped));
        row!(
            "  scraped every second (median)    {scraped:>10.0} tasks/s  ({:.3}x the {plain:.0} unscraped; {SCRAPE_ROUNDS} runs each, alternating; {scrapes} scrapes of {} endpoint(s), {} KiB each)",
            scraped / plain,
            args.scrape.len(),
            bytes / scrapes.max(1) / 1024
        );
    }

    // Each client is its own thread with its own connection.
    let (address, batch) = (address.to_string(), args.batch);
    let multi = on_threads(args.clients, move || {
        let (address, submission) = (address.clone(), submission.clone());
        async move {
            let owner = TaskClient::with_client(connect(&address).await?);
            async_rate(&owner, &submission, batch, window).await
        }
    })?;
    row!(
        "multi client tasks async          {multi:>10.0} tasks/s  ({} clients; {:.2}x single client async)",
        args.clients.max(1),
        multi / single
    );
    nested(&client, &args.nested_component, args.batch, window).await
}

/// The name the nested row's guest is deployed under.
const NESTED: &str = "weft-bench-nested";

/// Nested tasks from a guest against the same tasks from the Rust client,
/// both in batches of `batch` `add` tasks, measured back to back.
async fn nested(
    client: &weft_client::Client,
    component: &std::path::Path,
    batch: usize,
    window: Duration,
) -> anyhow::Result<()> {
    let Ok(wasm) = std::fs::read(component) else {
        row!(
            "nested tasks from a guest         (left out: no {}; build it with `cargo build --release --target wasm32-wasip2 -p weft-testkit`)",
            component.display()
        );
        return Ok(());
    };
    client.clone().deploy(wasm, Some(NESTED)).await?;
    let tasks = TaskClient::with_client(client.clone());
    let submission = |function: &str, args: Vec<Value>| Submission {
        component: NESTED.into(),
        function: function.into(),
        args: args.into_iter().map(Arg::Value).collect(),
        options: TaskOptions::default(),
    };
    let add = submission("add", vec![Value::S32(1), Value::S32(1)]);
    let from_client = async_rate(&tasks, &add, batch, window).await?;
    let n = batch.max(1) as u32;
    let driver = submission(
        "fanout.adds",
        vec![Value::String(NESTED.into()), Value::U32(n)],
    );
    // One untimed round: the guest's first run compiles nothing twice.
    check(
        tasks
            .get(&tasks.submit_batch(vec![driver.clone()]).await?, None)
            .await?,
    )?;
    let (from_guest, _) = timed(window, || async {
        let ids = tasks.submit_batch(vec![driver.clone()]).await?;
        check(tasks.get(&ids, None).await?)?;
        tasks.release(&ids);
        Ok(u64::from(n))
    })
    .await?;
    row!(
        "client tasks async of add         {from_client:>10.0} tasks/s  (the nested row's tasks, from the Rust client; batches of {n})"
    );
    row!(
        "nested tasks from a guest         {from_guest:>10.0} tasks/s  ({:.2}x the client's; batches of {n} submitted by a guest task)",
        from_guest / from_client
    );
    Ok(())
}

/// Submits one task and waits for it, for `window`: tasks per second and
/// each round trip's latency.
pub async fn sync_rate(
    tasks: &TaskClient,
    submission: &Submission,
    window: Duration,
) -> anyhow::Result<(f64, Vec<Duration>)> {
    timed(window, || async {
        let ids = tasks.submit_batch(vec![submission.clone()]).await?;
        check(tasks.get(&ids, None).await?)?;
        tasks.release(&ids);
        Ok(1)
    })
    .await
}

/// Submits batches and waits for each, for `window`; tasks per second.
async fn async_rate(
    tasks: &TaskClient,
    submission: &Submission,
    batch: usize,
    window: Duration,
) -> anyhow::Result<f64> {
    let (rate, _) = timed(window, || async {
        let ids = tasks
            .submit_batch(vec![submission.clone(); batch.max(1)])
            .await?;
        check(tasks.get(&ids, None).await?)?;
        tasks.release(&ids);
        Ok(ids.len() as u64)
    })
    .await?;
    Ok(rate)
}

/// Runs with and without scraping, each, for `--scrape`.
const SCRAPE_ROUNDS: usize = 5;

fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}

/// Scrapes metrics endpoints every second in the background, as a
/// Prometheus server would.
struct Scraper {
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<anyhow::Result<(u64, u64)>>,
}

impl Scraper {
    fn start(endpoints: Vec<String>) -> Self {
        let (stop, mut stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(async move {
            let (mut scrapes, mut bytes) = (0u64, 0u64);
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stopped.changed() => return Ok((scrapes, bytes)),
                }
                for endpoint in &endpoints {
                    bytes += scrape(endpoint).await? as u64;
                    scrapes += 1;
                }
            }
        });
        Scraper { stop, task }
    }

    /// Stops scraping; returns the scrapes made and the bytes they read.
    async fn stop(self) -> anyhow::Result<(u64, u64)> {
        let _ = self.stop.send(true);
        self.task.await?
    }
}

/// One `GET /metrics` of `endpoint` (`HOST:PORT`); the body's size.
async fn scrape(endpoint: &str) -> anyhow::Result<usize> {
    use anyhow::Context;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(endpoint)
        .await
        .with_context(|| format!("cannot reach the metrics endpoint {endpoint}"))?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {endpoint}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let text = String::from_utf8_lossy(&response);
    anyhow::ensure!(
        text.starts_with("HTTP/1.1 200"),
        "{endpoint} answered {}",
        text.lines().next().unwrap_or("nothing")
    );
    Ok(text
        .split_once("\r\n\r\n")
        .map_or(0, |(_, body)| body.len()))
}
