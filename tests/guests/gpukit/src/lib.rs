//! A test guest for `weft:runtime/gpu`: buffers, objects through device
//! memory, gemm in every dtype checked against a reference computed here,
//! the errors misuse gets, and guests that hold or leak device memory on
//! purpose (`tests/e2e/gpu.rs`).

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]
#![allow(
    clippy::too_many_arguments,
    reason = "the generated export of `gemm-error` takes its string flattened into a pointer and a length: eight arguments"
)]

wit_bindgen::generate!({
    path: ["../../../wit", "wit"],
    world: "weft:gpukit/gpukit",
    generate_all,
});

use weft::runtime::gpu::{self, Buffer, Dim3, Dtype, GemmOp, GpuError, Module};
use weft::runtime::objects;

struct Gpukit;

thread_local! {
    /// The buffer `keep` made, with its length.
    static KEPT: std::cell::RefCell<Option<(Buffer, u32)>> = const { std::cell::RefCell::new(None) };
}

fn pattern(bytes: u32) -> Vec<u8> {
    (0..bytes).map(|i| (i.wrapping_mul(31) + 7) as u8).collect()
}

fn text(e: GpuError) -> String {
    match e {
        GpuError::OutOfMemory(m) => format!("out-of-memory: {m}"),
        GpuError::InvalidArgument(m) => format!("invalid-argument: {m}"),
        GpuError::LaunchFailed(m) => format!("launch-failed: {m}"),
        GpuError::DeviceLost(m) => format!("device-lost: {m}"),
        GpuError::NotSupported(m) => format!("not-supported: {m}"),
    }
}

/// A small deterministic generator of values in [-1, 1).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
}

/// `v` as `dtype` stores it: its bytes, and the value they hold.
fn quantize(dtype: Dtype, v: f32) -> (Vec<u8>, f32) {
    match dtype {
        Dtype::Float32 => (v.to_le_bytes().to_vec(), v),
        Dtype::Float16 => {
            let h = half::f16::from_f32(v);
            (h.to_le_bytes().to_vec(), h.to_f32())
        }
        Dtype::Bfloat16 => {
            let h = half::bf16::from_f32(v);
            (h.to_le_bytes().to_vec(), h.to_f32())
        }
    }
}

fn decode(dtype: Dtype, bytes: &[u8]) -> Vec<f32> {
    match dtype {
        Dtype::Float32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::Float16 => bytes
            .chunks_exact(2)
            .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
        Dtype::Bfloat16 => bytes
            .chunks_exact(2)
            .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect(),
    }
}

/// `count` random values of `dtype`: the buffer holding them, and them.
fn random(dtype: Dtype, count: usize, rng: &mut Rng) -> Result<(Buffer, Vec<f32>), GpuError> {
    let mut bytes = Vec::new();
    let mut values = Vec::with_capacity(count);
    for _ in 0..count {
        let (b, v) = quantize(dtype, rng.next());
        bytes.extend(b);
        values.push(v);
    }
    let buffer = Buffer::create(0, bytes.len() as u64)?;
    buffer.write(0, &bytes)?;
    Ok((buffer, values))
}

fn millis_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl Guest for Gpukit {
    fn devices() -> Vec<String> {
        gpu::devices()
            .iter()
            .map(|d| {
                format!(
                    "{} {} {} {} {}",
                    d.index, d.name, d.backend, d.total_memory, d.free_memory
                )
            })
            .collect()
    }

    fn roundtrip(bytes: u32) -> String {
        let run = || -> Result<bool, GpuError> {
            let buffer = Buffer::create(0, u64::from(bytes) + 16)?;
            let data = pattern(bytes);
            buffer.write(16, &data)?;
            let back = buffer.read(16, u64::from(bytes))?;
            let head = buffer.read(0, 16)?;
            Ok(back == data
                && head.iter().all(|b| *b == 0)
                && buffer.len() == u64::from(bytes) + 16
                && buffer.device() == 0)
        };
        match run() {
            Ok(true) => "ok".into(),
            Ok(false) => "mismatch".into(),
            Err(e) => text(e),
        }
    }

    fn gemm_error(
        dtype: String,
        m: u32,
        n: u32,
        k: u32,
        transpose_a: bool,
        transpose_b: bool,
        batch: u32,
    ) -> Result<f64, String> {
        let dtype = match dtype.as_str() {
            "f32" => Dtype::Float32,
            "f16" => Dtype::Float16,
            "bf16" => Dtype::Bfloat16,
            other => return Err(format!("no dtype {other}")),
        };
        let (m, n, k, batch) = (m as usize, n as usize, k as usize, batch as usize);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let (per_a, per_b, per_c) = (m * k, k * n, m * n);
        let (a, av) = random(dtype, per_a * batch, &mut rng).map_err(text)?;
        let (b, bv) = random(dtype, per_b * batch, &mut rng).map_err(text)?;
        let (c, cv) = random(dtype, per_c * batch, &mut rng).map_err(text)?;
        let op = GemmOp {
            dtype,
            transpose_a,
            transpose_b,
            m: m as u32,
            n: n as u32,
            k: k as u32,
            alpha: 1.5,
            beta: 0.5,
            lda: 0,
            ldb: 0,
            ldc: 0,
        };
        let done = if batch == 1 {
            gpu::gemm(op, &a, &b, &c)
        } else {
            let strides = gpu::Batch {
                count: batch as u32,
                stride_a: per_a as u64,
                stride_b: per_b as u64,
                stride_c: per_c as u64,
            };
            gpu::gemm_batched(op, strides, &a, &b, &c)
        };
        done.map_err(text)?;
        let got = decode(dtype, &c.read(0, c.len()).map_err(text)?);
        // Stored rows of a and b: op(a) is m x k, so a is k x m when
        // transposed.
        let (lda, ldb) = (
            if transpose_a { k } else { m },
            if transpose_b { n } else { k },
        );
        let (mut worst, mut largest) = (0f64, 0f64);
        for s in 0..batch {
            for j in 0..n {
                for i in 0..m {
                    let mut sum = 0f64;
                    for l in 0..k {
                        let x = if transpose_a {
                            l + i * lda
                        } else {
                            i + l * lda
                        };
                        let y = if transpose_b {
                            j + l * ldb
                        } else {
                            l + j * ldb
                        };
                        sum += f64::from(av[s * per_a + x]) * f64::from(bv[s * per_b + y]);
                    }
                    let at = s * per_c + i + j * m;
                    let expected = 1.5 * sum + 0.5 * f64::from(cv[at]);
                    worst = worst.max((f64::from(got[at]) - expected).abs());
                    largest = largest.max(expected.abs());
                }
            }
        }
        Ok(worst / largest.max(f64::MIN_POSITIVE))
    }

    fn through_gpu(object: ObjectRef) -> Result<ObjectRef, String> {
        let size = objects::size(&object).map_err(|e| format!("{e:?}"))?;
        let buffer = Buffer::create(0, size).map_err(text)?;
        buffer.copy_from_object(&object, 0).map_err(text)?;
        buffer.to_object().map_err(text)
    }

    fn leak_and_trap(megabytes: u32) -> u32 {
        let _held = Buffer::create(0, u64::from(megabytes) << 20).expect("a buffer");
        panic!("trapping on purpose while holding {megabytes} MiB of device memory");
    }

    fn allocate(megabytes: u32) -> String {
        match Buffer::create(0, u64::from(megabytes) << 20) {
            Ok(_) => "ok".into(),
            Err(e) => text(e),
        }
    }

    fn hold(millis: u32) -> (u64, u64) {
        let _held = Buffer::create(0, 1 << 20).expect("a buffer");
        let start = millis_now();
        while millis_now() < start + u64::from(millis) {
            std::hint::spin_loop();
        }
        (start, millis_now())
    }

    fn load_ptx() -> String {
        let ptx = ".version 7.0\n.target sm_70\n.address_size 64\n";
        match Module::from_ptx(0, ptx) {
            Ok(_) => "ok".into(),
            Err(e) => text(e),
        }
    }

    fn fault() -> String {
        const PTX: &str = ".version 7.0\n.target sm_70\n.address_size 64\n\
            .visible .entry fault()\n{\n.reg .b32 %r<2>;\n.reg .b64 %rd<2>;\n\
            mov.u64 %rd1, 0;\nmov.u32 %r1, 1;\nst.global.u32 [%rd1], %r1;\nret;\n}\n";
        let one = Dim3 { x: 1, y: 1, z: 1 };
        let ran = Module::from_ptx(0, PTX)
            .and_then(|m| m.launch("fault", one, one, 0, &[]))
            .and_then(|()| gpu::synchronize(0));
        match ran {
            Ok(()) => "no fault".into(),
            Err(e) => text(e),
        }
    }

    fn keep(bytes: u32) -> String {
        let made = Buffer::create(0, u64::from(bytes)).and_then(|b| {
            b.write(0, &pattern(bytes))?;
            Ok(b)
        });
        match made {
            Ok(buffer) => {
                KEPT.with(|k| *k.borrow_mut() = Some((buffer, bytes)));
                "ok".into()
            }
            Err(e) => text(e),
        }
    }

    fn kept() -> String {
        KEPT.with(|k| match &*k.borrow() {
            None => "nothing kept".into(),
            Some((buffer, bytes)) => match buffer.read(0, u64::from(*bytes)) {
                Ok(back) if back == pattern(*bytes) => format!("ok {bytes}"),
                Ok(_) => "changed".into(),
                Err(e) => text(e),
            },
        })
    }

    fn misuse() -> Vec<String> {
        let mut errors = Vec::new();
        errors.push(Buffer::create(7, 16).err().map_or("no error".into(), text));
        let small = Buffer::create(0, 16).expect("a buffer");
        errors.push(small.read(8, 16).err().map_or("no error".into(), text));
        errors.push(small.write(20, &[1]).err().map_or("no error".into(), text));
        let op = GemmOp {
            dtype: Dtype::Float32,
            transpose_a: false,
            transpose_b: false,
            m: 4,
            n: 4,
            k: 4,
            alpha: 1.0,
            beta: 0.0,
            lda: 0,
            ldb: 0,
            ldc: 0,
        };
        let big = Buffer::create(0, 64).expect("a buffer");
        errors.push(
            gpu::gemm(op, &small, &big, &big)
                .err()
                .map_or("no error".into(), text),
        );
        errors
    }
}

export!(Gpukit);
