//! Instances made ahead of calls (`warm.rs`): each is used by one call
//! only, a trap on one costs nothing to the next call, and a call whose
//! limits differ from the pool's gets an instance of its own.

use std::sync::Arc;
use std::time::Duration;

use weft_host::{CallSpec, Host, HostConfig, HostError, Invocation, Prepared};
use weft_tests::runtime;

/// A host with the testkit prepared, to which every component counts as
/// slow to instantiate.
fn testkit(warm_instances: usize) -> (Host, Arc<Prepared>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = HostConfig::new(dir.path());
    config.warm_after = Duration::ZERO;
    config.warm_instances = warm_instances;
    let host = Host::new(config).expect("host");
    let wasm = std::fs::read(weft_tests::guests::TESTKIT).expect("testkit built");
    let (prepared, _) = host
        .prepare("sha256:testkit", || Ok(wasm))
        .expect("prepare");
    (host, prepared, dir)
}

fn wave(text: &str) -> Invocation {
    Invocation::new(CallSpec::Wave(text.into()))
}

/// Calls `text`, then gives the pool a moment to refill.
async fn call(
    host: &Host,
    prepared: &Arc<Prepared>,
    invocation: Invocation,
) -> Result<Option<String>, HostError> {
    let outcome = host.call(prepared, invocation).await.map(|o| o.result);
    tokio::time::sleep(Duration::from_millis(20)).await;
    outcome
}

#[test]
fn every_call_gets_an_instance_no_call_used_and_most_are_made_ahead() {
    let (host, prepared, _dir) = testkit(2);
    runtime().block_on(async {
        for i in 0..20 {
            // A global counter that starts at zero in every instance.
            let tally = call(&host, &prepared, wave("tally()"))
                .await
                .expect("tally");
            assert_eq!(tally.as_deref(), Some("1"), "call {i} reused an instance");
        }
        let warm = host.stats().warm_starts;
        assert!(warm >= 12, "only {warm} of 20 calls started warm");

        // A trap poisons only its own instance.
        let err = call(&host, &prepared, wave(r#"fail("boom")"#))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        let after = call(&host, &prepared, wave("add(2, 3)"))
            .await
            .expect("add");
        assert_eq!(after.as_deref(), Some("5"));

        // A memory limit other than the default: an instance of its own.
        let before = host.stats().warm_starts;
        let mut limited = wave("tally()");
        limited.memory_limit = Some(64 << 20);
        let tally = call(&host, &prepared, limited)
            .await
            .expect("limited tally");
        assert_eq!(tally.as_deref(), Some("1"));
        assert_eq!(host.stats().warm_starts, before);
    });
}

#[test]
fn no_instances_are_made_ahead_when_turned_off() {
    let (host, prepared, _dir) = testkit(0);
    runtime().block_on(async {
        for _ in 0..5 {
            let tally = call(&host, &prepared, wave("tally()"))
                .await
                .expect("tally");
            assert_eq!(tally.as_deref(), Some("1"));
        }
    });
    assert_eq!(host.stats().warm_starts, 0);
    assert_eq!(host.stats().calls, 5);
}
