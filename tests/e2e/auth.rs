//! Tokens: a cluster started by `weft up` refuses callers without its
//! token, lets the invoke token run work but not change the cluster, and
//! refuses a host that does not have the cluster's token; the refusals
//! name the problem and cost no state.

use weft_proto::v1 as pb;
use weft_tests::{Cluster, Group, guests, write_file};

/// A raw client of `address` sending `token` (none: no header at all).
async fn client(
    address: &str,
    token: Option<&str>,
) -> anyhow::Result<pb::weft_client::WeftClient<weft_proto::auth::AuthedChannel>> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))?
        .connect()
        .await?;
    let bearer = weft_proto::auth::Bearer::new(token);
    Ok(pb::weft_client::WeftClient::with_interceptor(
        channel, bearer,
    ))
}

#[test]
fn weft_up_refuses_callers_without_its_token_and_scopes_the_invoke_token() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    // The CLI on this machine finds the admin token `weft up` left for it.
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    assert_eq!(cluster.weft_ok(&["call", "kit", "add(1, 2)"])?, "3");
    let admin = std::fs::read_to_string(cluster.data_dir().join("auth-token"))?;
    let invoke = std::fs::read_to_string(cluster.data_dir().join("invoke-token"))?;
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(cluster.data_dir().join("auth-token"))?.permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    weft_tests::runtime().block_on(async {
        let call = || pb::CallRequest {
            component: "kit".into(),
            invocation: Some(pb::call_request::Invocation::WaveCall("add(2, 2)".into())),
            ..Default::default()
        };
        for (token, code, message) in [
            (None, tonic::Code::Unauthenticated, "needs a token"),
            (
                Some("not-the-token"),
                tonic::Code::Unauthenticated,
                "wrong token",
            ),
        ] {
            let mut rpc = client(&cluster.address, token).await?;
            let err = rpc.call(call()).await.expect_err("refused");
            assert_eq!(err.code(), code, "{err:?}");
            assert!(err.message().contains(message), "{err:?}");
            let err = rpc
                .kv_put(pb::KvPutRequest {
                    namespace: "default".into(),
                    key: "k".into(),
                    value: b"v".to_vec(),
                })
                .await
                .expect_err("refused");
            assert_eq!(err.code(), code, "{err:?}");
        }
        // The invoke token runs work...
        let mut rpc = client(&cluster.address, Some(&invoke)).await?;
        assert_eq!(rpc.call(call()).await?.into_inner().result, "4");
        rpc.list_components(pb::ListComponentsRequest {}).await?;
        // ...and changes nothing.
        let denied = [
            rpc.kv_put(pb::KvPutRequest {
                namespace: "default".into(),
                key: "k".into(),
                value: b"v".to_vec(),
            })
            .await
            .map(drop),
            rpc.delete_component(pb::DeleteComponentRequest {
                component: "kit".into(),
            })
            .await
            .map(drop),
            rpc.add_route(pb::AddRouteRequest::default())
                .await
                .map(drop),
            rpc.add_member(pb::AddMemberRequest {
                id: 9,
                address: "127.0.0.1:1".into(),
            })
            .await
            .map(drop),
            rpc.kill_actor(pb::KillActorRequest { id: "a".into() })
                .await
                .map(drop),
            // Secrets: neither written, listed nor read with it.
            rpc.put_secret(pb::PutSecretRequest {
                name: "s".into(),
                value: b"v".to_vec(),
            })
            .await
            .map(drop),
            rpc.list_secrets(pb::ListSecretsRequest {}).await.map(drop),
            rpc.read_secrets(pb::ReadSecretsRequest {
                names: vec!["s".into()],
            })
            .await
            .map(drop),
        ];
        for result in denied {
            let err = result.expect_err("the invoke token may not change the cluster");
            assert_eq!(err.code(), tonic::Code::PermissionDenied, "{err:?}");
            assert!(err.message().contains("the admin token may"), "{err:?}");
        }
        // The admin token may.
        let mut rpc = client(&cluster.address, Some(&admin)).await?;
        rpc.kv_put(pb::KvPutRequest {
            namespace: "default".into(),
            key: "k".into(),
            value: b"v".to_vec(),
        })
        .await?;
        anyhow::Ok(())
    })?;
    // Nothing a refused call asked for happened.
    assert!(cluster.weft_ok(&["components"])?.contains("kit"));
    assert_eq!(cluster.weft_ok(&["kv", "get", "k"])?, "v");
    // The CLI with the invoke token: calls run, deploys are refused.
    let invoke_file = cluster
        .data_dir()
        .join("invoke-token")
        .display()
        .to_string();
    let out = cluster.weft_ok(&["--token-file", &invoke_file, "call", "kit", "add(3, 4)"])?;
    assert_eq!(out, "7");
    let err = cluster.weft_err(&["--token-file", &invoke_file, "deploy", guests::PI])?;
    assert!(err.contains("the invoke token may not call it"), "{err}");
    // The token left for local clients goes when the cluster stops.
    let local = weft_proto::auth::local_token_path(&cluster.address).expect("a home");
    assert_eq!(std::fs::read_to_string(&local)?.trim(), admin.trim());
    cluster.stop()?;
    assert!(!local.exists(), "{} is left", local.display());
    Ok(())
}

#[test]
fn insecure_no_auth_serves_anyone_and_says_so() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start_with(dir.path(), &["--insecure-no-auth"])?;
    assert!(
        cluster.log().contains("auth OFF (--insecure-no-auth)"),
        "{}",
        cluster.log()
    );
    weft_tests::runtime().block_on(async {
        let mut rpc = client(&cluster.address, None).await?;
        rpc.list_components(pb::ListComponentsRequest {}).await?;
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn a_host_without_the_cluster_token_cannot_join() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let token = write_file(dir.path(), "token", b"s3cret-cluster-token");
    let mut group = Group::start(1, &["--auth-token-file", &token])?;
    // A host with the token joins and runs work (the group's CLI sends it).
    group.start_host("good", 1, &["--auth-token-file", &token])?;
    group.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    assert_eq!(group.weft_ok(&["call", "kit", "add(1, 1)"])?, "2");
    // One without it is refused at registration and never listed. (It
    // reads no token file either: one a stopped cluster once left for
    // this address would be refused as the wrong token.)
    let data = dir.path().join("bad");
    let args: Vec<String> = [
        "host",
        "--controller",
        &group.addresses(),
        "--port",
        "0",
        "--id",
        "bad",
        "--cpus",
        "1",
        "--data-dir",
        &data.display().to_string(),
        "--store-dir",
        &data.join("store").display().to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let bad =
        weft_tests::Server::spawn_with_env(&args, &data, &[("WEFT_TOKEN_FILE", "/dev/null")])?;
    weft_tests::eventually(std::time::Duration::from_secs(30), || {
        let log = bad.log();
        weft_tests::fact(log.contains("needs a token"), || {
            format!("the host was not refused: {log}")
        })
    })?;
    let listed = group.weft_ok(&["list", "nodes"])?;
    assert!(
        listed.contains("good") && !listed.contains("bad"),
        "{listed}"
    );
    // Nor may a client without it.
    let out = std::process::Command::new(weft_tests::weft_bin())
        .args(["--address", &group.addresses(), "call", "kit", "add(1, 1)"])
        .env("WEFT_TOKEN_FILE", "/dev/null")
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("needs a token"),
        "{err}"
    );
    Ok(())
}
