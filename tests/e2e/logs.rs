//! `weft logs`: a task's output, kept on the host that ran it and read
//! from there through the cluster.

use std::time::{Duration, Instant};

use weft_tests::{Group, guests};

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
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let err = group.weft(&["logs", &id]);
        let text = String::from_utf8_lossy(&err.stderr).to_string();
        if text.contains("left the cluster") {
            assert!(!err.status.success());
            assert!(text.contains("host h1"), "{text}");
            assert!(text.contains(&id), "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "still not gone: {text}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
