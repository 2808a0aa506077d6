//! `weft serve`: applications of deployments from an application file,
//! their status, calls to a deployment through a handle, and their
//! removal.
//!
//! The file's format is `weft_client::serve`'s, which every client reads
//! the same way; a refusal names the file's line.

use std::time::Duration;

use anyhow::{Context, bail};
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
    /// Call deployment DEPLOYMENT (`APP/DEPLOYMENT`) through a host's
    /// gateway, as an SDK's handle does, routed to a replica as any
    /// request. A function deployment takes ARGS, a JSON array, and prints
    /// its JSON result; a handler deployment gets an HTTP request at
    /// `--path` with ARGS as its body, and the answer's body is printed;
    /// a streaming deployment's values are printed as they come
    /// (`--stream`).
    Call {
        deployment: String,
        /// A JSON array of arguments (a function deployment; default `[]`)
        /// or the body (with --path; default empty).
        args: Option<String>,
        /// Send an HTTP request to a handler deployment at this path.
        #[arg(long)]
        path: Option<String>,
        /// The request's method (with --path).
        #[arg(long, default_value = "POST")]
        method: String,
        /// A streaming deployment: print each value it sends as it comes.
        #[arg(long, conflicts_with = "path")]
        stream: bool,
    },
    /// Delete application APP: its routes go at once, its replicas drain.
    Delete { app: String },
}

pub async fn serve(address: &str, command: ServeCommand) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    match command {
        ServeCommand::Deploy { file, wait } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let apps = weft_client::serve::read_app_file(&text)
                .with_context(|| format!("{} is not an application file", file.display()))?;
            for app in &apps {
                if let Err(e) = client.deploy_serve_app(app.clone()).await {
                    let message = e.to_string();
                    bail!(
                        "{}:{}: application `{}`: {message}",
                        file.display(),
                        weft_client::serve::line_of(&text, app, &message),
                        app.name
                    );
                }
            }
            let names: Vec<String> = apps.iter().map(|a| a.name.clone()).collect();
            let wait = Duration::from_secs_f64(wait.max(0.0));
            let (status, waiting) = client.wait_serve_apps(&names, wait).await?;
            status.iter().for_each(print_status);
            if !waiting.is_empty() && !wait.is_zero() {
                bail!(
                    "after {} s still waiting for: {}",
                    wait.as_secs_f64(),
                    waiting.join(", ")
                );
            }
            Ok(())
        }
        ServeCommand::Status { app } => {
            let status = client.serve_status(app.as_deref().unwrap_or("")).await?;
            if status.is_empty() {
                println!("no Serve applications (see `weft serve deploy --help`)");
            }
            status.iter().for_each(print_status);
            Ok(())
        }
        ServeCommand::Call {
            deployment,
            args,
            path,
            method,
            stream,
        } => {
            let Some((app, name)) = deployment.split_once('/') else {
                bail!("name the deployment as APP/DEPLOYMENT, not `{deployment}`");
            };
            let handle = client.deployment_handle(app, name).await?;
            match path {
                None => {
                    let args = args.unwrap_or_else(|| "[]".into());
                    let args: serde_json::Value = serde_json::from_str(&args)
                        .with_context(|| format!("the arguments are not JSON: {args}"))?;
                    if !stream {
                        println!("{}", handle.call_json(&args).await?);
                        return Ok(());
                    }
                    let mut values = handle.call_stream(&args).await?;
                    while let Some(value) = values.next().await? {
                        println!("{value}");
                    }
                }
                Some(path) => {
                    let reply = handle
                        .request(&method, &path, args.unwrap_or_default().into_bytes())
                        .await?;
                    let body = String::from_utf8_lossy(&reply.body);
                    if reply.status >= 400 {
                        bail!("{deployment} answered {}: {body}", reply.status);
                    }
                    print!("{body}");
                }
            }
            Ok(())
        }
        ServeCommand::Delete { app } => {
            client.delete_serve_app(&app).await?;
            println!("deleted application {app}; its replicas drain");
            Ok(())
        }
    }
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
        if d.requests > 0 {
            println!(
                "    requests: {} ended, {} queued, p50 {:.1} ms, p99 {:.1} ms (last 10 s)",
                d.requests, d.queued, d.p50_ms, d.p99_ms
            );
        }
        if !d.decision.is_empty() {
            println!("    decision: {}", d.decision);
        }
        for r in &d.replicas {
            let state = r.state();
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
