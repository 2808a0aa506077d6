//! Value conversion against real WIT types: every kind of value goes
//! through a testkit echo function from WAVE and from JSON, and must come
//! back unchanged. The types come from a real component, so these tests
//! check the conversions against what wasmtime actually hands the host.

use std::sync::{Arc, OnceLock};

use serde_json::{Value, json};
use weft_runtime::{CallSpec, Format, Host, HostConfig, HostError, Invocation, Prepared};

fn testkit() -> (&'static Host, Arc<Prepared>) {
    static HOST: OnceLock<(Host, tempfile::TempDir)> = OnceLock::new();
    let (host, _) = HOST.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = Host::new(HostConfig::new(dir.path())).expect("host");
        (host, dir)
    });
    let wasm = std::fs::read(weft_tests::guests::TESTKIT).expect("testkit built");
    let (prepared, _) = host
        .prepare("sha256:testkit", || Ok(wasm))
        .expect("prepare");
    (host, prepared)
}

fn block_on<F: Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(f)
}

fn call(spec: CallSpec, format: Format) -> Result<Option<String>, HostError> {
    let (host, prepared) = testkit();
    let mut invocation = Invocation::new(spec);
    invocation.format = format;
    block_on(host.call(&prepared, invocation)).map(|o| o.result)
}

fn wave(function: &str, arg: &str) -> String {
    call(
        CallSpec::Wave(format!("values.{function}({arg})")),
        Format::Wave,
    )
    .unwrap_or_else(|e| panic!("{function}({arg}): {e}"))
    .expect("a result")
}

fn json_echo(function: &str, arg: Value) -> Value {
    let spec = CallSpec::Json {
        function: format!("values.{function}"),
        args: Value::Array(vec![arg.clone()]),
    };
    let text = call(spec, Format::Json)
        .unwrap_or_else(|e| panic!("{function}({arg}): {e}"))
        .expect("a result");
    serde_json::from_str(&text).expect("result is JSON")
}

/// (function, WAVE argument, the same value as JSON)
const CASES: &[(&str, &str, &str)] = &[
    ("echo-bool", "true", "true"),
    ("echo-bool", "false", "false"),
    (
        "echo-numbers",
        "{a: 255, b: 65535, c: 4294967295, d: 18446744073709551615, e: -128, f: -32768, g: -2147483648, h: -9223372036854775808, i: 1.5, j: -0.25}",
        r#"{"a": 255, "b": 65535, "c": 4294967295, "d": 18446744073709551615, "e": -128, "f": -32768, "g": -2147483648, "h": -9223372036854775808, "i": 1.5, "j": -0.25}"#,
    ),
    ("echo-char", "'λ'", r#""λ""#),
    (
        "echo-string",
        "\"tab\\there \\\"quoted\\\" ünïcode\"",
        r#""tab\there \"quoted\" ünïcode""#,
    ),
    ("echo-string", "\"\"", r#""""#),
    ("echo-bytes", "[0, 1, 254, 255]", "[0, 1, 254, 255]"),
    ("echo-bytes", "[]", "[]"),
    ("echo-strings", "[\"a\", \"b c\"]", r#"["a", "b c"]"#),
    (
        "echo-point",
        "{x: -1, y: 2, label: \"p\"}",
        r#"{"x": -1, "y": 2, "label": "p"}"#,
    ),
    ("echo-shape", "circle(2.5)", r#"{"circle": 2.5}"#),
    (
        "echo-shape",
        "rect({x: 0, y: 0, label: \"r\"})",
        r#"{"rect": {"x": 0, "y": 0, "label": "r"}}"#,
    ),
    ("echo-shape", "empty", r#""empty""#),
    ("echo-color", "green", r#""green""#),
    ("echo-perms", "{read, exec}", r#"["read", "exec"]"#),
    ("echo-perms", "{}", "[]"),
    ("echo-option", "some(7)", "7"),
    ("echo-option", "none", "null"),
    ("echo-result", "ok(\"fine\")", r#"{"ok": "fine"}"#),
    ("echo-result", "err(404)", r#"{"err": 404}"#),
    (
        "echo-tuple",
        "(7, \"seven\", true)",
        r#"[7, "seven", true]"#,
    ),
    (
        "echo-nested",
        "[some({x: 1, y: 2, label: \"a\"}), none]",
        r#"[{"x": 1, "y": 2, "label": "a"}, null]"#,
    ),
];

#[test]
fn every_type_round_trips_through_wave() {
    for (function, arg, _) in CASES {
        let back = wave(function, arg);
        // Rendering is canonical: feeding the output back gives it again.
        assert_eq!(wave(function, &back), back, "{function}({arg})");
        let expected: Value =
            serde_json::from_str(CASES.iter().find(|c| c.1 == *arg).unwrap().2).unwrap();
        let via_json = json_echo(function, expected.clone());
        assert_eq!(via_json, expected, "{function}: WAVE and JSON disagree");
    }
}

#[test]
fn every_type_round_trips_through_json() {
    for (function, _, arg) in CASES {
        let value: Value = serde_json::from_str(arg).unwrap();
        assert_eq!(
            json_echo(function, value.clone()),
            value,
            "{function}({arg})"
        );
    }
}

#[test]
fn wave_and_json_agree_on_rendering() {
    assert_eq!(wave("echo-shape", "empty"), "empty");
    assert_eq!(wave("echo-option", "none"), "none");
    assert_eq!(wave("echo-perms", "{exec, read}"), "{read, exec}");
    assert_eq!(wave("echo-char", "'x'"), "'x'");
    assert_eq!(wave("echo-bytes", "[1, 2]"), "[1, 2]");
}

#[test]
fn special_floats_travel_as_strings_in_json() {
    let numbers = json!({"a": 0, "b": 0, "c": 0, "d": 0, "e": 0, "f": 0, "g": 0, "h": 0, "i": "inf", "j": "NaN"});
    let back = json_echo("echo-numbers", numbers);
    assert_eq!(back["i"], json!("inf"));
    assert_eq!(back["j"], json!("NaN"));
}

fn json_error(function: &str, args: Value) -> String {
    let spec = CallSpec::Json {
        function: function.to_string(),
        args,
    };
    match call(spec, Format::Json) {
        Err(e @ HostError::BadArguments { .. }) => e.to_string(),
        other => panic!("expected bad arguments, got {other:?}"),
    }
}

#[test]
fn json_errors_say_where_and_what() {
    let cases = [
        (
            "values.echo-point",
            json!([{"x": 1, "y": "two", "label": ""}]),
            "argument 1 (`v`): y: expected s32, got \"two\"",
        ),
        (
            "values.echo-point",
            json!([{"x": 1, "y": 2}]),
            "missing field `label`",
        ),
        (
            "values.echo-point",
            json!([{"x": 1, "y": 2, "label": "", "z": 3}]),
            "unknown field `z`",
        ),
        (
            "values.echo-color",
            json!(["purple"]),
            "unknown case `purple` (expected one of: red, green, blue)",
        ),
        (
            "values.echo-perms",
            json!([["read", "fly"]]),
            "unknown case `fly`",
        ),
        (
            "values.echo-shape",
            json!([{"circle": null}]),
            "circle: expected f64, got null",
        ),
        (
            "values.echo-shape",
            json!([{"empty": 1}]),
            "case `empty` takes no payload",
        ),
        (
            "values.echo-shape",
            json!(["circle"]),
            "case `circle` needs a payload of type f64",
        ),
        ("values.echo-char", json!(["ab"]), "expected one character"),
        (
            "values.echo-bytes",
            json!([[1, 256]]),
            "[1]: expected u8, got 256 (out of range)",
        ),
        (
            "values.echo-tuple",
            json!([[1, "x"]]),
            "expected tuple<u8, string, bool>",
        ),
        (
            "values.echo-result",
            json!([{"maybe": 1}]),
            "unknown case `maybe`",
        ),
        (
            "add",
            json!([1.5, 2]),
            "expected s32, got 1.5 (not an integer)",
        ),
        ("add", json!({"a": 1}), "arguments must be a JSON array"),
        (
            "add",
            json!([1]),
            "expected 2 arguments (a: s32, b: s32), got 1",
        ),
    ];
    for (function, args, expected) in cases {
        let err = json_error(function, args.clone());
        assert!(err.contains(expected), "{function}({args}): {err}");
    }
}

#[test]
fn trailing_options_may_be_left_out_in_wave() {
    assert_eq!(
        call(CallSpec::Wave("values.echo-option()".into()), Format::Wave).unwrap(),
        Some("none".into())
    );
}

#[test]
fn calls_are_isolated_instances() {
    // A trap poisons only its own instance: the next call works.
    let err = call(CallSpec::Wave("fail(\"x\")".into()), Format::Wave).unwrap_err();
    assert!(matches!(err, HostError::Trap { .. }), "{err}");
    assert_eq!(
        call(CallSpec::Wave("add(1, 1)".into()), Format::Wave).unwrap(),
        Some("2".into())
    );
}

/// `function`'s signature as the host read it from the component.
fn signature(function: &str) -> weft_values::Signature {
    let (_, prepared) = testkit();
    prepared
        .functions
        .iter()
        .find(|f| f.name.ends_with(&format!(".{function}")) || f.name == function)
        .unwrap_or_else(|| panic!("no {function}"))
        .export
        .signature
        .clone()
}

#[test]
fn every_type_round_trips_through_the_binary_encoding() {
    for (function, arg, _) in CASES {
        let sig = signature(function);
        let value = weft_values::from_wave(arg, &sig.params[0].1).unwrap();
        // What a caller sends and a host receives: bytes.
        let wire = weft_values::encode(&value);
        let received = weft_values::decode(&wire).unwrap();
        let (host, prepared) = testkit();
        let mut invocation = Invocation::new(CallSpec::Values {
            function: format!("values.{function}"),
            args: vec![received],
        });
        invocation.format = Format::Value;
        let outcome = block_on(host.call(&prepared, invocation))
            .unwrap_or_else(|e| panic!("{function}({arg}): {e}"));
        let back = weft_values::decode(&weft_values::encode(&outcome.value.unwrap())).unwrap();
        // NaN aside (none here), the echo is the same value, bit for bit.
        assert_eq!(weft_values::encode(&back), wire, "{function}({arg})");
        assert_eq!(weft_values::to_wave(&back), wave(function, arg));
    }
}

#[test]
fn refs_are_typed_by_identity_not_shape() {
    // `checksum` takes weft:runtime's object-ref; the testkit's own
    // lookalike record, with the same one `id: string` field, is a record.
    assert_eq!(
        signature("checksum").params[0].1,
        weft_values::Ty::ObjectRef
    );
    assert_eq!(signature("make").result, Some(weft_values::Ty::ObjectRef));
    let lookalike = signature("echo-lookalike");
    assert_eq!(
        lookalike.params[0].1,
        weft_values::Ty::Record(vec![("id".into(), weft_values::Ty::String)])
    );
    let bundle = signature("make-bundle").result.unwrap();
    let weft_values::Ty::Record(fields) = bundle else {
        panic!("a record: {bundle}")
    };
    assert_eq!(fields[1].1, weft_values::Ty::ObjectRef);
    assert_eq!(
        fields[2].1,
        weft_values::Ty::List(Box::new(weft_values::Ty::ObjectRef))
    );
}

#[test]
fn values_of_the_wrong_type_are_refused_before_the_guest_runs() {
    use weft_values::Value;
    // A string for an `s32`, and an integer that does not fit one.
    for (wrong, why) in [
        (Value::String("2".into()), "expected s32, got a string"),
        (Value::S64(1 << 40), "out of range"),
    ] {
        let err = call(
            CallSpec::Values {
                function: "add".into(),
                args: vec![Value::S32(1), wrong],
            },
            Format::Value,
        )
        .unwrap_err();
        assert!(
            matches!(&err, HostError::BadArguments { detail, .. } if detail.contains("argument 2 (`b`)") && detail.contains(why)),
            "{err}"
        );
    }
}

#[test]
fn integers_of_another_width_that_fit_are_conformed_to_the_parameter() {
    use weft_values::Value;
    let out = call(
        CallSpec::Values {
            function: "add".into(),
            args: vec![Value::S64(40), Value::U8(2)],
        },
        Format::Wave,
    )
    .unwrap();
    assert_eq!(out.as_deref(), Some("42"));
}
