//! JSON <-> [`Value`], typed by [`Ty`]: the HTTP edge's form and an SDK
//! convenience. The mapping, chosen to be what a JSON user would write by
//! hand:
//!
//! | WIT | JSON |
//! | --- | --- |
//! | `bool`, integers, floats | boolean, number (NaN and infinities as the strings `"NaN"`, `"inf"`, `"-inf"`) |
//! | `char`, `string` | string |
//! | `list<T>` (`list<u8>` too), `tuple<..>` | array |
//! | `record` | object keyed by field name (absent `option` fields are `none`) |
//! | `variant` | `{"case": payload}`, or `"case"` for a case without payload |
//! | `enum` | `"case"` |
//! | `flags` | array of set flag names |
//! | `option<T>` | `null` or the value |
//! | `result<T, E>` | `{"ok": value}` or `{"err": value}` (`null` payload when absent) |
//! | `object-ref`, `actor` | `{"id": "..."}` |
//!
//! `option<option<T>>` cannot tell `none` from `some(none)` in this form;
//! use WAVE or the binary encoding for such types.

use serde_json::{Map, Number, Value as Json};

use crate::ty::unknown_case;
use crate::{Ty, Value, ValueError};

/// Converts JSON to a value of type `ty`.
pub fn from_json(json: &Json, ty: &Ty) -> Result<Value, ValueError> {
    let mismatch = || ValueError::new(format!("expected {ty}, got {}", short(json)));
    Ok(match ty {
        Ty::Bool => Value::Bool(json.as_bool().ok_or_else(mismatch)?),
        Ty::S8 => Value::S8(int(json, ty)?),
        Ty::U8 => Value::U8(int(json, ty)?),
        Ty::S16 => Value::S16(int(json, ty)?),
        Ty::U16 => Value::U16(int(json, ty)?),
        Ty::S32 => Value::S32(int(json, ty)?),
        Ty::U32 => Value::U32(int(json, ty)?),
        Ty::S64 => Value::S64(int(json, ty)?),
        Ty::U64 => Value::U64(int(json, ty)?),
        Ty::F32 => Value::F32(float(json).ok_or_else(mismatch)? as f32),
        Ty::F64 => Value::F64(float(json).ok_or_else(mismatch)?),
        Ty::Char => {
            let s = json.as_str().ok_or_else(mismatch)?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Value::Char(c),
                _ => {
                    return Err(ValueError::new(format!(
                        "expected one character, got {}",
                        short(json)
                    )));
                }
            }
        }
        Ty::String => Value::String(json.as_str().ok_or_else(mismatch)?.to_string()),
        Ty::List(elem) if **elem == Ty::U8 => {
            let items = json.as_array().ok_or_else(mismatch)?;
            let bytes = items
                .iter()
                .enumerate()
                .map(|(i, v)| int::<u8>(v, &Ty::U8).map_err(|e| e.at(&format!("[{i}]"))))
                .collect::<Result<Vec<u8>, _>>()?;
            Value::from(bytes)
        }
        Ty::List(elem) => {
            let items = json.as_array().ok_or_else(mismatch)?;
            Value::List(elements(items.iter(), std::iter::repeat(&**elem))?)
        }
        Ty::Record(fields) => {
            let object = json.as_object().ok_or_else(mismatch)?;
            let mut out = Vec::with_capacity(fields.len());
            for (name, field_ty) in fields {
                let value = match object.get(name) {
                    Some(v) => from_json(v, field_ty).map_err(|e| e.at(name))?,
                    None if matches!(field_ty, Ty::Option(_)) => Value::Option(None),
                    None => return Err(ValueError::new(format!("missing field `{name}`"))),
                };
                out.push((name.clone(), value));
            }
            if let Some(extra) = object.keys().find(|k| !fields.iter().any(|(n, _)| n == *k)) {
                return Err(ValueError::new(format!("unknown field `{extra}`")));
            }
            Value::Record(out)
        }
        Ty::Tuple(types) => {
            let items = json.as_array().ok_or_else(mismatch)?;
            if items.len() != types.len() {
                return Err(mismatch());
            }
            Value::Tuple(elements(items.iter(), types.iter())?)
        }
        Ty::Variant(cases) => {
            let (name, payload) = tagged(json).ok_or_else(mismatch)?;
            let (_, case_ty) = cases
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| unknown_case(name, cases.iter().map(|(n, _)| n)))?;
            Value::Variant(
                name.to_string(),
                payload_value(payload, case_ty.as_ref(), name)?,
            )
        }
        Ty::Enum(cases) => {
            let name = json.as_str().ok_or_else(mismatch)?;
            if !cases.iter().any(|c| c == name) {
                return Err(unknown_case(name, cases.iter()));
            }
            Value::Enum(name.to_string())
        }
        Ty::Flags(names) => {
            let items = json.as_array().ok_or_else(mismatch)?;
            let mut set = Vec::with_capacity(items.len());
            for item in items {
                let name = item.as_str().ok_or_else(mismatch)?;
                if !names.iter().any(|n| n == name) {
                    return Err(unknown_case(name, names.iter()));
                }
                set.push(name.to_string());
            }
            Value::Flags(set)
        }
        Ty::Option(inner) => match json {
            Json::Null => Value::Option(None),
            v => Value::Option(Some(Box::new(from_json(v, inner)?))),
        },
        Ty::Result { ok, err } => {
            let (name, payload) = tagged(json).ok_or_else(mismatch)?;
            match name {
                "ok" => Value::Result(Ok(payload_value(payload, ok.as_deref(), "ok")?)),
                "err" => Value::Result(Err(payload_value(payload, err.as_deref(), "err")?)),
                other => {
                    let known = ["ok".to_string(), "err".to_string()];
                    return Err(unknown_case(other, known.iter()));
                }
            }
        }
        Ty::ObjectRef | Ty::Actor => {
            let id = json
                .as_object()
                .and_then(|o| (o.len() == 1).then(|| o.get("id")).flatten())
                .and_then(Json::as_str)
                .ok_or_else(mismatch)?
                .to_string();
            if *ty == Ty::ObjectRef {
                Value::ObjectRef(id)
            } else {
                Value::Actor(id)
            }
        }
        Ty::Unsupported(what) => {
            return Err(ValueError::new(format!(
                "a {what} cannot be passed as JSON"
            )));
        }
    })
}

/// Converts a value to JSON (see the module docs for the mapping).
pub fn to_json(value: &Value) -> Json {
    match value {
        Value::Bool(b) => Json::Bool(*b),
        Value::S8(n) => (*n).into(),
        Value::U8(n) => (*n).into(),
        Value::S16(n) => (*n).into(),
        Value::U16(n) => (*n).into(),
        Value::S32(n) => (*n).into(),
        Value::U32(n) => (*n).into(),
        Value::S64(n) => (*n).into(),
        Value::U64(n) => (*n).into(),
        Value::F32(f) => float_json(f64::from(*f)),
        Value::F64(f) => float_json(*f),
        Value::Char(c) => Json::String(c.to_string()),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(bytes) => Json::Array(bytes.iter().map(|b| (*b).into()).collect()),
        Value::List(items) | Value::Tuple(items) => {
            Json::Array(items.iter().map(to_json).collect())
        }
        Value::Record(fields) => Json::Object(
            fields
                .iter()
                .map(|(name, v)| (name.clone(), to_json(v)))
                .collect(),
        ),
        Value::Variant(name, None) | Value::Enum(name) => Json::String(name.clone()),
        Value::Variant(name, Some(payload)) => tag(name, Some(payload)),
        Value::Flags(names) => Json::Array(names.iter().cloned().map(Json::String).collect()),
        Value::Option(None) => Json::Null,
        Value::Option(Some(v)) => to_json(v),
        Value::Result(Ok(v)) => tag("ok", v.as_deref()),
        Value::Result(Err(v)) => tag("err", v.as_deref()),
        Value::ObjectRef(id) | Value::Actor(id) => {
            let mut object = Map::new();
            object.insert("id".into(), Json::String(id.clone()));
            Json::Object(object)
        }
    }
}

fn int<T: TryFrom<i64> + TryFrom<u64>>(json: &Json, ty: &Ty) -> Result<T, ValueError> {
    let out_of_range =
        || ValueError::new(format!("expected {ty}, got {} (out of range)", short(json)));
    match json {
        Json::Number(n) => {
            if let Some(u) = n.as_u64() {
                T::try_from(u).map_err(|_| out_of_range())
            } else if let Some(i) = n.as_i64() {
                T::try_from(i).map_err(|_| out_of_range())
            } else {
                Err(ValueError::new(format!(
                    "expected {ty}, got {} (not an integer)",
                    short(json)
                )))
            }
        }
        _ => Err(ValueError::new(format!(
            "expected {ty}, got {}",
            short(json)
        ))),
    }
}

fn float(json: &Json) -> Option<f64> {
    match json {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => match s.as_str() {
            "NaN" | "nan" => Some(f64::NAN),
            "inf" | "Infinity" => Some(f64::INFINITY),
            "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn float_json(f: f64) -> Json {
    match Number::from_f64(f) {
        Some(n) => Json::Number(n),
        None if f.is_nan() => Json::String("NaN".into()),
        None if f > 0.0 => Json::String("inf".into()),
        None => Json::String("-inf".into()),
    }
}

fn elements<'a>(
    items: impl Iterator<Item = &'a Json>,
    types: impl Iterator<Item = &'a Ty>,
) -> Result<Vec<Value>, ValueError> {
    items
        .zip(types)
        .enumerate()
        .map(|(i, (v, t))| from_json(v, t).map_err(|e| e.at(&format!("[{i}]"))))
        .collect()
}

/// `"case"` or `{"case": payload}`.
fn tagged(json: &Json) -> Option<(&str, Option<&Json>)> {
    match json {
        Json::String(s) => Some((s.as_str(), None)),
        Json::Object(o) if o.len() == 1 => o.iter().next().map(|(k, v)| (k.as_str(), Some(v))),
        _ => None,
    }
}

fn payload_value(
    payload: Option<&Json>,
    ty: Option<&Ty>,
    case: &str,
) -> Result<Option<Box<Value>>, ValueError> {
    match (ty, payload) {
        (None, None | Some(Json::Null)) => Ok(None),
        (None, Some(v)) => Err(ValueError::new(format!(
            "case `{case}` takes no payload, got {}",
            short(v)
        ))),
        (Some(t), Some(v)) => Ok(Some(Box::new(from_json(v, t).map_err(|e| e.at(case))?))),
        (Some(t), None) => Err(ValueError::new(format!(
            "case `{case}` needs a payload of type {t}"
        ))),
    }
}

fn tag(name: &str, payload: Option<&Value>) -> Json {
    let mut object = Map::new();
    object.insert(name.to_string(), payload.map_or(Json::Null, to_json));
    Json::Object(object)
}

/// A JSON value cut short for error messages.
fn short(json: &Json) -> String {
    let text = json.to_string();
    if text.len() > 40 {
        let cut = text.char_indices().nth(37).map_or(text.len(), |(i, _)| i);
        format!("{}...", &text[..cut])
    } else {
        text
    }
}
