//! `--metrics-port`: Prometheus metrics of this process's controller
//! replica and host, in the OpenMetrics text format at `/metrics`.
//! Everything is read when a scrape asks, so an idle endpoint costs nothing.

use std::net::IpAddr;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};
use weft_controller::Controller;
use weft_host::agent::Agent;

/// The flag that opens the endpoint.
#[derive(clap::Args, Clone)]
pub struct MetricsArgs {
    /// Serve Prometheus metrics at http://BIND:PORT/metrics (0 picks a
    /// free one); none without it.
    #[arg(long)]
    metrics_port: Option<u16>,
}

/// What one process reports.
#[derive(Clone, Default)]
pub struct Sources {
    pub controller: Option<Arc<Controller>>,
    pub agent: Option<Arc<Agent>>,
}

impl Sources {
    /// Why this process cannot do its part now (for `/readyz`): a
    /// controller replica that knows no leader, a host without a session
    /// with the leader. `None`: ready.
    pub fn unready(&self) -> Option<String> {
        if let Some(controller) = &self.controller
            && controller.group().leader.is_none()
        {
            return Some("this controller replica knows no leader".into());
        }
        if let Some(agent) = &self.agent
            && !agent.connected()
        {
            return Some("this host has no session with the leader".into());
        }
        None
    }

    /// The exposition, built fresh: gauges read now, counters as recorded.
    pub fn render(&self) -> String {
        let mut registry = Registry::with_prefix("weft");
        if let Some(controller) = &self.controller {
            controller.register_metrics(&mut registry);
        }
        if let Some(agent) = &self.agent {
            agent.register_metrics(&mut registry);
        }
        register_process(&mut registry);
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &registry);
        text
    }
}

/// The process's CPU time and resident memory (per host, or per
/// controller, as each runs in its own process), from `/proc`; left out
/// where there is none.
fn register_process(registry: &mut Registry) {
    // Times in /proc/self/stat are in USER_HZ, which Linux fixes at 100
    // for userspace on every architecture.
    const USER_HZ: f64 = 100.0;
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which may hold spaces) in
            // parentheses; utime and stime are the 14th and 15th fields.
            let rest = stat.get(stat.rfind(')')? + 2..)?;
            let mut fields = rest.split_ascii_whitespace().skip(11);
            let utime: f64 = fields.next()?.parse().ok()?;
            let stime: f64 = fields.next()?.parse().ok()?;
            Some((utime + stime) / USER_HZ)
        });
    if let Some(seconds) = cpu {
        registry.register_with_unit(
            "process_cpu",
            "CPU time this process has used, user and system",
            Unit::Seconds,
            ConstCounter::new(seconds),
        );
    }
    let resident = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
            let kib: u64 = line.split_ascii_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        });
    if let Some(bytes) = resident {
        registry.register_with_unit(
            "process_resident_memory",
            "Memory this process holds resident",
            Unit::Bytes,
            ConstGauge::new(bytes as i64),
        );
    }
}

impl MetricsArgs {
    /// Starts the endpoint when a port was given, printing its address
    /// after `who` (scripts and tests read that line).
    pub async fn start(
        &self,
        bind: IpAddr,
        sources: Sources,
        who: &str,
    ) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
        let Some(port) = self.metrics_port else {
            return Ok(None);
        };
        let listener = crate::server::host::announce_listener(
            bind,
            port,
            who,
            "metrics on http://",
            "/metrics",
        )
        .await?;
        let sources = Arc::new(sources);
        Ok(Some(tokio::spawn(crate::server::http_server::serve(
            listener,
            None,
            "metrics",
            move |req| {
                let sources = sources.clone();
                async move { answer(&sources, req.uri().path()) }
            },
        ))))
    }
}

fn answer(sources: &Sources, path: &str) -> Response<Full<Bytes>> {
    const TEXT: &str = "text/plain; charset=utf-8";
    let (status, kind, body) = match path {
        "/metrics" => (
            StatusCode::OK,
            weft_host::gateway::OPENMETRICS_CONTENT_TYPE,
            sources.render(),
        ),
        // Liveness: the process answers.
        "/healthz" => (StatusCode::OK, TEXT, "ok\n".to_string()),
        // Readiness: it can do its part now.
        "/readyz" => match sources.unready() {
            None => (StatusCode::OK, TEXT, "ready\n".to_string()),
            Some(why) => (StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{why}\n")),
        },
        _ => (
            StatusCode::NOT_FOUND,
            TEXT,
            format!("no {path} here: metrics are at /metrics, probes at /healthz and /readyz\n"),
        ),
    };
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, kind)
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_default()
}
