//! Values from text without a type: what a guest SDK's text convenience
//! sends, for the host that runs the callee to conform to its parameter
//! types ([`Ty::conform`](crate::Ty::conform)).
//!
//! Numbers become `s64` (`u64` past its range, `f64` with a fraction or
//! exponent), labels enums, `name(payload)` variants; the rest is what it
//! says (`"text"`, `[..]`, `{..}`, `some(..)`, `ok(..)`, `{a, b}` flags).

use std::borrow::Cow;

use wasm_wave::ast::{Node, NodeType};
use wasm_wave::untyped::UntypedValue;

use crate::{Value, ValueError};

/// WAVE text as a value, typed only as far as the text says.
pub fn from_untyped_wave(text: &str) -> Result<Value, ValueError> {
    let parsed = UntypedValue::parse(text)
        .map_err(|e| ValueError::new(format!("`{text}` is not WAVE: {e}")))?;
    node_value(parsed.node(), parsed.source())
        .map_err(|e| ValueError::new(format!("`{text}`: {e}")))
}

fn node_value(node: &Node, src: &str) -> Result<Value, wasm_wave::parser::ParserError> {
    let all = |nodes: &mut dyn Iterator<Item = &Node>| {
        nodes
            .map(|n| node_value(n, src))
            .collect::<Result<Vec<_>, _>>()
    };
    let boxed = |n: Option<&Node>| -> Result<_, wasm_wave::parser::ParserError> {
        n.map(|n| node_value(n, src).map(Box::new)).transpose()
    };
    Ok(match node.ty() {
        NodeType::BoolTrue | NodeType::BoolFalse => Value::Bool(node.as_bool()?),
        NodeType::Number => number(node, src)?,
        NodeType::Char => Value::Char(node.as_char(src)?),
        NodeType::String | NodeType::MultilineString => {
            Value::String(Cow::into_owned(node.as_str(src)?))
        }
        NodeType::Tuple => Value::Tuple(all(&mut node.as_tuple()?)?),
        NodeType::List => Value::List(all(&mut node.as_list()?)?),
        NodeType::Record => Value::Record(
            node.as_record(src)?
                .map(|(name, n)| Ok((name.to_string(), node_value(n, src)?)))
                .collect::<Result<_, _>>()?,
        ),
        NodeType::Label => Value::Enum(node.as_enum(src)?.to_string()),
        NodeType::VariantWithPayload => {
            let (case, payload) = node.as_variant(src)?;
            Value::Variant(case.to_string(), boxed(payload)?)
        }
        NodeType::OptionSome | NodeType::OptionNone => Value::Option(boxed(node.as_option()?)?),
        NodeType::ResultOk | NodeType::ResultErr => Value::Result(match node.as_result()? {
            Ok(payload) => Ok(boxed(payload)?),
            Err(payload) => Err(boxed(payload)?),
        }),
        NodeType::Flags => Value::Flags(node.as_flags(src)?.map(str::to_string).collect()),
    })
}

fn number(node: &Node, src: &str) -> Result<Value, wasm_wave::parser::ParserError> {
    if let Ok(n) = node.as_number::<i64>(src) {
        return Ok(Value::S64(n));
    }
    if let Ok(n) = node.as_number::<u64>(src) {
        return Ok(Value::U64(n));
    }
    node.as_number::<f64>(src).map(Value::F64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Ty;

    #[test]
    fn untyped_wave_conforms_to_the_parameter_type() {
        let ty = Ty::Record(vec![
            ("n".into(), Ty::U8),
            (
                "shape".into(),
                Ty::Variant(vec![("circle".into(), Some(Ty::F32))]),
            ),
            ("tags".into(), Ty::List(Box::new(Ty::String))),
        ]);
        let value = from_untyped_wave(r#"{n: 7, shape: circle(1.5), tags: ["a"]}"#).unwrap();
        let typed = ty.conform(value).unwrap();
        assert_eq!(
            crate::to_wave(&typed),
            r#"{n: 7, shape: circle(1.5), tags: ["a"]}"#
        );
    }

    #[test]
    fn text_that_is_no_wave_is_named() {
        let err = from_untyped_wave("{n: ").unwrap_err();
        assert!(err.0.starts_with("`{n: ` is not WAVE"), "{err}");
    }
}
