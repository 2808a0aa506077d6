//! Serve from a client: declare an application of deployments (admin
//! token), read every application's status, delete one; and the
//! application file every client reads the same way (the CLI's
//! `weft serve deploy`, Python's `weft.serve.run`, TypeScript's
//! `weft.serve.run`), with Ray Serve's names:
//!
//! ```yaml
//! applications:
//!   - name: shop
//!     deployments:
//!       - name: echo
//!         component: echo          # deployed with `weft deploy`
//!         route: /echo
//!         num_replicas: 2          # or `auto`, or an autoscaling block
//!         max_ongoing_requests: 5
//!         max_queued_requests: 100
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use weft_proto::v1 as pb;

use crate::{Client, ClientError};

/// Deployments of `app` whose replicas of the current digest are not yet
/// all running, or that still have others.
pub fn not_ready(app: &pb::ServeAppStatus) -> Vec<String> {
    let name = app.app.as_ref().map_or("", |a| a.name.as_str());
    app.deployments
        .iter()
        .filter(|d| {
            let current = d
                .replicas
                .iter()
                .filter(|r| r.running && !r.draining && r.digest == d.digest)
                .count() as u32;
            current < d.target_replicas || d.replicas.len() as u32 > d.target_replicas
        })
        .map(|d| format!("{name}/{}", d.name))
        .collect()
}

/// Applications' statuses as JSON text, for the SDKs: Ray's
/// `serve.status()` shape where it fits (applications of deployments of
/// replicas).
pub fn statuses_json(statuses: &[pb::ServeAppStatus]) -> String {
    statuses_value(statuses).to_string()
}

/// [`statuses_json`] as a JSON value (the dashboard's Serve view).
pub fn statuses_value(statuses: &[pb::ServeAppStatus]) -> serde_json::Value {
    serde_json::Value::Array(statuses.iter().map(status_json).collect())
}

fn status_json(app: &pb::ServeAppStatus) -> serde_json::Value {
    let spec = app.app.clone().unwrap_or_default();
    let deployments: Vec<_> = app
        .deployments
        .iter()
        .map(|d| {
            let declared = spec.deployments.iter().find(|x| x.name == d.name);
            serde_json::json!({
                "name": d.name,
                "component": declared.map(|x| x.component.as_str()),
                "route": declared.map(|x| x.route.as_str()),
                "digest": d.digest,
                "target_replicas": d.target_replicas,
                "ongoing_requests": d.ongoing,
                "queued_requests": d.queued,
                "requests": d.requests,
                "p50_ms": d.p50_ms,
                "p99_ms": d.p99_ms,
                "decision": d.decision,
                "replicas": d.replicas.iter().map(|r| serde_json::json!({
                    "id": r.id,
                    "host": r.host,
                    "digest": r.digest,
                    "state": r.state(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    serde_json::json!({ "name": spec.name, "deployments": deployments })
}

/// Why an application file cannot be read (serde's message names the
/// line of a syntax error or an unknown field).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AppFileError(pub String);

impl Client {
    /// Declares (or changes) application `app`; returns its status as the
    /// leader sees it right after.
    pub async fn deploy_serve_app(
        &mut self,
        app: pb::ServeApplication,
    ) -> Result<pb::ServeAppStatus, ClientError> {
        let request = pb::DeployServeAppRequest { app: Some(app) };
        self.unary(
            request,
            |mut c, r| async move { c.deploy_serve_app(r).await },
        )
        .await
    }

    /// Every application's status, or only `app`'s (empty: every one).
    pub async fn serve_status(
        &mut self,
        app: &str,
    ) -> Result<Vec<pb::ServeAppStatus>, ClientError> {
        let request = pb::GetServeStatusRequest {
            app: app.to_string(),
        };
        let reply = self
            .unary(
                request,
                |mut c, r| async move { c.get_serve_status(r).await },
            )
            .await?;
        Ok(reply.apps)
    }

    /// Declares `apps`, then waits for their replicas as
    /// [`Client::wait_serve_apps`] does.
    pub async fn run_serve_apps(
        &mut self,
        apps: Vec<pb::ServeApplication>,
        wait: std::time::Duration,
    ) -> Result<(Vec<pb::ServeAppStatus>, Vec<String>), ClientError> {
        let names: Vec<String> = apps.iter().map(|a| a.name.clone()).collect();
        for app in apps {
            self.deploy_serve_app(app).await?;
        }
        self.wait_serve_apps(&names, wait).await
    }

    /// Waits, polling, until every deployment of applications `names`
    /// runs its replicas of its current digest and no others, or `wait`
    /// passes; returns their statuses and the deployments still waited
    /// for (empty: all ready).
    pub async fn wait_serve_apps(
        &mut self,
        names: &[String],
        wait: std::time::Duration,
    ) -> Result<(Vec<pb::ServeAppStatus>, Vec<String>), ClientError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let ours: Vec<_> = self
                .serve_status("")
                .await?
                .into_iter()
                .filter(|s| s.app.as_ref().is_some_and(|a| names.contains(&a.name)))
                .collect();
            let waiting: Vec<String> = ours.iter().flat_map(not_ready).collect();
            if waiting.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok((ours, waiting));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Deletes application `app`: its routes go at once, its replicas
    /// drain.
    pub async fn delete_serve_app(&mut self, app: &str) -> Result<(), ClientError> {
        let request = pb::DeleteServeAppRequest {
            app: app.to_string(),
        };
        self.unary(
            request,
            |mut c, r| async move { c.delete_serve_app(r).await },
        )
        .await?;
        Ok(())
    }
}

/// An application file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppFile {
    applications: Vec<AppSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppSpec {
    name: String,
    deployments: Vec<DeploymentSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploymentSpec {
    name: String,
    component: String,
    #[serde(default)]
    route: String,
    #[serde(default)]
    num_replicas: Option<Replicas>,
    #[serde(default)]
    max_ongoing_requests: u32,
    #[serde(default)]
    max_queued_requests: u32,
    #[serde(default)]
    cpus: f64,
    #[serde(default)]
    memory: Option<String>,
    #[serde(default)]
    gpus: u32,
    #[serde(default)]
    resources: BTreeMap<String, f64>,
    #[serde(default)]
    timeout_s: f64,
    #[serde(default)]
    graceful_shutdown_s: f64,
    #[serde(default)]
    autoscaling: Option<AutoscalingSpec>,
    /// A function deployment's export (absent: a wasi:http handler).
    #[serde(default)]
    function: String,
    #[serde(default)]
    max_batch_size: u32,
    #[serde(default)]
    batch_wait_timeout_s: f64,
    /// Ray's `user_config`: any value, handed to every request's guest.
    #[serde(default)]
    user_config: Option<serde_json::Value>,
    /// A path each replica is checked on (GET).
    #[serde(default)]
    health_check_path: String,
    #[serde(default)]
    health_check_period_s: f64,
    #[serde(default)]
    health_check_timeout_s: f64,
    /// A streaming function deployment: each value it emits is a line.
    #[serde(default)]
    stream: bool,
    /// Ray's placement_group_bundles: each replica's reservation, as one
    /// placement group (the first bundle is the replica's own).
    #[serde(default)]
    placement_group_bundles: Vec<BTreeMap<String, serde_json::Value>>,
    /// PACK (the default), SPREAD, STRICT_PACK or STRICT_SPREAD.
    #[serde(default)]
    placement_group_strategy: Option<String>,
}

/// `num_replicas`: a count, or `auto` (Ray's default autoscaling).
#[derive(Deserialize)]
#[serde(untagged)]
enum Replicas {
    Count(u32),
    Word(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AutoscalingSpec {
    #[serde(default)]
    min_replicas: u32,
    #[serde(default)]
    max_replicas: u32,
    #[serde(default)]
    target_ongoing_requests: f64,
    #[serde(default = "default_upscale_delay")]
    upscale_delay_s: f64,
    #[serde(default = "default_downscale_delay")]
    downscale_delay_s: f64,
    /// A latency target in milliseconds (p95 at the gateways).
    #[serde(default)]
    target_latency_p95_ms: f64,
    /// A custom metric the replicas record, and the value per replica.
    #[serde(default)]
    metric: String,
    #[serde(default)]
    target_metric_value: f64,
}

/// Ray Serve's defaults.
fn default_upscale_delay() -> f64 {
    30.0
}

fn default_downscale_delay() -> f64 {
    600.0
}

fn millis(seconds: f64) -> u64 {
    (seconds.max(0.0) * 1000.0) as u64
}

impl DeploymentSpec {
    fn into_pb(self) -> Result<pb::ServeDeployment, AppFileError> {
        let at = format!("deployment `{}`", self.name);
        let mut resources = pb::Resources::default();
        for (name, amount) in self.resources {
            resources
                .set_named(&name, amount)
                .map_err(|e| AppFileError(format!("{at}: {e}")))?;
        }
        resources
            .set_named("cpus", self.cpus)
            .map_err(|e| AppFileError(format!("{at}: {e}")))?;
        resources
            .set_named("gpus", self.gpus.into())
            .map_err(|e| AppFileError(format!("{at}: {e}")))?;
        if let Some(memory) = &self.memory {
            resources.memory = weft_proto::parse_bytes(memory)
                .map_err(|e| AppFileError(format!("{at}: memory: {e}")))?;
        }
        let mut autoscaling = self.autoscaling.map(|a| pb::ServeAutoscaling {
            min_replicas: a.min_replicas,
            max_replicas: a.max_replicas,
            target_ongoing_requests: a.target_ongoing_requests,
            upscale_delay_ms: millis(a.upscale_delay_s),
            downscale_delay_ms: millis(a.downscale_delay_s),
            target_latency_p95_ms: a.target_latency_p95_ms,
            metric: a.metric,
            target_metric_value: a.target_metric_value,
        });
        let num_replicas = match self.num_replicas {
            None => 0,
            Some(Replicas::Count(n)) => {
                if autoscaling.is_some() {
                    return Err(AppFileError(format!(
                        "{at}: give num_replicas or autoscaling, not both"
                    )));
                }
                n
            }
            Some(Replicas::Word(w)) if w == "auto" => {
                // Ray's `num_replicas: auto`.
                autoscaling.get_or_insert(pb::ServeAutoscaling {
                    min_replicas: 1,
                    max_replicas: 100,
                    target_ongoing_requests: 2.0,
                    upscale_delay_ms: millis(default_upscale_delay()),
                    downscale_delay_ms: millis(default_downscale_delay()),
                    ..Default::default()
                });
                0
            }
            Some(Replicas::Word(w)) => {
                return Err(AppFileError(format!(
                    "{at}: num_replicas `{w}` is neither a count nor auto"
                )));
            }
        };
        let bundles = self
            .placement_group_bundles
            .iter()
            .enumerate()
            .map(|(i, b)| bundle_of(b).map_err(|e| AppFileError(format!("{at}: bundle {i}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let strategy = match &self.placement_group_strategy {
            None => pb::PlacementStrategy::Pack,
            Some(name) => pb::PlacementStrategy::parse(name)
                .map_err(|e| AppFileError(format!("{at}: placement_group_strategy: {e}")))?,
        };
        Ok(pb::ServeDeployment {
            name: self.name,
            component: self.component,
            route: self.route,
            num_replicas,
            max_ongoing_requests: self.max_ongoing_requests,
            max_queued_requests: self.max_queued_requests,
            resources: Some(resources),
            timeout_ms: millis(self.timeout_s),
            autoscaling,
            graceful_shutdown_ms: millis(self.graceful_shutdown_s),
            function: self.function,
            max_batch_size: self.max_batch_size,
            batch_wait_timeout_ms: millis(self.batch_wait_timeout_s),
            user_config: self.user_config.map(|v| v.to_string()).unwrap_or_default(),
            health_check_path: self.health_check_path,
            health_check_period_ms: millis(self.health_check_period_s),
            health_check_timeout_ms: millis(self.health_check_timeout_s),
            stream: self.stream,
            placement_group_bundles: bundles,
            placement_group_strategy: strategy.into(),
        })
    }
}

/// The applications of an application file (YAML, or JSON, which YAML
/// reads too).
pub fn read_app_file(text: &str) -> Result<Vec<pb::ServeApplication>, AppFileError> {
    let file: AppFile = serde_norway::from_str(text).map_err(|e| AppFileError(e.to_string()))?;
    file.applications
        .into_iter()
        .map(|a| {
            Ok(pb::ServeApplication {
                name: a.name,
                deployments: a
                    .deployments
                    .into_iter()
                    .map(DeploymentSpec::into_pb)
                    .collect::<Result<_, _>>()?,
            })
        })
        .collect()
}

/// The line of `text` (an application file) that declares what `message` names (a deployment
/// `NAME` or an application), for refusals to point at.
pub fn line_of(text: &str, app: &pb::ServeApplication, message: &str) -> usize {
    let named = |name: &str| {
        text.lines().position(|l| {
            let l = l.trim_start().trim_start_matches("- ").trim();
            l == format!("name: {name}") || l == format!("name: \"{name}\"")
        })
    };
    app.deployments
        .iter()
        .find(|d| message.contains(&format!("deployment `{}`", d.name)))
        .and_then(|d| named(&d.name))
        .or_else(|| named(&app.name))
        .map_or(1, |i| i + 1)
}

/// A bundle as Ray writes one (`{cpus: 1, gpus: 1, memory: "2G", NAME:
/// AMOUNT}`), for Serve's and Tune's placement groups.
pub(crate) fn bundle_of(
    bundle: &BTreeMap<String, serde_json::Value>,
) -> Result<pb::Resources, String> {
    let mut resources = pb::Resources::default();
    for (name, amount) in bundle {
        let amount = match (name.as_str(), amount) {
            ("memory", serde_json::Value::String(text)) => {
                resources.memory =
                    weft_proto::parse_bytes(text).map_err(|e| format!("memory: {e}"))?;
                continue;
            }
            (_, serde_json::Value::Number(n)) => n.as_f64().unwrap_or(f64::NAN),
            _ => return Err(format!("{name} is an amount, not {amount}")),
        };
        resources
            .set_named(name, amount)
            .map_err(|e| e.to_string())?;
    }
    Ok(resources)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
applications:
  - name: shop
    deployments:
      - name: echo
        component: echo
        route: /echo
        num_replicas: 2
      - name: api
        component: api
        route: /api/...
        autoscaling:
          min_replicas: 0
          max_replicas: 4
          upscale_delay_s: 0.5
";

    #[test]
    fn a_file_reads_as_ray_names_it() {
        let apps = read_app_file(FILE).unwrap();
        let d = &apps[0].deployments;
        assert_eq!((d[0].num_replicas, d[0].route.as_str()), (2, "/echo"));
        let a = d[1].autoscaling.as_ref().unwrap();
        assert_eq!(
            (a.min_replicas, a.max_replicas, a.upscale_delay_ms),
            (0, 4, 500)
        );
        assert_eq!(a.downscale_delay_ms, 600_000);
    }

    #[test]
    fn refusals_name_the_line() {
        let err = read_app_file(&FILE.replace("num_replicas: 2", "num_replica: 2")).unwrap_err();
        assert!(err.to_string().contains("line 7"), "{err}");
        let apps = read_app_file(FILE).unwrap();
        assert_eq!(line_of(FILE, &apps[0], "deployment `api`: route taken"), 8);
        assert_eq!(line_of(FILE, &apps[0], "something else"), 2);
    }

    #[test]
    fn auto_is_rays_default_autoscaling() {
        let apps = read_app_file(&FILE.replace("num_replicas: 2", "num_replicas: auto")).unwrap();
        let a = apps[0].deployments[0].autoscaling.as_ref().unwrap();
        assert_eq!((a.min_replicas, a.max_replicas), (1, 100));
    }
}
