//! What one call's [`wasmtime::Store`] holds: the WASI context (nothing
//! granted), the memory limiter, the guest's captured output, and the
//! weft runtime context behind `weft:runtime`.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use wasmtime::ResourceLimiter;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::{FsPerms, ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_config::WasiConfigVariables;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::grants::OutboundHttp;
use crate::runtime::RuntimeCtx;

/// Store data for one call.
pub(crate) struct CallState {
    wasi: WasiCtx,
    table: ResourceTable,
    http: WasiHttpCtx,
    pub(crate) outbound: OutboundHttp,
    pub(crate) limiter: MemoryLimiter,
    pub(crate) runtime: RuntimeCtx,
    /// What the guest reads through `wasi:config/store`.
    pub(crate) config: WasiConfigVariables,
    /// When the running call must stop (an actor's instance runs many
    /// calls, each with its own deadline).
    pub(crate) deadline: std::time::Instant,
}

impl CallState {
    /// A sandbox with nothing granted but what `env` (the runtime
    /// environment its submitter chose) names: its environment variables,
    /// its configuration, and its directories (preopened at `/NAME`,
    /// read-only where the host offers them so; nothing else of the file
    /// system is visible). No network, no arguments. stdout and stderr go
    /// to `output`, stdin is empty.
    pub(crate) fn new(
        env: &crate::services::RuntimeEnv,
        memory_limit: u64,
        output: OutputTail,
        runtime: RuntimeCtx,
        outbound: OutboundHttp,
    ) -> Self {
        let mut vars: Vec<(&String, &String)> = env.vars.iter().collect();
        vars.sort();
        let mut wasi = WasiCtxBuilder::new();
        wasi.envs(&vars)
            .stdout(output.clone())
            .stderr(output)
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false);
        for dir in &env.dirs {
            let perms = if dir.read_only {
                FsPerms::ReadOnly
            } else {
                FsPerms::ReadWrite
            };
            // The host checked its directories when it started; one gone
            // since is missing to the guest, which its file calls report.
            if let Err(e) = wasi.preopened_dir(&dir.path, format!("/{}", dir.name), perms) {
                tracing::warn!(dir = %dir.name, path = %dir.path.display(), error = %e, "cannot preopen a granted directory");
            }
        }
        CallState {
            wasi: wasi.build(),
            table: ResourceTable::new(),
            http: WasiHttpCtx::new(),
            outbound,
            limiter: MemoryLimiter::new(memory_limit),
            runtime,
            config: env.config.iter().collect(),
            deadline: std::time::Instant::now(),
        }
    }
}

impl WasiView for CallState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for CallState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound,
        }
    }
}

/// Refuses memory growth past a limit and remembers that it did, so a
/// guest that then aborts is reported as out of memory rather than as a
/// bare `unreachable` trap.
pub(crate) struct MemoryLimiter {
    pub(crate) limit: u64,
    pub(crate) refused: Option<u64>,
}

impl MemoryLimiter {
    fn new(limit: u64) -> Self {
        MemoryLimiter {
            limit,
            refused: None,
        }
    }
}

/// Table growth past this many elements is refused: a guest that leaks
/// function references should fail, not take the host's memory.
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl ResourceLimiter for MemoryLimiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.limit {
            self.refused = Some(desired as u64);
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

/// The last `capacity` bytes a guest wrote to stdout and stderr.
///
/// A fixed-capacity pipe would fail the guest's writes once full (and Rust's
/// `print!` panics on a failed write); keeping the tail instead never fails
/// a write and still holds the panic message, which comes last.
#[derive(Clone)]
pub(crate) struct OutputTail {
    inner: Arc<Mutex<Output>>,
    capacity: usize,
}

struct Output {
    tail: VecDeque<u8>,
    /// Where whole lines are also kept, once the call that owns this
    /// output has a log (a task's; see `agent/logs.rs`).
    log: Option<crate::services::GuestLog>,
}

impl OutputTail {
    pub(crate) fn new(capacity: usize) -> Self {
        OutputTail {
            inner: Arc::new(Mutex::new(Output {
                tail: VecDeque::new(),
                log: None,
            })),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Output> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps every line written from now on in `log` as well.
    pub(crate) fn log_to(&self, log: crate::services::GuestLog) {
        self.lock().log = Some(log);
    }

    /// Forgets what was written and where it was logged: the instance
    /// writing here will run another call.
    pub(crate) fn reset(&self) {
        let mut output = self.lock();
        output.tail.clear();
        output.log = None;
    }

    pub(crate) fn contents(&self) -> String {
        let output = self.lock();
        let (a, b) = output.tail.as_slices();
        let mut bytes = Vec::with_capacity(a.len() + b.len());
        bytes.extend_from_slice(a);
        bytes.extend_from_slice(b);
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn push(&self, data: &[u8]) {
        let mut output = self.lock();
        if let Some(log) = &output.log {
            log.write(data);
        }
        let data = &data[data.len().saturating_sub(self.capacity)..];
        let overflow = (output.tail.len() + data.len()).saturating_sub(self.capacity);
        output.tail.drain(..overflow);
        output.tail.extend(data);
    }
}

impl tokio::io::AsyncWrite for OutputTail {
    fn poll_write(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for OutputTail {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for OutputTail {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_tail_keeps_the_last_bytes() {
        let tail = OutputTail::new(8);
        tail.push(b"hello ");
        tail.push(b"world!");
        assert_eq!(tail.contents(), "o world!");
        tail.push(b"0123456789");
        assert_eq!(tail.contents(), "23456789");
    }
}
