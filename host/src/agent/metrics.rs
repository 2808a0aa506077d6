//! A host's Prometheus metrics, read when a scrape asks: its engine's
//! counters, the tasks and actors it runs and the cpus they hold, and its
//! object store's use, spills and transfers.

use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use super::Agent;

impl Agent {
    /// Registers this host's metrics in `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        let engine = self.host.stats();
        let count = ConstCounter::new;
        registry.register(
            "engine_compiled",
            "Components compiled by this host",
            count(engine.compiled),
        );
        registry.register(
            "engine_artifacts_loaded",
            "Components loaded from the compiled-artifact cache",
            count(engine.loaded_from_disk),
        );
        registry.register(
            "engine_calls",
            "Calls and tasks that returned a result",
            count(engine.calls),
        );
        registry.register(
            "engine_warm_starts",
            "Calls that ran on an instance made ahead of them",
            count(engine.warm_starts),
        );
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner()).len();
        let actors = self.actors.lock().unwrap_or_else(|p| p.into_inner()).len();
        let free = self.slots.lock().unwrap_or_else(|p| p.into_inner()).free;
        let int = |v: u64| ConstGauge::new(v as i64);
        registry.register(
            "host_tasks_assigned",
            "Tasks assigned to this host, queued or running",
            int(running as u64),
        );
        registry.register("host_actors", "Actors on this host", int(actors as u64));
        registry.register(
            "host_cpus",
            "CPU slots this host offers",
            ConstGauge::new(self.config.resources.cpus),
        );
        registry.register(
            "host_cpus_free",
            "CPU slots not held by running tasks",
            ConstGauge::new(free),
        );
        let store = self.store.stats(0);
        let bytes = |registry: &mut Registry, name: &str, help: &str, v: u64| {
            registry.register_with_unit(name, help, Unit::Bytes, int(v));
        };
        bytes(
            registry,
            "store_capacity",
            "The most bytes the object store keeps in memory",
            store.capacity,
        );
        bytes(
            registry,
            "store_used",
            "Bytes in the object store's memory, reservations included",
            store.used,
        );
        bytes(
            registry,
            "store_spilled",
            "Bytes of objects spilled to disk",
            store.spilled_bytes,
        );
        registry.register(
            "store_objects",
            "Objects in the store, spilled ones included",
            int(store.objects),
        );
        for (name, help, v) in [
            ("store_spills", "Objects spilled to disk", store.spills),
            (
                "store_restores",
                "Objects restored from disk",
                store.restores,
            ),
            (
                "store_evictions",
                "Copies evicted under pressure",
                store.evictions,
            ),
            (
                "store_pulls",
                "Objects pulled from other hosts",
                store.pulls,
            ),
        ] {
            registry.register(name, help, count(v));
        }
    }
}
