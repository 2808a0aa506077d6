//! JavaScript values to and from weft values, by the function's WIT types.
//!
//! Arguments are converted by the parameter's type (so `3` becomes a `u8`
//! or an `f64` as the function wants, and a wrong value is named before
//! anything is sent); results carry their names and convert without a
//! type. The mapping is the one `sdk/typescript/README.md` tables, close
//! to what jco generates: `bigint` for 64-bit integers, `{ tag, val }` for
//! variants and nested results, camelCase record fields.

use std::cell::OnceCell;
use std::mem::ManuallyDrop;

use napi::bindgen_prelude::{Array, BigInt, FnArgs, Function, Null, Object, Unknown};
use napi::{Env, JsValue, UnknownRef, ValueType};
use weft_values::{Mismatch, Ty, Value};

use crate::js;

/// The wrapper's factories for the handles a value can hold: `(id) =>
/// ObjectRef`, `(id) => ActorHandle`. Registered once per JavaScript
/// thread by `ts/index.ts` (references belong to one thread's env).
///
/// They live as long as the thread (never dropped: a dropped reference
/// that was not let go through its env complains).
struct Factories {
    object_ref: ManuallyDrop<UnknownRef>,
    actor: ManuallyDrop<UnknownRef>,
    /// The classes themselves, to recognise an argument as a handle.
    ref_class: ManuallyDrop<UnknownRef>,
    actor_class: ManuallyDrop<UnknownRef>,
}

thread_local! {
    static FACTORIES: OnceCell<Factories> = const { OnceCell::new() };
}

/// Registers the handle classes and their factories; the first
/// registration on a thread wins.
#[napi_derive::napi(js_name = "registerClasses")]
pub fn register_classes(
    ref_class: Unknown,
    make_ref: Unknown,
    actor_class: Unknown,
    make_actor: Unknown,
) -> napi::Result<()> {
    FACTORIES.with(|f| {
        if f.get().is_some() {
            return Ok(());
        }
        let made = Factories {
            object_ref: make_ref.create_ref().map(ManuallyDrop::new)?,
            actor: make_actor.create_ref().map(ManuallyDrop::new)?,
            ref_class: ref_class.create_ref().map(ManuallyDrop::new)?,
            actor_class: actor_class.create_ref().map(ManuallyDrop::new)?,
        };
        let _ = f.set(made);
        Ok(())
    })
}

/// Which of the registered classes `value` is an instance of, with its id.
enum Handle {
    Ref(String),
    Actor(String),
}

fn handle(env: &Env, value: &Unknown<'_>) -> napi::Result<Option<Handle>> {
    if value.get_type()? != ValueType::Object {
        return Ok(None);
    }
    FACTORIES.with(|f| {
        let f = f
            .get()
            .ok_or_else(|| napi::Error::from_reason("weft's classes are not registered"))?;
        let id = || -> napi::Result<String> {
            js::read::<Object>(value)?
                .get::<String>("id")?
                .ok_or_else(|| napi::Error::from_reason("a handle without an id"))
        };
        if value.instanceof(f.ref_class.get_value(env)?)? {
            return Ok(Some(Handle::Ref(id()?)));
        }
        if value.instanceof(f.actor_class.get_value(env)?)? {
            return Ok(Some(Handle::Actor(id()?)));
        }
        Ok(None)
    })
}

/// The id of `value` if it is a weft `ObjectRef`.
pub fn object_ref_id(env: &Env, value: &Unknown<'_>) -> napi::Result<Option<String>> {
    Ok(match handle(env, value)? {
        Some(Handle::Ref(id)) => Some(id),
        _ => None,
    })
}

type Converted = Result<Value, Mismatch>;

/// A napi failure while reading a value, as a mismatch at that value.
trait OrMismatch<T> {
    fn m(self) -> Result<T, Mismatch>;
}

impl<T> OrMismatch<T> for napi::Result<T> {
    fn m(self) -> Result<T, Mismatch> {
        self.map_err(|e| Mismatch::new(e.reason))
    }
}

fn mismatch(why: impl Into<String>) -> Mismatch {
    Mismatch::new(why)
}

/// What a JavaScript value is, in the words a TypeScript user reads.
fn type_name(value: &Unknown<'_>) -> String {
    let Ok(kind) = value.get_type() else {
        return "?".into();
    };
    match kind {
        ValueType::Object if value.is_array().unwrap_or(false) => "an array".into(),
        ValueType::Object if value.is_buffer().unwrap_or(false) => "a Buffer".into(),
        ValueType::Object if value.is_typedarray().unwrap_or(false) => "a typed array".into(),
        ValueType::Object => "an object".into(),
        ValueType::Null => "null".into(),
        ValueType::Undefined => "undefined".into(),
        ValueType::Boolean => "a boolean".into(),
        ValueType::Number => "a number".into(),
        ValueType::String => "a string".into(),
        ValueType::BigInt => "a bigint".into(),
        ValueType::Function => "a function".into(),
        ValueType::Symbol => "a symbol".into(),
        other => format!("{other:?}"),
    }
}

fn expected(what: &str, value: &Unknown<'_>) -> Mismatch {
    mismatch(format!("expected {what}, got {}", type_name(value)))
}

/// `value` as a weft value of type `ty`.
pub fn to_value(env: &Env, value: &Unknown<'_>, ty: &Ty) -> Converted {
    let kind = value.get_type().m()?;
    match ty {
        Ty::Bool => match kind {
            ValueType::Boolean => Ok(Value::Bool(js::read::<bool>(value).m()?)),
            _ => Err(expected("a boolean", value)),
        },
        Ty::S8 | Ty::U8 | Ty::S16 | Ty::U16 | Ty::S32 | Ty::U32 | Ty::S64 | Ty::U64 => {
            let n: i128 = match kind {
                ValueType::Number => {
                    let f = js::read::<f64>(value).m()?;
                    if f.fract() != 0.0 || !f.is_finite() {
                        return Err(mismatch(format!("{f} is not an integer ({ty})")));
                    }
                    if f.abs() > 9_007_199_254_740_991.0 {
                        return Err(mismatch(format!(
                            "{f} is past Number.MAX_SAFE_INTEGER: pass a bigint for {ty}"
                        )));
                    }
                    f as i128
                }
                ValueType::BigInt => {
                    let (n, lossless) = js::read::<BigInt>(value).m()?.get_i128();
                    if !lossless {
                        return Err(mismatch(format!("the bigint is out of range for {ty}")));
                    }
                    n
                }
                _ => return Err(expected("a number or a bigint", value)),
            };
            Value::integer(ty, n).map_err(|e| mismatch(e.0))
        }
        Ty::F32 | Ty::F64 => {
            if kind != ValueType::Number {
                return Err(expected("a number", value));
            }
            let f = js::read::<f64>(value).m()?;
            Ok(if *ty == Ty::F32 {
                Value::F32(f as f32)
            } else {
                Value::F64(f)
            })
        }
        Ty::Char => {
            let text = string(value, "a one-character string")?;
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Value::Char(c)),
                _ => Err(mismatch(format!(
                    "expected a one-character string, got {} characters",
                    text.chars().count()
                ))),
            }
        }
        Ty::String => string(value, "a string").map(Value::String),
        Ty::List(elem) if **elem == Ty::U8 => {
            if kind == ValueType::Object
                && value.is_typedarray().m()?
                && let Ok(bytes) = js::read::<&[u8]>(value)
            {
                return Ok(Value::Bytes(bytes::Bytes::copy_from_slice(bytes)));
            }
            Err(expected("a Uint8Array or Buffer", value))
        }
        Ty::List(elem) => {
            let items = array(value, "an array")?;
            (0..items.len())
                .map(|i| {
                    let item = items
                        .get::<Unknown>(i)
                        .m()?
                        .unwrap_or(js::undefined(env).m()?);
                    to_value(env, &item, elem).map_err(Mismatch::inside(format!("[{i}]")))
                })
                .collect::<Result<_, _>>()
                .map(Value::List)
        }
        Ty::Tuple(types) => {
            let items = array(value, "an array (a tuple)")?;
            if items.len() as usize != types.len() {
                return Err(mismatch(format!(
                    "expected a tuple of {}, got {} items",
                    types.len(),
                    items.len()
                )));
            }
            types
                .iter()
                .enumerate()
                .map(|(i, ty)| {
                    let item = items
                        .get::<Unknown>(i as u32)
                        .m()?
                        .unwrap_or(js::undefined(env).m()?);
                    to_value(env, &item, ty).map_err(Mismatch::inside(format!("[{i}]")))
                })
                .collect::<Result<_, _>>()
                .map(Value::Tuple)
        }
        Ty::Record(fields) => record(env, value, fields),
        Ty::Variant(cases) => {
            let (case, payload) = tagged(value, "a { tag, val } object or a string")?;
            let case = find_case(cases.iter().map(|(c, _)| c.as_str()), &case)?;
            let ty = cases
                .iter()
                .find(|(c, _)| *c == case)
                .and_then(|(_, t)| t.as_ref());
            let payload = payload_value(env, payload, ty, &case)?;
            Ok(Value::Variant(case, payload))
        }
        Ty::Enum(cases) => {
            let case = string(value, "a string naming a case")?;
            Ok(Value::Enum(find_case(
                cases.iter().map(String::as_str),
                &case,
            )?))
        }
        Ty::Option(inner) => match kind {
            ValueType::Null | ValueType::Undefined => Ok(Value::Option(None)),
            _ => to_value(env, value, inner).map(|v| Value::Option(Some(Box::new(v)))),
        },
        Ty::Result { ok, err } => {
            let (tag, payload) = tagged(value, "{ tag: \"ok\" | \"err\", val }")?;
            match tag.as_str() {
                "ok" => Ok(Value::Result(Ok(payload_value(
                    env,
                    payload,
                    ok.as_deref(),
                    "ok",
                )?))),
                "err" => Ok(Value::Result(Err(payload_value(
                    env,
                    payload,
                    err.as_deref(),
                    "err",
                )?))),
                other => Err(mismatch(format!("`{other}` is not one of: ok, err"))),
            }
        }
        Ty::Flags(names) => {
            let items = array(value, "an array of flag names")?;
            let mut set = Vec::with_capacity(items.len() as usize);
            for i in 0..items.len() {
                let item = items
                    .get::<Unknown>(i)
                    .m()?
                    .unwrap_or(js::undefined(env).m()?);
                let name = string(&item, "a string naming a flag")
                    .map_err(Mismatch::inside(format!("[{i}]")))?;
                set.push(find_case(names.iter().map(String::as_str), &name)?);
            }
            Ok(Value::Flags(set))
        }
        Ty::ObjectRef => match handle(env, value).m()? {
            Some(Handle::Ref(id)) => Ok(Value::ObjectRef(id)),
            _ => Err(expected("an ObjectRef", value)),
        },
        Ty::Actor => match handle(env, value).m()? {
            Some(Handle::Actor(id)) => Ok(Value::Actor(id)),
            _ => Err(expected("an ActorHandle", value)),
        },
        Ty::Unsupported(what) => Err(mismatch(format!(
            "{what} cannot be passed from outside the component"
        ))),
    }
}

fn string(value: &Unknown<'_>, what: &str) -> Result<String, Mismatch> {
    if value.get_type().m()? != ValueType::String {
        return Err(expected(what, value));
    }
    js::read::<String>(value).m()
}

fn array<'env>(value: &Unknown<'env>, what: &str) -> Result<Array<'env>, Mismatch> {
    if value.get_type().m()? != ValueType::Object || !value.is_array().m()? {
        return Err(expected(what, value));
    }
    js::read::<Array>(value).m()
}

/// A plain object (not an array, a typed array or null).
fn object<'env>(value: &Unknown<'env>, what: &str) -> Result<Object<'env>, Mismatch> {
    if value.get_type().m()? != ValueType::Object
        || value.is_array().m()?
        || value.is_typedarray().m()?
    {
        return Err(expected(what, value));
    }
    js::read::<Object>(value).m()
}

/// A variant's or result's case and payload: `{ tag, val }`, or a bare
/// string for a case without payload.
fn tagged<'env>(
    value: &Unknown<'env>,
    what: &str,
) -> Result<(String, Option<Unknown<'env>>), Mismatch> {
    if value.get_type().m()? == ValueType::String {
        return Ok((js::read::<String>(value).m()?, None));
    }
    let object = object(value, what)?;
    let tag = match object.get::<Unknown>("tag").m()? {
        Some(tag) => string(&tag, "a string `tag`")?,
        None => {
            return Err(mismatch(format!(
                "expected {what}, got an object without `tag`"
            )));
        }
    };
    Ok((tag, object.get::<Unknown>("val").m()?))
}

fn payload_value(
    env: &Env,
    payload: Option<Unknown<'_>>,
    ty: Option<&Ty>,
    case: &str,
) -> Result<Option<Box<Value>>, Mismatch> {
    match (ty, payload) {
        (Some(ty), Some(v)) => Ok(Some(Box::new(
            to_value(env, &v, ty).map_err(Mismatch::inside(format!("<{case}>")))?,
        ))),
        (Some(Ty::Option(_)), None) => Ok(Some(Box::new(Value::Option(None)))),
        (Some(_), None) => Err(mismatch(format!("case `{case}` carries a value (`val`)"))),
        (None, Some(v)) if !matches!(v.get_type().m()?, ValueType::Null | ValueType::Undefined) => {
            Err(mismatch(format!("case `{case}` carries no value")))
        }
        (None, _) => Ok(None),
    }
}

/// WIT names are kebab-case; JavaScript's are camelCase: either is
/// accepted.
fn find_case<'a>(cases: impl Iterator<Item = &'a str>, given: &str) -> Result<String, Mismatch> {
    let all: Vec<&str> = cases.collect();
    all.iter()
        .find(|c| **c == given || camel(c) == given)
        .map(|c| c.to_string())
        .ok_or_else(|| mismatch(format!("`{given}` is not one of: {}", all.join(", "))))
}

/// `max-calls` as `maxCalls`.
pub fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

fn record(env: &Env, value: &Unknown<'_>, fields: &[(String, Ty)]) -> Converted {
    let object = object(value, "an object (a record)")?;
    let mut out = Vec::with_capacity(fields.len());
    for (name, ty) in fields {
        let js_name = camel(name);
        let field = match object.get::<Unknown>(&js_name).m()? {
            Some(v) => Some(v),
            None if js_name != *name => object.get::<Unknown>(name).m()?,
            None => None,
        };
        let value = match (field, ty) {
            (Some(field), _) => {
                to_value(env, &field, ty).map_err(Mismatch::inside(format!(".{js_name}")))?
            }
            (None, Ty::Option(_)) => Value::Option(None),
            (None, _) => return Err(mismatch(format!("the record has no field `{js_name}`"))),
        };
        out.push((name.clone(), value));
    }
    Ok(Value::Record(out))
}

/// A weft value as a JavaScript value. A `result` nested inside another
/// value becomes `{ tag: "ok" | "err", val }`; the one a function returns
/// is unwrapped by the caller ([`top_level`]).
///
/// Refs inside it are made with `container`, the id of the object being
/// read: a ref inside a value lives as long as the value's object does.
pub fn to_js<'env>(env: &'env Env, value: &Value, container: &str) -> napi::Result<Unknown<'env>> {
    match value {
        Value::Bool(b) => js::of(env, *b),
        Value::S8(n) => js::of(env, i32::from(*n)),
        Value::U8(n) => js::of(env, u32::from(*n)),
        Value::S16(n) => js::of(env, i32::from(*n)),
        Value::U16(n) => js::of(env, u32::from(*n)),
        Value::S32(n) => js::of(env, *n),
        Value::U32(n) => js::of(env, *n),
        Value::S64(n) => js::of(env, i128::from(*n)),
        Value::U64(n) => js::of(env, u128::from(*n)),
        Value::F32(f) => js::of(env, f64::from(*f)),
        Value::F64(f) => js::of(env, *f),
        Value::Char(c) => js::of(env, c.to_string()),
        Value::String(s) => js::of(env, s.as_str()),
        Value::Bytes(b) => js::of(env, napi::bindgen_prelude::Buffer::from(b.to_vec())),
        Value::List(items) | Value::Tuple(items) => {
            let mut out = env.create_array(items.len() as u32)?;
            for (i, item) in items.iter().enumerate() {
                out.set(i as u32, to_js(env, item, container)?)?;
            }
            js::of(env, out)
        }
        Value::Record(fields) => {
            let mut out = Object::new(env)?;
            for (name, v) in fields {
                out.set(camel(name), to_js(env, v, container)?)?;
            }
            js::of(env, out)
        }
        Value::Variant(case, payload) => tagged_js(env, case, payload.as_deref(), container),
        Value::Enum(case) => js::of(env, case.as_str()),
        Value::Option(None) => js::of(env, Null),
        Value::Option(Some(v)) => to_js(env, v, container),
        Value::Result(Ok(v)) => tagged_js(env, "ok", v.as_deref(), container),
        Value::Result(Err(v)) => tagged_js(env, "err", v.as_deref(), container),
        Value::Flags(names) => {
            let mut out = env.create_array(names.len() as u32)?;
            for (i, n) in names.iter().enumerate() {
                out.set(i as u32, n.as_str())?;
            }
            js::of(env, out)
        }
        Value::ObjectRef(id) => make(env, id, container, |f| &f.object_ref),
        Value::Actor(id) => make(env, id, container, |f| &f.actor),
    }
}

fn tagged_js<'env>(
    env: &'env Env,
    tag: &str,
    val: Option<&Value>,
    container: &str,
) -> napi::Result<Unknown<'env>> {
    let mut out = Object::new(env)?;
    out.set("tag", tag)?;
    if let Some(v) = val {
        out.set("val", to_js(env, v, container)?)?;
    }
    js::of(env, out)
}

/// A handle made by the wrapper's factory for it: `(id, container)`.
fn make<'env>(
    env: &'env Env,
    id: &str,
    container: &str,
    which: fn(&Factories) -> &UnknownRef,
) -> napi::Result<Unknown<'env>> {
    FACTORIES.with(|f| {
        let f = f
            .get()
            .ok_or_else(|| napi::Error::from_reason("weft's classes are not registered"))?;
        let factory = which(f).get_value(env)?;
        let factory = js::read::<Function<FnArgs<(String, String)>, Unknown>>(&factory)?;
        factory.call((id.to_string(), container.to_string()).into())
    })
}

/// What a function returned, as JavaScript sees it: a `result`'s ok value,
/// or its err value as `Err` for the caller to reject with `GuestError`.
pub fn top_level<'env>(
    env: &'env Env,
    value: &Value,
    container: &str,
) -> napi::Result<Result<Unknown<'env>, Unknown<'env>>> {
    let payload = |v: &Option<Box<Value>>| match v {
        Some(v) => to_js(env, v, container),
        None => js::of(env, Null),
    };
    Ok(match value {
        Value::Result(Ok(v)) => Ok(payload(v)?),
        Value::Result(Err(v)) => Err(payload(v)?),
        other => Ok(to_js(env, other, container)?),
    })
}
