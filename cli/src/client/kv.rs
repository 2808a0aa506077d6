//! `weft kv` and `weft cluster`: the replicated key-value table and the
//! controller group's membership.

use anyhow::Context;

use crate::client::connect;
use crate::server::replica::parse_member;

#[derive(clap::Subcommand)]
pub enum KvCommand {
    /// Set KEY to VALUE, or to the contents of --file (acknowledged once
    /// committed by a quorum).
    Put {
        key: String,
        #[arg(required_unless_present = "file")]
        value: Option<String>,
        /// Read the value from this file.
        #[arg(long, conflicts_with = "value")]
        file: Option<std::path::PathBuf>,
    },
    /// Print the value of KEY.
    Get {
        key: String,
        /// Read through the leader after it confirms its leadership with a
        /// quorum; without it any replica answers, possibly stale.
        #[arg(long)]
        linearizable: bool,
    },
    /// List keys (and values) starting with PREFIX.
    List {
        #[arg(default_value = "")]
        prefix: String,
        /// As for `get`.
        #[arg(long)]
        linearizable: bool,
    },
    /// Remove KEY.
    Delete { key: String },
}

#[derive(clap::Args)]
pub struct KvArgs {
    /// The namespace.
    #[arg(long, short, global = true, default_value = "default")]
    namespace: String,
    #[command(subcommand)]
    command: KvCommand,
}

#[derive(clap::Subcommand)]
pub enum ClusterCommand {
    /// Add a running replica to the controller group: ID=HOST:PORT.
    AddMember { member: String },
    /// Remove replica ID from the controller group.
    RemoveMember { id: u64 },
}

fn stale_note(served_by: u64, linearizable: bool) {
    if !linearizable {
        eprintln!(
            "(read from node {served_by}; may be stale: --linearizable reads through the leader)"
        );
    }
}

pub async fn kv(address: &str, args: KvArgs) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    let ns = &args.namespace;
    match args.command {
        KvCommand::Put { key, value, file } => {
            let value = match (value, file) {
                (Some(v), _) => v.into_bytes(),
                (None, Some(path)) => std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
                (None, None) => anyhow::bail!("give a VALUE or --file"),
            };
            let index = client.kv_put(ns, &key, value).await?;
            println!("ok (committed at index {index})");
        }
        KvCommand::Get { key, linearizable } => {
            let reply = client.kv_get(ns, &key, linearizable).await?;
            if !reply.found {
                anyhow::bail!("no key `{key}` in namespace `{ns}`");
            }
            println!("{}", String::from_utf8_lossy(&reply.value));
            stale_note(reply.served_by, reply.linearizable);
        }
        KvCommand::List {
            prefix,
            linearizable,
        } => {
            let reply = client.kv_list(ns, &prefix, linearizable).await?;
            for entry in &reply.entries {
                println!("{}\t{}", entry.key, String::from_utf8_lossy(&entry.value));
            }
            stale_note(reply.served_by, reply.linearizable);
        }
        KvCommand::Delete { key } => {
            if client.kv_delete(ns, &key).await? {
                println!("deleted {key}");
            } else {
                anyhow::bail!("no key `{key}` in namespace `{ns}`");
            }
        }
    }
    Ok(())
}

pub async fn cluster(address: &str, command: ClusterCommand) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    let members = match command {
        ClusterCommand::AddMember { member } => {
            let (id, addr) = parse_member(&member)?;
            client
                .add_member(id, &addr)
                .await
                .with_context(|| format!("cannot add node {id} at {addr}"))?
        }
        ClusterCommand::RemoveMember { id } => client
            .remove_member(id)
            .await
            .with_context(|| format!("cannot remove node {id}"))?,
    };
    for m in members {
        println!(
            "{}\t{}\t{}",
            m.id,
            m.address,
            if m.voter { "voter" } else { "learner" }
        );
    }
    Ok(())
}
