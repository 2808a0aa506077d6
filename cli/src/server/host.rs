//! `weft host`: a worker host in its own process. It registers with the
//! controller group's leader, offers its resources to the scheduler, runs
//! the tasks it is given, serves its object store to other hosts and
//! clients on its port (`WeftHost`), and, with `--http-port`, serves HTTP
//! routes and JSON calls.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::net::TcpListener;
use weft_host::agent::{Agent, AgentConfig, GrpcConnector, HostService};
use weft_host::gateway::GatewayConfig;
use weft_host::store::{ObjectStore, StoreConfig};
use weft_host::{Host, HostConfig};
use weft_proto::v1 as pb;

/// What a host offers to tasks.
#[derive(clap::Args, Clone)]
pub struct ResourceArgs {
    /// CPU slots offered to tasks [default: the machine's logical cores].
    #[arg(long)]
    cpus: Option<f64>,
    /// Memory offered to tasks, in bytes [default: the machine's memory].
    #[arg(long)]
    memory: Option<u64>,
    /// GPUs offered to tasks, each task seeing only those it was given
    /// [default: every CUDA device found, or none].
    #[arg(long)]
    gpus: Option<u32>,
    /// Where GPUs come from: `cuda` (NVIDIA devices, through the driver
    /// found at run time), `cpu` (a reference in host memory with the same
    /// buffers and BLAS; kernels are not supported), or `auto`: cuda when
    /// it finds a device, else cpu for `--gpus N`.
    #[arg(long, value_enum, default_value_t = GpuBackend::Auto)]
    gpu_backend: GpuBackend,
    /// Memory of each GPU of the cpu backend; K, M and G suffixes are
    /// binary.
    #[arg(long, value_parser = parse_bytes, default_value = "4G")]
    gpu_device_memory: u64,
    /// The most device memory one task may hold (0: no cap); K, M and G
    /// suffixes are binary.
    #[arg(long, value_parser = parse_bytes, default_value = "0")]
    gpu_memory: u64,
    /// Custom resources: `NAME=AMOUNT,...`.
    #[arg(long, value_delimiter = ',')]
    resources: Vec<String>,
    /// A directory guests may ask for by name (their runtime env's
    /// `dirs`): `NAME=PATH`, or `NAME=PATH:ro` for reading only. A guest
    /// that asks sees it at `/NAME`, and nothing else of the file system.
    /// Repeat for more.
    #[arg(long = "dir", value_name = "NAME=PATH[:ro]")]
    dirs: Vec<String>,
}

/// `--gpu-backend`.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum GpuBackend {
    Auto,
    Cuda,
    Cpu,
}

impl ResourceArgs {
    /// The devices this host lends to tasks, as `--gpus` and
    /// `--gpu-backend` choose them (logged either way).
    pub fn gpus(&self) -> anyhow::Result<Option<Arc<weft_host::gpu::Gpus>>> {
        use weft_host::gpu;
        if self.gpus == Some(0) {
            return Ok(None);
        }
        let backend = match self.gpu_backend {
            GpuBackend::Cpu => match self.gpus {
                Some(n) => gpu::cpu(n, self.gpu_device_memory),
                None => bail!("--gpu-backend cpu needs --gpus N"),
            },
            GpuBackend::Cuda => {
                gpu::cuda(self.gpus).map_err(|e| anyhow::anyhow!("--gpu-backend cuda: {e}"))?
            }
            GpuBackend::Auto => match (gpu::cuda(self.gpus), self.gpus) {
                (Ok(cuda), _) => cuda,
                (Err(why), Some(n)) => {
                    tracing::info!(%why, "no CUDA device: the cpu backend offers --gpus");
                    gpu::cpu(n, self.gpu_device_memory)
                }
                (Err(why), None) => {
                    tracing::debug!(%why, "no CUDA device: no GPUs offered");
                    return Ok(None);
                }
            },
        };
        if let Some(n) = self.gpus
            && (backend.devices().len() as u32) < n
        {
            bail!(
                "--gpus {n}: the {} backend has only {} device(s)",
                backend.name(),
                backend.devices().len()
            );
        }
        Ok(Some(gpu::Gpus::new(backend, self.gpu_memory)))
    }

    /// The directories offered to guests (`--dir`), each checked to be a
    /// directory now.
    pub fn dirs(&self) -> anyhow::Result<Vec<weft_host::DirGrant>> {
        let mut out: Vec<weft_host::DirGrant> = Vec::new();
        for item in &self.dirs {
            let (name, path) = item
                .split_once('=')
                .with_context(|| format!("--dir `{item}` is not NAME=PATH[:ro]"))?;
            let (path, read_only) = match path.strip_suffix(":ro") {
                Some(path) => (path, true),
                None => (path.strip_suffix(":rw").unwrap_or(path), false),
            };
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
            if !valid {
                bail!("--dir `{item}`: `{name}` is not a name (letters, digits, `_`, `-`, `.`)");
            }
            if out.iter().any(|d| d.name == name) {
                bail!("--dir `{name}` is given twice");
            }
            let path = std::fs::canonicalize(path)
                .with_context(|| format!("--dir {name}: cannot open `{path}`"))?;
            if !path.is_dir() {
                bail!("--dir {name}: `{}` is not a directory", path.display());
            }
            out.push(weft_host::DirGrant {
                name: name.to_string(),
                path,
                read_only,
            });
        }
        Ok(out)
    }

    /// The resources in wire form, defaults filled in; `gpus` as the
    /// backend found them.
    pub fn resources(&self, gpus: Option<&weft_host::gpu::Gpus>) -> anyhow::Result<pb::Resources> {
        let cpus = self.cpus.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1.0, |n| n.get() as f64)
        });
        if !(cpus >= 0.0 && cpus.is_finite()) {
            bail!("--cpus must be a number >= 0");
        }
        let custom = custom_resources(&self.resources)?;
        Ok(pb::Resources {
            cpus,
            memory: self.memory.unwrap_or_else(machine_memory),
            gpus: gpus.map_or(0, |g| g.count()),
            custom,
        })
    }
}

/// How a host runs guests.
#[derive(clap::Args, Clone)]
pub struct EngineArgs {
    /// Default deadline of a call or task attempt, in seconds.
    #[arg(long, default_value_t = weft_host::DEFAULT_TIMEOUT.as_secs_f64())]
    default_timeout: f64,
    /// Default memory limit of an instance, in bytes.
    #[arg(long, default_value_t = weft_host::DEFAULT_MEMORY_LIMIT)]
    default_memory_limit: u64,
    /// Instances made ahead of calls, per component slow to instantiate
    /// (each is used by one call only); 0 makes every instance on demand.
    #[arg(long, default_value_t = weft_host::DEFAULT_WARM_INSTANCES)]
    warm_instances: usize,
    /// Where compiled components are kept, shared by every host of this
    /// user on this machine (the first compiles, the others load)
    /// [default: $XDG_CACHE_HOME/weft/artifacts or ~/.cache/weft/artifacts]
    #[arg(long, env = "WEFT_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
}

impl EngineArgs {
    /// The host, its compiled components kept in the cache directory
    /// (`data_dir/cache` when no home directory is known).
    pub fn host(&self, data_dir: &std::path::Path) -> anyhow::Result<Arc<Host>> {
        // A user cache that cannot be made (a read-only home) is not
        // worth failing over: the host keeps its artifacts to itself.
        let cache = self
            .cache_dir
            .clone()
            .or_else(|| user_cache_dir().filter(|dir| weft_host::create_cache_dir(dir).is_ok()))
            .unwrap_or_else(|| data_dir.join("cache"));
        let mut config = HostConfig::new(cache);
        config.default_timeout = Duration::from_secs_f64(self.default_timeout);
        config.default_memory_limit = self.default_memory_limit;
        config.warm_instances = self.warm_instances;
        Ok(Arc::new(Host::new(config)?))
    }
}

/// `$XDG_CACHE_HOME/weft/artifacts`, else `~/.cache/weft/artifacts`.
fn user_cache_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|home| PathBuf::from(home).join(".cache"))
        })?;
    Some(base.join("weft").join("artifacts"))
}

/// Listens on `bind:port` and prints `{who}: {what}{address}{path}`, the
/// line scripts and tests read to learn a port picked by the system.
pub async fn announce_listener(
    bind: IpAddr,
    port: u16,
    who: &str,
    what: &str,
    path: &str,
) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(SocketAddr::new(bind, port))
        .await
        .with_context(|| format!("cannot listen for {what}{bind}:{port}"))?;
    println!("{who}: {what}{}{path}", listener.local_addr()?);
    Ok(listener)
}

/// A host's HTTP gateway.
#[derive(clap::Args, Clone)]
pub struct GatewayArgs {
    /// Serve HTTP routes and the JSON call endpoint on this port (0 picks
    /// a free one); no gateway without it.
    #[arg(long)]
    http_port: Option<u16>,
    /// Largest HTTP request body the gateway accepts, in bytes (413 above).
    #[arg(long, default_value_t = weft_host::gateway::DEFAULT_MAX_BODY)]
    http_max_body: usize,
}

impl GatewayArgs {
    /// Starts the gateway for `agent` when a port was given, printing its
    /// address after `who` (scripts and tests read that line).
    pub async fn start(
        &self,
        bind: IpAddr,
        advertise: Option<&str>,
        agent: &Arc<Agent>,
        who: &str,
        metrics: crate::server::metrics::Sources,
    ) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
        let Some(port) = self.http_port else {
            return Ok(None);
        };
        let tls = weft_proto::tls::process_tls()
            .and_then(|tls| tls.https_server())
            .transpose()?;
        let scheme = if tls.is_some() { " (https)" } else { "" };
        let listener = announce_listener(bind, port, who, "http gateway on ", scheme).await?;
        // Other hosts' gateways forward Serve requests here.
        let local = listener.local_addr()?;
        let reached_at = match (advertise, local.ip().is_unspecified()) {
            (Some(host), _) => format!("{host}:{}", local.port()),
            (None, true) => format!("127.0.0.1:{}", local.port()),
            (None, false) => local.to_string(),
        };
        agent.serve_load.set_http_address(reached_at);
        let config = GatewayConfig {
            max_body: self.http_max_body,
            metrics: Some(Arc::new(move || metrics.render())),
            tls,
            ..Default::default()
        };
        Ok(Some(tokio::spawn(weft_host::gateway::serve(
            listener,
            agent.clone(),
            config,
            crate::server::replica::shutdown_signal(),
        ))))
    }
}

/// Where a host keeps its objects.
#[derive(clap::Args, Clone)]
pub struct StoreArgs {
    /// Object store directory, on a tmpfs for shared memory
    /// [default: /dev/shm/weft-ID-PORT]
    #[arg(long)]
    store_dir: Option<PathBuf>,
    /// Object store capacity in bytes; K, M and G suffixes are binary
    /// [default: 30% of the machine's memory]
    #[arg(long, value_parser = parse_bytes)]
    store_capacity: Option<u64>,
    /// Pull objects from hosts on this machine over the network, as from
    /// other machines, instead of copying them from the holder's shared
    /// memory (to test or measure the network path on one machine)
    #[arg(long)]
    network_pulls: bool,
}

impl StoreArgs {
    /// Opens the store of host `id` listening on `port` (spilling under
    /// `data_dir`), emptying what a previous run left there.
    pub fn open(
        &self,
        id: &str,
        port: u16,
        data_dir: &std::path::Path,
    ) -> anyhow::Result<Arc<ObjectStore>> {
        let mut config = StoreConfig::for_host(&format!("{id}-{port}"), data_dir);
        if let Some(dir) = &self.store_dir {
            config.dir = dir.clone();
        }
        if let Some(capacity) = self.store_capacity {
            config.capacity = capacity;
        }
        config.network_pulls = self.network_pulls;
        let dir = config.dir.clone();
        ObjectStore::open(config)
            .with_context(|| format!("cannot open the object store in {}", dir.display()))
    }
}

pub use weft_proto::parse_bytes;

/// Custom resources from `NAME=AMOUNT` items (`--resources`), on hosts and
/// tasks alike.
pub fn custom_resources(
    items: &[String],
) -> anyhow::Result<std::collections::HashMap<String, f64>> {
    let mut custom = std::collections::HashMap::new();
    for item in items {
        let (name, amount) = item
            .split_once('=')
            .with_context(|| format!("`{item}` is not NAME=AMOUNT"))?;
        let name = name.trim();
        let amount: f64 = amount
            .trim()
            .parse()
            .with_context(|| format!("`{amount}` in `{item}` is not a number"))?;
        if matches!(name, "cpus" | "memory" | "gpus") || name.is_empty() {
            bail!("`{name}` is not a custom resource name (use --cpus, --memory, --gpus)");
        }
        if !(amount >= 0.0 && amount.is_finite()) {
            bail!("`{item}`: the amount must be a number >= 0");
        }
        custom.insert(name.to_string(), amount);
    }
    Ok(custom)
}

/// Total memory from /proc/meminfo (0 where that is not available).
fn machine_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}

impl HostArgs {
    /// The host's data dir.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir.clone()
    }
}

#[derive(clap::Args)]
pub struct HostArgs {
    /// The controller group: `HOST:PORT,...` (the host finds the leader).
    #[arg(long)]
    controller: String,
    /// Port other hosts and clients reach its object store on (0 picks a
    /// free one).
    #[arg(long)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The host name or IP others reach this host at, when it is not the
    /// bound address (`--bind 0.0.0.0` in a container: its pod's IP)
    /// [default: the bound address].
    #[arg(long, value_name = "HOST")]
    advertise: Option<String>,
    /// Where compiled components are kept across restarts.
    #[arg(long)]
    data_dir: PathBuf,
    /// This host's id in the cluster [default: host-PORT].
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    resources: ResourceArgs,
    #[command(flatten)]
    store: StoreArgs,
    /// Milliseconds between heartbeats to the leader.
    #[arg(long, default_value_t = 500)]
    heartbeat_ms: u64,
    #[command(flatten)]
    engine: EngineArgs,
    #[command(flatten)]
    gateway: GatewayArgs,
    #[command(flatten)]
    metrics: crate::server::metrics::MetricsArgs,
    #[command(flatten)]
    auth: crate::auth::AuthArgs,
}

pub async fn host(args: HostArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    let listener = TcpListener::bind(SocketAddr::new(args.bind, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let local = listener.local_addr()?;
    let id = args.id.unwrap_or_else(|| format!("host-{}", local.port()));
    let reached_at = match &args.advertise {
        Some(host) => format!("{host}:{}", local.port()),
        None => local.to_string(),
    };

    let host = args.engine.host(&args.data_dir)?;
    // Before the first connection: the host sends its token to the
    // controllers and other hosts as it expects it from its callers.
    let (keys, auth_line) = args.auth.for_server()?;
    let tls_line = crate::tls::line(args.bind)?;

    let client = weft_client::Client::connect(&args.controller).await?;
    let gpus = args.resources.gpus()?;
    let resources = args.resources.resources(gpus.as_deref())?;
    let dirs = args.resources.dirs()?;
    let config = AgentConfig {
        dirs,
        id: id.clone(),
        address: reached_at,
        resources: resources.clone(),
        controllers: args.controller.clone(),
        heartbeat: Duration::from_millis(args.heartbeat_ms.max(10)),
        actor_threads: resources.cpus.ceil().max(1.0) as usize,
        keys: keys.clone(),
        gpus,
        logs: Some(
            weft_host::agent::Logs::fresh(args.data_dir.join("logs").join(&id))
                .context("cannot make the host's logs dir")?,
        ),
    };
    let store = args.store.open(&id, local.port(), &args.data_dir)?;
    let agent = Agent::start(
        host,
        config,
        Arc::new(GrpcConnector::new(client.into())),
        store,
    );
    let sources = crate::server::metrics::Sources {
        controller: None,
        agent: Some(agent.clone()),
    };
    let gateway = args
        .gateway
        .start(
            args.bind,
            args.advertise.as_deref(),
            &agent,
            "weft host",
            sources.clone(),
        )
        .await?;
    let metrics = args.metrics.start(args.bind, sources, "weft host").await?;
    tracing::info!("{auth_line}");
    tracing::info!("{tls_line}");
    // Scripts and tests read this line.
    // Caught from here on: a stop right after the line below is graceful.
    let stop = crate::server::replica::StopSignal::listen();
    println!(
        "weft host: {id} on {local} with {} cpus, controller {}",
        resources.cpus, args.controller
    );
    println!("weft host: {auth_line}");
    println!("weft host: {tls_line}");
    // The host's port serves its object store to other hosts and clients.
    let router = weft_proto::tls::server_builder()
        .context("cannot serve TLS")?
        .layer(weft_proto::auth::GuardLayer::new(keys))
        .add_service(HostService::server(agent.clone()));
    let served = crate::server::replica::serve_until_stopped(stop, |stop| {
        router.serve_with_incoming_shutdown(crate::server::replica::no_delay(listener), stop)
    })
    .await
    .context("the host's server failed");
    agent.stop_actors().await;
    for server in [gateway, metrics].into_iter().flatten() {
        server.abort();
    }
    served
}
