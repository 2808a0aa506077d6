//! `weft serve`: applications of deployments from an application file,
//! their status, and their removal.
//!
//! The file declares applications as Ray Serve's config file does:
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
//!
//! Applying it is idempotent; a refusal names the file's line.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::Deserialize;
use weft_proto::v1 as pb;

use crate::client::connect;

#[derive(clap::Subcommand)]
pub enum ServeCommand {
    /// Declare the applications of an application file (YAML): each
    /// deployment a component behind a route, with replicas on hosts.
    /// Applying the same file again changes nothing; a component deployed
    /// anew under its name rolls the replicas over without a failed
    /// request. Waits until every deployment's replicas run.
    Deploy {
        file: std::path::PathBuf,
        /// Seconds to wait for the replicas (0: do not wait).
        #[arg(long, default_value_t = 30.0)]
        wait: f64,
    },
    /// Every application (or APP): its deployments, replicas by host, the
    /// requests they hold and the latest scaling decision with its reason.
    Status { app: Option<String> },
    /// Delete application APP: its routes go at once, its replicas drain.
    Delete { app: String },
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
    fn into_pb(self) -> anyhow::Result<pb::ServeDeployment> {
        let at = format!("deployment `{}`", self.name);
        let mut resources = pb::Resources::default();
        for (name, amount) in self.resources {
            resources
                .set_named(&name, amount)
                .with_context(|| at.clone())?;
        }
        resources
            .set_named("cpus", self.cpus)
            .with_context(|| at.clone())?;
        resources
            .set_named("gpus", self.gpus.into())
            .with_context(|| at.clone())?;
        if let Some(memory) = &self.memory {
            resources.memory = crate::server::host::parse_bytes(memory)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("{at}: memory"))?;
        }
        let mut autoscaling = self.autoscaling.map(|a| pb::ServeAutoscaling {
            min_replicas: a.min_replicas,
            max_replicas: a.max_replicas,
            target_ongoing_requests: a.target_ongoing_requests,
            upscale_delay_ms: millis(a.upscale_delay_s),
            downscale_delay_ms: millis(a.downscale_delay_s),
        });
        let num_replicas = match self.num_replicas {
            None => 0,
            Some(Replicas::Count(n)) => {
                if autoscaling.is_some() {
                    bail!("{at}: give num_replicas or autoscaling, not both");
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
                });
                0
            }
            Some(Replicas::Word(w)) => {
                bail!("{at}: num_replicas `{w}` is neither a count nor auto")
            }
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
        })
    }
}

/// The applications of an application file.
fn read_file(text: &str) -> anyhow::Result<Vec<pb::ServeApplication>> {
    let file: AppFile = serde_norway::from_str(text)?;
    file.applications
        .into_iter()
        .map(|a| {
            Ok(pb::ServeApplication {
                name: a.name,
                deployments: a
                    .deployments
                    .into_iter()
                    .map(DeploymentSpec::into_pb)
                    .collect::<anyhow::Result<_>>()?,
            })
        })
        .collect()
}

/// The line of `file` that declares what `message` names (a deployment
/// `NAME` or an application), for refusals to point at.
fn line_of(text: &str, app: &pb::ServeApplication, message: &str) -> usize {
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

pub async fn serve(address: &str, command: ServeCommand) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    match command {
        ServeCommand::Deploy { file, wait } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let apps = read_file(&text)
                .with_context(|| format!("{} is not an application file", file.display()))?;
            for app in &apps {
                if let Err(e) = client.deploy_serve_app(app.clone()).await {
                    let message = e.to_string();
                    bail!(
                        "{}:{}: application `{}`: {message}",
                        file.display(),
                        line_of(&text, app, &message),
                        app.name
                    );
                }
            }
            let deadline = Instant::now() + Duration::from_secs_f64(wait.max(0.0));
            let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
            loop {
                let status = client.serve_status("").await?;
                let ours: Vec<_> = status
                    .into_iter()
                    .filter(|s| {
                        s.app
                            .as_ref()
                            .is_some_and(|a| names.contains(&a.name.as_str()))
                    })
                    .collect();
                let waiting: Vec<String> = ours.iter().flat_map(not_ready).collect();
                if waiting.is_empty() || wait <= 0.0 {
                    ours.iter().for_each(print_status);
                    return Ok(());
                }
                if Instant::now() >= deadline {
                    ours.iter().for_each(print_status);
                    bail!("after {wait} s still waiting for: {}", waiting.join(", "));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        ServeCommand::Status { app } => {
            let status = client.serve_status(app.as_deref().unwrap_or("")).await?;
            if status.is_empty() {
                println!("no Serve applications (see `weft serve deploy --help`)");
            }
            status.iter().for_each(print_status);
            Ok(())
        }
        ServeCommand::Delete { app } => {
            client.delete_serve_app(&app).await?;
            println!("deleted application {app}; its replicas drain");
            Ok(())
        }
    }
}

/// Deployments of `app` whose replicas of the current digest are not yet
/// all running, or that still have others.
fn not_ready(app: &pb::ServeAppStatus) -> Vec<String> {
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

fn print_status(app: &pb::ServeAppStatus) {
    let Some(spec) = &app.app else {
        return;
    };
    println!("application {}", spec.name);
    for d in &app.deployments {
        let declared = spec.deployments.iter().find(|x| x.name == d.name);
        let route = declared.map_or("", |x| x.route.as_str());
        let running = d
            .replicas
            .iter()
            .filter(|r| r.running && !r.draining)
            .count();
        println!(
            "  {}  {}  {}  {running}/{} replicas running  {} ongoing",
            d.name,
            if route.is_empty() { "-" } else { route },
            short(&d.digest),
            d.target_replicas,
            d.ongoing
        );
        if !d.decision.is_empty() {
            println!("    decision: {}", d.decision);
        }
        for r in &d.replicas {
            let state = match (r.running, r.draining) {
                (_, true) => "draining",
                (true, false) => "running",
                (false, false) => "starting",
            };
            println!(
                "    {}  {}  {}  {state}",
                r.id,
                if r.host.is_empty() { "-" } else { &r.host },
                short(&r.digest)
            );
        }
    }
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
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
        let apps = read_file(FILE).unwrap();
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
        let err = read_file(&FILE.replace("num_replicas: 2", "num_replica: 2")).unwrap_err();
        assert!(err.to_string().contains("line 7"), "{err}");
        let apps = read_file(FILE).unwrap();
        assert_eq!(line_of(FILE, &apps[0], "deployment `api`: route taken"), 8);
        assert_eq!(line_of(FILE, &apps[0], "something else"), 2);
    }

    #[test]
    fn auto_is_rays_default_autoscaling() {
        let apps = read_file(&FILE.replace("num_replicas: 2", "num_replicas: auto")).unwrap();
        let a = apps[0].deployments[0].autoscaling.as_ref().unwrap();
        assert_eq!((a.min_replicas, a.max_replicas), (1, 100));
    }
}
