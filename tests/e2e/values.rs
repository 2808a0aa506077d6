//! Values end to end on real processes: bytes travel as bytes (a 100 MiB
//! `list<u8>` argument and result, with the host's memory measured), put
//! objects reach `list<u8>` parameters and guests read back what they put,
//! and refs nested in results are found by type and keep their objects
//! alive until the result goes.

use std::time::{Duration, Instant};

use weft_client::objects::store_stats;
use weft_client::{Arg, TaskClient, TaskOptions, Value};
use weft_tests::{
    Group, eventually_async, fact, fnv, guests, pattern, reset_peak_rss, rss, runtime,
};

const MIB: usize = 1 << 20;
const LONG: Option<Duration> = Some(Duration::from_secs(120));

fn one_host() -> Group {
    Group::with_hosts(1, &[("h1", &[])], &[(guests::TESTKIT, "testkit")])
}

#[test]
fn a_100mib_byte_list_reaches_a_guest_and_comes_back_as_bytes() {
    let group = one_host();
    let pid = group.host_pid("h1").expect("h1 runs");
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        // Warm the component first, so the measurement is the value's.
        let warm = tasks
            .submit("testkit", "values.echo-bytes", vec![Arg::bytes(vec![1, 2, 3])], TaskOptions::default())
            .await
            .unwrap();
        let r = tasks.get(&[warm], LONG).await.unwrap().remove(0);
        assert_eq!(weft_client::value_of(r).unwrap(), Some(Value::from(vec![1, 2, 3])));

        let data = pattern(100 * MIB, 9);
        reset_peak_rss(pid).unwrap();
        let (before, _) = rss(pid).unwrap();
        let started = Instant::now();
        let id = tasks
            .submit("testkit", "values.echo-bytes", vec![Arg::bytes(data.clone())], TaskOptions::default())
            .await
            .unwrap();
        let (done, _) = tasks.wait(std::slice::from_ref(&id), 1, LONG).await.unwrap();
        let elapsed = started.elapsed();
        let (_, peak) = rss(pid).unwrap();
        assert!(done[0].ok, "{}", done[0].error);
        assert_eq!(done[0].held_by, "h1", "a large result stays in the host's store");
        let object = tasks.get_object(&id, LONG).await.unwrap();
        assert!(object.is_bytes(), "the result is a list<u8>");
        assert!(object[..] == data[..], "every byte came back");
        let growth = peak.saturating_sub(before);
        eprintln!(
            "100 MiB echo: {:.2}s end to end; host rss {} MiB before, peak {} MiB (+{} MiB, {:.2}x the value)",
            elapsed.as_secs_f64(),
            before >> 20,
            peak >> 20,
            growth >> 20,
            growth as f64 / data.len() as f64
        );
        assert!(
            growth < 3 * data.len() as u64,
            "the host grew by {} MiB for a 100 MiB value",
            growth >> 20
        );
    });
}

#[test]
fn put_objects_reach_byte_parameters_and_guests_read_back_what_they_put() {
    let group = one_host();
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        for len in [0, 10, 64 << 10, 3 * MIB] {
            let data = pattern(len, 4);
            let object = tasks.put(&data).await.unwrap();
            let sum = tasks
                .submit(
                    "testkit",
                    "checksum-bytes",
                    vec![Arg::Ref(object.clone())],
                    TaskOptions::default(),
                )
                .await
                .unwrap();
            let echoed = tasks
                .submit(
                    "testkit",
                    "values.echo-bytes",
                    vec![Arg::Ref(object)],
                    TaskOptions::default(),
                )
                .await
                .unwrap();
            let checked = tasks
                .submit(
                    "testkit",
                    "put-get",
                    vec![Arg::bytes(data.clone())],
                    TaskOptions::default(),
                )
                .await
                .unwrap();
            let values = match tasks.get_values(&[sum, echoed, checked], LONG).await {
                Ok(v) => v,
                Err(e) => panic!("{e}\n{}", group.diagnosis()),
            };
            assert_eq!(
                values[0],
                Some(Value::U64(fnv(&data))),
                "{len} bytes by ref"
            );
            assert_eq!(
                values[1],
                Some(Value::from(data.clone())),
                "{len} bytes echoed"
            );
            assert_eq!(
                values[2],
                Some(Value::String(String::new())),
                "{len} bytes put and read by the guest"
            );
        }
    });
}

#[test]
fn refs_nested_in_a_result_keep_their_objects_until_it_goes() {
    let group = one_host();
    let store = crate::objects::tasks_host_address(&group, "h1");
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let baseline = store_stats(&store, 0).await.unwrap().used;
        // Three 1 MiB objects (in the store, not inline), refs in a record.
        let id = tasks
            .submit(
                "testkit",
                "refs.make-bundle",
                vec![Arg::wave("1024"), Arg::wave("3")],
                TaskOptions::default(),
            )
            .await
            .unwrap();
        let result = tasks
            .get(std::slice::from_ref(&id), LONG)
            .await
            .unwrap()
            .remove(0);
        assert!(result.ok, "{}", result.error);
        assert_eq!(
            result.contains.len(),
            3,
            "the result holds the refs it contains"
        );
        let Some(Value::Record(fields)) = weft_client::value_of(result.clone()).unwrap() else {
            panic!("a record")
        };
        let Value::ObjectRef(first) = &fields[1].1 else {
            panic!("an object ref, by type: {fields:?}")
        };
        let value = weft_client::value_of(result).unwrap().unwrap();
        let refs = value.refs();
        assert_eq!(
            refs.len(),
            3,
            "first, rest and maybe share their refs: {refs:?}"
        );
        assert_eq!(&refs[0], first);

        // The guest's task has ended; its objects live on with the result.
        // Nothing is to happen here, so no fact marks the moment: a grace
        // period gives a wrong release time to land before the reads.
        tokio::time::sleep(Duration::from_millis(500)).await;
        for (seed, r) in refs.iter().enumerate() {
            let sum = tasks
                .submit(
                    "testkit",
                    "checksum",
                    vec![Arg::Ref(r.clone())],
                    TaskOptions::default(),
                )
                .await
                .unwrap();
            let got = tasks
                .get_values(std::slice::from_ref(&sum), LONG)
                .await
                .unwrap();
            assert_eq!(
                got[0],
                Some(Value::U64(fnv(&pattern(1 << 20, seed as u32))))
            );
            tasks.release(&[sum]);
        }
        assert!(store_stats(&store, 0).await.unwrap().used >= baseline + 3 * MIB as u64);

        // The result goes: so do the objects it held.
        tasks.release(&[id]);
        eventually_async(Duration::from_secs(15), || async {
            let used = store_stats(&store, 10).await.unwrap();
            fact(used.used == baseline, || {
                format!("objects outlived their result: {used:?}")
            })
        })
        .await
        .unwrap();
    });
}

#[test]
fn a_record_shaped_like_a_ref_is_still_a_record() {
    let group = one_host();
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let id = tasks
            .submit(
                "testkit",
                "refs.echo-lookalike",
                vec![Arg::wave(r#"{id: "not-a-ref"}"#)],
                TaskOptions::default(),
            )
            .await
            .unwrap();
        let result = tasks.get(&[id], LONG).await.unwrap().remove(0);
        assert!(result.contains.is_empty());
        let value = weft_client::value_of(result).unwrap().unwrap();
        assert_eq!(
            value,
            Value::Record(vec![("id".into(), Value::String("not-a-ref".into()))])
        );
        assert!(value.refs().is_empty());
    });
}

#[test]
fn arguments_that_do_not_fit_are_refused_by_the_caller_naming_them() {
    let group = one_host();
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let err = tasks
            .submit(
                "testkit",
                "add",
                vec![Arg::wave("1"), Arg::wave("\"two\"")],
                TaskOptions::default(),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("argument 2 (`b`)") && err.contains("s32"),
            "{err}"
        );
        let err = tasks
            .submit(
                "testkit",
                "nope",
                vec![Arg::wave("1")],
                TaskOptions::default(),
            )
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope") && err.contains("add"), "{err}");
        // A value of the wrong type sent as is: the host refuses it.
        let id = tasks
            .submit(
                "testkit",
                "add",
                vec![
                    Arg::Value(Value::S32(1)),
                    Arg::Value(Value::String("x".into())),
                ],
                TaskOptions::default(),
            )
            .await
            .unwrap();
        let r = tasks.get(&[id], LONG).await.unwrap().remove(0);
        assert!(!r.ok);
        assert_eq!(r.failure_kind().as_str(), "bad-argument");
        assert!(
            r.error.contains("expected s32, got a string"),
            "{}",
            r.error
        );
    });
}
