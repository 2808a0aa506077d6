//! `weft`: run a weft cluster, deploy WebAssembly components to it, and call
//! their functions. This file only parses flags and sets up logging; each
//! command lives in its own module.

mod auth;
mod bench;
mod client;
mod server;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// weft: Ray-style distributed computing for WebAssembly components.
#[derive(Parser)]
#[command(
    name = "weft",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("WEFT_COMMIT"), ")"),
    about,
    long_about = None
)]
struct Cli {
    /// The cluster to talk to: host:port, or a comma-separated list of
    /// controller replicas (the client finds the leader).
    #[arg(long, global = true, env = "WEFT_ADDRESS", default_value = weft_client::DEFAULT_ADDRESS,
          display_order = 900)]
    address: String,

    /// A file holding the token to send (else `WEFT_TOKEN`, the file
    /// `WEFT_TOKEN_FILE` names, or the one `weft up` left on this machine
    /// for the address).
    #[arg(long, global = true, display_order = 900)]
    token_file: Option<PathBuf>,

    #[command(flatten)]
    tls: tls::TlsArgs,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an embedded single-node cluster (a one-replica controller group
    /// with a host) in the foreground until Ctrl-C or SIGTERM.
    Up(server::replica::UpArgs),
    /// Run one replica of a replicated controller group. It runs no user
    /// code: calls, tasks, actors and HTTP routes run on `weft host` workers.
    Controller(server::replica::ControllerArgs),
    /// Run a worker host that registers with the controller group, runs
    /// the calls, tasks and actors the scheduler gives it, and serves HTTP
    /// routes with `--http-port`.
    Host(server::host::HostArgs),
    /// Start worker hosts when work waits for room no live host has, and
    /// stop the ones it started once idle (`--node-type
    /// small:cpus=2,min=0,max=4`; `--provider local` runs `weft host`
    /// processes here, `command` runs your scripts).
    Autoscaler(server::autoscaler::AutoscalerArgs),
    /// Manage the controller group's membership.
    #[command(subcommand)]
    Cluster(client::kv::ClusterCommand),
    /// The replicated key-value table.
    Kv(client::kv::KvArgs),
    /// HTTP routes served by every host's gateway.
    #[command(subcommand)]
    Route(client::routes::RouteCommand),
    /// Upload a component; prints its name and digest, then waits while
    /// every host compiles it (or loads it from the artifact cache),
    /// printing how long each took.
    Deploy(client::components::DeployArgs),
    /// Print what a task's (or an actor's, or a job's) guest wrote to stdout and
    /// stderr, read from the host that ran it (one line each, in order);
    /// `-f` follows it as it writes.
    Logs(client::logs::LogsArgs),
    /// Write the leader's recent task history as a Chrome trace (one event
    /// per attempt, a process per host), for Perfetto or chrome://tracing.
    Timeline {
        /// Where to write it.
        #[arg(short, long, default_value = "timeline.json")]
        output: PathBuf,
    },
    /// List deployed components and their exported functions.
    Components,
    /// Call an exported function and print its result: a task on a host,
    /// waited for.
    ///
    /// The call is written as `wasmtime run --invoke` takes it, with WAVE
    /// values: `weft call hello 'greet("world")'`. Functions inside an
    /// exported interface are named `iface.func`.
    Call(client::components::CallArgs),
    /// Submit a task: prints its ref at once; the cluster runs it where
    /// its resources fit. `weft submit pi 'estimate(1000000, 42)'`: WAVE
    /// arguments, typed here by the function's signature and sent encoded;
    /// an argument `@REF` passes an object (another task's result, or one
    /// `weft put` stored).
    Submit(client::tasks::SubmitArgs),
    /// Wait for tasks (or objects) and print their results as WAVE, one per
    /// line; `-o FILE` writes one object's bytes to FILE (a `list<u8>`'s
    /// bytes, any other value's binary encoding).
    Get(client::tasks::GetArgs),
    /// Store FILE as an object in the cluster and print its ref; tasks
    /// take it as an argument `@REF`.
    Put {
        /// The file to store.
        file: PathBuf,
    },
    /// Show every host's object store: usage and capacity, spilled bytes,
    /// and the largest objects (like `ray memory`).
    Memory {
        /// How many of each host's largest objects to list.
        #[arg(long, default_value_t = 10)]
        largest: u32,
    },
    /// Wait until some of the given tasks have finished; prints each ref
    /// as ready, failed or pending.
    Wait(client::tasks::WaitArgs),
    /// Stop a queued or running task.
    Cancel {
        /// The task's ref.
        task: String,
    },
    /// Jobs: a driver component run under the cluster's supervision, with
    /// the tasks and actors it makes (`weft job submit driver 'run()'`).
    #[command(subcommand)]
    Job(client::jobs::JobCommand),
    /// Actors: live component instances with state, pinned to a host.
    #[command(subcommand)]
    Actor(client::actors::ActorCommand),
    /// Placement groups: bundles of resources reserved as a gang (PACK,
    /// SPREAD, STRICT_PACK, STRICT_SPREAD), for tasks and actors to run in.
    #[command(subcommand)]
    Pg(client::groups::GroupCommand),
    /// Secrets guests read through `wasi:config/store` when their runtime
    /// environment names them (`--secret NAME`); set and listed (by name
    /// only) with the admin token.
    #[command(subcommand)]
    Secret(client::runtime_env::SecretCommand),
    /// Serve: applications of deployments from a file (YAML, as Ray
    /// Serve's), each a component behind a route with replicas on hosts,
    /// routed by queue length, autoscaled, rolled over without a failed
    /// request.
    #[command(subcommand)]
    Serve(client::serve::ServeCommand),
    /// Tune: hyperparameter search. Trials of a component function over a
    /// search space (random or TPE), run by the leader and stopped early or
    /// evolved (ASHA, HyperBand, median stopping, PBT), kept in the
    /// replicated state so an experiment outlives its driver and a leader
    /// failover.
    #[command(subcommand)]
    Tune(client::tune::TuneCommand),
    /// List tasks, worker hosts or objects.
    #[command(subcommand)]
    List(client::tasks::ListCommand),
    /// Remove a name (the component goes once no name is left) or, by
    /// digest, a component.
    Delete {
        /// A name or a digest.
        component: String,
    },
    /// Show the controller group (members, leader, term, indexes, lag) and
    /// what the answering replica has done.
    Status,
    /// Print the web dashboard's address, with a sign-in link when the
    /// cluster needs a token (it carries the token: share it as one).
    Dashboard,
    /// Build a component from a Rust crate (cargo), or from a `wit/`
    /// directory beside `app.py` (Python, componentize-py) or `app.js`
    /// (JavaScript, componentize-js); the language's tool is installed into
    /// a cache on first use. Prints the component's path.
    Build(client::build::BuildArgs),
    /// Measure a running cluster: call latency, key-value commit latency,
    /// task throughput, the object store, actors, moving values, or GPUs.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Make a development CA and certificates for TLS (`weft certs init
    /// DIR`), or issue more from it.
    #[command(subcommand)]
    Certs(server::certs::CertsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let data_dir = match &cli.command {
        Command::Up(args) => args.data_dir(),
        Command::Controller(args) => args.data_dir(),
        Command::Host(args) => Some(args.data_dir()),
        _ => None,
    };
    logging(data_dir.as_deref());

    // Servers use every core; client commands are one conversation with
    // the cluster, where a single thread saves the cross-thread wakeups
    // that dominate a loopback round trip.
    let serves = matches!(
        cli.command,
        Command::Up(_) | Command::Controller(_) | Command::Host(_)
    );
    let mut builder = if serves {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let address = cli.address;
    if !serves && let Err(e) = auth::use_token_file(cli.token_file.as_deref()) {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = cli.tls.install() {
        eprintln!("error: {e:#}");
        return ExitCode::FAILURE;
    }
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Up(args) => server::replica::up(args).await,
            Command::Controller(args) => server::replica::controller(args).await,
            Command::Host(args) => server::host::host(args).await,
            Command::Autoscaler(args) => server::autoscaler::autoscaler(args).await,
            Command::Submit(args) => client::tasks::submit(&address, args).await,
            Command::Get(args) => client::tasks::get(&address, args).await,
            Command::Put { file } => client::objects::put(&address, &file).await,
            Command::Memory { largest } => client::objects::memory(&address, largest).await,
            Command::Wait(args) => client::tasks::wait(&address, args).await,
            Command::Cancel { task } => client::tasks::cancel(&address, &task).await,
            Command::List(command) => client::tasks::list(&address, command).await,
            Command::Actor(command) => client::actors::actor(&address, command).await,
            Command::Pg(command) => client::groups::group(&address, command).await,
            Command::Secret(command) => client::runtime_env::secret(&address, command).await,
            Command::Serve(command) => client::serve::serve(&address, command).await,
            Command::Tune(command) => client::tune::tune(&address, command).await,
            Command::Job(command) => client::jobs::job(&address, command).await,
            Command::Cluster(command) => client::kv::cluster(&address, command).await,
            Command::Kv(args) => client::kv::kv(&address, args).await,
            Command::Route(command) => client::routes::route(&address, command).await,
            Command::Deploy(args) => client::components::deploy(&address, args).await,
            Command::Logs(args) => client::logs::logs(&address, args).await,
            Command::Timeline { output } => client::timeline::timeline(&address, &output).await,
            Command::Components => client::components::components(&address).await,
            Command::Call(args) => client::components::call(&address, args).await,
            Command::Delete { component } => client::components::delete(&address, &component).await,
            Command::Status => client::components::status(&address).await,
            Command::Dashboard => client::components::dashboard(&address).await,
            Command::Bench(args) => bench::run(&address, args).await,
            Command::Build(args) => client::build::build(args),
            Command::Certs(command) => server::certs::certs(command),
        }
    });
    report(result)
}

/// The process's exit: an error is one line on stderr.
fn report(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: the chain joined, newlines folded.
            eprintln!("error: {}", format!("{err:#}").replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// Where log records go. A server (`up`, `controller`, `host`) keeps its
/// own records at info, and its libraries' (Raft, gRPC, HTTP/2) from warn,
/// in `weft.log` in its data dir, and shows only warnings and errors in the
/// terminal beside the lines it prints itself. `WEFT_LOG` (`info`, `debug`,
/// ...) sets what the terminal shows, and the file's level too.
fn logging(data_dir: Option<&std::path::Path>) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{EnvFilter, Layer};
    const SERVER: &str = "info,openraft=warn,tonic=warn,h2=warn,hyper=warn,tower=warn,sled=warn";
    let asked = std::env::var("WEFT_LOG").ok().filter(|l| !l.is_empty());
    let terminal = EnvFilter::new(asked.as_deref().unwrap_or("warn"));
    let file = data_dir.and_then(|dir| {
        std::fs::create_dir_all(dir).ok()?;
        let path = dir.join("weft.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ok()?;
        eprintln!(
            "weft: log records go to {} (WEFT_LOG=info shows them here too)",
            path.display()
        );
        Some(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::sync::Arc::new(file))
                .with_filter(EnvFilter::new(asked.as_deref().unwrap_or(SERVER))),
        )
    });
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(terminal),
        )
        .with(file)
        .init();
}
