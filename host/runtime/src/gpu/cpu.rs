//! The `cpu` backend: a reference with the same buffers and BLAS as a
//! GPU, in host memory, so that every part of the interface (scheduling by
//! device included) runs where there is no GPU. Kernels are not supported:
//! there is nothing to run PTX on.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use super::{Backend, Device, GpuError, Kernels, Memory, blas};

/// `count` devices of `memory` bytes each.
pub struct Cpu {
    devices: Vec<Device>,
    used: Vec<Arc<AtomicU64>>,
}

impl Cpu {
    /// A backend offering `count` devices of `memory` bytes each.
    pub fn new(count: u32, memory: u64) -> Self {
        Cpu {
            devices: (0..count)
                .map(|_| Device {
                    name: "cpu".into(),
                    total_memory: memory,
                    compute_capability: (0, 0),
                })
                .collect(),
            used: (0..count).map(|_| Arc::new(AtomicU64::new(0))).collect(),
        }
    }

    fn device(&self, device: u32) -> Result<&Arc<AtomicU64>, GpuError> {
        self.used
            .get(device as usize)
            .ok_or_else(|| GpuError::InvalidArgument(format!("no device {device} on this host")))
    }
}

/// Host memory standing in for a device's.
struct CpuMemory {
    bytes: RwLock<Vec<u8>>,
    len: u64,
    used: Arc<AtomicU64>,
}

impl Drop for CpuMemory {
    fn drop(&mut self) {
        self.used.fetch_sub(self.len, Ordering::Relaxed);
    }
}

impl Memory for CpuMemory {
    fn len(&self) -> u64 {
        self.len
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), GpuError> {
        let mut bytes = self.bytes.write().unwrap_or_else(|p| p.into_inner());
        bytes[offset as usize..offset as usize + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn read_into(&self, offset: u64, out: &mut [u8]) -> Result<(), GpuError> {
        let bytes = self.bytes.read().unwrap_or_else(|p| p.into_inner());
        out.copy_from_slice(&bytes[offset as usize..offset as usize + out.len()]);
        Ok(())
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

fn own(memory: &dyn Memory) -> Result<&CpuMemory, GpuError> {
    memory
        .as_any()
        .downcast_ref::<CpuMemory>()
        .ok_or_else(|| GpuError::InvalidArgument("a buffer of another backend".into()))
}

impl Backend for Cpu {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn devices(&self) -> &[Device] {
        &self.devices
    }

    fn used(&self, device: u32) -> u64 {
        self.used
            .get(device as usize)
            .map_or(0, |u| u.load(Ordering::Relaxed))
    }

    fn alloc(&self, device: u32, bytes: u64) -> Result<Box<dyn Memory>, GpuError> {
        let used = self.device(device)?;
        let total = self.devices[device as usize].total_memory;
        let before = used.fetch_add(bytes, Ordering::Relaxed);
        if before + bytes > total {
            used.fetch_sub(bytes, Ordering::Relaxed);
            return Err(GpuError::OutOfMemory(format!(
                "{} asked for on device {device}, which has {} of {} free",
                weft_proto::format_bytes(bytes),
                weft_proto::format_bytes(total.saturating_sub(before)),
                weft_proto::format_bytes(total)
            )));
        }
        let memory = CpuMemory {
            bytes: RwLock::new(Vec::new()),
            len: bytes,
            used: used.clone(),
        };
        // Allocated after the charge, so a failure gives it back (drop).
        let mut zeroed = Vec::new();
        zeroed.try_reserve_exact(bytes as usize).map_err(|_| {
            GpuError::OutOfMemory(format!(
                "{} of host memory for device {device}",
                weft_proto::format_bytes(bytes)
            ))
        })?;
        zeroed.resize(bytes as usize, 0);
        *memory.bytes.write().unwrap_or_else(|p| p.into_inner()) = zeroed;
        Ok(Box::new(memory))
    }

    fn load_ptx(&self, _device: u32, _ptx: &str) -> Result<Box<dyn Kernels>, GpuError> {
        Err(not_supported())
    }

    fn load_cubin(&self, _device: u32, _cubin: &[u8]) -> Result<Box<dyn Kernels>, GpuError> {
        Err(not_supported())
    }

    fn synchronize(&self, device: u32) -> Result<(), GpuError> {
        self.device(device).map(drop)
    }

    fn gemm(
        &self,
        _device: u32,
        op: &blas::Gemm,
        a: &dyn Memory,
        b: &dyn Memory,
        c: &dyn Memory,
    ) -> Result<(), GpuError> {
        let (a, b, c) = (own(a)?, own(b)?, own(c)?);
        if std::ptr::eq(a, c) || std::ptr::eq(b, c) {
            return Err(GpuError::InvalidArgument(
                "c must be a buffer of its own, not a or b".into(),
            ));
        }
        let a_bytes = a.bytes.read().unwrap_or_else(|p| p.into_inner());
        let b_bytes = b.bytes.read().unwrap_or_else(|p| p.into_inner());
        let mut c_bytes = c.bytes.write().unwrap_or_else(|p| p.into_inner());
        blas::gemm(op, &a_bytes, &b_bytes, &mut c_bytes)
    }
}

fn not_supported() -> GpuError {
    GpuError::NotSupported(
        "kernels need the cuda backend; this host runs the cpu backend (buffers and gemm only)"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_counted_per_device_and_given_back() {
        let cpu = Cpu::new(2, 1000);
        let a = cpu.alloc(0, 600).unwrap();
        assert_eq!(cpu.used(0), 600);
        assert_eq!(cpu.used(1), 0);
        let err = cpu.alloc(0, 500).err().unwrap();
        assert!(err.to_string().contains("400 B of"), "{err}");
        drop(a);
        assert_eq!(cpu.used(0), 0);
        assert!(cpu.alloc(2, 1).is_err());
        assert!(matches!(
            cpu.load_ptx(0, ""),
            Err(GpuError::NotSupported(_))
        ));
    }
}
