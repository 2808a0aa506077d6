//! The commands that talk to a running cluster: deploy, components, call,
//! delete, status.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use weft_client::{Call, CallOptions, Client, Readiness};

use super::connect;

#[derive(clap::Args)]
pub struct CallArgs {
    /// The component: a name, `name@version`, or a digest (prefix).
    component: String,
    /// The call, e.g. `greet("world")`; with --args, just the function name.
    call: String,
    /// Arguments as a JSON array instead of WAVE, e.g. --args '[1000, 42]'.
    #[arg(long)]
    args: Option<String>,
    /// Deadline in seconds (default: the host's, 30s).
    #[arg(long)]
    timeout: Option<f64>,
    /// Linear-memory limit in bytes (default: the host's, 512 MiB).
    #[arg(long)]
    memory_limit: Option<u64>,
    /// Print the result as JSON instead of WAVE.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct DeployArgs {
    /// The component file (.wasm).
    file: PathBuf,
    /// Bind a name (`name` or `name@version`) to it.
    #[arg(long)]
    name: Option<String>,
    /// Let the component send HTTP requests to HOST (or HOST:PORT);
    /// repeat for more. Nothing else is granted.
    #[arg(long = "allow-http", value_name = "HOST")]
    allow_http: Vec<String>,
    /// Return once the cluster holds the component, without waiting for
    /// hosts to compile it (they compile on its first call instead).
    #[arg(long)]
    no_prepare: bool,
    /// Its default runtime environment: each part a task, actor or job of
    /// it leaves empty comes from here.
    #[command(flatten)]
    runtime_env: crate::client::runtime_env::RuntimeEnvArgs,
}

/// Uploads a component, then (unless `--no-prepare`) waits while every
/// host makes it ready, printing each host's compile time as it finishes.
pub async fn deploy(address: &str, args: DeployArgs) -> anyhow::Result<()> {
    let file = &args.file;
    let wasm = crate::client::progress::read_file(file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let size = wasm.len() as u64;
    let mut client = connect(address).await?;
    let started = Instant::now();
    let upload = crate::client::progress::Progress::bytes("uploading", size);
    let set = upload.setter();
    let reply = client
        .deploy_with_progress(
            wasm,
            args.name.as_deref(),
            &args.allow_http,
            move |sent, _total| set(sent),
        )
        .await
        .with_context(|| format!("cannot deploy {}", file.display()))?;
    drop(upload);
    let uploaded = started.elapsed();
    let info = reply
        .component
        .context("the cluster sent no component info")?;
    let label = info
        .names
        .first()
        .cloned()
        .unwrap_or_else(|| "(unnamed)".into());
    let how = if reply.existed {
        "already deployed".to_string()
    } else {
        format!(
            "{}, deployed in {}: validated in {:.1} ms",
            weft_host::bytes(size),
            seconds(uploaded),
            reply.validate_micros as f64 / 1000.0
        )
    };
    println!("{label} {} ({how})", info.digest);
    if !args.runtime_env.is_empty() {
        client
            .set_runtime_env(&info.digest, args.runtime_env.parts())
            .await
            .context("the component was deployed, but its runtime environment was not set")?;
    }
    if args.no_prepare {
        return Ok(());
    }
    prepare(&mut client, &info.digest).await
}

/// Waits while every live host makes `digest` ready, one line per host.
async fn prepare(client: &mut Client, digest: &str) -> anyhow::Result<()> {
    let mut preparing = client
        .prepare(digest, None)
        .await
        .context("the component was deployed, but hosts could not be asked to compile it")?;
    let hosts = preparing.started.hosts.len();
    if hosts == 0 {
        println!("no host is alive yet: each host compiles it when it first runs it");
        return Ok(());
    }
    eprintln!("preparing on {hosts} host(s)...");
    let mut waiting = Some(crate::client::progress::Progress::spinner("compiling"));
    while let Some(report) = preparing.next().await? {
        drop(waiting.take());
        let took = seconds(Duration::from_micros(report.micros));
        let line = match report.readiness() {
            Readiness::Compiled => format!("compiled in {took}"),
            Readiness::LoadedFromCache if report.waited_micros >= 100_000 => format!(
                "loaded from the artifact cache in {}, after {} waiting for another host on its machine to compile it",
                seconds(Duration::from_micros(
                    report.micros.saturating_sub(report.waited_micros)
                )),
                seconds(Duration::from_micros(report.waited_micros))
            ),
            Readiness::LoadedFromCache => format!("loaded from the artifact cache in {took}"),
            Readiness::AlreadyReady => "already ready".to_string(),
            Readiness::Failed | Readiness::Unspecified => format!("failed: {}", report.error),
        };
        println!("  {}: {line}", report.host);
    }
    match preparing.failed() {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// A duration as people read it: milliseconds below a second.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

pub async fn components(address: &str) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    let components = client.components().await?;
    if components.is_empty() {
        println!("no components deployed (try `weft deploy FILE.wasm --name NAME`)");
    }
    for c in components {
        let names = if c.names.is_empty() {
            "(unnamed)".to_string()
        } else {
            c.names.join(", ")
        };
        println!("{names}  {}  {}", c.digest, weft_host::bytes(c.size_bytes));
        for f in c.functions {
            println!("    {}: {}", f.name, f.signature);
        }
    }
    Ok(())
}

pub async fn call(address: &str, args: CallArgs) -> anyhow::Result<()> {
    let call = match args.args {
        Some(args_json) => Call::Json {
            function: args.call,
            args_json,
        },
        None => Call::Wave(args.call),
    };
    let timeout = match args.timeout {
        Some(t) if !(t > 0.0 && t.is_finite()) => {
            anyhow::bail!("--timeout must be a positive number of seconds")
        }
        Some(t) => Some(Duration::from_secs_f64(t)),
        None => None,
    };
    let options = CallOptions {
        timeout,
        memory_limit: args.memory_limit,
        json_result: args.json,
    };
    let mut client = connect(address).await?;
    let reply = client.call(&args.component, call, options).await?;
    if !reply.guest_output.is_empty() {
        eprint!("{}", reply.guest_output);
    }
    if reply.has_result {
        println!("{}", reply.result);
    }
    Ok(())
}

pub async fn delete(address: &str, component: &str) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    if client.delete(component).await? {
        println!("deleted {component} (component removed)");
    } else {
        println!("deleted {component} (name removed; the component has other names)");
    }
    Ok(())
}

/// Prints where the dashboard is: the answering replica's, else another
/// replica's. With a token known for the cluster, the link signs in.
pub async fn dashboard(address: &str) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    let status = client.status().await?;
    let mut url = status.dashboard;
    if url.is_empty() {
        for member in status.members.iter().filter(|m| m.id != status.node_id) {
            if let Ok(mut other) = connect(&member.address).await
                && let Ok(s) = other.status().await
                && !s.dashboard.is_empty()
            {
                url = s.dashboard;
                break;
            }
        }
    }
    if url.is_empty() {
        anyhow::bail!(
            "no replica of the cluster at {address} serves a dashboard              (start `weft controller` with --dashboard-port)"
        );
    }
    match weft_proto::auth::token_for(client.current_address()) {
        Some(token) => println!("{url}login?token={token}"),
        None => println!("{url}"),
    }
    Ok(())
}

pub async fn status(address: &str) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    let s = client.status().await?;
    let leader = if s.has_leader {
        s.leader_id.to_string()
    } else {
        "none".into()
    };
    println!(
        "weft {} at {} (node {}, {})",
        s.version,
        client.current_address(),
        s.node_id,
        s.role
    );
    println!("  leader:                 {leader}");
    println!("  term:                   {}", s.term);
    println!("  last log index:         {}", s.last_log_index);
    println!("  commit index:           {}", s.commit_index);
    println!("  applied index:          {}", s.applied_index);
    println!("  snapshot index:         {}", s.snapshot_index);
    println!("  purged index:           {}", s.purged_index);
    println!("  members:");
    for m in &s.members {
        let role = if m.voter { "voter" } else { "learner" };
        let progress = if m.has_progress {
            format!("matched {}, lag {}", m.matched_index, m.lag)
        } else if m.id == s.node_id {
            "this replica".to_string()
        } else {
            "progress known on the leader".to_string()
        };
        println!("    {}  {}  {role}  {progress}", m.id, m.address);
    }
    println!("  data dir:               {}", s.data_dir);
    if !s.dashboard.is_empty() {
        println!("  dashboard:              {}", s.dashboard);
    }
    println!("  components:             {}", s.components);
    if s.role == "leader" {
        println!("  hosts:");
        crate::client::tasks::print_nodes(&s.nodes);
    } else {
        println!("  hosts:                  known to the leader (`weft list nodes`)");
    }
    Ok(())
}
