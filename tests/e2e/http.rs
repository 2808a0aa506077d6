//! The HTTP gateway: routes to wasi:http components and the JSON call
//! endpoint, through real `weft` processes and raw HTTP/1.1.

use std::time::{Duration, Instant};

use weft_tests::{Cluster, Group, guests, http_request};

fn cluster_with_gateway(extra: &[&str]) -> anyhow::Result<(tempfile::TempDir, Cluster, String)> {
    let dir = tempfile::tempdir()?;
    let mut flags = vec!["--http-port", "0"];
    flags.extend_from_slice(extra);
    let cluster = Cluster::start_with(dir.path(), &flags)?;
    let http = cluster.http_address().expect("gateway started").to_string();
    Ok((dir, cluster, http))
}

#[test]
fn routes_are_added_listed_served_and_removed() -> anyhow::Result<()> {
    let (_dir, cluster, http) = cluster_with_gateway(&[])?;
    cluster.weft_ok(&["deploy", guests::HTTP_HELLO, "--name", "http-hello"])?;
    cluster.weft_ok(&["route", "add", "/hello/...", "http-hello"])?;
    cluster.weft_ok(&["route", "add", "/echo", "http-hello"])?;
    let list = cluster.weft_ok(&["route", "list"])?;
    assert!(list.contains("/hello/...\thttp-hello"), "{list}");
    assert!(list.contains("/echo\thttp-hello"), "{list}");

    assert_eq!(
        http_request(&http, "GET", "/hello/weft", b"")?,
        (200, "Hello, weft!\n".to_string())
    );
    let (status, body) = http_request(&http, "POST", "/echo", br#"{"n": 42}"#)?;
    assert_eq!(status, 200);
    let json: serde_json::Value = serde_json::from_str(&body)?;
    assert_eq!(json, serde_json::json!({"received": {"n": 42}, "bytes": 9}));
    assert_eq!(http_request(&http, "GET", "/nowhere", b"")?.0, 404);

    cluster.weft_ok(&["route", "remove", "/hello/..."])?;
    assert_eq!(http_request(&http, "GET", "/hello/weft", b"")?.0, 404);
    assert!(
        cluster
            .weft_err(&["route", "remove", "/hello/..."])?
            .contains("no route on `/hello/...`")
    );
    // A component without the handler cannot take a route.
    cluster.weft_ok(&["deploy", guests::PI, "--name", "pi"])?;
    let err = cluster.weft_err(&["route", "add", "/pi", "pi"])?;
    assert!(
        err.contains("does not export wasi:http/incoming-handler"),
        "{err}"
    );
    let err = cluster.weft_err(&["route", "add", "no-slash", "http-hello"])?;
    assert!(err.contains("invalid route path"), "{err}");
    Ok(())
}

#[test]
fn a_trapping_handler_gets_500_and_the_next_request_succeeds() -> anyhow::Result<()> {
    let (_dir, cluster, http) = cluster_with_gateway(&[])?;
    cluster.weft_ok(&["deploy", guests::HTTP_TESTKIT, "--name", "httpkit"])?;
    cluster.weft_ok(&["route", "add", "/...", "httpkit"])?;
    let (status, body) = http_request(&http, "GET", "/trap", b"")?;
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("the handler gave up on purpose"), "{body}");
    assert_eq!(
        http_request(&http, "GET", "/sleep?ms=1", b"")?,
        (200, "slept 1 ms".to_string())
    );
    Ok(())
}

#[test]
fn an_endless_handler_gets_504_within_its_deadline() -> anyhow::Result<()> {
    let (_dir, cluster, http) = cluster_with_gateway(&[])?;
    cluster.weft_ok(&["deploy", guests::HTTP_TESTKIT, "--name", "httpkit"])?;
    cluster.weft_ok(&["route", "add", "/spin", "httpkit", "--timeout", "0.5"])?;
    let started = Instant::now();
    let (status, body) = http_request(&http, "GET", "/spin", b"")?;
    assert_eq!(status, 504, "{body}");
    assert!(started.elapsed() < Duration::from_secs(10));
    Ok(())
}

#[test]
fn oversized_bodies_get_413() -> anyhow::Result<()> {
    let (_dir, cluster, http) = cluster_with_gateway(&["--http-max-body", "1000"])?;
    cluster.weft_ok(&["deploy", guests::HTTP_TESTKIT, "--name", "httpkit"])?;
    cluster.weft_ok(&["route", "add", "/...", "httpkit"])?;
    assert_eq!(
        http_request(&http, "POST", "/size", &[7; 1000])?,
        (200, "1000".to_string())
    );
    assert_eq!(http_request(&http, "POST", "/size", &[7; 5000])?.0, 413);
    Ok(())
}

#[test]
fn a_busy_route_queues_then_answers_503() -> anyhow::Result<()> {
    let (_dir, cluster, http) = cluster_with_gateway(&[])?;
    cluster.weft_ok(&["deploy", guests::HTTP_TESTKIT, "--name", "httpkit"])?;
    cluster.weft_ok(&[
        "route",
        "add",
        "/sleep",
        "httpkit",
        "--max-concurrency",
        "1",
    ])?;
    let slow = {
        let http = http.clone();
        std::thread::spawn(move || http_request(&http, "GET", "/sleep?ms=3000", b""))
    };
    // Once the slow request holds the route's one slot, the next is turned
    // away (until then, quick requests are served).
    let (status, body) = weft_tests::eventually(Duration::from_secs(30), || {
        let (status, body) =
            http_request(&http, "GET", "/sleep?ms=1", b"").map_err(|e| e.to_string())?;
        match status {
            200 => Err("the slow request has not taken the slot yet".to_string()),
            _ => Ok((status, body)),
        }
    })?;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("at its limit of 1 concurrent"), "{body}");
    assert_eq!(slow.join().expect("thread")?.0, 200);
    assert_eq!(http_request(&http, "GET", "/sleep?ms=1", b"")?.0, 200);
    Ok(())
}

#[test]
fn outbound_http_goes_only_to_granted_hosts() -> anyhow::Result<()> {
    let (_dir, cluster, http) = cluster_with_gateway(&[])?;
    cluster.weft_ok(&["deploy", guests::HTTP_HELLO, "--name", "http-hello"])?;
    cluster.weft_ok(&["route", "add", "/hello/...", "http-hello"])?;
    cluster.weft_ok(&[
        "deploy",
        guests::HTTP_TESTKIT,
        "--name",
        "httpkit",
        "--allow-http",
        &http,
    ])?;
    cluster.weft_ok(&["route", "add", "/fetch", "httpkit"])?;
    let granted = format!("/fetch?url=http://{http}/hello/me");
    assert_eq!(
        http_request(&http, "GET", &granted, b"")?,
        (200, "status 200".to_string())
    );
    let refused = "/fetch?url=http://127.0.0.2:9/anything";
    let (status, body) = http_request(&http, "GET", refused, b"")?;
    assert_eq!(status, 200);
    assert!(body.contains("HttpRequestDenied"), "{body}");
    // Without a grant, nothing goes out.
    cluster.weft_ok(&["deploy", guests::HTTP_TESTKIT, "--name", "httpkit"])?;
    let (_, body) = http_request(&http, "GET", &granted, b"")?;
    assert!(body.contains("HttpRequestDenied"), "{body}");
    Ok(())
}

#[test]
fn the_json_endpoint_calls_any_function() -> anyhow::Result<()> {
    let (_dir, cluster, http) = cluster_with_gateway(&[])?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    // It runs any code, so it takes the cluster's tokens: the invoke
    // token does.
    let token = std::fs::read_to_string(cluster.data_dir().join("invoke-token"))?;
    let http_request = |address: &str, method: &str, path: &str, body: &[u8]| {
        weft_tests::http_request_as(address, method, path, body, Some(&token))
    };
    let (status, body) = weft_tests::http_request(&http, "POST", "/v1/call/kit/add", b"[40, 2]")?;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("needs a token"), "{body}");
    let (status, _) =
        weft_tests::http_request_as(&http, "POST", "/v1/call/kit/add", b"[1, 1]", Some("nope"))?;
    assert_eq!(status, 401);
    assert_eq!(
        http_request(&http, "POST", "/v1/call/kit/add", b"[40, 2]")?,
        (200, "42".to_string())
    );
    let (status, body) = http_request(
        &http,
        "POST",
        "/v1/call/kit/values.echo-point",
        br#"[{"x": 1, "y": 2, "label": "p"}]"#,
    )?;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body)?,
        serde_json::json!({"x": 1, "y": 2, "label": "p"})
    );
    let cases: &[(&str, &[u8], u16, &str)] = &[
        ("/v1/call/kit/add", b"[1, ", 400, "not valid JSON"),
        (
            "/v1/call/kit/add",
            b"[1, \"x\"]",
            400,
            "argument 2 (`b`): expected s32",
        ),
        (
            "/v1/call/kit/add",
            b"{\"a\": 1}",
            400,
            "must be a JSON array",
        ),
        (
            "/v1/call/nokit/add",
            b"[]",
            404,
            "unknown component `nokit`",
        ),
        (
            "/v1/call/kit/subtract",
            b"[]",
            404,
            "no exported function `subtract`",
        ),
        ("/v1/call/kit/fail", b"[\"boom\"]", 500, "boom"),
    ];
    for (path, body, status, expected) in cases {
        let (got, text) = http_request(&http, "POST", path, body)?;
        assert_eq!(got, *status, "{path}: {}", text);
        let json: serde_json::Value = serde_json::from_str(&text)?;
        assert!(
            json["error"]
                .as_str()
                .unwrap_or_default()
                .contains(expected),
            "{path}: {}",
            text
        );
    }
    Ok(())
}

#[test]
fn every_host_serves_the_same_routes() -> anyhow::Result<()> {
    let mut group = Group::start(2, &[])?;
    group.wait_for_leader(Duration::from_secs(20))?;
    for id in ["h1", "h2"] {
        group.start_host(id, 1, &["--http-port", "0"])?;
    }
    group.weft_ok(&["deploy", guests::HTTP_HELLO, "--name", "http-hello"])?;
    group.weft_ok(&["route", "add", "/hello/...", "http-hello"])?;
    for id in ["h1", "h2"] {
        // A host never given the component's bytes fetches them.
        let http = group.host_http_address(id).expect("gateway");
        assert_eq!(
            http_request(&http, "GET", "/hello/cluster", b"")?,
            (200, "Hello, cluster!\n".to_string()),
            "host {id}"
        );
    }
    // Each host keeps what the handlers it ran wrote; `weft logs` merges
    // them by time and says which host kept each line.
    group.weft_ok(&["deploy", guests::HTTP_TESTKIT, "--name", "httpkit"])?;
    group.weft_ok(&["route", "add", "/say", "httpkit"])?;
    for id in ["h1", "h2"] {
        let http = group.host_http_address(id).expect("gateway");
        let path = format!("/say?text=from-{id}");
        assert_eq!(
            http_request(&http, "GET", &path, b"")?,
            (200, "ok".to_string())
        );
    }
    let log = group.weft_ok(&["logs", "/say"])?;
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "h1: said from-h1",
            "h1: (to stderr) from-h1",
            "h2: said from-h2",
            "h2: (to stderr) from-h2"
        ],
        "{log}"
    );
    Ok(())
}

#[test]
fn a_handler_calls_a_named_actor_whose_state_every_request_sees() -> anyhow::Result<()> {
    let (_dir, cluster, http) = cluster_with_gateway(&[])?;
    cluster.weft_ok(&["deploy", guests::COUNTER, "--name", "counter"])?;
    cluster.weft_ok(&["deploy", guests::HTTP_TESTKIT, "--name", "httpkit"])?;
    cluster.weft_ok(&["route", "add", "/count", "httpkit"])?;
    cluster.weft_ok(&[
        "actor", "create", "counter", "counter", "new(0)", "--name", "visits",
    ])?;
    for n in 1..=3 {
        assert_eq!(
            http_request(&http, "GET", "/count?actor=visits", b"")?,
            (200, format!("count {n}"))
        );
    }
    let after = cluster.weft_ok(&["actor", "call", "visits", "get()"])?;
    assert_eq!(after.trim(), "3");
    // An unknown actor is an answer naming it, not a failed request.
    let (status, body) = http_request(&http, "GET", "/count?actor=nobody", b"")?;
    assert_eq!(status, 200);
    assert!(
        body.starts_with("error:") && body.contains("nobody"),
        "{body}"
    );
    Ok(())
}

#[test]
fn a_handler_fans_out_tasks_and_answers_with_their_sum() -> anyhow::Result<()> {
    let (_dir, cluster, http) = cluster_with_gateway(&[])?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    cluster.weft_ok(&["deploy", guests::HTTP_TESTKIT, "--name", "httpkit"])?;
    cluster.weft_ok(&["route", "add", "/sum", "httpkit"])?;
    assert_eq!(
        http_request(&http, "GET", "/sum?n=10", b"")?,
        (200, "sum 55".to_string())
    );
    Ok(())
}

#[test]
fn a_percent_before_a_multibyte_character_is_answered() -> anyhow::Result<()> {
    // Without tokens, so that the path reaches the parsing under test.
    let (_dir, cluster, http) = cluster_with_gateway(&["--insecure-no-auth"])?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    // Once sliced the path through `é` and killed the connection's task.
    for path in ["/v1/call/kit/%A\u{e9}", "/v1/call/kit/\u{e9}%4"] {
        let (status, body) = http_request(&http, "POST", path, b"[]")?;
        assert_eq!(status, 404, "{path}: {body}");
    }
    assert_eq!(
        http_request(&http, "POST", "/v1/call/kit/add", b"[1, 2]")?,
        (200, "3".to_string()),
        "the gateway carries on"
    );
    Ok(())
}

/// A small deterministic generator, so a failing case can be replayed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a [u8]]) -> &'a [u8] {
        items[self.below(items.len())]
    }
}

/// Sends raw request bytes; returns the status, or `None` when the
/// gateway closed the connection without an answer.
fn raw_request(address: &str, request: &[u8]) -> anyhow::Result<Option<u16>> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(20)))?;
    let _ = stream.write_all(request);
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    Ok(text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok()))
}

#[test]
fn random_paths_and_bodies_get_answers_and_the_gateway_carries_on() -> anyhow::Result<()> {
    // Without tokens, so that every request reaches the parsing under test.
    let (_dir, cluster, http) =
        cluster_with_gateway(&["--http-max-body", "4096", "--insecure-no-auth"])?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    cluster.weft_ok(&["deploy", guests::HTTP_TESTKIT, "--name", "httpkit"])?;
    cluster.weft_ok(&["route", "add", "/kit/...", "httpkit"])?;
    let seed = std::env::var("WEFT_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_cafe_u64);
    println!("gateway fuzz seed {seed} (replay with WEFT_FUZZ_SEED)");
    let mut rng = XorShift(seed);
    let prefixes: &[&[u8]] = &[
        b"/v1/call/kit/",
        b"/v1/call/",
        b"/v1/call/kit/values.",
        b"/kit/",
        b"/kit/size",
        b"/",
        b"",
    ];
    let pieces: &[&[u8]] = &[
        b"add",
        b"%",
        b"%A",
        b"%4",
        b"%41",
        b"%zz",
        b"%C3%A9",
        b"\xc3\xa9",
        b"\xe2\x82",
        b"\xff",
        b"/",
        b"//",
        b"..",
        b"?",
        b"#",
        b"a",
        b"echo-point",
        b"%2F",
        b"%00",
        b"~",
        b"@",
    ];
    let bodies: &[&[u8]] = &[
        b"",
        b"[",
        b"[1, 2]",
        b"[1, \"x\"]",
        b"{}",
        b"null",
        b"[1e999, -0]",
        b"[\"\\ud800\"]",
        b"\xff\xfe",
        b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
        b"[2147483648, 1]",
    ];
    let methods: &[&[u8]] = &[b"GET", b"POST", b"PUT", b"DELETE", b"P\xffST"];
    let (mut answered, mut closed) = (0, 0);
    for round in 0..300 {
        let mut path = rng.pick(prefixes).to_vec();
        for _ in 0..rng.below(6) {
            path.extend_from_slice(rng.pick(pieces));
        }
        let mut body = rng.pick(bodies).to_vec();
        if rng.below(10) == 0 {
            body = (0..rng.below(6000)).map(|_| rng.next() as u8).collect();
        }
        let mut request = rng.pick(methods).to_vec();
        request.push(b' ');
        request.extend_from_slice(&path);
        request.extend_from_slice(
            format!(
                " HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(&body);
        match raw_request(&http, &request)? {
            Some(status) => {
                assert!(
                    (200..600).contains(&status),
                    "round {round}: status {status}"
                );
                answered += 1;
            }
            None => closed += 1,
        }
        if round % 50 == 49 {
            assert_eq!(
                http_request(&http, "POST", "/v1/call/kit/add", b"[1, 2]")?,
                (200, "3".to_string()),
                "the gateway stopped answering after round {round}"
            );
        }
    }
    println!("{answered} answered, {closed} refused at the HTTP layer (malformed)");
    assert!(answered > 200, "{answered} answered, {closed} closed");
    Ok(())
}

#[test]
fn a_routes_handlers_write_its_log_and_weft_logs_reads_it() -> anyhow::Result<()> {
    let (_dir, cluster, http) = cluster_with_gateway(&[])?;
    cluster.weft_ok(&["deploy", guests::HTTP_TESTKIT, "--name", "httpkit"])?;
    cluster.weft_ok(&["route", "add", "/...", "httpkit"])?;
    for text in ["one", "two", "three"] {
        let path = format!("/say?text={text}");
        assert_eq!(
            http_request(&http, "GET", &path, b"")?,
            (200, "ok".to_string())
        );
    }
    assert_eq!(http_request(&http, "GET", "/trap", b"")?.0, 500);
    let log = cluster.weft_ok(&["logs", "/..."])?;
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines[..6],
        [
            "said one",
            "(to stderr) one",
            "said two",
            "(to stderr) two",
            "said three",
            "(to stderr) three"
        ],
        "{log}"
    );
    assert!(log.contains("the handler gave up on purpose"), "{log}");
    let last = cluster.weft_ok(&["logs", "/...", "--tail", "1"])?;
    assert_eq!(Some(last.as_str()), lines.last().copied(), "{log}");
    // A route nothing was written under says so, by name.
    let out = cluster.weft(&["logs", "/elsewhere"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && out.stdout.is_empty(), "{err}");
    assert!(
        err.contains("route /elsewhere has no handler output"),
        "{err}"
    );
    Ok(())
}

#[test]
fn a_route_added_with_auth_needs_a_token_and_the_others_stay_public() -> anyhow::Result<()> {
    let (dir, cluster, http) = cluster_with_gateway(&[])?;
    cluster.weft_ok(&["deploy", guests::HTTP_HELLO, "--name", "http-hello"])?;
    cluster.weft_ok(&["route", "add", "/hello/...", "http-hello"])?;
    cluster.weft_ok(&["route", "add", "/private/...", "http-hello", "--auth"])?;
    let list = cluster.weft_ok(&["route", "list"])?;
    assert!(
        list.lines()
            .any(|l| l.starts_with("/private/...") && l.ends_with("token required")),
        "{list}"
    );
    assert!(
        list.lines()
            .any(|l| l.starts_with("/hello/...") && !l.contains("token")),
        "{list}"
    );
    assert_eq!(http_request(&http, "GET", "/hello/weft", b"")?.0, 200);
    let (status, body) = http_request(&http, "GET", "/private/weft", b"")?;
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("needs a token"), "{body}");
    let (status, _) =
        weft_tests::http_request_as(&http, "GET", "/private/weft", b"", Some("wrong"))?;
    assert_eq!(status, 401);
    // Either of the cluster's tokens opens it, the invoke token too: the
    // request reaches the guest, which answers for paths it does not know.
    let invoke = std::fs::read_to_string(dir.path().join("invoke-token"))?;
    assert_eq!(
        weft_tests::http_request_as(&http, "GET", "/private/weft", b"", Some(invoke.trim()))?,
        (404, "nothing at /private/weft\n".to_string())
    );
    Ok(())
}
