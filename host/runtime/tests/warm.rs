//! Instances made ahead of calls (`warm.rs`): each is used by one call
//! only, a trap on one costs nothing to the next call, and a call whose
//! limits differ from the pool's gets an instance of its own. Calls that
//! allow reuse (`max_calls`) share instances within their scope only, up
//! to `max_calls` each, and never after a trap.

use std::sync::Arc;
use std::time::Duration;

use weft_runtime::{CallSpec, Host, HostConfig, HostError, Invocation, Prepared, Reuse};
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

fn reusing(text: &str, scope: &str, max_calls: u32) -> Invocation {
    Invocation {
        reuse: Reuse::new(scope, max_calls),
        ..wave(text)
    }
}

#[test]
fn calls_that_allow_reuse_share_an_instance_within_their_scope_up_to_max_calls() {
    let (host, prepared, _dir) = testkit(0);
    runtime().block_on(async {
        let mut tallies = Vec::new();
        for _ in 0..4 {
            let tally = call(&host, &prepared, reusing("tally()", "owner-a", 3)).await;
            tallies.push(tally.expect("tally").unwrap_or_default());
        }
        // Three calls on one instance, then a fresh one.
        assert_eq!(tallies, ["1", "2", "3", "1"]);
        assert_eq!(host.stats().reused, 2);

        // Another scope never sees owner-a's instance, nor does a call
        // that allows no reuse.
        let other = call(&host, &prepared, reusing("tally()", "owner-b", 3)).await;
        assert_eq!(other.expect("tally").as_deref(), Some("1"));
        let fresh = call(&host, &prepared, wave("tally()")).await;
        assert_eq!(fresh.expect("tally").as_deref(), Some("1"));

        // What a call printed is not the next call's output.
        let printed = host
            .call(&prepared, reusing("chatter(3)", "owner-c", 10))
            .await
            .expect("chatter");
        assert!(!printed.guest_output.is_empty());
        let quiet = host
            .call(&prepared, reusing("add(1, 2)", "owner-c", 10))
            .await
            .expect("add");
        assert_eq!(quiet.guest_output, "");
        assert_eq!(host.stats().reused, 3);

        // A trap drops its instance: the next call starts from scratch.
        let tally = call(&host, &prepared, reusing("tally()", "owner-d", 10)).await;
        assert_eq!(tally.expect("tally").as_deref(), Some("1"));
        let err = call(&host, &prepared, reusing(r#"fail("boom")"#, "owner-d", 10))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("boom"), "{err}");
        let tally = call(&host, &prepared, reusing("tally()", "owner-d", 10)).await;
        assert_eq!(tally.expect("tally").as_deref(), Some("1"));
    });
}
