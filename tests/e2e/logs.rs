//! `weft logs`: a task's output, kept on the host that ran it and read
//! from there through the cluster.

use std::time::Duration;

use weft_tests::{Cluster, Group, eventually, guests};

#[test]
fn a_tasks_output_comes_back_in_order_and_a_dead_hosts_is_gone_by_name() {
    let mut group = Group::with_hosts(1, &[("h1", &[])], &[(guests::TESTKIT, "kit")]);
    let run = |call: &str| {
        let id = group.weft_ok(&["submit", "kit", call]).unwrap();
        let id = id.trim().to_string();
        group.weft_ok(&["wait", &id]).unwrap();
        id
    };
    let id = run("chatter(10000)");

    let out = group.weft_ok(&["logs", &id]).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 10_000, "{}", &out[..out.len().min(500)]);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!("line {i} of some chatter from the guest"));
    }
    let tail = group.weft_ok(&["logs", &id, "--tail", "2", "-t"]).unwrap();
    let tail: Vec<&str> = tail.lines().collect();
    assert_eq!(tail.len(), 2, "{tail:?}");
    assert!(
        tail[1].ends_with("Z line 9999 of some chatter from the guest")
            && tail[1].starts_with("20"),
        "{tail:?}"
    );

    let quiet = run("add(1, 2)");
    let out = group.weft(&["logs", &quiet]);
    assert!(out.status.success());
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrote nothing"),
        "{out:?}"
    );
    let unknown = group.weft_err(&["logs", "no-such-task"]).unwrap();
    assert!(unknown.contains("knows no task no-such-task"), "{unknown}");

    group.kill_host("h1");
    let (failed, text) = eventually(Duration::from_secs(20), || {
        let err = group.weft(&["logs", &id]);
        let text = String::from_utf8_lossy(&err.stderr).to_string();
        if text.contains("left the cluster") {
            Ok((!err.status.success(), text))
        } else {
            Err(format!("still not gone: {text}"))
        }
    })
    .unwrap();
    assert!(failed);
    assert!(text.contains("host h1"), "{text}");
    assert!(text.contains(&id), "{text}");
}

/// `weft logs -f` prints each line as the running task writes it and
/// exits once the task has ended; `--since` leaves out older lines.
#[test]
fn follow_prints_lines_while_the_task_runs_and_stops_when_it_ends() {
    use std::io::BufRead;
    let cluster = Cluster::start().unwrap();
    cluster
        .weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])
        .unwrap();
    let id = cluster
        .weft_ok(&["submit", "kit", "drip(20, 250)"])
        .unwrap();
    let id = id.trim().to_string();
    let mut follower = std::process::Command::new(weft_tests::weft_bin())
        .args(["logs", &id, "--follow"])
        .env("WEFT_ADDRESS", &cluster.address)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(follower.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert_eq!(first, "drip 0");
    // The first line came while the task still ran (it takes 5 s).
    let state = cluster.weft_ok(&["wait", &id, "--timeout", "0"]).unwrap();
    assert!(state.contains("pending"), "{state}");
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    assert!(follower.wait().unwrap().success());
    let expected: Vec<String> = (1..20).map(|i| format!("drip {i}")).collect();
    assert_eq!(rest, expected);

    let all = cluster.weft_ok(&["logs", &id, "--since", "1h"]).unwrap();
    assert_eq!(all.lines().count(), 20, "{all}");
    let none = cluster.weft(&["logs", &id, "--since", "0s"]);
    assert!(none.status.success());
    assert!(none.stdout.is_empty());
    let bad = cluster
        .weft_err(&["logs", &id, "--since", "3 weeks"])
        .unwrap();
    assert!(bad.contains("unknown unit"), "{bad}");
}
