//! A host's Prometheus metrics, read when a scrape asks: its engine's
//! counters, the tasks and actors it runs and the cpus they hold, its
//! object store's use, spills and transfers, and what its HTTP gateway
//! answered.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use weft_proto::v1 as pb;

use super::Agent;

/// A gateway answer's labels: the route (bounded by the routes
/// configured) and the status code.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Answered {
    route: String,
    status: u16,
}

/// A route's label alone, for its latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabel {
    route: String,
}

/// What the host's HTTP gateway answered, recorded per request. The
/// answer counts are kept as plain counters: the heartbeat reports them
/// to the leader (the dashboard's route rates), and a scrape renders them.
/// A request takes the read lock only, as a Prometheus family does; a new
/// (route, status) pair takes the write lock once.
#[derive(Clone, Debug)]
pub(crate) struct GatewayMetrics {
    requests: Arc<RwLock<BTreeMap<(String, u16), AtomicU64>>>,
    seconds: Family<RouteLabel, Histogram>,
}

impl Default for GatewayMetrics {
    fn default() -> Self {
        GatewayMetrics {
            requests: Default::default(),
            // 50 µs to about 100 s.
            seconds: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(50e-6, 2.0, 22))
            }),
        }
    }
}

impl GatewayMetrics {
    /// One request answered with `status` after `took`; `route` is the
    /// route's path, `/v1/call`, `/metrics`, or empty when none matched.
    pub(crate) fn answered(&self, route: String, status: u16, took: Duration) {
        let route = if route.is_empty() {
            "(none)".to_string()
        } else {
            route
        };
        self.seconds
            .get_or_create(&RouteLabel {
                route: route.clone(),
            })
            .observe(took.as_secs_f64());
        let key = (route, status);
        if let Some(count) = self
            .requests
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            count.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.requests
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key)
            .or_default()
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Every (route, status) answered so far, with its count.
    pub(crate) fn counts(&self) -> Vec<pb::RouteCount> {
        self.requests
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|((route, status), count)| pb::RouteCount {
                route: route.clone(),
                status: u32::from(*status),
                count: count.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// The counts as a Prometheus counter family.
    fn requests(&self) -> Family<Answered, Counter> {
        let family = Family::<Answered, Counter>::default();
        for c in self.counts() {
            family
                .get_or_create(&Answered {
                    route: c.route,
                    status: c.status as u16,
                })
                .inc_by(c.count);
        }
        family
    }
}

impl Agent {
    /// Registers this host's metrics in `registry`.
    pub fn register_metrics(&self, registry: &mut Registry) {
        self.serve_load.register_metrics(registry);
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
        registry.register(
            "engine_reused_instances",
            "Tasks that ran on an instance an earlier task used (max_calls)",
            count(engine.reused),
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
            "Bytes of the object store's arena taken by objects, whole pages each",
            store.used,
        );
        bytes(
            registry,
            "store_spilled",
            "Bytes of objects spilled to disk",
            store.spilled_bytes,
        );
        bytes(
            registry,
            "store_largest_free",
            "The largest object that fits in the store's arena without making room",
            store.largest_free,
        );
        registry.register(
            "store_objects",
            "Objects in the store, spilled ones included",
            int(store.objects),
        );
        registry.register(
            "store_client_pins",
            "Objects pinned by clients on this machine reading them in place",
            int(store.client_pins),
        );
        registry.register(
            "gateway_requests",
            "HTTP requests the gateway answered, by route and status",
            self.gateway_metrics.requests(),
        );
        registry.register_with_unit(
            "gateway_request",
            "Time the gateway took to answer, by route",
            Unit::Seconds,
            self.gateway_metrics.seconds.clone(),
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
        for (name, help, v) in [
            (
                "store_pulled",
                "Bytes of objects pulled from other hosts",
                store.pulled_bytes,
            ),
            (
                "store_served",
                "Bytes sent to hosts and clients pulling objects from this one",
                store.served_bytes,
            ),
        ] {
            registry.register_with_unit(name, help, Unit::Bytes, count(v));
        }
    }
}
