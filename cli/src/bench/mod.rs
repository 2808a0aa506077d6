//! `weft bench`: measure a running cluster. It prints figures, never
//! judges them: the ratios against a baseline measured in the same run say
//! where the time goes.
//!
//! `weft bench calls`:
//! - **compile**: deploying a component the cluster has never seen (the
//!   bench appends a unique custom section so the digest is fresh);
//! - **instantiate** and **guest call**: as the host measures them;
//! - **gRPC call**: a warm call through the Rust client, end to end;
//! - **`weft call` process**: the whole CLI, process start included.
//!
//! `weft bench kv`: commit latency and writes/s of key-value puts with 1
//! and 16 concurrent clients (the 1-client run is the baseline).

pub mod actors;
pub mod gpu;
pub mod groups;
pub mod objects;
pub mod streams;
pub mod tasks;
pub mod tune;
pub mod values;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use weft_client::{Call, CallOptions};

use crate::client::connect;
use crate::client::progress::Progress;

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Deploy, instantiation and call latency of one component.
    Calls(BenchArgs),
    /// Commit latency and throughput of key-value writes through the
    /// controller group.
    Kv(KvBenchArgs),
    /// Task throughput: single client sync and async, multi client async
    /// (the names `ray microbenchmark` uses).
    Tasks(tasks::TaskBenchArgs),
    /// Object store: put and get calls/s, put and get bandwidth of large
    /// objects against memcpy, transfer between hosts (the names `ray
    /// microbenchmark` uses).
    Objects(objects::ObjectBenchArgs),
    /// Actor calls: 1:1 sync and async, n:n async (the names `ray
    /// microbenchmark` uses), against a sync task.
    Actors(actors::ActorBenchArgs),
    /// Streaming tasks: generator items/s to one consumer and first-item
    /// latency, against tasks of the same component (the shapes of Ray's
    /// streaming generator).
    Streams(streams::StreamBenchArgs),
    /// Placement groups: created, waited for and removed, per second (the
    /// shape of `ray microbenchmark`'s "placement group create/removal"),
    /// against one replicated write.
    Groups(groups::GroupBenchArgs),
    /// Values: echoing large byte lists through a task (GB/s against
    /// memcpy) and a list of small records (encoded against WAVE).
    Values(values::ValueBenchArgs),
    /// GPUs: gemm and uploads through a guest against the same calls made
    /// natively in this process, and kernel launch latency where the
    /// host's backend has kernels.
    Gpu(gpu::GpuBenchArgs),
    /// Tune: experiments of N trials (random search with ASHA, and FIFO)
    /// against the same trials' work as plain streaming tasks (the shape
    /// `scripts/bench-tune-vs-ray` sets beside Ray Tune).
    Tune(tune::TuneBenchArgs),
}

#[derive(clap::Args)]
pub struct KvBenchArgs {
    /// Writes per run.
    #[arg(long, default_value_t = 2000)]
    writes: usize,
    /// Concurrent clients, one run each (comma-separated); the first run is
    /// the baseline the others are compared with.
    #[arg(long, value_delimiter = ',', default_value = "1,16")]
    clients: Vec<usize>,
    /// Value size in bytes.
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
}

/// The spinner of the bench under way: rows print above it, and it says
/// how many are done while the next one is measured.
static UNDER_WAY: std::sync::Mutex<Option<(Progress, &'static str, usize)>> =
    std::sync::Mutex::new(None);

/// Prints one line of a bench's results (above its spinner).
pub fn print_row(line: String) {
    let mut under_way = UNDER_WAY.lock().unwrap_or_else(|p| p.into_inner());
    match under_way.as_mut() {
        Some((progress, name, rows)) => {
            progress.println(&line);
            *rows += 1;
            progress.say(format!(
                "weft bench {name}: {rows} lines, measuring the next"
            ));
        }
        None => row!("{line}"),
    }
}

/// [`print_row`] with `format!` arguments.
macro_rules! row {
    ($($arg:tt)*) => { $crate::bench::print_row(format!($($arg)*)) };
}
pub(crate) use row;

pub async fn run(address: &str, command: BenchCommand) -> anyhow::Result<()> {
    let name = match &command {
        BenchCommand::Calls(_) => "calls",
        BenchCommand::Kv(_) => "kv",
        BenchCommand::Tasks(_) => "tasks",
        BenchCommand::Objects(_) => "objects",
        BenchCommand::Actors(_) => "actors",
        BenchCommand::Streams(_) => "streams",
        BenchCommand::Groups(_) => "groups",
        BenchCommand::Values(_) => "values",
        BenchCommand::Gpu(_) => "gpu",
        BenchCommand::Tune(_) => "tune",
    };
    let progress = Progress::spinner(&format!("weft bench {name}: measuring"));
    *UNDER_WAY.lock().unwrap_or_else(|p| p.into_inner()) = Some((progress, name, 0));
    let outcome = bench(address, command).await;
    UNDER_WAY.lock().unwrap_or_else(|p| p.into_inner()).take();
    outcome
}

async fn bench(address: &str, command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Calls(args) => calls(address, args).await,
        BenchCommand::Kv(args) => kv(address, args).await,
        BenchCommand::Tasks(args) => tasks::run(address, args).await,
        BenchCommand::Objects(args) => objects::run(address, args).await,
        BenchCommand::Actors(args) => actors::run(address, args).await,
        BenchCommand::Streams(args) => streams::run(address, args).await,
        BenchCommand::Groups(args) => groups::run(address, args).await,
        BenchCommand::Values(args) => values::run(address, args).await,
        BenchCommand::Gpu(args) => gpu::run(address, args).await,
        BenchCommand::Tune(args) => tune::run(address, args).await,
    }
}

/// Runs `args.writes` puts of `value_size` bytes from each client count in
/// turn and prints latency percentiles and throughput.
async fn kv(address: &str, args: KvBenchArgs) -> anyhow::Result<()> {
    let value = vec![b'w'; args.value_size];
    let mut baseline: Option<f64> = None;
    row!(
        "kv writes of {} through {address}",
        weft_host::bytes(args.value_size as u64)
    );
    for &clients in &args.clients {
        let clients = clients.max(1);
        let per_client = (args.writes / clients).max(1);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..clients {
            let (address, value) = (address.to_string(), value.clone());
            tasks.push(tokio::spawn(async move {
                let mut client = weft_client::Client::connect(&address).await?;
                let mut latencies = Vec::with_capacity(per_client);
                for i in 0..per_client {
                    let t = Instant::now();
                    client
                        .kv_put("bench", &format!("c{c}-{i}"), value.clone())
                        .await?;
                    latencies.push(t.elapsed());
                }
                anyhow::Ok(latencies)
            }));
        }
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await??);
        }
        let total = started.elapsed();
        let rate = latencies.len() as f64 / total.as_secs_f64();
        let ratio = baseline
            .map(|b| format!(", {:.2}x the first run", rate / b))
            .unwrap_or_default();
        baseline.get_or_insert(rate);
        row!(
            "{clients:>3} client(s): commit latency {:.2} ms p50, {:.2} ms p99; {:.0} writes/s ({} writes){ratio}",
            ms(percentile(&mut latencies, 50.0)),
            ms(percentile(&mut latencies, 99.0)),
            rate,
            latencies.len()
        );
    }
    Ok(())
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// The component to measure with.
    #[arg(
        long,
        default_value = "target/wasm32-wasip2/release/example_hello.wasm"
    )]
    component: PathBuf,
    /// A cheap call of it, in WAVE.
    #[arg(long, default_value = "greet(\"bench\")")]
    call: String,
    /// Warm calls through the gRPC client.
    #[arg(long, default_value_t = 2000)]
    calls: usize,
    /// Runs of the `weft call` process.
    #[arg(long, default_value_t = 20)]
    cli_calls: usize,
}

/// The bench component's bytes, or how to build it.
/// The digest a deploy answered with.
fn digest_of(deployed: &weft_client::DeployResponse) -> anyhow::Result<String> {
    deployed
        .component
        .as_ref()
        .map(|c| c.digest.clone())
        .context("the cluster sent no component info")
}

pub fn read_component(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| {
        format!(
            "cannot read {} (build the examples: cargo build --release --target wasm32-wasip2 -p example-hello)",
            path.display()
        )
    })
}

async fn calls(address: &str, args: BenchArgs) -> anyhow::Result<()> {
    let wasm = read_component(&args.component)?;
    let mut client = connect(address).await?;

    // A unique custom section makes a new digest, so this deploy compiles.
    let fresh = with_custom_section(&wasm, "weft-bench", &nonce());
    let started = Instant::now();
    let deployed = client.deploy(fresh, Some("weft-bench")).await?;
    let deploy_wall = started.elapsed();
    row!(
        "component: {} ({})",
        args.component.display(),
        weft_host::bytes(wasm.len() as u64)
    );
    row!(
        "deploy (fresh digest): {:>9.1} ms wall, validate {:.1} ms on the controller",
        ms(deploy_wall),
        deployed.validate_micros as f64 / 1000.0
    );

    // Every host compiles the fresh digest now (or, sharing a machine's
    // artifact cache, loads what another compiled), so the first call
    // below measures a ready component.
    let preparing = client.prepare(&digest_of(&deployed)?, None).await?;
    let hosts = preparing.started.hosts.len();
    let reports = preparing.finish().await?;
    let slowest = reports.iter().map(|r| r.micros).max().unwrap_or(0);
    row!(
        "compile on {hosts} host(s): {:>7.1} ms wall (slowest host)",
        slowest as f64 / 1000.0
    );

    let call = || Call::Wave(args.call.clone());
    let first = client
        .call("weft-bench", call(), CallOptions::default())
        .await?;
    row!(
        "first call:            {:>9.3} ms instantiate, {:.3} ms in the guest",
        first.instantiate_micros as f64 / 1000.0,
        first.call_micros as f64 / 1000.0
    );

    let mut wall = Vec::with_capacity(args.calls);
    let mut host_side = Vec::with_capacity(args.calls);
    let mut inst = Vec::with_capacity(args.calls);
    let started = Instant::now();
    for _ in 0..args.calls {
        let t = Instant::now();
        let reply = client
            .call("weft-bench", call(), CallOptions::default())
            .await?;
        wall.push(t.elapsed());
        inst.push(Duration::from_micros(reply.instantiate_micros));
        host_side.push(Duration::from_micros(
            reply.instantiate_micros + reply.call_micros,
        ));
    }
    let total = started.elapsed();
    let (p50, p99) = (percentile(&mut wall, 50.0), percentile(&mut wall, 99.0));
    let host_p50 = percentile(&mut host_side, 50.0);

    // The floor under any call: a unary RPC that does no work, on the
    // same connection.
    let mut empty = Vec::with_capacity(args.calls.min(2000));
    for _ in 0..args.calls.min(2000) {
        let t = Instant::now();
        client.status().await?;
        empty.push(t.elapsed());
    }
    let empty_p50 = percentile(&mut empty, 50.0);
    row!(
        "instantiate (warm):    {:>9.3} ms p50, {:.3} ms p99",
        ms(percentile(&mut inst, 50.0)),
        ms(percentile(&mut inst, 99.0))
    );
    row!(
        "gRPC call (warm):      {:>9.3} ms p50, {:.3} ms p99, {:.0} calls/s sequential ({} calls)",
        ms(p50),
        ms(p99),
        args.calls as f64 / total.as_secs_f64(),
        args.calls
    );
    row!(
        "  baseline, host-side instantiate+call p50 {:.3} ms: the wire and client add {:.2}x",
        ms(host_p50),
        ms(p50) / ms(host_p50).max(1e-9)
    );
    row!(
        "  baseline, an empty RPC (status) p50 {:.3} ms: a call costs {:.3} ms more ({:.2}x)",
        ms(empty_p50),
        ms(p50) - ms(empty_p50),
        ms(p50) / ms(empty_p50).max(1e-9)
    );

    if args.cli_calls > 0 {
        let exe = std::env::current_exe()?;
        let mut runs = Vec::with_capacity(args.cli_calls);
        for _ in 0..args.cli_calls {
            let t = Instant::now();
            let out = std::process::Command::new(&exe)
                .args(["--address", address, "call", "weft-bench", &args.call])
                .output()?;
            runs.push(t.elapsed());
            anyhow::ensure!(
                out.status.success(),
                "weft call failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let cli_p50 = percentile(&mut runs, 50.0);
        row!(
            "`weft call` process:   {:>9.3} ms p50, {:.3} ms p99 ({} runs); {:.1}x the gRPC call",
            ms(cli_p50),
            ms(percentile(&mut runs, 99.0)),
            args.cli_calls,
            ms(cli_p50) / ms(p50).max(1e-9)
        );
    }
    client
        .delete(&deployed.component.map(|c| c.digest).unwrap_or_default())
        .await?;
    Ok(())
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

fn nonce() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// Appends a custom section (id 0) to a component or module: valid anywhere
/// at the top level, ignored by the runtime, and it changes the digest.
pub fn with_custom_section(wasm: &[u8], name: &str, payload: &str) -> Vec<u8> {
    let mut body = leb128(name.len() as u64);
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(payload.as_bytes());
    let mut out = wasm.to_vec();
    out.push(0);
    out.extend(leb128(body.len() as u64));
    out.extend(body);
    out
}

fn leb128(mut n: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}

/// Runs `op` back to back for `window`; returns operations per second
/// (each run of `op` says how many it did) and each run's latency.
pub async fn timed<F, Fut>(window: Duration, mut op: F) -> anyhow::Result<(f64, Vec<Duration>)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<u64>>,
{
    let (mut n, mut latencies, started) = (0u64, Vec::new(), Instant::now());
    while started.elapsed() < window {
        let t = Instant::now();
        n += op().await?;
        latencies.push(t.elapsed());
    }
    Ok((n as f64 / started.elapsed().as_secs_f64(), latencies))
}

/// Runs `client` on `n` threads at once, each with its own single-thread
/// runtime (as Ray's multi-client runs use separate processes); returns
/// the sum of their rates.
pub fn on_threads<F, Fut>(n: usize, client: F) -> anyhow::Result<f64>
where
    F: Fn() -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = anyhow::Result<f64>>,
{
    let threads: Vec<_> = (0..n.max(1))
        .map(|_| {
            let client = client.clone();
            std::thread::spawn(move || -> anyhow::Result<f64> {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?
                    .block_on(client())
            })
        })
        .collect();
    let mut total = 0.0;
    for t in threads {
        total += t
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))??;
    }
    Ok(total)
}

/// Fails with the first failed result's error.
pub fn check(results: Vec<weft_client::TaskResult>) -> anyhow::Result<()> {
    match results.into_iter().find(|r| !r.ok) {
        Some(r) => anyhow::bail!("{} failed: {}", r.id, r.error),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_encodes() {
        assert_eq!(leb128(0), vec![0]);
        assert_eq!(leb128(127), vec![127]);
        assert_eq!(leb128(128), vec![0x80, 1]);
        assert_eq!(leb128(300), vec![0xac, 0x02]);
    }
}
