//! `weft bench groups`: placement groups, in the shape of `ray
//! microbenchmark`'s "placement group create/removal" (which
//! `scripts/bench-groups-vs-ray` runs beside it): N groups of one small
//! bundle created one after another, each waited for until created, then
//! each removed; groups/s over the whole round, the median of the rounds.
//!
//! The baseline, measured in the same run through the same controller: one
//! replicated key-value write. A creation returns before its record is
//! written (the writer batches every group changed meanwhile into one
//! entry), but a removal is acknowledged only once a quorum holds it, so a
//! sequential round pays about one replicated write per group.

use std::time::{Duration, Instant};

use weft_client::TaskClient;
use weft_client::groups::{PlacementGroupState, bundle, group_spec};
use weft_proto::v1::PlacementStrategy;

use crate::bench::{ms, percentile, row};

#[derive(clap::Args)]
pub struct GroupBenchArgs {
    /// Groups of one round (Ray's microbenchmark makes 100).
    #[arg(long, default_value_t = 100)]
    groups: usize,
    /// Rounds (the median is the figure; every round is printed).
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// Replicated writes timed for the baseline row.
    #[arg(long, default_value_t = 300)]
    writes: usize,
}

pub async fn run(address: &str, args: GroupBenchArgs) -> anyhow::Result<()> {
    let tasks = TaskClient::connect(address).await?;
    row!("placement groups through {address}");
    let mut kv = weft_client::Client::connect(address).await?;
    let mut writes = Vec::with_capacity(args.writes);
    for i in 0..args.writes {
        let t = Instant::now();
        kv.kv_put("bench", &format!("groups-{i}"), vec![b'w'; 64])
            .await?;
        writes.push(t.elapsed());
    }
    let write = percentile(&mut writes, 50.0);
    row!(
        "baseline: a replicated write, p50 {:.3} ms ({:.0} writes/s one after another)",
        ms(write),
        1.0 / write.as_secs_f64()
    );

    let mut rates = Vec::new();
    for round in 1..=args.rounds {
        let rate = round_of(&tasks, args.groups).await?;
        row!("round {round}: {rate:.0} groups/s");
        rates.push(rate);
    }
    let sequential = median(&mut rates);
    row!(
        "placement group create/removal {sequential:.0} groups/s (median of {} rounds), {:.2} ms a group = {:.1} replicated writes",
        rates.len(),
        1000.0 / sequential,
        (1.0 / sequential) / write.as_secs_f64()
    );
    Ok(())
}

/// One round: `n` groups created one after another, each waited for until
/// created, then each removed. Groups/s over the round.
async fn round_of(tasks: &TaskClient, n: usize) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let spec = group_spec(vec![bundle(0.001, 0)], PlacementStrategy::Pack);
        ids.push(tasks.create_placement_group(spec).await?.id);
    }
    for id in &ids {
        let record = tasks
            .wait_placement_group(id, Duration::from_secs(30))
            .await?;
        anyhow::ensure!(
            record.state() == PlacementGroupState::Created,
            "placement group {id} was not created: {}",
            record.pending_reason
        );
    }
    for id in &ids {
        tasks.remove_placement_group(id).await?;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

fn median(rates: &mut [f64]) -> f64 {
    rates.sort_by(f64::total_cmp);
    rates[rates.len() / 2]
}
