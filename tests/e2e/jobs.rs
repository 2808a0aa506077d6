//! Jobs on real processes: a driver component submitted with `weft job`,
//! its tasks spread over `weft host` workers, stopped, carried through a
//! leader kill, and failed or rerun when its host is killed.

use std::time::Duration;

use weft_tests::{Group, eventually, fact, guests, http_request};

/// `replicas` controllers and worker hosts of 2 cpus, the driver deployed
/// as `job`.
fn cluster(replicas: usize, hosts: &[&str]) -> Group {
    let hosts: Vec<(&str, &[&str])> = hosts.iter().map(|h| (*h, &[][..])).collect();
    Group::with_hosts(replicas, &hosts, &[(guests::JOB, "job")])
}

/// `weft job status JOB` as (field, value) pairs.
fn status(group: &Group, job: &str) -> Vec<(String, String)> {
    group
        .weft_ok(&["job", "status", job])
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn field(group: &Group, job: &str, name: &str) -> String {
    status(group, job)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
        .unwrap_or_default()
}

/// Waits until `ready` holds of the job's status, or panics with it.
fn wait_for(group: &Group, job: &str, what: &str, ready: impl Fn(&[(String, String)]) -> bool) {
    let waited = eventually(Duration::from_secs(60), || {
        let now = status(group, job);
        fact(ready(&now), || format!("{now:?}"))
    });
    if let Err(e) = waited {
        panic!("job {job} never {what}: {e}\n{}", group.diagnosis());
    }
}

fn has(status: &[(String, String)], name: &str, value: &str) -> bool {
    status.iter().any(|(k, v)| k == name && v == value)
}

#[test]
fn a_job_runs_a_hundred_tasks_and_keeps_its_result_env_and_logs() {
    let group = cluster(1, &["h1", "h2"]);
    let out = group
        .weft_ok(&[
            "job",
            "submit",
            "job",
            "run(100, 5)",
            "--name",
            "squares",
            "--runtime-env",
            "JOB_COMPONENT=job",
            "--wait",
        ])
        .unwrap();
    let mut lines = out.lines();
    let id = lines.next().unwrap().to_string();
    assert!(id.starts_with("job-"), "{out}");
    // The sum of the squares of 0..100.
    assert_eq!(lines.next(), Some("328350"), "{out}");
    let record = status(&group, "squares");
    assert!(has(&record, "id", &id), "{record:?}");
    assert!(has(&record, "state", "SUCCEEDED"), "{record:?}");
    assert!(has(&record, "result", "328350"), "{record:?}");
    assert!(has(&record, "env", "JOB_COMPONENT=job"), "{record:?}");
    // Its driver's output, in order, by id and by name.
    let logs = group.weft_ok(&["job", "logs", &id]).unwrap();
    let expected: Vec<String> = std::iter::once("submitted 100 tasks of job.square".to_string())
        .chain((0..100u64).map(|i| format!("task {i} returned {}", i * i)))
        .chain(std::iter::once("sum of squares: 328350".to_string()))
        .collect();
    assert_eq!(logs.lines().collect::<Vec<_>>(), expected);
    let tail = group.weft_ok(&["logs", "squares", "-n", "1"]).unwrap();
    assert_eq!(tail.trim(), "sum of squares: 328350");
    // The runtime env reaches the driver and every task it makes.
    let env = group
        .weft_ok(&[
            "job",
            "submit",
            "job",
            "env(\"STAGE\")",
            "--runtime-env",
            "STAGE=blue",
            "--wait",
        ])
        .unwrap();
    assert_eq!(env.lines().nth(1), Some("\"blue\""), "{env}");
    // A submission id makes a resubmission the same job.
    for _ in 0..2 {
        let out = group
            .weft_ok(&[
                "job",
                "submit",
                "job",
                "run(3, 1)",
                "--submission-id",
                "once",
                "--wait",
            ])
            .unwrap();
        assert_eq!(out, "once\n5");
    }
    let err = group
        .weft_err(&[
            "job",
            "submit",
            "job",
            "run(3, 1)",
            "--submission-id",
            "no way",
        ])
        .unwrap();
    assert!(err.contains("job id `no way` is not"), "{err}");
    let list = group.weft_ok(&["job", "list"]).unwrap();
    assert!(list.contains(&id) && list.contains("squares"), "{list}");
    // Bad submissions name their problem.
    let err = group
        .weft_err(&["job", "submit", "job", "run(\"x\", 1)"])
        .unwrap();
    assert!(err.contains("should be u32"), "{err}");
    let err = group
        .weft_err(&["job", "submit", "nosuch", "run()"])
        .unwrap();
    assert!(err.contains("unknown component `nosuch`"), "{err}");
    let err = group.weft_err(&["job", "status", "job-none"]).unwrap();
    assert!(err.contains("no job `job-none`"), "{err}");
}

#[test]
fn stopping_an_endless_job_stops_its_tasks_and_its_actor() {
    let mut group = Group::start(1, &["--host-timeout", "2", "--metrics-port", "0"]).unwrap();
    group.wait_for_leader(Duration::from_secs(20)).unwrap();
    group.start_host("h1", 2, &[]).unwrap();
    group
        .weft_ok(&["deploy", guests::JOB, "--name", "job"])
        .unwrap();
    let id = group
        .weft_ok(&[
            "job",
            "submit",
            "job",
            "forever(2, 600000)",
            "--name",
            "endless",
        ])
        .unwrap()
        .trim()
        .to_string();
    wait_for(&group, &id, "started its work", |_| {
        let logs = group.weft_ok(&["job", "logs", &id]).unwrap_or_default();
        logs.contains("started 2 tasks and actor")
    });
    let running = group
        .weft_ok(&["list", "tasks", "--state", "running"])
        .unwrap();
    assert!(running.matches("job.square").count() == 2, "{running}");
    let err = group
        .weft_err(&["job", "submit", "job", "forever(1, 1)", "--name", "endless"])
        .unwrap();
    assert!(
        err.contains("a job named `endless` is still running"),
        "{err}"
    );

    let out = group.weft_ok(&["job", "stop", "endless"]).unwrap();
    assert_eq!(out.trim(), format!("stopped {id}"));
    let record = status(&group, &id);
    assert!(has(&record, "state", "STOPPED"), "{record:?}");
    assert!(has(&record, "reason", "stopped by request"), "{record:?}");
    // Both its tasks were canceled (and its driver: nothing runs), its
    // actor killed.
    let actors = eventually(Duration::from_secs(20), || {
        let running = group
            .weft_ok(&["list", "tasks", "--state", "running"])
            .unwrap();
        let actors = group.weft_ok(&["actor", "list"]).unwrap();
        if !running.contains("job.") && actors.contains("dead") {
            Ok(actors)
        } else {
            Err(format!("still running: {running} {actors}"))
        }
    })
    .unwrap();
    assert!(
        actors.contains(&format!("its job {id} was stopped")),
        "{actors}"
    );
    let failed = group
        .weft_ok(&["list", "tasks", "--state", "failed"])
        .unwrap();
    assert_eq!(
        failed
            .matches("(job.square) was canceled while running")
            .count(),
        2,
        "{failed}"
    );
    let again = group.weft_ok(&["job", "stop", &id]).unwrap();
    assert!(again.contains("had already ended: STOPPED"), "{again}");
    // The leader counts jobs by state.
    let metrics = group.metrics_address(1).unwrap();
    let (status, exposition) = http_request(&metrics, "GET", "/metrics", b"").unwrap();
    assert_eq!(status, 200);
    assert!(
        exposition.contains("weft_jobs{state=\"STOPPED\"} 1"),
        "{exposition}"
    );
    assert!(
        exposition.contains("weft_jobs{state=\"RUNNING\"} 0"),
        "{exposition}"
    );
}

#[test]
fn a_job_survives_a_leader_kill() {
    let mut group = cluster(3, &["h1", "h2"]);
    let leader = group.wait_for_leader(Duration::from_secs(20)).unwrap();
    let id = group
        .weft_ok(&["job", "submit", "job", "run(60, 250)"])
        .unwrap()
        .trim()
        .to_string();
    wait_for(&group, &id, "ran", |s| has(s, "state", "RUNNING"));
    group.kill(leader);
    let next = group.wait_for_leader(Duration::from_secs(20)).unwrap();
    assert_ne!(next, leader);
    // The new leader took it over mid-run (its first answer may wait for
    // it to read the records).
    wait_for(&group, &id, "was readable", |s| {
        s.iter().any(|(k, _)| k == "state")
    });
    let state = field(&group, &id, "state");
    assert_eq!(state, "RUNNING");
    wait_for(&group, &id, "finished", |s| {
        s.iter()
            .any(|(k, v)| k == "state" && v != "RUNNING" && v != "PENDING")
    });
    let record = status(&group, &id);
    // 0² + ... + 59²: the driver (about 4 s of tasks on 4 cpus) ran once,
    // its attempt adopted by the new leader from its host.
    assert!(has(&record, "state", "SUCCEEDED"), "{record:?}");
    assert!(has(&record, "result", "70210"), "{record:?}");
    assert!(has(&record, "attempt", "1 of 1"), "{record:?}");
}

#[test]
fn a_job_on_a_killed_host_fails_naming_it_or_reruns_with_max_retries() {
    let mut group = cluster(1, &["h1", "h2", "h3"]);
    // No retries: killing the driver's host fails the job, naming it.
    let id = group
        .weft_ok(&["job", "submit", "job", "forever(1, 600000)"])
        .unwrap()
        .trim()
        .to_string();
    wait_for(&group, &id, "got a host", |s| {
        s.iter().any(|(k, _)| k == "host")
    });
    let host = field(&group, &id, "host");
    group.kill_host(&host);
    wait_for(&group, &id, "failed", |s| has(s, "state", "FAILED"));
    let reason = field(&group, &id, "reason");
    assert!(
        reason.contains(&format!("attempt 1 on host {host}")),
        "{reason}"
    );
    assert!(
        reason.contains(&format!("host {host} at 127.0.0.1:")),
        "{reason}"
    );

    // One retry: the driver runs again on a live host and finishes.
    let id = group
        .weft_ok(&["job", "submit", "job", "run(30, 200)", "--max-retries", "1"])
        .unwrap()
        .trim()
        .to_string();
    wait_for(&group, &id, "got a host", |s| {
        s.iter().any(|(k, _)| k == "host")
    });
    let first = field(&group, &id, "host");
    group.kill_host(&first);
    wait_for(&group, &id, "finished", |s| {
        has(s, "state", "SUCCEEDED") || has(s, "state", "FAILED")
    });
    let record = status(&group, &id);
    assert!(has(&record, "state", "SUCCEEDED"), "{record:?}");
    assert!(has(&record, "result", "8555"), "{record:?}");
    assert!(has(&record, "attempt", "2 of 2"), "{record:?}");
    let reason = field(&group, &id, "reason");
    assert!(
        reason.contains(&format!("attempt 1 on host {first}")),
        "{reason}"
    );
    assert_ne!(field(&group, &id, "host"), first);
}
