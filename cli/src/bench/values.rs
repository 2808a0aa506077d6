//! `weft bench values`: what moving values to a task and back costs.
//!
//! - **bytes**: a task that echoes a `list<u8>` of each size, from the
//!   submit to the result's bytes in this client, in GB/s against a plain
//!   `memcpy` of the same bytes into fresh pages in the same run (the value
//!   is copied into the guest and out again, at least twice that);
//! - **records**: a task that echoes a list of small records (`{x, y,
//!   label}`), typed once and sent encoded, against the same task with the
//!   arguments given as WAVE text and the result rendered as WAVE each
//!   time, and against a direct call that takes and returns WAVE (the
//!   path every value took before the binary encoding).

use crate::bench::row;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use weft_client::{Arg, Call, CallOptions, TaskClient, TaskOptions, Value, value_of};

use crate::bench::timed;
use crate::client::connect;

#[derive(clap::Args)]
pub struct ValueBenchArgs {
    /// The echo component (examples/echo).
    #[arg(long, default_value = "target/wasm32-wasip2/release/example_echo.wasm")]
    component: PathBuf,
    /// Sizes of the byte lists; K, M and G suffixes are binary.
    #[arg(long, value_delimiter = ',', default_value = "1M,100M",
          value_parser = crate::server::host::parse_bytes)]
    sizes: Vec<u64>,
    /// Rounds of each byte echo (the best is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Records in the record echo.
    #[arg(long, default_value_t = 10_000)]
    records: u32,
    /// Seconds each record measurement runs.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
}

const NAME: &str = "weft-bench-echo";

pub async fn run(address: &str, args: ValueBenchArgs) -> anyhow::Result<()> {
    let wasm = crate::bench::read_component(&args.component)?;
    let mut client = connect(address).await?;
    client.deploy(wasm, Some(NAME)).await?;
    let tasks = TaskClient::with_client(client.clone());
    row!("values through {address}");

    for &size in &args.sizes {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
        let data = bytes::Bytes::from(data);
        let (mut copy, mut echo) = (f64::MAX, f64::MAX);
        for _ in 0..args.rounds.max(1) {
            let t = Instant::now();
            let mut fresh = vec![0u8; data.len()];
            fresh.copy_from_slice(&data);
            copy = copy.min(t.elapsed().as_secs_f64());
            std::hint::black_box(&fresh);
            drop(fresh);

            let t = Instant::now();
            let id = tasks
                .submit(
                    NAME,
                    "echo-bytes",
                    vec![Arg::bytes(data.clone())],
                    TaskOptions::default(),
                )
                .await?;
            let object = tasks.get_object(&id, None).await?;
            // The clock stops once every byte came back and was compared.
            anyhow::ensure!(object[..] == data[..], "the echo changed the bytes");
            echo = echo.min(t.elapsed().as_secs_f64());
            drop(object);
            tasks.release(&[id]);
        }
        let gb = |secs: f64| size as f64 / secs / 1e9;
        let rounds = args.rounds.max(1);
        row!(
            "memcpy {:>8} (baseline)              {:>8.2} GB/s  (best of {rounds})",
            weft_host::bytes(size),
            gb(copy)
        );
        row!(
            "task echo of list<u8> {:>8}       {:>8.2} GB/s  ({:.1} ms end to end, every byte read back and compared; best of {rounds}; {:.0}% of memcpy)",
            weft_host::bytes(size),
            gb(echo),
            echo * 1e3,
            100.0 * copy / echo
        );
    }

    // A list of small records: encoded once, against WAVE at every step.
    let window = Duration::from_secs_f64(args.seconds);
    let wave = points_wave(args.records);
    let typed = tasks
        .typed(NAME, "echo-points", vec![Arg::Wave(wave.clone())])
        .await?;
    let (binary, _) = timed(window, || async {
        let id = tasks
            .submit(NAME, "echo-points", typed.clone(), TaskOptions::default())
            .await?;
        let result = tasks.get(std::slice::from_ref(&id), None).await?.remove(0);
        tasks.release(&[id]);
        let value = value_of(result)?;
        anyhow::ensure!(
            matches!(&value, Some(Value::List(l)) if l.len() == args.records as usize),
            "the echo lost records"
        );
        Ok(1)
    })
    .await?;
    let (text, _) = timed(window, || async {
        let id = tasks
            .submit(
                NAME,
                "echo-points",
                vec![Arg::Wave(wave.clone())],
                TaskOptions::default(),
            )
            .await?;
        let result = tasks.get(std::slice::from_ref(&id), None).await?.remove(0);
        tasks.release(&[id]);
        let rendered = value_of(result)?.map(|v| weft_client::values::to_wave(&v));
        anyhow::ensure!(
            rendered.is_some_and(|r| r.len() >= wave.len()),
            "the echo lost records"
        );
        Ok(1)
    })
    .await?;
    let call = Call::Wave(format!("echo-points({wave})"));
    let (direct, _) = timed(window, || async {
        let reply = client
            .clone()
            .call(NAME, call.clone(), CallOptions::default())
            .await?;
        anyhow::ensure!(reply.result.len() >= wave.len(), "the echo lost records");
        Ok(1)
    })
    .await?;
    row!(
        "direct call, WAVE in and out (baseline)  {direct:>8.1} calls/s  ({} records of {{x, y, label}}; {} of WAVE)",
        args.records,
        weft_host::bytes(wave.len() as u64)
    );
    row!(
        "task, WAVE typed and rendered each time  {text:>8.1} tasks/s  ({:.2}x the direct call)",
        text / direct
    );
    row!(
        "task, encoded values                     {binary:>8.1} tasks/s  ({:.2}x the direct call, {:.2}x WAVE each time)",
        binary / direct,
        binary / text
    );
    Ok(())
}

/// `[{x: 0, y: 0, label: "p0"}, ...]` with `n` points.
pub fn points_wave(n: u32) -> String {
    let points: Vec<String> = (0..n as i64)
        .map(|i| format!("{{x: {i}, y: {}, label: \"p{i}\"}}", -i))
        .collect();
    format!("[{}]", points.join(", "))
}
