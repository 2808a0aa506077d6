//! The replicated controller: three `weft controller` processes on
//! loopback, real sled files, real `kill -9`.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use weft_client::Client;
use weft_tests::linearizability::{self, Event, Op};
use weft_tests::{Group, eventually, fact, guests};

const LEADER_WAIT: Duration = Duration::from_secs(20);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Acknowledged operations so far, shared with the test that paces
/// its faults by them.
type Progress = Arc<AtomicUsize>;

/// Waits until `progress` has counted `more` operations past what it
/// counts now: the cluster served that many in between.
fn served(progress: &Progress, more: usize) -> anyhow::Result<()> {
    let from = progress.load(Ordering::Relaxed);
    eventually(Duration::from_secs(30), || {
        let now = progress.load(Ordering::Relaxed);
        fact(now >= from + more, || {
            format!("{} of {more} more operations acknowledged", now - from)
        })
    })
}

/// Waits until replica `id`'s status `field` (an index) reaches
/// `at_least`.
fn reaches(
    group: &Group,
    id: u64,
    field: &str,
    at_least: u64,
    within: Duration,
) -> anyhow::Result<()> {
    eventually(within, || {
        let now = group.status_number(id, field)?;
        fact(now >= at_least, || {
            format!("replica {id}'s {field} is {now}, not yet {at_least}")
        })
        .map_err(anyhow::Error::msg)
    })
}

/// Writes `key-<n>` until `stop`, counting acknowledged writes in
/// `progress`; returns the keys whose writes were acknowledged.
async fn write_stream(
    addresses: String,
    prefix: &'static str,
    stop: Arc<AtomicBool>,
    progress: Progress,
) -> Vec<String> {
    let mut client = Client::connect(&addresses).await.expect("connect");
    let mut acked = Vec::new();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        let key = format!("{prefix}-{n:05}");
        if client
            .kv_put("default", &key, key.clone().into_bytes())
            .await
            .is_ok()
        {
            acked.push(key);
            progress.fetch_add(1, Ordering::Relaxed);
        }
        n += 1;
    }
    acked
}

async fn all_keys(addresses: &str, prefix: &str) -> BTreeSet<String> {
    let mut client = Client::connect(addresses).await.expect("connect");
    let listing = client
        .kv_list("default", prefix, true)
        .await
        .expect("linearizable list");
    listing.entries.into_iter().map(|e| e.key).collect()
}

#[test]
fn leader_failover_loses_no_acknowledged_write() -> anyhow::Result<()> {
    let mut group = Group::start(3, &[])?;
    let leader = group.wait_for_leader(LEADER_WAIT)?;
    group.weft_ok(&["deploy", guests::PI, "--name", "pi"])?;

    let rt = runtime();
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Progress::default();
    let writer = rt.spawn(write_stream(
        group.addresses(),
        "failover",
        stop.clone(),
        progress.clone(),
    ));
    // Writes are flowing before the kill, so some are in flight through it.
    served(&progress, 100)?;

    let killed_at = Instant::now();
    group.kill(leader);
    let new_leader = group.wait_for_leader(LEADER_WAIT)?;
    assert_ne!(new_leader, leader);
    // Measure from the kill to the first acknowledged write.
    let addresses = group.addresses();
    let failover = rt.block_on(async {
        let mut client = Client::connect(&addresses).await.expect("connect");
        client
            .kv_put("default", "after-failover", b"1".to_vec())
            .await
            .expect("write after failover");
        killed_at.elapsed()
    });
    // And they flow again after it.
    served(&progress, 50)?;
    stop.store(true, Ordering::Relaxed);
    let acked = rt.block_on(writer)?;
    assert!(
        acked.len() > 10,
        "only {} writes were acknowledged",
        acked.len()
    );

    let stored = rt.block_on(all_keys(&group.addresses(), "failover"));
    let lost: Vec<_> = acked.iter().filter(|k| !stored.contains(*k)).collect();
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    println!(
        "failover: {} acknowledged writes, none lost; kill -9 of leader {leader} to first acknowledged write: {:.0} ms",
        acked.len(),
        failover.as_secs_f64() * 1000.0
    );

    // The component is still listed and callable after the failover, on a
    // host that joined after both the deploy and the failover: it fetches
    // the bytes from the new leader.
    assert!(group.weft_ok(&["components"])?.contains("pi"));
    group.start_host("late", 1, &[])?;
    let estimate: f64 = group
        .weft_ok(&["call", "pi", "estimate(10000, 3)"])?
        .parse()?;
    assert!((estimate - std::f64::consts::PI).abs() < 0.1);

    // The killed replica comes back on its data dir and catches up.
    group.start_replica(leader)?;
    let target = group.status_number(new_leader, "commit index")?;
    reaches(
        &group,
        leader,
        "applied index",
        target,
        Duration::from_secs(20),
    )?;
    let local = group.weft_ok_on(leader, &["kv", "list", "failover-"])?;
    for key in &acked {
        assert!(
            local.contains(key.as_str()),
            "{key} missing on the restarted replica"
        );
    }
    // It serves the component from its own state (a read of its replica).
    let listed = group.weft_ok_on(leader, &["components"])?;
    assert!(listed.contains("pi"), "{listed}");
    assert_eq!(
        group
            .weft_ok_on(leader, &["call", "pi", "estimate(10000, 3)"])?
            .parse::<f64>()?,
        estimate
    );
    Ok(())
}

#[test]
fn a_group_formed_from_its_member_list_elects_a_leader_and_serves() -> anyhow::Result<()> {
    let group = Group::start_with_peers(3, &[])?;
    let leader = group.wait_for_leader(LEADER_WAIT)?;
    group.weft_ok(&["kv", "put", "formed", "1"])?;
    let status = group.weft_ok_on(leader, &["status"])?;
    for id in 1..=3 {
        assert!(
            status.contains(&format!("{id}  {}  voter", group.address(id))),
            "{status}"
        );
    }
    assert_eq!(group.weft_ok_on(leader, &["kv", "get", "formed"])?, "1");
    Ok(())
}

#[test]
fn without_quorum_writes_fail_fast_and_recover() -> anyhow::Result<()> {
    let mut group = Group::start(3, &["--write-timeout", "2"])?;
    group.wait_for_leader(LEADER_WAIT)?;
    group.weft_ok(&["kv", "put", "before", "1"])?;
    group.kill(2);
    group.kill(3);

    let started = Instant::now();
    let err = group.weft_err(&["kv", "put", "during", "1"])?;
    let took = started.elapsed();
    assert!(err.contains("no quorum"), "{err}");
    assert!(
        err.contains(&group.address(2)) || err.contains(&group.address(3)),
        "{err}"
    );
    assert!(took < Duration::from_secs(15), "took {took:?}");
    println!("no-quorum error after {:.1} s: {err}", took.as_secs_f64());

    group.start_replica(2)?;
    group.wait_for_leader(LEADER_WAIT)?;
    group.weft_ok(&["kv", "put", "after", "1"])?;
    assert_eq!(
        group.weft_ok(&["kv", "get", "before", "--linearizable"])?,
        "1"
    );
    assert_eq!(
        group.weft_ok(&["kv", "get", "after", "--linearizable"])?,
        "1"
    );
    Ok(())
}

#[test]
fn stopping_and_starting_every_replica_keeps_state() -> anyhow::Result<()> {
    let mut group = Group::start(3, &[])?;
    group.wait_for_leader(LEADER_WAIT)?;
    group.weft_ok(&["deploy", guests::HELLO, "--name", "hello"])?;
    for i in 0..20 {
        group.weft_ok(&["kv", "put", &format!("k{i:02}"), &i.to_string()])?;
    }
    for id in 1..=3 {
        group.stop(id)?;
    }
    for id in 1..=3 {
        group.start_replica(id)?;
    }
    group.wait_for_leader(LEADER_WAIT)?;
    let listing = group.weft_ok(&["kv", "list", "k", "--linearizable"])?;
    assert_eq!(listing.lines().count(), 20, "{listing}");
    group.start_host("h1", 1, &[])?;
    assert_eq!(
        group.weft_ok(&["call", "hello", "greet(\"again\")"])?,
        "\"Hello, again!\""
    );
    Ok(())
}

#[test]
fn snapshots_compact_the_log_and_seed_new_members() -> anyhow::Result<()> {
    let mut group = Group::start(3, &["--snapshot-every", "20"])?;
    let leader = group.wait_for_leader(LEADER_WAIT)?;
    group.weft_ok(&["deploy", guests::PI, "--name", "pi"])?;
    let rt = runtime();
    rt.block_on(async {
        let mut client = Client::connect(&group.addresses()).await.expect("connect");
        for i in 0..120 {
            client
                .kv_put("default", &format!("s{i:03}"), vec![b'x'; 64])
                .await
                .expect("put");
        }
    });
    // Compacted: the log was purged up to a snapshot.
    reaches(&group, leader, "purged index", 1, Duration::from_secs(10))?;
    assert!(group.status_number(leader, "snapshot index")? > 0);

    // A new replica joins; the log it needs is gone, so it gets a snapshot.
    let new = group.reserve();
    group.start_replica(new)?;
    let member = format!("{new}={}", group.address(new));
    let members = group.weft_ok(&["cluster", "add-member", &member])?;
    assert!(
        members.contains(&format!("{new}\t{}\tvoter", group.address(new))),
        "{members}"
    );
    // The log it needs is gone, so it installs a snapshot, then catches up.
    reaches(&group, new, "snapshot index", 1, Duration::from_secs(20))?;
    let target = group.status_number(leader, "commit index")?;
    reaches(
        &group,
        new,
        "applied index",
        target,
        Duration::from_secs(20),
    )?;
    let local = group.weft_ok_on(new, &["kv", "list", "s"])?;
    assert_eq!(local.lines().count(), 120);
    // The member that joined empty holds the component (its bytes came in
    // the snapshot), so it can serve them to hosts.
    let listed = group.weft_ok_on(new, &["components"])?;
    assert!(listed.contains("pi"), "{listed}");

    // And members can be removed at run time.
    let members = group.weft_ok(&["cluster", "remove-member", &new.to_string()])?;
    assert!(!members.contains(&group.address(new)), "{members}");
    group.stop(new)?;
    group.weft_ok(&["kv", "put", "after-removal", "1"])?;
    Ok(())
}

#[test]
fn history_under_repeated_leader_kills_is_linearizable() -> anyhow::Result<()> {
    let mut group = Group::start(3, &[])?;
    group.wait_for_leader(LEADER_WAIT)?;
    let rt = runtime();
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let progress = Progress::default();
    let keys = ["x", "y", "z"];

    let mut clients = Vec::new();
    for c in 0..4u64 {
        let (addresses, stop, progress) = (group.addresses(), stop.clone(), progress.clone());
        clients.push(rt.spawn(async move {
            let mut client = Client::connect(&addresses)
                .await
                .expect("connect")
                .retry_for(Duration::from_secs(8));
            let mut history = Vec::new();
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                seq += 1;
                let key = keys[((seq * 7 + c) % 3) as usize].to_string();
                let invoked = epoch.elapsed().as_micros() as u64;
                if seq.is_multiple_of(2) {
                    let value = c * 1_000_000 + seq;
                    let result = client
                        .kv_put("lin", &key, value.to_string().into_bytes())
                        .await;
                    let returned = result.is_ok().then(|| epoch.elapsed().as_micros() as u64);
                    if returned.is_some() {
                        progress.fetch_add(1, Ordering::Relaxed);
                    }
                    history.push(Event {
                        key,
                        op: Op::Write(value),
                        invoked,
                        returned,
                    });
                } else if let Ok(reply) = client.kv_get("lin", &key, true).await {
                    progress.fetch_add(1, Ordering::Relaxed);
                    let value = reply.found.then(|| {
                        String::from_utf8_lossy(&reply.value)
                            .parse::<u64>()
                            .expect("a number")
                    });
                    history.push(Event {
                        key,
                        op: Op::Read(value),
                        invoked,
                        returned: Some(epoch.elapsed().as_micros() as u64),
                    });
                }
            }
            history
        }));
    }

    // Each kill lands on a cluster serving operations, and each restart
    // waits until the two left have served some on their own.
    let mut kills = 0;
    for _ in 0..3 {
        served(&progress, 200)?;
        let leader = group.wait_for_leader(LEADER_WAIT)?;
        group.kill(leader);
        kills += 1;
        group.wait_for_leader(LEADER_WAIT)?;
        served(&progress, 200)?;
        group.start_replica(leader)?;
    }
    served(&progress, 200)?;
    stop.store(true, Ordering::Relaxed);
    let mut history = Vec::new();
    for client in clients {
        history.extend(rt.block_on(client)?);
    }
    let completed = history.iter().filter(|e| e.returned.is_some()).count();
    println!(
        "linearizability: {} operations ({completed} completed, {} writes of unknown outcome) across {kills} leader kills",
        history.len(),
        history.len() - completed
    );
    assert!(completed > 50, "too few operations completed: {completed}");
    linearizability::check(&history).map_err(anyhow::Error::msg)?;
    Ok(())
}

#[test]
fn a_replica_restarted_empty_fetches_the_component_bytes_it_lacks() -> anyhow::Result<()> {
    let mut group = Group::start(3, &[])?;
    let leader = group.wait_for_leader(LEADER_WAIT)?;
    group.weft_ok(&["deploy", guests::PI, "--name", "pi"])?;
    let wasm = std::fs::read(guests::PI)?;
    let hex = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(&wasm))
    };
    // The deploy put the bytes beside the log of a quorum (here, all three).
    let follower = (1..=3).find(|id| *id != leader).expect("a follower");
    let blob = group.data_dir(follower).join("blobs").join(&hex);
    assert_eq!(std::fs::read(&blob)?, wasm);

    // The follower loses everything and comes back empty: it catches up
    // the log, which names the component but does not carry its bytes, and
    // fetches the bytes from a peer.
    group.kill(follower);
    std::fs::remove_dir_all(group.data_dir(follower))?;
    group.start_replica(follower)?;
    eventually(Duration::from_secs(30), || {
        fact(
            std::fs::read(&blob).ok().as_deref() == Some(wasm.as_slice()),
            || {
                format!(
                    "the restarted replica never fetched the bytes: {}",
                    group.log(follower)
                )
            },
        )
    })?;
    let listed = group.weft_ok_on(follower, &["components"])?;
    assert!(listed.contains("pi"), "{listed}");
    Ok(())
}
