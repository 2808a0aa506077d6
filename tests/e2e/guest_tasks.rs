//! Tasks submitted by guests: many at once with typed arguments in the
//! binary encoding, megabytes by value, and a component built against the
//! first `weft:runtime` version, which hosts still serve.

use weft_tests::{Group, fnv, guests, pattern};

/// One controller and two hosts, the test components deployed.
fn cluster() -> Group {
    Group::with_hosts(
        1,
        &[("h1", &[][..]), ("h2", &[][..])],
        &[
            (guests::TESTKIT, "testkit"),
            (guests::COUNTER, "counter"),
            (guests::RUNTIME_V0_1, "old"),
        ],
    )
}

/// The value line of `weft submit ... --wait`.
fn submit_wait(group: &Group, component: &str, call: &str) -> String {
    let out = group
        .weft_ok(&["submit", component, call, "--wait", "--timeout", "300"])
        .unwrap();
    out.lines().nth(1).unwrap_or_default().to_string()
}

#[test]
fn a_guest_fans_out_ten_thousand_nested_tasks_with_typed_arguments() {
    let group = cluster();
    let n = 10_000u64;
    // What `fanout.weigh` gives parcel `i` (see the testkit's WIT).
    let expected: u64 = (0..n)
        .map(|i| format!("p{i}").len() as u64 + if i % 2 == 1 { i } else { 1 } + i % 4)
        .sum();
    let got = submit_wait(
        &group,
        "testkit",
        &format!("fanout.spread(\"testkit\", {n})"),
    );
    assert_eq!(got, expected.to_string());
}

#[test]
fn a_guest_passes_a_hundred_mebibyte_buffers_by_value() {
    let group = cluster();
    let expected: Vec<String> = (0..100)
        .map(|seed| fnv(&pattern(1 << 20, seed)).to_string())
        .collect();
    let got = submit_wait(
        &group,
        "testkit",
        "fanout.spread-bytes(\"testkit\", 100, 1)",
    );
    assert_eq!(got, format!("[{}]", expected.join(", ")));
}

#[test]
fn a_guest_makes_an_actor_with_encoded_constructor_arguments() {
    let group = cluster();
    // 5 as a u32 for a u64 parameter, then 2 as an s32: the actor's host
    // conforms both.
    assert_eq!(
        submit_wait(&group, "testkit", "fanout.counter-from(\"counter\", 5)"),
        "7"
    );
    // A class the component does not export is refused, naming it.
    let out = group
        .weft_err(&[
            "submit",
            "testkit",
            "fanout.counter-from(\"testkit\", 5)",
            "--wait",
        ])
        .unwrap();
    assert!(out.contains("counter"), "{out}");
}

#[test]
fn a_component_built_against_the_first_runtime_version_runs_unchanged() {
    let group = cluster();
    // Text arguments, typed for it by the callee's signature; text back.
    assert_eq!(
        submit_wait(&group, "old", "sum-of-adds(\"testkit\", 10)"),
        (0..10).map(|i| 2 * i).sum::<i64>().to_string()
    );
    assert_eq!(
        submit_wait(&group, "old", "put-get([1, 2, 3, 4, 5])"),
        "\"\""
    );
    assert_eq!(
        submit_wait(&group, "old", "count(\"counter\", 5, 3)"),
        "\"8 8\""
    );
    // A bad text argument is named, as before.
    let out = group
        .weft_err(&["submit", "old", "sum-of-adds(\"nope\", 1)", "--wait"])
        .unwrap();
    assert!(out.contains("nope"), "{out}");
}
