//! The commands that talk to a running cluster: deploy, components, call,
//! delete, status.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use weft_client::{Call, CallOptions, Client};

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

pub async fn connect(address: &str) -> anyhow::Result<Client> {
    Ok(Client::connect(address).await?)
}

pub async fn deploy(
    address: &str,
    file: &Path,
    name: Option<&str>,
    allow_http: &[String],
) -> anyhow::Result<()> {
    let wasm = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut client = connect(address).await?;
    let reply = client
        .deploy_with_grants(wasm, name, allow_http)
        .await
        .with_context(|| format!("cannot deploy {}", file.display()))?;
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
            "validated in {:.1} ms",
            reply.validate_micros as f64 / 1000.0
        )
    };
    println!("{label} {} ({how})", info.digest);
    Ok(())
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
    println!("  components:             {}", s.components);
    if s.role == "leader" {
        println!("  hosts:");
        crate::task_cmds::print_nodes(&s.nodes);
    } else {
        println!("  hosts:                  known to the leader (`weft list nodes`)");
    }
    Ok(())
}
