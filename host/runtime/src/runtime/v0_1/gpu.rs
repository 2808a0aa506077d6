//! `weft:runtime/gpu@0.1.0`: the current `gpu`, function for function,
//! with the old copies of its records and variants converted each way
//! (its `buffer` and `module` resources are the same).

use wasmtime::component::Resource;

use super::old::gpu;
use crate::gpu::{Buffer, Module};
use crate::runtime::RuntimeCtx;
use crate::runtime::generated::weft::runtime::gpu as current;
use crate::runtime::generated::weft::runtime::types::ObjectRef;

fn error(e: current::GpuError) -> gpu::GpuError {
    use current::GpuError as E;
    match e {
        E::OutOfMemory(m) => gpu::GpuError::OutOfMemory(m),
        E::InvalidArgument(m) => gpu::GpuError::InvalidArgument(m),
        E::LaunchFailed(m) => gpu::GpuError::LaunchFailed(m),
        E::DeviceLost(m) => gpu::GpuError::DeviceLost(m),
        E::NotSupported(m) => gpu::GpuError::NotSupported(m),
    }
}

fn gemm_op(op: gpu::GemmOp) -> current::GemmOp {
    current::GemmOp {
        dtype: match op.dtype {
            gpu::Dtype::Float32 => current::Dtype::Float32,
            gpu::Dtype::Float16 => current::Dtype::Float16,
            gpu::Dtype::Bfloat16 => current::Dtype::Bfloat16,
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
    }
}

fn dim3(d: gpu::Dim3) -> current::Dim3 {
    current::Dim3 {
        x: d.x,
        y: d.y,
        z: d.z,
    }
}

fn kernel_arg(arg: gpu::KernelArg) -> current::KernelArg {
    use gpu::KernelArg as A;
    match arg {
        A::Buffer(b) => current::KernelArg::Buffer(b),
        A::Int32(v) => current::KernelArg::Int32(v),
        A::Uint32(v) => current::KernelArg::Uint32(v),
        A::Int64(v) => current::KernelArg::Int64(v),
        A::Uint64(v) => current::KernelArg::Uint64(v),
        A::Float32(v) => current::KernelArg::Float32(v),
        A::Float64(v) => current::KernelArg::Float64(v),
    }
}

impl gpu::Host for RuntimeCtx {
    async fn devices(&mut self) -> Vec<gpu::DeviceInfo> {
        current::Host::devices(self)
            .await
            .into_iter()
            .map(|d| gpu::DeviceInfo {
                index: d.index,
                name: d.name,
                backend: d.backend,
                total_memory: d.total_memory,
                free_memory: d.free_memory,
                compute_capability: d.compute_capability,
            })
            .collect()
    }

    async fn synchronize(&mut self, device: u32) -> Result<(), gpu::GpuError> {
        current::Host::synchronize(self, device)
            .await
            .map_err(error)
    }

    async fn gemm(
        &mut self,
        op: gpu::GemmOp,
        a: Resource<Buffer>,
        b: Resource<Buffer>,
        c: Resource<Buffer>,
    ) -> Result<(), gpu::GpuError> {
        current::Host::gemm(self, gemm_op(op), a, b, c)
            .await
            .map_err(error)
    }

    async fn gemm_batched(
        &mut self,
        op: gpu::GemmOp,
        batch: gpu::Batch,
        a: Resource<Buffer>,
        b: Resource<Buffer>,
        c: Resource<Buffer>,
    ) -> Result<(), gpu::GpuError> {
        let batch = current::Batch {
            count: batch.count,
            stride_a: batch.stride_a,
            stride_b: batch.stride_b,
            stride_c: batch.stride_c,
        };
        current::Host::gemm_batched(self, gemm_op(op), batch, a, b, c)
            .await
            .map_err(error)
    }
}

impl gpu::HostBuffer for RuntimeCtx {
    async fn create(&mut self, device: u32, bytes: u64) -> Result<Resource<Buffer>, gpu::GpuError> {
        current::HostBuffer::create(self, device, bytes)
            .await
            .map_err(error)
    }

    async fn len(&mut self, buffer: Resource<Buffer>) -> u64 {
        current::HostBuffer::len(self, buffer).await
    }

    async fn device(&mut self, buffer: Resource<Buffer>) -> u32 {
        current::HostBuffer::device(self, buffer).await
    }

    async fn write(
        &mut self,
        buffer: Resource<Buffer>,
        offset: u64,
        data: Vec<u8>,
    ) -> Result<(), gpu::GpuError> {
        current::HostBuffer::write(self, buffer, offset, data)
            .await
            .map_err(error)
    }

    async fn read(
        &mut self,
        buffer: Resource<Buffer>,
        offset: u64,
        len: u64,
    ) -> Result<Vec<u8>, gpu::GpuError> {
        current::HostBuffer::read(self, buffer, offset, len)
            .await
            .map_err(error)
    }

    async fn copy_from_object(
        &mut self,
        buffer: Resource<Buffer>,
        object: ObjectRef,
        offset: u64,
    ) -> Result<(), gpu::GpuError> {
        current::HostBuffer::copy_from_object(self, buffer, object, offset)
            .await
            .map_err(error)
    }

    async fn to_object(&mut self, buffer: Resource<Buffer>) -> Result<ObjectRef, gpu::GpuError> {
        current::HostBuffer::to_object(self, buffer)
            .await
            .map_err(error)
    }

    async fn drop(&mut self, buffer: Resource<Buffer>) -> wasmtime::Result<()> {
        current::HostBuffer::drop(self, buffer).await
    }
}

impl gpu::HostModule for RuntimeCtx {
    async fn from_ptx(
        &mut self,
        device: u32,
        ptx: String,
    ) -> Result<Resource<Module>, gpu::GpuError> {
        current::HostModule::from_ptx(self, device, ptx)
            .await
            .map_err(error)
    }

    async fn from_cubin(
        &mut self,
        device: u32,
        cubin: Vec<u8>,
    ) -> Result<Resource<Module>, gpu::GpuError> {
        current::HostModule::from_cubin(self, device, cubin)
            .await
            .map_err(error)
    }

    async fn launch(
        &mut self,
        module: Resource<Module>,
        kernel: String,
        grid: gpu::Dim3,
        block: gpu::Dim3,
        shared_bytes: u32,
        args: Vec<gpu::KernelArg>,
    ) -> Result<(), gpu::GpuError> {
        let args = args.into_iter().map(kernel_arg).collect();
        current::HostModule::launch(
            self,
            module,
            kernel,
            dim3(grid),
            dim3(block),
            shared_bytes,
            args,
        )
        .await
        .map_err(error)
    }

    async fn drop(&mut self, module: Resource<Module>) -> wasmtime::Result<()> {
        current::HostModule::drop(self, module).await
    }
}
