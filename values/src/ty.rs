//! [`Ty`]: the WIT type of a value, as a plain tree that can be sent over
//! the wire with a component's signatures and checked without a runtime.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Value, ValueError};

/// A WIT type.
///
/// `list<u8>` is `List(U8)` here and [`Value::Bytes`] as a value. The
/// runtime's `object-ref` and `actor` records are their own types,
/// recognised by their WIT identity (the interface that defines them), so a
/// user's record that happens to have one `id: string` field is just a
/// record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ty {
    /// `bool`
    Bool,
    /// `s8`
    S8,
    /// `u8`
    U8,
    /// `s16`
    S16,
    /// `u16`
    U16,
    /// `s32`
    S32,
    /// `u32`
    U32,
    /// `s64`
    S64,
    /// `u64`
    U64,
    /// `f32`
    F32,
    /// `f64`
    F64,
    /// `char`
    Char,
    /// `string`
    String,
    /// `list<T>`
    List(Box<Ty>),
    /// `record { .. }`
    Record(Vec<(String, Ty)>),
    /// `tuple<..>`
    Tuple(Vec<Ty>),
    /// `variant { .. }`
    Variant(Vec<(String, Option<Ty>)>),
    /// `enum { .. }`
    Enum(Vec<String>),
    /// `option<T>`
    Option(Box<Ty>),
    /// `result<T, E>`
    Result {
        /// The `ok` side's type, if it has one.
        ok: Option<Box<Ty>>,
        /// The `err` side's type, if it has one.
        err: Option<Box<Ty>>,
    },
    /// `flags { .. }`
    Flags(Vec<String>),
    /// `weft:runtime/types.object-ref`
    ObjectRef,
    /// `weft:runtime/actors.actor`
    Actor,
    /// A type no value from outside the component can have (resources,
    /// streams, futures): functions using it are listed but not callable.
    Unsupported(String),
}

impl Ty {
    /// Whether this is `list<u8>`, carried as [`Value::Bytes`].
    pub fn is_bytes(&self) -> bool {
        matches!(self, Ty::List(elem) if **elem == Ty::U8)
    }

    /// Whether a value of this type can come from outside a component (no
    /// resource, stream or future handle anywhere inside).
    pub fn is_passable(&self) -> bool {
        match self {
            Ty::Unsupported(_) => false,
            Ty::List(t) | Ty::Option(t) => t.is_passable(),
            Ty::Record(fields) => fields.iter().all(|(_, t)| t.is_passable()),
            Ty::Tuple(types) => types.iter().all(Ty::is_passable),
            Ty::Variant(cases) => cases
                .iter()
                .all(|(_, t)| t.as_ref().is_none_or(Ty::is_passable)),
            Ty::Result { ok, err } => {
                ok.as_deref().is_none_or(Ty::is_passable)
                    && err.as_deref().is_none_or(Ty::is_passable)
            }
            _ => true,
        }
    }

    /// Checks that `value` has this type, naming where it does not.
    pub fn check(&self, value: &Value) -> Result<(), ValueError> {
        let mismatch = || {
            Err(ValueError::new(format!(
                "expected {self}, got a {}",
                value.kind()
            )))
        };
        match (self, value) {
            (Ty::Bool, Value::Bool(_))
            | (Ty::S8, Value::S8(_))
            | (Ty::U8, Value::U8(_))
            | (Ty::S16, Value::S16(_))
            | (Ty::U16, Value::U16(_))
            | (Ty::S32, Value::S32(_))
            | (Ty::U32, Value::U32(_))
            | (Ty::S64, Value::S64(_))
            | (Ty::U64, Value::U64(_))
            | (Ty::F32, Value::F32(_))
            | (Ty::F64, Value::F64(_))
            | (Ty::Char, Value::Char(_))
            | (Ty::String, Value::String(_))
            | (Ty::ObjectRef, Value::ObjectRef(_))
            | (Ty::Actor, Value::Actor(_)) => Ok(()),
            (Ty::List(elem), Value::Bytes(_)) if **elem == Ty::U8 => Ok(()),
            (Ty::List(elem), Value::List(items)) => items
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| elem.check(v).map_err(|e| e.at(&format!("[{i}]")))),
            (Ty::Record(fields), Value::Record(values)) => {
                if fields.len() != values.len() {
                    return mismatch();
                }
                fields
                    .iter()
                    .zip(values)
                    .try_for_each(|((name, ty), (got, v))| {
                        if name != got {
                            return Err(ValueError::new(format!(
                                "expected field `{name}`, got `{got}`"
                            )));
                        }
                        ty.check(v).map_err(|e| e.at(name))
                    })
            }
            (Ty::Tuple(types), Value::Tuple(values)) if types.len() == values.len() => types
                .iter()
                .zip(values)
                .enumerate()
                .try_for_each(|(i, (ty, v))| ty.check(v).map_err(|e| e.at(&i.to_string()))),
            (Ty::Variant(cases), Value::Variant(case, payload)) => {
                match cases.iter().find(|(name, _)| name == case) {
                    Some((_, ty)) => payload_check(ty.as_ref(), payload.as_deref(), case),
                    None => Err(unknown_case(case, cases.iter().map(|(n, _)| n))),
                }
            }
            (Ty::Enum(cases), Value::Enum(case)) if cases.contains(case) => Ok(()),
            (Ty::Enum(cases), Value::Enum(case)) => Err(unknown_case(case, cases.iter())),
            (Ty::Option(_), Value::Option(None)) => Ok(()),
            (Ty::Option(ty), Value::Option(Some(v))) => ty.check(v),
            (Ty::Result { ok, .. }, Value::Result(Ok(v))) => {
                payload_check(ok.as_deref(), v.as_deref(), "ok")
            }
            (Ty::Result { err, .. }, Value::Result(Err(v))) => {
                payload_check(err.as_deref(), v.as_deref(), "err")
            }
            (Ty::Flags(names), Value::Flags(set)) => {
                match set.iter().find(|f| !names.contains(f)) {
                    Some(f) => Err(unknown_case(f, names.iter())),
                    None => Ok(()),
                }
            }
            _ => mismatch(),
        }
    }
}

fn payload_check(ty: Option<&Ty>, value: Option<&Value>, case: &str) -> Result<(), ValueError> {
    match (ty, value) {
        (None, None) => Ok(()),
        (Some(ty), Some(v)) => ty.check(v).map_err(|e| e.at(case)),
        (Some(ty), None) => Err(ValueError::new(format!(
            "`{case}` needs a payload of type {ty}"
        ))),
        (None, Some(_)) => Err(ValueError::new(format!("`{case}` takes no payload"))),
    }
}

pub(crate) fn unknown_case<'a>(case: &str, known: impl Iterator<Item = &'a String>) -> ValueError {
    let known: Vec<&str> = known.map(String::as_str).collect();
    ValueError::new(format!(
        "unknown case `{case}` (expected one of: {})",
        known.join(", ")
    ))
}

/// WIT-like text: `record { x: s32, y: s32 }`, `list<u8>`, `object-ref`.
impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn join<T>(
            f: &mut fmt::Formatter<'_>,
            items: &[T],
            each: impl Fn(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
        ) -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                each(f, item)?;
            }
            Ok(())
        }
        match self {
            Ty::Bool => f.write_str("bool"),
            Ty::S8 => f.write_str("s8"),
            Ty::U8 => f.write_str("u8"),
            Ty::S16 => f.write_str("s16"),
            Ty::U16 => f.write_str("u16"),
            Ty::S32 => f.write_str("s32"),
            Ty::U32 => f.write_str("u32"),
            Ty::S64 => f.write_str("s64"),
            Ty::U64 => f.write_str("u64"),
            Ty::F32 => f.write_str("f32"),
            Ty::F64 => f.write_str("f64"),
            Ty::Char => f.write_str("char"),
            Ty::String => f.write_str("string"),
            Ty::List(elem) => write!(f, "list<{elem}>"),
            Ty::Record(fields) => {
                f.write_str("record { ")?;
                join(f, fields, |f, (name, ty)| write!(f, "{name}: {ty}"))?;
                f.write_str(" }")
            }
            Ty::Tuple(types) => {
                f.write_str("tuple<")?;
                join(f, types, |f, ty| write!(f, "{ty}"))?;
                f.write_str(">")
            }
            Ty::Variant(cases) => {
                f.write_str("variant { ")?;
                join(f, cases, |f, (name, ty)| match ty {
                    Some(ty) => write!(f, "{name}({ty})"),
                    None => f.write_str(name),
                })?;
                f.write_str(" }")
            }
            Ty::Enum(cases) => write!(f, "enum {{ {} }}", cases.join(", ")),
            Ty::Flags(names) => write!(f, "flags {{ {} }}", names.join(", ")),
            Ty::Option(ty) => write!(f, "option<{ty}>"),
            Ty::Result {
                ok: None,
                err: None,
            } => f.write_str("result"),
            Ty::Result { ok, err } => {
                let side =
                    |t: &Option<Box<Ty>>| t.as_ref().map_or("_".to_string(), |t| t.to_string());
                write!(f, "result<{}, {}>", side(ok), side(err))
            }
            Ty::ObjectRef => f.write_str("object-ref"),
            Ty::Actor => f.write_str("actor"),
            Ty::Unsupported(what) => f.write_str(what),
        }
    }
}
