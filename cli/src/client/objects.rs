//! `weft put` and `weft memory`: objects from the command line, and what
//! every host's object store holds (like `ray memory`).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use weft_client::TaskClient;
use weft_host::bytes;

use crate::client::connect;

/// Stores FILE as an object and prints its ref.
pub async fn put(address: &str, file: &Path) -> anyhow::Result<()> {
    let data = crate::client::progress::read_file(file)
        .with_context(|| format!("cannot read {}", file.display()))?;
    let tasks = TaskClient::detached(connect(address).await?);
    let progress = crate::client::progress::Progress::spinner(&format!(
        "storing {} in the cluster",
        bytes(data.len() as u64)
    ));
    let id = tasks.put(&data).await?;
    progress.then("waiting for the cluster to record it");
    tasks
        .flush(Duration::from_secs(30))
        .await
        .context("the cluster did not record the object")?;
    drop(progress);
    println!("{id}");
    Ok(())
}

/// Prints each live host's store usage and its largest objects.
pub async fn memory(address: &str, largest: u32) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    let hosts: Vec<_> = client
        .list_nodes()
        .await?
        .into_iter()
        .filter(|n| n.alive)
        .collect();
    if hosts.is_empty() {
        println!("no live worker hosts");
    }
    let (mut used, mut capacity, mut spilled) = (0, 0, 0);
    for host in hosts {
        let stats = match weft_client::objects::store_stats(&host.address, largest).await {
            Ok(stats) => stats,
            Err(e) => {
                println!(
                    "host {} ({}): cannot read its store: {e}",
                    host.id, host.address
                );
                continue;
            }
        };
        used += stats.used;
        capacity += stats.capacity;
        spilled += stats.spilled_bytes;
        println!(
            "host {} ({})  store {}\n  used {} of {} ({:.1}%): primary {}, secondary {}; {} objects; largest free extent {}; {} pinned by readers on this machine\n  spilled {} in {} objects to {}\n  since start: {} spilled, {} restored, {} evicted, {} pulled from other hosts ({}), {} sent to others",
            stats.host,
            host.address,
            stats.dir,
            bytes(stats.used),
            bytes(stats.capacity),
            if stats.capacity > 0 {
                stats.used as f64 * 100.0 / stats.capacity as f64
            } else {
                0.0
            },
            bytes(stats.primary_bytes),
            bytes(stats.secondary_bytes),
            stats.objects,
            bytes(stats.largest_free),
            stats.client_pins,
            bytes(stats.spilled_bytes),
            stats.spilled_objects,
            stats.spill_dir,
            stats.spills,
            stats.restores,
            stats.evictions,
            stats.pulls,
            bytes(stats.pulled_bytes),
            bytes(stats.served_bytes),
        );
        if !stats.largest.is_empty() {
            println!("  largest objects:");
            for o in &stats.largest {
                println!("    {}  {:>10}  {}", o.id, bytes(o.size), o.state());
            }
        }
    }
    println!(
        "cluster: {} of {} in shared memory, {} spilled",
        bytes(used),
        bytes(capacity),
        bytes(spilled)
    );
    Ok(())
}
