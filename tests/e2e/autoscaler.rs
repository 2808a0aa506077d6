//! `weft autoscaler` with the local provider on real processes: a
//! controller with no hosts, work that waits for room, hosts started up to
//! the node type's `max`, stopped once idle, and a placement group that
//! needs two more hosts getting them. Every decision is in the replicated
//! key-value table.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use weft_tests::{Group, eventually, fact, guests, weft_bin};

/// The autoscaler process, stopped with SIGTERM (it then stops the hosts
/// it started) when dropped.
struct Autoscaler(Child);

impl Drop for Autoscaler {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// The auto-started hosts alive now.
fn auto_hosts(group: &Group) -> Vec<String> {
    let nodes = group.weft_ok(&["list", "nodes"]).unwrap_or_default();
    nodes
        .lines()
        .filter(|l| l.contains("alive"))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|id| id.starts_with("auto-"))
        .map(str::to_string)
        .collect()
}

#[test]
fn hosts_come_for_waiting_work_up_to_max_and_go_when_idle() {
    let group = Group::start(1, &["--host-timeout", "2"]).unwrap();
    group.wait_for_leader(Duration::from_secs(20)).unwrap();
    group
        .weft_ok(&["deploy", guests::TESTKIT, "--name", "testkit"])
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let log = std::fs::File::create(dir.path().join("autoscaler.log")).unwrap();
    let _autoscaler = Autoscaler(
        Command::new(weft_bin())
            .args([
                "autoscaler",
                "--controller",
                &group.addresses(),
                "--node-type",
                "small:cpus=1,max=2",
                "--idle-timeout",
                "2",
                "--interval",
                "0.2",
                "--data-dir",
            ])
            .arg(dir.path().join("hosts"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let log = || std::fs::read_to_string(dir.path().join("autoscaler.log")).unwrap_or_default();

    // Six tasks of one cpu each and no host: two hosts come (the max),
    // never more, and run them all.
    let refs: Vec<String> = (0..6)
        .map(|_| {
            group
                .weft_ok(&["submit", "testkit", "busy(800)"])
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    let mut most = 0;
    eventually(Duration::from_secs(60), || {
        let hosts = auto_hosts(&group);
        most = most.max(hosts.len());
        fact(hosts.len() == 2, || format!("{hosts:?}\n{}", log()))
    })
    .unwrap();
    let mut args = vec!["get", "--timeout", "120"];
    args.extend(refs.iter().map(String::as_str));
    let results = group.weft_ok(&args).unwrap();
    assert_eq!(
        results.lines().filter(|l| l.trim() == "800").count(),
        6,
        "{results}"
    );
    assert!(most <= 2, "{most} hosts at once, over the max");

    // Idle, they go.
    eventually(Duration::from_secs(30), || {
        let hosts = auto_hosts(&group);
        fact(hosts.is_empty(), || format!("{hosts:?}\n{}", log()))
    })
    .unwrap();

    // A strict-spread group of two bundles needs two hosts: it gets them.
    let pg = group
        .weft_ok(&[
            "pg",
            "create",
            "--bundle",
            "cpus=1",
            "--bundle",
            "cpus=1",
            "--strategy",
            "strict-spread",
            "--wait",
            "60",
        ])
        .unwrap();
    assert!(pg.trim().starts_with("pg-"), "{pg}\n{}", log());
    assert_eq!(auto_hosts(&group).len(), 2);
    group.weft_ok(&["pg", "remove", pg.trim()]).unwrap();

    // With no host left, demand no node type can hold is reported, not
    // chased (while a host lives, such a task fails at once instead).
    eventually(Duration::from_secs(30), || {
        let hosts = auto_hosts(&group);
        fact(hosts.is_empty(), || format!("{hosts:?}\n{}", log()))
    })
    .unwrap();
    group
        .weft_ok(&["submit", "testkit", "busy(1)", "--cpus", "8"])
        .unwrap();

    // Every decision is kept, with its reason, in the replicated table.
    let decisions = eventually(Duration::from_secs(30), || {
        let kept = group
            .weft_ok(&["kv", "list", "--namespace", "autoscaler"])
            .unwrap_or_default();
        fact(kept.contains("more than any node type has"), || {
            kept.clone()
        })
        .map(|_| kept)
    })
    .unwrap();
    let values = decisions;
    assert!(
        values.contains("started auto-small-1 (small) for task")
            && values.contains("stopped auto-small-1 (small): idle")
            && values.contains("for bundle pg-")
            && values.contains("cpus=8, more than any node type has"),
        "{values}"
    );
}
