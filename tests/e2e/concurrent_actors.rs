//! Concurrent actors on real processes: an actor whose methods are `async
//! func` exports takes up to `max_concurrency` calls at once in its one
//! instance, interleaved where they await; concurrency groups bound each
//! group apart; a trap fails the calls in flight; an actor with plain
//! exports asked for concurrency is refused.

use std::time::{Duration, Instant};

use weft_client::{ActorHandle, ActorOptions, Arg, TaskClient, Value};
use weft_tests::{Group, guests, runtime};

fn cluster() -> Group {
    Group::with_hosts(
        1,
        &[("h1", &[][..])],
        &[
            (guests::ASYNC_ACTOR, "async-actor"),
            (guests::TESTKIT, "testkit"),
        ],
    )
}

async fn actor(tasks: &TaskClient, options: ActorOptions) -> ActorHandle {
    tasks
        .create_actor("async-actor", "", "", options)
        .await
        .unwrap()
}

/// Calls `method(args)` `n` times at once; the time until every call
/// answered, and their values.
async fn fan(
    tasks: &TaskClient,
    actor: &ActorHandle,
    n: usize,
    method: &str,
    args: Vec<Arg>,
) -> (Duration, Vec<Option<Value>>) {
    let started = Instant::now();
    let ids: Vec<String> = (0..n)
        .map(|_| tasks.call(actor, method, args.clone()).unwrap())
        .collect();
    let values = tasks
        .get_values(&ids, Some(Duration::from_secs(120)))
        .await
        .unwrap();
    (started.elapsed(), values)
}

async fn peak(tasks: &TaskClient, actor: &ActorHandle) -> u32 {
    let id = tasks.call(actor, "peak", vec![]).unwrap();
    match tasks.get_values(&[id], None).await.unwrap().remove(0) {
        Some(Value::U32(n)) => n,
        other => panic!("peak is {other:?}"),
    }
}

#[test]
fn a_hundred_calls_awaiting_nested_tasks_run_at_once() {
    let group = cluster();
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let options = ActorOptions {
            max_concurrency: 100,
            ..Default::default()
        };
        let concurrent = actor(&tasks, options).await;
        let args = vec![
            Arg::Value(Value::String("testkit".into())),
            Arg::Value(Value::U32(200)),
        ];
        let (took, values) = fan(&tasks, &concurrent, 100, "nested-nap", args.clone()).await;
        assert!(
            values.iter().all(|v| *v == Some(Value::U32(200))),
            "{values:?}"
        );
        // One after another they would take 20 s.
        assert!(took < Duration::from_secs(8), "100 calls took {took:?}");
        assert!(peak(&tasks, &concurrent).await > 10, "calls overlapped");

        // The same actor with max_concurrency 1 runs them in turn.
        let serial = actor(&tasks, ActorOptions::default()).await;
        let (took, _) = fan(&tasks, &serial, 5, "nested-nap", args).await;
        assert!(
            took >= Duration::from_millis(1000),
            "5 serial calls took {took:?}"
        );
        assert_eq!(peak(&tasks, &serial).await, 1);
    });
}

#[test]
fn concurrency_groups_bound_each_group_apart() {
    let group = cluster();
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let options = ActorOptions {
            max_concurrency: 50,
            concurrency_groups: [("slow".to_string(), 2)].into(),
            method_groups: [("nap".to_string(), "slow".to_string())].into(),
            ..Default::default()
        };
        let grouped = actor(&tasks, options).await;
        // `nap` is in group `slow` of 2: 6 naps of 300 ms take 3 rounds.
        let (took, _) = fan(
            &tasks,
            &grouped,
            6,
            "nap",
            vec![Arg::Value(Value::U32(300))],
        )
        .await;
        assert!(
            took >= Duration::from_millis(850),
            "6 naps in 2s took {took:?}"
        );
        assert!(
            took < Duration::from_millis(1800),
            "6 naps in 2s took {took:?}"
        );
        assert_eq!(peak(&tasks, &grouped).await, 2);
        // `nested-nap` stays in the default group of 50.
        let args = vec![
            Arg::Value(Value::String("testkit".into())),
            Arg::Value(Value::U32(300)),
        ];
        let (took, _) = fan(&tasks, &grouped, 20, "nested-nap", args).await;
        assert!(
            took < Duration::from_secs(3),
            "20 default-group calls took {took:?}"
        );
    });
}

#[test]
fn a_trap_fails_the_calls_in_flight_and_the_actor_restarts() {
    let group = cluster();
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let options = ActorOptions {
            max_concurrency: 10,
            max_restarts: 1,
            ..Default::default()
        };
        let concurrent = actor(&tasks, options).await;
        let naps: Vec<String> = (0..3)
            .map(|_| {
                tasks
                    .call(&concurrent, "nap", vec![Arg::Value(Value::U32(2_000))])
                    .unwrap()
            })
            .collect();
        let fail = tasks
            .call(&concurrent, "fail-after", vec![Arg::Value(Value::U32(100))])
            .unwrap();
        let failed = tasks.get(&[fail], None).await.unwrap().remove(0);
        assert!(
            !failed.ok && failed.error.contains("failed on purpose"),
            "{failed:?}"
        );
        for result in tasks.get(&naps, None).await.unwrap() {
            assert!(!result.ok, "{result:?}");
            assert!(
                result.error.contains("failed in another call"),
                "{}",
                result.error
            );
        }
        // Restarted, it answers again.
        let id = tasks
            .call(&concurrent, "nap", vec![Arg::Value(Value::U32(1))])
            .unwrap();
        let again = tasks
            .get_values(&[id], Some(Duration::from_secs(30)))
            .await
            .unwrap();
        assert_eq!(again, vec![Some(Value::U32(1))]);
    });
}

#[test]
fn concurrency_is_refused_for_plain_exports_and_undeclared_groups() {
    let group = cluster();
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        // Why creating an actor of `component` with 4 calls at once and
        // `options` is refused.
        let refused = |component: &'static str, options: ActorOptions| {
            let tasks = tasks.clone();
            async move {
                let options = ActorOptions {
                    max_concurrency: 4,
                    ..options
                };
                tasks
                    .create_actor(component, "", "", options)
                    .await
                    .unwrap_err()
                    .to_string()
            }
        };
        let err = refused("testkit", ActorOptions::default()).await;
        assert!(err.contains("async func"), "{err}");
        assert!(err.contains("busy"), "names the plain methods: {err}");
        let undeclared = ActorOptions {
            method_groups: [("nap".to_string(), "io".to_string())].into(),
            ..Default::default()
        };
        let err = refused("async-actor", undeclared).await;
        assert!(
            err.contains("group `io`") && err.contains("not declared"),
            "{err}"
        );
        let checkpointed = ActorOptions {
            checkpoint_every_calls: 10,
            ..Default::default()
        };
        let err = refused("async-actor", checkpointed).await;
        assert!(err.contains("cannot be checkpointed"), "{err}");
    });
}
