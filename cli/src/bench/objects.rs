//! `weft bench objects`: the object store under the names `ray
//! microbenchmark` uses, so the two print side by side:
//!
//! - **single client put calls** and **single client get calls**: small
//!   objects, one call after another (inline objects; and, for get, also
//!   1 MiB objects in the host's arena: one read again and again, which
//!   shares or keeps its pin, and 128 read in turn, each pinned anew);
//! - **single client put gigabytes** (and get): large objects written into
//!   (and read in place from) a host's arena, each against a plain
//!   `memcpy` of the same bytes into memory already faulted in, measured
//!   in the same run;
//! - **transfer**: pulling an object from a host into a store in this
//!   process, as a host pulls a task's argument: from the holder's arena
//!   (hosts on one machine) and over the network (loopback, bulk TCP
//!   streams).

use crate::bench::row;
use std::sync::Arc;
use std::time::{Duration, Instant};

use weft_client::TaskClient;
use weft_host::bytes;
use weft_host::store::{ObjectStore, StoreConfig};

use crate::client::connect;

#[derive(clap::Args)]
pub struct ObjectBenchArgs {
    /// Seconds each small-object measurement runs.
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
    /// Sizes of the large objects; K, M and G suffixes are binary.
    #[arg(long, value_delimiter = ',', default_value = "100M,1G",
          value_parser = crate::server::host::parse_bytes)]
    sizes: Vec<u64>,
    /// Rounds of each large put, get and copy (the best is reported).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
}

pub async fn run(address: &str, args: ObjectBenchArgs) -> anyhow::Result<()> {
    // Where transfers run: the connections they open stay with it. Shut
    // down without blocking whatever happens (this runs inside a runtime).
    let pulls = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let outcome = measure(address, args, &pulls).await;
    pulls.shutdown_background();
    outcome
}

async fn measure(
    address: &str,
    args: ObjectBenchArgs,
    pulls: &tokio::runtime::Runtime,
) -> anyhow::Result<()> {
    let client = connect(address).await?;
    let tasks = TaskClient::with_client(client);
    let window = Duration::from_secs_f64(args.seconds);
    row!("objects through {address}");

    // Small objects: calls per second (gets first, while the leader's
    // table is small).
    let small = tasks.put(&0u64.to_le_bytes()).await?;
    let gets = get_rate(&tasks, std::slice::from_ref(&small), window).await?;
    row!("single client get calls           {gets:>10.0} calls/s  (8-byte objects, inline)");
    let mib = tasks.put(&vec![7u8; 1 << 20]).await?;
    let mapped = get_rate(&tasks, std::slice::from_ref(&mib), window).await?;
    row!(
        "single client get calls (mapped)  {mapped:>10.0} calls/s  (a 1 MiB object read in place from the host's arena, again and again)"
    );
    // Released at the end, with the rest: freeing many objects keeps the
    // host busy a while, which would slow the large puts below.
    let mut held = vec![small, mib];

    let (mut n, started) = (0u64, Instant::now());
    let mut ids = Vec::new();
    while started.elapsed() < window {
        ids.push(tasks.put(&0u64.to_le_bytes()).await?);
        n += 1;
    }
    tasks.flush(Duration::from_secs(60)).await?;
    let puts = n as f64 / started.elapsed().as_secs_f64();
    row!("single client put calls           {puts:>10.0} calls/s  (8-byte objects, inline)");
    // Released at the end: freeing them all keeps the leader busy a while.
    let small_puts = ids;

    // Large objects: bandwidth against memcpy.
    for &size in &args.sizes {
        let data = pattern(size as usize);
        let (mut copy, mut put, mut get) = (f64::MAX, f64::MAX, f64::MAX);
        let mut warm = vec![0u8; size as usize];
        let mut warm_copy = f64::MAX;
        let mut id = String::new();
        for _ in 0..args.rounds.max(1) {
            // memcpy into fresh memory (what a put must fill) and into
            // memory already faulted in.
            let t = Instant::now();
            let mut fresh = vec![0u8; size as usize];
            fresh.copy_from_slice(&data);
            copy = copy.min(t.elapsed().as_secs_f64());
            std::hint::black_box(&fresh);
            drop(fresh);
            let t = Instant::now();
            warm.copy_from_slice(&data);
            warm_copy = warm_copy.min(t.elapsed().as_secs_f64());
            std::hint::black_box(&warm);

            if !id.is_empty() {
                tasks.release(std::slice::from_ref(&id));
            }
            let t = Instant::now();
            id = tasks.put(&data).await?;
            put = put.min(t.elapsed().as_secs_f64());

            let t = Instant::now();
            let object = tasks.get_object(&id, None).await?;
            let sum = read_all(&object);
            get = get.min(t.elapsed().as_secs_f64());
            anyhow::ensure!(sum == read_all(&data), "object {id} read back wrong");
            anyhow::ensure!(
                object.is_mapped() || size as usize <= weft_client::objects::INLINE_MAX,
                "object {id} was not mapped"
            );
        }
        let gb = |secs: f64| size as f64 / secs / 1e9;
        let warm = |secs: f64| gb(secs) / gb(warm_copy) * 100.0;
        let rounds = args.rounds.max(1);
        row!(
            "memcpy {:>8} (baseline)         {:>8.2} GB/s  into pages already in memory (warm); {:.2} GB/s into fresh pages (best of {rounds})",
            bytes(size),
            gb(warm_copy),
            gb(copy)
        );
        row!(
            "single client put gigabytes       {:>8.2} GB/s  ({} objects; best of {rounds}; {:.0}% of warm memcpy)",
            gb(put),
            bytes(size),
            warm(put)
        );
        row!(
            "single client get gigabytes       {:>8.2} GB/s  ({} objects read in place, every byte read; best of {rounds}; {:.0}% of warm memcpy)",
            gb(get),
            bytes(size),
            warm(get)
        );
        transfer(pulls, &tasks, &id, size).await?;
        tasks.release(&[id]);
    }
    // Many objects read in turn: each read pins its object anew (one
    // round trip to the host), as the first read of an object does.
    let mut many = Vec::new();
    for _ in 0..128 {
        many.push(tasks.put(&vec![7u8; 1 << 20]).await?);
    }
    let fresh = get_rate(&tasks, &many, window).await?;
    row!(
        "single client get calls (pinned)  {fresh:>10.0} calls/s  (128 objects of 1 MiB read in turn, each pinned anew)"
    );
    held.extend(many);
    tasks.release(&held);
    tasks.release(&small_puts);
    tasks.flush(Duration::from_secs(60)).await?;
    Ok(())
}

/// Gets per second of `ids`, read in turn.
async fn get_rate(tasks: &TaskClient, ids: &[String], window: Duration) -> anyhow::Result<f64> {
    let (mut n, started) = (0u64, Instant::now());
    while started.elapsed() < window {
        let bytes = tasks.get_object(&ids[n as usize % ids.len()], None).await?;
        std::hint::black_box(bytes.first());
        n += 1;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// Pulls object `id` from its holder into a store in this process, over
/// loopback, the way a host pulls a task's argument.
async fn transfer(
    pulls: &tokio::runtime::Runtime,
    tasks: &TaskClient,
    id: &str,
    size: u64,
) -> anyhow::Result<()> {
    let (ready, _) = tasks.wait(&[id.to_string()], 1, None).await?;
    let holder = ready
        .first()
        .map(|r| r.held_at.clone())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| anyhow::anyhow!("object {id} is not held by a host"))?;
    let dir = tempfile::Builder::new().prefix("weft-bench-").tempdir_in(
        if std::path::Path::new("/dev/shm").is_dir() {
            "/dev/shm"
        } else {
            "/tmp"
        },
    )?;
    let store: Arc<ObjectStore> = ObjectStore::open(StoreConfig {
        dir: dir.path().join("objects"),
        spill_dir: dir.path().join("spill"),
        capacity: size * 2,
        network_pulls: false,
    })?;
    // On a multi-threaded runtime, as in a host process (this command's
    // own runtime has one thread); awaited here, so connections made on
    // this runtime keep running. The first pull lands on pages the store
    // never used; the next ones on pages freed by the one before, as in a
    // host that has run a while.
    for network in [false, true] {
        let mut seconds = Vec::new();
        for _ in 0..3 {
            let (pulling, object, from) = (store.clone(), id.to_string(), holder.clone());
            let secs = pulls
                .spawn(async move {
                    let t = Instant::now();
                    let pulled = if network {
                        weft_host::agent::pull_over_network(&pulling, &object, &from).await
                    } else {
                        weft_host::agent::pull_into(&pulling, &object, &from).await
                    };
                    pulled.map_err(anyhow::Error::msg)?;
                    anyhow::Ok(t.elapsed().as_secs_f64())
                })
                .await??;
            let copy = store.get(id)?;
            anyhow::ensure!(
                copy.bytes.len() as u64 >= size,
                "a short transfer: {} bytes of {size}",
                copy.bytes.len()
            );
            drop(copy);
            store.remove(id);
            seconds.push(secs);
        }
        let gb = |secs: f64| size as f64 / secs / 1e9;
        let reused = seconds[1..].iter().copied().fold(f64::MAX, f64::min);
        let how = if network {
            format!(
                "over the network: the first {} by gRPC, the rest on {} bulk TCP streams over loopback",
                bytes(weft_client::objects::CHUNK as u64),
                weft_host::agent::BULK_LANES
            )
        } else {
            "on one machine: copied from the holder's arena, mapped".to_string()
        };
        row!(
            "transfer between hosts            {:>8.2} GB/s  ({} from {holder} {how}; into reused pages, best of 2; {:.2} GB/s into fresh ones, once)",
            gb(reused),
            bytes(size),
            gb(seconds[0])
        );
    }
    Ok(())
}

/// Bytes that are not all alike, so nothing can shortcut them.
fn pattern(len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for (i, b) in out.iter_mut().enumerate() {
        *b = (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3];
    }
    out
}

/// Reads every byte (a wrapping sum of 8-byte words).
fn read_all(bytes: &[u8]) -> u64 {
    let mut sum = 0u64;
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        sum = sum.wrapping_add(u64::from_le_bytes(w.try_into().unwrap_or([0; 8])));
    }
    for b in words.remainder() {
        sum = sum.wrapping_add(u64::from(*b));
    }
    sum
}
