//! Bad input gets a clear one-line error naming the problem, and the
//! cluster keeps serving.

use std::time::{Duration, Instant};

use weft_tests::{
    Cluster, component_with_unknown_import, core_module, guests, not_wasm, write_file,
};

fn assert_one_line(err: &str) {
    assert_eq!(err.lines().count(), 1, "expected one line, got: {err}");
    assert!(err.starts_with("error: "), "{err}");
}

#[test]
fn uploads_that_are_not_runnable_components_are_refused() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let dir = tempfile::tempdir()?;
    let cases = [
        (
            write_file(dir.path(), "script.wasm", &not_wasm()),
            "not a WebAssembly file",
        ),
        (
            write_file(dir.path(), "core.wasm", &core_module()),
            "core WebAssembly module, not a component",
        ),
        (
            write_file(dir.path(), "evil.wasm", &component_with_unknown_import()),
            "imports `evil:thing/danger`",
        ),
        (
            write_file(
                dir.path(),
                "cut.wasm",
                &std::fs::read(guests::HELLO)?[..4000],
            ),
            "invalid component",
        ),
    ];
    for (file, expected) in &cases {
        let err = cluster.weft_err(&["deploy", file, "--name", "bad"])?;
        assert_one_line(&err);
        assert!(err.contains(expected), "{file}: {err}");
    }
    let err = cluster.weft_err(&["deploy", "/nonexistent/x.wasm"])?;
    assert!(err.contains("cannot read /nonexistent/x.wasm"), "{err}");
    let err = cluster.weft_err(&["deploy", guests::HELLO, "--name", "Bad Name"])?;
    assert!(err.contains("invalid component name"), "{err}");
    // Nothing was recorded, and the cluster still serves.
    assert!(cluster.weft_ok(&["components"])?.contains("no components"));
    cluster.weft_ok(&["deploy", guests::HELLO, "--name", "hello"])?;
    assert_eq!(
        cluster.weft_ok(&["call", "hello", "greet(\"ok\")"])?,
        "\"Hello, ok!\""
    );
    Ok(())
}

#[test]
fn oversized_uploads_are_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start_with(dir.path(), &["--max-upload", "20000"])?;
    let err = cluster.weft_err(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    assert_one_line(&err);
    // The upload announces its size: it is refused before its bytes are read.
    assert!(err.contains("larger than the limit"), "{err}");
    cluster.weft_ok(&["deploy", guests::PI, "--name", "pi"])?;
    Ok(())
}

#[test]
fn a_chunked_upload_must_send_what_it_announced() -> anyhow::Result<()> {
    use weft_proto::v1 as pb;
    let cluster = Cluster::start()?;
    let chunk = |header: bool, total_bytes: u64, len: usize| pb::DeployChunk {
        header: header.then(pb::DeployRequest::default),
        total_bytes,
        data: vec![0; len],
    };
    let cases = [
        (chunk(true, 10, 20), "more than the 10 bytes it announced"),
        (chunk(true, 100, 20), "ended after 20 of the 100 bytes"),
        (chunk(false, 20, 20), "starts with a message naming it"),
    ];
    weft_tests::runtime().block_on(async {
        let channel =
            tonic::transport::Endpoint::from_shared(format!("http://{}", cluster.address))?
                .connect()
                .await?;
        let token = weft_proto::auth::Bearer::for_address(&cluster.address);
        let mut rpc = pb::weft_client::WeftClient::with_interceptor(channel, token);
        for (chunk, expected) in cases {
            let err = rpc
                .deploy_chunks(tokio_stream::iter([chunk]))
                .await
                .expect_err(expected);
            assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
            assert!(err.message().contains(expected), "{err:?}");
        }
        anyhow::Ok(())
    })?;
    assert_eq!(cluster.weft_ok(&["components"])?.lines().count(), 1);
    Ok(())
}

#[test]
fn bad_calls_name_the_problem() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    let cases: &[(&[&str], &str)] = &[
        (&["call", "nokit", "add(1, 2)"], "unknown component `nokit`"),
        (
            &["call", "kit", "subtract(1, 2)"],
            "no exported function `subtract`; it exports: add, nothing",
        ),
        (
            &["call", "kit", "add(1)"],
            "expected 2 arguments (a: s32, b: s32), got 1",
        ),
        (&["call", "kit", "add(1, 2, 3)"], "expected 2 arguments"),
        (
            &["call", "kit", "add(1, \"two\")"],
            "argument 2 (`b`) should be s32",
        ),
        (
            &["call", "kit", "add(1, 99999999999)"],
            "argument 2 (`b`) should be s32",
        ),
        (&["call", "kit", "add"], "is not a call"),
        (
            &["call", "kit", "add(1, 2"],
            "cannot parse the arguments of `add(1, 2`",
        ),
        (
            &["call", "kit", "values.echo-color(purple)"],
            "argument 1 (`v`) should be enum { red, green, blue }",
        ),
        (
            &["call", "kit", "add", "--args", "[1, \"x\"]"],
            "argument 2 (`b`): expected s32, got \"x\"",
        ),
        (
            &["call", "kit", "add", "--args", "{not json"],
            "not valid JSON",
        ),
        (
            &[
                "call",
                "kit",
                "values.echo-point",
                "--args",
                r#"[{"x": 1}]"#,
            ],
            "missing field `y`",
        ),
        (
            &[
                "call",
                "kit",
                "add(1, 2)",
                "--memory-limit",
                "99999999999999",
            ],
            "above this host's maximum",
        ),
    ];
    for (args, expected) in cases {
        let err = cluster.weft_err(args)?;
        assert_one_line(&err);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
    assert_eq!(cluster.weft_ok(&["call", "kit", "add(1, 2)"])?, "3");
    Ok(())
}

#[test]
fn a_trapping_guest_fails_that_call_only() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    let err = cluster.weft_err(&["call", "kit", "fail(\"the guest gave up\")"])?;
    assert_one_line(&err);
    assert!(
        err.contains("guest trapped in `fail`: the guest gave up"),
        "{err}"
    );
    assert_eq!(cluster.weft_ok(&["call", "kit", "add(2, 2)"])?, "4");
    Ok(())
}

#[test]
fn an_endless_guest_is_stopped_at_its_deadline() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    let started = Instant::now();
    let err = cluster.weft_err(&["call", "kit", "spin()", "--timeout", "0.5"])?;
    let took = started.elapsed();
    assert_one_line(&err);
    assert!(err.contains("ran past its deadline of 500ms"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    assert_eq!(cluster.weft_ok(&["call", "kit", "add(2, 3)"])?, "5");
    Ok(())
}

#[test]
fn the_default_deadline_applies_without_timeout() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start_with(dir.path(), &["--default-timeout", "0.3"])?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    let err = cluster.weft_err(&["call", "kit", "spin()"])?;
    assert!(err.contains("deadline of 300ms"), "{err}");
    Ok(())
}

#[test]
fn a_guest_that_eats_memory_hits_its_limit() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    let err = cluster.weft_err(&["call", "kit", "hog(4000)"])?;
    assert_one_line(&err);
    assert!(
        err.contains("exceeded its memory limit of 512 MiB"),
        "{err}"
    );
    let err = cluster.weft_err(&["call", "kit", "hog(64)", "--memory-limit", "33554432"])?;
    assert!(err.contains("memory limit of 32 MiB"), "{err}");
    // A call may raise its limit.
    let out = cluster.weft_ok(&["call", "kit", "hog(600)", "--memory-limit", "1073741824"])?;
    assert_eq!(out, "600");
    assert_eq!(cluster.weft_ok(&["call", "kit", "add(3, 3)"])?, "6");
    Ok(())
}

#[test]
fn chatty_guests_keep_working_and_output_is_bounded() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    let out = cluster.weft(&["call", "kit", "chatter(100000)"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "100000");
    assert!(
        out.stderr.len() <= 64 << 10,
        "guest output was not bounded: {}",
        out.stderr.len()
    );
    Ok(())
}

#[test]
fn an_unreachable_cluster_is_named() -> anyhow::Result<()> {
    let out = std::process::Command::new(weft_tests::weft_bin())
        .args(["--address", "127.0.0.1:1", "components"])
        .output()?;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the weft cluster at 127.0.0.1:1"),
        "{err}"
    );
    Ok(())
}

#[test]
fn the_clusters_own_namespaces_cannot_be_written() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    for args in [
        &["kv", "put", "--namespace", "weft.actors", "forged", "{}"][..],
        &["kv", "delete", "--namespace", "weft.actors", "actor-1"][..],
        &["kv", "put", "--namespace", "weft.anything", "k", "v"][..],
    ] {
        let err = cluster.weft_err(args)?;
        assert_one_line(&err);
        assert!(
            err.contains("is reserved for the cluster's own state"),
            "{args:?}: {err}"
        );
    }
    // Other namespaces are the user's.
    cluster.weft_ok(&["kv", "put", "--namespace", "mine", "k", "v"])?;
    assert_eq!(
        cluster
            .weft_ok(&["kv", "get", "--namespace", "mine", "k"])?
            .trim(),
        "v"
    );
    Ok(())
}

#[test]
fn a_call_with_no_host_to_run_it_says_so() -> anyhow::Result<()> {
    // Controllers run no user code: without a host, a call cannot run.
    let group = weft_tests::Group::start(1, &[])?;
    group.wait_for_leader(Duration::from_secs(20))?;
    group.weft_ok(&["deploy", guests::PI, "--name", "pi"])?;
    let started = Instant::now();
    let err = group.weft_err(&["call", "pi", "estimate(10, 1)"])?;
    assert_one_line(&err);
    assert!(err.contains("no host is alive to run the call"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(15));
    Ok(())
}
