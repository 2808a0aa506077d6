//! Placement groups from the terminal: `weft pg create|get|list|remove`,
//! and the flags that put a task or actor into one.
//!
//! As with actors, the CLI's session ends with each command, so a group it
//! creates lives until `weft pg remove`.

use std::time::Duration;

use anyhow::{Context, bail};
use weft_client::TaskClient;
use weft_client::groups::{PlacementGroupRecord, PlacementGroupSpec, PlacementGroupState};
use weft_proto::v1 as pb;

use crate::client::connect;

#[derive(clap::Subcommand)]
pub enum GroupCommand {
    /// Reserve bundles of resources as a gang and wait until every bundle
    /// is reserved; prints the group's id. A group that cannot be placed
    /// yet stays pending, and this says why.
    ///
    /// `weft pg create --bundle cpus=1 --bundle cpus=1,gpus=1 --strategy strict-spread`
    Create(CreateArgs),
    /// Show one group: state, each bundle's host, why it waits.
    Get {
        /// The group's id or name.
        group: String,
        #[arg(long, default_value = "")]
        namespace: String,
        /// Seconds to wait for it to be created.
        #[arg(long, default_value_t = 0.0)]
        wait: f64,
    },
    /// List groups (removed ones too).
    List,
    /// Remove a group: what runs in it is killed and its bundles freed.
    Remove {
        /// The group's id or name.
        group: String,
        #[arg(long, default_value = "")]
        namespace: String,
    },
}

#[derive(clap::Args)]
pub struct CreateArgs {
    /// One bundle: `cpus=1,gpus=1,memory=2G,NAME=AMOUNT` (custom resources
    /// by name). Repeat for each bundle, in order.
    #[arg(long = "bundle", required = true, value_name = "RESOURCES")]
    bundles: Vec<String>,
    /// pack, spread, strict-pack or strict-spread.
    #[arg(long, default_value = "pack")]
    strategy: String,
    /// A name to find it by.
    #[arg(long)]
    name: Option<String>,
    #[arg(long, default_value = "")]
    namespace: String,
    /// Outlive the client that made it (recorded; groups made by the CLI
    /// always do).
    #[arg(long)]
    detached: bool,
    /// Seconds to wait for every bundle to be reserved (0: do not wait).
    #[arg(long, default_value_t = 30.0)]
    wait: f64,
}

/// Flags that put a task or an actor into a placement group.
#[derive(clap::Args, Default)]
pub struct InGroup {
    /// Run in this placement group (id), from one of its bundles.
    #[arg(long, value_name = "GROUP")]
    pub placement_group: Option<String>,
    /// The bundle to take from (default -1: any bundle with room).
    #[arg(long, requires = "placement_group", allow_negative_numbers = true)]
    pub bundle_index: Option<i32>,
    /// What the task or actor makes goes into the group too.
    #[arg(long, requires = "placement_group")]
    pub capture_child_tasks: bool,
}

impl InGroup {
    /// Puts the work these options describe into the group asked for.
    pub fn put_in(&self, options: &mut impl weft_proto::InGroup) {
        let parts = options.group_parts();
        *parts.group = self.placement_group.clone().unwrap_or_default();
        *parts.bundle_index = self.bundle_index.filter(|i| *i >= 0);
        *parts.capture_child_tasks = self.capture_child_tasks;
    }
}

pub async fn group(address: &str, command: GroupCommand) -> anyhow::Result<()> {
    let client = TaskClient::detached(connect(address).await?);
    match command {
        GroupCommand::Create(args) => create(&client, args).await,
        GroupCommand::Get {
            group,
            namespace,
            wait,
        } => {
            let mut record = find(&client, &group, &namespace).await?;
            if wait > 0.0 {
                record = client
                    .wait_placement_group(&record.id, Duration::from_secs_f64(wait))
                    .await?;
            }
            println!("{}", line(&record));
            for (index, bundle) in spec(&record).bundles.iter().enumerate() {
                let host = record.bundle_hosts.get(index).map_or("", String::as_str);
                println!(
                    "  bundle {index}: {}  {}",
                    bundle.describe(),
                    if host.is_empty() { "-" } else { host }
                );
            }
            Ok(())
        }
        GroupCommand::List => {
            let groups = client.list_placement_groups().await?;
            crate::client::print_lines(&groups, "no placement groups", line);
            Ok(())
        }
        GroupCommand::Remove { group, namespace } => {
            let record = find(&client, &group, &namespace).await?;
            if client.remove_placement_group(&record.id).await? {
                println!("removed {}", record.id);
            } else {
                println!("{} was removed already", record.id);
            }
            Ok(())
        }
    }
}

async fn create(client: &TaskClient, args: CreateArgs) -> anyhow::Result<()> {
    let bundles = args
        .bundles
        .iter()
        .map(|b| parse_bundle(b))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let strategy = pb::PlacementStrategy::parse(&args.strategy)?;
    let spec = PlacementGroupSpec {
        bundles,
        strategy: strategy.into(),
        name: args.name.unwrap_or_default(),
        namespace: args.namespace,
        detached: args.detached,
        ..Default::default()
    };
    let record = client.create_placement_group(spec).await?;
    if args.wait <= 0.0 {
        println!("{}", record.id);
        return Ok(());
    }
    let record = client
        .wait_placement_group(&record.id, Duration::from_secs_f64(args.wait))
        .await?;
    match record.state() {
        PlacementGroupState::Created => {
            println!("{}", record.id);
            Ok(())
        }
        state => bail!(
            "placement group {} is still {} after {} s: {}",
            record.id,
            state.label(),
            args.wait,
            record.pending_reason
        ),
    }
}

/// `cpus=1,gpus=1,memory=2G,NAME=AMOUNT` as a bundle.
pub fn parse_bundle(text: &str) -> anyhow::Result<pb::Resources> {
    let mut bundle = pb::Resources::default();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, amount) = item
            .split_once('=')
            .with_context(|| format!("`{item}` in bundle `{text}` is not NAME=AMOUNT"))?;
        let (name, amount) = (name.trim(), amount.trim());
        let amount = if name == "memory" {
            crate::server::host::parse_bytes(amount).map_err(anyhow::Error::msg)? as f64
        } else {
            amount
                .parse()
                .with_context(|| format!("{name} `{amount}` in bundle `{text}` is not a number"))?
        };
        bundle.set_named(name, amount)?;
    }
    Ok(bundle)
}

/// A group by id (`pg-...`) or by name.
async fn find(
    client: &TaskClient,
    group: &str,
    namespace: &str,
) -> anyhow::Result<PlacementGroupRecord> {
    if group.starts_with("pg-") {
        return Ok(client.placement_group(group).await?);
    }
    Ok(client.placement_group_named(group, namespace).await?)
}

fn spec(record: &PlacementGroupRecord) -> PlacementGroupSpec {
    record.spec.clone().unwrap_or_default()
}

fn line(g: &PlacementGroupRecord) -> String {
    let s = spec(g);
    let mut out = format!(
        "{}  {}  {}  {}  {} bundles",
        g.id,
        if s.name.is_empty() { "-" } else { &s.name },
        g.state().label(),
        s.strategy().name(),
        s.bundles.len()
    );
    let hosts: Vec<&str> = g
        .bundle_hosts
        .iter()
        .map(|h| if h.is_empty() { "-" } else { h.as_str() })
        .collect();
    if hosts.iter().any(|h| *h != "-") {
        out += &format!("  on {}", hosts.join(","));
    }
    if s.detached {
        out += "  detached";
    }
    if !g.pending_reason.is_empty() {
        out += &format!("  (waits: {})", g.pending_reason);
    }
    out
}
