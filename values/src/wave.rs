//! WAVE text, the CLI's syntax for values (as `wasmtime run --invoke`
//! takes it): [`Ty`] and [`Value`] implement `wasm-wave`'s traits, so its
//! parser builds values straight from text and its writer renders them.
//! `object-ref` and `actor` read and print as `{id: "..."}`.

use std::borrow::Cow;

use wasm_wave::wasm::{WasmType, WasmTypeKind, WasmValue, WasmValueError};

use crate::{Ty, Value, ValueError};

/// Parses WAVE `text` as a value of type `ty`.
pub fn from_wave(text: &str, ty: &Ty) -> Result<Value, ValueError> {
    wasm_wave::from_str::<Value>(ty, text)
        .map_err(|e| ValueError::new(format!("`{text}` is not a {ty}: {e}")))
}

/// Renders `value` as WAVE text.
pub fn to_wave(value: &Value) -> String {
    // The writer fails only on kinds our trait impls never report.
    wasm_wave::to_string(value).unwrap_or_else(|e| format!("<unrenderable: {e}>"))
}

/// A parsed `name(arg, ...)` call whose arguments are not typed yet: the
/// caller looks the function up by name, then types them with
/// [`WaveCall::args`], or takes their text with [`WaveCall::texts`] (the
/// CLI, which reads `@ref` as an object's value before typing).
///
/// This is weft's one reader of call syntax: the CLI, the controller and
/// hosts all split calls here, so a call means the same everywhere.
#[derive(Debug, Clone)]
pub struct WaveCall {
    /// The function's name as written.
    pub function: String,
    args: Vec<String>,
}

impl WaveCall {
    /// Splits `name(args...)` into the name and each argument's text,
    /// respecting strings, chars and nesting. The name may hold characters
    /// WAVE does not allow in a function name (`pkg:ns/iface#func`): the
    /// caller resolves it.
    pub fn parse(text: &str) -> Result<Self, ValueError> {
        let trimmed = text.trim();
        let Some(open) = trimmed.find('(') else {
            return Err(ValueError::new(format!(
                "`{trimmed}` is not a call: write it as `{trimmed}()` or `{trimmed}(arg, ...)`"
            )));
        };
        let name = trimmed[..open].trim();
        if name.is_empty() {
            return Err(ValueError::new(format!("`{trimmed}` names no function")));
        }
        let args = split_args(&trimmed[open..]).map_err(|e| {
            ValueError::new(format!("cannot parse the arguments of `{trimmed}`: {e}"))
        })?;
        Ok(WaveCall {
            function: name.to_string(),
            args,
        })
    }

    /// Each argument's text, trimmed, in order.
    pub fn texts(&self) -> &[String] {
        &self.args
    }

    /// Each argument's text, trimmed, in order, taken out of the call.
    pub fn into_texts(self) -> Vec<String> {
        self.args
    }

    /// Types the arguments by the function's parameters, one at a time, so
    /// an error names the argument and the type it should have. Trailing
    /// `option` parameters may be left out and become `none`.
    pub fn args(&self, params: &[(String, Ty)]) -> Result<Vec<Value>, ValueError> {
        check_arity(params, self.args.len())?;
        params
            .iter()
            .enumerate()
            .map(|(i, (name, ty))| match self.args.get(i) {
                None => Ok(Value::Option(None)),
                Some(text) => wasm_wave::from_str::<Value>(ty, text).map_err(|e| {
                    ValueError::new(format!(
                        "argument {} (`{name}`) should be {ty}, got `{text}` ({e})",
                        i + 1
                    ))
                }),
            })
            .collect()
    }
}

/// Splits `(a, b, ...)` at its top-level commas. Quotes (with `\`
/// escapes) and `()`, `[]`, `{}` nest; WAVE itself reads each piece.
fn split_args(text: &str) -> Result<Vec<String>, String> {
    let Some(inner) = text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) else {
        return Err("the call does not end with `)`".into());
    };
    let mut args = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in inner.char_indices() {
        if let Some(q) = quote {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                c if c == q => quote = None,
                _ => {}
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => {
                depth -= 1;
                if depth < 0 {
                    return Err(format!("`{c}` closes nothing"));
                }
            }
            ',' if depth == 0 => {
                args.push(inner[start..i].trim().to_string());
                start = i + 1;
            }
            _ => {}
        }
    }
    if let Some(q) = quote {
        return Err(format!("a `{q}` is never closed"));
    }
    if depth != 0 {
        return Err("brackets are unbalanced".into());
    }
    // A trailing comma, as WAVE allows in tuples, ends the list.
    let last = inner[start..].trim();
    if !last.is_empty() {
        args.push(last.to_string());
    }
    if let Some(i) = args.iter().position(String::is_empty) {
        return Err(format!("argument {} is empty", i + 1));
    }
    Ok(args)
}

/// Checks a count of arguments against `params`, where trailing `option`
/// parameters may be left out.
pub fn check_arity(params: &[(String, Ty)], given: usize) -> Result<(), ValueError> {
    let required = params
        .iter()
        .rposition(|(_, ty)| !matches!(ty, Ty::Option(_)))
        .map_or(0, |i| i + 1);
    if given < required || given > params.len() {
        return Err(ValueError::new(format!(
            "expected {}",
            describe_arity(params, given)
        )));
    }
    Ok(())
}

/// `2 arguments (a: u32, b: string), got 1`: what a wrong count of
/// arguments is told.
pub fn describe_arity(params: &[(String, Ty)], given: usize) -> String {
    format!(
        "{} argument{} ({}), got {given}",
        params.len(),
        if params.len() == 1 { "" } else { "s" },
        describe_params(params),
    )
}

/// `a: u32, b: string`.
pub fn describe_params(params: &[(String, Ty)]) -> String {
    params
        .iter()
        .map(|(name, ty)| format!("{name}: {ty}"))
        .collect::<Vec<_>>()
        .join(", ")
}

const ID_FIELD: &[(&str, Ty)] = &[("id", Ty::String)];

impl WasmType for Ty {
    fn kind(&self) -> WasmTypeKind {
        match self {
            Ty::Bool => WasmTypeKind::Bool,
            Ty::S8 => WasmTypeKind::S8,
            Ty::U8 => WasmTypeKind::U8,
            Ty::S16 => WasmTypeKind::S16,
            Ty::U16 => WasmTypeKind::U16,
            Ty::S32 => WasmTypeKind::S32,
            Ty::U32 => WasmTypeKind::U32,
            Ty::S64 => WasmTypeKind::S64,
            Ty::U64 => WasmTypeKind::U64,
            Ty::F32 => WasmTypeKind::F32,
            Ty::F64 => WasmTypeKind::F64,
            Ty::Char => WasmTypeKind::Char,
            Ty::String => WasmTypeKind::String,
            Ty::List(_) => WasmTypeKind::List,
            Ty::Record(_) | Ty::ObjectRef | Ty::Actor => WasmTypeKind::Record,
            Ty::Tuple(_) => WasmTypeKind::Tuple,
            Ty::Variant(_) => WasmTypeKind::Variant,
            Ty::Enum(_) => WasmTypeKind::Enum,
            Ty::Option(_) => WasmTypeKind::Option,
            Ty::Result { .. } => WasmTypeKind::Result,
            Ty::Flags(_) => WasmTypeKind::Flags,
            Ty::Unsupported(_) => WasmTypeKind::Unsupported,
        }
    }

    fn list_element_type(&self) -> Option<Self> {
        match self {
            Ty::List(elem) => Some((**elem).clone()),
            _ => None,
        }
    }

    fn record_fields(&self) -> Box<dyn Iterator<Item = (Cow<'_, str>, Self)> + '_> {
        match self {
            Ty::Record(fields) => Box::new(
                fields
                    .iter()
                    .map(|(name, ty)| (Cow::Borrowed(name.as_str()), ty.clone())),
            ),
            Ty::ObjectRef | Ty::Actor => Box::new(
                ID_FIELD
                    .iter()
                    .map(|(name, ty)| (Cow::Borrowed(*name), ty.clone())),
            ),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn tuple_element_types(&self) -> Box<dyn Iterator<Item = Self> + '_> {
        match self {
            Ty::Tuple(types) => Box::new(types.iter().cloned()),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn variant_cases(&self) -> Box<dyn Iterator<Item = (Cow<'_, str>, Option<Self>)> + '_> {
        match self {
            Ty::Variant(cases) => Box::new(
                cases
                    .iter()
                    .map(|(name, ty)| (Cow::Borrowed(name.as_str()), ty.clone())),
            ),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn enum_cases(&self) -> Box<dyn Iterator<Item = Cow<'_, str>> + '_> {
        match self {
            Ty::Enum(cases) => Box::new(cases.iter().map(|c| Cow::Borrowed(c.as_str()))),
            _ => Box::new(std::iter::empty()),
        }
    }

    fn option_some_type(&self) -> Option<Self> {
        match self {
            Ty::Option(ty) => Some((**ty).clone()),
            _ => None,
        }
    }

    fn result_types(&self) -> Option<(Option<Self>, Option<Self>)> {
        match self {
            Ty::Result { ok, err } => Some((ok.as_deref().cloned(), err.as_deref().cloned())),
            _ => None,
        }
    }

    fn flags_names(&self) -> Box<dyn Iterator<Item = Cow<'_, str>> + '_> {
        match self {
            Ty::Flags(names) => Box::new(names.iter().map(|c| Cow::Borrowed(c.as_str()))),
            _ => Box::new(std::iter::empty()),
        }
    }
}

fn wrong(expected: &Ty, got: &str) -> WasmValueError {
    WasmValueError::Other(format!("expected {expected}, got {got}"))
}

impl WasmValue for Value {
    type Type = Ty;

    fn kind(&self) -> WasmTypeKind {
        match self {
            Value::Bool(_) => WasmTypeKind::Bool,
            Value::S8(_) => WasmTypeKind::S8,
            Value::U8(_) => WasmTypeKind::U8,
            Value::S16(_) => WasmTypeKind::S16,
            Value::U16(_) => WasmTypeKind::U16,
            Value::S32(_) => WasmTypeKind::S32,
            Value::U32(_) => WasmTypeKind::U32,
            Value::S64(_) => WasmTypeKind::S64,
            Value::U64(_) => WasmTypeKind::U64,
            Value::F32(_) => WasmTypeKind::F32,
            Value::F64(_) => WasmTypeKind::F64,
            Value::Char(_) => WasmTypeKind::Char,
            Value::String(_) => WasmTypeKind::String,
            Value::Bytes(_) | Value::List(_) => WasmTypeKind::List,
            Value::Record(_) | Value::ObjectRef(_) | Value::Actor(_) => WasmTypeKind::Record,
            Value::Tuple(_) => WasmTypeKind::Tuple,
            Value::Variant(..) => WasmTypeKind::Variant,
            Value::Enum(_) => WasmTypeKind::Enum,
            Value::Option(_) => WasmTypeKind::Option,
            Value::Result(_) => WasmTypeKind::Result,
            Value::Flags(_) => WasmTypeKind::Flags,
        }
    }

    fn make_bool(val: bool) -> Self {
        Value::Bool(val)
    }
    fn make_s8(val: i8) -> Self {
        Value::S8(val)
    }
    fn make_s16(val: i16) -> Self {
        Value::S16(val)
    }
    fn make_s32(val: i32) -> Self {
        Value::S32(val)
    }
    fn make_s64(val: i64) -> Self {
        Value::S64(val)
    }
    fn make_u8(val: u8) -> Self {
        Value::U8(val)
    }
    fn make_u16(val: u16) -> Self {
        Value::U16(val)
    }
    fn make_u32(val: u32) -> Self {
        Value::U32(val)
    }
    fn make_u64(val: u64) -> Self {
        Value::U64(val)
    }
    fn make_f32(val: f32) -> Self {
        Value::F32(val)
    }
    fn make_f64(val: f64) -> Self {
        Value::F64(val)
    }
    fn make_char(val: char) -> Self {
        Value::Char(val)
    }
    fn make_string(val: Cow<str>) -> Self {
        Value::String(val.into_owned())
    }

    fn make_list(ty: &Ty, vals: impl IntoIterator<Item = Self>) -> Result<Self, WasmValueError> {
        let items: Vec<Value> = vals.into_iter().collect();
        if ty.is_bytes() {
            let bytes = items
                .iter()
                .map(|v| match v {
                    Value::U8(b) => Ok(*b),
                    other => Err(wrong(&Ty::U8, other.kind())),
                })
                .collect::<Result<Vec<u8>, _>>()?;
            return Ok(Value::from(bytes));
        }
        Ok(Value::List(items))
    }

    fn make_record<'a>(
        ty: &Ty,
        fields: impl IntoIterator<Item = (&'a str, Self)>,
    ) -> Result<Self, WasmValueError> {
        let mut given: Vec<(&str, Value)> = fields.into_iter().collect();
        let mut take = |name: &str| {
            given
                .iter()
                .position(|(n, _)| *n == name)
                .map(|i| given.swap_remove(i).1)
        };
        match ty {
            Ty::ObjectRef | Ty::Actor => match take("id") {
                Some(Value::String(id)) if *ty == Ty::ObjectRef => Ok(Value::ObjectRef(id)),
                Some(Value::String(id)) => Ok(Value::Actor(id)),
                _ => Err(WasmValueError::MissingField("id".into())),
            },
            Ty::Record(declared) => {
                let mut out = Vec::with_capacity(declared.len());
                for (name, field_ty) in declared {
                    let value = match take(name) {
                        Some(v) => v,
                        // WAVE lets `none` option fields be left out.
                        None if matches!(field_ty, Ty::Option(_)) => Value::Option(None),
                        None => return Err(WasmValueError::MissingField(name.clone())),
                    };
                    out.push((name.clone(), value));
                }
                match given.first() {
                    Some((extra, _)) => Err(WasmValueError::UnknownField(extra.to_string())),
                    None => Ok(Value::Record(out)),
                }
            }
            other => Err(wrong(other, "a record")),
        }
    }

    fn make_tuple(_ty: &Ty, vals: impl IntoIterator<Item = Self>) -> Result<Self, WasmValueError> {
        Ok(Value::Tuple(vals.into_iter().collect()))
    }

    fn make_variant(ty: &Ty, case: &str, val: Option<Self>) -> Result<Self, WasmValueError> {
        let Ty::Variant(cases) = ty else {
            return Err(wrong(ty, "a variant"));
        };
        match (cases.iter().find(|(n, _)| n == case), &val) {
            (None, _) => return Err(WasmValueError::UnknownCase(case.to_string())),
            (Some((_, Some(_))), None) => {
                return Err(WasmValueError::MissingPayload(case.to_string()));
            }
            (Some((_, None)), Some(_)) => {
                return Err(WasmValueError::UnexpectedPayload(case.to_string()));
            }
            _ => {}
        }
        Ok(Value::Variant(case.to_string(), val.map(Box::new)))
    }

    fn make_enum(ty: &Ty, case: &str) -> Result<Self, WasmValueError> {
        match ty {
            Ty::Enum(cases) if cases.iter().any(|c| c == case) => Ok(Value::Enum(case.to_string())),
            Ty::Enum(_) => Err(WasmValueError::UnknownCase(case.to_string())),
            other => Err(wrong(other, "an enum")),
        }
    }

    fn make_option(_ty: &Ty, val: Option<Self>) -> Result<Self, WasmValueError> {
        Ok(Value::Option(val.map(Box::new)))
    }

    fn make_result(
        _ty: &Ty,
        val: Result<Option<Self>, Option<Self>>,
    ) -> Result<Self, WasmValueError> {
        Ok(Value::Result(match val {
            Ok(v) => Ok(v.map(Box::new)),
            Err(v) => Err(v.map(Box::new)),
        }))
    }

    fn make_flags<'a>(
        ty: &Ty,
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, WasmValueError> {
        let set: Vec<&str> = names.into_iter().collect();
        // Flags are kept in declaration order, whatever order was written.
        let Ty::Flags(declared) = ty else {
            return Err(wrong(ty, "flags"));
        };
        if let Some(unknown) = set.iter().find(|n| !declared.iter().any(|d| d == *n)) {
            return Err(WasmValueError::UnknownCase(unknown.to_string()));
        }
        Ok(Value::Flags(
            declared
                .iter()
                .filter(|d| set.contains(&d.as_str()))
                .cloned()
                .collect(),
        ))
    }

    fn unwrap_bool(&self) -> bool {
        matches!(self, Value::Bool(true))
    }
    fn unwrap_s8(&self) -> i8 {
        if let Value::S8(v) = self { *v } else { 0 }
    }
    fn unwrap_s16(&self) -> i16 {
        if let Value::S16(v) = self { *v } else { 0 }
    }
    fn unwrap_s32(&self) -> i32 {
        if let Value::S32(v) = self { *v } else { 0 }
    }
    fn unwrap_s64(&self) -> i64 {
        if let Value::S64(v) = self { *v } else { 0 }
    }
    fn unwrap_u8(&self) -> u8 {
        if let Value::U8(v) = self { *v } else { 0 }
    }
    fn unwrap_u16(&self) -> u16 {
        if let Value::U16(v) = self { *v } else { 0 }
    }
    fn unwrap_u32(&self) -> u32 {
        if let Value::U32(v) = self { *v } else { 0 }
    }
    fn unwrap_u64(&self) -> u64 {
        if let Value::U64(v) = self { *v } else { 0 }
    }
    fn unwrap_f32(&self) -> f32 {
        if let Value::F32(v) = self { *v } else { 0.0 }
    }
    fn unwrap_f64(&self) -> f64 {
        if let Value::F64(v) = self { *v } else { 0.0 }
    }
    fn unwrap_char(&self) -> char {
        if let Value::Char(v) = self { *v } else { '\0' }
    }
    fn unwrap_string(&self) -> Cow<'_, str> {
        match self {
            Value::String(s) => Cow::Borrowed(s),
            _ => Cow::Borrowed(""),
        }
    }
    fn unwrap_list(&self) -> Box<dyn Iterator<Item = Cow<'_, Self>> + '_> {
        match self {
            Value::Bytes(bytes) => Box::new(bytes.iter().map(|b| Cow::Owned(Value::U8(*b)))),
            Value::List(items) => Box::new(items.iter().map(Cow::Borrowed)),
            _ => Box::new(std::iter::empty()),
        }
    }
    fn unwrap_record(&self) -> Box<dyn Iterator<Item = (Cow<'_, str>, Cow<'_, Self>)> + '_> {
        match self {
            Value::Record(fields) => Box::new(
                fields
                    .iter()
                    .map(|(name, v)| (Cow::Borrowed(name.as_str()), Cow::Borrowed(v))),
            ),
            Value::ObjectRef(id) | Value::Actor(id) => Box::new(std::iter::once((
                Cow::Borrowed("id"),
                Cow::Owned(Value::String(id.clone())),
            ))),
            _ => Box::new(std::iter::empty()),
        }
    }
    fn unwrap_tuple(&self) -> Box<dyn Iterator<Item = Cow<'_, Self>> + '_> {
        match self {
            Value::Tuple(items) => Box::new(items.iter().map(Cow::Borrowed)),
            _ => Box::new(std::iter::empty()),
        }
    }
    fn unwrap_variant(&self) -> (Cow<'_, str>, Option<Cow<'_, Self>>) {
        match self {
            Value::Variant(case, payload) => (
                Cow::Borrowed(case.as_str()),
                payload.as_deref().map(Cow::Borrowed),
            ),
            _ => (Cow::Borrowed(""), None),
        }
    }
    fn unwrap_enum(&self) -> Cow<'_, str> {
        match self {
            Value::Enum(case) => Cow::Borrowed(case.as_str()),
            _ => Cow::Borrowed(""),
        }
    }
    fn unwrap_option(&self) -> Option<Cow<'_, Self>> {
        match self {
            Value::Option(v) => v.as_deref().map(Cow::Borrowed),
            _ => None,
        }
    }
    fn unwrap_result(&self) -> Result<Option<Cow<'_, Self>>, Option<Cow<'_, Self>>> {
        match self {
            Value::Result(Ok(v)) => Ok(v.as_deref().map(Cow::Borrowed)),
            Value::Result(Err(v)) => Err(v.as_deref().map(Cow::Borrowed)),
            _ => Ok(None),
        }
    }
    fn unwrap_flags(&self) -> Box<dyn Iterator<Item = Cow<'_, str>> + '_> {
        match self {
            Value::Flags(names) => Box::new(names.iter().map(|n| Cow::Borrowed(n.as_str()))),
            _ => Box::new(std::iter::empty()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WaveCall;
    use crate::{Ty, Value};

    fn texts(call: &str) -> Vec<String> {
        WaveCall::parse(call).unwrap().into_texts()
    }

    #[test]
    fn splits_at_top_level_commas_only() {
        let call = WaveCall::parse(r#"f("a, b", [1, 2], {x: 3}, ',', @t1-2)"#).unwrap();
        assert_eq!(call.function, "f");
        assert_eq!(
            call.texts(),
            [r#""a, b""#, "[1, 2]", "{x: 3}", "','", "@t1-2"]
        );
        assert!(texts("g()").is_empty());
        assert_eq!(
            texts(r#"g("say \"hi\", ok", 1,)"#),
            [r#""say \"hi\", ok""#, "1"]
        );
        assert_eq!(
            WaveCall::parse("pkg:ns/iface#run(1)").unwrap().function,
            "pkg:ns/iface#run"
        );
    }

    #[test]
    fn malformed_calls_say_what_is_wrong() {
        for (call, says) in [
            ("g", "is not a call"),
            ("(1)", "names no function"),
            ("g(\"x)", "never closed"),
            ("add(1, 2", "cannot parse the arguments of `add(1, 2`"),
            ("g(1))", "closes nothing"),
            ("g([1)", "unbalanced"),
            ("g(1, , 2)", "argument 2 is empty"),
        ] {
            let e = WaveCall::parse(call).unwrap_err().0;
            assert!(e.contains(says), "{call}: {e}");
        }
    }

    #[test]
    fn types_each_argument_and_names_the_one_that_does_not_fit() {
        let params = [
            ("a".to_string(), Ty::U32),
            ("b".to_string(), Ty::String),
            ("c".to_string(), Ty::Option(Box::new(Ty::U8))),
        ];
        let call = WaveCall::parse(r#"f(7, "x")"#).unwrap();
        assert_eq!(
            call.args(&params).unwrap(),
            [
                Value::U32(7),
                Value::String("x".into()),
                Value::Option(None)
            ]
        );
        let e = WaveCall::parse("f(7, 8)")
            .unwrap()
            .args(&params)
            .unwrap_err()
            .0;
        assert!(
            e.contains("argument 2 (`b`) should be string, got `8`"),
            "{e}"
        );
        let e = WaveCall::parse("f()").unwrap().args(&params).unwrap_err().0;
        assert!(
            e.contains("3 arguments (a: u32, b: string, c: option<u8>), got 0"),
            "{e}"
        );
    }
}
