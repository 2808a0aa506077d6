//! Component values between weft's [`Value`] (the wire and object-store
//! form, `weft-values`) and wasmtime's [`Val`], typed by the function's WIT
//! types as the component declares them ([`Ty`]).
//!
//! Decoding is checked against the parameter's type here, so a mismatch
//! is reported with the argument's name and the expected type rather than
//! as a trap. `list<u8>` is [`Value::Bytes`] on weft's side; the few
//! signatures where bytes dominate go through typed calls instead (see
//! `invoke.rs`), so large buffers never become one `Val` per byte.

use wasmtime::component::Val;
use weft_values::{Ty, Value, ValueError};

/// Converts `value` to a wasmtime value of type `ty`, checking that it fits.
pub fn to_val(value: Value, ty: &Ty) -> Result<Val, ValueError> {
    let mismatch =
        |value: &Value| ValueError::new(format!("expected {ty}, got a {}", value.kind()));
    Ok(match (ty, value) {
        (Ty::Bool, Value::Bool(v)) => Val::Bool(v),
        (Ty::S8, Value::S8(v)) => Val::S8(v),
        (Ty::U8, Value::U8(v)) => Val::U8(v),
        (Ty::S16, Value::S16(v)) => Val::S16(v),
        (Ty::U16, Value::U16(v)) => Val::U16(v),
        (Ty::S32, Value::S32(v)) => Val::S32(v),
        (Ty::U32, Value::U32(v)) => Val::U32(v),
        (Ty::S64, Value::S64(v)) => Val::S64(v),
        (Ty::U64, Value::U64(v)) => Val::U64(v),
        (Ty::F32, Value::F32(v)) => Val::Float32(v),
        (Ty::F64, Value::F64(v)) => Val::Float64(v),
        (Ty::Char, Value::Char(v)) => Val::Char(v),
        (Ty::String, Value::String(v)) => Val::String(v),
        (Ty::List(elem), Value::Bytes(bytes)) if **elem == Ty::U8 => {
            Val::List(bytes.iter().map(|b| Val::U8(*b)).collect())
        }
        (Ty::List(elem), Value::List(items)) => Val::List(
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| to_val(v, elem).map_err(|e| e.at(&format!("[{i}]"))))
                .collect::<Result<_, _>>()?,
        ),
        (Ty::Record(fields), Value::Record(values)) => {
            if fields.len() != values.len() {
                return Err(ValueError::new(format!(
                    "expected {ty}, got a record of {} field(s)",
                    values.len()
                )));
            }
            let mut out = Vec::with_capacity(fields.len());
            for ((name, field_ty), (got, v)) in fields.iter().zip(values) {
                if *name != got {
                    return Err(ValueError::new(format!(
                        "expected field `{name}`, got `{got}`"
                    )));
                }
                out.push((got, to_val(v, field_ty).map_err(|e| e.at(name))?));
            }
            Val::Record(out)
        }
        (Ty::Tuple(types), Value::Tuple(items)) if types.len() == items.len() => Val::Tuple(
            types
                .iter()
                .zip(items)
                .enumerate()
                .map(|(i, (t, v))| to_val(v, t).map_err(|e| e.at(&i.to_string())))
                .collect::<Result<_, _>>()?,
        ),
        (Ty::Variant(cases), Value::Variant(case, payload)) => {
            let Some((_, case_ty)) = cases.iter().find(|(n, _)| *n == case) else {
                return Err(unknown_case(&case, cases.iter().map(|(n, _)| n)));
            };
            let payload = payload_val(case_ty.as_ref(), payload, &case)?;
            Val::Variant(case, payload)
        }
        (Ty::Enum(cases), Value::Enum(case)) => {
            if !cases.contains(&case) {
                return Err(unknown_case(&case, cases.iter()));
            }
            Val::Enum(case)
        }
        (Ty::Flags(names), Value::Flags(set)) => {
            if let Some(unknown) = set.iter().find(|f| !names.contains(f)) {
                return Err(unknown_case(unknown, names.iter()));
            }
            Val::Flags(set)
        }
        (Ty::Option(_), Value::Option(None)) => Val::Option(None),
        (Ty::Option(inner), Value::Option(Some(v))) => {
            Val::Option(Some(Box::new(to_val(*v, inner)?)))
        }
        (Ty::Result { ok, .. }, Value::Result(Ok(v))) => {
            Val::Result(Ok(payload_val(ok.as_deref(), v, "ok")?))
        }
        (Ty::Result { err, .. }, Value::Result(Err(v))) => {
            Val::Result(Err(payload_val(err.as_deref(), v, "err")?))
        }
        (Ty::ObjectRef, Value::ObjectRef(id)) | (Ty::Actor, Value::Actor(id)) => {
            Val::Record(vec![("id".into(), Val::String(id))])
        }
        (Ty::Unsupported(what), _) => {
            return Err(ValueError::new(format!(
                "a {what} cannot be passed from outside the component"
            )));
        }
        (_, value) => return Err(mismatch(&value)),
    })
}

fn unknown_case<'a>(case: &str, known: impl Iterator<Item = &'a String>) -> ValueError {
    let known: Vec<&str> = known.map(String::as_str).collect();
    ValueError::new(format!(
        "unknown case `{case}` (expected one of: {})",
        known.join(", ")
    ))
}

fn payload_val(
    ty: Option<&Ty>,
    payload: Option<Box<Value>>,
    case: &str,
) -> Result<Option<Box<Val>>, ValueError> {
    match (ty, payload) {
        (None, None) => Ok(None),
        (Some(ty), Some(v)) => Ok(Some(Box::new(to_val(*v, ty).map_err(|e| e.at(case))?))),
        (Some(ty), None) => Err(ValueError::new(format!(
            "`{case}` needs a payload of type {ty}"
        ))),
        (None, Some(_)) => Err(ValueError::new(format!("`{case}` takes no payload"))),
    }
}

/// Converts a wasmtime value of type `ty` (a function's result) to weft's
/// form: `list<u8>` becomes bytes, and the runtime's `object-ref` and
/// `actor` records become refs and handles, by the type's identity.
pub fn from_val(val: Val, ty: &Ty) -> Result<Value, ValueError> {
    let mismatch = || ValueError::new(format!("the guest returned a value that is not a {ty}"));
    Ok(match (ty, val) {
        (_, Val::Bool(v)) => Value::Bool(v),
        (_, Val::S8(v)) => Value::S8(v),
        (_, Val::U8(v)) => Value::U8(v),
        (_, Val::S16(v)) => Value::S16(v),
        (_, Val::U16(v)) => Value::U16(v),
        (_, Val::S32(v)) => Value::S32(v),
        (_, Val::U32(v)) => Value::U32(v),
        (_, Val::S64(v)) => Value::S64(v),
        (_, Val::U64(v)) => Value::U64(v),
        (_, Val::Float32(v)) => Value::F32(v),
        (_, Val::Float64(v)) => Value::F64(v),
        (_, Val::Char(v)) => Value::Char(v),
        (_, Val::String(v)) => Value::String(v),
        (Ty::List(elem), Val::List(items)) if **elem == Ty::U8 => Value::from(
            items
                .into_iter()
                .map(|v| match v {
                    Val::U8(b) => Ok(b),
                    _ => Err(mismatch()),
                })
                .collect::<Result<Vec<u8>, _>>()?,
        ),
        (Ty::List(elem), Val::List(items)) => Value::List(
            items
                .into_iter()
                .map(|v| from_val(v, elem))
                .collect::<Result<_, _>>()?,
        ),
        (Ty::ObjectRef | Ty::Actor, Val::Record(fields)) => {
            let id = match fields.into_iter().next() {
                Some((_, Val::String(id))) => id,
                _ => return Err(mismatch()),
            };
            if *ty == Ty::ObjectRef {
                Value::ObjectRef(id)
            } else {
                Value::Actor(id)
            }
        }
        (Ty::Record(types), Val::Record(fields)) if types.len() == fields.len() => Value::Record(
            types
                .iter()
                .zip(fields)
                .map(|((_, t), (name, v))| Ok((name, from_val(v, t)?)))
                .collect::<Result<_, ValueError>>()?,
        ),
        (Ty::Tuple(types), Val::Tuple(items)) if types.len() == items.len() => Value::Tuple(
            types
                .iter()
                .zip(items)
                .map(|(t, v)| from_val(v, t))
                .collect::<Result<_, _>>()?,
        ),
        (Ty::Variant(cases), Val::Variant(case, payload)) => {
            let case_ty = cases
                .iter()
                .find(|(n, _)| *n == case)
                .and_then(|(_, t)| t.as_ref());
            let payload = match (case_ty, payload) {
                (Some(t), Some(v)) => Some(Box::new(from_val(*v, t)?)),
                (None, None) => None,
                _ => return Err(mismatch()),
            };
            Value::Variant(case, payload)
        }
        (_, Val::Enum(case)) => Value::Enum(case),
        (_, Val::Flags(set)) => Value::Flags(set),
        (_, Val::Option(None)) => Value::Option(None),
        (Ty::Option(inner), Val::Option(Some(v))) => {
            Value::Option(Some(Box::new(from_val(*v, inner)?)))
        }
        (Ty::Result { ok, err }, Val::Result(r)) => {
            let side = |t: &Option<Box<Ty>>, v: Option<Box<Val>>| match (t, v) {
                (Some(t), Some(v)) => Ok(Some(Box::new(from_val(*v, t)?))),
                (None, None) => Ok(None),
                _ => Err(mismatch()),
            };
            Value::Result(match r {
                Ok(v) => Ok(side(ok, v)?),
                Err(v) => Err(side(err, v)?),
            })
        }
        _ => return Err(mismatch()),
    })
}
