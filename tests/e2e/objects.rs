//! The object store on real processes: objects put by a client and by
//! guests, read by tasks on other hosts and mapped in place by the client,
//! spilled and restored, freed when their refs go, rebuilt from lineage
//! when their host is killed. Every byte is checked.

use std::time::Duration;

use weft_client::objects::store_stats;
use weft_client::{Arg, ClientError, TaskClient, TaskOptions};
use weft_tests::{
    Cluster, Group, eventually, eventually_async, fact, fnv, guests, pattern, runtime,
};

const MIB: usize = 1 << 20;

fn cluster(hosts: &[(&str, &[&str])]) -> Group {
    Group::with_hosts(1, hosts, &[(guests::TESTKIT, "testkit")])
}

fn on(host: &str) -> TaskOptions {
    TaskOptions {
        affinity_host: host.into(),
        ..Default::default()
    }
}

/// The value of one finished task, or its error.
async fn value(tasks: &TaskClient, id: &str) -> String {
    let r = tasks
        .get(&[id.to_string()], Some(Duration::from_secs(60)))
        .await
        .unwrap()
        .remove(0);
    assert!(r.ok, "task {id} failed: {}", r.error);
    crate::wave(&r)
}

/// Whether `ptr` lies in a mapping of a file under `dir` in this process.
fn mapped_from(ptr: *const u8, dir: &str) -> bool {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    let at = ptr as usize;
    maps.lines().any(|line| {
        let mut parts = line.split_whitespace();
        let range = parts.next().unwrap_or_default();
        let path = parts.nth(4).unwrap_or_default();
        let (lo, hi) = range.split_once('-').unwrap_or(("0", "0"));
        let lo = usize::from_str_radix(lo, 16).unwrap_or(0);
        let hi = usize::from_str_radix(hi, 16).unwrap_or(0);
        path.starts_with(dir) && (lo..hi).contains(&at)
    })
}

#[test]
fn a_100mb_object_reaches_tasks_on_two_other_hosts_intact() {
    // The put lands on h1 (the first host on this machine): h2 pulls it
    // over the network, as from another machine, h3 copies it from h1's
    // shared memory.
    let group = cluster(&[("h1", &[]), ("h2", &["--network-pulls"]), ("h3", &[])]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let data = pattern(100 * MIB, 7);
        let expected = fnv(&data).to_string();
        let id = tasks.put(&data).await.unwrap();
        let (put, _) = tasks
            .wait(std::slice::from_ref(&id), 1, None)
            .await
            .unwrap();
        let holder = put[0].held_by.clone();
        assert!(
            !holder.is_empty(),
            "a 100 MB object lives in a host's store"
        );
        let others: Vec<&str> = ["h1", "h2", "h3"]
            .into_iter()
            .filter(|h| *h != holder)
            .collect();
        let mut sums = Vec::new();
        for h in &others {
            sums.push(
                tasks
                    .submit("testkit", "checksum", vec![Arg::Ref(id.clone())], on(h))
                    .await
                    .unwrap(),
            );
        }
        for (sum, host) in sums.iter().zip(&others) {
            assert_eq!(value(&tasks, sum).await, expected, "checksum on {host}");
        }
        // The client runs on the holder's machine: it maps the object.
        let bytes = tasks.get_object(&id, None).await.unwrap();
        assert!(bytes.is_mapped(), "read in place, not copied");
        assert!(
            mapped_from(bytes.as_ptr(), "/dev/shm/"),
            "the bytes are in a mapping of the store's file"
        );
        assert!(bytes[..] == data[..], "every byte read back");

        // A guest puts an object and returns its ref: the result holds it.
        let made = tasks
            .submit(
                "testkit",
                "make",
                vec![Arg::wave("8"), Arg::wave("3")],
                on(others[0]),
            )
            .await
            .unwrap();
        let made_ref = value(&tasks, &made).await;
        let made_id = made_ref
            .split('"')
            .nth(1)
            .expect("an object-ref record")
            .to_string();
        let bytes = tasks.get_object(&made_id, None).await.unwrap();
        assert!(bytes[..] == pattern(8 * MIB, 3)[..], "the guest's object");
    });
}

#[test]
fn a_guest_writes_an_object_in_parts_and_what_it_skips_reads_as_zeros() {
    let group = cluster(&[("h1", &[])]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        // Room that held other bytes, freed: the next object may reuse it.
        let old = tasks.put(&vec![0xA5u8; 8 * MIB]).await.unwrap();
        tasks
            .wait(std::slice::from_ref(&old), 1, None)
            .await
            .unwrap();
        tasks.release(&[old]);
        let address = tasks_host_address(&group, "h1");
        eventually_async(Duration::from_secs(15), || async {
            let stats = store_stats(&address, 0).await.unwrap();
            fact(stats.used == 0, || format!("not freed yet: {stats:?}"))
        })
        .await
        .unwrap();

        let args = vec![Arg::wave("8"), Arg::wave("5"), Arg::wave("3")];
        let made = tasks
            .submit("testkit", "make-in-parts", args, on("h1"))
            .await
            .unwrap();
        let made_ref = value(&tasks, &made).await;
        let made_id = made_ref.split('"').nth(1).expect(&made_ref).to_string();
        let bytes = tasks.get_object(&made_id, None).await.unwrap();
        let mut want = pattern(8 * MIB, 5);
        want[3 * MIB..4 * MIB].fill(0);
        assert_eq!(bytes.len(), want.len());
        assert!(
            bytes[..] == want[..],
            "the parts written, and zeros where none was"
        );
    });
}

#[test]
fn three_times_the_store_capacity_spills_and_reads_back_intact() {
    let group = cluster(&[("h1", &["--store-capacity", "64M"])]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let mut ids = Vec::new();
        for seed in 0..12 {
            ids.push(tasks.put(&pattern(16 * MIB, seed)).await.unwrap());
        }
        let address = tasks_host_address(&group, "h1");
        let stats = store_stats(&address, 12).await.unwrap();
        assert!(stats.used <= 64 << 20, "within capacity: {}", stats.used);
        assert!(stats.spilled_objects >= 8, "{stats:?}");
        // Each stored object says which copy it is and where it is.
        let spilled = stats
            .largest
            .iter()
            .filter(|o| o.state() == weft_client::ObjectState::Spilled)
            .count();
        assert_eq!(spilled as u64, stats.spilled_objects, "{stats:?}");
        // A task reads a spilled object; the client reads every one.
        let sum = tasks
            .submit(
                "testkit",
                "checksum",
                vec![Arg::Ref(ids[0].clone())],
                TaskOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(
            value(&tasks, &sum).await,
            fnv(&pattern(16 * MIB, 0)).to_string()
        );
        for (seed, id) in ids.iter().enumerate() {
            let bytes = tasks.get_object(id, None).await.unwrap();
            assert!(
                bytes[..] == pattern(16 * MIB, seed as u32)[..],
                "object {seed}"
            );
        }
        let stats = store_stats(&address, 0).await.unwrap();
        assert!(stats.restores >= 8, "{stats:?}");
        // What cannot fit even after spilling fails clearly.
        let err = tasks.put(&vec![1u8; 80 * MIB]).await.unwrap_err();
        assert!(err.to_string().contains("object store full"), "{err}");
        let memory = group.weft_ok(&["memory"]).unwrap();
        assert!(
            memory.contains("host h1") && memory.contains("spilled"),
            "{memory}"
        );
    });
}

/// The `WeftHost` address of worker host `id`, from `weft list nodes`.
pub(crate) fn tasks_host_address(group: &Group, id: &str) -> String {
    let nodes = group.weft_ok(&["list", "nodes"]).unwrap();
    nodes
        .lines()
        .find_map(|l| {
            let mut parts = l.split_whitespace();
            (parts.next() == Some(id)).then(|| parts.next().unwrap_or_default().to_string())
        })
        .unwrap_or_else(|| panic!("host {id} in {nodes}"))
}

#[test]
fn dropped_refs_take_the_stores_back_to_their_baseline() {
    let group = cluster(&[("h1", &[]), ("h2", &[])]);
    let addresses = [
        tasks_host_address(&group, "h1"),
        tasks_host_address(&group, "h2"),
    ];
    runtime().block_on(async {
        let used = || async {
            let mut total = 0;
            for a in &addresses {
                total += store_stats(a, 0).await.unwrap().used;
            }
            total
        };
        let baseline = used().await;
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let mut ids = Vec::new();
        for seed in 0..4 {
            let object = tasks.put(&pattern(8 * MIB, seed)).await.unwrap();
            // A task on each host reads it (one pulls a copy) ...
            for host in ["h1", "h2"] {
                ids.push(
                    tasks
                        .submit(
                            "testkit",
                            "checksum",
                            vec![Arg::Ref(object.clone())],
                            on(host),
                        )
                        .await
                        .unwrap(),
                );
            }
            ids.push(object);
            // ... and tasks leave large results and guest-put objects.
            ids.push(
                tasks
                    .submit(
                        "testkit",
                        "zeros",
                        vec![Arg::wave("2")],
                        TaskOptions::default(),
                    )
                    .await
                    .unwrap(),
            );
            ids.push(
                tasks
                    .submit(
                        "testkit",
                        "make",
                        vec![Arg::wave("2"), Arg::wave("1")],
                        TaskOptions::default(),
                    )
                    .await
                    .unwrap(),
            );
        }
        let results = tasks
            .get(&ids, Some(Duration::from_secs(60)))
            .await
            .unwrap();
        assert!(results.iter().all(|r| r.ok), "{results:?}");
        assert!(
            used().await >= baseline + 40 * MIB as u64,
            "objects are stored"
        );
        tasks.release(&ids);
        let freed = eventually_async(Duration::from_secs(15), || async {
            let now = used().await;
            fact(now == baseline, || {
                format!("store usage stuck at {now}, baseline {baseline}")
            })
        })
        .await;
        if let Err(e) = freed {
            let mut left = Vec::new();
            for a in &addresses {
                left.push(store_stats(a, 10).await.unwrap());
            }
            panic!("{e}: {left:?}");
        }
        // A client that goes away drops its refs too.
        let other = TaskClient::connect(&group.addresses()).await.unwrap();
        other.put(&pattern(4 * MIB, 5)).await.unwrap();
        other.flush(Duration::from_secs(10)).await.unwrap();
        assert!(used().await > baseline);
        drop(other);
        eventually_async(Duration::from_secs(15), || async {
            let now = used().await;
            fact(now == baseline, || {
                format!("a gone client's object stayed: {now} bytes, baseline {baseline}")
            })
        })
        .await
        .unwrap();
    });
}

#[test]
fn an_object_lost_with_its_host_is_rebuilt_or_named_lost() {
    let mut group = cluster(&[("h1", &[]), ("h2", &[])]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        // Soft affinity: a rebuild may run elsewhere.
        let near_h2 = || TaskOptions {
            affinity_soft: true,
            ..on("h2")
        };
        let retriable = tasks
            .submit("testkit", "zeros", vec![Arg::wave("2")], near_h2())
            .await
            .unwrap();
        let once = TaskOptions {
            has_max_retries: true,
            max_retries: 0,
            ..near_h2()
        };
        let fragile = tasks
            .submit("testkit", "zeros", vec![Arg::wave("2")], once)
            .await
            .unwrap();
        let expected = "0".repeat(2 * MIB);
        for id in [&retriable, &fragile] {
            assert_eq!(value(&tasks, id).await, format!("\"{expected}\""));
        }
        group.kill_host("h2");
        // Once the leader knows h2 is dead (until then a reader on this
        // machine may still map h2's copy from shared memory)...
        eventually(Duration::from_secs(30), || {
            let nodes = group.weft_ok(&["list", "nodes"]).unwrap_or_default();
            fact(
                nodes
                    .lines()
                    .any(|l| l.trim_start().starts_with("h2 ") && l.contains("dead")),
                || format!("h2 never declared dead: {nodes}"),
            )
        })
        .unwrap();
        // ...the object is rebuilt by running its task again, on the host
        // that is left.
        let bytes = tasks
            .get_object(&retriable, Some(Duration::from_secs(60)))
            .await
            .unwrap();
        assert!(
            bytes.value().unwrap() == weft_client::Value::String(expected),
            "the rebuilt value"
        );
        let (done, _) = tasks
            .wait(std::slice::from_ref(&retriable), 1, None)
            .await
            .unwrap();
        assert_eq!(done[0].held_by, "h1", "rebuilt on h1");
        // Not retriable: lost, and the error says which, why and where.
        let err = tasks
            .get_object(&fragile, Some(Duration::from_secs(60)))
            .await
            .err()
            .expect("lost");
        let ClientError::TaskFailed { kind, message, .. } = err else {
            panic!("not a task failure: {err}");
        };
        assert_eq!(kind, weft_client::FailureKind::Lost, "{message}");
        for needle in [
            format!("object {fragile} lost"),
            format!("task {fragile} (testkit.zeros)"),
            "host h2".to_string(),
            "max_retries is 0".to_string(),
        ] {
            assert!(message.contains(&needle), "`{needle}` in {message}");
        }
    });
}

#[test]
fn the_cli_puts_gets_and_shows_memory() {
    let cluster = Cluster::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (name, size) in [("small", 1000), ("big", 3 * MIB + 17)] {
        let file = dir.path().join(name);
        let data = pattern(size, 11);
        std::fs::write(&file, &data).unwrap();
        // Progress is drawn only on a terminal: a pipe gets results alone.
        let quiet = |args: &[&str]| {
            let out = cluster.weft(args);
            let err = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(
                out.status.success() && err.is_empty(),
                "weft {args:?}: {err}"
            );
            String::from_utf8_lossy(&out.stdout).trim().to_string()
        };
        let id = quiet(&["put", file.to_str().unwrap()]);
        let back = dir.path().join(format!("{name}.back"));
        let wrote = quiet(&["get", &id, "-o", back.to_str().unwrap()]);
        assert!(wrote.starts_with("wrote "), "{wrote}");
        assert!(std::fs::read(&back).unwrap() == data, "{name} read back");
    }
    let memory = cluster.weft_ok(&["memory"]).unwrap();
    assert!(
        memory.contains("host embedded") && memory.contains("3.0 MiB"),
        "{memory}"
    );
    // A task reads a text file put in the store, a mebibyte at a time.
    let book = dir.path().join("book.txt");
    std::fs::write(&book, "the cat sat ".repeat(200_000)).unwrap();
    let text = cluster
        .weft_ok(&["put", book.to_str().unwrap()])
        .unwrap()
        .trim()
        .to_string();
    cluster
        .weft_ok(&["deploy", guests::WORDCOUNT, "--name", "wordcount"])
        .unwrap();
    let out = cluster
        .weft_ok(&[
            "submit",
            "wordcount",
            &format!("count-object(@{text})"),
            "--wait",
        ])
        .unwrap();
    assert_eq!(
        out.lines().nth(1),
        Some(r#"[("cat", 200000), ("sat", 200000), ("the", 200000)]"#),
        "{out}"
    );
    let err = cluster
        .weft_err(&["get", "nobody-1", "-o", "/dev/null"])
        .unwrap();
    assert!(err.contains("no object `nobody-1`"), "{err}");
}

#[test]
fn objects_survive_a_leader_failover_and_are_still_freed() {
    let mut group = Group::start(3, &["--host-timeout", "2"]).expect("controllers start");
    group
        .wait_for_leader(Duration::from_secs(20))
        .expect("a leader");
    group.start_host("h1", 2, &[]).expect("host starts");
    group
        .weft_ok(&["deploy", guests::TESTKIT, "--name", "testkit"])
        .expect("deploy testkit");
    let address = tasks_host_address(&group, "h1");
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let data = pattern(8 * MIB, 4);
        let put = tasks.put(&data).await.unwrap();
        let made = tasks
            .submit(
                "testkit",
                "zeros",
                vec![Arg::wave("1")],
                TaskOptions::default(),
            )
            .await
            .unwrap();
        value(&tasks, &made).await;
        let leader = group.wait_for_leader(Duration::from_secs(5)).unwrap();
        group.kill(leader);
        group.wait_for_leader(Duration::from_secs(20)).unwrap();
        // A task on the new leader takes the object put before it.
        let sum = tasks
            .submit(
                "testkit",
                "checksum",
                vec![Arg::Ref(put.clone())],
                TaskOptions::default(),
            )
            .await
            .unwrap();
        assert_eq!(value(&tasks, &sum).await, fnv(&data).to_string());
        let bytes = tasks.get_object(&put, None).await.unwrap();
        assert!(bytes[..] == data[..]);
        drop(bytes);
        // The new leader learned both from their owner: releasing them
        // frees the host's store.
        tasks.release(&[put, made, sum]);
        eventually_async(Duration::from_secs(15), || async {
            let used = store_stats(&address, 5).await.unwrap();
            fact(used.used == 0, || format!("not freed: {used:?}"))
        })
        .await
        .unwrap();
    });
}

#[test]
fn the_cluster_lists_its_objects_with_owners_copies_and_pins() {
    let group = cluster(&[("h1", &[])]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let small = tasks.put(b"small").await.unwrap();
        let large = tasks.put(&pattern(4 * MIB, 7)).await.unwrap();
        tasks.flush(Duration::from_secs(10)).await.unwrap();
        let owner = large.rsplit_once('-').unwrap().0.to_string();
        // Read in place: the reader pins the copy while it holds the bytes.
        let bytes = tasks.get_object(&large, None).await.unwrap();
        let listed = group.weft_ok(&["list", "objects"]).unwrap();
        let line = |id: &str| {
            listed
                .lines()
                .find(|l| l.starts_with(&format!("{id} ")))
                .unwrap_or_else(|| panic!("{id} in {listed}"))
                .to_string()
        };
        let small_line = line(&small);
        assert!(
            small_line.contains("put")
                && small_line.contains("inline")
                && small_line.contains(&owner),
            "{small_line}"
        );
        let large_line = line(&large);
        assert!(
            large_line.contains("4.0 MiB") && large_line.contains("h1 primary pinned 1"),
            "{large_line}"
        );
        drop(bytes);
        // The unpin reaches the host on the reader's pin stream.
        eventually(Duration::from_secs(10), || {
            let listed = group.weft_ok(&["list", "objects"]).unwrap();
            (listed.starts_with("objects: 2") && !listed.contains("pinned"))
                .then_some(())
                .ok_or(listed)
        })
        .unwrap();
        // Released, they leave the listing.
        tasks.release(&[small, large]);
        tasks.flush(Duration::from_secs(10)).await.unwrap();
        eventually(Duration::from_secs(10), || {
            let listed = group.weft_ok(&["list", "objects"]).unwrap();
            listed.starts_with("objects: 0").then_some(()).ok_or(listed)
        })
        .unwrap();
    });
}
