//! A call typed in by a person (`weft call`, the HTTP JSON endpoint):
//! WAVE text or a function name with a JSON array, turned into the
//! function it names and its arguments as values, typed by the
//! function's parameters. One parser serves the controller (which types
//! a call before scheduling it) and hosts (which serve JSON calls).

use crate::{Export, UnknownFunction, Value, ValueError, WaveCall, find_export};

/// A call as text.
#[derive(Debug, Clone)]
pub enum CallText {
    /// `func(arg, ...)` in WAVE.
    Wave(String),
    /// A function name and a JSON array of arguments.
    Json {
        /// The function's name.
        function: String,
        /// The arguments, one per parameter.
        args: serde_json::Value,
    },
}

/// Why a call's text does not make a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No export answers to the name.
    #[error("component has no exported function `{}`; it exports: {}", .0.requested, .0.available)]
    UnknownFunction(UnknownFunction),
    /// The arguments do not fit the parameters.
    #[error("bad arguments for `{function}`: {detail}")]
    BadArguments {
        /// The function's name.
        function: String,
        /// Which argument and what type was expected.
        detail: String,
    },
}

/// Finds the function `call` names among `exports` and types its
/// arguments by the function's parameters.
pub fn parse_call<T>(
    exports: &[T],
    export: impl Fn(&T) -> &Export,
    call: CallText,
) -> Result<(&T, Vec<Value>), CallError> {
    let find = |name: &str| find_export(exports, &export, name).map_err(CallError::UnknownFunction);
    let bad = |found: &T, e: ValueError| CallError::BadArguments {
        function: export(found).name(),
        detail: e.0,
    };
    match call {
        CallText::Wave(text) => {
            let call = WaveCall::parse(&text).map_err(|e| CallError::BadArguments {
                function: text.clone(),
                detail: e.0,
            })?;
            let found = find(&call.function)?;
            let args = call
                .args(&export(found).signature.params)
                .map_err(|e| bad(found, e))?;
            Ok((found, args))
        }
        CallText::Json { function, args } => {
            let found = find(&function)?;
            let params = &export(found).signature.params;
            let items = args.as_array().ok_or_else(|| {
                bad(
                    found,
                    ValueError::new("arguments must be a JSON array, one element per parameter"),
                )
            })?;
            if items.len() != params.len() {
                return Err(bad(
                    found,
                    ValueError::new(format!(
                        "expected {}",
                        crate::describe_arity(params, items.len())
                    )),
                ));
            }
            let args = items
                .iter()
                .zip(params)
                .enumerate()
                .map(|(i, (json, (name, ty)))| {
                    crate::from_json(json, ty)
                        .map_err(|e| bad(found, e.at(&format!("argument {} (`{name}`)", i + 1))))
                })
                .collect::<Result<_, _>>()?;
            Ok((found, args))
        }
    }
}
