//! `weft bench gpu`: GPU work through a guest against the same work called
//! natively, in one run.
//!
//! The guest side is `examples/gpu-bench`, run as tasks given one GPU; it
//! times itself with its own clock, so the task's overhead is not counted.
//! The native side calls the same backend as the hosts' from this
//! process: on `cuda`, this process's own context on device 0 (cuBLAS
//! and the driver, as a native program would call them); on `cpu`, the
//! reference backend. Rows: gemm (n x n x n in each dtype), uploads from
//! memory, uploads from an object and downloads into a new one (against
//! plain uploads and downloads), and, where the backend has kernels, an
//! empty kernel's launch and synchronize.

use std::path::PathBuf;
use std::time::Instant;

use weft_client::{Arg, TaskClient, TaskOptions, Value, value_of};
use weft_host::gpu::blas;

use crate::bench::row;
use crate::client::connect;

#[derive(clap::Args)]
pub struct GpuBenchArgs {
    /// The guest side (examples/gpu-bench).
    #[arg(
        long,
        default_value = "target/wasm32-wasip2/release/example_gpu_bench.wasm"
    )]
    component: PathBuf,
    /// Sizes n of the n x n x n gemms [default: 4096,8192 on cuda,
    /// 256,512 on cpu].
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<u32>,
    /// Element types of the gemms: f32, f16, bf16.
    #[arg(long, value_delimiter = ',', default_value = "f32,bf16")]
    dtypes: Vec<String>,
    /// Gemms (and uploads) per measurement.
    #[arg(long, default_value_t = 3)]
    reps: u32,
    /// Size of one upload, in MiB.
    #[arg(long, default_value_t = 64)]
    upload_mib: u32,
}

const NAME: &str = "weft-bench-gpu";

/// Runs `function` with `args` (WAVE, one per parameter) as a task given
/// one GPU: the seconds it reports.
async fn guest_seconds(tasks: &TaskClient, function: &str, args: &[String]) -> anyhow::Result<f64> {
    let args = args.iter().map(|a| Arg::Wave(a.clone())).collect();
    guest_seconds_of(tasks, function, args).await
}

/// [`guest_seconds`] with arguments of any kind.
async fn guest_seconds_of(
    tasks: &TaskClient,
    function: &str,
    args: Vec<Arg>,
) -> anyhow::Result<f64> {
    match guest_ok(tasks, function, args).await? {
        Value::F64(seconds) => Ok(seconds),
        other => anyhow::bail!("{function}: not seconds: {other:?}"),
    }
}

/// Runs the bench guest's `function` as a task with one GPU and returns
/// the `ok` of the `result` it returns.
async fn guest_ok(tasks: &TaskClient, function: &str, args: Vec<Arg>) -> anyhow::Result<Value> {
    let options = TaskOptions {
        gpus: 1,
        ..TaskOptions::default()
    };
    let args = tasks.typed(NAME, function, args).await?;
    let id = tasks.submit(NAME, function, args, options).await?;
    let result = tasks.get(&[id], None).await?.remove(0);
    anyhow::ensure!(result.ok, "{function}: {}", result.error);
    match value_of(result)? {
        Some(Value::Result(Ok(Some(value)))) => Ok(*value),
        Some(Value::Result(Err(Some(error)))) => match *error {
            Value::String(error) => anyhow::bail!("{function}: {error}"),
            other => anyhow::bail!("{function}: {other:?}"),
        },
        other => anyhow::bail!("{function}: {other:?}"),
    }
}

/// The seconds the guest's `launch-seconds` took, or `None` when the
/// host's backend runs no kernels (the guest says so as `none`).
async fn launch_seconds(tasks: &TaskClient, reps: u32) -> anyhow::Result<Option<f64>> {
    let args = vec![Arg::Wave(reps.to_string())];
    match guest_ok(tasks, "launch-seconds", args).await? {
        Value::Option(None) => Ok(None),
        Value::Option(Some(seconds)) => match *seconds {
            Value::F64(seconds) => Ok(Some(seconds)),
            other => anyhow::bail!("launch-seconds: not seconds: {other:?}"),
        },
        other => anyhow::bail!("launch-seconds: {other:?}"),
    }
}

fn dtype(name: &str) -> anyhow::Result<(blas::Dtype, Vec<u8>)> {
    Ok(match name {
        "f32" => (blas::Dtype::F32, 1f32.to_le_bytes().to_vec()),
        "f16" => (blas::Dtype::F16, vec![0x00, 0x3c]),
        "bf16" => (blas::Dtype::Bf16, vec![0x80, 0x3f]),
        other => anyhow::bail!("no dtype {other} (f32, f16, bf16)"),
    })
}

/// The guest's empty kernel.
const EMPTY: &str = include_str!("../../../examples/gpu-bench/src/empty.ptx");

/// This process's own backend of `kind` (`cuda` or `cpu`), with room for
/// `bytes` on the cpu one.
fn native_backend(
    kind: &str,
    bytes: u64,
) -> anyhow::Result<std::sync::Arc<dyn weft_host::gpu::Backend>> {
    Ok(match kind {
        "cuda" => weft_host::gpu::cuda(Some(1))?,
        _ => weft_host::gpu::cpu(1, bytes),
    })
}

/// Seconds `reps` gemms take when this process calls the backend itself.
fn native_gemm(kind: &str, name: &str, n: u32, reps: u32) -> anyhow::Result<f64> {
    let (dtype, one) = dtype(name)?;
    let elements = u64::from(n) * u64::from(n);
    let bytes = elements * dtype.size();
    let backend = native_backend(kind, bytes * 3)?;
    let make = || -> anyhow::Result<Box<dyn weft_host::gpu::Memory>> {
        let memory = backend.alloc(0, bytes)?;
        memory.write(0, &one.repeat(elements as usize))?;
        Ok(memory)
    };
    let (a, b, c) = (make()?, make()?, make()?);
    let op = blas::Gemm::new(dtype, n, n, n);
    backend.gemm(0, &op, &*a, &*b, &*c)?;
    let started = Instant::now();
    for _ in 0..reps {
        backend.gemm(0, &op, &*a, &*b, &*c)?;
        backend.synchronize(0)?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Seconds `reps` uploads of `mib` MiB take when this process calls the
/// backend itself.
fn native_upload(kind: &str, mib: u32, reps: u32) -> anyhow::Result<f64> {
    let data = vec![7u8; (mib as usize) << 20];
    let backend = native_backend(kind, data.len() as u64)?;
    let memory = backend.alloc(0, data.len() as u64)?;
    memory.write(0, &data)?;
    let started = Instant::now();
    for _ in 0..reps {
        memory.write(0, &data)?;
    }
    backend.synchronize(0)?;
    Ok(started.elapsed().as_secs_f64())
}

/// Seconds `reps` downloads of `mib` MiB into memory take when this
/// process calls the backend itself.
fn native_download(kind: &str, mib: u32, reps: u32) -> anyhow::Result<f64> {
    let bytes = u64::from(mib) << 20;
    let backend = native_backend(kind, bytes)?;
    let memory = backend.alloc(0, bytes)?;
    drop(memory.read(0, bytes)?);
    let started = Instant::now();
    for _ in 0..reps {
        drop(memory.read(0, bytes)?);
    }
    Ok(started.elapsed().as_secs_f64())
}

/// Seconds `reps` launches of an empty kernel, each synchronized, take
/// when this process calls the backend itself.
fn native_launch(kind: &str, reps: u32) -> anyhow::Result<f64> {
    let backend = native_backend(kind, 0)?;
    let kernels = backend.load_ptx(0, EMPTY)?;
    let one = weft_host::gpu::Launch {
        grid: (1, 1, 1),
        block: (1, 1, 1),
        shared_bytes: 0,
    };
    let launch = || -> anyhow::Result<()> {
        kernels.launch("empty", &one, &[])?;
        Ok(backend.synchronize(0)?)
    };
    launch()?;
    let started = Instant::now();
    for _ in 0..reps {
        launch()?;
    }
    Ok(started.elapsed().as_secs_f64())
}

/// A row of `bytes` moved in `guest` seconds by the guest and `native`
/// seconds by this process (`baseline` names how).
fn bandwidth_row(what: &str, baseline: &str, bytes: f64, guest: f64, native: f64) {
    row!(
        "{what}  guest {:>6.2} GB/s  {baseline} {:>6.2} GB/s  ({:.2}x native)",
        bytes / guest / 1e9,
        bytes / native / 1e9,
        native / guest
    );
}

pub async fn run(address: &str, args: GpuBenchArgs) -> anyhow::Result<()> {
    let wasm = crate::bench::read_component(&args.component)?;
    let mut client = connect(address).await?;
    let gpus: Vec<String> = client
        .list_nodes()
        .await?
        .into_iter()
        .filter(|n| n.alive && !n.gpu.is_empty())
        .map(|n| format!("{}: {}", n.id, n.gpu))
        .collect();
    anyhow::ensure!(
        !gpus.is_empty(),
        "no live host offers GPUs: start one with --gpus N"
    );
    // `ID: cuda: 1 x NVIDIA H200 (...)`: the backend's name.
    let kind = gpus[0]
        .split(':')
        .nth(1)
        .map_or("cpu", str::trim)
        .to_string();
    let sizes = match (args.sizes.is_empty(), kind.as_str()) {
        (false, _) => args.sizes.clone(),
        (true, "cuda") => vec![4096, 8192],
        (true, _) => vec![256, 512],
    };
    client.deploy(wasm, Some(NAME)).await?;
    let tasks = TaskClient::with_client(client.clone());
    row!(
        "gpu work through {address} (hosts {}) against this process calling the {kind} backend",
        gpus.join("; ")
    );
    let reps = args.reps.max(1);
    for name in &args.dtypes {
        for &n in &sizes {
            let call = [format!("\"{name}\""), n.to_string(), reps.to_string()];
            let guest = guest_seconds(&tasks, "gemm-seconds", &call).await?;
            let (kind_, name_, n_) = (kind.clone(), name.clone(), n);
            let native = tokio::task::spawn_blocking(move || native_gemm(&kind_, &name_, n_, reps))
                .await??;
            let flops = 2.0 * f64::from(n).powi(3) * f64::from(reps);
            row!(
                "gemm {n}^3 {name:<5} guest {:>9.2} GFLOP/s  native {:>9.2} GFLOP/s  ({:.2}x native)",
                flops / guest / 1e9,
                flops / native / 1e9,
                native / guest
            );
        }
    }
    let mib = args.upload_mib.max(1);
    let call = [mib.to_string(), reps.to_string()];
    let guest = guest_seconds(&tasks, "upload-seconds", &call).await?;
    let kind_ = kind.clone();
    let native = tokio::task::spawn_blocking(move || native_upload(&kind_, mib, reps)).await??;
    let bytes = f64::from(mib) * f64::from(1u32 << 20) * f64::from(reps);
    bandwidth_row(
        &format!("upload {mib} MiB from memory"),
        "native",
        bytes,
        guest,
        native,
    );
    // Objects: in through the store's memory and out into a new object,
    // against the plain upload and download this process does.
    let object = tasks.put(&vec![7u8; (mib as usize) << 20]).await?;
    let guest = guest_seconds_of(
        &tasks,
        "object-upload-seconds",
        vec![Arg::Ref(object.clone()), Arg::wave(reps.to_string())],
    )
    .await;
    tasks.release(&[object]);
    bandwidth_row(
        &format!("upload {mib} MiB from an object"),
        "native from memory",
        bytes,
        guest?,
        native,
    );
    let guest = guest_seconds(&tasks, "object-download-seconds", &call).await?;
    let kind_ = kind.clone();
    let native = tokio::task::spawn_blocking(move || native_download(&kind_, mib, reps)).await??;
    bandwidth_row(
        &format!("download {mib} MiB to an object"),
        "native to memory",
        bytes,
        guest,
        native,
    );
    match launch_seconds(&tasks, 100).await? {
        Some(seconds) => {
            let kind_ = kind.clone();
            let native = tokio::task::spawn_blocking(move || native_launch(&kind_, 100)).await??;
            row!(
                "empty kernel launch + synchronize  guest {:.1} us  native {:.1} us  ({:+.1} us)",
                seconds / 100.0 * 1e6,
                native / 100.0 * 1e6,
                (seconds - native) / 100.0 * 1e6
            )
        }
        None => row!("empty kernel launch  not measured: the host's backend has no kernels"),
    }
    Ok(())
}
