//! JSON <-> component values, typed by WIT.
//!
//! The mapping, chosen to be what a JSON user would write by hand:
//!
//! | WIT | JSON |
//! | --- | --- |
//! | `bool`, integers, floats | boolean, number (NaN and infinities as the strings `"NaN"`, `"inf"`, `"-inf"`) |
//! | `char`, `string` | string |
//! | `list<T>`, `tuple<..>` | array |
//! | `record` | object keyed by field name |
//! | `variant` | `{"case": payload}`, or `"case"` for a case without payload |
//! | `enum` | `"case"` |
//! | `flags` | array of set flag names |
//! | `option<T>` | `null` or the value |
//! | `result<T, E>` | `{"ok": value}` or `{"err": value}` (`null` payload when absent) |
//!
//! `option<option<T>>` cannot tell `none` from `some(none)` in this form;
//! use WAVE for such types.

use serde_json::{Map, Number, Value};
use wasmtime::component::{Type, Val};

use super::{ValueError, render_type};

/// Converts a JSON value to a component value of type `ty`.
pub fn json_to_val(json: &Value, ty: &Type) -> Result<Val, ValueError> {
    let mismatch = || ValueError::new(format!("expected {}, got {}", render_type(ty), short(json)));
    Ok(match ty {
        Type::Bool => Val::Bool(json.as_bool().ok_or_else(mismatch)?),
        Type::S8 => Val::S8(int(json, ty)?),
        Type::U8 => Val::U8(int(json, ty)?),
        Type::S16 => Val::S16(int(json, ty)?),
        Type::U16 => Val::U16(int(json, ty)?),
        Type::S32 => Val::S32(int(json, ty)?),
        Type::U32 => Val::U32(int(json, ty)?),
        Type::S64 => Val::S64(int(json, ty)?),
        Type::U64 => Val::U64(int(json, ty)?),
        Type::Float32 => Val::Float32(float(json).ok_or_else(mismatch)? as f32),
        Type::Float64 => Val::Float64(float(json).ok_or_else(mismatch)?),
        Type::Char => {
            let s = json.as_str().ok_or_else(mismatch)?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Val::Char(c),
                _ => {
                    return Err(ValueError::new(format!(
                        "expected one character, got {}",
                        short(json)
                    )));
                }
            }
        }
        Type::String => Val::String(json.as_str().ok_or_else(mismatch)?.to_string()),
        Type::List(list) => {
            let elem = list.ty();
            Val::List(elements(json, &elem).ok_or_else(mismatch)??)
        }
        Type::FixedLengthList(list) => {
            let elem = list.ty();
            let items = elements(json, &elem).ok_or_else(mismatch)??;
            if items.len() != list.len() as usize {
                return Err(ValueError::new(format!(
                    "expected {} elements, got {}",
                    list.len(),
                    items.len()
                )));
            }
            Val::FixedLengthList(items)
        }
        Type::Map(map) => {
            let object = json.as_object().ok_or_else(mismatch)?;
            let (kty, vty) = (map.key(), map.value());
            let mut pairs = Vec::with_capacity(object.len());
            for (k, v) in object {
                let key = json_to_val(&Value::String(k.clone()), &kty).map_err(|e| e.at(k))?;
                pairs.push((key, json_to_val(v, &vty).map_err(|e| e.at(k))?));
            }
            Val::Map(pairs)
        }
        Type::Record(record) => {
            let object = json.as_object().ok_or_else(mismatch)?;
            let mut fields = Vec::new();
            for field in record.fields() {
                let value = match object.get(field.name) {
                    Some(v) => json_to_val(v, &field.ty).map_err(|e| e.at(field.name))?,
                    None if matches!(field.ty, Type::Option(_)) => Val::Option(None),
                    None => {
                        return Err(ValueError::new(format!("missing field `{}`", field.name)));
                    }
                };
                fields.push((field.name.to_string(), value));
            }
            if let Some(extra) = object
                .keys()
                .find(|k| !record.fields().any(|f| f.name == k.as_str()))
            {
                return Err(ValueError::new(format!("unknown field `{extra}`")));
            }
            Val::Record(fields)
        }
        Type::Tuple(tuple) => {
            let items = json.as_array().ok_or_else(mismatch)?;
            if items.len() != tuple.types().len() {
                return Err(mismatch());
            }
            Val::Tuple(
                items
                    .iter()
                    .zip(tuple.types())
                    .enumerate()
                    .map(|(i, (v, t))| json_to_val(v, &t).map_err(|e| e.at(&format!("[{i}]"))))
                    .collect::<Result<_, _>>()?,
            )
        }
        Type::Variant(variant) => {
            let (name, payload) = tagged(json).ok_or_else(mismatch)?;
            let case = variant
                .cases()
                .find(|c| c.name == name)
                .ok_or_else(|| unknown_case(name, variant.cases().map(|c| c.name)))?;
            Val::Variant(
                name.to_string(),
                payload_val(payload, case.ty.as_ref(), name)?,
            )
        }
        Type::Enum(e) => {
            let name = json.as_str().ok_or_else(mismatch)?;
            if !e.names().any(|n| n == name) {
                return Err(unknown_case(name, e.names()));
            }
            Val::Enum(name.to_string())
        }
        Type::Flags(flags) => {
            let items = json.as_array().ok_or_else(mismatch)?;
            let mut set = Vec::new();
            for item in items {
                let name = item.as_str().ok_or_else(mismatch)?;
                if !flags.names().any(|n| n == name) {
                    return Err(unknown_case(name, flags.names()));
                }
                set.push(name.to_string());
            }
            Val::Flags(set)
        }
        Type::Option(option) => match json {
            Value::Null => Val::Option(None),
            v => Val::Option(Some(Box::new(json_to_val(v, &option.ty())?))),
        },
        Type::Result(result) => {
            let (name, payload) = tagged(json).ok_or_else(mismatch)?;
            match name {
                "ok" => Val::Result(Ok(payload_val(payload, result.ok().as_ref(), "ok")?)),
                "err" => Val::Result(Err(payload_val(payload, result.err().as_ref(), "err")?)),
                other => return Err(unknown_case(other, ["ok", "err"].into_iter())),
            }
        }
        Type::Own(_) | Type::Borrow(_) => {
            return Err(ValueError::new("resources cannot be passed as JSON"));
        }
        Type::Future(_) | Type::Stream(_) | Type::ErrorContext => {
            return Err(ValueError::new(format!(
                "{} cannot be passed as JSON",
                render_type(ty)
            )));
        }
    })
}

/// Converts a component value to JSON (see the module docs for the mapping).
pub fn val_to_json(val: &Val) -> Result<Value, ValueError> {
    Ok(match val {
        Val::Bool(b) => Value::Bool(*b),
        Val::S8(n) => (*n).into(),
        Val::U8(n) => (*n).into(),
        Val::S16(n) => (*n).into(),
        Val::U16(n) => (*n).into(),
        Val::S32(n) => (*n).into(),
        Val::U32(n) => (*n).into(),
        Val::S64(n) => (*n).into(),
        Val::U64(n) => (*n).into(),
        Val::Float32(f) => float_json(f64::from(*f)),
        Val::Float64(f) => float_json(*f),
        Val::Char(c) => Value::String(c.to_string()),
        Val::String(s) => Value::String(s.clone()),
        Val::List(items) | Val::Tuple(items) | Val::FixedLengthList(items) => {
            Value::Array(items.iter().map(val_to_json).collect::<Result<_, _>>()?)
        }
        Val::Map(pairs) => {
            let mut object = Map::new();
            for (k, v) in pairs {
                let key = match val_to_json(k)? {
                    Value::String(s) => s,
                    other => other.to_string(),
                };
                object.insert(key, val_to_json(v)?);
            }
            Value::Object(object)
        }
        Val::Record(fields) => {
            let mut object = Map::new();
            for (name, v) in fields {
                object.insert(name.clone(), val_to_json(v)?);
            }
            Value::Object(object)
        }
        Val::Variant(name, payload) => match payload {
            None => Value::String(name.clone()),
            Some(p) => tag(name, Some(p))?,
        },
        Val::Enum(name) => Value::String(name.clone()),
        Val::Flags(names) => Value::Array(names.iter().cloned().map(Value::String).collect()),
        Val::Option(None) => Value::Null,
        Val::Option(Some(v)) => val_to_json(v)?,
        Val::Result(Ok(v)) => tag("ok", v.as_deref())?,
        Val::Result(Err(v)) => tag("err", v.as_deref())?,
        Val::Resource(_) | Val::Future(_) | Val::Stream(_) | Val::ErrorContext(_) => {
            return Err(ValueError::new("a handle cannot be rendered as JSON"));
        }
    })
}

fn int<T: TryFrom<i64> + TryFrom<u64>>(json: &Value, ty: &Type) -> Result<T, ValueError> {
    let out_of_range = || {
        ValueError::new(format!(
            "expected {}, got {} (out of range)",
            render_type(ty),
            short(json)
        ))
    };
    match json {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                T::try_from(u).map_err(|_| out_of_range())
            } else if let Some(i) = n.as_i64() {
                T::try_from(i).map_err(|_| out_of_range())
            } else {
                Err(ValueError::new(format!(
                    "expected {}, got {} (not an integer)",
                    render_type(ty),
                    short(json)
                )))
            }
        }
        _ => Err(ValueError::new(format!(
            "expected {}, got {}",
            render_type(ty),
            short(json)
        ))),
    }
}

fn float(json: &Value) -> Option<f64> {
    match json {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" | "nan" => Some(f64::NAN),
            "inf" | "Infinity" => Some(f64::INFINITY),
            "-inf" | "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn float_json(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".into()),
        None if f > 0.0 => Value::String("inf".into()),
        None => Value::String("-inf".into()),
    }
}

fn elements(json: &Value, elem: &Type) -> Option<Result<Vec<Val>, ValueError>> {
    let items = json.as_array()?;
    Some(
        items
            .iter()
            .enumerate()
            .map(|(i, v)| json_to_val(v, elem).map_err(|e| e.at(&format!("[{i}]"))))
            .collect(),
    )
}

/// `"case"` or `{"case": payload}`.
fn tagged(json: &Value) -> Option<(&str, Option<&Value>)> {
    match json {
        Value::String(s) => Some((s.as_str(), None)),
        Value::Object(o) if o.len() == 1 => o.iter().next().map(|(k, v)| (k.as_str(), Some(v))),
        _ => None,
    }
}

fn payload_val(
    payload: Option<&Value>,
    ty: Option<&Type>,
    case: &str,
) -> Result<Option<Box<Val>>, ValueError> {
    match (ty, payload) {
        (None, None | Some(Value::Null)) => Ok(None),
        (None, Some(v)) => Err(ValueError::new(format!(
            "case `{case}` takes no payload, got {}",
            short(v)
        ))),
        (Some(t), Some(v)) => Ok(Some(Box::new(json_to_val(v, t).map_err(|e| e.at(case))?))),
        (Some(t), None) => Err(ValueError::new(format!(
            "case `{case}` needs a payload of type {}",
            render_type(t)
        ))),
    }
}

fn tag(name: &str, payload: Option<&Val>) -> Result<Value, ValueError> {
    let mut object = Map::new();
    object.insert(
        name.to_string(),
        payload.map(val_to_json).transpose()?.unwrap_or(Value::Null),
    );
    Ok(Value::Object(object))
}

fn unknown_case<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> ValueError {
    ValueError::new(format!(
        "unknown case `{name}` (expected one of: {})",
        known.collect::<Vec<_>>().join(", ")
    ))
}

/// A JSON value cut short for error messages.
fn short(json: &Value) -> String {
    let text = json.to_string();
    if text.len() > 40 {
        let cut = text.char_indices().nth(37).map_or(text.len(), |(i, _)| i);
        format!("{}...", &text[..cut])
    } else {
        text
    }
}
