//! The one wasmtime [`Engine`] a host runs every component on, and the epoch
//! ticker that gives calls their deadlines.
//!
//! Deadlines use epoch interruption rather than fuel: it costs a load and a
//! compare at loop headers instead of a counter update per instruction, and
//! it lets a long-running guest yield to the async executor every tick so a
//! busy guest never starves the host's other calls.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::HostConfig;
use crate::error::HostError;

/// How often the epoch advances: the granularity of deadlines and of the
/// yields a busy guest makes.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Builds the host's engine: component model, async calls, epoch
/// interruption, and the pooling allocator sized by `config`.
pub(crate) fn build(config: &HostConfig) -> Result<Engine, HostError> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(config.max_instances)
        .total_core_instances(config.max_instances * 4)
        .total_memories(config.max_instances * 2)
        .total_tables(config.max_instances * 4)
        .max_memories_per_component(4)
        .max_memory_size(config.max_memory_limit as usize)
        // Components made by componentize-js and componentize-py are large:
        // leave room for their instance metadata and function tables.
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20)
        .table_elements(100_000)
        .max_core_instances_per_component(64)
        .max_tables_per_component(32)
        // Every call gets a fresh instance, so slot reuse is the hot path.
        // Resetting a slot with madvise unmaps its pages, which costs a TLB
        // shootdown across every core and page faults on the next use;
        // with PAGEMAP_SCAN (Linux 6.7+) only the pages the last instance
        // touched are reset, with memset, and stay resident. Decommits
        // that remain are batched.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(16 << 20)
        .table_keep_resident(1 << 20)
        .decommit_batch_size(32);

    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        // `async func` exports and imports: a concurrent actor's calls
        // run interleaved in its one instance (`actor.rs`).
        .wasm_component_model_async(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&wasm).map_err(HostError::internal)
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("weft-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        EpochTicker { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
