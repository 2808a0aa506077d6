//! Limits against abuse by one client: deploys a minute per address,
//! submissions a second and pending tasks per owner session. Each refusal
//! names the limit and its flag, and costs nothing else: the client's
//! earlier work and other clients go on.

use std::time::Duration;

use weft_client::{Arg, TaskClient, TaskOptions};
use weft_proto::FailureKind;
use weft_tests::{Cluster, guests, runtime};

#[test]
fn a_client_past_its_deploy_rate_and_pending_tasks_is_refused_by_name() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start_with(
        dir.path(),
        &[
            "--max-deploys-per-minute",
            "2",
            "--max-pending-tasks",
            "3",
            "--cpus",
            "8",
        ],
    )?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    cluster.weft_ok(&["deploy", guests::HELLO, "--name", "hello"])?;
    let err = cluster.weft_err(&["deploy", guests::PI, "--name", "pi"])?;
    assert!(
        err.contains("deployed more than 2 components in a minute")
            && err.contains("--max-deploys-per-minute"),
        "{err}"
    );
    assert!(
        cluster
            .weft_err(&["call", "pi", "estimate(10, 1)"])?
            .contains("pi")
    );

    runtime().block_on(async {
        let tasks = TaskClient::connect(&cluster.address).await?;
        let long = TaskOptions {
            timeout_ms: 60_000,
            ..TaskOptions::default()
        };
        let mut spinning = Vec::new();
        for _ in 0..3 {
            spinning.push(tasks.submit("kit", "spin", vec![], long.clone()).await?);
        }
        let add = || vec![Arg::wave("1"), Arg::wave("2")];
        let refused = tasks
            .submit("kit", "add", add(), TaskOptions::default())
            .await?;
        let result = tasks
            .get(&[refused], Some(Duration::from_secs(30)))
            .await
            .map(|mut r| r.remove(0));
        let message = match result {
            Ok(r) => {
                assert_eq!(r.failure_kind(), FailureKind::Refused, "{r:?}");
                r.error
            }
            Err(e) => e.to_string(),
        };
        assert!(
            message.contains("3 tasks pending") && message.contains("--max-pending-tasks"),
            "{message}"
        );
        // Another client is not held to this one's count.
        let other = TaskClient::connect(&cluster.address).await?;
        let id = other
            .submit("kit", "add", add(), TaskOptions::default())
            .await?;
        let done = other.get(&[id], Some(Duration::from_secs(30))).await?;
        assert!(done[0].ok, "{:?}", done[0]);
        // Once its tasks end, the client may submit again.
        for id in &spinning {
            tasks.cancel(id).await?;
        }
        let _ = tasks.get(&spinning, Some(Duration::from_secs(30))).await;
        let id = tasks
            .submit("kit", "add", add(), TaskOptions::default())
            .await?;
        let done = tasks.get(&[id], Some(Duration::from_secs(30))).await?;
        assert!(done[0].ok, "{:?}", done[0]);
        anyhow::Ok(())
    })?;
    Ok(())
}

#[test]
fn submissions_past_a_clients_rate_fail_as_refused() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start_with(dir.path(), &["--max-submits-per-second", "20"])?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    runtime().block_on(async {
        let tasks = TaskClient::connect(&cluster.address).await?;
        let mut ids = Vec::new();
        for i in 0..200 {
            let args = vec![Arg::wave(i.to_string()), Arg::wave("1")];
            ids.push(
                tasks
                    .submit("kit", "add", args, TaskOptions::default())
                    .await?,
            );
        }
        let results = tasks.get(&ids, Some(Duration::from_secs(60))).await;
        let results = match results {
            Ok(r) => r,
            Err(e) => anyhow::bail!("{e}"),
        };
        let refused: Vec<_> = results.iter().filter(|r| !r.ok).collect();
        let ran = results.iter().filter(|r| r.ok).count();
        assert!(ran >= 20, "the burst ran: {ran}");
        assert!(
            !refused.is_empty(),
            "200 submissions at once exceed 20 a second"
        );
        for r in &refused {
            assert_eq!(r.failure_kind(), FailureKind::Refused, "{r:?}");
            assert!(
                r.error.contains("more than 20 tasks a second")
                    && r.error.contains("--max-submits-per-second"),
                "{}",
                r.error
            );
        }
        anyhow::Ok(())
    })?;
    Ok(())
}
