//! Distributed tasks on real processes: controllers and `weft host`
//! workers on loopback ports, tasks submitted through the Rust client and
//! the CLI, hosts and leaders killed with SIGKILL mid-run.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use weft_client::{Arg, Submission, TaskClient, TaskOptions};
use weft_tests::{Group, eventually, guests, runtime};

/// One controller and `hosts` worker hosts with 2 cpus each, the test
/// components deployed.
fn cluster(replicas: usize, hosts: &[&str]) -> Group {
    let hosts: Vec<(&str, &[&str])> = hosts.iter().map(|h| (*h, &[][..])).collect();
    Group::with_hosts(replicas, &hosts, &[(guests::TESTKIT, "testkit")])
}

fn add(a: i32, b: i32) -> Submission {
    Submission {
        component: "testkit".into(),
        function: "add".into(),
        args: vec![Arg::wave(a.to_string()), Arg::wave(b.to_string())],
        options: TaskOptions::default(),
    }
}

fn busy(millis: u32, options: TaskOptions) -> Submission {
    Submission {
        component: "testkit".into(),
        function: "busy".into(),
        args: vec![Arg::wave(millis.to_string())],
        options,
    }
}

fn on(host: &str) -> TaskOptions {
    TaskOptions {
        affinity_host: host.into(),
        ..Default::default()
    }
}

/// Waits until `weft list tasks --state running` satisfies `holds`, and
/// returns what it listed.
fn running_where(group: &Group, holds: impl Fn(&str) -> bool) -> String {
    eventually(Duration::from_secs(20), || {
        let running = group
            .weft_ok(&["list", "tasks", "--state", "running"])
            .unwrap();
        if holds(&running) {
            Ok(running)
        } else {
            Err(format!("not running yet: {running}"))
        }
    })
    .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_thousand_tasks_spread_over_three_hosts_with_correct_results() {
    let group = cluster(1, &["h1", "h2", "h3"]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let batch: Vec<Submission> = (0..1000).map(|i| add(i, 1000 * i)).collect();
        let ids = tasks.submit_batch(batch).await.unwrap();
        let results = tasks
            .get(&ids, Some(Duration::from_secs(120)))
            .await
            .unwrap();
        let mut hosts = BTreeSet::new();
        for (i, r) in results.iter().enumerate() {
            assert!(r.ok, "task {} failed: {}", r.id, r.error);
            assert_eq!(crate::wave(r), (1001 * i as i32).to_string(), "task {i}");
            hosts.insert(r.host.clone());
        }
        assert_eq!(
            hosts,
            BTreeSet::from(["h1".to_string(), "h2".into(), "h3".into()]),
            "every host ran some"
        );
        assert_eq!(tasks.deliveries(), 1000);
    });
    let nodes = group.weft_ok(&["list", "nodes"]).unwrap();
    assert_eq!(nodes.matches("alive").count(), 3, "{nodes}");
    // Each host's engine counters arrive with its heartbeats: three
    // engines ran 1000 calls, and as they share the machine's artifact
    // cache, one compiled the component and the others loaded it.
    let engine_calls = |nodes: &str| -> u64 {
        nodes
            .lines()
            .filter_map(|l| l.split("loaded from the artifact cache, ").nth(1))
            .filter_map(|rest| rest.split(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    // Hosts report their engines' counts with their heartbeats.
    let nodes = eventually(Duration::from_secs(10), || {
        let nodes = group.weft_ok(&["list", "nodes"]).unwrap();
        if engine_calls(&nodes) >= 1000 {
            Ok(nodes)
        } else {
            Err(nodes)
        }
    })
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(engine_calls(&nodes), 1000, "{nodes}");
    assert_eq!(
        nodes.matches("engine: 1 compiled, 0 loaded").count(),
        1,
        "{nodes}"
    );
    assert_eq!(
        nodes.matches("engine: 0 compiled, 1 loaded").count(),
        2,
        "{nodes}"
    );
}

#[test]
fn ref_arguments_pass_results_between_hosts() {
    let group = cluster(1, &["h1", "h2"]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let mut first = add(20, 1);
        first.options = on("h1");
        let a = tasks.submit_batch(vec![first]).await.unwrap().remove(0);
        let b = tasks
            .submit(
                "testkit",
                "add",
                vec![Arg::Ref(a.clone()), Arg::wave("21")],
                on("h2"),
            )
            .await
            .unwrap();
        let c = tasks
            .submit(
                "testkit",
                "add",
                vec![Arg::Ref(b.clone()), Arg::Ref(a.clone())],
                TaskOptions::default(),
            )
            .await
            .unwrap();
        let results = tasks
            .get(&[a, b, c], Some(Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(results[0].host, "h1");
        assert_eq!(results[1].host, "h2");
        let values: Vec<String> = results.iter().map(crate::wave).collect();
        assert_eq!(values, ["21", "42", "63"]);
    });
    // The CLI passes refs with `@`.
    let a = group.weft_ok(&["submit", "testkit", "add(1, 2)"]).unwrap();
    let out = group
        .weft_ok(&[
            "submit",
            "testkit",
            &format!("add(@{}, 10)", a.trim()),
            "--wait",
        ])
        .unwrap();
    assert_eq!(out.lines().nth(1), Some("13"), "{out}");
}

#[test]
fn nested_tasks_recurse_across_hosts_without_deadlock() {
    let group = cluster(1, &["h1", "h2"]);
    group
        .weft_ok(&["deploy", guests::FIB, "--name", "fib"])
        .unwrap();
    group
        .weft_ok(&["deploy", guests::WORDCOUNT, "--name", "wordcount"])
        .unwrap();
    // fib(9) with cutoff 1 nests eight levels and makes 109 tasks, far
    // more waiting parents than the 4 cpu slots: waiting lends slots out.
    let out = group
        .weft_ok(&["submit", "fib", "fib(9, 1)", "--wait"])
        .unwrap();
    assert_eq!(out.lines().nth(1), Some("34"), "{out}");
    let out = group
        .weft_ok(&[
            "submit",
            "wordcount",
            r#"wordcount(["the cat", "the hat", "a cat", "the end"])"#,
            "--wait",
        ])
        .unwrap();
    assert_eq!(
        out.lines().nth(1),
        Some(r#"[("a", 1), ("cat", 2), ("end", 1), ("hat", 1), ("the", 3)]"#),
        "{out}"
    );
    // Both hosts ran some (the nested tasks themselves are freed with
    // their parents, so the hosts' counts say it).
    let nodes = group.weft_ok(&["list", "nodes"]).unwrap();
    for host in ["h1", "h2"] {
        let done: u64 = nodes
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{host} ")))
            .and_then(|l| l.split("done ").nth(1))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0);
        assert!(done > 10, "{host} ran {done}: {nodes}");
    }
}

#[test]
fn a_killed_host_costs_retries_not_results() {
    let mut group = cluster(1, &["h1", "h2", "h3"]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let batch = (0..100).map(|_| busy(40, TaskOptions::default())).collect();
        let ids = tasks.submit_batch(batch).await.unwrap();
        // Once h2 runs some of them, kill it mid-task.
        running_where(&group, |running| running.contains("on h2"));
        group.kill_host("h2");
        let results = tasks
            .get(&ids, Some(Duration::from_secs(120)))
            .await
            .unwrap();
        assert!(results.iter().all(|r| r.ok), "all complete");
        assert!(
            results.iter().any(|r| r.attempts > 1 && r.host != "h2"),
            "some ran again elsewhere"
        );
        assert_eq!(tasks.deliveries(), 100);
    });
    let nodes = group.weft_ok(&["list", "nodes"]).unwrap();
    assert!(nodes.contains("h2") && nodes.contains("dead"), "{nodes}");
}

#[test]
fn exhausted_retries_name_the_task_the_host_and_the_cause() {
    let mut group = cluster(1, &["h1", "h2"]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let options = TaskOptions {
            has_max_retries: true,
            max_retries: 0,
            ..on("h1")
        };
        let id = tasks
            .submit("testkit", "busy", vec![Arg::wave("60000")], options)
            .await
            .unwrap();
        running_where(&group, |running| running.contains(&id));
        group.kill_host("h1");
        let r = tasks
            .get(std::slice::from_ref(&id), Some(Duration::from_secs(30)))
            .await
            .unwrap();
        let r = &r[0];
        assert!(!r.ok);
        assert_eq!(r.failure_kind().as_str(), "host-died");
        for needle in [id.as_str(), "testkit.busy", "h1", "after 1 attempt"] {
            assert!(r.error.contains(needle), "`{needle}` in: {}", r.error);
        }

        // A trapping guest is retried only when asked, then says why.
        let options = TaskOptions {
            retry_on_trap: true,
            has_max_retries: true,
            max_retries: 2,
            ..Default::default()
        };
        let id = tasks
            .submit("testkit", "fail", vec![Arg::wave("\"boom\"")], options)
            .await
            .unwrap();
        let r = tasks
            .get(std::slice::from_ref(&id), Some(Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(r[0].attempts, 3);
        assert!(
            r[0].error.contains("after 3 attempts") && r[0].error.contains("boom"),
            "{}",
            r[0].error
        );
        let id = tasks
            .submit(
                "testkit",
                "fail",
                vec![Arg::wave("\"once\"")],
                TaskOptions::default(),
            )
            .await
            .unwrap();
        let r = tasks
            .get(std::slice::from_ref(&id), Some(Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!((r[0].attempts, r[0].failure_kind().as_str()), (1, "trap"));
    });
}

#[test]
fn an_infeasible_request_fails_at_once() {
    let group = cluster(1, &["h1"]);
    let started = Instant::now();
    let id = group
        .weft_ok(&["submit", "testkit", "add(1, 2)", "--cpus", "64"])
        .unwrap();
    let err = group.weft_err(&["get", id.trim()]).unwrap();
    assert!(
        err.contains("no live host has 64 cpus (the most any host has is 2)"),
        "{err}"
    );
    let err = group
        .weft_err(&[
            "submit",
            "testkit",
            "add(1, 2)",
            "--resources",
            "tpu=1",
            "--wait",
        ])
        .unwrap();
    assert!(err.contains("no live host has 1 tpu"), "{err}");
    let err = group
        .weft_err(&[
            "submit",
            "testkit",
            "add(1, 2)",
            "--node",
            "nowhere",
            "--wait",
        ])
        .unwrap();
    assert!(err.contains("not a live host"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Fits later: queued behind a task holding both cpus, then runs.
    let blocker = group
        .weft_ok(&["submit", "testkit", "busy(1500)", "--cpus", "2"])
        .unwrap();
    let out = group
        .weft_ok(&["submit", "testkit", "add(2, 2)", "--cpus", "2", "--wait"])
        .unwrap();
    assert_eq!(out.lines().nth(1), Some("4"));
    assert_eq!(
        group.weft_ok(&["get", blocker.trim()]).unwrap().trim(),
        "1500"
    );
}

#[test]
fn cancel_stops_an_endless_guest() {
    let group = cluster(1, &["h1"]);
    let id = group
        .weft_ok(&["submit", "testkit", "spin()", "--timeout", "600"])
        .unwrap();
    let id = id.trim();
    running_where(&group, |running| running.contains(id));
    let out = group.weft_ok(&["cancel", id]).unwrap();
    assert!(out.contains("canceled"), "{out}");
    let err = group.weft_err(&["get", id]).unwrap();
    assert!(err.contains("canceled while running"), "{err}");
    let waited = group.weft_ok(&["wait", id, "--timeout", "5"]).unwrap();
    assert_eq!(waited.trim(), format!("failed {id}"));
    // The slot is free again: a task that needs both cpus runs.
    let out = group
        .weft_ok(&["submit", "testkit", "add(3, 4)", "--cpus", "2", "--wait"])
        .unwrap();
    assert_eq!(out.lines().nth(1), Some("7"));
    let nodes = group.weft_ok(&["list", "nodes"]).unwrap();
    assert!(nodes.contains("running 0"), "{nodes}");
}

#[test]
fn a_task_lands_where_its_memory_or_custom_resource_is_from_a_client_or_a_guest() {
    // h1 has a custom resource and little memory; h2 has the memory.
    let hosts: &[(&str, &[&str])] = &[
        ("h1", &["--resources", "ssd=1", "--memory", "1000000000"]),
        ("h2", &["--memory", "16000000000"]),
    ];
    let group = Group::with_hosts(1, hosts, &[(guests::TESTKIT, "testkit")]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let needing = |custom: &[(&str, f64)], memory: u64| Submission {
            options: TaskOptions {
                custom: custom.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                memory,
                ..Default::default()
            },
            ..add(1, 2)
        };
        let batch = (0..4)
            .flat_map(|_| [needing(&[("ssd", 1.0)], 0), needing(&[], 8_000_000_000)])
            .collect();
        let ids = tasks.submit_batch(batch).await.unwrap();
        let results = tasks
            .get(&ids, Some(Duration::from_secs(60)))
            .await
            .unwrap();
        for pair in results.chunks(2) {
            assert_eq!(
                pair[0].host, "h1",
                "the custom resource is on h1: {:?}",
                pair[0]
            );
            assert_eq!(pair[1].host, "h2", "the memory is on h2: {:?}", pair[1]);
        }
        // A guest places its tasks the same ways: by custom resource, by
        // memory and by node.
        for (node, custom, memory, expected) in [
            (None, Some("ssd"), 0u64, "h1"),
            (None, None, 8_000_000_000, "h2"),
            (Some("h1"), None, 0, "h1"),
            (Some("h2"), None, 0, "h2"),
        ] {
            let option = |v: Option<&str>| match v {
                Some(s) => format!("some({s:?})"),
                None => "none".into(),
            };
            let call = format!(
                "fanout.placed(\"testkit\", {}, {}, {memory})",
                option(node),
                option(custom)
            );
            let out = group
                .weft_ok(&["submit", "testkit", &call, "--wait"])
                .unwrap();
            let inner = out.lines().nth(1).unwrap_or_default();
            let inner = inner
                .split('"')
                .nth(1)
                .unwrap_or_else(|| panic!("a ref in {out}"))
                .to_string();
            let result = tasks
                .get(&[inner], Some(Duration::from_secs(30)))
                .await
                .unwrap()
                .remove(0);
            assert!(result.ok, "{result:?}");
            assert_eq!(result.host, expected, "{call}: {result:?}");
        }
    });
}

#[test]
fn a_cancel_right_after_its_submission_reaches_the_task() {
    let group = cluster(1, &["h1"]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        for _ in 0..50 {
            let spin = Submission {
                component: "testkit".into(),
                function: "spin".into(),
                args: vec![],
                options: TaskOptions::default(),
            };
            let id = tasks.submit_batch(vec![spin]).await.unwrap().remove(0);
            assert!(tasks.cancel(&id).await.unwrap(), "{id} was not canceled");
            let result = tasks
                .get(std::slice::from_ref(&id), Some(Duration::from_secs(30)))
                .await
                .unwrap()
                .remove(0);
            assert_eq!(
                result.failure_kind(),
                weft_proto::FailureKind::Canceled,
                "{result:?}"
            );
        }
    });
}

#[test]
fn a_leader_killed_mid_batch_loses_no_result_and_repeats_none() {
    let mut group = cluster(3, &["h1", "h2"]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let ids = tasks
            .submit_batch((0..300).map(|_| busy(10, TaskOptions::default())).collect())
            .await
            .unwrap();
        // Mid-batch: some are running.
        running_where(&group, |running| running.contains("busy"));
        let leader = group.wait_for_leader(Duration::from_secs(5)).unwrap();
        group.kill(leader);
        let results = match tasks.get(&ids, Some(Duration::from_secs(120))).await {
            Ok(results) => results,
            Err(e) => {
                // What each process saw, to tell which one lost track.
                for id in group.running() {
                    eprintln!("=== replica {id}\n{}", group.log(id));
                }
                for host in ["h1", "h2"] {
                    eprintln!("=== host {host}\n{}", group.host_log(host));
                }
                panic!("{e}");
            }
        };
        assert_eq!(results.len(), 300);
        assert!(results.iter().all(|r| r.ok), "all complete");
        assert_eq!(tasks.deliveries(), 300, "each result once");
    });
}

#[test]
fn results_are_capped_only_by_the_store() {
    let group = Group::with_hosts(
        1,
        &[("h1", &["--store-capacity", "48M"])],
        &[(guests::TESTKIT, "testkit")],
    );
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        // 40 MiB: more than a message may carry, kept in the host's store.
        let big = tasks
            .submit(
                "testkit",
                "zeros",
                vec![Arg::wave("40")],
                TaskOptions::default(),
            )
            .await
            .unwrap();
        let (done, _) = tasks
            .wait(std::slice::from_ref(&big), 1, Some(Duration::from_secs(60)))
            .await
            .unwrap();
        assert!(done[0].ok, "{}", done[0].error);
        assert_eq!(done[0].held_by, "h1");
        // Version, tag, a 4-byte length, the bytes.
        assert_eq!(done[0].size, (40 << 20) + 6, "the encoded string");
        tasks.release(&[big]);
    });
    // 70 MiB: more than the whole store holds.
    let err = group
        .weft_err(&["submit", "testkit", "zeros(70)", "--wait"])
        .unwrap();
    assert!(
        err.contains("cannot keep the result of `zeros`") && err.contains("object store full"),
        "{err}"
    );
    let out = group
        .weft_ok(&["submit", "testkit", "add(1, 1)", "--wait"])
        .unwrap();
    assert_eq!(out.lines().nth(1), Some("2"), "the host carries on");
}

#[test]
fn large_results_stay_on_their_host_until_needed_elsewhere() {
    let mut group = cluster(1, &["h1", "h2"]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        // Soft affinity, so the value can be rebuilt elsewhere below.
        let near_h1 = TaskOptions {
            affinity_soft: true,
            ..on("h1")
        };
        let big = tasks
            .submit("testkit", "zeros", vec![Arg::wave("1")], near_h1)
            .await
            .unwrap();
        let echo = |options| {
            tasks.submit(
                "testkit",
                "values.echo-string",
                vec![Arg::Ref(big.clone())],
                options,
            )
        };
        let far = echo(on("h2")).await.unwrap();
        let near = echo(TaskOptions::default()).await.unwrap();
        let (done, _) = tasks
            .wait(std::slice::from_ref(&big), 1, Some(Duration::from_secs(30)))
            .await
            .unwrap();
        // The encoded string: version, tag, a 3-byte length, the bytes.
        let expected = (1 << 20) + 5;
        assert_eq!((done[0].held_by.as_str(), done[0].size), ("h1", expected));
        assert!(
            done[0].value.is_empty(),
            "the value did not travel with the completion"
        );
        let results = tasks
            .get(&[big.clone(), far, near], Some(Duration::from_secs(30)))
            .await
            .unwrap();
        for r in &results {
            assert!(r.ok, "{}", r.error);
            assert_eq!(r.value.len() as u64, expected, "task {}", r.id);
        }
        assert_eq!(results[1].host, "h2", "fetched from h1");
        assert_eq!(results[2].host, "h1", "placed where its argument is");

        // The holder dies: the value is rebuilt (its task runs again on
        // the host that is left) for a task that needs it.
        group.kill_host("h1");
        let later = echo(TaskOptions::default()).await.unwrap();
        let r = tasks
            .get(std::slice::from_ref(&later), Some(Duration::from_secs(60)))
            .await
            .unwrap();
        assert!(r[0].ok, "{}", r[0].error);
        assert_eq!(r[0].value.len() as u64, expected);
        assert_eq!(r[0].host, "h2");
    });
}

#[test]
fn deploy_returns_once_every_host_has_the_component_ready() {
    let group = Group::with_hosts(1, &[("h1", &[]), ("h2", &[])], &[]);
    let out = group
        .weft_ok(&["deploy", guests::HELLO, "--name", "hello"])
        .unwrap();
    assert!(out.starts_with("hello sha256:"), "{out}");
    // The two hosts share the machine's artifact cache: one compiled it,
    // the other loaded what the first wrote.
    assert_eq!(out.matches(": compiled in ").count(), 1, "{out}");
    assert_eq!(
        out.matches(": loaded from the artifact cache in ").count(),
        1,
        "{out}"
    );
    assert!(out.contains("  h1: ") && out.contains("  h2: "), "{out}");
    // The counters arrive before the reports: they agree at once.
    let nodes = group.weft_ok(&["list", "nodes"]).unwrap();
    assert_eq!(nodes.matches("engine: 1 compiled, 0 loaded").count(), 1);
    assert_eq!(nodes.matches("engine: 0 compiled, 1 loaded").count(), 1);

    let again = group
        .weft_ok(&["deploy", guests::HELLO, "--name", "hello@2"])
        .unwrap();
    assert_eq!(again.matches(": already ready").count(), 2, "{again}");
    let lazy = group
        .weft_ok(&["deploy", guests::PI, "--name", "pi", "--no-prepare"])
        .unwrap();
    assert_eq!(lazy.lines().count(), 1, "{lazy}");

    // A host that stops answering is named once it is declared dead; the
    // component stays deployed and callable on the other.
    let stopped = group.host_pid("h2").expect("h2 runs");
    signal(stopped, "STOP");
    let err = group
        .weft_err(&["deploy", guests::FIB, "--name", "fib"])
        .unwrap();
    signal(stopped, "CONT");
    assert!(
        err.contains("1 of 2 host(s) could not make") && err.contains("h2: the host left"),
        "{err}"
    );
    let out = group
        .weft_ok(&["submit", "fib", "fib(9, 1)", "--wait"])
        .unwrap();
    assert_eq!(out.lines().nth(1), Some("34"), "{out}");
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([format!("-{name}"), pid.to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill -{name} {pid}");
}

#[test]
fn the_timeline_has_an_event_per_attempt_and_detail_a_task_history() {
    let group = cluster(1, &["h1", "h2"]);
    let ids = runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let ids = tasks
            .submit_batch((0..50).map(|i| add(i, 1)).collect())
            .await
            .unwrap();
        let results = tasks.get(&ids, Some(Duration::from_secs(60))).await;
        assert!(results.unwrap().iter().all(|r| r.ok));
        ids
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("trace.json");
    let out = group
        .weft_ok(&["timeline", "-o", file.to_str().unwrap()])
        .unwrap();
    assert!(out.starts_with("wrote 50 task attempts"), "{out}");
    let trace: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let events = trace["traceEvents"].as_array().unwrap();
    let hosts: BTreeSet<(u64, String)> = events
        .iter()
        .filter(|e| e["ph"] == "M")
        .map(|e| (e["pid"].as_u64().unwrap(), e["args"]["name"].to_string()))
        .collect();
    let attempts: Vec<&serde_json::Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(attempts.len(), 50);
    for e in &attempts {
        assert_eq!(e["name"], "testkit.add", "{e}");
        assert_eq!(e["args"]["outcome"], "finished", "{e}");
        assert!(e["ts"].as_u64().unwrap() > 0 && e["dur"].is_u64(), "{e}");
        let pid = e["pid"].as_u64().unwrap();
        assert!(
            hosts.iter().any(|(p, _)| *p == pid),
            "{e} has no named host"
        );
    }
    assert!(
        hosts
            .iter()
            .all(|(_, name)| name == "\"h1\"" || name == "\"h2\"")
    );

    let history = group
        .weft_ok(&["list", "tasks", "--detail", &ids[0]])
        .unwrap();
    let lines: Vec<&str> = history.lines().collect();
    assert_eq!(lines.len(), 4, "{history}");
    assert!(lines[0].contains("testkit.add"), "{history}");
    assert!(lines[1].ends_with("submitted"), "{history}");
    assert!(lines[2].contains("scheduled on h"), "{history}");
    assert!(lines[3].contains("finished on h"), "{history}");
}
