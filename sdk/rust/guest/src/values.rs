//! Rust values as task arguments and results, in weft's binary encoding.
//!
//! A guest passes its values as they are: an integer as its own width, a
//! `Vec` as a list, a [`Value`] built by hand for records and variants.
//! The host that runs the callee conforms each to the parameter's type
//! (an `i64` to a `u8` parameter if it fits, a record's fields to its
//! order), so no signature is looked up on the way. Results come back
//! the same way, read into whatever type implements [`FromValue`].

use weft_values::{Ty, Value};

use crate::Error;
use crate::bindings::weft::runtime::actors::Actor;
use crate::bindings::weft::runtime::tasks::Argument;
use crate::bindings::weft::runtime::types::ObjectRef;

/// A Rust value that can be sent as a component value.
pub trait IntoValue {
    /// The value.
    fn into_value(self) -> Value;
}

macro_rules! into_value {
    ($($t:ty => $case:ident),* $(,)?) => {
        $(impl IntoValue for $t {
            fn into_value(self) -> Value {
                Value::$case(self)
            }
        })*
    };
}

into_value!(
    bool => Bool, i8 => S8, u8 => U8, i16 => S16, u16 => U16, i32 => S32, u32 => U32,
    i64 => S64, u64 => U64, f32 => F32, f64 => F64, char => Char, String => String,
);

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}

impl IntoValue for &str {
    fn into_value(self) -> Value {
        Value::String(self.to_string())
    }
}

/// An actor handle, for a parameter of type `actor`.
impl IntoValue for &Actor {
    fn into_value(self) -> Value {
        Value::Actor(self.id.clone())
    }
}

/// Bytes, sent as one buffer for a `list<u8>` parameter.
impl IntoValue for &[u8] {
    fn into_value(self) -> Value {
        Value::Bytes(bytes::Bytes::copy_from_slice(self))
    }
}

impl<T: IntoValue> IntoValue for Vec<T> {
    fn into_value(self) -> Value {
        Value::List(self.into_iter().map(IntoValue::into_value).collect())
    }
}

impl<T: IntoValue> IntoValue for Option<T> {
    fn into_value(self) -> Value {
        Value::Option(self.map(|v| Box::new(v.into_value())))
    }
}

impl<T: IntoValue, E: IntoValue> IntoValue for Result<T, E> {
    fn into_value(self) -> Value {
        Value::Result(match self {
            Ok(v) => Ok(Some(Box::new(v.into_value()))),
            Err(e) => Err(Some(Box::new(e.into_value()))),
        })
    }
}

/// One argument of a task or actor call.
pub trait IntoArgument {
    /// The argument.
    fn into_argument(self) -> Argument;
}

impl<T: IntoValue> IntoArgument for T {
    fn into_argument(self) -> Argument {
        Argument::Value(weft_values::encode(&self.into_value()))
    }
}

/// A ref passes the object's value (the task waits for it), or the ref
/// itself to a parameter of type `object-ref`.
impl IntoArgument for &ObjectRef {
    fn into_argument(self) -> Argument {
        Argument::Object(self.clone())
    }
}

impl IntoArgument for Argument {
    fn into_argument(self) -> Argument {
        self
    }
}

/// A call's arguments: `()`, a tuple of up to eight [`IntoArgument`]s,
/// or a `Vec` of arguments.
pub trait IntoArgs {
    /// The arguments.
    fn into_args(self) -> Vec<Argument>;
}

impl IntoArgs for Vec<Argument> {
    fn into_args(self) -> Vec<Argument> {
        self
    }
}

macro_rules! into_args {
    ($(($($name:ident),*)),* $(,)?) => {
        $(impl<$($name: IntoArgument),*> IntoArgs for ($($name,)*) {
            #[allow(non_snake_case, reason = "the type parameters name the tuple's fields")]
            fn into_args(self) -> Vec<Argument> {
                let ($($name,)*) = self;
                vec![$($name.into_argument()),*]
            }
        })*
    };
}

impl IntoArgs for () {
    fn into_args(self) -> Vec<Argument> {
        Vec::new()
    }
}

into_args!(
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F),
    (A, B, C, D, E, F, G),
    (A, B, C, D, E, F, G, H),
);

/// A Rust value a component value can be read into.
pub trait FromValue: Sized {
    /// `value` as `Self`, or why it is not one.
    fn from_value(value: Value) -> Result<Self, Error>;
}

fn mismatch(e: weft_values::ValueError) -> Error {
    Error::InvalidArgument(format!("the value does not fit: {e}"))
}

macro_rules! from_value {
    ($($t:ty => $ty:ident),* $(,)?) => {
        $(impl FromValue for $t {
            /// Any integer that fits (or float, for a float) is read.
            fn from_value(value: Value) -> Result<Self, Error> {
                match Ty::$ty.conform(value).map_err(mismatch)? {
                    Value::$ty(v) => Ok(v),
                    _ => unreachable!("conformed to {}", Ty::$ty),
                }
            }
        })*
    };
}

from_value!(
    bool => Bool, i8 => S8, u8 => U8, i16 => S16, u16 => U16, i32 => S32, u32 => U32,
    i64 => S64, u64 => U64, f32 => F32, f64 => F64, char => Char, String => String,
);

impl FromValue for Value {
    fn from_value(value: Value) -> Result<Self, Error> {
        Ok(value)
    }
}

/// A list of any element type (bytes too, for `Vec<u8>`).
impl<T: FromValue> FromValue for Vec<T> {
    fn from_value(value: Value) -> Result<Self, Error> {
        match value {
            Value::Bytes(bytes) => bytes.iter().map(|b| T::from_value(Value::U8(*b))).collect(),
            Value::List(items) | Value::Tuple(items) => {
                items.into_iter().map(T::from_value).collect()
            }
            other => Err(Error::InvalidArgument(format!(
                "the value does not fit: expected a list, got a {}",
                other.kind()
            ))),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: Value) -> Result<Self, Error> {
        match value {
            Value::Option(None) => Ok(None),
            Value::Option(Some(v)) => T::from_value(*v).map(Some),
            other => T::from_value(other).map(Some),
        }
    }
}

impl FromValue for ObjectRef {
    fn from_value(value: Value) -> Result<Self, Error> {
        match value {
            Value::ObjectRef(id) => Ok(ObjectRef { id }),
            other => Err(Error::InvalidArgument(format!(
                "the value does not fit: expected an object-ref, got a {}",
                other.kind()
            ))),
        }
    }
}

impl FromValue for Actor {
    fn from_value(value: Value) -> Result<Self, Error> {
        match value {
            Value::Actor(id) => Ok(Actor { id }),
            other => Err(Error::InvalidArgument(format!(
                "the value does not fit: expected an actor, got a {}",
                other.kind()
            ))),
        }
    }
}

/// Nothing: what a function that returns nothing gives.
impl FromValue for () {
    fn from_value(value: Value) -> Result<Self, Error> {
        match value {
            Value::Option(None) => Ok(()),
            Value::Tuple(items) if items.is_empty() => Ok(()),
            other => Err(Error::InvalidArgument(format!(
                "the value does not fit: expected nothing, got a {}",
                other.kind()
            ))),
        }
    }
}

macro_rules! tuples {
    ($(($($name:ident),*)),* $(,)?) => {
        $(impl<$($name: IntoValue),*> IntoValue for ($($name,)*) {
            #[allow(non_snake_case, reason = "the type parameters name the tuple's fields")]
            fn into_value(self) -> Value {
                let ($($name,)*) = self;
                Value::Tuple(vec![$($name.into_value()),*])
            }
        }

        impl<$($name: FromValue),*> FromValue for ($($name,)*) {
            fn from_value(value: Value) -> Result<Self, Error> {
                const LEN: usize = [$(stringify!($name)),*].len();
                match value {
                    Value::Tuple(items) | Value::List(items) if items.len() == LEN => {
                        let mut items = items.into_iter();
                        Ok(($($name::from_value(items.next().expect("counted"))?,)*))
                    }
                    other => Err(Error::InvalidArgument(format!(
                        "the value does not fit: expected a tuple of {LEN}, got a {}",
                        other.kind()
                    ))),
                }
            }
        })*
    };
}

tuples!((A, B), (A, B, C), (A, B, C, D));
