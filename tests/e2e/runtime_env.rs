//! Runtime environments on real processes: a guest written for
//! `wasi:config` and WASI's file system alone (no weft interface) sees the
//! configuration, secrets, variables and directories its task or actor
//! names, and nothing more; a secret shows nowhere but to that guest.

use std::time::Duration;

use weft_tests::{Group, eventually, fact, guests, http_request};

const SECRET: &str = "s3cr3t-d0-not-leak";

/// One controller, one host offering a read-only directory `data` (with
/// `hello.txt`) and a writable one `scratch`; the probe deployed; secret
/// `token` set from a file.
fn cluster() -> (Group, tempfile::TempDir) {
    let dirs = tempfile::tempdir().unwrap();
    std::fs::create_dir(dirs.path().join("data")).unwrap();
    std::fs::write(dirs.path().join("data/hello.txt"), "hi from the host").unwrap();
    std::fs::create_dir(dirs.path().join("scratch")).unwrap();
    let data = format!("data={}:ro", dirs.path().join("data").display());
    let scratch = format!("scratch={}", dirs.path().join("scratch").display());
    // With its dashboard and metrics, to look for the secret there too.
    let mut group = Group::start(
        1,
        &[
            "--host-timeout",
            "2",
            "--dashboard-port",
            "0",
            "--metrics-port",
            "0",
        ],
    )
    .unwrap();
    group.wait_for_leader(Duration::from_secs(20)).unwrap();
    group
        .start_host("a", 2, &["--dir", &data, "--dir", &scratch])
        .unwrap();
    group
        .weft_ok(&["deploy", guests::CONFIG_READER, "--name", "probe"])
        .unwrap();
    let file = dirs.path().join("token");
    std::fs::write(&file, format!("{SECRET}\n")).unwrap();
    let set = group
        .weft_ok(&[
            "secret",
            "put",
            "token",
            "--file",
            &file.display().to_string(),
        ])
        .unwrap();
    assert_eq!(set.trim(), "set secret token");
    (group, dirs)
}

/// Runs `call` of the probe as a task with `flags`; its printed result.
fn probe(group: &Group, call: &str, flags: &[&str]) -> String {
    let args = [&["submit", "probe", call, "--wait"][..], flags].concat();
    let out = group
        .weft_ok(&args)
        .unwrap_or_else(|e| panic!("{call}: {e}"));
    out.lines().last().unwrap_or_default().to_string()
}

const FULL: &[&str] = &[
    "--config",
    "greeting=hello",
    "--secret",
    "token",
    "--env",
    "MODE=test",
    "--dir",
    "data",
    "--dir",
    "scratch",
];

#[test]
fn a_guest_sees_what_its_runtime_env_names_and_nothing_else() {
    let (group, dirs) = cluster();
    // Configuration and the secret it names, through wasi:config/store.
    assert_eq!(
        probe(&group, "probe.config(\"greeting\")", FULL),
        "some(\"hello\")"
    );
    assert_eq!(
        probe(&group, "probe.config(\"token\")", FULL),
        format!("some(\"{SECRET}\")")
    );
    assert_eq!(
        probe(&group, "probe.config-keys()", FULL),
        "[\"greeting\", \"token\"]"
    );
    assert_eq!(probe(&group, "probe.env(\"MODE\")", FULL), "some(\"test\")");
    // A task that names no secret sees none.
    assert_eq!(
        probe(
            &group,
            "probe.config(\"token\")",
            &["--config", "greeting=hello"]
        ),
        "none"
    );
    // Its directories at /NAME: the read-only one read, not written; the
    // other written through to the host; nothing else of the file system.
    assert_eq!(
        probe(&group, "probe.read-file(\"/data/hello.txt\")", FULL),
        "ok(\"hi from the host\")"
    );
    let denied = probe(&group, "probe.write-file(\"/data/new.txt\", \"x\")", FULL);
    assert!(denied.starts_with("err("), "{denied}");
    assert!(!dirs.path().join("data/new.txt").exists());
    assert_eq!(
        probe(
            &group,
            "probe.write-file(\"/scratch/out.txt\", \"written\")",
            FULL
        ),
        "ok"
    );
    assert_eq!(
        std::fs::read_to_string(dirs.path().join("scratch/out.txt")).unwrap(),
        "written"
    );
    assert_eq!(
        probe(&group, "probe.list-dir(\"/data\")", FULL),
        "ok([\"hello.txt\"])"
    );
    // The granted directories are the only roots: there is no `/` above.
    let root = probe(&group, "probe.list-dir(\"/\")", FULL);
    assert!(root.starts_with("err("), "{root}");
    let outside = probe(&group, "probe.read-file(\"/etc/hostname\")", FULL);
    assert!(outside.starts_with("err("), "{outside}");
    // Without a grant, no directory at all.
    let none = probe(&group, "probe.list-dir(\"/data\")", &[]);
    assert!(none.starts_with("err("), "{none}");

    // What cannot be granted is refused by name.
    let err = group
        .weft_err(&[
            "submit",
            "probe",
            "probe.env(\"X\")",
            "--dir",
            "nope",
            "--wait",
        ])
        .unwrap();
    assert!(
        err.contains("host a offers no directory named `nope`") && err.contains("data, scratch"),
        "{err}"
    );
    let err = group
        .weft_err(&[
            "submit",
            "probe",
            "probe.env(\"X\")",
            "--secret",
            "missing",
            "--wait",
        ])
        .unwrap();
    assert!(err.contains("no secret named `missing`"), "{err}");

    // An actor gets its runtime env too.
    group
        .weft_ok(&[
            "actor", "create", "probe", "-", "--name", "prober", "--config", "k=v", "--secret",
            "token",
        ])
        .unwrap();
    assert_eq!(
        group
            .weft_ok(&["actor", "call", "prober", "probe.config(\"token\")"])
            .unwrap()
            .trim(),
        format!("some(\"{SECRET}\")")
    );

    // The secret is listed by name only, and shows nowhere else: not in
    // the task listings and histories, the processes' logs, the
    // dashboard's views or the metrics.
    let names = group.weft_ok(&["secret", "list"]).unwrap();
    assert_eq!(names.trim(), "token");
    let timeline = dirs.path().join("timeline.json");
    group
        .weft_ok(&["timeline", "-o", &timeline.display().to_string()])
        .unwrap();
    let mut seen = vec![
        group.weft_ok(&["list", "tasks", "--limit", "100"]).unwrap(),
        group.weft_ok(&["actor", "list"]).unwrap(),
        std::fs::read_to_string(&timeline).unwrap(),
        group.log(1),
        group.host_log("a"),
    ];
    let dashboard = group.dashboard(1).expect("a dashboard");
    let dashboard = dashboard
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    for view in [
        "tasks",
        "actors",
        "groups",
        "jobs",
        "overview",
        "components",
    ] {
        let (status, body) = http_request(&dashboard, "GET", &format!("/api/{view}"), b"").unwrap();
        assert_eq!(status, 200, "/api/{view}: {body}");
        seen.push(body);
    }
    let metrics = group.metrics_address(1).expect("metrics");
    seen.push(http_request(&metrics, "GET", "/metrics", b"").unwrap().1);
    let tasks = group.weft_ok(&["list", "tasks", "--limit", "100"]).unwrap();
    for id in tasks.lines().filter_map(|l| l.split_whitespace().next()) {
        if let Ok(detail) = group.weft_ok(&["list", "tasks", "--detail", id]) {
            seen.push(detail);
        }
    }
    for text in &seen {
        assert!(!text.contains(SECRET), "the secret leaked: {text}");
    }
    // Deleting it makes tasks that name it fail, by name.
    assert!(
        group
            .weft_ok(&["secret", "delete", "token"])
            .unwrap()
            .contains("deleted")
    );
    let err = group
        .weft_err(&[
            "submit",
            "probe",
            "probe.env(\"X\")",
            "--secret",
            "token",
            "--wait",
        ])
        .unwrap();
    assert!(err.contains("no secret named `token`"), "{err}");
    let err = group
        .weft_err(&["secret", "put", "bad name", "--file", "/dev/null"])
        .unwrap();
    assert!(err.contains("is not a secret name"), "{err}");
    eventually(Duration::from_secs(5), || {
        let names = group.weft_ok(&["secret", "list"]).unwrap_or_default();
        fact(names.contains("no secrets"), || names.clone())
    })
    .unwrap();
}

/// A host refuses a directory it cannot offer at start, naming it.
#[test]
fn a_host_refuses_a_directory_that_is_not_one() {
    let group = Group::start(1, &[]).unwrap();
    group.wait_for_leader(Duration::from_secs(20)).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = weft_tests::weft_at(
        &group.addresses(),
        &[
            "host",
            "--controller",
            &group.addresses(),
            "--port",
            "0",
            "--data-dir",
            &data.path().display().to_string(),
            "--dir",
            &format!("f={}", file.path().display()),
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--dir f:") && err.contains("is not a directory"),
        "{err}"
    );
}

/// A guest written for `wasi:keyvalue` keeps its buckets in the cluster's
/// replicated table: what a task on one host sets, a task on another
/// reads, after a leader failover too; buckets are apart.
#[test]
fn keyvalue_buckets_live_in_the_replicated_table() {
    let mut group = Group::with_hosts(
        3,
        &[("a", &[]), ("b", &[])],
        &[(guests::CONFIG_READER, "probe")],
    );
    let on = |host: &'static str| ["--node", host];
    assert_eq!(
        probe(&group, "probe.kv-set(\"cart\", \"apple\", \"3\")", &on("a")),
        "ok"
    );
    assert_eq!(
        probe(&group, "probe.kv-get(\"cart\", \"apple\")", &on("b")),
        "ok(some(\"3\"))"
    );
    assert_eq!(
        probe(
            &group,
            "probe.kv-batch(\"cart\", [(\"pear\", \"1\"), (\"plum\", \"2\")])",
            &on("b")
        ),
        "ok([some(\"1\"), some(\"2\")])"
    );
    assert_eq!(
        probe(&group, "probe.kv-keys(\"cart\")", &on("a")),
        "ok([\"apple\", \"pear\", \"plum\"])"
    );
    assert_eq!(
        probe(&group, "probe.kv-get(\"other\", \"pear\")", &on("a")),
        "ok(none)"
    );
    let leader = group.wait_for_leader(Duration::from_secs(20)).unwrap();
    group.kill(leader);
    group.wait_for_leader(Duration::from_secs(30)).unwrap();
    let read = eventually(Duration::from_secs(30), || {
        let args = [
            "submit",
            "probe",
            "probe.kv-get(\"cart\", \"plum\")",
            "--wait",
        ];
        group.weft_ok(&args).map_err(|e| e.to_string())
    })
    .unwrap();
    assert_eq!(read.lines().last().unwrap_or_default(), "ok(some(\"2\"))");
    // Increments from many tasks at once lose none of one another.
    let refs: Vec<String> = (0..20)
        .map(|_| {
            group
                .weft_ok(&[
                    "submit",
                    "probe",
                    "probe.kv-increment(\"cart\", \"hits\", 1)",
                ])
                .unwrap()
                .trim()
                .to_string()
        })
        .collect();
    let mut args = vec!["get"];
    args.extend(refs.iter().map(String::as_str));
    let counts = group.weft_ok(&args).unwrap();
    let mut seen: Vec<u64> = counts
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("ok(")?
                .strip_suffix(')')?
                .parse()
                .ok()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, (1..=20).collect::<Vec<u64>>(), "{counts}");
    assert_eq!(
        probe(&group, "probe.kv-set(\"cart\", \"word\", \"abc\")", &[]),
        "ok"
    );
    let not_a_count = probe(&group, "probe.kv-increment(\"cart\", \"word\", 1)", &[]);
    assert!(not_a_count.contains("is not a count"), "{not_a_count}");
    assert_eq!(
        probe(&group, "probe.kv-delete(\"cart\", \"apple\")", &[]),
        "ok(true)"
    );
    assert_eq!(
        probe(&group, "probe.kv-delete(\"cart\", \"apple\")", &[]),
        "ok(false)"
    );
}

/// A component's default runtime environment (`weft deploy --config ...`)
/// fills each part a call leaves empty, for tasks, actors and direct calls.
#[test]
fn a_components_default_runtime_env_fills_what_a_call_leaves_empty() {
    let group = Group::with_hosts(1, &[("a", &[])], &[]);
    group
        .weft_ok(&[
            "deploy",
            guests::CONFIG_READER,
            "--name",
            "probe",
            "--config",
            "greeting=from-deploy",
            "--env",
            "MODE=default",
        ])
        .unwrap();
    assert_eq!(
        probe(&group, "probe.config(\"greeting\")", &[]),
        "some(\"from-deploy\")"
    );
    assert_eq!(
        probe(
            &group,
            "probe.config(\"greeting\")",
            &["--config", "greeting=call"]
        ),
        "some(\"call\")"
    );
    // Parts are filled one by one: the call's config, the default env.
    assert_eq!(
        probe(
            &group,
            "probe.env(\"MODE\")",
            &["--config", "greeting=call"]
        ),
        "some(\"default\")"
    );
    assert_eq!(
        group
            .weft_ok(&["call", "probe", "probe.config(\"greeting\")"])
            .unwrap()
            .trim(),
        "some(\"from-deploy\")"
    );
    group
        .weft_ok(&["actor", "create", "probe", "-", "--name", "p"])
        .unwrap();
    assert_eq!(
        group
            .weft_ok(&["actor", "call", "p", "probe.env(\"MODE\")"])
            .unwrap()
            .trim(),
        "some(\"default\")"
    );
}
