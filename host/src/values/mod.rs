//! Component values in and out of text: WAVE (the CLI's syntax, as
//! `wasmtime run --invoke` takes it), JSON (the HTTP and SDK convenience
//! form), and WIT-like signatures for listing exports.
//!
//! Every conversion is driven by the called function's own WIT types, so a
//! component needs no weft-specific export to be callable with arguments
//! from a terminal or a JSON body.

mod json;
mod signature;
mod wave;

pub use json::{json_to_val, val_to_json};
pub use signature::{render_signature, render_type};
pub(crate) use wave::describe_params;
pub use wave::{
    is_object_ref, parse_wave_args, parse_wave_call, val_to_wave, wave_bytes, wave_string,
};

/// Why text could not be turned into component values (or back).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ValueError(pub String);

impl ValueError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        ValueError(message.into())
    }

    /// Prefixes the message with where in the value the problem is.
    pub(crate) fn at(self, path: &str) -> Self {
        ValueError(format!("{path}: {}", self.0))
    }
}
