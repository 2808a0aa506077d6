//! `weft up` and `weft controller`: run a controller replica in the
//! foreground until Ctrl-C or SIGTERM. `weft up` is the embedded
//! single-node cluster: a one-replica group and one host in one process
//! (the host's agent talks to the controller over channels, see
//! `local_host.rs`). `weft controller` is one replica of a group formed
//! with `--peers` or joined with `weft cluster add-member`; it runs no
//! user code, so it links no wasmtime.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use weft_controller::{ReplicaConfig, WeftService};
use weft_host::agent::{Agent, AgentConfig, HostService};

use crate::server::host::{EngineArgs, GatewayArgs, ResourceArgs, StoreArgs};
use crate::server::local_host::LocalConnector;

/// Flags shared by `weft up` and `weft controller`.
#[derive(clap::Args)]
pub struct ReplicaArgs {
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Where state, component bytes and compiled components are kept
    /// across restarts [default: $HOME/.weft]
    #[arg(long, env = "WEFT_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Largest component upload accepted, in bytes.
    #[arg(long, default_value_t = weft_controller::DEFAULT_MAX_UPLOAD)]
    max_upload: usize,
    /// Build a snapshot and compact the log every this many entries.
    #[arg(long, default_value_t = 10_000)]
    snapshot_every: u64,
    /// Seconds a write waits to commit before failing with "no quorum".
    #[arg(long, default_value_t = 3.0)]
    write_timeout: f64,
    /// Seconds a worker host may go without a heartbeat before it is
    /// declared dead and its tasks are retried elsewhere.
    #[arg(long, default_value_t = 10.0)]
    host_timeout: f64,
    /// The largest actor checkpoint kept, in bytes; K, M and G suffixes
    /// are binary. Checkpoints go through the replicated log: a larger one
    /// is refused, named in the actor's record, and the previous one kept.
    #[arg(long, value_parser = crate::server::host::parse_bytes,
          default_value_t = weft_controller::tasks::DEFAULT_MAX_CHECKPOINT)]
    max_checkpoint_bytes: u64,
    /// Deploys one client address may make a minute (0: no limit).
    #[arg(long, default_value_t = weft_controller::limits::DEFAULT_LIMITS.deploys_per_minute)]
    max_deploys_per_minute: u32,
    /// Tasks one client may submit a second; past it they fail as
    /// `refused` (0: no limit).
    #[arg(long, default_value_t = weft_controller::limits::DEFAULT_LIMITS.submits_per_second)]
    max_submits_per_second: u32,
    /// Tasks one client may have queued, waiting or running; past it new
    /// ones fail as `refused` (0: no limit).
    #[arg(long, default_value_t = weft_controller::limits::DEFAULT_LIMITS.queued_per_owner)]
    max_pending_tasks: usize,
    #[command(flatten)]
    metrics: crate::server::metrics::MetricsArgs,
    #[command(flatten)]
    dashboard: crate::server::dashboard::DashboardArgs,
    #[command(flatten)]
    auth: crate::auth::AuthArgs,
}

#[derive(clap::Args)]
pub struct UpArgs {
    /// Port to serve on (0 picks a free one).
    #[arg(long, default_value_t = 7077)]
    port: u16,
    #[command(flatten)]
    node: ReplicaArgs,
    /// What the embedded host offers to tasks.
    #[command(flatten)]
    resources: ResourceArgs,
    #[command(flatten)]
    store: StoreArgs,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
    /// Serve mutual TLS with a development CA made in the data dir on
    /// first start (`--tls-cert`, `--tls-key` and `--tls-ca` bring your
    /// own); clients on this machine find the CA and a client certificate
    /// in ~/.weft/tls.
    #[arg(long)]
    tls: bool,
}

impl ReplicaArgs {
    /// Its data dir: `--data-dir`, else `~/.weft` (none without a home).
    fn data_dir(&self) -> Option<PathBuf> {
        self.data_dir
            .clone()
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".weft")))
    }
}

impl UpArgs {
    /// The cluster's data dir (`--data-dir`, else `~/.weft`).
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.node.data_dir()
    }
}

impl ControllerArgs {
    /// The replica's data dir (`--data-dir`, else `~/.weft`).
    pub fn data_dir(&self) -> Option<PathBuf> {
        self.node.data_dir()
    }
}

/// The host `weft up` embeds.
struct Embedded {
    resources: weft_proto::v1::Resources,
    dirs: Vec<weft_host::DirGrant>,
    gpus: Option<Arc<weft_host::gpu::Gpus>>,
    store: StoreArgs,
    engine: EngineArgs,
    gateway: GatewayArgs,
    tls: bool,
}

#[derive(clap::Args)]
pub struct ControllerArgs {
    /// This replica's id in the group (a positive integer).
    #[arg(long)]
    id: u64,
    /// Port to serve clients and peers on (0: any free port, printed on
    /// the "listening on" line; a restart must take the same one again, as
    /// the group knows the replica by its address).
    #[arg(long)]
    port: u16,
    /// The group to form on first start: `ID=HOST:PORT,...`, this replica
    /// included. Harmless on later starts; not needed on a restart, nor for
    /// a replica that will be added with `weft cluster add-member`.
    #[arg(long, value_delimiter = ',')]
    peers: Vec<String>,
    /// Form a new group of this replica alone, at the address it listens
    /// on; add the others with `weft cluster add-member`. With `--port 0`
    /// nothing needs to be known before it starts.
    #[arg(long, conflicts_with = "peers")]
    bootstrap: bool,
    #[command(flatten)]
    node: ReplicaArgs,
}

/// How a replica's group forms on its first start.
enum Formation {
    /// With these members (`--peers`); with none, it waits to be added.
    Peers(Vec<String>),
    /// Alone, at the address it listens on (`weft up`, `--bootstrap`).
    Alone,
}

pub async fn up(args: UpArgs) -> anyhow::Result<()> {
    let gpus = args.resources.gpus()?;
    let embedded = Embedded {
        resources: args.resources.resources(gpus.as_deref())?,
        dirs: args.resources.dirs()?,
        gpus,
        store: args.store,
        engine: args.engine,
        gateway: args.gateway,
        tls: args.tls,
    };
    run(1, args.port, Formation::Alone, Some(embedded), args.node).await
}

pub async fn controller(args: ControllerArgs) -> anyhow::Result<()> {
    if args.id == 0 {
        bail!("--id must be a positive integer");
    }
    let formation = if args.bootstrap {
        Formation::Alone
    } else {
        Formation::Peers(args.peers)
    };
    run(args.id, args.port, formation, None, args.node).await
}

/// `ID=HOST:PORT` -> (id, address).
pub fn parse_member(text: &str) -> anyhow::Result<(u64, String)> {
    let (id, addr) = text
        .split_once('=')
        .with_context(|| format!("`{text}` is not ID=HOST:PORT"))?;
    let id: u64 = id
        .trim()
        .parse()
        .with_context(|| format!("`{id}` is not a node id"))?;
    let addr = addr.trim();
    if id == 0 || !addr.contains(':') {
        bail!("`{text}` is not ID=HOST:PORT with a positive ID");
    }
    Ok((id, addr.to_string()))
}

async fn run(
    id: u64,
    port: u16,
    formation: Formation,
    embedded_host: Option<Embedded>,
    args: ReplicaArgs,
) -> anyhow::Result<()> {
    let data_dir = args
        .data_dir()
        .context("HOME is not set; pass --data-dir")?;
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data dir {}", data_dir.display()))?;

    let listener = TcpListener::bind(SocketAddr::new(args.bind, port))
        .await
        .with_context(|| format!("cannot listen on {}:{port}", args.bind))?;
    let local = listener.local_addr()?;
    let embedded = embedded_host.is_some();
    let (keys, auth_line) = if embedded {
        args.auth.for_up(&data_dir, &local.to_string())?
    } else {
        args.auth.for_server()?
    };
    if let Some(embedded) = &embedded_host
        && weft_proto::tls::process_tls().is_none()
    {
        if embedded.tls {
            crate::tls::for_up(&data_dir, &local.to_string(), args.bind)?;
        } else {
            crate::tls::forget_local(&local.to_string());
        }
    }
    let tls_line = crate::tls::line(args.bind)?;
    // Bound before the controller starts, which reports where it is.
    let dashboard = args
        .dashboard
        .bind(args.bind, embedded_host.is_some())
        .await?;

    let mut config = ReplicaConfig::new(id, local.to_string(), &data_dir);
    config.max_upload = args.max_upload;
    config.snapshot_every = args.snapshot_every.max(1);
    config.write_timeout = std::time::Duration::from_secs_f64(args.write_timeout);
    config.tasks.host_timeout = std::time::Duration::from_secs_f64(args.host_timeout);
    config.tasks.max_checkpoint_bytes = args.max_checkpoint_bytes;
    config.tasks.limits = weft_controller::limits::Limits {
        deploys_per_minute: args.max_deploys_per_minute,
        submits_per_second: args.max_submits_per_second,
        queued_per_owner: args.max_pending_tasks,
    };
    config.dashboard = dashboard
        .as_ref()
        .map(|d| d.url.clone())
        .unwrap_or_default();
    config.initial_members = match formation {
        Formation::Alone => BTreeMap::from([(id, local.to_string())]),
        Formation::Peers(peers) => peers
            .iter()
            .map(|p| parse_member(p))
            .collect::<anyhow::Result<_>>()?,
    };
    if !config.initial_members.is_empty() && !config.initial_members.contains_key(&id) {
        bail!("--peers must include this replica (id {id})");
    }
    let controller = weft_controller::start(config)
        .await
        .with_context(|| format!("cannot open the state in {}", data_dir.display()))?;
    let mut agent = None;
    let mut gateway = None;
    if let Some(embedded) = embedded_host {
        // The single-node cluster's own worker: tasks run in this process.
        let host = embedded.engine.host(&data_dir)?;
        let store = embedded.store.open("embedded", local.port(), &data_dir)?;
        let actor_threads = embedded.resources.cpus.ceil().max(1.0) as usize;
        let config = AgentConfig {
            dirs: embedded.dirs,
            id: "embedded".into(),
            address: local.to_string(),
            resources: embedded.resources,
            controllers: local.to_string(),
            heartbeat: std::time::Duration::from_millis(500),
            actor_threads,
            keys: keys.clone(),
            gpus: embedded.gpus.clone(),
            logs: Some(
                weft_host::agent::Logs::fresh(data_dir.join("logs").join("embedded"))
                    .context("cannot make the host's logs dir")?,
            ),
        };
        let started = Agent::start(
            host,
            config,
            Arc::new(LocalConnector::new(&controller)),
            store,
        );
        controller.set_local_host(Arc::new(crate::server::local_host::HandedCalls(
            started.clone(),
        )));
        let sources = crate::server::metrics::Sources {
            controller: Some(controller.clone()),
            agent: Some(started.clone()),
        };
        gateway = embedded
            .gateway
            .start(args.bind, None, &started, "weft up", sources)
            .await?;
        agent = Some(started);
    }

    if agent.is_some() {
        // The embedded host registers over channels, without the server
        // below: announce the cluster once it can run work, so a deploy
        // sent right after the line finds the host to prepare on.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !controller.tasks().any_host_alive() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
    let who = if agent.is_some() {
        "weft up"
    } else {
        "weft controller"
    };
    let sources = crate::server::metrics::Sources {
        controller: Some(controller.clone()),
        agent: agent.clone(),
    };
    let metrics = args.metrics.start(args.bind, sources, who).await?;
    let dashboard = dashboard.map(|d| {
        // Tests and scripts read this line to find the page.
        println!("{who}: dashboard on {}", d.url);
        d.serve(&local.to_string(), keys.clone())
    });

    // Logged before the line that says the node is up, which tests wait
    // for before they read the log.
    tracing::info!("{auth_line}");
    tracing::info!("{tls_line}");
    // Caught from here on: a stop right after the line below is graceful.
    let stop = StopSignal::listen();
    // Scripts and tests read this line to learn the port.
    println!(
        "weft up: listening on {local} (node {id}, data dir {})",
        data_dir.display()
    );
    println!("{who}: {auth_line}");
    println!("{who}: {tls_line}");
    tracing::info!(%local, id, data_dir = %data_dir.display(), "weft is up");

    let router = weft_proto::tls::server_builder()
        .context("cannot serve TLS")?
        .layer(weft_proto::auth::GuardLayer::new(keys))
        .add_service(controller.peer_server())
        .add_service(WeftService::new(controller.clone()).into_server())
        .add_optional_service(agent.clone().map(HostService::server));
    serve_until_stopped(stop, |stop| {
        router.serve_with_incoming_shutdown(no_delay(listener), stop)
    })
    .await
    .context("the server failed")?;
    if let Some(agent) = agent {
        agent.stop_actors().await;
    }
    for server in [gateway, metrics, dashboard].into_iter().flatten() {
        server.abort();
    }
    controller.shutdown().await;
    if embedded {
        crate::auth::forget_local_token(&local.to_string());
    }
    tracing::info!("weft stopped cleanly");
    Ok(())
}

/// Accepted connections with Nagle's algorithm off: streamed messages
/// (task results, host assignments) are small and must leave at once, not
/// wait for the peer's delayed ACK.
pub fn no_delay(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|stream| {
            let _ = stream.set_nodelay(true);
        })
    })
}

/// How long open connections may take to close once a stop was asked
/// for. A graceful stop waits for them, and a connection the process
/// holds to its own port (its embedded host reaching the store's owner,
/// say) closes only after the stop: without a bound it waits for ever.
const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Runs the server `serve` makes from a stop signal (Ctrl-C or SIGTERM,
/// listened for since `stop` was made) until it ends, or until
/// [`STOP_GRACE`] after the signal.
pub async fn serve_until_stopped<S, E>(
    stop: StopSignal,
    serve: impl FnOnce(std::pin::Pin<Box<dyn Future<Output = ()> + Send>>) -> S,
) -> Result<(), E>
where
    S: Future<Output = Result<(), E>>,
{
    let stopping = Arc::new(tokio::sync::Notify::new());
    let signal = {
        let stopping = stopping.clone();
        Box::pin(async move {
            stop.recv().await;
            stopping.notify_one();
        })
    };
    let server = serve(signal);
    tokio::pin!(server);
    tokio::select! {
        result = &mut server => result,
        _ = async {
            stopping.notified().await;
            tokio::time::sleep(STOP_GRACE).await;
        } => {
            tracing::warn!("connections still open {STOP_GRACE:?} after the stop; closing them");
            Ok(())
        }
    }
}

/// Ctrl-C and SIGTERM, caught from the moment this is made. A server
/// makes it before it says it is listening: a stop sent right after that
/// line is then a graceful stop, not the default action's kill.
pub struct StopSignal {
    interrupt: Option<tokio::signal::unix::Signal>,
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignal {
    /// Starts catching Ctrl-C and SIGTERM.
    pub fn listen() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        StopSignal {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    /// Resolves on the first of them since [`StopSignal::listen`].
    pub async fn recv(mut self) {
        async fn next(signal: &mut Option<tokio::signal::unix::Signal>) {
            match signal {
                Some(signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        tokio::select! {
            _ = next(&mut self.interrupt) => {}
            _ = next(&mut self.terminate) => {}
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM, caught from the first poll.
pub async fn shutdown_signal() {
    StopSignal::listen().recv().await
}

#[cfg(test)]
mod tests {
    use super::parse_member;

    #[test]
    fn members_parse() {
        assert_eq!(
            parse_member("2=127.0.0.1:7002").unwrap(),
            (2, "127.0.0.1:7002".into())
        );
        assert!(parse_member("0=a:1").is_err());
        assert!(parse_member("x=a:1").is_err());
        assert!(parse_member("2").is_err());
    }
}
