//! Serve: applications of deployments behind routes, their replicas
//! placed on hosts by the leader, routed to from every host's gateway,
//! rolled over, shed under overload and autoscaled (real controller and
//! host processes; load from threads of this test on loopback).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft_tests::{Group, eventually, fact, guests, http_request};

/// A controller and worker hosts with gateways, each serving metrics,
/// `svc` deployed as the HTTP testkit.
fn cluster(hosts: &[&str]) -> Group {
    let mut group = Group::start(1, &["--host-timeout", "2", "--metrics-port", "0"])
        .expect("the controller starts");
    group
        .wait_for_leader(Duration::from_secs(20))
        .expect("a leader");
    for h in hosts {
        group
            .start_host(h, 2, &["--http-port", "0", "--metrics-port", "0"])
            .expect("the host starts");
    }
    group
        .weft_ok(&["deploy", guests::HTTP_TESTKIT, "--name", "svc"])
        .expect("deploy");
    group
}

/// [`cluster`] of one host, `h1`, with the testkit deployed as `kit`.
fn cluster_with_kit() -> Group {
    let group = cluster(&["h1"]);
    group
        .weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])
        .expect("deploy");
    group
}

/// `h1`'s gateway.
fn gateway_of(group: &Group) -> String {
    group.host_http_address("h1").expect("gateway")
}

/// Writes an application file and returns its path.
fn app_file(dir: &tempfile::TempDir, name: &str, yaml: &str) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, yaml).expect("write the application file");
    path
}

/// Declares the application file `yaml` (`weft serve deploy`, waiting for
/// its replicas); what it printed.
fn declare(group: &Group, yaml: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    serve_deploy(group, &app_file(&dir, "app.yaml", yaml)).expect("serve deploy")
}

fn serve_deploy(group: &Group, file: &std::path::Path) -> anyhow::Result<String> {
    group.weft_ok(&["serve", "deploy", &file.display().to_string()])
}

/// Status lines of the replicas, as `weft serve status` prints them.
fn replica_lines(group: &Group) -> Vec<String> {
    group
        .weft_ok(&["serve", "status"])
        .unwrap_or_default()
        .lines()
        .filter(|l| l.trim_start().starts_with("pg-"))
        .map(str::to_string)
        .collect()
}

/// A status (0: the connection failed or was cut) and a body.
type Answer = (u16, String);

/// Requests from threads of this test until stopped, each answer kept.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(u16, String)>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    /// `threads` threads sending GET `path`, spread over `gateways`.
    fn start(gateways: &[String], threads: usize, path: &str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..threads)
            .map(|i| {
                let g = gateways[i % gateways.len()].clone();
                let (stop, seen, path) = (stop.clone(), seen.clone(), path.to_string());
                std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let answer = http_request(&g, "GET", &path, b"")
                            .unwrap_or_else(|e| (0, e.to_string()));
                        seen.lock().unwrap().push(answer);
                    }
                })
            })
            .collect();
        Load {
            stop,
            seen,
            threads,
        }
    }

    /// Whether an answer so far says `text`.
    fn said(&self, text: &str) -> bool {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .any(|(_, b)| b.contains(text))
    }

    /// Stops the threads; every answer they had.
    fn stop(self) -> Vec<(u16, String)> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .for_each(|t| t.join().expect("load thread"));
        std::mem::take(&mut *self.seen.lock().unwrap())
    }

    /// Stops it: every answer, and those that were not 200. It must have
    /// sent over a hundred requests, or the test proves little.
    fn stop_counting(self) -> (Vec<Answer>, Vec<Answer>) {
        let seen = self.stop();
        assert!(seen.len() > 100, "only {} requests", seen.len());
        let failed = seen.iter().filter(|(s, _)| *s != 200).cloned().collect();
        (seen, failed)
    }
}

/// A whole response, head included, over a fresh connection.
fn raw_get(address: &str, path: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {address}\r\nconnection: close\r\n\r\n"
    )?;
    let mut out = String::new();
    stream.read_to_string(&mut out)?;
    Ok(out)
}

#[test]
fn replicas_spread_over_hosts_and_a_new_digest_rolls_over_without_a_failed_request() {
    let group = cluster(&["h1", "h2"]);
    let app = "applications:
  - name: shop
    deployments:
      - name: web
        component: svc
        route: /hello/...
        num_replicas: 2
        max_ongoing_requests: 8
        graceful_shutdown_s: 0.5
";
    let shown = declare(&group, app);
    assert!(shown.contains("2/2 replicas running"), "{shown}");
    let lines = replica_lines(&group);
    assert!(
        lines.iter().any(|l| l.contains(" h1 ")) && lines.iter().any(|l| l.contains(" h2 ")),
        "SPREAD puts one replica on each host: {lines:?}"
    );
    let gateways: Vec<String> = ["h1", "h2"]
        .iter()
        .map(|h| group.host_http_address(h).expect("gateway"))
        .collect();
    for g in &gateways {
        let (status, body) = http_request(g, "GET", "/hello/x", b"").expect("request");
        assert_eq!((status, body.as_str()), (200, "unknown path /hello/x"));
    }
    // Applying the same file again changes nothing.
    declare(&group, app);
    assert_eq!(replica_lines(&group).len(), 2);

    // Load on both gateways while the component is deployed anew.
    let load = Load::start(&gateways, 4, "/hello/x");
    std::thread::sleep(Duration::from_millis(500));
    group
        .weft_ok(&["deploy", guests::HTTP_HELLO, "--name", "svc"])
        .expect("deploy the new digest");
    eventually(Duration::from_secs(30), || {
        let lines = replica_lines(&group);
        let status = group.weft_ok(&["serve", "status"]).unwrap_or_default();
        fact(
            lines.len() == 2
                && lines.iter().all(|l| l.ends_with("running"))
                && status.contains("2/2 replicas running")
                && load.said("hello"),
            || format!("the rollout is not done: {status}"),
        )
    })
    .expect("rolled over");
    std::thread::sleep(Duration::from_millis(500));
    let (seen, failed) = load.stop_counting();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed during the rollout, first: {:?}",
        failed.len(),
        seen.len(),
        failed.first()
    );
}

#[test]
fn an_overloaded_deployment_sheds_with_503_and_retry_after() {
    let group = cluster(&["h1"]);
    declare(
        &group,
        "applications:
  - name: slow
    deployments:
      - name: sleepy
        component: svc
        route: /sleep
        max_ongoing_requests: 1
        max_queued_requests: 1
",
    );
    let gateway = group.host_http_address("h1").expect("gateway");
    let send = |pause_ms: u64| {
        let g = gateway.clone();
        let thread = std::thread::spawn(move || raw_get(&g, "/sleep?ms=2000").unwrap_or_default());
        std::thread::sleep(Duration::from_millis(pause_ms));
        thread
    };
    // One runs, one waits in the queue of one, and the rest are shed.
    let running = send(300);
    let queued = send(300);
    let shed: Vec<String> = (0..4)
        .map(|_| send(0))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("request thread"))
        .collect();
    for answer in [running, queued].map(|t| t.join().expect("request thread")) {
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.contains("slept 2000 ms"), "{answer}");
    }
    for answer in &shed {
        assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
        assert!(
            answer.to_ascii_lowercase().contains("retry-after: 1"),
            "{answer}"
        );
        assert!(answer.contains("max_queued_requests"), "{answer}");
    }
    // Each deployment's figures: the route's answers by status on the
    // host, its replicas and target on the leader.
    let scrape = |address: String| {
        let (status, body) = http_request(&address, "GET", "/metrics", b"").expect("scrape");
        assert_eq!(status, 200);
        body
    };
    let host = scrape(group.host_metrics("h1").expect("host metrics"));
    let replica = replica_lines(&group)
        .first()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .expect("a replica");
    for line in [
        "weft_serve_requests_held{deployment=\"slow/sleepy\"} 0".to_string(),
        "weft_serve_requests_queued{deployment=\"slow/sleepy\"} 0".to_string(),
        "weft_gateway_requests_total{route=\"/sleep\",status=\"503\"} 4".to_string(),
        // By replica: the two it answered (the shed ones never reached one).
        format!(
            "weft_serve_answers_total{{deployment=\"slow/sleepy\",replica=\"{replica}\",status=\"200\"}} 2"
        ),
    ] {
        assert!(host.contains(&line), "{line} in {host}");
    }
    // `weft serve status` shows the requests gateways ended (sheds too)
    // and their latency, once a heartbeat has carried them.
    eventually(Duration::from_secs(10), || {
        let status = group.weft_ok(&["serve", "status"]).unwrap_or_default();
        fact(status.contains("requests: 6 ended, 0 queued, p50 "), || {
            format!("no request figures: {status}")
        })
    })
    .expect("request figures in the status");
    let leader = scrape(group.metrics_address(1).expect("leader metrics"));
    for line in [
        "weft_serve_replicas{deployment=\"slow/sleepy\",state=\"running\"} 1",
        "weft_serve_target_replicas{deployment=\"slow/sleepy\"} 1",
    ] {
        assert!(leader.contains(line), "{line} in {leader}");
    }
}

#[test]
fn autoscaling_wakes_from_zero_follows_the_load_and_scales_back_to_zero() {
    let group = cluster(&["h1"]);
    let shown = declare(
        &group,
        "applications:
  - name: auto
    deployments:
      - name: elastic
        component: svc
        route: /sleep
        max_ongoing_requests: 2
        autoscaling:
          min_replicas: 0
          max_replicas: 3
          target_ongoing_requests: 1
          upscale_delay_s: 0.2
          downscale_delay_s: 1
",
    );
    assert!(shown.contains("0/0 replicas running"), "{shown}");
    let gateway = group.host_http_address("h1").expect("gateway");
    let woke = Instant::now();
    let (status, body) = http_request(&gateway, "GET", "/sleep?ms=1", b"").expect("request");
    assert_eq!((status, body.as_str()), (200, "slept 1 ms"));
    assert!(
        woke.elapsed() < Duration::from_secs(5),
        "{:?}",
        woke.elapsed()
    );

    let load = Load::start(std::slice::from_ref(&gateway), 6, "/sleep?ms=200");
    eventually(Duration::from_secs(20), || {
        let status = group.weft_ok(&["serve", "status"]).unwrap_or_default();
        fact(
            status.contains("3/3 replicas running") && status.contains("scaled up"),
            || format!("not scaled up: {status}"),
        )
    })
    .expect("scaled up under load");
    load.stop();
    eventually(Duration::from_secs(20), || {
        let status = group.weft_ok(&["serve", "status"]).unwrap_or_default();
        fact(
            status.contains("0/0 replicas running")
                && status.contains("scaled down")
                && replica_lines(&group).is_empty(),
            || format!("not back to zero: {status}"),
        )
    })
    .expect("scaled back to zero");
}

#[test]
fn bad_applications_are_refused_naming_the_line_and_disturb_nothing() {
    let group = cluster(&["h1"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let good = "applications:
  - name: one
    deployments:
      - name: web
        component: svc
        route: /one/...
";
    serve_deploy(&group, &app_file(&dir, "good.yaml", good)).expect("serve deploy");
    // Each bad file is refused; the error names its line.
    let refused = |name: &str, yaml: &str| {
        let file = app_file(&dir, name, yaml);
        group
            .weft_err(&["serve", "deploy", &file.display().to_string()])
            .expect("refused")
    };

    let err = refused("typo.yaml", &good.replace("route:", "rout:"));
    assert!(
        err.contains("unknown field `rout`") && err.contains("line 6"),
        "{err}"
    );

    let unknown = good
        .replace("name: one", "name: two")
        .replace("component: svc", "component: nowhere");
    let err = refused("unknown.yaml", &unknown);
    assert!(
        err.contains("unknown.yaml:4:") && err.contains("nowhere"),
        "the deployment's line and the component: {err}"
    );

    let err = refused("taken.yaml", &good.replace("name: one", "name: three"));
    assert!(
        err.contains("taken.yaml:4:")
            && err.contains("route /one/... is taken by application deployment one/web"),
        "{err}"
    );
    let err = group
        .weft_err(&["route", "add", "/one/...", "svc"])
        .expect("refused");
    assert!(err.contains("served by Serve deployment one/web"), "{err}");

    let err = group
        .weft_err(&["serve", "delete", "nope"])
        .expect("refused");
    assert!(err.contains("no Serve application `nope`"), "{err}");

    // None of it disturbed the application that was there.
    let gateway = group.host_http_address("h1").expect("gateway");
    assert_eq!(
        http_request(&gateway, "GET", "/one/x", b"")
            .expect("request")
            .0,
        200
    );
    group.weft_ok(&["serve", "delete", "one"]).expect("delete");
    eventually(Duration::from_secs(10), || {
        let (status, _) =
            http_request(&gateway, "GET", "/one/x", b"").map_err(|e| e.to_string())?;
        fact(status == 404, || format!("still served: {status}"))
    })
    .expect("the route goes with its application");
    eventually(Duration::from_secs(10), || {
        let groups = group.weft_ok(&["pg", "list"]).unwrap_or_default();
        fact(
            groups
                .lines()
                .filter(|l| l.contains("one/web/"))
                .all(|l| l.contains("removed")),
            || format!("replicas remain: {groups}"),
        )
    })
    .expect("its replicas drain and go");
}

#[test]
fn a_killed_host_fails_only_its_requests_in_flight_and_its_replica_moves() {
    let mut group = cluster(&["h1", "h2"]);
    declare(
        &group,
        "applications:
  - name: sturdy
    deployments:
      - name: web
        component: svc
        route: /sleep
        num_replicas: 2
        max_ongoing_requests: 8
",
    );
    let lines = replica_lines(&group);
    assert!(
        lines.iter().any(|l| l.contains(" h2 ")),
        "a replica on the host to kill: {lines:?}"
    );
    let gateway = group.host_http_address("h1").expect("gateway");
    let threads = 4;
    let load = Load::start(std::slice::from_ref(&gateway), threads, "/sleep?ms=20");
    std::thread::sleep(Duration::from_millis(500));
    group.kill_host("h2");
    eventually(Duration::from_secs(30), || {
        let lines = replica_lines(&group);
        fact(
            lines.len() == 2
                && lines
                    .iter()
                    .all(|l| l.contains(" h1 ") && l.ends_with("running")),
            || format!("the replica has not moved: {lines:?}"),
        )
    })
    .expect("both replicas on the live host");
    std::thread::sleep(Duration::from_millis(300));
    let (seen, failed) = load.stop_counting();
    assert!(
        failed.len() <= threads,
        "only requests in flight on the dead host may fail: {} of {} did, {:?}",
        failed.len(),
        seen.len(),
        failed
    );
    // One whose head had come from the dead host ends mid-body (status 0
    // here); one still waiting for it answers 502 naming the host.
    for (status, body) in failed {
        assert!(
            status == 0 || (status == 502 && body.contains("on h2")),
            "{status} {body}"
        );
    }
}

#[test]
fn a_deployment_calls_another_by_name_through_the_gateway() {
    let mut group = cluster(&["h1"]);
    // Only h2 offers `only_h2`: the back deployment's replica is there, so
    // every call to it from h1 crosses to h2's gateway.
    group
        .start_host(
            "h2",
            2,
            &[
                "--http-port",
                "0",
                "--metrics-port",
                "0",
                "--resources",
                "only_h2=1",
            ],
        )
        .expect("h2 starts");
    group
        .weft_ok(&["deploy", guests::HTTP_HELLO, "--name", "hello"])
        .expect("deploy");
    let shown = declare(
        &group,
        "applications:
  - name: shop
    deployments:
      - name: front
        component: svc
        route: /fetch
        resources:
          only_h2: 0
      - name: back
        component: hello
        resources:
          only_h2: 1
",
    );
    assert!(shown.contains("  h2  "), "back's replica is on h2: {shown}");
    let gateway = group.host_http_address("h1").expect("gateway");
    // The front deployment's handler fetches from the back one by name,
    // with no grant: the back one has no route, so only a handle reaches it.
    let fetch = |url: &str| {
        http_request(&gateway, "GET", &format!("/fetch?url={url}"), b"").expect("request")
    };
    assert_eq!(
        fetch("http://back.shop.serve.weft/hello/x"),
        (200, "status 200".to_string())
    );
    assert_eq!(
        fetch("http://back.shop.serve.weft/elsewhere"),
        (200, "status 404".to_string()),
        "the back deployment's own 404 comes back"
    );
    let (status, body) = fetch("http://nobody.shop.serve.weft/x");
    assert_eq!(status, 200);
    assert!(body.starts_with("error:"), "{body}");
    assert_eq!(
        http_request(&gateway, "GET", "/hello/x", b"")
            .expect("request")
            .0,
        404,
        "a deployment without a route is not served from outside"
    );
    // A driver's handle reaches it through any host's gateway.
    for _ in 0..4 {
        assert_eq!(
            group
                .weft_ok(&[
                    "serve",
                    "call",
                    "shop/back",
                    "--path",
                    "/hello/x",
                    "--method",
                    "GET"
                ])
                .expect("a handle's request")
                .trim(),
            "Hello, x!"
        );
    }
    let err = group
        .weft_err(&["serve", "call", "shop/nobody"])
        .expect("refused");
    assert!(
        err.contains("Serve application shop has no deployment nobody"),
        "{err}"
    );
}

#[test]
fn a_function_deployment_answers_json_and_batches_requests_across_connections() {
    let group = cluster_with_kit();
    declare(
        &group,
        "applications:
  - name: fns
    deployments:
      - name: adder
        component: kit
        function: add
        route: /add
      - name: lengths
        component: kit
        function: batch-lengths
        route: /lengths
        max_batch_size: 8
        batch_wait_timeout_s: 0.05
        max_ongoing_requests: 100
        max_queued_requests: 100
",
    );
    let gateway = group.host_http_address("h1").expect("gateway");
    assert_eq!(
        http_request(&gateway, "POST", "/add", b"[2, 40]").expect("request"),
        (200, "42".to_string())
    );
    // A driver's handle calls it with the same arguments; a wrong one is
    // refused naming the parameter.
    assert_eq!(
        group
            .weft_ok(&["serve", "call", "fns/adder", "[40, 2]"])
            .expect("a handle's call")
            .trim(),
        "42"
    );
    let err = group
        .weft_err(&["serve", "call", "fns/adder", "[40, \"x\"]"])
        .expect("refused");
    assert!(err.contains("fns/adder answered 400"), "{err}");
    let (status, body) = http_request(&gateway, "POST", "/add", b"[2, \"x\"]").expect("request");
    assert_eq!(status, 400, "{body}");

    // 64 requests at once: each answers the size of the batch it went in.
    let sizes: Vec<(u16, String)> = (0..64)
        .map(|i| {
            let g = gateway.clone();
            std::thread::spawn(move || {
                http_request(&g, "POST", "/lengths", format!("\"item {i}\"").as_bytes())
                    .expect("request")
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("request thread"))
        .collect();
    let sizes: Vec<u32> = sizes
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body.parse().expect("a batch size")
        })
        .collect();
    assert!(sizes.iter().all(|s| (1..=8).contains(s)), "{sizes:?}");
    assert!(
        sizes.iter().any(|s| *s > 1),
        "requests from different connections share batches: {sizes:?}"
    );

    let dir = tempfile::tempdir().expect("tempdir");
    let bad = |yaml: &str| {
        let file = app_file(&dir, "bad.yaml", yaml);
        group
            .weft_err(&["serve", "deploy", &file.display().to_string()])
            .expect("refused")
    };
    let err = bad("applications:
  - name: bad
    deployments:
      - name: nofn
        component: kit
        function: nowhere
");
    assert!(
        err.contains("component `kit` has no function `nowhere`") && err.contains("bad.yaml:4:"),
        "{err}"
    );
    let err = bad("applications:
  - name: bad
    deployments:
      - name: http
        component: svc
        max_batch_size: 4
");
    assert!(
        err.contains("max_batch_size needs a function deployment"),
        "{err}"
    );
}

#[test]
fn a_missed_latency_target_adds_replicas() {
    let group = cluster(&["h1"]);
    declare(
        &group,
        "applications:
  - name: slow
    deployments:
      - name: sleepy
        component: svc
        route: /sleep
        autoscaling:
          min_replicas: 1
          max_replicas: 2
          target_ongoing_requests: 100
          target_latency_p95_ms: 50
          upscale_delay_s: 0
",
    );
    let gateway = group.host_http_address("h1").expect("gateway");
    // One request at a time: the requests alone would never ask for more.
    let load = Load::start(std::slice::from_ref(&gateway), 1, "/sleep?ms=120");
    eventually(Duration::from_secs(20), || {
        let status = group.weft_ok(&["serve", "status"]).unwrap_or_default();
        fact(
            status.contains("2/2 replicas running") && status.contains("over the target of 50 ms"),
            || format!("not scaled up for latency: {status}"),
        )
    })
    .expect("scaled up for latency");
    load.stop();
}

#[test]
fn a_custom_metric_recorded_by_replicas_scales_the_deployment_and_a_new_leader_keeps_the_decision()
{
    let mut group = Group::start(3, &["--host-timeout", "2"]).expect("the controllers start");
    group
        .wait_for_leader(Duration::from_secs(20))
        .expect("a leader");
    group
        .start_host("h1", 2, &["--http-port", "0"])
        .expect("the host starts");
    group
        .weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])
        .expect("deploy");
    declare(
        &group,
        "applications:
  - name: custom
    deployments:
      - name: worker
        component: kit
        function: record-metric
        route: /record
        autoscaling:
          min_replicas: 1
          max_replicas: 4
          target_ongoing_requests: 100
          metric: backlog
          target_metric_value: 10
          upscale_delay_s: 0
",
    );
    let gateway = group.host_http_address("h1").expect("gateway");
    // One request records a backlog of 35: 4 replicas at 10 each, though
    // one request alone asks for 1.
    assert_eq!(
        http_request(&gateway, "POST", "/record", br#"["backlog", 35]"#).expect("request"),
        (200, r#"{"ok":35.0}"#.to_string())
    );
    eventually(Duration::from_secs(20), || {
        let status = group.weft_ok(&["serve", "status"]).unwrap_or_default();
        fact(
            status.contains("4/4 replicas running")
                && status.contains("backlog 35 over the target of 10"),
            || format!("not scaled on the metric: {status}"),
        )
    })
    .expect("scaled on the custom metric");
    // The decision is in the replicated state, and a new leader starts
    // from it: it keeps the count and the reason (it would otherwise say
    // `started at 4 replicas`).
    let decision = |group: &Group| {
        group
            .weft_ok(&["kv", "get", "-n", "serve-decisions", "custom/worker"])
            .expect("the recorded decision")
    };
    let recorded = decision(&group);
    assert!(recorded.contains(r#""target":4"#), "{recorded}");
    let leader = group
        .wait_for_leader(Duration::from_secs(5))
        .expect("a leader");
    group.kill(leader);
    group
        .wait_for_leader(Duration::from_secs(20))
        .expect("a new leader");
    eventually(Duration::from_secs(20), || {
        let status = group.weft_ok(&["serve", "status"]).unwrap_or_default();
        fact(
            status.contains("4/4 replicas running")
                && status.contains("decision: scaled up to 4 replicas"),
            || format!("the new leader forgot the decision: {status}"),
        )
    })
    .expect("the new leader keeps the decision");
    assert_eq!(
        decision(&group),
        recorded,
        "the new leader made no decision of its own (not even `started at`)"
    );
    // Outside a replica's request there is no replica to record for.
    let called = group
        .weft_ok(&["call", "kit", "record-metric(\"backlog\", 1.0)"])
        .expect("call");
    assert!(
        called.contains("only a request on a Serve replica records metrics"),
        "{called}"
    );
}

#[test]
fn a_user_config_reaches_each_request_and_changes_without_new_replicas() {
    let group = cluster(&["h1"]);
    group
        .weft_ok(&["deploy", guests::CONFIG_READER, "--name", "probe"])
        .expect("deploy");
    let app = |threshold: u32| {
        format!(
            "applications:
  - name: tuned
    deployments:
      - name: reader
        component: probe
        function: probe.config
        route: /config
        num_replicas: 2
        user_config:
          threshold: {threshold}
"
        )
    };
    declare(&group, &app(3));
    let gateway = group.host_http_address("h1").expect("gateway");
    let read =
        || http_request(&gateway, "POST", "/config", br#"["user_config"]"#).expect("request");
    assert_eq!(read(), (200, r#""{\"threshold\":3}""#.to_string()));
    let before = replica_lines(&group);
    declare(&group, &app(5));
    eventually(Duration::from_secs(10), || {
        let answer = read();
        fact(answer.1.contains("5"), || format!("still {answer:?}"))
    })
    .expect("the new config reaches the requests");
    assert_eq!(
        replica_lines(&group),
        before,
        "the same replicas serve: a config is no reason to restart"
    );
}

#[test]
fn a_streaming_deployment_sends_each_value_as_it_comes() {
    let group = cluster_with_kit();
    declare(
        &group,
        "applications:
  - name: streams
    deployments:
      - name: counter
        component: kit
        function: streams.count
        route: /count
        stream: true
",
    );
    let gateway = group.host_http_address("h1").expect("gateway");
    // count(n, pause, hold) emits 0..n, then holds `hold` ms and returns n.
    assert_eq!(
        http_request(&gateway, "POST", "/count", b"[3, 0, 0]").expect("request"),
        (200, "0\n1\n2\n3\n".to_string())
    );
    // The first values arrive while the call still holds: they are not
    // gathered until it ends.
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(&gateway).expect("connect");
    let body = b"[2, 0, 3000]";
    write!(
        stream,
        "POST /count HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .and_then(|()| stream.write_all(body))
    .expect("send");
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    let first_at = loop {
        let n = stream.read(&mut chunk).expect("read");
        assert!(n > 0, "the body ended before its first value");
        seen.extend_from_slice(&chunk[..n]);
        if String::from_utf8_lossy(&seen).contains("\n1\n") {
            break started.elapsed();
        }
    };
    stream.read_to_end(&mut seen).expect("read the rest");
    let ended_at = started.elapsed();
    let text = String::from_utf8_lossy(&seen);
    assert!(text.contains("x-ndjson"), "{text}");
    assert!(
        first_at + Duration::from_secs(1) < ended_at,
        "values came at {first_at:?}, the end at {ended_at:?}: {text}"
    );
    // A driver's handle prints each value as it comes.
    assert_eq!(
        group
            .weft_ok(&["serve", "call", "streams/counter", "--stream", "[2, 0, 0]"])
            .expect("a handle's stream")
            .trim(),
        "0\n1\n2"
    );
    // Bad arguments fail before any value: a status, not a cut body.
    let (status, body) = http_request(&gateway, "POST", "/count", b"[\"x\"]").expect("request");
    assert_eq!(status, 400, "{body}");
}

#[test]
fn a_replica_reserves_its_placement_group_bundles_and_its_requests_work_in_them() {
    let group = cluster_with_kit();
    let shown = declare(
        &group,
        "applications:
  - name: gang
    deployments:
      - name: roomy
        component: kit
        function: streams.sum
        route: /roomy
        placement_group_bundles:
          - cpus: 0.1
          - cpus: 1
        placement_group_strategy: STRICT_PACK
      - name: cramped
        component: kit
        function: streams.sum
        route: /cramped
        placement_group_bundles:
          - cpus: 0.1
          - cpus: 0.5
",
    );
    assert!(!shown.contains("0/1 replicas"), "{shown}");
    let groups = group.weft_ok(&["pg", "list"]).expect("pg list");
    assert!(
        groups.contains("STRICT_PACK") && groups.contains("PACK") && groups.contains("2 bundles"),
        "{groups}"
    );
    // sum(component, n) submits count(n) (one cpu) as a stream and adds
    // its items. The child goes into the replica's group: it runs in the
    // roomy replica's one-cpu bundle, and in the cramped one it fits no
    // bundle, which names the group.
    let gateway = gateway_of(&group);
    assert_eq!(
        http_request(&gateway, "POST", "/roomy", br#"["kit", 3]"#).expect("request"),
        (200, "3".to_string())
    );
    let (status, body) =
        http_request(&gateway, "POST", "/cramped", br#"["kit", 3]"#).expect("request");
    assert_eq!(status, 500, "{body}");
    assert!(
        body.contains("more than any bundle of placement group pg-"),
        "{body}"
    );
    let err = group
        .weft_err(&[
            "serve",
            "deploy",
            &app_file(
                &tempfile::tempdir().expect("tempdir"),
                "both.yaml",
                "applications:
  - name: both
    deployments:
      - name: x
        component: kit
        function: add
        cpus: 1
        placement_group_bundles:
          - cpus: 1
",
            )
            .display()
            .to_string(),
        ])
        .expect("refused");
    assert!(
        err.contains("in its first placement_group_bundles entry"),
        "{err}"
    );
}

#[test]
fn a_replica_keeps_its_instance_and_reconfigure_gets_each_user_config() {
    let group = cluster_with_kit();
    let state = |gateway: &str| {
        let (status, body) = http_request(gateway, "POST", "/state", b"[]").expect("request");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<String>(&body).expect("a JSON string")
    };
    kept_and_reconfigured(
        &group,
        "component: kit\n        function: instance-state",
        state,
    );
}

#[test]
fn a_handler_replica_keeps_its_instance_and_reconfigure_gets_each_user_config() {
    let group = cluster(&["h1"]);
    let state = |gateway: &str| {
        let (status, body) = http_request(gateway, "GET", "/state", b"").expect("request");
        assert_eq!(status, 200, "{body}");
        body
    };
    kept_and_reconfigured(&group, "component: svc", state);
}

/// A deployment of `component` (its app-file lines) on `/state`, one
/// request at a time: `state` reads what the instance holds. Its requests
/// share an instance, which ran `reconfigure` once before the first; a new
/// `user_config` reconfigures that same instance in place.
fn kept_and_reconfigured(group: &Group, component: &str, state: impl Fn(&str) -> String) {
    let app = |v: u32| {
        format!(
            "applications:
  - name: stateful
    deployments:
      - name: state
        {component}
        route: /state
        max_ongoing_requests: 1
        user_config:
          v: {v}
"
        )
    };
    declare(group, &app(1));
    let gateway = gateway_of(group);
    for served in 1..=3 {
        assert_eq!(
            state(&gateway),
            format!(r#"config={{"v":1}} reconfigured=1 served={served}"#)
        );
    }
    let before = replica_lines(group);
    declare(group, &app(2));
    let seen = std::cell::Cell::new(3);
    eventually(Duration::from_secs(10), || {
        let now = state(&gateway);
        seen.set(seen.get() + 1);
        fact(now.contains(r#"{"v":2}"#), || format!("still {now}"))
    })
    .expect("the new config reaches the replica");
    assert_eq!(
        state(&gateway),
        format!(
            r#"config={{"v":2}} reconfigured=2 served={}"#,
            seen.get() + 1
        ),
        "the same instance, reconfigured in place: what it held stays"
    );
    assert_eq!(replica_lines(group), before, "no replica restarted");
}

#[test]
fn a_replica_that_fails_its_health_check_is_replaced() {
    let group = cluster(&["h1"]);
    declare(
        &group,
        "applications:
  - name: checked
    deployments:
      - name: sick
        component: svc
        route: /sick/...
        health_check_path: /trap
        health_check_period_s: 0.2
        graceful_shutdown_s: 0.2
      - name: well
        component: svc
        route: /well/...
        health_check_path: /sleep?ms=1
        health_check_period_s: 0.2
",
    );
    let status = || group.weft_ok(&["serve", "status"]).unwrap_or_default();
    // The replica ids of one deployment, as `weft serve status` lists them
    // under its line.
    let ids = |deployment: &str| -> Vec<String> {
        status()
            .lines()
            .skip_while(|l| !l.starts_with(&format!("  {deployment}  ")))
            .skip(1)
            .take_while(|l| l.starts_with("    "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|id| id.starts_with("pg-"))
            .map(str::to_string)
            .collect()
    };
    let (sick, well) = (ids("sick"), ids("well"));
    assert_eq!((sick.len(), well.len()), (1, 1), "{}", status());
    eventually(Duration::from_secs(20), || {
        let now = status();
        fact(
            now.contains("its health check GET /trap answered 500")
                && now.contains(&format!("replaced {}", sick[0])),
            || format!("the sick replica was not replaced: {now}"),
        )
    })
    .expect("the sick replica is replaced");
    eventually(Duration::from_secs(20), || {
        let now = ids("sick");
        fact(!now.is_empty() && !now.contains(&sick[0]), || {
            format!("no new replica in its place: {now:?}")
        })
    })
    .expect("a new replica takes its place");
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(ids("well"), well, "the healthy replica stays: {}", status());
}
