//! Streaming tasks on real processes: a guest emits items as it goes
//! (`tasks.emit`), the consumer reads them in order while the task runs,
//! with backpressure, across a killed host, and dropped early.

use std::time::Duration;

use futures::StreamExt;

use weft_client::{Arg, ItemStream, TaskClient, TaskOptions, Value};
use weft_tests::{Group, eventually_async, guests, runtime};

use crate::objects::tasks_host_address;

fn cluster(hosts: &[&str]) -> Group {
    let hosts: Vec<(&str, &[&str])> = hosts.iter().map(|h| (*h, &[][..])).collect();
    Group::with_hosts(1, &hosts, &[(guests::TESTKIT, "testkit")])
}

fn streaming(backpressure: u32) -> TaskOptions {
    TaskOptions {
        streaming: true,
        stream_backpressure: backpressure,
        ..Default::default()
    }
}

/// Submits `streams.count(n, pause_ms, hold_ms)` as a stream.
async fn count(
    tasks: &TaskClient,
    n: u32,
    pause_ms: u32,
    hold_ms: u32,
    options: TaskOptions,
) -> ItemStream {
    let backpressure = options.stream_backpressure > 0;
    let id = tasks
        .submit(
            "testkit",
            "streams.count",
            vec![
                Arg::Value(Value::U32(n)),
                Arg::Value(Value::U32(pause_ms)),
                Arg::Value(Value::U32(hold_ms)),
            ],
            options,
        )
        .await
        .unwrap();
    tasks.stream(&id, backpressure)
}

/// The value of item `id`, which must be a `u32`.
async fn item_value(tasks: &TaskClient, id: &str) -> u32 {
    let value = tasks
        .get_values(&[id.to_string()], Some(Duration::from_secs(30)))
        .await
        .unwrap()
        .remove(0);
    match value {
        Some(Value::U32(n)) => n,
        other => panic!("item {id} is {other:?}"),
    }
}

/// Whether task `id` has finished, asked without waiting.
async fn finished(tasks: &TaskClient, id: &str) -> bool {
    let (ready, _) = tasks
        .wait(&[id.to_string()], 1, Some(Duration::ZERO))
        .await
        .unwrap();
    !ready.is_empty()
}

#[test]
fn ten_thousand_items_arrive_in_order_while_the_task_runs() {
    let group = cluster(&["h1"]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        // The producer holds on for 3 s after its last item: every item is
        // read while it still runs.
        let mut items = count(&tasks, 10_000, 0, 3_000, streaming(0)).await;
        let task = items.task_id().to_string();
        let mut n = 0u32;
        while let Some(item) = items.next(Some(Duration::from_secs(30))).await.unwrap() {
            assert_eq!(item, format!("{task}.{n}"));
            assert_eq!(item_value(&tasks, &item).await, n);
            tasks.release(&[item]);
            n += 1;
            if n == 10_000 {
                assert!(
                    !finished(&tasks, &task).await,
                    "every item came before the end"
                );
            }
        }
        assert_eq!(n, 10_000);
        let end = tasks.get(&[task], None).await.unwrap().remove(0);
        assert!(end.ok, "{end:?}");
        assert_eq!(end.items, 10_000);
    });
}

#[test]
fn backpressure_holds_the_producer_until_items_are_read() {
    let group = cluster(&["h1"]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let mut items = count(&tasks, 100, 0, 0, streaming(10)).await;
        let task = items.task_id().to_string();
        for _ in 0..5 {
            items
                .next(Some(Duration::from_secs(30)))
                .await
                .unwrap()
                .unwrap();
        }
        // The producer may run ahead of what was read by 10 items, no more.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            !finished(&tasks, &task).await,
            "the producer ran past its limit"
        );
        assert_eq!(items.buffered(), 10, "5 read + 10 unread emitted");
        // The rest, read as a `futures::Stream`.
        let rest: Vec<String> = items
            .into_stream()
            .map(|item| item.unwrap())
            .collect()
            .await;
        assert_eq!(rest.len(), 95);
        assert_eq!(rest[94], format!("{task}.99"));
    });
}

#[test]
fn a_host_killed_mid_stream_costs_a_retry_and_no_duplicate() {
    let mut group = cluster(&["h1", "h2"]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let options = TaskOptions {
            affinity_host: "h1".into(),
            affinity_soft: true,
            ..streaming(0)
        };
        let mut items = count(&tasks, 40, 50, 0, options).await;
        let mut seen = Vec::new();
        while seen.len() < 10 {
            let item = items
                .next(Some(Duration::from_secs(30)))
                .await
                .unwrap()
                .unwrap();
            seen.push(item_value(&tasks, &item).await);
        }
        group.kill_host("h1");
        while let Some(item) = items.next(Some(Duration::from_secs(60))).await.unwrap() {
            seen.push(item_value(&tasks, &item).await);
        }
        assert_eq!(
            seen,
            (0..40).collect::<Vec<u32>>(),
            "each item once, in order"
        );
        let end = tasks
            .get(&[items.task_id().to_string()], None)
            .await
            .unwrap()
            .remove(0);
        assert!(end.ok && end.attempts == 2 && end.host == "h2", "{end:?}");
    });
}

#[test]
fn without_retries_a_killed_host_ends_the_stream_with_its_failure() {
    let mut group = cluster(&["h1"]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let options = TaskOptions {
            has_max_retries: true,
            max_retries: 0,
            ..streaming(0)
        };
        let mut items = count(&tasks, 1_000, 50, 0, options).await;
        for _ in 0..5 {
            items
                .next(Some(Duration::from_secs(30)))
                .await
                .unwrap()
                .unwrap();
        }
        group.kill_host("h1");
        let mut more = 0;
        let err = loop {
            match items.next(Some(Duration::from_secs(60))).await {
                Ok(Some(_)) => more += 1,
                Ok(None) => panic!("the stream ended as if it had finished"),
                Err(e) => break e,
            }
        };
        assert!(more < 995, "the items so far, then the failure");
        let message = err.to_string();
        assert!(message.contains("h1"), "{message}");
        assert_eq!(
            items.next(None).await.unwrap(),
            None,
            "a failed stream is over"
        );
    });
}

#[test]
fn a_dropped_stream_frees_its_producer_and_its_items() {
    let group = cluster(&["h1"]);
    let address = tasks_host_address(&group, "h1");
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let used = || async {
            weft_client::objects::store_stats(&address, 0)
                .await
                .unwrap()
                .used
        };
        let baseline = used().await;
        // 1 MiB items live in the host's store; the producer waits after 4
        // unread.
        let id = tasks
            .submit(
                "testkit",
                "streams.blobs",
                vec![Arg::Value(Value::U32(1_000)), Arg::Value(Value::U32(1024))],
                streaming(4),
            )
            .await
            .unwrap();
        let mut items = tasks.stream(&id, true);
        let first = items
            .next(Some(Duration::from_secs(30)))
            .await
            .unwrap()
            .unwrap();
        let bytes = tasks.get_object(&first, None).await.unwrap();
        assert_eq!(bytes.len(), 1 << 20);
        // Read in place from the host's shared memory: the pin goes with it.
        drop(bytes);
        tasks.release(&[first]);
        eventually_async(Duration::from_secs(10), || async {
            (items.buffered() >= 4)
                .then_some(())
                .ok_or("the producer did not fill its window")
        })
        .await
        .unwrap();
        drop(items);
        let end = tasks
            .get(&[id], Some(Duration::from_secs(30)))
            .await
            .unwrap()
            .remove(0);
        assert_eq!(
            end.failure_kind(),
            weft_proto::FailureKind::Canceled,
            "{end:?}"
        );
        let mut now = 0;
        for _ in 0..100 {
            now = used().await;
            if now == baseline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let left = weft_client::objects::store_stats(&address, 5)
            .await
            .unwrap();
        assert_eq!(now, baseline, "the store is back to its baseline: {left:?}");
        let running = group
            .weft_ok(&["list", "tasks", "--state", "running"])
            .unwrap();
        assert!(!running.contains("blobs"), "{running}");
    });
}

#[test]
fn a_guest_reads_a_stream_it_submitted() {
    let group = cluster(&["h1"]);
    let out = group
        .weft_ok(&[
            "submit",
            "testkit",
            "streams.sum(\"testkit\", 1000)",
            "--wait",
        ])
        .unwrap();
    assert_eq!(out.lines().nth(1), Some("499500"), "{out}");
}

#[test]
fn the_cli_prints_items_as_they_come_and_a_plain_task_cannot_emit() {
    let group = cluster(&["h1"]);
    let out = group
        .weft_ok(&["submit", "testkit", "streams.count(3, 0, 0)", "--stream"])
        .unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[1..], ["0", "1", "2", "3"], "{out}");
    let err = group
        .weft_err(&[
            "submit",
            "testkit",
            "streams.count(3, 0, 0)",
            "--wait",
            "--max-retries",
            "0",
        ])
        .unwrap();
    assert!(err.contains("is not streaming"), "{err}");
}

#[test]
fn an_actor_method_streams_its_items_to_the_caller() {
    let group = cluster(&["h1"]);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let actor = tasks
            .create_actor("testkit", "", "", Default::default())
            .await
            .unwrap();
        let count = |n: u32| {
            vec![
                Arg::Value(Value::U32(n)),
                Arg::Value(Value::U32(0)),
                Arg::Value(Value::U32(0)),
            ]
        };
        for round in 0..2 {
            let mut items = tasks
                .call_stream(&actor, "streams.count", count(200))
                .unwrap();
            let mut seen = Vec::new();
            while let Some(item) = items.next(Some(Duration::from_secs(30))).await.unwrap() {
                seen.push(item_value(&tasks, &item).await);
                tasks.release(&[item]);
            }
            assert_eq!(seen, (0..200).collect::<Vec<u32>>(), "round {round}");
            let end = tasks
                .get_values(&[items.task_id().to_string()], None)
                .await
                .unwrap();
            assert_eq!(end, vec![Some(Value::U32(200))]);
        }
        // A plain call of the same method cannot emit.
        let plain = tasks.call(&actor, "streams.count", count(1)).unwrap();
        let result = tasks.get(&[plain], None).await.unwrap().remove(0);
        assert!(result.error.contains("is not streaming"), "{result:?}");
    });
}
