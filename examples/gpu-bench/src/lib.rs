//! The guest side of `weft bench gpu` (`cli/src/bench_gpu.rs`): gemm,
//! uploads and empty launches, timed inside the guest so that the task's
//! own overhead is not counted.

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "example:gpu-bench/gpu-bench",
    generate_all,
});

use std::time::Instant;

use weft::runtime::gpu::{self, Buffer, Dim3, Dtype, GemmOp, GpuError, Module};

struct Bench;

fn text(e: GpuError) -> String {
    format!("{e:?}")
}

/// An empty kernel: its launch is the cost of a launch (`weft bench gpu`
/// launches the same one natively).
const EMPTY: &str = include_str!("empty.ptx");

impl Guest for Bench {
    fn gemm_seconds(dtype: String, n: u32, reps: u32) -> Result<f64, String> {
        let (dtype, size) = match dtype.as_str() {
            "f32" => (Dtype::Float32, 4),
            "f16" => (Dtype::Float16, 2),
            "bf16" => (Dtype::Bfloat16, 2),
            other => return Err(format!("no dtype {other}")),
        };
        let bytes = size * u64::from(n) * u64::from(n);
        let make = || -> Result<Buffer, GpuError> {
            let buffer = Buffer::create(0, bytes)?;
            // Ones: finite products in every dtype.
            let one: Vec<u8> = match dtype {
                Dtype::Float32 => 1f32.to_le_bytes().to_vec(),
                Dtype::Float16 => vec![0x00, 0x3c],
                Dtype::Bfloat16 => vec![0x80, 0x3f],
            };
            buffer.write(0, &one.repeat((bytes / size) as usize))?;
            Ok(buffer)
        };
        let (a, b, c) = (
            make().map_err(text)?,
            make().map_err(text)?,
            make().map_err(text)?,
        );
        let op = GemmOp {
            dtype,
            transpose_a: false,
            transpose_b: false,
            m: n,
            n,
            k: n,
            alpha: 1.0,
            beta: 0.0,
            lda: 0,
            ldb: 0,
            ldc: 0,
        };
        let run = || -> Result<(), GpuError> {
            gpu::gemm(op, &a, &b, &c)?;
            gpu::synchronize(0)
        };
        run().map_err(text)?;
        let started = Instant::now();
        for _ in 0..reps {
            run().map_err(text)?;
        }
        Ok(started.elapsed().as_secs_f64())
    }

    fn upload_seconds(megabytes: u32, reps: u32) -> Result<f64, String> {
        let data = vec![7u8; (megabytes as usize) << 20];
        let buffer = Buffer::create(0, data.len() as u64).map_err(text)?;
        buffer.write(0, &data).map_err(text)?;
        let started = Instant::now();
        for _ in 0..reps {
            buffer.write(0, &data).map_err(text)?;
        }
        gpu::synchronize(0).map_err(text)?;
        Ok(started.elapsed().as_secs_f64())
    }

    fn object_upload_seconds(object: ObjectRef, reps: u32) -> Result<f64, String> {
        let len = weft::runtime::objects::size(&object).map_err(|e| format!("{e:?}"))?;
        let buffer = Buffer::create(0, len).map_err(text)?;
        buffer.copy_from_object(&object, 0).map_err(text)?;
        let started = Instant::now();
        for _ in 0..reps {
            buffer.copy_from_object(&object, 0).map_err(text)?;
        }
        gpu::synchronize(0).map_err(text)?;
        Ok(started.elapsed().as_secs_f64())
    }

    fn object_download_seconds(megabytes: u32, reps: u32) -> Result<f64, String> {
        let buffer = Buffer::create(0, u64::from(megabytes) << 20).map_err(text)?;
        drop(buffer.to_object().map_err(text)?);
        let started = Instant::now();
        for _ in 0..reps {
            drop(buffer.to_object().map_err(text)?);
        }
        Ok(started.elapsed().as_secs_f64())
    }

    fn launch_seconds(reps: u32) -> Result<Option<f64>, String> {
        let module = match Module::from_ptx(0, EMPTY) {
            Ok(module) => module,
            Err(GpuError::NotSupported(_)) => return Ok(None),
            Err(e) => return Err(text(e)),
        };
        let one = Dim3 { x: 1, y: 1, z: 1 };
        let launch = || -> Result<(), GpuError> {
            module.launch("empty", one, one, 0, &[])?;
            gpu::synchronize(0)
        };
        launch().map_err(text)?;
        let started = Instant::now();
        for _ in 0..reps {
            launch().map_err(text)?;
        }
        Ok(Some(started.elapsed().as_secs_f64()))
    }
}

export!(Bench);
