//! Conforming a value to a type: what a host does with an argument before
//! a call.
//!
//! A value that has the type already passes through untouched. One that
//! does not is converted where the conversion loses nothing and the
//! intent is plain: the same leniency as the JSON mapping (see
//! [`crate::from_json`]), applied to binary values. That lets a guest
//! written in a language without WIT's types at hand (Python, JavaScript)
//! encode its own values as they are, an integer as an `s64`, a dict as a
//! record, and leave the exact types to the host that runs the callee and
//! knows them, with no signature lookup on the way:
//!
//! | given | accepted for |
//! | --- | --- |
//! | any integer | any integer type it fits; `f32`, `f64` |
//! | any float | `f32`, `f64` |
//! | a one-character `string` | `char` |
//! | a `char` | `string` |
//! | a list or tuple | `list<T>` (`list<u8>` too), a tuple of its length, `flags` (of names) |
//! | `list<u8>` | any `list<T>` of integers |
//! | a record with fields in any order | a record (absent `option` fields are `none`) |
//! | a record of one field `case` | a variant with that case; a result (`ok` / `err`) |
//! | a `string`, an enum or a case without payload | an enum or a variant case without payload |
//! | a non-option value | `option<T>`, as `some` |
//! | a record `{id: string}` | `object-ref`, an actor handle |
//!
//! Anything else is refused with the same message as [`Ty::check`].

use crate::{Ty, Value, ValueError};

impl Ty {
    /// `value` as a value of this type (see the module docs), or why it
    /// cannot be one.
    pub fn conform(&self, value: Value) -> Result<Value, ValueError> {
        match self.check(&value) {
            Ok(()) => Ok(value),
            Err(strict) => self.convert(value).ok_or(strict)?,
        }
    }

    /// The conversion of a value that does not have this type: `None`
    /// where none applies (the caller reports the strict mismatch), an
    /// error where one applies and fails inside.
    fn convert(&self, value: Value) -> Option<Result<Value, ValueError>> {
        if let Some(n) = integer(&value) {
            return self.integer_as(n);
        }
        let converted = match (self, value) {
            (Ty::F32, Value::F64(f)) => Ok(Value::F32(f as f32)),
            (Ty::F64, Value::F32(f)) => Ok(Value::F64(f64::from(f))),
            (Ty::Char, Value::String(s)) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => Ok(Value::Char(c)),
                    _ => Err(ValueError::new(format!(
                        "expected one character, got a string of {}",
                        s.chars().count()
                    ))),
                }
            }
            (Ty::String, Value::Char(c)) => Ok(Value::String(c.to_string())),
            (Ty::List(elem), Value::List(items) | Value::Tuple(items)) => {
                let items = items_as(elem, items);
                match items {
                    Ok(items) if **elem == Ty::U8 => Ok(Value::Bytes(
                        items
                            .into_iter()
                            .map(|v| match v {
                                Value::U8(b) => b,
                                _ => unreachable!("conformed to u8"),
                            })
                            .collect::<Vec<u8>>()
                            .into(),
                    )),
                    other => other.map(Value::List),
                }
            }
            (Ty::List(elem), Value::Bytes(bytes)) => {
                items_as(elem, bytes.iter().map(|b| Value::U8(*b)).collect()).map(Value::List)
            }
            (Ty::Tuple(types), Value::List(items) | Value::Tuple(items))
                if types.len() == items.len() =>
            {
                types
                    .iter()
                    .zip(items)
                    .enumerate()
                    .map(|(i, (ty, v))| ty.conform(v).map_err(|e| e.at(&i.to_string())))
                    .collect::<Result<_, _>>()
                    .map(Value::Tuple)
            }
            (Ty::Record(fields), Value::Record(given)) => record(fields, given),
            (Ty::Variant(cases), value) => {
                let (case, payload) = case_of(value)?;
                match cases.iter().find(|(name, _)| *name == case) {
                    Some((_, ty)) => payload_as(ty.as_ref(), payload, &case)
                        .map(|p| Value::Variant(case, p.map(Box::new))),
                    None => Err(crate::ty::unknown_case(&case, cases.iter().map(|(n, _)| n))),
                }
            }
            (Ty::Enum(_), Value::String(case) | Value::Variant(case, None)) => {
                self.conform(Value::Enum(case))
            }
            (Ty::Option(inner), Value::Option(Some(v))) => {
                inner.conform(*v).map(|v| Value::Option(Some(Box::new(v))))
            }
            (Ty::Option(inner), v) => inner.conform(v).map(|v| Value::Option(Some(Box::new(v)))),
            (Ty::Result { ok, err }, Value::Result(given)) => match given {
                Ok(p) => payload_as(ok.as_deref(), p.map(|b| *b), "ok")
                    .map(|p| Value::Result(Ok(p.map(Box::new)))),
                Err(p) => payload_as(err.as_deref(), p.map(|b| *b), "err")
                    .map(|p| Value::Result(Err(p.map(Box::new)))),
            },
            (Ty::Result { ok, err }, Value::Record(mut given)) if given.len() == 1 => {
                let (side, payload) = given.pop().expect("one field");
                let payload = Some(payload).filter(|p| *p != Value::Option(None));
                match side.as_str() {
                    "ok" => payload_as(ok.as_deref(), payload, "ok")
                        .map(|p| Value::Result(Ok(p.map(Box::new)))),
                    "err" => payload_as(err.as_deref(), payload, "err")
                        .map(|p| Value::Result(Err(p.map(Box::new)))),
                    _ => return None,
                }
            }
            (Ty::Flags(_), Value::List(items)) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(name) | Value::Enum(name) => Some(name),
                    _ => None,
                })
                .collect::<Option<Vec<_>>>()
                .map(|names| self.conform(Value::Flags(names)))?,
            (Ty::ObjectRef | Ty::Actor, Value::Record(mut given))
                if given.len() == 1 && given[0].0 == "id" =>
            {
                match given.pop().expect("one field").1 {
                    Value::String(id) if *self == Ty::ObjectRef => Ok(Value::ObjectRef(id)),
                    Value::String(id) => Ok(Value::Actor(id)),
                    _ => return None,
                }
            }
            _ => return None,
        };
        Some(converted)
    }

    /// An integer (of any width) as a value of this type, if this is a
    /// numeric type.
    fn integer_as(&self, n: i128) -> Option<Result<Value, ValueError>> {
        Some(match self {
            Ty::F32 => Ok(Value::F32(n as f32)),
            Ty::F64 => Ok(Value::F64(n as f64)),
            Ty::Option(inner) => {
                return inner
                    .integer_as(n)
                    .map(|r| r.map(|v| Value::Option(Some(Box::new(v)))));
            }
            Ty::S8 | Ty::U8 | Ty::S16 | Ty::U16 | Ty::S32 | Ty::U32 | Ty::S64 | Ty::U64 => {
                Value::integer(self, n)
            }
            _ => return None,
        })
    }
}

/// The integer a value holds, whatever its width.
fn integer(value: &Value) -> Option<i128> {
    Some(match *value {
        Value::S8(n) => n.into(),
        Value::U8(n) => n.into(),
        Value::S16(n) => n.into(),
        Value::U16(n) => n.into(),
        Value::S32(n) => n.into(),
        Value::U32(n) => n.into(),
        Value::S64(n) => n.into(),
        Value::U64(n) => n.into(),
        _ => return None,
    })
}

/// Each of `items` as an `elem`, naming the index of one that is not.
fn items_as(elem: &Ty, items: Vec<Value>) -> Result<Vec<Value>, ValueError> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| elem.conform(v).map_err(|e| e.at(&format!("[{i}]"))))
        .collect()
}

/// The record `given` with its fields in `fields`' order, each conformed;
/// absent `option` fields are `none`.
fn record(fields: &[(String, Ty)], mut given: Vec<(String, Value)>) -> Result<Value, ValueError> {
    let mut out = Vec::with_capacity(fields.len());
    for (name, ty) in fields {
        let value = match given.iter().position(|(n, _)| n == name) {
            Some(at) => given.swap_remove(at).1,
            None if matches!(ty, Ty::Option(_)) => Value::Option(None),
            None => return Err(ValueError::new(format!("missing field `{name}`"))),
        };
        out.push((name.clone(), ty.conform(value).map_err(|e| e.at(name))?));
    }
    match given.first() {
        Some((extra, _)) => Err(ValueError::new(format!(
            "unexpected field `{extra}` (expected: {})",
            fields
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
        None => Ok(Value::Record(out)),
    }
}

/// A variant's case and payload as `value` names them: a variant itself,
/// an enum or string (no payload), or a record of one field.
fn case_of(value: Value) -> Option<(String, Option<Value>)> {
    match value {
        Value::Variant(case, payload) => Some((case, payload.map(|p| *p))),
        Value::Enum(case) | Value::String(case) => Some((case, None)),
        Value::Record(mut fields) if fields.len() == 1 => {
            let (case, payload) = fields.pop().expect("one field");
            Some((case, Some(payload)))
        }
        _ => None,
    }
}

/// A case's payload conformed to its type; `none` stands for no payload
/// where the case has none (as JSON's `null` does).
fn payload_as(
    ty: Option<&Ty>,
    payload: Option<Value>,
    case: &str,
) -> Result<Option<Value>, ValueError> {
    match (ty, payload) {
        (None, None | Some(Value::Option(None))) => Ok(None),
        (Some(ty), Some(v)) => ty.conform(v).map(Some).map_err(|e| e.at(case)),
        (Some(ty), None) => Err(ValueError::new(format!(
            "`{case}` needs a payload of type {ty}"
        ))),
        (None, Some(_)) => Err(ValueError::new(format!("`{case}` takes no payload"))),
    }
}

/// `args` conformed to `params` (trailing `option`s may be left out),
/// naming the first argument that does not fit.
pub fn conform_args(params: &[(String, Ty)], args: Vec<Value>) -> Result<Vec<Value>, ValueError> {
    crate::check_arity(params, args.len())?;
    args.into_iter()
        .zip(params)
        .enumerate()
        .map(|(i, (value, (name, ty)))| {
            ty.conform(value)
                .map_err(|e| e.at(&format!("argument {} (`{name}`)", i + 1)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(fields: &[(&str, Value)]) -> Value {
        Value::Record(
            fields
                .iter()
                .map(|(n, v)| (n.to_string(), v.clone()))
                .collect(),
        )
    }

    #[test]
    fn a_value_of_the_type_passes_untouched() {
        let ty = Ty::List(Box::new(Ty::U32));
        let value = Value::List(vec![Value::U32(1), Value::U32(2)]);
        assert_eq!(ty.conform(value.clone()), Ok(value));
    }

    #[test]
    fn integers_take_the_width_they_fit() {
        assert_eq!(Ty::U8.conform(Value::S64(200)), Ok(Value::U8(200)));
        assert_eq!(Ty::F64.conform(Value::S64(-3)), Ok(Value::F64(-3.0)));
        let err = Ty::U8.conform(Value::S64(300)).unwrap_err();
        assert!(err.0.contains("300"), "{err}");
        let err = Ty::U32.conform(Value::String("3".into())).unwrap_err();
        assert_eq!(err.0, "expected u32, got a string");
    }

    #[test]
    fn a_list_of_small_integers_becomes_bytes() {
        let ty = Ty::List(Box::new(Ty::U8));
        let given = Value::List(vec![Value::S64(1), Value::S64(255)]);
        assert_eq!(ty.conform(given), Ok(Value::Bytes(vec![1, 255].into())));
        let bad = Value::List(vec![Value::S64(1), Value::S64(256)]);
        assert!(ty.conform(bad).unwrap_err().0.starts_with("[1]"));
    }

    #[test]
    fn records_take_fields_in_any_order_and_options_may_be_absent() {
        let ty = Ty::Record(vec![
            ("x".into(), Ty::S32),
            ("name".into(), Ty::String),
            ("tag".into(), Ty::Option(Box::new(Ty::String))),
        ]);
        let given = rec(&[("name", Value::String("a".into())), ("x", Value::S64(-1))]);
        assert_eq!(
            ty.conform(given),
            Ok(rec(&[
                ("x", Value::S32(-1)),
                ("name", Value::String("a".into())),
                ("tag", Value::Option(None)),
            ]))
        );
        let extra = rec(&[
            ("x", Value::S64(1)),
            ("name", Value::String("a".into())),
            ("y", Value::S64(2)),
        ]);
        assert!(
            ty.conform(extra)
                .unwrap_err()
                .0
                .contains("unexpected field `y`")
        );
        let missing = rec(&[("x", Value::S64(1))]);
        assert!(
            ty.conform(missing)
                .unwrap_err()
                .0
                .contains("missing field `name`")
        );
    }

    #[test]
    fn variants_enums_and_results_read_as_the_json_mapping_writes_them() {
        let shape = Ty::Variant(vec![
            ("circle".into(), Some(Ty::F64)),
            ("point".into(), None),
        ]);
        assert_eq!(
            shape.conform(rec(&[("circle", Value::S64(2))])),
            Ok(Value::Variant(
                "circle".into(),
                Some(Box::new(Value::F64(2.0)))
            ))
        );
        assert_eq!(
            shape.conform(Value::String("point".into())),
            Ok(Value::Variant("point".into(), None))
        );
        assert!(shape.conform(Value::String("square".into())).is_err());
        let color = Ty::Enum(vec!["red".into(), "green".into()]);
        assert_eq!(
            color.conform(Value::String("green".into())),
            Ok(Value::Enum("green".into()))
        );
        let result = Ty::Result {
            ok: Some(Box::new(Ty::U32)),
            err: Some(Box::new(Ty::String)),
        };
        assert_eq!(
            result.conform(rec(&[("ok", Value::S64(7))])),
            Ok(Value::Result(Ok(Some(Box::new(Value::U32(7))))))
        );
    }

    #[test]
    fn options_take_a_bare_value_as_some() {
        let ty = Ty::Option(Box::new(Ty::U16));
        assert_eq!(
            ty.conform(Value::S64(5)),
            Ok(Value::Option(Some(Box::new(Value::U16(5)))))
        );
        assert_eq!(ty.conform(Value::Option(None)), Ok(Value::Option(None)));
    }

    #[test]
    fn arguments_are_named_when_they_do_not_fit() {
        let params = vec![("n".to_string(), Ty::U32), ("s".to_string(), Ty::String)];
        let args = vec![Value::S64(1), Value::S64(2)];
        let err = conform_args(&params, args).unwrap_err();
        assert_eq!(err.0, "argument 2 (`s`): expected string, got a s64");
    }
}
