//! Tasks from the terminal: `weft submit`, `weft get`, `weft cancel`,
//! `weft list tasks|nodes`, and the host table `weft status` prints.

use std::time::Duration;

use anyhow::{Context, bail};
use weft_client::{Arg, NodeInfo, TaskClient, TaskOptions, value_of};
use weft_proto::HasRuntimeEnv;

use crate::client::connect;

#[derive(clap::Args)]
pub struct SubmitArgs {
    /// The component: a name, `name@version`, or a digest.
    component: String,
    /// The call in WAVE, e.g. `estimate(1000000, 42)`; an argument `@REF`
    /// passes the result of task REF by value.
    call: String,
    /// CPU slots the task holds while it runs (default 1).
    #[arg(long)]
    cpus: Option<f64>,
    /// Memory the task reserves on its host, in bytes.
    #[arg(long, default_value_t = 0)]
    memory: u64,
    /// GPUs the task needs.
    #[arg(long, default_value_t = 0)]
    gpus: u32,
    /// Custom resources the task needs: `NAME=AMOUNT,...`.
    #[arg(long, value_delimiter = ',')]
    resources: Vec<String>,
    /// Attempts after a host failure (default 3).
    #[arg(long)]
    max_retries: Option<u32>,
    /// Also retry when the guest traps.
    #[arg(long)]
    retry_on_trap: bool,
    /// Deadline of one attempt, in seconds (default: the host's).
    #[arg(long)]
    timeout: Option<f64>,
    /// Linear-memory limit of the task's instance, in bytes.
    #[arg(long)]
    memory_limit: Option<u64>,
    /// `default` (locality, then pack with load balancing) or `spread`.
    #[arg(long, default_value = "default")]
    strategy: String,
    /// Run on this host (node affinity).
    #[arg(long)]
    node: Option<String>,
    /// With --node: run elsewhere when that host cannot take it.
    #[arg(long)]
    soft: bool,
    /// Tasks one instance may run for this owner (Ray's `max_calls`):
    /// above 1, a component slow to instantiate keeps its instance warm,
    /// and a task may find the globals an earlier one left (default 1: a
    /// fresh instance per task).
    #[arg(long, default_value_t = 1)]
    max_calls: u32,
    /// Wait for the result and print it after the ref.
    #[arg(long)]
    wait: bool,
    /// A streaming task (Ray's `num_returns="streaming"`): print each item
    /// the guest emits (`tasks.emit`) as it comes, one per line, then its
    /// result.
    #[arg(long, conflicts_with = "wait")]
    stream: bool,
    /// With --stream: the producer waits while this many items are unread
    /// (default: it never waits).
    #[arg(long, requires = "stream")]
    backpressure: Option<u32>,
    #[command(flatten)]
    group: crate::client::groups::InGroup,
    #[command(flatten)]
    runtime_env: crate::client::runtime_env::RuntimeEnvArgs,
}

#[derive(clap::Args)]
pub struct GetArgs {
    /// Refs, as `weft submit` or `weft put` printed them.
    #[arg(required = true)]
    refs: Vec<String>,
    /// Seconds to wait (default: as long as it takes).
    #[arg(long)]
    timeout: Option<f64>,
    /// Write the object's bytes to FILE (one ref) instead of printing.
    #[arg(short, long, value_name = "FILE")]
    output: Option<std::path::PathBuf>,
}

#[derive(clap::Args)]
pub struct WaitArgs {
    /// Task refs.
    #[arg(required = true)]
    refs: Vec<String>,
    /// Return once this many have finished (default: all).
    #[arg(long)]
    num_ready: Option<usize>,
    /// Seconds to wait at most (default: as long as it takes).
    #[arg(long)]
    timeout: Option<f64>,
}

#[derive(clap::Subcommand)]
pub enum ListCommand {
    /// Tasks the leader holds, newest first.
    Tasks {
        /// Only tasks in this state: waiting, queued, running, finished, failed.
        #[arg(long)]
        state: Option<weft_proto::v1::TaskState>,
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Instead, the history of task REF: submitted, scheduled, retried,
        /// finished or failed, each with its time.
        #[arg(long, value_name = "REF")]
        detail: Option<String>,
    },
    /// Worker hosts with their resources and usage.
    Nodes,
    /// Objects of the cluster, newest first: owner, size, holders (with
    /// spilled copies and readers pinning them) and refs.
    Objects {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
}

/// Splits `func(a, b, ...)` into the function and its arguments' text
/// with weft's one call parser.
pub fn split_call(call: &str) -> anyhow::Result<(String, Vec<String>)> {
    let call = weft_values::WaveCall::parse(call).map_err(|e| anyhow::anyhow!(e.0))?;
    Ok((call.function.clone(), call.into_texts()))
}

fn options(args: &SubmitArgs) -> anyhow::Result<TaskOptions> {
    let custom = crate::server::host::custom_resources(&args.resources)?;
    if args.soft && args.node.is_none() {
        bail!("--soft goes with --node");
    }
    let mut options = TaskOptions {
        has_cpus: args.cpus.is_some(),
        cpus: args.cpus.unwrap_or(0.0),
        memory: args.memory,
        gpus: args.gpus,
        custom,
        has_max_retries: args.max_retries.is_some(),
        max_retries: args.max_retries.unwrap_or(0),
        retry_on_trap: args.retry_on_trap,
        timeout_ms: args
            .timeout
            .map_or(0, |t| (t * 1000.0).round().max(1.0) as u64),
        memory_limit_bytes: args.memory_limit.unwrap_or(0),
        strategy: args.strategy.clone(),
        affinity_host: args.node.clone().unwrap_or_default(),
        affinity_soft: args.soft,
        max_calls: args.max_calls,
        streaming: args.stream,
        stream_backpressure: args.backpressure.unwrap_or(0),
        ..Default::default()
    };
    options.env_parts().fill_from(&args.runtime_env.parts());
    args.group.put_in(&mut options);
    Ok(options)
}

pub async fn submit(address: &str, args: SubmitArgs) -> anyhow::Result<()> {
    let (function, texts) = split_call(&args.call)?;
    let call_args = texts
        .into_iter()
        .map(|t| match t.strip_prefix('@') {
            Some(r) => Arg::Ref(r.to_string()),
            None => Arg::Wave(t),
        })
        .collect();
    let options = options(&args)?;
    let tasks = TaskClient::detached(connect(address).await?);
    let id = tasks
        .submit(&args.component, &function, call_args, options)
        .await?;
    tasks
        .flush(Duration::from_secs(30))
        .await
        .context("the cluster did not record the task")?;
    println!("{id}");
    if args.stream {
        let mut items = tasks.stream(&id, args.backpressure.is_some());
        while let Some(item) = items.next(None).await? {
            let result = tasks.get(std::slice::from_ref(&item), None).await?;
            tasks.release(std::slice::from_ref(&item));
            if let Some(value) = value_of(result.into_iter().next().context("no item came back")?)?
            {
                print_value(&value);
            }
        }
        let end = tasks.get(std::slice::from_ref(&id), None).await?;
        if let Some(value) = value_of(end.into_iter().next().context("no result came back")?)? {
            print_value(&value);
        }
        return Ok(());
    }
    if args.wait {
        let result = tasks.get(std::slice::from_ref(&id), None).await?;
        let result = result.into_iter().next().context("no result came back")?;
        if let Some(value) = value_of(result)? {
            print_value(&value);
        }
    }
    Ok(())
}

/// Prints a value as WAVE, except bytes too many to read on a terminal.
pub fn print_value(value: &weft_client::Value) {
    match value {
        weft_client::Value::Bytes(bytes) if bytes.len() > 256 => println!(
            "<list<u8> of {}: write it with `weft get REF -o FILE`>",
            weft_host::bytes(bytes.len() as u64)
        ),
        value => println!("{}", weft_client::values::to_wave(value)),
    }
}

pub async fn get(address: &str, args: GetArgs) -> anyhow::Result<()> {
    let tasks = TaskClient::detached(connect(address).await?);
    let timeout = args.timeout.map(Duration::from_secs_f64);
    if let Some(path) = &args.output {
        let [id] = args.refs.as_slice() else {
            bail!("-o writes one object: give one ref");
        };
        let waiting = crate::client::progress::Progress::spinner(&format!("reading {id}"));
        let bytes = tasks.get_object(id, timeout).await?;
        drop(waiting);
        crate::client::progress::write_file(path, &bytes[..])
            .with_context(|| format!("cannot write {}", path.display()))?;
        println!(
            "wrote {} to {}",
            weft_host::bytes(bytes.len() as u64),
            path.display()
        );
        return Ok(());
    }
    let results = tasks.get(&args.refs, timeout).await?;
    for result in results {
        if let Some(value) = value_of(result)? {
            print_value(&value);
        }
    }
    Ok(())
}

/// Prints `ready REF` or `pending REF` for each ref once enough are ready.
pub async fn wait(address: &str, args: WaitArgs) -> anyhow::Result<()> {
    let tasks = TaskClient::detached(connect(address).await?);
    let need = args.num_ready.unwrap_or(args.refs.len());
    let timeout = args.timeout.map(Duration::from_secs_f64);
    let (ready, pending) = tasks.wait(&args.refs, need, timeout).await?;
    for r in &ready {
        let state = if r.ok { "ready" } else { "failed" };
        println!("{state} {}", r.id);
    }
    for id in &pending {
        println!("pending {id}");
    }
    Ok(())
}

pub async fn cancel(address: &str, task: &str) -> anyhow::Result<()> {
    let tasks = TaskClient::detached(connect(address).await?);
    if tasks.cancel(task).await? {
        println!("canceled {task}");
    } else {
        println!("{task} had already finished");
    }
    Ok(())
}

pub async fn list(address: &str, command: ListCommand) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    match command {
        ListCommand::Tasks {
            detail: Some(task), ..
        } => crate::client::timeline::detail(address, &task).await?,
        ListCommand::Tasks { state, limit, .. } => {
            let reply = client.list_tasks(state.unwrap_or_default(), limit).await?;
            let counts: Vec<String> = reply
                .counts_by_name()
                .iter()
                .map(|(s, n)| format!("{n} {s}"))
                .collect();
            println!(
                "tasks: {}",
                if counts.is_empty() {
                    "none".into()
                } else {
                    counts.join(", ")
                }
            );
            for t in reply.tasks {
                let mut line =
                    format!("{}  {:<8}  {}.{}", t.id, t.state(), t.component, t.function);
                if !t.host.is_empty() {
                    line.push_str(&format!("  on {}", t.host));
                }
                if !t.gpu_devices.is_empty() {
                    line.push_str(&format!(" {}", weft_proto::format_gpus(&t.gpu_devices)));
                }
                if t.attempts > 1 {
                    line.push_str(&format!("  ({} attempts)", t.attempts));
                }
                if !t.error.is_empty() {
                    line.push_str(&format!("  error: {}", t.error));
                }
                println!("{line}");
            }
        }
        ListCommand::Nodes => print_nodes(&client.list_nodes().await?),
        ListCommand::Objects { limit } => {
            let (objects, total) = client.list_objects(limit).await?;
            println!("objects: {total}");
            for o in objects {
                println!("{}", object_line(&o));
            }
        }
    }
    Ok(())
}

/// One object of `weft list objects`: id, kind, owner, size, where it
/// lies (inline in the leader, or each store's copy with its state and
/// pins), refs.
fn object_line(o: &weft_proto::v1::ObjectInfo) -> String {
    let place = if o.held_by.is_empty() {
        "inline".to_string()
    } else if o.copies.is_empty() {
        format!("held by {} (no copy found)", o.held_by)
    } else {
        o.copies
            .iter()
            .map(|c| {
                let state = c.state().name().to_lowercase();
                match c.pins {
                    0 => format!("{} {state}", c.host),
                    n => format!("{} {state} pinned {n}", c.host),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        "{}  {:<6}  owner {}  {}  {}  refs {}",
        o.id,
        o.kind,
        o.owner,
        weft_host::bytes(o.size),
        place,
        o.refs
    )
}

/// The host table of `weft list nodes` and `weft status`.
pub fn print_nodes(nodes: &[NodeInfo]) {
    if nodes.is_empty() {
        println!("no worker hosts have registered");
        return;
    }
    for n in nodes {
        let total = n.total.clone().unwrap_or_default();
        let used = n.used.clone().unwrap_or_default();
        let state = if n.alive {
            format!("alive (heartbeat {} ms ago)", n.millis_since_heartbeat)
        } else {
            format!("dead: {}", n.dead_reason)
        };
        let mut resources = format!("cpus {}/{}", trim(used.cpus), trim(total.cpus));
        if total.memory > 0 {
            resources.push_str(&format!(
                ", memory {}/{}",
                weft_host::bytes(used.memory),
                weft_host::bytes(total.memory)
            ));
        }
        if total.gpus > 0 {
            resources.push_str(&format!(", gpus {}/{}", used.gpus, total.gpus));
        }
        let mut custom: Vec<_> = total.custom.iter().collect();
        custom.sort_by(|a, b| a.0.cmp(b.0));
        for (name, amount) in custom {
            let in_use = used.custom.get(name).copied().unwrap_or(0.0);
            resources.push_str(&format!(", {name} {}/{}", trim(in_use), trim(*amount)));
        }
        println!(
            "  {}  {}  {state}  {resources}  running {}  done {}",
            n.id, n.address, n.running, n.tasks_done
        );
        if let Some(e) = &n.engine {
            println!(
                "      engine: {} compiled, {} loaded from the artifact cache, {} calls ({} on instances made ahead, {} on reused ones)",
                e.compiled, e.loaded_from_disk, e.calls, e.warm_starts, e.reused
            );
        }
        if !n.gpu.is_empty() {
            println!("      gpus: {}", n.gpu);
        }
        if n.gpu_holders.iter().any(|h| !h.is_empty()) {
            let held: Vec<String> = n
                .gpu_holders
                .iter()
                .enumerate()
                .map(|(i, h)| match h.as_str() {
                    "" => format!("GPU {i} free"),
                    holder => format!("GPU {i} {holder}"),
                })
                .collect();
            println!("      {}", held.join(", "));
        }
    }
}

fn trim(x: f64) -> String {
    if x.fract() == 0.0 {
        format!("{x:.0}")
    } else {
        format!("{x:.2}")
    }
}
