//! How to run (a host with a GPU, or `--gpus 1` for the cpu backend):
//! `weft deploy target/wasm32-wasip2/release/example_gpu_matmul.wasm --name matmul &&
//!  weft submit matmul "matmul(@$(weft put a.bin), @$(weft put b.bin), 512)" --gpus 1 --wait`
//!
//! Matrices go from the object store to device memory and back without
//! passing through the guest: `copy-from-object` fills the buffers,
//! `gemm` multiplies, `to-object` stores the product.

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
    world: "example:gpu-matmul/gpu-matmul",
    generate_all,
});

use weft::runtime::gpu::{self, Buffer, Dtype, GemmOp, GpuError};
use weft::runtime::objects;

struct Matmul;

fn text(e: GpuError) -> String {
    match e {
        GpuError::OutOfMemory(m) => format!("out of GPU memory: {m}"),
        GpuError::InvalidArgument(m) => format!("invalid argument: {m}"),
        GpuError::LaunchFailed(m) => format!("launch failed: {m}"),
        GpuError::DeviceLost(m) => format!("device lost: {m}"),
        GpuError::NotSupported(m) => format!("not supported: {m}"),
    }
}

/// A buffer holding `object`, which must be `bytes` long.
fn load(object: &ObjectRef, bytes: u64) -> Result<Buffer, String> {
    let size = objects::size(object).map_err(|e| format!("{e:?}"))?;
    if size != bytes {
        return Err(format!(
            "object {} has {size} bytes, not {bytes}",
            object.id
        ));
    }
    let buffer = Buffer::create(0, bytes).map_err(text)?;
    buffer.copy_from_object(object, 0).map_err(text)?;
    Ok(buffer)
}

impl Guest for Matmul {
    fn matmul(a: ObjectRef, b: ObjectRef, n: u32) -> Result<ObjectRef, String> {
        let bytes = 4 * u64::from(n) * u64::from(n);
        let (a, b) = (load(&a, bytes)?, load(&b, bytes)?);
        let c = Buffer::create(0, bytes).map_err(text)?;
        let op = GemmOp {
            dtype: Dtype::Float32,
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
        gpu::gemm(op, &a, &b, &c).map_err(text)?;
        c.to_object().map_err(text)
    }
}

export!(Matmul);
