//! Prometheus metrics, scraped by a real Prometheus server (the Debian
//! package `scripts/test` installs) from a controller and two hosts while
//! tasks run, and read back through Prometheus's query API: Prometheus
//! parses every exposition strictly and marks a target down if it cannot.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use weft_client::{Arg, Submission, TaskClient, TaskOptions};
use weft_tests::{Group, eventually, fact, guests, http_request, runtime};

/// A Prometheus server scraping `targets` every 200 ms; killed on drop.
struct Prometheus {
    child: Child,
    address: String,
}

impl Prometheus {
    fn start(dir: &Path, targets: &[String]) -> Prometheus {
        let config = dir.join("prometheus.yml");
        let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 200ms\n  scrape_timeout: 200ms\n\
                 scrape_configs:\n  - job_name: weft\n    static_configs:\n      - targets: [{}]\n",
                targets.join(", ")
            ),
        )
        .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let address = format!("127.0.0.1:{port}");
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .expect("prometheus runs (scripts/test installs the Debian package)");
        let prometheus = Prometheus { child, address };
        eventually(Duration::from_secs(30), || {
            let ready = http_request(&prometheus.address, "GET", "/-/ready", b"");
            fact(ready.as_ref().is_ok_and(|r| r.0 == 200), || {
                format!("prometheus is not ready: {ready:?}")
            })
        })
        .unwrap();
        prometheus
    }

    /// The value of an instant query with one result; `None` when it has
    /// none (yet).
    fn query(&self, expr: &str) -> Option<f64> {
        let path = format!("/api/v1/query?query={}", url_encode(expr));
        let (status, body) = http_request(&self.address, "GET", &path, b"").ok()?;
        assert_eq!(status, 200, "{expr}: {body}");
        let reply: serde_json::Value = serde_json::from_str(&body).unwrap();
        let value = reply["data"]["result"].get(0)?["value"][1].as_str()?;
        value.parse().ok()
    }

    /// Waits until `expr` evaluates to `want`.
    fn wait_for(&self, expr: &str, want: f64) {
        eventually(Duration::from_secs(30), || {
            let last = self.query(expr);
            fact(last == Some(want), || {
                format!("{expr} is {last:?}, not {want}")
            })
        })
        .unwrap();
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn prometheus_scrapes_the_controller_and_hosts_while_tasks_run() {
    let mut group = Group::start(1, &["--metrics-port", "0"]).unwrap();
    group.wait_for_leader(Duration::from_secs(20)).unwrap();
    group
        .start_host("h1", 2, &["--metrics-port", "0", "--http-port", "0"])
        .unwrap();
    // Over the network, as between machines, so the holder serves bytes.
    group
        .start_host("h2", 2, &["--metrics-port", "0", "--network-pulls"])
        .unwrap();
    group
        .weft_ok(&["deploy", guests::TESTKIT, "--name", "testkit"])
        .unwrap();
    group
        .weft_ok(&["deploy", guests::HTTP_HELLO, "--name", "http-hello"])
        .unwrap();
    group
        .weft_ok(&["route", "add", "/hello/...", "http-hello"])
        .unwrap();
    let targets = [
        group
            .metrics_address(1)
            .expect("the controller serves metrics"),
        group.host_metrics("h1").expect("h1 serves metrics"),
        group.host_metrics("h2").expect("h2 serves metrics"),
    ];
    // Not found elsewhere, by name.
    let (status, body) = http_request(&targets[0], "GET", "/", b"").unwrap();
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("/metrics"), "{body}");
    // Probes for an orchestrator: alive, and ready (a leader known; a
    // host's session with it open).
    for target in &targets {
        assert_eq!(http_request(target, "GET", "/healthz", b"").unwrap().0, 200);
        let (status, body) = http_request(target, "GET", "/readyz", b"").unwrap();
        assert_eq!(status, 200, "{target}: {body}");
    }

    // The gateway counts what it answers, by route and status, and serves
    // the same exposition at its own /metrics.
    let http = group.host_http_address("h1").expect("h1 serves HTTP");
    for _ in 0..7 {
        let (status, _) = http_request(&http, "GET", "/hello/weft", b"").unwrap();
        assert_eq!(status, 200);
    }
    assert_eq!(http_request(&http, "GET", "/nowhere", b"").unwrap().0, 404);
    let (status, exposition) = http_request(&http, "GET", "/metrics", b"").unwrap();
    assert_eq!(status, 200, "{exposition}");
    assert!(
        exposition.contains("weft_gateway_requests_total{route=\"/hello/...\",status=\"200\"} 7"),
        "{exposition}"
    );
    assert!(exposition.ends_with("# EOF\n"), "{exposition}");

    let dir = tempfile::tempdir().unwrap();
    let prometheus = Prometheus::start(dir.path(), &targets);
    runtime().block_on(async {
        let tasks = TaskClient::connect(&group.addresses()).await.unwrap();
        let batch: Vec<Submission> = (0..500)
            .map(|i| Submission {
                component: "testkit".into(),
                function: "add".into(),
                args: vec![Arg::wave(i.to_string()), Arg::wave("1")],
                options: TaskOptions::default(),
            })
            .collect();
        let ids = tasks.submit_batch(batch).await.unwrap();
        let results = tasks
            .get(&ids, Some(Duration::from_secs(120)))
            .await
            .unwrap();
        assert!(results.iter().all(|r| r.ok));

        // A 1 MiB object made on h1 and read by a task on h2: h2 pulls
        // it, h1 serves it.
        let on = |host: &str| TaskOptions {
            affinity_host: host.into(),
            ..TaskOptions::default()
        };
        let args = vec![Arg::wave("1"), Arg::wave("3")];
        let made = tasks.submit("testkit", "make", args, on("h1")).await;
        let made = tasks
            .get(&[made.unwrap()], Some(Duration::from_secs(60)))
            .await
            .unwrap()
            .remove(0);
        let made = crate::wave(&made);
        let object = made.split('"').nth(1).expect("an object-ref record");
        let sum = tasks
            .submit(
                "testkit",
                "checksum",
                vec![Arg::Ref(object.into())],
                on("h2"),
            )
            .await
            .unwrap();
        let sum = tasks.get(&[sum], Some(Duration::from_secs(60))).await;
        assert!(sum.unwrap()[0].ok);
    });
    // One placement group created, one that waits (no host has 64 cpus).
    group
        .weft_ok(&["pg", "create", "--bundle", "cpus=1"])
        .unwrap();
    group
        .weft_ok(&["pg", "create", "--bundle", "cpus=64", "--wait", "0"])
        .unwrap();

    let expected = [
        // Every target was scraped and its exposition parsed; the 500
        // tasks and the two that move an object between hosts finished.
        ("count(up{job=\"weft\"} == 1)", 3.0),
        ("sum(weft_tasks_finished_total{outcome=\"ok\"})", 502.0),
        ("weft_task_run_seconds_count", 502.0),
        ("weft_task_scheduling_seconds_count", 502.0),
        // The hosts ran them all between them, and each of the two
        // components was compiled by one host and loaded from their shared
        // artifact cache by the other.
        ("sum(weft_engine_calls_total)", 502.0),
        ("sum(weft_engine_compiled_total)", 2.0),
        ("sum(weft_engine_artifacts_loaded_total)", 2.0),
        ("weft_hosts_alive", 2.0),
        ("weft_cluster_cpus", 4.0),
        ("weft_placement_groups{state=\"created\"}", 1.0),
        ("weft_placement_groups{state=\"pending\"}", 1.0),
        ("weft_raft_is_leader", 1.0),
        ("weft_components", 2.0),
        (
            "weft_gateway_requests_total{route=\"/hello/...\",status=\"200\"}",
            7.0,
        ),
        (
            "weft_gateway_requests_total{route=\"(none)\",status=\"404\"}",
            1.0,
        ),
        (
            "weft_gateway_request_seconds_count{route=\"/hello/...\"}",
            7.0,
        ),
        ("count(weft_store_capacity_bytes > 0)", 2.0),
        // Arenas with room to spare, and no reader pinning anything.
        ("count(weft_store_largest_free_bytes > 1000000)", 2.0),
        ("sum(weft_store_client_pins)", 0.0),
        // One leader since the replica started; every process reports
        // its memory and CPU.
        ("weft_raft_leader_changes_total", 1.0),
        ("count(weft_process_resident_memory_bytes > 1000000)", 3.0),
        ("count(weft_process_cpu_seconds_total > 0)", 3.0),
        ("count(weft_raft_storage_size_bytes > 0)", 1.0),
        // Bytes moved between hosts: the object (1 MiB and the 5-byte
        // header of its encoding), pulled by h2 and served by h1.
        ("sum(weft_store_pulled_bytes_total)", 1048581.0),
        ("sum(weft_store_served_bytes_total)", 1048581.0),
    ];
    for (expr, want) in expected {
        prometheus.wait_for(expr, want);
    }
    let applied = prometheus.query("weft_raft_applied_index").unwrap();
    assert!(applied >= 2.0, "{applied}");
    let entries = prometheus.query("weft_raft_log_entries").unwrap();
    assert!(
        entries >= 2.0 && entries <= applied,
        "{entries} of {applied}"
    );

    // `weft bench tasks --scrape` runs its async row again while every
    // target is scraped each second (it prints figures; nothing here
    // judges a timing).
    let scrape = targets.join(",");
    let out = group
        .weft_ok(&[
            "bench",
            "tasks",
            "--component",
            guests::TESTKIT,
            "--function",
            "add",
            "--args",
            "1, 2",
            "--seconds",
            "0.3",
            "--batch",
            "50",
            "--clients",
            "1",
            "--scrape",
            &scrape,
            "--nested-component",
            guests::TESTKIT,
        ])
        .unwrap();
    assert!(
        out.contains("scraped every second (median)") && out.contains("of 3 endpoint(s)"),
        "{out}"
    );
    // The nested row ran: a guest submitted batches of the same tasks.
    assert!(
        out.contains("nested tasks from a guest") && out.contains("x the client's"),
        "{out}"
    );
}
