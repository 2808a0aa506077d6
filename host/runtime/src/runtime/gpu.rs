//! `weft:runtime/gpu` for guests: buffers and modules live in the call's
//! resource table (so they go with the guest's store, however its call
//! ends), on the devices of the task's [`Lease`](crate::gpu::Lease).
//! Work that takes time (allocating, gemm, moving objects) runs on a
//! blocking thread, never on the runtime's.

use std::sync::Arc;

use wasmtime::component::Resource;

use super::RuntimeCtx;
use super::generated::weft::runtime::gpu::{
    self, Batch, DeviceInfo, Dim3, Dtype, GemmOp, GpuError, KernelArg,
};
use super::generated::weft::runtime::types::ObjectRef;
use crate::gpu::{Buffer, Lease, Module, blas};
use crate::services::PutError;

impl From<crate::gpu::GpuError> for GpuError {
    fn from(e: crate::gpu::GpuError) -> Self {
        use crate::gpu::GpuError as E;
        match e {
            E::OutOfMemory(m) => GpuError::OutOfMemory(m),
            E::InvalidArgument(m) => GpuError::InvalidArgument(m),
            E::LaunchFailed(m) => GpuError::LaunchFailed(m),
            E::DeviceLost(m) => GpuError::DeviceLost(m),
            E::NotSupported(m) => GpuError::NotSupported(m),
            // Only leases are refused as busy, before a guest runs.
            E::Busy(m) => GpuError::InvalidArgument(m),
        }
    }
}

fn invalid(what: &str, e: impl std::fmt::Display) -> GpuError {
    GpuError::InvalidArgument(format!("{what}: {e}"))
}

/// Runs `work` on a blocking thread.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, crate::gpu::GpuError> + Send + 'static,
) -> Result<T, GpuError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(done) => done.map_err(GpuError::from),
        Err(e) => Err(GpuError::DeviceLost(format!(
            "the GPU worker thread failed: {e}"
        ))),
    }
}

/// Adds `weft:runtime/gpu` to `linker`, with `buffer.write` served by
/// [`add_direct_writes`].
pub(super) fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    gpu::add_to_linker::<T, wasmtime::component::HasSelf<RuntimeCtx>>(linker, get)?;
    add_direct_writes(linker, get, "weft:runtime/gpu@0.2.0")
}

/// Defines `buffer.write` again, over bindgen's: it copies the guest's
/// bytes straight from its memory into the buffer (bindgen's would lift
/// them into a fresh `Vec` first, a second copy into freshly faulted
/// pages). `interface` is the versioned name.
pub(super) fn add_direct_writes<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
    interface: &str,
) -> wasmtime::Result<()> {
    use wasmtime::component::WasmList;
    linker.allow_shadowing(true);
    let mut gpu = linker.instance(interface)?;
    gpu.func_wrap(
        "[method]buffer.write",
        move |mut store: wasmtime::StoreContextMut<'_, T>,
              (buffer, offset, data): (Resource<Buffer>, u64, WasmList<u8>)| {
            let memory = get(store.data_mut()).buffer(&buffer).and_then(|b| {
                b.check_range(offset, data.len() as u64)?;
                Ok(b.memory.clone())
            });
            let written = memory.and_then(|memory| {
                let bytes = data.as_le_slice(&store);
                Ok(memory.write(offset, bytes)?)
            });
            Ok((written,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

impl RuntimeCtx {
    /// The devices lent to this call's task: none outside a task, or for
    /// a task that asked for none.
    fn lease(&self) -> Result<Arc<Lease>, GpuError> {
        self.tasks.as_ref().and_then(|t| t.gpu()).ok_or_else(|| {
            GpuError::InvalidArgument(
                "this guest was given no GPUs: submit it with gpus=N (weft submit --gpus N)".into(),
            )
        })
    }

    fn buffer(&self, buffer: &Resource<Buffer>) -> Result<&Buffer, GpuError> {
        self.resources.get(buffer).map_err(|e| invalid("buffer", e))
    }
}

impl gpu::Host for RuntimeCtx {
    async fn devices(&mut self) -> Vec<DeviceInfo> {
        let Ok(lease) = self.lease() else {
            return Vec::new();
        };
        let backend = lease.backend().name().to_string();
        lease
            .devices()
            .into_iter()
            .map(|(index, device, free)| DeviceInfo {
                index,
                name: device.name,
                backend: backend.clone(),
                total_memory: device.total_memory,
                free_memory: free,
                compute_capability: device.compute_capability,
            })
            .collect()
    }

    async fn synchronize(&mut self, device: u32) -> Result<(), GpuError> {
        let lease = self.lease()?;
        let physical = lease.physical(device)?;
        blocking(move || lease.backend().synchronize(physical)).await
    }

    async fn gemm(
        &mut self,
        op: GemmOp,
        a: Resource<Buffer>,
        b: Resource<Buffer>,
        c: Resource<Buffer>,
    ) -> Result<(), GpuError> {
        let op = gemm_op(op, 1, [0, 0, 0]);
        self.run_gemm(op, a, b, c).await
    }

    async fn gemm_batched(
        &mut self,
        op: GemmOp,
        batch: Batch,
        a: Resource<Buffer>,
        b: Resource<Buffer>,
        c: Resource<Buffer>,
    ) -> Result<(), GpuError> {
        let op = gemm_op(
            op,
            batch.count,
            [batch.stride_a, batch.stride_b, batch.stride_c],
        );
        self.run_gemm(op, a, b, c).await
    }
}

fn gemm_op(op: GemmOp, batch: u32, strides: [u64; 3]) -> blas::Gemm {
    blas::Gemm {
        dtype: match op.dtype {
            Dtype::Float32 => blas::Dtype::F32,
            Dtype::Float16 => blas::Dtype::F16,
            Dtype::Bfloat16 => blas::Dtype::Bf16,
        },
        transpose_a: op.transpose_a,
        transpose_b: op.transpose_b,
        m: op.m,
        n: op.n,
        k: op.k,
        alpha: op.alpha,
        beta: op.beta,
        lda: op.lda,
        ldb: op.ldb,
        ldc: op.ldc,
        batch,
        stride_a: strides[0],
        stride_b: strides[1],
        stride_c: strides[2],
    }
    .with_default_leads()
}

impl RuntimeCtx {
    async fn run_gemm(
        &mut self,
        op: blas::Gemm,
        a: Resource<Buffer>,
        b: Resource<Buffer>,
        c: Resource<Buffer>,
    ) -> Result<(), GpuError> {
        let lease = self.lease()?;
        let [a, b, c] =
            [&a, &b, &c].map(|r| self.buffer(r).map(|b| (b.memory.clone(), b.physical)));
        let ((a, device), (b, device_b), (c, device_c)) = (a?, b?, c?);
        if device != device_b || device != device_c {
            return Err(GpuError::InvalidArgument(
                "gemm's buffers must be on one device".into(),
            ));
        }
        op.check([a.len(), b.len(), c.len()])?;
        blocking(move || lease.backend().gemm(device, &op, &*a, &*b, &*c)).await
    }
}

impl gpu::HostBuffer for RuntimeCtx {
    async fn create(&mut self, device: u32, bytes: u64) -> Result<Resource<Buffer>, GpuError> {
        let lease = self.lease()?;
        let buffer = blocking(move || Buffer::create(&lease, device, bytes)).await?;
        self.resources
            .push(buffer)
            .map_err(|e| GpuError::OutOfMemory(format!("buffer.create: {e}")))
    }

    async fn len(&mut self, buffer: Resource<Buffer>) -> u64 {
        self.buffer(&buffer).map_or(0, |b| b.memory.len())
    }

    async fn device(&mut self, buffer: Resource<Buffer>) -> u32 {
        self.buffer(&buffer).map_or(0, |b| b.device)
    }

    // The linker serves this with `add_direct_writes` (one copy); bindgen's
    // trait still wants it.
    async fn write(
        &mut self,
        buffer: Resource<Buffer>,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<(), GpuError> {
        let buffer = self.buffer(&buffer)?;
        buffer.check_range(offset, data.len() as u64)?;
        let memory = buffer.memory.clone();
        blocking(move || memory.write(offset, &data)).await
    }

    async fn read(
        &mut self,
        buffer: Resource<Buffer>,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, GpuError> {
        let buffer = self.buffer(&buffer)?;
        buffer.check_range(offset, len)?;
        let memory = buffer.memory.clone();
        blocking(move || memory.read(offset, len)).await
    }

    async fn copy_from_object(
        &mut self,
        buffer: Resource<Buffer>,
        object: ObjectRef,
        offset: u64,
    ) -> Result<(), GpuError> {
        let context = self
            .tasks
            .clone()
            .ok_or_else(|| invalid("copy-from-object", "needs the guest to run as a task"))?;
        let bytes = context
            .object(&object.id)
            .await
            .map_err(|e| invalid("copy-from-object", e))?;
        let buffer = self.buffer(&buffer)?;
        let len = bytes.as_slice().len() as u64;
        buffer.check_range(offset, len).map_err(|_| {
            GpuError::InvalidArgument(format!(
                "object {} has {len} bytes, which do not fit at {offset} of a buffer of {}",
                object.id,
                buffer.memory.len()
            ))
        })?;
        let memory = buffer.memory.clone();
        blocking(move || memory.write(offset, bytes.as_slice())).await
    }

    async fn to_object(&mut self, buffer: Resource<Buffer>) -> Result<ObjectRef, GpuError> {
        let context = self
            .tasks
            .clone()
            .ok_or_else(|| invalid("to-object", "needs the guest to run as a task"))?;
        let memory = self.buffer(&buffer)?.memory.clone();
        let len = memory.len();
        let stored = |e: PutError| match e {
            PutError::Full(_) => GpuError::OutOfMemory(format!("to-object: {e}")),
            e => invalid("to-object", e),
        };
        // A buffer small enough to travel inline goes as a put; a larger
        // one, which a put would copy into the store, is copied from the
        // device straight into the store's mapping instead.
        if len as usize <= weft_proto::limits::INLINE_MAX {
            let data = blocking(move || memory.read(0, len)).await?;
            let id = context.put(data).await.map_err(stored)?;
            return Ok(ObjectRef { id });
        }
        let object = context.create(len).await.map_err(stored)?;
        let object = blocking(move || {
            match object.fill(0, len as usize, &mut |out| memory.read_into(0, out)) {
                Ok(Ok(())) => Ok(object),
                Ok(Err(e)) => Err(e),
                Err(e) => Err(crate::gpu::GpuError::InvalidArgument(format!(
                    "to-object: {e}"
                ))),
            }
        })
        .await?;
        let id = context.finish(object).await.map_err(stored)?;
        Ok(ObjectRef { id })
    }

    async fn drop(&mut self, buffer: Resource<Buffer>) -> wasmtime::Result<()> {
        self.resources.delete(buffer)?;
        Ok(())
    }
}

impl gpu::HostModule for RuntimeCtx {
    async fn from_ptx(&mut self, device: u32, ptx: String) -> Result<Resource<Module>, GpuError> {
        let lease = self.lease()?;
        let physical = lease.physical(device)?;
        let kernels = blocking(move || lease.backend().load_ptx(physical, &ptx)).await?;
        self.resources
            .push(Module { kernels, physical })
            .map_err(|e| invalid("module.from-ptx", e))
    }

    async fn from_cubin(
        &mut self,
        device: u32,
        cubin: Vec<u8>,
    ) -> Result<Resource<Module>, GpuError> {
        let lease = self.lease()?;
        let physical = lease.physical(device)?;
        let kernels = blocking(move || lease.backend().load_cubin(physical, &cubin)).await?;
        self.resources
            .push(Module { kernels, physical })
            .map_err(|e| invalid("module.from-cubin", e))
    }

    async fn launch(
        &mut self,
        module: Resource<Module>,
        kernel: String,
        grid: Dim3,
        block: Dim3,
        shared_bytes: u32,
        args: Vec<KernelArg>,
    ) -> Result<(), GpuError> {
        let module = self
            .resources
            .get(&module)
            .map_err(|e| invalid("module", e))?;
        let mut memories = Vec::new();
        for arg in &args {
            if let KernelArg::Buffer(b) = arg {
                let buffer = self.buffer(b)?;
                if buffer.physical != module.physical {
                    return Err(GpuError::InvalidArgument(
                        "a kernel's buffers must be on its module's device".into(),
                    ));
                }
                memories.push(buffer.memory.clone());
            }
        }
        let mut memories = memories.iter();
        let args: Vec<crate::gpu::KernelArg<'_>> = args
            .iter()
            .map(|arg| match arg {
                KernelArg::Buffer(_) => crate::gpu::KernelArg::Buffer(
                    &**memories.next().expect("one memory per buffer argument"),
                ),
                KernelArg::Int32(v) => crate::gpu::KernelArg::I32(*v),
                KernelArg::Uint32(v) => crate::gpu::KernelArg::U32(*v),
                KernelArg::Int64(v) => crate::gpu::KernelArg::I64(*v),
                KernelArg::Uint64(v) => crate::gpu::KernelArg::U64(*v),
                KernelArg::Float32(v) => crate::gpu::KernelArg::F32(*v),
                KernelArg::Float64(v) => crate::gpu::KernelArg::F64(*v),
            })
            .collect();
        let launch = crate::gpu::Launch {
            grid: (grid.x, grid.y, grid.z),
            block: (block.x, block.y, block.z),
            shared_bytes,
        };
        // A launch is queued, not waited for: it returns at once.
        Ok(module.kernels.launch(&kernel, &launch, &args)?)
    }

    async fn drop(&mut self, module: Resource<Module>) -> wasmtime::Result<()> {
        self.resources.delete(module)?;
        Ok(())
    }
}
