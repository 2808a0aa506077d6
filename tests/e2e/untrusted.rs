//! Fuzzing, bounded: the code that reads untrusted input first (component
//! validation on deploy, call text in WAVE and JSON) answers arbitrary and
//! corrupted input with an error, never a panic. proptest runs a few
//! hundred cases of each, so CI spends seconds on it; a case that ever
//! fails is kept in `proptest-regressions/` and committed.

use std::sync::LazyLock;

use proptest::prelude::*;
use proptest::sample::Index;
use weft_tests::guests;
use weft_values::{CallText, Export, describe, inspect, parse_call};

/// A real component to corrupt: the test guest with every WIT type.
static TESTKIT: LazyLock<Vec<u8>> =
    LazyLock::new(|| std::fs::read(guests::TESTKIT).expect("the test guest"));

static EXPORTS: LazyLock<Vec<Export>> =
    LazyLock::new(|| describe(&TESTKIT).expect("the test guest describes itself"));

/// A JSON value of any shape, nested a little.
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "\\PC{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z-]{1,6}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_bytes_are_not_a_component(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        prop_assert!(inspect(&bytes).is_err());
        prop_assert!(describe(&bytes).is_err());
    }

    #[test]
    fn a_corrupted_component_is_read_or_refused_without_a_panic(
        edits in prop::collection::vec((any::<Index>(), any::<u8>()), 1..16),
        keep in any::<Index>(),
    ) {
        let mut wasm = TESTKIT.clone();
        for (at, byte) in edits {
            let at = at.index(wasm.len());
            wasm[at] = byte;
        }
        wasm.truncate(keep.index(wasm.len() + 1));
        let _ = inspect(&wasm);
        let _ = describe(&wasm);
    }

    #[test]
    fn wave_call_text_of_any_shape_is_typed_or_refused(
        function in prop::sample::select(vec!["add", "values.echo-numbers", "values.echo-shape", "values.echo-nested", "nope"]),
        args in "\\PC{0,60}",
    ) {
        let _ = parse_call(&EXPORTS, |e| e, CallText::Wave(format!("{function}({args})")));
        let _ = parse_call(&EXPORTS, |e| e, CallText::Wave(args));
    }

    #[test]
    fn json_calls_of_any_shape_are_typed_or_refused(
        function in prop::sample::select(vec!["add", "values.echo-numbers", "values.echo-shape", "values.echo-nested", "refs.make-bundle"]),
        args in any_json(),
    ) {
        let _ = parse_call(&EXPORTS, |e| e, CallText::Json { function: function.to_string(), args });
    }
}
