//! TLS: a replicated cluster whose every connection is mutual TLS (Raft
//! peers, hosts joining, host-to-host object pulls over bulk streams,
//! actor lanes, clients) runs tasks, actors and objects; clients without
//! a certificate from the cluster's CA, with an expired one, or speaking
//! plaintext are refused with a message naming the problem; the gateway
//! serves HTTPS; `weft up --tls` is reached by local clients without flags.

use std::path::Path;

use anyhow::Context;
use std::time::Duration;

use weft_tests::{Cluster, Group, fnv, guests, pattern, weft_at, weft_err_at, weft_ok_at};

/// The CLI for commands that reach no cluster (`weft certs`).
fn weft(args: &[&str]) -> std::process::Output {
    weft_at("127.0.0.1:1", args)
}

/// `weft certs init DIR`.
fn certs_in(dir: &Path) -> anyhow::Result<()> {
    let out = weft(&["certs", "init", dir.to_str().unwrap_or_default()]);
    anyhow::ensure!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

fn path(dir: &Path, file: &str) -> String {
    dir.join(file).display().to_string()
}

#[test]
fn a_replicated_cluster_runs_tasks_actors_and_objects_over_mutual_tls() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let certs = dir.path().join("certs");
    certs_in(&certs)?;
    let token = dir.path().join("token");
    std::fs::write(&token, "cluster-secret")?;
    let (ca, node, node_key) = (
        path(&certs, "ca.pem"),
        path(&certs, "node.pem"),
        path(&certs, "node-key.pem"),
    );
    let secure: Vec<&str> = vec![
        "--tls-ca",
        &ca,
        "--tls-cert",
        &node,
        "--tls-key",
        &node_key,
        "--auth-token-file",
        token.to_str().unwrap_or_default(),
    ];
    let mut controller_flags = vec!["--host-timeout", "2"];
    controller_flags.extend(&secure);
    let mut group = Group::start(3, &controller_flags)?;
    let leader = group.wait_for_leader(Duration::from_secs(30))?;
    assert!(
        group.log(leader).contains("TLS on: mutual"),
        "{}",
        group.log(leader)
    );
    // Both hosts pull objects over the network (bulk streams in TLS), as
    // hosts on different machines do.
    let mut host_flags = vec!["--network-pulls", "--http-port", "0"];
    host_flags.extend(&secure);
    group.start_host("a", 2, &host_flags)?;
    // Only b offers `only_b`, so a Serve replica asking for it lands there.
    let mut b_flags = host_flags.clone();
    b_flags.extend(["--resources", "only_b=1"]);
    group.start_host("b", 2, &b_flags)?;
    group.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    group.weft_ok(&["deploy", guests::COUNTER, "--name", "counter"])?;

    // Tasks, spread over both hosts.
    let refs: Vec<String> = (0..8)
        .map(|i| {
            group.weft_ok(&[
                "submit",
                "kit",
                &format!("add({i}, 100)"),
                "--strategy",
                "spread",
            ])
        })
        .collect::<anyhow::Result<_>>()?;
    let mut args = vec!["get"];
    args.extend(refs.iter().map(String::as_str));
    let sums = group.weft_ok(&args)?;
    let expected: Vec<String> = (0..8).map(|i| (i + 100).to_string()).collect();
    assert_eq!(sums.lines().collect::<Vec<_>>(), expected);

    // An object made on host a and read by a task on host b: b pulls it
    // from a over a TLS bulk stream.
    let made = group.weft_ok(&["submit", "kit", "make(24, 7)", "--node", "a", "--wait"])?;
    let object = made
        .split('"')
        .nth(1)
        .unwrap_or_else(|| panic!("an object-ref in {made}"))
        .to_string();
    let sum = group.weft_ok(&[
        "submit",
        "kit",
        &format!("checksum(@{object})"),
        "--node",
        "b",
        "--wait",
    ])?;
    let expected = fnv(&pattern(24 << 20, 7)).to_string();
    assert_eq!(sum.lines().last(), Some(expected.as_str()), "{sum}");

    // An actor, called over its host's TLS lane.
    group.weft_ok(&[
        "actor", "create", "counter", "counter", "new(5)", "--name", "tally",
    ])?;
    for expected in ["6", "7", "8"] {
        assert_eq!(
            group.weft_ok(&["actor", "call", "tally", "incr()"])?.trim(),
            expected
        );
    }

    // The gateway speaks HTTPS with the node certificate.
    let http = group.host_http_address("a").expect("a gateway");
    let (status, body) = weft_tests::https_request_as(
        &http,
        &certs.join("ca.pem"),
        "POST",
        "/v1/call/kit/add",
        b"[40, 2]",
        Some("cluster-secret"),
    )?;
    assert_eq!((status, body.trim()), (200, "42"));
    // A Serve replica on b, asked for at a's gateway: a forwards the
    // request to b's gateway over HTTPS.
    group.weft_ok(&["deploy", guests::HTTP_TESTKIT, "--name", "svc"])?;
    let app = dir.path().join("app.yaml");
    std::fs::write(
        &app,
        "applications:\n  - name: secure\n    deployments:\n      - name: web\n        \
         component: svc\n        route: /sleep\n        resources:\n          only_b: 1\n",
    )?;
    let shown = group.weft_ok(&["serve", "deploy", app.to_str().unwrap_or_default()])?;
    assert!(shown.contains("  b  "), "the replica is on b: {shown}");
    let (status, body) = weft_tests::https_request_as(
        &http,
        &certs.join("ca.pem"),
        "GET",
        "/sleep?ms=1",
        b"",
        None,
    )?;
    assert_eq!((status, body.trim()), (200, "slept 1 ms"));
    // A driver's handle: HTTPS to each gateway in turn (pooled, checked
    // with the cluster's CA), with the cluster's token.
    for _ in 0..3 {
        let called = group.weft_ok(&[
            "serve",
            "call",
            "secure/web",
            "--path",
            "/sleep?ms=1",
            "--method",
            "GET",
        ])?;
        assert_eq!(called.trim(), "slept 1 ms");
    }
    // A forward forged without a host's token is refused: a forward skips
    // routing and the route's own admission.
    let replica = shown
        .split_whitespace()
        .find(|w| w.starts_with("pg-"))
        .context("a replica id")?;
    let (status, body) = weft_tests::https_request_with_headers(
        &http,
        &certs.join("ca.pem"),
        "GET",
        "/sleep?ms=1",
        b"",
        &[
            ("x-weft-replica", replica),
            ("x-weft-deployment", "secure/web"),
        ],
    )?;
    assert_eq!(status, 401, "{body}");
    // Plain HTTP to it gets nowhere.
    assert!(weft_tests::http_request(&http, "POST", "/v1/call/kit/add", b"[1, 1]").is_err());

    // Refusals, each naming its cause; none costs the cluster anything.
    let addresses = group.addresses();
    let with_token = |extra: &[&str], args: &[&str]| {
        let mut all = vec!["--token-file", token.to_str().unwrap_or_default()];
        all.extend(extra);
        all.extend(args);
        weft_err_at(&addresses, &all)
    };
    let as_client = |ca: &str, cert: &str, key: &str| {
        with_token(
            &["--tls-ca", ca, "--tls-cert", cert, "--tls-key", key],
            &["list", "nodes"],
        )
    };
    let no_cert = with_token(&["--tls-ca", &ca], &["list", "nodes"])?;
    assert!(
        no_cert.contains("CertificateRequired") || no_cert.contains("shows no certificate"),
        "{no_cert}"
    );
    let plaintext = with_token(&[], &["list", "nodes"])?;
    assert!(plaintext.contains("plaintext"), "{plaintext}");

    // A certificate from another CA: the client does not trust the
    // cluster's, and the cluster would not trust the client's.
    let other = dir.path().join("other");
    certs_in(&other)?;
    let (other_ca, other_cert, other_key) = (
        path(&other, "ca.pem"),
        path(&other, "client.pem"),
        path(&other, "client-key.pem"),
    );
    let untrusted = as_client(&other_ca, &other_cert, &other_key)?;
    assert!(untrusted.contains("UnknownIssuer"), "{untrusted}");
    // The CLI checks its own certificate as the cluster would...
    let foreign_client = as_client(&ca, &other_cert, &other_key)?;
    assert!(
        foreign_client.contains("would be refused") && foreign_client.contains("UnknownIssuer"),
        "{foreign_client}"
    );
    // ...and the cluster refuses a client that does not.
    let refused = weft_tests::runtime().block_on(async {
        let read = |p: &str| std::fs::read(p).unwrap_or_default();
        let tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(read(&ca)))
            .identity(tonic::transport::Identity::from_pem(
                read(&other_cert),
                read(&other_key),
            ));
        let channel =
            tonic::transport::Endpoint::from_shared(format!("https://{}", group.address(leader)))?
                .tls_config(tls)?
                .connect()
                .await?;
        let bearer = weft_proto::auth::Bearer::new(Some("cluster-secret"));
        let mut rpc = weft_proto::v1::weft_client::WeftClient::with_interceptor(channel, bearer);
        anyhow::Ok(rpc.list_nodes(weft_proto::v1::ListNodesRequest {}).await)
    });
    assert!(!matches!(refused, Ok(Ok(_))), "{refused:?}");

    // An expired client certificate (valid for 0 days, so expired the
    // second after it was made).
    let issued = weft(&[
        "certs",
        "issue",
        certs.to_str().unwrap_or_default(),
        "--name",
        "stale",
        "--client",
        "--days",
        "0",
    ]);
    assert!(issued.status.success());
    let (stale, stale_key) = (path(&certs, "stale.pem"), path(&certs, "stale-key.pem"));
    // Refused once its second has passed.
    weft_tests::eventually(Duration::from_secs(10), || {
        let expired = as_client(&ca, &stale, &stale_key)?;
        weft_tests::fact(
            expired.contains("would be refused") && expired.to_lowercase().contains("expired"),
            || expired.clone(),
        )
        .map_err(anyhow::Error::msg)
    })?;

    // A freshly issued client certificate works, and the cluster is whole.
    weft(&[
        "certs",
        "issue",
        certs.to_str().unwrap_or_default(),
        "--name",
        "alice",
        "--client",
    ]);
    let (alice, alice_key) = (path(&certs, "alice.pem"), path(&certs, "alice-key.pem"));
    let mut args = vec![
        "--token-file",
        token.to_str().unwrap_or_default(),
        "--tls-ca",
        &ca,
        "--tls-cert",
        &alice,
        "--tls-key",
        &alice_key,
    ];
    args.extend(["call", "kit", "add(2, 3)"]);
    assert_eq!(weft_ok_at(&addresses, &args)?, "5");
    let nodes = group.weft_ok(&["list", "nodes"])?;
    assert_eq!(nodes.matches("alive").count(), 2, "{nodes}");
    Ok(())
}

#[test]
fn weft_up_with_tls_is_reached_by_local_clients_without_flags() -> anyhow::Result<()> {
    let data = tempfile::tempdir()?;
    let cluster = Cluster::start_with(data.path(), &["--tls", "--http-port", "0"])?;
    assert!(
        cluster.log().contains("TLS on: mutual"),
        "{}",
        cluster.log()
    );
    // The CLI on this machine finds the CA and a client certificate by
    // the cluster's address, as it finds the token.
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    assert_eq!(cluster.weft_ok(&["call", "kit", "add(1, 2)"])?, "3");
    let ca = cluster.data_dir().join("tls").join("ca.pem");
    let key_mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(cluster.data_dir().join("tls").join("ca-key.pem"))?.permissions(),
    );
    assert_eq!(key_mode & 0o777, 0o600);
    let token = std::fs::read_to_string(cluster.data_dir().join("auth-token"))?;
    let http = cluster.http_address().expect("a gateway");
    let (status, body) = weft_tests::https_request_as(
        http,
        &ca,
        "POST",
        "/v1/call/kit/add",
        b"[2, 2]",
        Some(token.trim()),
    )?;
    assert_eq!((status, body.trim()), (200, "4"));
    // The dashboard speaks HTTPS with the node's certificate too.
    let dashboard = cluster.dashboard().expect("a dashboard");
    let address = dashboard
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("{dashboard} is not https"))
        .trim_end_matches('/');
    // Its first reading of the cluster may still be under way.
    weft_tests::eventually(Duration::from_secs(15), || {
        let (status, body) = weft_tests::https_request_as(
            address,
            &ca,
            "GET",
            "/api/overview",
            b"",
            Some(token.trim()),
        )?;
        assert_eq!(status, 200, "{body}");
        weft_tests::fact(body.contains("\"role\":\"leader\""), || body.clone())
            .map_err(anyhow::Error::msg)
    })?;
    cluster.stop()
}
