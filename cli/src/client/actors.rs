//! Actors from the terminal: `weft actor create|call|list|get|kill`.
//!
//! The CLI's session ends with each command, so the actors it creates
//! live until `weft actor kill` whether or not `--detached` is given (the
//! flag is recorded, and matters to actors made by SDK clients and tasks,
//! which die with their owner unless detached).

use std::time::Duration;

use anyhow::{Context, bail};
use weft_client::{ActorHandle, ActorOptions, ActorRecord, ActorState, TaskClient, value_of};
use weft_proto::HasRuntimeEnv;

use crate::client::connect;
use crate::client::tasks::split_call;

#[derive(clap::Subcommand)]
pub enum ActorCommand {
    /// Create an actor and wait until it is alive; prints its id.
    ///
    /// CLASS is an exported resource of the component, and CONSTRUCTOR its
    /// constructor call in WAVE (`new(0)`). CLASS `-` makes an instance
    /// actor: its methods are the component's exported functions, and
    /// CONSTRUCTOR (optional) names one to run first. Actors made here live
    /// until `weft actor kill` (the CLI's session ends with the command).
    Create(Box<CreateArgs>),
    /// Call a method and print its result: `weft actor call hits 'incr()'`.
    /// ACTOR is an id or a name.
    Call {
        /// The actor's id or name.
        actor: String,
        /// The call in WAVE, e.g. `add(5)`.
        call: String,
        /// The namespace of a named actor.
        #[arg(long, default_value = "")]
        namespace: String,
        /// Seconds to wait for the result (default: as long as it takes).
        #[arg(long)]
        timeout: Option<f64>,
    },
    /// List actors (dead ones too): state, host, restarts, cause.
    List,
    /// Show one actor's record.
    Get {
        /// The actor's id or name.
        actor: String,
        #[arg(long, default_value = "")]
        namespace: String,
    },
    /// Kill an actor for good: calls to it then fail with "actor died".
    Kill {
        /// The actor's id or name.
        actor: String,
        #[arg(long, default_value = "")]
        namespace: String,
    },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// The component: a name, `name@version`, or a digest.
    component: String,
    /// The exported resource that is the actor's class (`-`: none).
    class: String,
    /// The constructor call in WAVE, e.g. `new(0)`.
    #[arg(default_value = "")]
    constructor: String,
    /// A name to find it by.
    #[arg(long)]
    name: Option<String>,
    #[arg(long, default_value = "")]
    namespace: String,
    /// Outlive the client that made it (recorded; actors made by the CLI
    /// always do, SDK clients' and guests' die with their owner unless
    /// detached).
    #[arg(long)]
    detached: bool,
    /// Restarts after a trap or a host death (default 0).
    #[arg(long, default_value_t = 0)]
    max_restarts: u32,
    /// Times a call in flight when the host died is sent again (default 0).
    #[arg(long, default_value_t = 0)]
    max_task_retries: u32,
    /// Calls run at once in its one instance (above 1, it runs its `async
    /// func` methods, interleaved where they await, and refuses the others).
    #[arg(long, default_value_t = 1)]
    max_concurrency: u32,
    /// A named group of calls and how many of it run at once:
    /// `NAME=LIMIT,...` (Ray's `concurrency_groups`).
    #[arg(
        long = "concurrency-group",
        value_delimiter = ',',
        value_name = "NAME=LIMIT"
    )]
    concurrency_groups: Vec<String>,
    /// The group a method's calls run in: `METHOD=GROUP,...` (others run
    /// in the default group of --max-concurrency).
    #[arg(
        long = "method-group",
        value_delimiter = ',',
        value_name = "METHOD=GROUP"
    )]
    method_groups: Vec<String>,
    /// CPU slots it holds for its whole life.
    #[arg(long, default_value_t = 0.0)]
    cpus: f64,
    /// GPUs it holds.
    #[arg(long, default_value_t = 0)]
    gpus: u32,
    /// Deadline of one call, in seconds (default: the host's).
    #[arg(long)]
    call_timeout: Option<f64>,
    /// Linear-memory limit of its instance, in bytes.
    #[arg(long)]
    memory_limit: Option<u64>,
    /// Checkpoint after this many calls (needs weft:runtime/checkpoint).
    #[arg(long, default_value_t = 0)]
    checkpoint_every_calls: u32,
    /// Checkpoint after this many milliseconds with unsaved calls.
    #[arg(long, default_value_t = 0)]
    checkpoint_every_ms: u64,
    #[command(flatten)]
    group: crate::client::groups::InGroup,
    #[command(flatten)]
    runtime_env: crate::client::runtime_env::RuntimeEnvArgs,
}

pub async fn actor(address: &str, command: ActorCommand) -> anyhow::Result<()> {
    let client = TaskClient::detached(connect(address).await?);
    match command {
        ActorCommand::Create(args) => create(&client, *args).await,
        ActorCommand::Call {
            actor,
            call,
            namespace,
            timeout,
        } => {
            let handle = find(&client, &actor, &namespace).await?;
            let (method, args) = split_call(&call)?;
            let args = args.into_iter().map(weft_client::Arg::Wave).collect();
            let id = client.call(&handle, &method, args)?;
            let timeout = timeout.map(Duration::from_secs_f64);
            let result = client.get(std::slice::from_ref(&id), timeout).await?;
            let result = result.into_iter().next().context("no result")?;
            match value_of(result)? {
                Some(value) => crate::client::tasks::print_value(&value),
                None => println!("(no value)"),
            }
            Ok(())
        }
        ActorCommand::List => {
            crate::client::print_lines(&client.list_actors().await?, "no actors", line);
            Ok(())
        }
        ActorCommand::Get { actor, namespace } => {
            let handle = find(&client, &actor, &namespace).await?;
            println!("{}", line(&client.describe_actor(&handle).await?));
            Ok(())
        }
        ActorCommand::Kill { actor, namespace } => {
            let handle = find(&client, &actor, &namespace).await?;
            if client.kill_actor(&handle).await? {
                println!("killed {}", handle.id);
            } else {
                println!("{} was already dead", handle.id);
            }
            Ok(())
        }
    }
}

/// `KEY=VALUE` items of flag `flag`, split.
fn pairs(items: &[String], flag: &str) -> anyhow::Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .ok_or_else(|| anyhow::anyhow!("{flag} {item}: expected KEY=VALUE"))
        })
        .collect()
}

async fn create(client: &TaskClient, args: CreateArgs) -> anyhow::Result<()> {
    let class = if args.class == "-" { "" } else { &args.class };
    let mut options = ActorOptions {
        name: args.name.unwrap_or_default(),
        namespace: args.namespace,
        detached: args.detached,
        max_restarts: args.max_restarts,
        max_task_retries: args.max_task_retries,
        max_concurrency: args.max_concurrency,
        concurrency_groups: pairs(&args.concurrency_groups, "--concurrency-group")?
            .into_iter()
            .map(|(name, limit)| {
                limit
                    .parse::<u32>()
                    .map(|n| (name.clone(), n))
                    .map_err(|_| {
                        anyhow::anyhow!(
                            "--concurrency-group {name}={limit}: the limit is not a count"
                        )
                    })
            })
            .collect::<anyhow::Result<_>>()?,
        method_groups: pairs(&args.method_groups, "--method-group")?
            .into_iter()
            .collect(),
        cpus: args.cpus,
        gpus: args.gpus,
        memory_limit_bytes: args.memory_limit.unwrap_or(0),
        call_timeout_ms: args.call_timeout.map_or(0, |s| (s * 1000.0) as u64),
        checkpoint_every_calls: args.checkpoint_every_calls,
        checkpoint_every_ms: args.checkpoint_every_ms,
        ..Default::default()
    };
    options.env_parts().fill_from(&args.runtime_env.parts());
    args.group.put_in(&mut options);
    let handle = client
        .create_actor(&args.component, class, &args.constructor, options)
        .await?;
    let record = client
        .wait_actor_alive(&handle, Duration::from_secs(60))
        .await?;
    match record.state() {
        ActorState::Alive => {
            println!("{}", handle.id);
            Ok(())
        }
        ActorState::Dead => bail!("actor {} died: {}", handle.id, record.cause),
        state => bail!(
            "actor {} is still {state} after 60 s: {}",
            handle.id,
            record.cause
        ),
    }
}

/// An actor by id (`actor-...`) or by name.
async fn find(client: &TaskClient, actor: &str, namespace: &str) -> anyhow::Result<ActorHandle> {
    if actor.starts_with("actor-") {
        return Ok(ActorHandle {
            id: actor.to_string(),
        });
    }
    Ok(client.get_actor(actor, namespace).await?)
}

fn line(a: &ActorRecord) -> String {
    let spec = a.spec.clone().unwrap_or_default();
    let options = spec.options.unwrap_or_default();
    let class = if spec.class.is_empty() {
        "-"
    } else {
        &spec.class
    };
    let mut out = format!(
        "{}  {}  {}  {}.{}",
        a.id,
        if options.name.is_empty() {
            "-"
        } else {
            &options.name
        },
        a.state(),
        spec.component,
        class
    );
    if !a.host.is_empty() {
        out += &format!("  host {}", a.host);
        if !a.gpu_devices.is_empty() {
            out += &format!(" {}", weft_proto::format_gpus(&a.gpu_devices));
        }
    }
    out += &format!("  restarts {}/{}", a.restarts, options.max_restarts);
    if a.checkpoint_calls > 0 {
        out += &format!("  checkpoint at call {}", a.checkpoint_calls);
    }
    if options.detached {
        out += "  detached";
    }
    if !a.cause.is_empty() {
        out += &format!("  ({})", a.cause);
    }
    if !a.checkpoint_error.is_empty() {
        out += &format!("  (checkpoint refused: {})", a.checkpoint_error);
    }
    out
}
