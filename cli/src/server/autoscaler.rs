//! `weft autoscaler`: starts worker hosts when work waits for room no live
//! host has, and stops the hosts it started once they sit idle, as Ray's
//! autoscaler does for its node types.
//!
//! Each round it reads the leader's demand (queued tasks, waiting actors,
//! placement-group bundles, by resource shape) and its hosts. Demand is
//! packed first into hosts it started that have not registered yet, then
//! into new hosts of the first node type that holds each shape, up to the
//! type's `max` and `--max-launch` a round; a shape no node type holds is
//! reported once. A host it started that has run no task, held no actor
//! and no bundle for `--idle-timeout` is stopped while its type keeps its
//! `min`. Every decision is printed and kept, with its reason, in the
//! replicated key-value table (namespace `autoscaler`).
//!
//! Providers start and stop hosts: `local` runs `weft host` processes on
//! this machine; `command` runs the user's scripts (any cloud), with the
//! host's id, type and resources in the environment.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use weft_proto::v1 as pb;

use crate::server::host::parse_bytes;

#[derive(clap::Args)]
pub struct AutoscalerArgs {
    /// The controller group: `HOST:PORT,...`.
    #[arg(long)]
    controller: String,
    /// A kind of host it may start: `NAME:cpus=2,memory=4G,gpus=0,min=0,max=4`
    /// (repeatable; demand goes to the first type that holds it).
    #[arg(long = "node-type", required = true, value_name = "NAME:RESOURCES")]
    node_types: Vec<String>,
    /// Seconds a host it started may sit idle (no task, actor or bundle)
    /// before it is stopped.
    #[arg(long, default_value_t = 60.0)]
    idle_timeout: f64,
    /// Hosts it may start in one round (the upscaling speed).
    #[arg(long, default_value_t = 2)]
    max_launch: usize,
    /// Seconds between rounds.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,
    /// Seconds a started host may take to register before its room stops
    /// counting as on its way.
    #[arg(long, default_value_t = 60.0)]
    launch_timeout: f64,
    /// How hosts are started and stopped: `local` (`weft host` processes
    /// on this machine) or `command` (`--start-command`/`--stop-command`).
    #[arg(long, default_value = "local")]
    provider: String,
    /// With `--provider command`: run by `sh -c` to start a host, with
    /// WEFT_HOST_ID, WEFT_NODE_TYPE, WEFT_CPUS, WEFT_MEMORY, WEFT_GPUS and
    /// WEFT_CONTROLLER in its environment.
    #[arg(long)]
    start_command: Option<String>,
    /// With `--provider command`: run to stop host WEFT_HOST_ID.
    #[arg(long)]
    stop_command: Option<String>,
    /// Where the local provider's hosts keep their data and logs.
    #[arg(long, default_value = "weft-autoscaler")]
    data_dir: PathBuf,
}

/// A kind of host.
#[derive(Debug, Clone)]
struct NodeType {
    name: String,
    resources: pb::Resources,
    min: usize,
    max: usize,
}

/// `NAME:cpus=2,memory=4G,gpus=0,min=0,max=4` (custom resources by name).
fn parse_node_type(text: &str) -> anyhow::Result<NodeType> {
    let (name, rest) = text
        .split_once(':')
        .with_context(|| format!("--node-type `{text}` is not NAME:RESOURCES"))?;
    let mut node = NodeType {
        name: name.to_string(),
        resources: pb::Resources::default(),
        min: 0,
        max: 1,
    };
    let mut custom = Vec::new();
    for item in rest.split(',').filter(|i| !i.is_empty()) {
        let (key, value) = item
            .split_once('=')
            .with_context(|| format!("`{item}` in --node-type {name} is not KEY=VALUE"))?;
        let bad = || format!("`{item}` in --node-type {name}");
        match key {
            "cpus" => node.resources.cpus = value.parse().with_context(bad)?,
            "gpus" => node.resources.gpus = value.parse().with_context(bad)?,
            "memory" => node.resources.memory = parse_bytes(value).map_err(anyhow::Error::msg)?,
            "min" => node.min = value.parse().with_context(bad)?,
            "max" => node.max = value.parse().with_context(bad)?,
            _ => custom.push(item.to_string()),
        }
    }
    node.resources.custom = crate::server::host::custom_resources(&custom)?;
    if node.resources.cpus <= 0.0 {
        bail!("--node-type {name}: give it cpus");
    }
    if node.min > node.max {
        bail!(
            "--node-type {name}: min {} is above max {}",
            node.min,
            node.max
        );
    }
    Ok(node)
}

/// Starts and stops hosts.
trait Provider {
    /// Starts host `id` of `node`.
    fn start(&mut self, id: &str, node: &NodeType) -> anyhow::Result<()>;
    /// Stops host `id`.
    fn stop(&mut self, id: &str) -> anyhow::Result<()>;
}

/// `weft host` processes on this machine.
struct Local {
    controller: String,
    data_dir: PathBuf,
    children: HashMap<String, Child>,
}

impl Provider for Local {
    fn start(&mut self, id: &str, node: &NodeType) -> anyhow::Result<()> {
        let dir = self.data_dir.join(id);
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot make {}", dir.display()))?;
        let log = std::fs::File::create(dir.join("host.log"))?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["host", "--controller", &self.controller, "--port", "0"])
            .args(["--id", id, "--cpus", &node.resources.cpus.to_string()])
            .arg("--data-dir")
            .arg(&dir)
            .args(["--heartbeat-ms", "200"]);
        if node.resources.memory > 0 {
            command.args(["--memory", &node.resources.memory.to_string()]);
        }
        if node.resources.gpus > 0 {
            command.args(["--gpus", &node.resources.gpus.to_string()]);
        }
        if !node.resources.custom.is_empty() {
            let custom: Vec<String> = node
                .resources
                .custom
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            command.args(["--resources", &custom.join(",")]);
        }
        let child = command
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .context("cannot start weft host")?;
        self.children.insert(id.to_string(), child);
        Ok(())
    }

    fn stop(&mut self, id: &str) -> anyhow::Result<()> {
        let Some(mut child) = self.children.remove(id) else {
            return Ok(());
        };
        // SIGTERM: the host stops cleanly (it is idle, so it drops nothing).
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        child.kill()?;
        child.wait()?;
        Ok(())
    }
}

impl Drop for Local {
    fn drop(&mut self) {
        let ids: Vec<String> = self.children.keys().cloned().collect();
        for id in ids {
            let _ = self.stop(&id);
        }
    }
}

/// The user's scripts.
struct Scripts {
    controller: String,
    start: String,
    stop: String,
}

impl Scripts {
    fn run(&self, script: &str, id: &str, node: Option<&NodeType>) -> anyhow::Result<()> {
        let mut command = Command::new("sh");
        command
            .args(["-c", script])
            .env("WEFT_HOST_ID", id)
            .env("WEFT_CONTROLLER", &self.controller);
        if let Some(node) = node {
            command
                .env("WEFT_NODE_TYPE", &node.name)
                .env("WEFT_CPUS", node.resources.cpus.to_string())
                .env("WEFT_MEMORY", node.resources.memory.to_string())
                .env("WEFT_GPUS", node.resources.gpus.to_string());
        }
        let status = command.status().context("cannot run sh")?;
        if !status.success() {
            bail!("`{script}` for host {id} exited with {status}");
        }
        Ok(())
    }
}

impl Provider for Scripts {
    fn start(&mut self, id: &str, node: &NodeType) -> anyhow::Result<()> {
        self.run(&self.start.clone(), id, Some(node))
    }

    fn stop(&mut self, id: &str) -> anyhow::Result<()> {
        self.run(&self.stop.clone(), id, None)
    }
}

/// A host this autoscaler started.
struct Started {
    node: usize,
    at: Instant,
    registered: bool,
    idle_since: Option<Instant>,
}

pub async fn autoscaler(args: AutoscalerArgs) -> anyhow::Result<()> {
    let nodes: Vec<NodeType> = args
        .node_types
        .iter()
        .map(|t| parse_node_type(t))
        .collect::<anyhow::Result<_>>()?;
    let mut provider: Box<dyn Provider> = match args.provider.as_str() {
        "local" => Box::new(Local {
            controller: args.controller.clone(),
            data_dir: args.data_dir.clone(),
            children: HashMap::new(),
        }),
        "command" => Box::new(Scripts {
            controller: args.controller.clone(),
            start: args
                .start_command
                .clone()
                .context("--provider command needs --start-command")?,
            stop: args
                .stop_command
                .clone()
                .context("--provider command needs --stop-command")?,
        }),
        other => bail!("unknown provider `{other}` (use local or command)"),
    };
    let mut client = weft_client::Client::connect(&args.controller).await?;
    let idle_timeout = Duration::from_secs_f64(args.idle_timeout);
    let launch_timeout = Duration::from_secs_f64(args.launch_timeout);
    let interval = Duration::from_secs_f64(args.interval.max(0.05));
    let mut started: BTreeMap<String, Started> = BTreeMap::new();
    let mut reported: std::collections::HashSet<String> = Default::default();
    let mut serial = 0u64;
    println!(
        "weft autoscaler: watching {} with node types {}",
        args.controller,
        nodes
            .iter()
            .map(|n| format!(
                "{} ({}, {}..{})",
                n.name,
                n.resources.describe(),
                n.min,
                n.max
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    // Stopped by Ctrl-C or SIGTERM, it stops the hosts it started.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let stop = async move {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate.recv() => {}
        }
    };
    tokio::pin!(stop);
    loop {
        let round = async {
            let hosts = client.list_nodes().await?;
            let demand = client.demand().await?;
            let mut decisions = Vec::new();
            let alive: HashMap<&str, &pb::NodeInfo> = hosts
                .iter()
                .filter(|h| h.alive)
                .map(|h| (h.id.as_str(), h))
                .collect();
            // Registered, given up on, idle.
            let now = Instant::now();
            let mut gone = Vec::new();
            for (id, s) in started.iter_mut() {
                match alive.get(id.as_str()) {
                    Some(h) => {
                        s.registered = true;
                        let busy = h.running > 0 || h.actors > 0 || h.bundles > 0;
                        s.idle_since = if busy {
                            None
                        } else {
                            s.idle_since.or(Some(now))
                        };
                    }
                    None if s.registered || now.duration_since(s.at) > launch_timeout => {
                        gone.push(id.clone())
                    }
                    None => {}
                }
            }
            for id in gone {
                started.remove(&id);
                decisions.push(format!("forgot {id}: it is not alive"));
            }
            let count = |started: &BTreeMap<String, Started>, node: usize| {
                started.values().filter(|s| s.node == node).count()
            };
            // Room on its way: hosts started that have not registered.
            let mut coming: Vec<(usize, pb::Resources)> = started
                .values()
                .filter(|s| !s.registered)
                .map(|s| (s.node, nodes[s.node].resources.clone()))
                .collect();
            // New hosts to start, each with the room left in it.
            let mut planned: Vec<(usize, pb::Resources, Vec<String>)> = Vec::new();
            for d in &demand {
                let need = d.resources.clone().unwrap_or_default();
                if let Some((_, room)) = coming.iter_mut().find(|(_, r)| r.covers(&need)) {
                    room.take(&need);
                    continue;
                }
                if let Some((_, room, why)) = planned.iter_mut().find(|(_, r, _)| r.covers(&need)) {
                    room.take(&need);
                    why.push(format!("{} {}", d.kind, d.id));
                    continue;
                }
                let fits = nodes.iter().position(|n| n.resources.covers(&need));
                match fits {
                    Some(node)
                        if count(&started, node)
                            + planned.iter().filter(|(n, _, _)| *n == node).count()
                            < nodes[node].max =>
                    {
                        let mut room = nodes[node].resources.clone();
                        room.take(&need);
                        planned.push((node, room, vec![format!("{} {}", d.kind, d.id)]));
                    }
                    Some(_) => {}
                    None => {
                        if reported.insert(d.id.clone()) {
                            decisions.push(format!(
                                "cannot help {} {}: it needs {}, more than any node type has",
                                d.kind,
                                d.id,
                                need.describe()
                            ));
                        }
                    }
                }
            }
            // Each type keeps its minimum.
            for (node, n) in nodes.iter().enumerate() {
                let have =
                    count(&started, node) + planned.iter().filter(|(t, _, _)| *t == node).count();
                for _ in have..n.min {
                    planned.push((node, n.resources.clone(), vec![format!("min={}", n.min)]));
                }
            }
            for (node, _, why) in planned.into_iter().take(args.max_launch) {
                serial += 1;
                let id = format!("auto-{}-{serial}", nodes[node].name);
                provider.start(&id, &nodes[node])?;
                let reason = if why.len() > 3 {
                    format!("{}, {} and {} more", why[0], why[1], why.len() - 2)
                } else {
                    why.join(", ")
                };
                decisions.push(format!("started {id} ({}) for {reason}", nodes[node].name));
                started.insert(
                    id,
                    Started {
                        node,
                        at: now,
                        registered: false,
                        idle_since: None,
                    },
                );
            }
            // Idle hosts go while their type keeps its minimum.
            let idle: Vec<(String, usize)> = started
                .iter()
                .filter(|(_, s)| {
                    s.idle_since
                        .is_some_and(|t| now.duration_since(t) >= idle_timeout)
                })
                .map(|(id, s)| (id.clone(), s.node))
                .collect();
            for (id, node) in idle {
                if count(&started, node) <= nodes[node].min {
                    continue;
                }
                provider.stop(&id)?;
                started.remove(&id);
                decisions.push(format!(
                    "stopped {id} ({}): idle for {:?}",
                    nodes[node].name, idle_timeout
                ));
            }
            for decision in &decisions {
                println!("weft autoscaler: {decision}");
                let key = format!(
                    "{:020}",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_nanos())
                );
                if let Err(e) = client
                    .kv_put("autoscaler", &key, decision.clone().into_bytes())
                    .await
                {
                    tracing::warn!(error = %e, "cannot record a decision");
                }
            }
            anyhow::Ok(())
        };
        if let Err(e) = round.await {
            tracing::warn!(error = %e, "autoscaler round failed; trying again");
        }
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(interval) => {}
        }
    }
    println!("weft autoscaler: stopping the hosts it started");
    drop(provider);
    Ok(())
}
