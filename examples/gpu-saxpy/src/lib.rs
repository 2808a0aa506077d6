//! How to run (a host with a GPU, or `--gpus 1` for the cpu backend):
//! `weft deploy target/wasm32-wasip2/release/example_gpu_saxpy.wasm --name saxpy &&
//!  weft submit saxpy 'saxpy(2.0, 1000000)' --gpus 1 --wait`
//!
//! A kernel written in PTX, loaded and launched from a sandboxed guest.
//! On a backend without kernels (`cpu`), the same sum runs as a gemm: y is
//! an n x 1 matrix, x times the 1 x 1 matrix [1], scaled by a.

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
    world: "example:gpu-saxpy/gpu-saxpy",
    generate_all,
});

use weft::runtime::gpu::{self, Buffer, Dim3, Dtype, GemmOp, GpuError, KernelArg, Module};

struct Saxpy;

/// `y[i] = a * x[i] + y[i]` for `i < n`, one thread per element.
const PTX: &str = r#"
.version 7.0
.target sm_70
.address_size 64

.visible .entry saxpy(
    .param .u32 n,
    .param .f32 a,
    .param .u64 x,
    .param .u64 y
)
{
    .reg .pred %p<2>;
    .reg .b32 %r<6>;
    .reg .f32 %f<5>;
    .reg .b64 %rd<8>;

    ld.param.u32 %r1, [n];
    ld.param.f32 %f1, [a];
    ld.param.u64 %rd1, [x];
    ld.param.u64 %rd2, [y];
    mov.u32 %r2, %ctaid.x;
    mov.u32 %r3, %ntid.x;
    mov.u32 %r4, %tid.x;
    mad.lo.s32 %r5, %r2, %r3, %r4;
    setp.ge.u32 %p1, %r5, %r1;
    @%p1 bra DONE;
    cvta.to.global.u64 %rd3, %rd1;
    cvta.to.global.u64 %rd4, %rd2;
    mul.wide.u32 %rd5, %r5, 4;
    add.s64 %rd6, %rd3, %rd5;
    add.s64 %rd7, %rd4, %rd5;
    ld.global.f32 %f2, [%rd6];
    ld.global.f32 %f3, [%rd7];
    fma.rn.f32 %f4, %f1, %f2, %f3;
    st.global.f32 [%rd7], %f4;
DONE:
    ret;
}
"#;

fn text(e: GpuError) -> String {
    match e {
        GpuError::OutOfMemory(m) => format!("out of GPU memory: {m}"),
        GpuError::InvalidArgument(m) => format!("invalid argument: {m}"),
        GpuError::LaunchFailed(m) => format!("launch failed: {m}"),
        GpuError::DeviceLost(m) => format!("device lost: {m}"),
        GpuError::NotSupported(m) => format!("not supported: {m}"),
    }
}

fn floats(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Runs the kernel; `Ok(false)` when the backend has no kernels.
fn by_kernel(a: f32, n: u32, x: &Buffer, y: &Buffer) -> Result<bool, GpuError> {
    let module = match Module::from_ptx(0, PTX) {
        Ok(module) => module,
        Err(GpuError::NotSupported(_)) => return Ok(false),
        Err(e) => return Err(e),
    };
    let block = 256;
    module.launch(
        "saxpy",
        Dim3 {
            x: n.div_ceil(block),
            y: 1,
            z: 1,
        },
        Dim3 {
            x: block,
            y: 1,
            z: 1,
        },
        0,
        &[
            KernelArg::Uint32(n),
            KernelArg::Float32(a),
            KernelArg::Buffer(x),
            KernelArg::Buffer(y),
        ],
    )?;
    gpu::synchronize(0)?;
    Ok(true)
}

/// The same sum as a gemm: y (n x 1) = a * x (n x 1) * [1] + 1 * y.
fn by_gemm(a: f32, n: u32, x: &Buffer, y: &Buffer) -> Result<(), GpuError> {
    let one = Buffer::create(0, 4)?;
    one.write(0, &1f32.to_le_bytes())?;
    let op = GemmOp {
        dtype: Dtype::Float32,
        transpose_a: false,
        transpose_b: false,
        m: n,
        n: 1,
        k: 1,
        alpha: a,
        beta: 1.0,
        lda: 0,
        ldb: 0,
        ldc: 0,
    };
    gpu::gemm(op, x, &one, y)
}

impl Guest for Saxpy {
    fn saxpy(a: f32, n: u32) -> Result<String, String> {
        let xs: Vec<f32> = (0..n).map(|i| (i % 1000) as f32 * 0.001).collect();
        let ys: Vec<f32> = (0..n).map(|i| 1.0 - (i % 7) as f32).collect();
        let bytes = 4 * u64::from(n);
        let x = Buffer::create(0, bytes).map_err(text)?;
        let y = Buffer::create(0, bytes).map_err(text)?;
        x.write(0, &floats(&xs)).map_err(text)?;
        y.write(0, &floats(&ys)).map_err(text)?;
        let way = if by_kernel(a, n, &x, &y).map_err(text)? {
            "a PTX kernel"
        } else {
            by_gemm(a, n, &x, &y).map_err(text)?;
            "gemm (this backend has no kernels)"
        };
        let out = y.read(0, bytes).map_err(text)?;
        let worst = out
            .chunks_exact(4)
            .zip(xs.iter().zip(&ys))
            .map(|(got, (x, y))| {
                let got = f32::from_le_bytes([got[0], got[1], got[2], got[3]]);
                (got - (a * x + y)).abs()
            })
            .fold(0f32, f32::max);
        let backend = gpu::devices()
            .first()
            .map_or("no device".to_string(), |d| d.backend.clone());
        Ok(format!(
            "saxpy of {n} elements on {backend} by {way}: largest error {worst:e}"
        ))
    }
}

export!(Saxpy);
