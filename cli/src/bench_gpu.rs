//! `weft bench gpu`: GPU work through a guest against the same work called
//! natively, in one run.
//!
//! The guest side is `examples/gpu-bench`, run as tasks given one GPU; it
//! times itself with its own clock, so the task's overhead is not counted.
//! The native side calls the same backend code from this process: gemm
//! (GFLOP/s, n x n x n in each dtype) and uploads from memory (GB/s).
//! Kernel launches are timed only where the host's backend has kernels.
//! This build's backend is `cpu`, so the native side is the cpu backend.

use std::path::PathBuf;
use std::time::Instant;

use weft_client::{Arg, TaskClient, TaskOptions, value_of};
use weft_host::gpu::blas;

use crate::bench::row;
use crate::client_cmds::connect;

#[derive(clap::Args)]
pub struct GpuBenchArgs {
    /// The guest side (examples/gpu-bench).
    #[arg(
        long,
        default_value = "target/wasm32-wasip2/release/example_gpu_bench.wasm"
    )]
    component: PathBuf,
    /// Sizes n of the n x n x n gemms.
    #[arg(long, value_delimiter = ',', default_value = "256,512")]
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
    let options = TaskOptions {
        gpus: 1,
        ..TaskOptions::default()
    };
    let args = args.iter().map(|a| Arg::Wave(a.clone())).collect();
    let args = tasks.typed(NAME, function, args).await?;
    let id = tasks.submit(NAME, function, args, options).await?;
    let result = tasks.get(&[id], None).await?.remove(0);
    anyhow::ensure!(result.ok, "{function}: {}", result.error);
    let text = value_of(result)?
        .map(|v| weft_client::values::to_wave(&v))
        .unwrap_or_default();
    match text.strip_prefix("ok(").and_then(|t| t.strip_suffix(')')) {
        Some(seconds) => Ok(seconds.parse()?),
        None => anyhow::bail!("{function}: {text}"),
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

/// Seconds `reps` gemms take when this process calls the backend itself.
fn native_gemm(name: &str, n: u32, reps: u32) -> anyhow::Result<f64> {
    let (dtype, one) = dtype(name)?;
    let elements = u64::from(n) * u64::from(n);
    let bytes = elements * dtype.size();
    let backend = weft_host::gpu::cpu(1, bytes * 3);
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
fn native_upload(mib: u32, reps: u32) -> anyhow::Result<f64> {
    let data = vec![7u8; (mib as usize) << 20];
    let backend = weft_host::gpu::cpu(1, data.len() as u64);
    let memory = backend.alloc(0, data.len() as u64)?;
    memory.write(0, &data)?;
    let started = Instant::now();
    for _ in 0..reps {
        memory.write(0, &data)?;
    }
    backend.synchronize(0)?;
    Ok(started.elapsed().as_secs_f64())
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
    client.deploy(wasm, Some(NAME)).await?;
    let tasks = TaskClient::with_client(client.clone());
    row!(
        "gpu work through {address} (hosts {}) against this process calling the cpu backend",
        gpus.join("; ")
    );
    let reps = args.reps.max(1);
    for name in &args.dtypes {
        for &n in &args.sizes {
            let call = [format!("\"{name}\""), n.to_string(), reps.to_string()];
            let guest = guest_seconds(&tasks, "gemm-seconds", &call).await?;
            let (name_, n_) = (name.clone(), n);
            let native =
                tokio::task::spawn_blocking(move || native_gemm(&name_, n_, reps)).await??;
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
    let native = tokio::task::spawn_blocking(move || native_upload(mib, reps)).await??;
    let bytes = f64::from(mib) * f64::from(1u32 << 20) * f64::from(reps);
    row!(
        "upload {mib} MiB from memory  guest {:>6.2} GB/s  native {:>6.2} GB/s  ({:.2}x native)",
        bytes / guest / 1e9,
        bytes / native / 1e9,
        native / guest
    );
    match guest_seconds(&tasks, "launch-seconds", &["100".into()]).await {
        Ok(seconds) => row!("empty kernel launch  guest {:.1} us", seconds / 100.0 * 1e6),
        Err(e) if e.to_string().contains("NotSupported") => {
            row!("empty kernel launch  not measured: the host's backend has no kernels")
        }
        Err(e) => return Err(e),
    }
    Ok(())
}
