//! weft's one representation of component values, shared by hosts, client
//! SDKs and guest tooling.
//!
//! - [`Value`] is a value, [`Ty`] its WIT type, [`Signature`] a function's.
//! - [`encode`] / [`decode`] are the binary encoding used on the wire and
//!   in the object store (documented for other languages in
//!   `docs/VALUES.md`): versioned, tagged, `list<u8>` as raw bytes, object
//!   refs and actor handles marked by type, so the refs a value contains
//!   are known without scanning it ([`Encoded`]).
//! - WAVE ([`from_wave`], [`to_wave`], [`WaveCall`]) is the CLI's syntax
//!   and JSON ([`from_json`], [`to_json`]) the HTTP edge's: both exist only
//!   at those edges.
//!
//! ```
//! use weft_values::{Ty, Value, decode, encode, from_wave, to_wave};
//!
//! let ty = Ty::Record(vec![("name".into(), Ty::String), ("data".into(), Ty::List(Box::new(Ty::U8)))]);
//! let value = from_wave(r#"{name: "blob", data: [1, 2, 3]}"#, &ty).unwrap();
//! assert_eq!(decode(&encode(&value)).unwrap(), value);
//! assert_eq!(to_wave(&value), r#"{name: "blob", data: [1, 2, 3]}"#);
//! ```

mod call;
mod codec;
mod conform;
#[cfg(feature = "describe")]
mod describe;
#[cfg(feature = "describe")]
mod inspect;
mod json;
mod loose;
mod signature;
mod ty;
mod value;
mod wave;

pub use call::{CallError, CallText, parse_call};
pub use codec::{
    DecodeError, Encoded, MAX_DEPTH, VERSION, bytes_header, bytes_payload, decode, decode_shared,
    encode, encode_into,
};
pub use conform::conform_args;
#[cfg(feature = "describe")]
pub use describe::{DescribeError, describe};
#[cfg(feature = "describe")]
pub use inspect::{InspectError, Inspected, host_provides, inspect};
pub use json::{from_json, to_json};
pub use loose::from_untyped_wave;
pub use signature::{Export, Signature, UnknownFunction, find_export};
pub use ty::Ty;
pub use value::Value;
pub use wave::{WaveCall, check_arity, describe_arity, describe_params, from_wave, to_wave};

/// Why a value does not fit a type, or text is not a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

impl ValueError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ValueError(message.into())
    }

    /// Prefixes the message with where in the value the problem is.
    pub fn at(self, path: &str) -> Self {
        ValueError(format!("{path}: {}", self.0))
    }
}

/// Where in a host language's value (a Python object, a JavaScript value)
/// its conversion to a [`Value`] failed, and why: what the SDKs' converters
/// report, so that every SDK names a bad argument the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// `[2].x`: the path below the parameter.
    pub at: String,
    /// What was wrong.
    pub why: String,
}

impl Mismatch {
    /// A mismatch at the value itself.
    pub fn new(why: impl Into<String>) -> Self {
        Mismatch {
            at: String::new(),
            why: why.into(),
        }
    }

    /// Puts `step` (`[2]`, `.x`) in front of a mismatch found inside.
    pub fn inside(step: impl std::fmt::Display) -> impl FnOnce(Mismatch) -> Mismatch {
        move |m| Mismatch {
            at: format!("{step}{}", m.at),
            why: m.why,
        }
    }

    /// The message for argument `param` (as the language names it) of
    /// type `ty` to `function`.
    pub fn for_parameter(&self, function: &str, param: &str, ty: &Ty) -> String {
        let at = if self.at.is_empty() {
            String::new()
        } else {
            format!(" at {}", self.at)
        };
        format!("{function}: parameter `{param}` ({ty}){at}: {}", self.why)
    }
}
