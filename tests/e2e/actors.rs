//! Actors on real processes: a controller group and `weft host` workers
//! on loopback ports, actors created and called through the Rust client,
//! the CLI and guests, hosts and leaders killed with SIGKILL.

use std::time::Duration;

use weft_client::{
    ActorHandle, ActorOptions, ActorState, Arg, Submission, TaskClient, TaskOptions,
};
use weft_tests::{Group, eventually, eventually_async, fact, guests, runtime};

/// `replicas` controllers and worker hosts, with the counter and
/// accumulator components deployed.
fn cluster(replicas: usize, hosts: &[&str]) -> Group {
    let hosts: Vec<(&str, &[&str])> = hosts.iter().map(|h| (*h, &[][..])).collect();
    Group::with_hosts(
        replicas,
        &hosts,
        &[
            (guests::COUNTER, "counter"),
            (guests::ACCUMULATE, "accumulate"),
        ],
    )
}

const LONG: Option<Duration> = Some(Duration::from_secs(60));

async fn call(
    client: &TaskClient,
    actor: &ActorHandle,
    method: &str,
    args: &[&str],
) -> Result<String, String> {
    let id = client
        .call(actor, method, args.iter().map(|a| Arg::wave(*a)).collect())
        .unwrap();
    let result = client.get(&[id], LONG).await.unwrap().remove(0);
    if result.ok {
        Ok(crate::wave(&result))
    } else {
        Err(format!(
            "{}: {}",
            result.failure_kind().as_str(),
            result.error
        ))
    }
}

/// A counter actor that starts at `start`.
async fn new_counter(client: &TaskClient, start: u64, options: ActorOptions) -> ActorHandle {
    client
        .create_actor("counter", "counter", &format!("new({start})"), options)
        .await
        .unwrap()
}

/// An empty accumulator actor.
async fn new_accumulator(client: &TaskClient) -> ActorHandle {
    client
        .create_actor(
            "accumulate",
            "accumulator",
            "new()",
            ActorOptions::default(),
        )
        .await
        .unwrap()
}

/// Waits until `check` holds for the actor's record.
async fn await_record(
    client: &TaskClient,
    actor: &ActorHandle,
    what: &str,
    check: impl Fn(&weft_client::ActorRecord) -> bool,
) -> weft_client::ActorRecord {
    eventually_async(Duration::from_secs(30), || async {
        let record = client.describe_actor(actor).await.unwrap();
        if check(&record) {
            Ok(record)
        } else {
            Err(format!("{what}: {record:?}"))
        }
    })
    .await
    .unwrap()
}

#[test]
fn ten_thousand_calls_to_a_counter_return_one_to_ten_thousand_in_order() {
    let group = cluster(1, &["h1"]);
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let counter = new_counter(&client, 0, ActorOptions::default()).await;
        let refs: Vec<String> = (0..10_000)
            .map(|_| client.call(&counter, "incr", vec![]).unwrap())
            .collect();
        let values = crate::waves(&client.get_values(&refs, LONG).await.unwrap());
        for (i, v) in values.iter().enumerate() {
            assert_eq!(*v, (i + 1).to_string(), "call {i}");
        }
        assert_eq!(call(&client, &counter, "get", &[]).await.unwrap(), "10000");
    });
}

#[test]
fn a_named_actor_is_found_from_a_second_client_and_its_name_is_unique() {
    let group = cluster(1, &["h1"]);
    runtime().block_on(async {
        let first = TaskClient::connect(&group.addresses()).await.unwrap();
        let options = ActorOptions {
            name: "hits".into(),
            namespace: "web".into(),
            ..Default::default()
        };
        let made = new_counter(&first, 41, options.clone()).await;
        assert_eq!(call(&first, &made, "incr", &[]).await.unwrap(), "42");

        let second = TaskClient::connect(&group.addresses()).await.unwrap();
        let found = second.get_actor("hits", "web").await.unwrap();
        assert_eq!(found, made);
        assert_eq!(call(&second, &found, "incr", &[]).await.unwrap(), "43");
        let missing = second.get_actor("hits", "default").await.unwrap_err();
        assert!(
            missing.to_string().contains("no actor named `hits`"),
            "{missing}"
        );

        let taken = second
            .create_actor("counter", "counter", "new(0)", options)
            .await
            .unwrap_err();
        assert!(taken.to_string().contains("already lives"), "{taken}");
    });
}

#[test]
fn a_detached_actor_outlives_its_client_and_an_owned_one_dies_with_it() {
    let group = cluster(1, &["h1"]);
    let (kept, owned) = runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let detached = ActorOptions {
            name: "kept".into(),
            detached: true,
            ..Default::default()
        };
        let kept = new_counter(&client, 0, detached).await;
        let owned = new_counter(&client, 0, ActorOptions::default()).await;
        assert_eq!(call(&client, &kept, "incr", &[]).await.unwrap(), "1");
        assert_eq!(call(&client, &owned, "incr", &[]).await.unwrap(), "1");
        (kept, owned)
    });
    // The first client and its runtime are gone; its session ended.
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let record = await_record(&client, &owned, "the owned actor dies", |r| {
            r.state() == ActorState::Dead
        })
        .await;
        assert!(record.cause.contains("owner"), "{}", record.cause);
        let err = call(&client, &owned, "incr", &[]).await.unwrap_err();
        assert!(err.starts_with("actor-died"), "{err}");
        assert_eq!(
            client.describe_actor(&kept).await.unwrap().state(),
            ActorState::Alive
        );
        assert_eq!(call(&client, &kept, "incr", &[]).await.unwrap(), "2");
    });
}

#[test]
fn a_killed_host_restarts_its_actor_elsewhere_from_its_last_checkpoint() {
    let mut group = cluster(1, &["h1", "h2"]);
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        // A call sent before the caller sees the host die is tried again
        // on the restarted actor.
        let options = ActorOptions {
            max_restarts: 1,
            max_task_retries: 1,
            checkpoint_every_calls: 1,
            ..Default::default()
        };
        let counter = new_counter(&client, 0, options).await;
        for i in 1..=5 {
            assert_eq!(
                call(&client, &counter, "incr", &[]).await.unwrap(),
                i.to_string()
            );
        }
        let before = await_record(&client, &counter, "checkpoint of call 5", |r| {
            r.checkpoint_calls == 5
        })
        .await;
        group.kill_host(&before.host.clone());
        // The next call waits for the restart, then finds the count at 5.
        assert_eq!(call(&client, &counter, "incr", &[]).await.unwrap(), "6");
        let after = client.describe_actor(&counter).await.unwrap();
        assert_ne!(after.host, before.host);
        assert_eq!(after.restarts, 1);
        assert!(after.cause.contains(&before.host), "{}", after.cause);
    });
}

#[test]
fn a_call_whose_max_task_retries_run_out_fails_naming_them() {
    let hosts: &[(&str, &[&str])] = &[("h1", &[]), ("h2", &[]), ("h3", &[])];
    let mut group = Group::with_hosts(1, hosts, &[(guests::TESTKIT, "testkit")]);
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let options = ActorOptions {
            max_restarts: 2,
            max_task_retries: 1,
            ..Default::default()
        };
        let actor = client
            .create_actor("testkit", "", "", options)
            .await
            .unwrap();
        // A slow call is in flight while its host dies, twice: the first
        // death costs its one retry, the second fails it.
        let slow = client
            .call(&actor, "drip", vec![Arg::wave("1"), Arg::wave("4000")])
            .unwrap();
        let mut killed = Vec::new();
        for round in 1..=2u32 {
            let record = await_record(&client, &actor, "alive again", |r| {
                r.state() == ActorState::Alive && r.restarts == round - 1
            })
            .await;
            // The call is in flight once its guest has printed its first
            // line in this incarnation (read from the host it runs on).
            eventually(Duration::from_secs(20), || {
                let log = group.weft_ok(&["logs", &actor.id]).unwrap_or_default();
                log.contains("drip 0").then_some(()).ok_or(log)
            })
            .unwrap();
            killed.push(record.host.clone());
            group.kill_host(&record.host);
        }
        let result = client
            .get(&[slow], Some(Duration::from_secs(60)))
            .await
            .unwrap()
            .remove(0);
        assert!(!result.ok, "{result:?}");
        assert!(
            result.error.contains("tried 2 times (max_task_retries 1)"),
            "{}",
            result.error
        );
        // The actor itself lives on, restarted a second time.
        let id = client
            .call(&actor, "add", vec![Arg::wave("1"), Arg::wave("2")])
            .unwrap();
        let value = client
            .get_values(&[id], Some(Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(value, vec![Some(weft_client::Value::S32(3))]);
        let record = client.describe_actor(&actor).await.unwrap();
        assert_eq!(record.restarts, 2);
        assert!(!killed.contains(&record.host), "{killed:?} {}", record.host);
    });
}

#[test]
fn a_trapping_method_fails_that_call_and_restarts_the_actor_until_restarts_run_out() {
    let group = cluster(1, &["h1"]);
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let options = ActorOptions {
            max_restarts: 1,
            ..Default::default()
        };
        let counter = new_counter(&client, 10, options).await;
        assert_eq!(call(&client, &counter, "incr", &[]).await.unwrap(), "11");
        // The calls after the trap wait for the restart and run, in order,
        // on the fresh instance (no checkpoints: it starts from its
        // constructor again).
        let trap = client
            .call(&counter, "fail", vec![Arg::wave("\"boom\"")])
            .unwrap();
        let next = client.call(&counter, "incr", vec![]).unwrap();
        let then = client.call(&counter, "incr", vec![]).unwrap();
        let results = client.get(&[trap, next, then], LONG).await.unwrap();
        assert!(!results[0].ok);
        assert_eq!(results[0].failure_kind().as_str(), "trap");
        assert!(results[0].error.contains("boom"), "{}", results[0].error);
        assert_eq!(
            (crate::wave(&results[1]), crate::wave(&results[2])),
            ("11".to_string(), "12".to_string())
        );
        let record = client.describe_actor(&counter).await.unwrap();
        assert_eq!((record.restarts, record.state()), (1, ActorState::Alive));
        assert!(record.cause.contains("boom"), "{}", record.cause);

        // A second trap exhausts max_restarts: the actor is dead, and the
        // error says why.
        let err = call(&client, &counter, "fail", &["\"again\""])
            .await
            .unwrap_err();
        assert!(err.starts_with("trap"), "{err}");
        let err = call(&client, &counter, "incr", &[]).await.unwrap_err();
        assert!(err.starts_with("actor-died"), "{err}");
        assert!(
            err.contains("again") && err.contains("after 1 restarts"),
            "{err}"
        );
    });
}

#[test]
fn the_cli_creates_calls_lists_and_kills_actors() {
    let group = cluster(1, &["h1"]);
    let id = group
        .weft_ok(&[
            "actor", "create", "counter", "counter", "new(5)", "--name", "tally",
        ])
        .unwrap();
    assert!(id.trim().starts_with("actor-"), "{id}");
    assert_eq!(
        group
            .weft_ok(&["actor", "call", "tally", "add(3)"])
            .unwrap()
            .trim(),
        "8"
    );
    assert_eq!(
        group
            .weft_ok(&["actor", "call", id.trim(), "incr()"])
            .unwrap()
            .trim(),
        "9"
    );
    let list = group.weft_ok(&["actor", "list"]).unwrap();
    assert!(list.contains("tally") && list.contains("alive"), "{list}");
    let err = group
        .weft_err(&["actor", "call", "tally", "add(\"x\")"])
        .unwrap();
    assert!(err.contains("add"), "{err}");
    let err = group
        .weft_err(&["actor", "call", "tally", "nosuch()"])
        .unwrap();
    assert!(err.contains("nosuch") && err.contains("incr"), "{err}");

    assert!(
        group
            .weft_ok(&["actor", "kill", "tally"])
            .unwrap()
            .contains("killed")
    );
    let err = group
        .weft_err(&["actor", "call", "tally", "incr()"])
        .unwrap();
    assert!(err.contains("died") && err.contains("killed"), "{err}");
    let list = group.weft_ok(&["actor", "list"]).unwrap();
    assert!(list.contains("dead"), "{list}");
}

/// What an actor's instance prints is its log, read with `weft logs` by
/// the actor's id, across its restarts (the same log, in order); its life
/// is in the leader's history beside the tasks'.
#[test]
fn an_actors_output_is_its_log_and_its_life_is_in_the_history() {
    let group = cluster(1, &["h1"]);
    let id = group
        .weft_ok(&[
            "actor",
            "create",
            "counter",
            "counter",
            "new(0)",
            "--name",
            "loud",
            "--max-restarts",
            "3",
        ])
        .unwrap();
    let id = id.trim();
    for boom in ["first boom", "second boom"] {
        // A call right after a restart may meet the actor still starting.
        eventually(Duration::from_secs(30), || {
            let err = group
                .weft_err(&["actor", "call", "loud", &format!("fail(\"{boom}\")")])
                .unwrap();
            fact(err.contains(boom), || err.clone())
        })
        .unwrap();
    }
    let log = group.weft_ok(&["logs", id]).unwrap();
    let first = log
        .find("first boom")
        .expect("the first panic is in the log");
    let second = log
        .find("second boom")
        .expect("the second panic is in the log");
    assert!(first < second, "{log}");

    group.weft_ok(&["actor", "kill", "loud"]).unwrap();
    let history = group.weft_ok(&["list", "tasks", "--detail", id]).unwrap();
    let steps: Vec<&str> = history
        .lines()
        .skip(1)
        .map(|l| l.split("ms  ").nth(1).unwrap_or_default())
        .collect();
    assert!(
        history.starts_with(&format!("actor {id}  counter.counter")),
        "{history}"
    );
    let expected = [
        "created",
        "placed on h1 (incarnation 1)",
        "alive on h1",
        "restarting: it trapped on host h1",
        "placed on h1 (incarnation 2)",
        "alive on h1",
        "restarting: it trapped on host h1",
        "placed on h1 (incarnation 3)",
        "alive on h1",
        "dead: ",
    ];
    assert_eq!(steps.len(), expected.len(), "{history}");
    for (step, want) in steps.iter().zip(expected) {
        assert!(
            step.starts_with(want),
            "{step:?} is not {want:?} in\n{history}"
        );
    }
}

#[test]
fn bad_actor_specs_are_refused_with_the_reason() {
    let group = cluster(1, &["h1"]);
    let err = group
        .weft_err(&["actor", "create", "counter", "nosuch", "new()"])
        .unwrap();
    assert!(
        err.contains("nosuch") && err.contains("exported resource"),
        "{err}"
    );
    let err = group
        .weft_err(&["actor", "create", "counter", "counter", "new(\"x\")"])
        .unwrap();
    assert!(err.contains("constructor") && err.contains("died"), "{err}");
    let err = group
        .weft_err(&["actor", "create", "nothing", "counter", "new(0)"])
        .unwrap();
    assert!(err.contains("nothing"), "{err}");
    let err = group
        .weft_err(&[
            "actor",
            "create",
            "counter",
            "counter",
            "new(0)",
            "--max-concurrency",
            "4",
        ])
        .unwrap();
    assert!(err.contains("async func"), "{err}");
    assert!(
        err.contains("incr, add, get, fail"),
        "names the methods: {err}"
    );
}

#[test]
fn an_actor_handle_passed_to_a_hundred_tasks_gathers_all_their_work() {
    let group = cluster(1, &["h1", "h2"]);
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let acc = new_accumulator(&client).await;
        let batch = (1..=100u64)
            .map(|x| Submission {
                component: "accumulate".into(),
                function: "api.square-into".into(),
                args: vec![Arg::wave(acc.wave()), Arg::wave(x.to_string())],
                // Half on each host, so the handle crosses hosts.
                options: TaskOptions {
                    affinity_host: if x % 2 == 0 { "h1" } else { "h2" }.into(),
                    ..Default::default()
                },
            })
            .collect();
        let ids = client.submit_batch(batch).await.unwrap();
        let results = client.get(&ids, LONG).await.unwrap();
        let hosts: std::collections::BTreeSet<&str> =
            results.iter().map(|r| r.host.as_str()).collect();
        for r in &results {
            assert!(r.ok, "{}", r.error);
        }
        assert_eq!(hosts.len(), 2, "tasks on both hosts: {hosts:?}");
        assert_eq!(call(&client, &acc, "count", &[]).await.unwrap(), "100");
        assert_eq!(call(&client, &acc, "total", &[]).await.unwrap(), "338350");

        // An actor call's result passes to a task by value.
        let total = client.call(&acc, "total", vec![]).unwrap();
        let square = client
            .submit(
                "accumulate",
                "api.square-into",
                vec![Arg::wave(acc.wave()), Arg::Ref(total)],
                TaskOptions::default(),
            )
            .await
            .unwrap();
        let value = crate::waves(&client.get_values(&[square], LONG).await.unwrap());
        assert_eq!(value[0], (338350u64 * 338350).to_string());

        // A handle passes to another actor, which calls it.
        let other = new_accumulator(&client).await;
        assert_eq!(call(&client, &other, "add", &["5"]).await.unwrap(), "5");
        let total = call(&client, &acc, "absorb", &[&other.wave()])
            .await
            .unwrap();
        assert_eq!(total, (338350u64 * 338350 + 338350 + 5).to_string());
    });
    // A guest drives it all: makes the actor, maps over it, reads it.
    let out = group
        .weft_ok(&["submit", "accumulate", "api.sum-of-squares(20)", "--wait"])
        .unwrap();
    assert_eq!(out.lines().nth(1), Some("2870"), "{out}");
}

#[test]
fn an_actor_outlives_a_leader_failover() {
    let mut group = cluster(3, &["h1"]);
    let leader = group.wait_for_leader(Duration::from_secs(20)).unwrap();
    let id = group
        .weft_ok(&[
            "actor", "create", "counter", "counter", "new(0)", "--name", "survivor",
        ])
        .unwrap();
    assert_eq!(
        group
            .weft_ok(&["actor", "call", "survivor", "incr()"])
            .unwrap()
            .trim(),
        "1"
    );
    group.kill(leader);
    let next = group.wait_for_leader(Duration::from_secs(20)).unwrap();
    assert_ne!(next, leader);
    // The same instance answers (its count went on), found by name through
    // the new leader.
    let value = eventually(Duration::from_secs(30), || {
        group.weft_ok(&["actor", "call", "survivor", "incr()"])
    })
    .unwrap();
    assert_eq!(value.trim(), "2");
    let list = group.weft_ok(&["actor", "list"]).unwrap();
    assert!(
        list.contains(id.trim()) && list.contains("alive") && list.contains("restarts 0/0"),
        "{list}"
    );
}

#[test]
fn time_based_checkpoints_save_an_idle_actor_and_a_trap_resumes_from_them() {
    let group = cluster(1, &["h1"]);
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let options = ActorOptions {
            max_restarts: 1,
            checkpoint_every_ms: 100,
            ..Default::default()
        };
        let counter = new_counter(&client, 0, options).await;
        for _ in 0..3 {
            call(&client, &counter, "incr", &[]).await.unwrap();
        }
        // No call comes after the third: the timer saves it anyway.
        await_record(&client, &counter, "a checkpoint of call 3", |r| {
            r.checkpoint_calls == 3
        })
        .await;
        call(&client, &counter, "fail", &["\"boom\""])
            .await
            .unwrap_err();
        assert_eq!(call(&client, &counter, "get", &[]).await.unwrap(), "3");
    });
}

#[test]
fn an_instance_actor_keeps_state_and_restarts_after_an_endless_or_greedy_call() {
    let hosts: &[(&str, &[&str])] = &[("h1", &[])];
    let group = Group::with_hosts(1, hosts, &[(guests::TESTKIT, "testkit")]);
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let options = ActorOptions {
            max_restarts: 2,
            call_timeout_ms: 1000,
            memory_limit_bytes: 64 << 20,
            ..Default::default()
        };
        // No class: the component's own functions share one instance.
        let kit = client
            .create_actor("testkit", "", "", options)
            .await
            .unwrap();
        assert_eq!(call(&client, &kit, "tally", &[]).await.unwrap(), "1");
        assert_eq!(call(&client, &kit, "tally", &[]).await.unwrap(), "2");
        let err = call(&client, &kit, "spin", &[]).await.unwrap_err();
        assert!(err.starts_with("timeout"), "{err}");
        assert_eq!(
            call(&client, &kit, "tally", &[]).await.unwrap(),
            "1",
            "a fresh instance"
        );
        let err = call(&client, &kit, "hog", &["512"]).await.unwrap_err();
        assert!(err.starts_with("memory"), "{err}");
        assert_eq!(call(&client, &kit, "add", &["1", "2"]).await.unwrap(), "3");
        let record = client.describe_actor(&kit).await.unwrap();
        assert_eq!((record.restarts, record.state()), (2, ActorState::Alive));
    });
}

#[test]
fn a_checkpoint_over_the_limit_is_refused_by_name_and_the_actor_carries_on() {
    // The counter's checkpoint is 8 bytes: a 4-byte limit refuses them all.
    let mut group = Group::start(1, &["--host-timeout", "2", "--max-checkpoint-bytes", "4"])
        .expect("controller starts");
    group
        .wait_for_leader(Duration::from_secs(20))
        .expect("a leader");
    group.start_host("h1", 2, &[]).expect("host starts");
    group
        .weft_ok(&["deploy", guests::COUNTER, "--name", "counter"])
        .expect("deploy");
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let options = ActorOptions {
            checkpoint_every_calls: 1,
            ..Default::default()
        };
        let counter = new_counter(&client, 0, options).await;
        assert_eq!(call(&client, &counter, "incr", &[]).await.unwrap(), "1");
        let record = await_record(&client, &counter, "a refused checkpoint", |r| {
            !r.checkpoint_error.is_empty()
        })
        .await;
        assert!(
            record.checkpoint_error.contains("over the limit of 4 B")
                && record.checkpoint_error.contains("--max-checkpoint-bytes"),
            "{}",
            record.checkpoint_error
        );
        assert!(
            record.checkpoint.is_empty(),
            "nothing over the limit is kept"
        );
        assert_eq!(call(&client, &counter, "incr", &[]).await.unwrap(), "2");
    });
    let listed = group.weft_ok(&["actor", "list"]).unwrap();
    assert!(listed.contains("checkpoint refused"), "{listed}");
}
