//! WAVE text: the `func(arg, ...)` call syntax of `wasmtime run --invoke`
//! and the rendering of results.

use wasmtime::component::wasm_wave::{self, untyped::UntypedFuncCall};
use wasmtime::component::{Type, Val};

use super::{ValueError, render_type};

/// Splits `name(args...)` into the function name and the unparsed call, so
/// the caller can look the function up before typing its arguments.
pub fn parse_wave_call(call: &str) -> Result<(String, UntypedFuncCall<'static>), ValueError> {
    let trimmed = call.trim();
    let Some(open) = trimmed.find('(') else {
        return Err(ValueError::new(format!(
            "`{trimmed}` is not a call: write it as `{trimmed}()` or `{trimmed}(arg, ...)`"
        )));
    };
    let name = trimmed[..open].trim();
    if name.is_empty() {
        return Err(ValueError::new(format!("`{trimmed}` names no function")));
    }
    // The name is resolved against the component's exports by us (which
    // also accepts `pkg:ns/iface#func`); WAVE only parses the arguments.
    let args = format!("f{}", &trimmed[open..]);
    let parsed = UntypedFuncCall::parse(&args)
        .map_err(|e| ValueError::new(format!("cannot parse the arguments of `{trimmed}`: {e}")))?
        .into_owned();
    Ok((name.to_string(), parsed))
}

/// Types the arguments of a parsed call by the function's parameters, one
/// at a time, so an error names the argument and the type it should have.
/// Trailing `option` parameters may be left out and become `none`.
pub fn parse_wave_args(
    call: &UntypedFuncCall<'_>,
    params: &[(String, Type)],
) -> Result<Vec<Val>, ValueError> {
    let src = call.source();
    let nodes: Vec<_> = match call.params_node() {
        Some(node) => node
            .as_tuple()
            .map_err(|e| ValueError::new(format!("cannot read the arguments: {e}")))?
            .collect(),
        None => Vec::new(),
    };
    let required = params
        .iter()
        .rposition(|(_, ty)| !matches!(ty, Type::Option(_)))
        .map_or(0, |i| i + 1);
    if nodes.len() < required || nodes.len() > params.len() {
        return Err(ValueError::new(format!(
            "expected {} argument{} ({}), got {}",
            params.len(),
            if params.len() == 1 { "" } else { "s" },
            describe_params(params),
            nodes.len()
        )));
    }
    let mut values = Vec::with_capacity(params.len());
    for (i, (name, ty)) in params.iter().enumerate() {
        let Some(node) = nodes.get(i) else {
            values.push(Val::Option(None));
            continue;
        };
        let value = node.to_wasm_value::<Val>(ty, src).map_err(|e| {
            let span = node.span();
            let text = src.get(span.start..span.end).unwrap_or("?");
            ValueError::new(format!(
                "argument {} (`{name}`) should be {}, got `{text}` ({e})",
                i + 1,
                render_type(ty),
            ))
        })?;
        values.push(value);
    }
    Ok(values)
}

/// Renders a value as WAVE text.
pub fn val_to_wave(val: &Val) -> Result<String, ValueError> {
    wasm_wave::to_string(val).map_err(|e| ValueError::new(format!("cannot render result: {e}")))
}

pub(crate) fn describe_params(params: &[(String, Type)]) -> String {
    params
        .iter()
        .map(|(name, ty)| format!("{name}: {}", render_type(ty)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether `ty` is weft's `object-ref` (a record of one `id: string`): a
/// task parameter of this type takes an object's ref, not its value.
pub fn is_object_ref(ty: &Type) -> bool {
    let Type::Record(record) = ty else {
        return false;
    };
    let mut fields = record.fields();
    matches!(
        (fields.next(), fields.next()),
        (Some(field), None) if field.name == "id" && matches!(field.ty, Type::String)
    )
}

/// `text` as a WAVE string literal.
pub fn wave_string(text: &str) -> String {
    val_to_wave(&Val::String(text.into())).unwrap_or_else(|_| format!("{text:?}"))
}

/// Bytes as a WAVE `list<u8>` literal.
pub fn wave_bytes(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 4 + 2);
    out.push('[');
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{b}");
    }
    out.push(']');
    out
}
