//! [`Value`]: one component value, owned, independent of any runtime.

use bytes::Bytes;

use crate::{Ty, ValueError};

/// A component value.
///
/// It mirrors the component model's value kinds, with three additions that
/// weft needs to tell apart by type rather than by shape:
/// - [`Value::Bytes`] is a `list<u8>` kept as one buffer (never a value per
///   byte), so large binary data costs one copy at each edge;
/// - [`Value::ObjectRef`] is a `weft:runtime/types.object-ref`;
/// - [`Value::Actor`] is a `weft:runtime/actors.actor` handle.
///
/// Records, variants, enums and flags carry their names, so a value can be
/// rendered (WAVE, JSON) and checked without its type at hand.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `bool`
    Bool(bool),
    /// `s8`
    S8(i8),
    /// `u8`
    U8(u8),
    /// `s16`
    S16(i16),
    /// `u16`
    U16(u16),
    /// `s32`
    S32(i32),
    /// `u32`
    U32(u32),
    /// `s64`
    S64(i64),
    /// `u64`
    U64(u64),
    /// `f32`
    F32(f32),
    /// `f64`
    F64(f64),
    /// `char`
    Char(char),
    /// `string`
    String(String),
    /// `list<u8>`, as one buffer.
    Bytes(Bytes),
    /// `list<T>` for any `T` but `u8`.
    List(Vec<Value>),
    /// `record`: fields in declaration order.
    Record(Vec<(String, Value)>),
    /// `tuple<..>`
    Tuple(Vec<Value>),
    /// `variant`: the case and its payload, if the case has one.
    Variant(String, Option<Box<Value>>),
    /// `enum`: the case.
    Enum(String),
    /// `option<T>`
    Option(Option<Box<Value>>),
    /// `result<T, E>`: each side's payload, if that side has a type.
    Result(Result<Option<Box<Value>>, Option<Box<Value>>>),
    /// `flags`: the names of the flags that are set.
    Flags(Vec<String>),
    /// A ref to an object in the cluster's object store (its id).
    ObjectRef(String),
    /// A handle on an actor (its id).
    Actor(String),
}

impl Value {
    /// The ids of every object ref inside this value, in order of
    /// appearance (duplicates kept once).
    pub fn refs(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.visit_refs(&mut |id| {
            if !out.iter().any(|seen: &String| seen == id) {
                out.push(id.to_string());
            }
        });
        out
    }

    /// Calls `f` with the id of every object ref inside this value.
    pub fn visit_refs(&self, f: &mut impl FnMut(&str)) {
        match self {
            Value::ObjectRef(id) => f(id),
            Value::List(items) | Value::Tuple(items) => {
                items.iter().for_each(|v| v.visit_refs(f));
            }
            Value::Record(fields) => fields.iter().for_each(|(_, v)| v.visit_refs(f)),
            Value::Variant(_, Some(v)) | Value::Option(Some(v)) => v.visit_refs(f),
            Value::Result(Ok(Some(v)) | Err(Some(v))) => v.visit_refs(f),
            _ => {}
        }
    }

    /// The integer `n` as a value of integer type `ty`, or why it is not
    /// one: the one range check every SDK's conversion shares (a
    /// language's integers are wider than WIT's).
    pub fn integer(ty: &Ty, n: i128) -> Result<Value, ValueError> {
        let fits = |lo: i128, hi: i128| {
            if (lo..=hi).contains(&n) {
                Ok(n)
            } else {
                Err(ValueError::new(format!("{n} is out of range for {ty}")))
            }
        };
        Ok(match ty {
            Ty::S8 => Value::S8(fits(i8::MIN.into(), i8::MAX.into())? as i8),
            Ty::U8 => Value::U8(fits(0, u8::MAX.into())? as u8),
            Ty::S16 => Value::S16(fits(i16::MIN.into(), i16::MAX.into())? as i16),
            Ty::U16 => Value::U16(fits(0, u16::MAX.into())? as u16),
            Ty::S32 => Value::S32(fits(i32::MIN.into(), i32::MAX.into())? as i32),
            Ty::U32 => Value::U32(fits(0, u32::MAX.into())? as u32),
            Ty::S64 => Value::S64(fits(i64::MIN.into(), i64::MAX.into())? as i64),
            Ty::U64 => Value::U64(fits(0, u64::MAX.into())? as u64),
            other => return Err(ValueError::new(format!("{other} is not an integer type"))),
        })
    }

    /// The kind of value, for error messages (`record`, `u32`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Bool(_) => "bool",
            Value::S8(_) => "s8",
            Value::U8(_) => "u8",
            Value::S16(_) => "s16",
            Value::U16(_) => "u16",
            Value::S32(_) => "s32",
            Value::U32(_) => "u32",
            Value::S64(_) => "s64",
            Value::U64(_) => "u64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Char(_) => "char",
            Value::String(_) => "string",
            Value::Bytes(_) => "list<u8>",
            Value::List(_) => "list",
            Value::Record(_) => "record",
            Value::Tuple(_) => "tuple",
            Value::Variant(..) => "variant",
            Value::Enum(_) => "enum",
            Value::Option(_) => "option",
            Value::Result(_) => "result",
            Value::Flags(_) => "flags",
            Value::ObjectRef(_) => "object-ref",
            Value::Actor(_) => "actor",
        }
    }
}

impl From<Vec<u8>> for Value {
    fn from(bytes: Vec<u8>) -> Self {
        Value::Bytes(Bytes::from(bytes))
    }
}

impl From<&str> for Value {
    fn from(text: &str) -> Self {
        Value::String(text.to_string())
    }
}

impl From<String> for Value {
    fn from(text: String) -> Self {
        Value::String(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_checked_against_their_type_s_range() {
        assert_eq!(Value::integer(&Ty::U8, 255), Ok(Value::U8(255)));
        assert_eq!(
            Value::integer(&Ty::S64, i64::MIN.into()),
            Ok(Value::S64(i64::MIN))
        );
        assert_eq!(
            Value::integer(&Ty::U64, u64::MAX.into()),
            Ok(Value::U64(u64::MAX))
        );
        assert_eq!(
            Value::integer(&Ty::U8, 256).unwrap_err().0,
            "256 is out of range for u8"
        );
        assert_eq!(
            Value::integer(&Ty::U32, -1).unwrap_err().0,
            "-1 is out of range for u32"
        );
        assert!(Value::integer(&Ty::F64, 1).is_err());
    }
}
