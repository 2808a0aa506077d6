//! The first five minutes: deploy the examples, call them, list them,
//! restart on the same data dir.

use anyhow::Context as _;
use weft_tests::{Cluster, guests};

#[test]
fn deploy_and_call_the_examples() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let out = cluster.weft_ok(&["deploy", guests::HELLO, "--name", "hello"])?;
    assert!(out.starts_with("hello sha256:"), "{out}");
    cluster.weft_ok(&["deploy", guests::PI, "--name", "pi"])?;

    assert_eq!(
        cluster.weft_ok(&["call", "hello", "greet(\"world\")"])?,
        "\"Hello, world!\""
    );

    let estimate: f64 = cluster
        .weft_ok(&["call", "pi", "estimate(200000, 7)"])?
        .parse()?;
    assert!((estimate - std::f64::consts::PI).abs() < 0.02, "{estimate}");
    let again: f64 = cluster
        .weft_ok(&["call", "pi", "estimate(200000, 7)"])?
        .parse()?;
    assert_eq!(estimate, again, "the same seed gives the same estimate");

    let listing = cluster.weft_ok(&["components"])?;
    assert!(
        listing.contains("greet: func(name: string) -> string"),
        "{listing}"
    );
    assert!(
        listing.contains("estimate: func(samples: u64, seed: u64) -> f64"),
        "{listing}"
    );
    Ok(())
}

#[test]
fn json_arguments_and_results() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    assert_eq!(
        cluster.weft_ok(&["call", "kit", "add", "--args", "[40, 2]"])?,
        "42"
    );
    let point = cluster.weft_ok(&[
        "call",
        "kit",
        "values.echo-point",
        "--args",
        r#"[{"x": 1, "y": -2, "label": "p"}]"#,
        "--json",
    ])?;
    let point: serde_json::Value = serde_json::from_str(&point)?;
    assert_eq!(point, serde_json::json!({"x": 1, "y": -2, "label": "p"}));
    // A function without a result prints nothing and succeeds.
    assert_eq!(cluster.weft_ok(&["call", "kit", "nothing()"])?, "");
    Ok(())
}

#[test]
fn functions_in_interfaces_answer_to_short_and_full_names() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    for name in [
        "values.echo-string",
        "weft:testkit/values.echo-string",
        "weft:testkit/values#echo-string",
    ] {
        let call = format!("{name}(\"hi\")");
        assert_eq!(
            cluster.weft_ok(&["call", "kit", &call])?,
            "\"hi\"",
            "{name}"
        );
    }
    Ok(())
}

#[test]
fn deploy_is_content_addressed_and_delete_removes() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let first = cluster.weft_ok(&["deploy", guests::HELLO, "--name", "hello"])?;
    let second = cluster.weft_ok(&["deploy", guests::HELLO, "--name", "hello@1.0.0"])?;
    assert!(second.contains("already deployed"), "{second}");
    let digest = first
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string();
    assert!(second.contains(&digest));
    // Callable by version and by digest prefix too.
    let prefix = &digest["sha256:".len().."sha256:".len() + 12];
    assert_eq!(
        cluster.weft_ok(&["call", "hello@1.0.0", "greet(\"v\")"])?,
        "\"Hello, v!\""
    );
    assert_eq!(
        cluster.weft_ok(&["call", prefix, "greet(\"d\")"])?,
        "\"Hello, d!\""
    );

    cluster.weft_ok(&["delete", "hello"])?;
    assert!(
        cluster
            .weft_err(&["call", "hello", "greet(\"x\")"])?
            .contains("unknown component `hello`")
    );
    assert_eq!(
        cluster.weft_ok(&["call", "hello@1.0.0", "greet(\"still\")"])?,
        "\"Hello, still!\""
    );
    let out = cluster.weft_ok(&["delete", "hello@1.0.0"])?;
    assert!(out.contains("component removed"), "{out}");
    assert!(cluster.weft_ok(&["components"])?.contains("no components"));
    Ok(())
}

#[test]
fn restart_keeps_components_and_does_not_recompile() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start_in(dir.path())?;
    cluster.weft_ok(&["deploy", guests::PI, "--name", "pi"])?;
    let before = cluster.weft_ok(&["call", "pi", "estimate(1000, 1)"])?;
    cluster.stop()?;

    let cluster = Cluster::start_in(dir.path())?;
    assert_eq!(
        cluster.weft_ok(&["call", "pi", "estimate(1000, 1)"])?,
        before
    );
    // The restarted host loaded the compiled artifact; nothing compiled.
    let log = cluster.log();
    assert!(log.contains("LoadedFromDisk"), "{log}");
    assert!(!log.contains("Compiled("), "{log}");
    cluster.stop()?;
    Ok(())
}

#[test]
fn a_call_is_a_task_with_the_task_api() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    // Run on a host as a task, the call's guest may store objects.
    let out = cluster.weft_ok(&["call", "kit", "try-objects()"])?;
    assert!(
        out.starts_with("\"stored ") && out.ends_with("(4 bytes)\""),
        "{out}"
    );
    Ok(())
}

/// On `weft up` a call that fits the embedded host now is handed to it
/// directly (the fast path), and is still a task to the scheduler: it
/// holds its cpu while it runs, a call made meanwhile queues for that cpu
/// as a task (the fast path does not pass the queue), and both are in the
/// task history.
#[test]
fn a_call_on_weft_up_holds_a_cpu_of_its_host_while_it_runs() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start_with(dir.path(), &["--cpus", "1"])?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    let address = cluster.address.clone();
    let spinning = std::thread::spawn(move || {
        weft_tests::weft_at(&address, &["call", "kit", "spin()", "--timeout", "3"])
    });
    poll(&cluster, "cpus 1/1").context("the running call holds no cpu of its host")?;
    // The only cpu is the call's: another call waits for it as a task.
    let out = cluster.weft_ok(&["call", "kit", "add(2, 3)"])?;
    assert_eq!(out, "5");
    let call = spinning.join().expect("the call's thread");
    assert!(!call.status.success());
    let err = String::from_utf8_lossy(&call.stderr);
    assert!(err.contains("deadline"), "{err}");
    poll(&cluster, "cpus 0/1").context("the call's cpu was not given back")?;
    let trace = dir.path().join("trace.json");
    cluster.weft_ok(&["timeline", "-o", &trace.display().to_string()])?;
    let trace = std::fs::read_to_string(&trace)?;
    assert!(trace.contains("kit.spin"), "{trace}");
    // The spinning call took the fast path; the one behind it, the queue.
    assert_eq!(trace.matches("\"task\":\"call.").count(), 2, "{trace}");
    assert_eq!(trace.matches(".local-").count(), 1, "{trace}");
    Ok(())
}

/// Waits until `weft list nodes` shows `needle`, for up to ten seconds.
fn poll(cluster: &Cluster, needle: &str) -> anyhow::Result<()> {
    weft_tests::eventually(std::time::Duration::from_secs(10), || {
        let nodes = cluster.weft_ok(&["list", "nodes"])?;
        weft_tests::fact(nodes.contains(needle), || nodes.clone()).map_err(anyhow::Error::msg)
    })
}
