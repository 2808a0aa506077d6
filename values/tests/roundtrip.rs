//! Property tests: every WIT type round-trips through the binary encoding,
//! WAVE and JSON, refs included wherever they nest; and the decoder, fed
//! arbitrary or corrupted bytes, returns an error rather than panicking.
//! Bounded (proptest's default case count, small values) so CI runs them
//! in seconds.

use proptest::prelude::*;
use weft_values::{Ty, Value, decode, encode, from_json, from_wave, to_json, to_wave};

fn name() -> impl Strategy<Value = String> {
    // Kebab-case words that are never WAVE keywords (`true`, `none`, ...).
    "x[a-z]{0,4}(-[a-z]{1,3})?"
}

fn names(max: usize) -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set(name(), 1..=max).prop_map(|s| s.into_iter().collect())
}

fn leaf_ty() -> impl Strategy<Value = Ty> {
    prop_oneof![
        Just(Ty::Bool),
        Just(Ty::S8),
        Just(Ty::U8),
        Just(Ty::S16),
        Just(Ty::U16),
        Just(Ty::S32),
        Just(Ty::U32),
        Just(Ty::S64),
        Just(Ty::U64),
        Just(Ty::F32),
        Just(Ty::F64),
        Just(Ty::Char),
        Just(Ty::String),
        Just(Ty::ObjectRef),
        Just(Ty::Actor),
        names(4).prop_map(Ty::Enum),
        names(4).prop_map(Ty::Flags),
    ]
}

fn any_ty() -> impl Strategy<Value = Ty> {
    leaf_ty().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(|t| Ty::List(Box::new(t))),
            inner.clone().prop_map(|t| Ty::Option(Box::new(t))),
            prop::collection::vec(inner.clone(), 1..4).prop_map(Ty::Tuple),
            (names(4), prop::collection::vec(inner.clone(), 4))
                .prop_map(|(n, t)| { Ty::Record(n.into_iter().zip(t).collect()) }),
            (
                names(4),
                prop::collection::vec(prop::option::of(inner.clone()), 4)
            )
                .prop_map(|(n, t)| Ty::Variant(n.into_iter().zip(t).collect())),
            (prop::option::of(inner.clone()), prop::option::of(inner)).prop_map(|(ok, err)| {
                Ty::Result {
                    ok: ok.map(Box::new),
                    err: err.map(Box::new),
                }
            }),
        ]
    })
}

fn finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL,
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY)
    ]
}

fn finite_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        prop::num::f32::NORMAL | prop::num::f32::ZERO,
        Just(f32::INFINITY)
    ]
}

fn id() -> impl Strategy<Value = String> {
    "[a-z0-9]{1,8}-[0-9]{1,4}"
}

fn value_of(ty: &Ty) -> BoxedStrategy<Value> {
    match ty.clone() {
        Ty::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Ty::S8 => any::<i8>().prop_map(Value::S8).boxed(),
        Ty::U8 => any::<u8>().prop_map(Value::U8).boxed(),
        Ty::S16 => any::<i16>().prop_map(Value::S16).boxed(),
        Ty::U16 => any::<u16>().prop_map(Value::U16).boxed(),
        Ty::S32 => any::<i32>().prop_map(Value::S32).boxed(),
        Ty::U32 => any::<u32>().prop_map(Value::U32).boxed(),
        Ty::S64 => any::<i64>().prop_map(Value::S64).boxed(),
        Ty::U64 => any::<u64>().prop_map(Value::U64).boxed(),
        Ty::F32 => finite_f32().prop_map(Value::F32).boxed(),
        Ty::F64 => finite_f64().prop_map(Value::F64).boxed(),
        Ty::Char => any::<char>().prop_map(Value::Char).boxed(),
        Ty::String => any::<String>().prop_map(Value::String).boxed(),
        Ty::ObjectRef => id().prop_map(Value::ObjectRef).boxed(),
        Ty::Actor => id().prop_map(Value::Actor).boxed(),
        Ty::Enum(cases) => prop::sample::select(cases).prop_map(Value::Enum).boxed(),
        Ty::Flags(names) => prop::sample::subsequence(names.clone(), 0..=names.len())
            .prop_map(Value::Flags)
            .boxed(),
        Ty::List(elem) if *elem == Ty::U8 => prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(Value::from)
            .boxed(),
        Ty::List(elem) => prop::collection::vec(value_of(&elem), 0..4)
            .prop_map(Value::List)
            .boxed(),
        Ty::Option(inner) => prop::option::of(value_of(&inner))
            .prop_map(|v| Value::Option(v.map(Box::new)))
            .boxed(),
        Ty::Tuple(types) => types
            .iter()
            .map(value_of)
            .collect::<Vec<_>>()
            .prop_map(Value::Tuple)
            .boxed(),
        Ty::Record(fields) => {
            let names: Vec<String> = fields.iter().map(|(n, _)| n.clone()).collect();
            fields
                .iter()
                .map(|(_, t)| value_of(t))
                .collect::<Vec<_>>()
                .prop_map(move |vals| Value::Record(names.iter().cloned().zip(vals).collect()))
                .boxed()
        }
        Ty::Variant(cases) => prop::sample::select(cases)
            .prop_flat_map(|(case, ty)| match ty {
                None => Just(Value::Variant(case, None)).boxed(),
                Some(ty) => value_of(&ty)
                    .prop_map(move |v| Value::Variant(case.clone(), Some(Box::new(v))))
                    .boxed(),
            })
            .boxed(),
        Ty::Result { ok, err } => {
            let side = |ty: Option<Box<Ty>>| match ty {
                None => Just(None).boxed(),
                Some(ty) => value_of(&ty).prop_map(|v| Some(Box::new(v))).boxed(),
            };
            prop_oneof![
                side(ok).prop_map(|v| Value::Result(Ok(v))),
                side(err).prop_map(|v| Value::Result(Err(v))),
            ]
            .boxed()
        }
        Ty::Unsupported(_) => unreachable!("not generated"),
    }
}

fn typed_value() -> impl Strategy<Value = (Ty, Value)> {
    any_ty().prop_flat_map(|ty| {
        let t = ty.clone();
        value_of(&ty).prop_map(move |v| (t.clone(), v))
    })
}

/// JSON cannot tell `none` from `some(none)` in `option<option<T>>`.
fn json_ambiguous(ty: &Ty) -> bool {
    match ty {
        Ty::Option(inner) => matches!(**inner, Ty::Option(_)) || json_ambiguous(inner),
        Ty::List(t) => json_ambiguous(t),
        Ty::Tuple(ts) => ts.iter().any(json_ambiguous),
        Ty::Record(fs) => fs.iter().any(|(_, t)| json_ambiguous(t)),
        Ty::Variant(cs) => cs
            .iter()
            .any(|(_, t)| t.as_ref().is_some_and(json_ambiguous)),
        Ty::Result { ok, err } => {
            ok.as_deref().is_some_and(json_ambiguous) || err.as_deref().is_some_and(json_ambiguous)
        }
        _ => false,
    }
}

proptest! {
    #[test]
    fn binary_round_trips((ty, value) in typed_value()) {
        ty.check(&value).unwrap();
        let bytes = encode(&value);
        let back = decode(&bytes).unwrap();
        prop_assert_eq!(&back, &value);
        prop_assert_eq!(encode(&back), bytes);
    }

    #[test]
    fn wave_round_trips((ty, value) in typed_value()) {
        let text = to_wave(&value);
        let back = from_wave(&text, &ty).unwrap();
        prop_assert_eq!(back, value, "{}", text);
    }

    #[test]
    fn json_round_trips((ty, value) in typed_value()) {
        prop_assume!(!json_ambiguous(&ty));
        let json = to_json(&value);
        let back = from_json(&json, &ty).unwrap();
        prop_assert_eq!(back, value, "{}", json);
    }

    #[test]
    fn refs_are_found_by_type((ty, value) in typed_value()) {
        // Every id inside an object-ref is listed, and nothing else is:
        // strings and records that look like refs are not refs.
        let refs = value.refs();
        let wave = to_wave(&value);
        for id in &refs {
            prop_assert!(wave.contains(id.as_str()));
        }
        let _ = ty;
        let decoded = decode(&encode(&value)).unwrap();
        prop_assert_eq!(decoded.refs(), refs);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode(&bytes);
        let mut versioned = vec![weft_values::VERSION];
        versioned.extend_from_slice(&bytes);
        if let Ok(v) = decode(&versioned) {
            prop_assert_eq!(decode(&encode(&v)).unwrap(), v);
        }
    }

    #[test]
    fn decoding_corrupted_values_never_panics(
        (_, value) in typed_value(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = encode(&value);
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        let _ = decode(&bytes);
        let _ = decode(&bytes[..cut.index(bytes.len())]);
    }

    #[test]
    fn wave_and_json_of_garbage_are_errors(text in "\\PC{0,40}", (ty, _) in typed_value()) {
        let _ = from_wave(&text, &ty);
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) {
            let _ = from_json(&json, &ty);
        }
    }
}

#[test]
fn a_user_record_shaped_like_a_ref_is_not_a_ref() {
    let ty = Ty::Record(vec![("id".into(), Ty::String)]);
    let value = from_wave(r#"{id: "abc-1"}"#, &ty).unwrap();
    assert!(value.refs().is_empty());
    let as_ref = from_wave(r#"{id: "abc-1"}"#, &Ty::ObjectRef).unwrap();
    assert_eq!(as_ref.refs(), vec!["abc-1".to_string()]);
}

#[test]
fn nested_refs_are_listed_once_in_order() {
    let ty = Ty::Record(vec![
        ("a".into(), Ty::List(Box::new(Ty::ObjectRef))),
        ("b".into(), Ty::Option(Box::new(Ty::ObjectRef))),
    ]);
    let value = from_wave(
        r#"{a: [{id: "t-2"}, {id: "t-1"}], b: some({id: "t-2"})}"#,
        &ty,
    )
    .unwrap();
    assert_eq!(value.refs(), vec!["t-2".to_string(), "t-1".to_string()]);
}

#[test]
fn type_errors_say_where() {
    let ty = Ty::Record(vec![("n".into(), Ty::U32)]);
    let err = ty
        .check(&Value::Record(vec![("n".into(), Value::S8(1))]))
        .unwrap_err();
    assert_eq!(err.to_string(), "n: expected u32, got a s8");
    let err = from_json(&serde_json::json!({"n": -1}), &ty).unwrap_err();
    assert!(err.to_string().contains("out of range"), "{err}");
}
