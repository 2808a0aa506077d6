//! GPUs for guests: the host side of `weft:runtime/gpu`.
//!
//! A [`Backend`] owns a host's devices: `cpu`, a reference backend with the
//! same buffers and BLAS (kernels are not supported), or `cuda`. [`Gpus`]
//! lends a task the devices the leader picked for it ([`Lease`]), so a
//! guest sees only its own, numbered from 0; every buffer is charged to
//! its task's lease (`--gpu-memory` caps it) and to its device, and is
//! freed when the guest's store goes, however its call ended.

pub mod blas;
pub mod cpu;
pub mod cuda;

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Why a GPU operation failed, as the guest sees it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GpuError {
    /// Device memory, or the task's share of it, ran out.
    #[error("out of GPU memory: {0}")]
    OutOfMemory(String),
    /// An argument does not fit.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// A kernel failed (CUDA's error name and message).
    #[error("launch failed: {0}")]
    LaunchFailed(String),
    /// The device faulted and was reset.
    #[error("device lost: {0}")]
    DeviceLost(String),
    /// The backend cannot do it.
    #[error("not supported: {0}")]
    NotSupported(String),
    /// The devices asked for are lent to another task (the host's side;
    /// a guest never sees it: its task waits for them or fails to start).
    #[error("GPUs busy: {0}")]
    Busy(String),
}

/// A device as a backend knows it (numbered as the backend numbers them).
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// Its name.
    pub name: String,
    /// Its memory in bytes.
    pub total_memory: u64,
    /// CUDA compute capability; (0, 0) on `cpu`.
    pub compute_capability: (u32, u32),
}

/// Bytes on one device. Methods take `&self` so that a gemm can hold its
/// three operands at once; backends lock where they must.
pub trait Memory: Send + Sync {
    /// Its size in bytes.
    fn len(&self) -> u64;
    /// Whether it is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copies `data` to `offset` (checked by the caller).
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), GpuError>;
    /// Copies `out.len()` bytes from `offset` into `out` (checked by the
    /// caller): straight into an object store's mapping, say.
    fn read_into(&self, offset: u64, out: &mut [u8]) -> Result<(), GpuError>;
    /// Copies `len` bytes from `offset` (checked by the caller).
    fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>, GpuError> {
        let mut out = vec![0u8; len as usize];
        self.read_into(offset, &mut out)?;
        Ok(out)
    }
    /// For the backend that made it.
    fn as_any(&self) -> &dyn Any;
}

/// Kernels loaded on one device.
pub trait Kernels: Send + Sync {
    /// Launches `kernel` (see [`Launch`]).
    fn launch(&self, kernel: &str, launch: &Launch, args: &[KernelArg<'_>])
    -> Result<(), GpuError>;
}

/// A kernel launch's shape.
#[derive(Debug, Clone, Copy)]
pub struct Launch {
    /// Blocks in x, y, z.
    pub grid: (u32, u32, u32),
    /// Threads per block in x, y, z.
    pub block: (u32, u32, u32),
    /// Dynamic shared memory per block.
    pub shared_bytes: u32,
}

/// One argument of a launch.
pub enum KernelArg<'a> {
    /// Device memory, passed as its address.
    Buffer(&'a dyn Memory),
    /// Scalars, passed by value.
    I32(i32),
    /// See above.
    U32(u32),
    /// See above.
    I64(i64),
    /// See above.
    U64(u64),
    /// See above.
    F32(f32),
    /// See above.
    F64(f64),
}

/// A host's devices and what runs on them.
pub trait Backend: Send + Sync {
    /// `cpu` or `cuda`.
    fn name(&self) -> &'static str;
    /// Its devices.
    fn devices(&self) -> &[Device];
    /// Bytes in use on `device` now.
    fn used(&self, device: u32) -> u64;
    /// `bytes` zeroed bytes on `device`.
    fn alloc(&self, device: u32, bytes: u64) -> Result<Box<dyn Memory>, GpuError>;
    /// Loads PTX text on `device`.
    fn load_ptx(&self, device: u32, ptx: &str) -> Result<Box<dyn Kernels>, GpuError>;
    /// Loads a cubin on `device`.
    fn load_cubin(&self, device: u32, cubin: &[u8]) -> Result<Box<dyn Kernels>, GpuError>;
    /// Waits for what was launched on `device`.
    fn synchronize(&self, device: u32) -> Result<(), GpuError>;
    /// Runs `batch` gemms (checked by the caller against the operands'
    /// sizes) on `device`.
    fn gemm(
        &self,
        device: u32,
        op: &blas::Gemm,
        a: &dyn Memory,
        b: &dyn Memory,
        c: &dyn Memory,
    ) -> Result<(), GpuError>;
}

/// A host's backend and which of its devices are lent to whom.
pub struct Gpus {
    backend: Arc<dyn Backend>,
    /// Which devices a task holds now.
    lent: Mutex<Vec<bool>>,
    /// Told when a lease ends.
    freed: tokio::sync::Notify,
    /// The most device memory one task may hold (0: no cap).
    cap: u64,
}

impl std::fmt::Debug for Gpus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gpus")
            .field("backend", &self.backend.name())
            .field("devices", &self.backend.devices().len())
            .finish()
    }
}

impl Gpus {
    /// Lends `backend`'s devices, each task holding at most `cap` bytes
    /// (0: no cap).
    pub fn new(backend: Arc<dyn Backend>, cap: u64) -> Arc<Self> {
        let n = backend.devices().len();
        Arc::new(Gpus {
            backend,
            lent: Mutex::new(vec![false; n]),
            freed: tokio::sync::Notify::new(),
            cap,
        })
    }

    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    /// How many devices there are.
    pub fn count(&self) -> u32 {
        self.backend.devices().len() as u32
    }

    /// One line for `weft list nodes` and the start line.
    pub fn describe(&self) -> String {
        let devices = self.backend.devices();
        match devices.first() {
            None => format!("{}: no devices", self.backend.name()),
            Some(first) => format!(
                "{}: {} x {} ({})",
                self.backend.name(),
                devices.len(),
                first.name,
                weft_proto::format_bytes(first.total_memory)
            ),
        }
    }

    /// Lends `n` devices ([`Gpus::lease`]), waiting up to `patience` for
    /// them to be free: the scheduler counts a device free the moment an
    /// actor holding it is killed, a little before the actor has stopped
    /// here.
    pub async fn lease_when_free(
        self: &Arc<Self>,
        n: u32,
        devices: &[u32],
        patience: std::time::Duration,
    ) -> Result<Arc<Lease>, GpuError> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            let freed = self.freed.notified();
            match self.lease(n, devices) {
                Ok(lease) => return Ok(lease),
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(GpuError::Busy(_)) => {
                    let _ = tokio::time::timeout_at(deadline, freed).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Lends `n` devices to a task until the lease is dropped: `devices`
    /// (the host's indices the scheduler picked), or any free ones when it
    /// names none.
    pub fn lease(self: &Arc<Self>, n: u32, devices: &[u32]) -> Result<Arc<Lease>, GpuError> {
        let mut lent = self.lent.lock().unwrap_or_else(|p| p.into_inner());
        let count = lent.len();
        let chosen: Vec<u32> = if devices.is_empty() {
            (0..count as u32)
                .filter(|i| !lent[*i as usize])
                .take(n as usize)
                .collect()
        } else if devices.len() != n as usize
            || devices.iter().any(|i| *i as usize >= count)
            || (1..devices.len()).any(|k| devices[..k].contains(&devices[k]))
        {
            return Err(GpuError::InvalidArgument(format!(
                "{n} GPU(s) asked for as devices {devices:?}, and this host has {count}"
            )));
        } else {
            devices
                .iter()
                .copied()
                .filter(|i| !lent[*i as usize])
                .collect()
        };
        if chosen.len() < n as usize {
            return Err(GpuError::Busy(if devices.is_empty() {
                format!(
                    "{n} GPU(s) asked for, {} of this host's {count} free",
                    chosen.len()
                )
            } else {
                format!("GPU(s) {devices:?} asked for, and only {chosen:?} of them are free")
            }));
        }
        for i in &chosen {
            lent[*i as usize] = true;
        }
        Ok(Arc::new(Lease {
            gpus: self.clone(),
            devices: chosen,
            used: Arc::new(AtomicU64::new(0)),
        }))
    }
}

/// The devices one task or actor holds, and the memory it has on them.
#[derive(Debug)]
pub struct Lease {
    gpus: Arc<Gpus>,
    /// Physical device of each of the guest's device numbers.
    devices: Vec<u32>,
    used: Arc<AtomicU64>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut lent = self.gpus.lent.lock().unwrap_or_else(|p| p.into_inner());
        for i in &self.devices {
            lent[*i as usize] = false;
        }
        drop(lent);
        self.gpus.freed.notify_waiters();
    }
}

impl Lease {
    /// The backend.
    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.gpus.backend
    }

    /// The physical device behind the guest's device `index`.
    pub fn physical(&self, index: u32) -> Result<u32, GpuError> {
        self.devices.get(index as usize).copied().ok_or_else(|| {
            GpuError::InvalidArgument(match self.devices.len() {
                0 => format!("device {index}: this task was given no GPUs (submit it with gpus=N)"),
                n => format!("device {index}: this task was given {n} GPU(s), numbered from 0"),
            })
        })
    }

    /// The guest's devices, as `devices()` answers.
    pub fn devices(&self) -> Vec<(u32, Device, u64)> {
        let backend = &self.gpus.backend;
        self.devices
            .iter()
            .enumerate()
            .map(|(i, physical)| {
                let device = backend.devices()[*physical as usize].clone();
                let free = device.total_memory.saturating_sub(backend.used(*physical));
                (i as u32, device, free)
            })
            .collect()
    }

    /// Charges `bytes` to this lease; the charge is given back when the
    /// returned guard drops.
    pub fn charge(&self, bytes: u64) -> Result<Charge, GpuError> {
        let cap = self.gpus.cap;
        let before = self.used.fetch_add(bytes, Ordering::Relaxed);
        if cap > 0 && before + bytes > cap {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
            return Err(GpuError::OutOfMemory(format!(
                "{} more would take this task past its GPU memory cap of {} (--gpu-memory); it holds {}",
                weft_proto::format_bytes(bytes),
                weft_proto::format_bytes(cap),
                weft_proto::format_bytes(before)
            )));
        }
        Ok(Charge {
            used: self.used.clone(),
            bytes,
        })
    }
}

/// Bytes charged to a lease until dropped.
#[derive(Debug)]
pub struct Charge {
    used: Arc<AtomicU64>,
    bytes: u64,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.used.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A guest's buffer: its memory, its device number for the guest, and its
/// charge.
pub struct Buffer {
    /// The memory (shared with the blocking thread a gemm runs on).
    pub memory: Arc<dyn Memory>,
    /// The guest's number for its device.
    pub device: u32,
    /// The physical device.
    pub physical: u32,
    _charge: Charge,
}

impl Buffer {
    /// A buffer of `bytes` on the guest's device `device` of `lease`.
    pub fn create(lease: &Lease, device: u32, bytes: u64) -> Result<Self, GpuError> {
        let physical = lease.physical(device)?;
        let charge = lease.charge(bytes)?;
        let memory = lease.backend().alloc(physical, bytes)?;
        Ok(Buffer {
            memory: Arc::from(memory),
            device,
            physical,
            _charge: charge,
        })
    }

    /// Checks that `offset..offset + len` lies in the buffer.
    pub fn check_range(&self, offset: u64, len: u64) -> Result<(), GpuError> {
        let size = self.memory.len();
        if offset.checked_add(len).is_none_or(|end| end > size) {
            return Err(GpuError::InvalidArgument(format!(
                "bytes {offset}..{} are past the end of a buffer of {size} bytes",
                offset.saturating_add(len)
            )));
        }
        Ok(())
    }
}

/// A guest's loaded kernels and the device they are on.
pub struct Module {
    /// The kernels.
    pub kernels: Box<dyn Kernels>,
    /// The physical device.
    pub physical: u32,
}

/// The machine's CUDA devices (the first `limit` when given), or why
/// there are none.
pub fn cuda(limit: Option<u32>) -> Result<Arc<dyn Backend>, GpuError> {
    Ok(Arc::new(cuda::Cuda::discover(limit)?))
}

/// The `cpu` backend offering `count` devices of `memory` bytes each.
pub fn cpu(count: u32, memory: u64) -> Arc<dyn Backend> {
    Arc::new(cpu::Cpu::new(count, memory))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_holds_the_devices_the_leader_named_or_waits_for_them() {
        let gpus = Gpus::new(cpu(3, 1 << 20), 0);
        let first = gpus.lease(1, &[2]).expect("device 2 is free");
        assert_eq!(first.physical(0), Ok(2));
        // Named and lent: busy, so the task waits; any free one otherwise.
        assert!(matches!(gpus.lease(1, &[2]), Err(GpuError::Busy(_))));
        let any = gpus.lease(2, &[]).expect("two are free");
        assert_eq!((any.physical(0), any.physical(1)), (Ok(0), Ok(1)));
        // Names this host cannot have are refused, not waited for.
        for bad in [&[3][..], &[0, 0], &[0]] {
            assert!(
                matches!(gpus.lease(2, bad), Err(GpuError::InvalidArgument(_))),
                "{bad:?}"
            );
        }
        drop(first);
        let again = gpus.lease(1, &[2]).expect("given back");
        assert_eq!(again.physical(0), Ok(2));
    }

    #[tokio::test]
    async fn a_lease_waits_for_its_devices_to_be_given_back() {
        let gpus = Gpus::new(cpu(2, 1 << 20), 0);
        let held = gpus.lease(1, &[1]).expect("free");
        let waiter = {
            let gpus = gpus.clone();
            tokio::spawn(async move {
                gpus.lease_when_free(1, &[1], std::time::Duration::from_secs(10))
                    .await
            })
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "device 1 is still lent");
        drop(held);
        let lease = waiter.await.expect("joined").expect("lent once free");
        assert_eq!(lease.physical(0), Ok(1));
        let refused = gpus
            .lease_when_free(1, &[1], std::time::Duration::from_millis(20))
            .await;
        assert!(matches!(refused, Err(GpuError::Busy(_))), "{refused:?}");
    }
}
