//! `weft`: run a weft cluster, deploy WebAssembly components to it, and call
//! their functions. This file only parses flags and sets up logging; each
//! command lives in its own module.

mod actor_cmds;
mod auth;
mod bench;
mod bench_actors;
mod bench_gpu;
mod bench_objects;
mod bench_tasks;
mod bench_values;
mod build_cmd;
mod certs;
mod client_cmds;
mod dashboard;
mod host_cmd;
mod http_server;
mod job_cmds;
mod kv_cmds;
mod local_host;
mod logs;
mod metrics;
mod node;
mod object_cmds;
mod progress;
mod route_cmds;
mod task_cmds;
mod timeline;
mod tls;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// weft: Ray-style distributed computing for WebAssembly components.
#[derive(Parser)]
#[command(name = "weft", version, about, long_about = None)]
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
    Up(node::UpArgs),
    /// Run one replica of a replicated controller group. It runs no user
    /// code: calls, tasks, actors and HTTP routes run on `weft host` workers.
    Controller(node::ControllerArgs),
    /// Run a worker host that registers with the controller group, runs
    /// the calls, tasks and actors the scheduler gives it, and serves HTTP
    /// routes with `--http-port`.
    Host(host_cmd::HostArgs),
    /// Manage the controller group's membership.
    #[command(subcommand)]
    Cluster(kv_cmds::ClusterCommand),
    /// The replicated key-value table.
    Kv(kv_cmds::KvArgs),
    /// HTTP routes served by every host's gateway.
    #[command(subcommand)]
    Route(route_cmds::RouteCommand),
    /// Upload a component; prints its name and digest, then waits while
    /// every host compiles it (or loads it from the artifact cache),
    /// printing how long each took.
    Deploy(client_cmds::DeployArgs),
    /// Print what a task's (or an actor's, or a job's) guest wrote to stdout and
    /// stderr, read from the host that ran it (one line each, in order);
    /// `-f` follows it as it writes.
    Logs(logs::LogsArgs),
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
    Call(client_cmds::CallArgs),
    /// Submit a task: prints its ref at once; the cluster runs it where
    /// its resources fit. `weft submit pi 'estimate(1000000, 42)'`: WAVE
    /// arguments, typed here by the function's signature and sent encoded;
    /// an argument `@REF` passes an object (another task's result, or one
    /// `weft put` stored).
    Submit(task_cmds::SubmitArgs),
    /// Wait for tasks (or objects) and print their results as WAVE, one per
    /// line; `-o FILE` writes one object's bytes to FILE (a `list<u8>`'s
    /// bytes, any other value's binary encoding).
    Get(task_cmds::GetArgs),
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
    Wait(task_cmds::WaitArgs),
    /// Stop a queued or running task.
    Cancel {
        /// The task's ref.
        task: String,
    },
    /// Jobs: a driver component run under the cluster's supervision, with
    /// the tasks and actors it makes (`weft job submit driver 'run()'`).
    #[command(subcommand)]
    Job(job_cmds::JobCommand),
    /// Actors: live component instances with state, pinned to a host.
    #[command(subcommand)]
    Actor(actor_cmds::ActorCommand),
    /// List tasks or worker hosts.
    #[command(subcommand)]
    List(task_cmds::ListCommand),
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
    Build(build_cmd::BuildArgs),
    /// Measure a running cluster: call latency, key-value commit latency,
    /// task throughput, the object store, actors, moving values, or GPUs.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Make a development CA and certificates for TLS (`weft certs init
    /// DIR`), or issue more from it.
    #[command(subcommand)]
    Certs(certs::CertsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Up(_) | Command::Controller(_) | Command::Host(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEFT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_writer(std::io::stderr)
        .init();

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
            Command::Up(args) => node::up(args).await,
            Command::Controller(args) => node::controller(args).await,
            Command::Host(args) => host_cmd::host(args).await,
            Command::Submit(args) => task_cmds::submit(&address, args).await,
            Command::Get(args) => task_cmds::get(&address, args).await,
            Command::Put { file } => object_cmds::put(&address, &file).await,
            Command::Memory { largest } => object_cmds::memory(&address, largest).await,
            Command::Wait(args) => task_cmds::wait(&address, args).await,
            Command::Cancel { task } => task_cmds::cancel(&address, &task).await,
            Command::List(command) => task_cmds::list(&address, command).await,
            Command::Actor(command) => actor_cmds::actor(&address, command).await,
            Command::Job(command) => job_cmds::job(&address, command).await,
            Command::Cluster(command) => kv_cmds::cluster(&address, command).await,
            Command::Kv(args) => kv_cmds::kv(&address, args).await,
            Command::Route(command) => route_cmds::route(&address, command).await,
            Command::Deploy(args) => client_cmds::deploy(&address, args).await,
            Command::Logs(args) => logs::logs(&address, args).await,
            Command::Timeline { output } => timeline::timeline(&address, &output).await,
            Command::Components => client_cmds::components(&address).await,
            Command::Call(args) => client_cmds::call(&address, args).await,
            Command::Delete { component } => client_cmds::delete(&address, &component).await,
            Command::Status => client_cmds::status(&address).await,
            Command::Dashboard => client_cmds::dashboard(&address).await,
            Command::Bench(args) => bench::run(&address, args).await,
            Command::Build(args) => build_cmd::build(args),
            Command::Certs(command) => certs::certs(command),
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
