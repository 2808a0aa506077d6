//! The `cuda` backend: NVIDIA GPUs through the CUDA driver API and
//! cuBLAS, both loaded when first used (cudarc's dynamic loading), so one
//! `weft` binary builds and runs on machines with and without CUDA.
//!
//! Each device has its primary context and one stream; every operation
//! runs on that stream and a call returns once its work is done (copies,
//! gemms) or queued (launches, which `synchronize` waits for). Buffers are
//! plain device allocations whose addresses kernels take by value.
//! A fault that poisons a context (an illegal address, say) fails the
//! task that caused it with CUDA's error name and marks its context lost.
//! Once nothing made on that context is left (the task holding the device
//! ended, and with it its buffers and modules), the next use resets the
//! device's primary context and opens a fresh one, so the host goes on
//! serving with the device; only a failed reset retires it.

#![allow(
    unsafe_code,
    reason = "the CUDA driver and cuBLAS take raw device addresses"
)]

use std::any::Any;
use std::ffi::c_void;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

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
    slots: Vec<Slot>,
}

/// One device: the context in use, replaced by a fresh one after a fault.
struct Slot {
    index: u32,
    current: Mutex<Current>,
}

enum Current {
    Ready(Arc<Gpu>),
    /// Its reset failed: why.
    Retired(String),
}

/// One context of a device: its stream and cuBLAS handle. Fields drop in
/// order, so the handle goes before the stream and the context.
struct Gpu {
    index: u32,
    blas: Mutex<Option<BlasHandle>>,
    stream: Arc<CudaStream>,
    ctx: Arc<CudaContext>,
    used: AtomicU64,
    /// Why the context is unusable, once a fault poisoned it.
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
        let mut slots = Vec::new();
        for index in 0..count {
            let gpu =
                Gpu::open(index).map_err(|e| not_usable(&format!("open device {index}"), e))?;
            let ctx = &gpu.ctx;
            let name = ctx.name().unwrap_or_else(|_| "CUDA device".into());
            let total = ctx.total_mem().unwrap_or(0) as u64;
            let (major, minor) = ctx.compute_capability().unwrap_or((0, 0));
            devices.push(Device {
                name,
                total_memory: total,
                compute_capability: (major.max(0) as u32, minor.max(0) as u32),
            });
            slots.push(Slot {
                index,
                current: Mutex::new(Current::Ready(gpu)),
            });
        }
        Ok(Cuda { devices, slots })
    }

    /// Device `device`'s context, reset first if a fault lost it and
    /// nothing made on it is left.
    fn gpu(&self, device: u32) -> Result<Arc<Gpu>, GpuError> {
        self.slots
            .get(device as usize)
            .ok_or_else(|| GpuError::InvalidArgument(format!("no device {device} on this host")))?
            .get()
    }
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Current> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self) -> Result<Arc<Gpu>, GpuError> {
        let mut current = self.lock();
        if let Current::Ready(gpu) = &*current
            && let Some(why) = gpu.lost.get()
        {
            // Buffers, modules, or a call in flight still use the faulted
            // context: they belong to the task that held the device when
            // it faulted, and go when it ends.
            if Arc::strong_count(gpu) > 1 {
                return Err(GpuError::DeviceLost(format!(
                    "device {} faulted ({why}); it is reset once the task that held it ends",
                    self.index
                )));
            }
            let why = why.clone();
            let started = Instant::now();
            // The old context goes first (its handle, stream, and the
            // primary context's retain), then the reset, then a new one.
            *current = Current::Retired(format!("it faulted ({why})"));
            *current = match Gpu::reset(self.index) {
                Ok(gpu) => {
                    tracing::warn!(device = self.index, fault = %why, took = ?started.elapsed(), "reset a faulted GPU");
                    Current::Ready(gpu)
                }
                Err(e) => {
                    let e = describe(&e);
                    tracing::error!(device = self.index, fault = %why, error = %e, "a faulted GPU does not reset; retired");
                    Current::Retired(format!("it faulted ({why}) and its reset failed ({e})"))
                }
            };
        }
        match &*current {
            Current::Ready(gpu) => Ok(gpu.clone()),
            Current::Retired(why) => Err(GpuError::DeviceLost(format!(
                "device {}: {why}; it serves nothing until the host restarts",
                self.index
            ))),
        }
    }

    fn used(&self) -> u64 {
        match &*self.lock() {
            Current::Ready(gpu) => gpu.used.load(Ordering::Relaxed),
            Current::Retired(_) => 0,
        }
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
    /// Device `index`'s primary context, with one stream that carries all
    /// of its work in order (so cudarc's cross-stream event tracking is
    /// not needed).
    fn open(index: u32) -> Result<Arc<Gpu>, DriverError> {
        let ctx = CudaContext::new(index as usize)?;
        // SAFETY: buffers are used only on the stream below.
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx.default_stream();
        Ok(Arc::new(Gpu {
            index,
            blas: Mutex::new(None),
            stream,
            ctx,
            used: AtomicU64::new(0),
            lost: OnceLock::new(),
        }))
    }

    /// Resets device `index`'s primary context (destroying what a fault
    /// left in it) and opens it again.
    fn reset(index: u32) -> Result<Arc<Gpu>, DriverError> {
        let mut device = 0;
        // SAFETY: writes the handle of device `index` into `device`.
        unsafe { sys::cuDeviceGet(&mut device, index as i32) }.result()?;
        // SAFETY: this process holds nothing made on the context any
        // more (the caller dropped the last reference to it).
        unsafe { sys::cuDevicePrimaryCtxReset_v2(device) }.result()?;
        Gpu::open(index)
    }

    fn usable(&self) -> Result<(), GpuError> {
        let Some(why) = self.lost.get() else {
            return Ok(());
        };
        Err(GpuError::DeviceLost(format!(
            "device {} faulted earlier ({why}); it is reset once the task that held it ends",
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

    fn read_into(&self, offset: u64, out: &mut [u8]) -> Result<(), GpuError> {
        self.gpu.usable()?;
        self.gpu.bind()?;
        // SAFETY: as in `write`, the other way.
        unsafe {
            cudarc::driver::result::memcpy_dtoh_async(
                out,
                self.address + offset,
                self.gpu.stream.cu_stream(),
            )
        }
        .map_err(|e| self.gpu.failed("copy from the device", e))?;
        self.gpu.sync("copy from the device")
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
    if !std::ptr::eq(own.gpu.as_ref(), gpu) {
        return Err(GpuError::DeviceLost(format!(
            "a buffer made on device {} before it was reset",
            gpu.index
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
        self.slots.get(device as usize).map_or(0, Slot::used)
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
        let (a, b, c) = (own(a, &gpu)?, own(b, &gpu)?, own(c, &gpu)?);
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
