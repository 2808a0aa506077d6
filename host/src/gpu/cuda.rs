//! The `cuda` backend: NVIDIA GPUs through the CUDA driver API and
//! cuBLAS, both loaded when first used (cudarc's dynamic loading), so one
//! `weft` binary builds and runs on machines with and without CUDA.
//!
//! Each device has its primary context and one stream; every operation
//! runs on that stream and a call returns once its work is done (copies,
//! gemms) or queued (launches, which `synchronize` waits for). Buffers are
//! plain device allocations whose addresses kernels take by value.
//! A fault that poisons a context (an illegal address, say) fails the
//! task that caused it with CUDA's error name and marks its device lost:
//! every later call on that device answers `device-lost` until the host
//! restarts.

#![allow(
    unsafe_code,
    reason = "the CUDA driver and cuBLAS take raw device addresses"
)]

use std::any::Any;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use cudarc::cublas::{result as cublas, sys as cublas_sys};
use cudarc::driver::result::DriverError;
use cudarc::driver::{
    CudaContext, CudaFunction, CudaModule, CudaSlice, CudaStream, DevicePtr, LaunchConfig,
    PushKernelArg, sys,
};

use super::blas::{Dtype, Gemm};
use super::{Backend, Device, GpuError, KernelArg, Kernels, Launch, Memory};

/// The devices CUDA offers this process.
pub struct Cuda {
    devices: Vec<Device>,
    gpus: Vec<Arc<Gpu>>,
}

/// One device's context, stream and cuBLAS handle.
struct Gpu {
    index: u32,
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    blas: Mutex<Option<BlasHandle>>,
    used: AtomicU64,
    /// Why the device is unusable, once a fault poisoned its context.
    lost: OnceLock<String>,
}

/// A cuBLAS handle bound to its device's stream.
struct BlasHandle(cublas_sys::cublasHandle_t);

// SAFETY: a cuBLAS handle may be used from any thread; `Gpu.blas` lets
// one thread at a time use it.
unsafe impl Send for BlasHandle {}

impl Drop for BlasHandle {
    fn drop(&mut self) {
        // SAFETY: made by `create_handle` and dropped once.
        let _ = unsafe { cublas::destroy_handle(self.0) };
    }
}

impl Cuda {
    /// The machine's CUDA devices, the first `limit` of them when given.
    /// An error says why there are none: no driver library, or no device.
    pub fn discover(limit: Option<u32>) -> Result<Self, GpuError> {
        // SAFETY: only looks for the library.
        if !unsafe { sys::is_culib_present() } {
            return Err(GpuError::NotSupported(
                "no CUDA driver library (libcuda.so) on this machine".into(),
            ));
        }
        let count = CudaContext::device_count().map_err(|e| not_usable("count devices", e))?;
        let count = limit.map_or(count as u32, |l| l.min(count.max(0) as u32));
        if count == 0 {
            return Err(GpuError::NotSupported("CUDA finds no device".into()));
        }
        let mut devices = Vec::new();
        let mut gpus = Vec::new();
        for index in 0..count {
            let ctx = CudaContext::new(index as usize)
                .map_err(|e| not_usable(&format!("open device {index}"), e))?;
            // One stream per device carries all of its work in order, so
            // cudarc's cross-stream event tracking is not needed.
            // SAFETY: buffers are used only on `stream` below.
            unsafe { ctx.disable_event_tracking() };
            let name = ctx.name().unwrap_or_else(|_| "CUDA device".into());
            let total = ctx.total_mem().unwrap_or(0) as u64;
            let (major, minor) = ctx.compute_capability().unwrap_or((0, 0));
            devices.push(Device {
                name,
                total_memory: total,
                compute_capability: (major.max(0) as u32, minor.max(0) as u32),
            });
            let stream = ctx.default_stream();
            gpus.push(Arc::new(Gpu {
                index,
                ctx,
                stream,
                blas: Mutex::new(None),
                used: AtomicU64::new(0),
                lost: OnceLock::new(),
            }));
        }
        Ok(Cuda { devices, gpus })
    }

    fn gpu(&self, device: u32) -> Result<&Arc<Gpu>, GpuError> {
        let gpu = self
            .gpus
            .get(device as usize)
            .ok_or_else(|| GpuError::InvalidArgument(format!("no device {device} on this host")))?;
        gpu.usable()?;
        Ok(gpu)
    }
}

fn not_usable(what: &str, e: DriverError) -> GpuError {
    GpuError::NotSupported(format!("CUDA cannot {what}: {}", describe(&e)))
}

/// `CUDA_ERROR_NAME: what it means`.
fn describe(e: &DriverError) -> String {
    let name = e
        .error_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("CUresult {:?}", e.0));
    match e.error_string() {
        Ok(text) => format!("{name}: {}", text.to_string_lossy()),
        Err(_) => name,
    }
}

/// Errors after which the context can do nothing more.
fn poisons_context(e: &DriverError) -> bool {
    use sys::cudaError_enum as E;
    matches!(
        e.0,
        E::CUDA_ERROR_ILLEGAL_ADDRESS
            | E::CUDA_ERROR_LAUNCH_FAILED
            | E::CUDA_ERROR_MISALIGNED_ADDRESS
            | E::CUDA_ERROR_ILLEGAL_INSTRUCTION
            | E::CUDA_ERROR_HARDWARE_STACK_ERROR
            | E::CUDA_ERROR_INVALID_PC
            | E::CUDA_ERROR_ASSERT
            | E::CUDA_ERROR_ECC_UNCORRECTABLE
            | E::CUDA_ERROR_CONTEXT_IS_DESTROYED
    )
}

impl Gpu {
    fn usable(&self) -> Result<(), GpuError> {
        let Some(why) = self.lost.get() else {
            return Ok(());
        };
        Err(GpuError::DeviceLost(format!(
            "device {} faulted earlier ({why}); it serves nothing until the host restarts",
            self.index
        )))
    }

    /// The guest's error for a failed driver call doing `what`; a fault
    /// that poisons the context marks the device lost.
    fn failed(&self, what: &str, e: DriverError) -> GpuError {
        let text = describe(&e);
        if poisons_context(&e) {
            // The first fault is the one that says why.
            let _ = self.lost.set(text.clone());
            tracing::error!(device = self.index, error = %text, "a GPU fault poisoned the device");
            return GpuError::DeviceLost(format!("{what} on device {}: {text}", self.index));
        }
        if e.0 == sys::cudaError_enum::CUDA_ERROR_OUT_OF_MEMORY {
            return GpuError::OutOfMemory(format!("{what} on device {}: {text}", self.index));
        }
        GpuError::LaunchFailed(format!("{what} on device {}: {text}", self.index))
    }

    fn bind(&self) -> Result<(), GpuError> {
        self.ctx
            .bind_to_thread()
            .map_err(|e| self.failed("bind the context", e))
    }

    fn sync(&self, what: &str) -> Result<(), GpuError> {
        self.stream.synchronize().map_err(|e| self.failed(what, e))
    }
}

/// Device memory, freed (and given back to the count) when dropped.
struct CudaMemory {
    slice: Option<CudaSlice<u8>>,
    address: sys::CUdeviceptr,
    len: u64,
    gpu: Arc<Gpu>,
}

impl Drop for CudaMemory {
    fn drop(&mut self) {
        // The slice frees on drop; a lost device's context frees nothing,
        // which is as good as freed.
        drop(self.slice.take());
        self.gpu.used.fetch_sub(self.len, Ordering::Relaxed);
    }
}

impl Memory for CudaMemory {
    fn len(&self) -> u64 {
        self.len
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), GpuError> {
        self.gpu.usable()?;
        self.gpu.bind()?;
        // SAFETY: the caller checked offset + data.len() <= len; `data`
        // outlives the copy, which is waited for before returning.
        unsafe {
            cudarc::driver::result::memcpy_htod_async(
                self.address + offset,
                data,
                self.gpu.stream.cu_stream(),
            )
        }
        .map_err(|e| self.gpu.failed("copy to the device", e))?;
        self.gpu.sync("copy to the device")
    }

    fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, GpuError> {
        self.gpu.usable()?;
        self.gpu.bind()?;
        let mut out = vec![0u8; len as usize];
        // SAFETY: as in `write`, the other way.
        unsafe {
            cudarc::driver::result::memcpy_dtoh_async(
                &mut out,
                self.address + offset,
                self.gpu.stream.cu_stream(),
            )
        }
        .map_err(|e| self.gpu.failed("copy from the device", e))?;
        self.gpu.sync("copy from the device")?;
        Ok(out)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn own<'a>(memory: &'a dyn Memory, gpu: &Gpu) -> Result<&'a CudaMemory, GpuError> {
    let own = memory
        .as_any()
        .downcast_ref::<CudaMemory>()
        .ok_or_else(|| GpuError::InvalidArgument("a buffer of another backend".into()))?;
    if own.gpu.index != gpu.index {
        return Err(GpuError::InvalidArgument(format!(
            "a buffer on device {} used on device {}",
            own.gpu.index, gpu.index
        )));
    }
    Ok(own)
}

/// A loaded module's kernels.
struct CudaKernels {
    module: Arc<CudaModule>,
    gpu: Arc<Gpu>,
}

impl Kernels for CudaKernels {
    fn launch(
        &self,
        kernel: &str,
        launch: &Launch,
        args: &[KernelArg<'_>],
    ) -> Result<(), GpuError> {
        self.gpu.usable()?;
        let function: CudaFunction = self.module.load_function(kernel).map_err(|e| {
            GpuError::InvalidArgument(format!(
                "no kernel `{kernel}` in the module: {}",
                describe(&e)
            ))
        })?;
        // Buffers go as their device addresses, scalars as they are.
        let addresses = args
            .iter()
            .filter_map(|arg| match arg {
                KernelArg::Buffer(memory) => Some(own(*memory, &self.gpu).map(|m| m.address)),
                _ => None,
            })
            .collect::<Result<Vec<_>, GpuError>>()?;
        let mut addresses = addresses.iter();
        let mut builder = self.gpu.stream.launch_builder(&function);
        for arg in args {
            match arg {
                KernelArg::Buffer(_) => builder.arg(addresses.next().expect("one per buffer")),
                KernelArg::I32(v) => builder.arg(v),
                KernelArg::U32(v) => builder.arg(v),
                KernelArg::I64(v) => builder.arg(v),
                KernelArg::U64(v) => builder.arg(v),
                KernelArg::F32(v) => builder.arg(v),
                KernelArg::F64(v) => builder.arg(v),
            };
        }
        let config = LaunchConfig {
            grid_dim: launch.grid,
            block_dim: launch.block,
            shared_mem_bytes: launch.shared_bytes,
        };
        // SAFETY: the arguments are scalars and addresses of live buffers
        // of this device; what the kernel does with them is the guest's
        // business, and a fault is caught as the device's error.
        unsafe { builder.launch(config) }
            .map(drop)
            .map_err(|e| self.gpu.failed(&format!("launch `{kernel}`"), e))
    }
}

impl Cuda {
    /// Loads a module (`what`: PTX or cubin) on `device`.
    fn load(
        &self,
        device: u32,
        image: cudarc::nvrtc::Ptx,
        what: &str,
    ) -> Result<Box<dyn Kernels>, GpuError> {
        let gpu = self.gpu(device)?;
        let module = gpu.ctx.load_module(image).map_err(|e| {
            GpuError::InvalidArgument(format!("the {what} does not load: {}", describe(&e)))
        })?;
        Ok(Box::new(CudaKernels {
            module,
            gpu: gpu.clone(),
        }))
    }
}

impl Backend for Cuda {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn devices(&self) -> &[Device] {
        &self.devices
    }

    fn used(&self, device: u32) -> u64 {
        self.gpus
            .get(device as usize)
            .map_or(0, |g| g.used.load(Ordering::Relaxed))
    }

    fn alloc(&self, device: u32, bytes: u64) -> Result<Box<dyn Memory>, GpuError> {
        let gpu = self.gpu(device)?;
        gpu.used.fetch_add(bytes, Ordering::Relaxed);
        // Counted first, so that a failure below gives it back (drop).
        let mut memory = CudaMemory {
            slice: None,
            address: 0,
            len: bytes,
            gpu: gpu.clone(),
        };
        let slice = gpu
            .stream
            .alloc_zeros::<u8>(bytes.max(1) as usize)
            .map_err(|e| gpu.failed(&format!("allocate {}", weft_proto::format_bytes(bytes)), e))?;
        memory.address = slice.device_ptr(&gpu.stream).0;
        memory.slice = Some(slice);
        gpu.sync("zero new memory")?;
        Ok(Box::new(memory))
    }

    fn load_ptx(&self, device: u32, ptx: &str) -> Result<Box<dyn Kernels>, GpuError> {
        self.load(device, cudarc::nvrtc::Ptx::from_src(ptx), "PTX")
    }

    fn load_cubin(&self, device: u32, cubin: &[u8]) -> Result<Box<dyn Kernels>, GpuError> {
        let image = cudarc::nvrtc::Ptx::from_binary(cubin.to_vec());
        self.load(device, image, "cubin")
    }

    fn synchronize(&self, device: u32) -> Result<(), GpuError> {
        let gpu = self.gpu(device)?;
        gpu.bind()?;
        gpu.sync("synchronize")
    }

    fn gemm(
        &self,
        device: u32,
        op: &Gemm,
        a: &dyn Memory,
        b: &dyn Memory,
        c: &dyn Memory,
    ) -> Result<(), GpuError> {
        let gpu = self.gpu(device)?;
        let (a, b, c) = (own(a, gpu)?, own(b, gpu)?, own(c, gpu)?);
        gpu.bind()?;
        let mut handle = gpu.blas.lock().unwrap_or_else(|p| p.into_inner());
        if handle.is_none() {
            // SAFETY: only looks for the library.
            if !unsafe { cublas_sys::is_culib_present() } {
                return Err(GpuError::NotSupported(
                    "no cuBLAS library (libcublas.so) on this machine".into(),
                ));
            }
            let made = cublas::create_handle()
                .map_err(|e| GpuError::NotSupported(format!("cuBLAS cannot start: {e:?}")))?;
            let made = BlasHandle(made);
            // SAFETY: both handles are live; the stream outlives the
            // handle (both belong to `gpu`).
            unsafe { cublas::set_stream(made.0, gpu.stream.cu_stream() as _) }.map_err(|e| {
                GpuError::NotSupported(format!("cuBLAS cannot use the stream: {e:?}"))
            })?;
            *handle = Some(made);
        }
        let Some(BlasHandle(blas)) = handle.as_ref() else {
            unreachable!("made above");
        };
        let kind = match op.dtype {
            Dtype::F32 => cublas_sys::cudaDataType::CUDA_R_32F,
            Dtype::F16 => cublas_sys::cudaDataType::CUDA_R_16F,
            Dtype::Bf16 => cublas_sys::cudaDataType::CUDA_R_16BF,
        };
        let transpose = |t: bool| {
            if t {
                cublas_sys::cublasOperation_t::CUBLAS_OP_T
            } else {
                cublas_sys::cublasOperation_t::CUBLAS_OP_N
            }
        };
        let (alpha, beta) = (op.alpha, op.beta);
        let alpha = &alpha as *const f32 as *const c_void;
        let beta = &beta as *const f32 as *const c_void;
        // SAFETY: the caller checked every operand's extent against the
        // shapes, leading dimensions and strides; the scales are read
        // before the call returns.
        let done = unsafe {
            cublas::gemm_strided_batched_ex(
                *blas,
                transpose(op.transpose_a),
                transpose(op.transpose_b),
                op.m as i32,
                op.n as i32,
                op.k as i32,
                alpha,
                a.address as *const c_void,
                kind,
                op.lda as i32,
                op.stride_a as i64,
                b.address as *const c_void,
                kind,
                op.ldb as i32,
                op.stride_b as i64,
                beta,
                c.address as *mut c_void,
                kind,
                op.ldc as i32,
                op.stride_c as i64,
                op.batch as i32,
                cublas_sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
                cublas_sys::cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        };
        done.map_err(|e| GpuError::LaunchFailed(format!("cuBLAS gemm on device {device}: {e:?}")))?;
        gpu.sync("gemm")
    }
}
