//! [`Signature`]: a function's parameter and result types, as the cluster
//! serves them with each component so callers can type their arguments.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Ty;

/// The WIT type of one exported function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// Parameters in order, with their names.
    pub params: Vec<(String, Ty)>,
    /// The result type, if the function returns one.
    pub result: Option<Ty>,
}

/// `func(a: u32, b: string) -> bool`.
impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "func({})", crate::describe_params(&self.params))?;
        match &self.result {
            Some(ty) => write!(f, " -> {ty}"),
            None => Ok(()),
        }
    }
}

/// One exported function of a component.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Export {
    /// The exported interface's full name (`pkg:ns/iface@1.0.0`), or its
    /// plain name for an interface declared inline; `None` for a function
    /// exported at the top level.
    pub interface: Option<String>,
    /// The function's name as the component model names it
    /// (`estimate`, `[constructor]counter`, `[method]counter.incr`).
    pub function: String,
    /// Its parameter and result types.
    pub signature: Signature,
    /// An `async func` (component-model async): a concurrent actor's
    /// methods are.
    pub is_async: bool,
}

impl Export {
    /// The name to call it by: `greet` at the top level, `pkg:ns/iface.f`
    /// (without the version) inside an interface.
    pub fn name(&self) -> String {
        match &self.interface {
            Some(interface) => format!("{}.{}", strip_version(interface), self.function),
            None => self.function.clone(),
        }
    }

    /// Whether a user-typed `requested` name refers to this function.
    ///
    /// Accepted for a function `f` in interface `pkg:ns/iface@1.0.0`:
    /// `pkg:ns/iface.f`, `pkg:ns/iface@1.0.0.f`, `pkg:ns/iface#f`,
    /// `pkg:ns/iface@1.0.0#f`, `iface.f` and `iface#f`.
    pub fn answers_to(&self, requested: &str) -> bool {
        let Some(interface) = &self.interface else {
            return self.function == requested;
        };
        let (iface, func) = match requested.split_once('#') {
            Some(split) => split,
            None => match strip_trailing_version(requested).rsplit_once('.') {
                Some(split) => split,
                None => return false,
            },
        };
        if func != self.function {
            return false;
        }
        let full = strip_version(interface);
        let short = full.rsplit('/').next().unwrap_or(full);
        let iface = strip_version(iface);
        iface == full || iface == short
    }
}

/// Why a requested function name found no single export.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no function `{requested}` (exported: {available})")]
pub struct UnknownFunction {
    /// The name asked for.
    pub requested: String,
    /// What the component exports, for the message.
    pub available: String,
}

/// Finds `requested` among `exports` by [`Export::answers_to`].
pub fn find_export<'a, T>(
    exports: &'a [T],
    export: impl Fn(&T) -> &Export,
    requested: &str,
) -> Result<&'a T, UnknownFunction> {
    let mut matches = exports.iter().filter(|e| export(e).answers_to(requested));
    let names = || {
        if exports.is_empty() {
            return "nothing".to_string();
        }
        exports
            .iter()
            .map(|e| export(e).name())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (matches.next(), matches.next()) {
        (Some(found), None) => Ok(found),
        (Some(_), Some(_)) => Err(UnknownFunction {
            requested: requested.to_string(),
            available: format!("(ambiguous) {}", names()),
        }),
        (None, _) => Err(UnknownFunction {
            requested: requested.to_string(),
            available: names(),
        }),
    }
}

fn strip_version(name: &str) -> &str {
    name.split_once('@').map_or(name, |(n, _)| n)
}

/// `pkg:ns/iface.f@1.0.0` -> `pkg:ns/iface.f` (the WAVE call syntax puts
/// the version last).
fn strip_trailing_version(name: &str) -> &str {
    match name.rsplit_once('@') {
        Some((head, version)) if version.chars().all(|c| c.is_ascii_digit() || c == '.') => head,
        _ => name,
    }
}
