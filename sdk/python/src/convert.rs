//! Python values to and from weft values, by the function's WIT types.
//!
//! Arguments are converted by the parameter's type (so `3` becomes a `u8`
//! or an `f64` as the function wants, and a wrong value is named before
//! anything is sent); results carry their names (records, variants) and
//! convert without a type. The mapping is the one `sdk/python/README.md`
//! tables.

use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyMemoryView, PySet,
    PyString, PyTuple,
};
use weft_values::{Mismatch, Ty, Value};

/// The Python classes values convert to and from, registered by the
/// package's `__init__` (they are plain Python classes, so `await ref` and
/// dataclass niceties stay in Python).
pub struct Classes {
    /// `weft.ObjectRef(id)`.
    pub object_ref: Py<PyAny>,
    /// `weft.ActorHandle(id)`.
    pub actor: Py<PyAny>,
    /// `weft.Variant(case, value)`.
    pub variant: Py<PyAny>,
}

static CLASSES: PyOnceLock<Classes> = PyOnceLock::new();

/// Registers the classes; the first registration wins.
#[pyfunction]
pub fn register_classes(
    py: Python<'_>,
    object_ref: Py<PyAny>,
    actor: Py<PyAny>,
    variant: Py<PyAny>,
) {
    let _ = CLASSES.set(
        py,
        Classes {
            object_ref,
            actor,
            variant,
        },
    );
}

fn classes(py: Python<'_>) -> PyResult<&Classes> {
    CLASSES
        .get(py)
        .ok_or_else(|| PyTypeError::new_err("weft's classes are not registered: import weft"))
}

/// The id of `obj` if it is a `weft.ObjectRef`.
pub fn object_ref_id(obj: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    let class = classes(obj.py())?.object_ref.bind(obj.py());
    if obj.is_instance(class)? {
        return Ok(Some(obj.getattr("id")?.extract()?));
    }
    Ok(None)
}

type Converted = Result<Value, Mismatch>;

fn mismatch(why: impl Into<String>) -> Mismatch {
    Mismatch::new(why)
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

fn expected(what: &str, obj: &Bound<'_, PyAny>) -> Mismatch {
    mismatch(format!("expected {what}, got {}", type_name(obj)))
}

/// `obj` as a value of type `ty`.
pub fn to_value(obj: &Bound<'_, PyAny>, ty: &Ty) -> Converted {
    match ty {
        Ty::Bool => match obj.cast::<PyBool>() {
            Ok(b) => Ok(Value::Bool(b.is_true())),
            Err(_) => Err(expected("a bool", obj)),
        },
        Ty::S8 | Ty::U8 | Ty::S16 | Ty::U16 | Ty::S32 | Ty::U32 | Ty::S64 | Ty::U64 => int(obj, ty),
        Ty::F32 => float(obj).map(|f| Value::F32(f as f32)),
        Ty::F64 => float(obj).map(Value::F64),
        Ty::Char => {
            let text = string(obj, "a one-character str")?;
            let mut chars = text.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Ok(Value::Char(c)),
                _ => Err(mismatch(format!(
                    "expected a one-character str, got {} characters",
                    text.chars().count()
                ))),
            }
        }
        Ty::String => string(obj, "a str").map(Value::String),
        Ty::List(elem) if **elem == Ty::U8 => bytes(obj).map(Value::Bytes),
        Ty::List(elem) => {
            let items = sequence(obj, "a list")?;
            items
                .iter()
                .enumerate()
                .map(|(i, item)| to_value(item, elem).map_err(Mismatch::inside(format!("[{i}]"))))
                .collect::<Result<_, _>>()
                .map(Value::List)
        }
        Ty::Tuple(types) => {
            let items = sequence(obj, "a tuple")?;
            if items.len() != types.len() {
                return Err(mismatch(format!(
                    "expected a tuple of {}, got {} items",
                    types.len(),
                    items.len()
                )));
            }
            items
                .iter()
                .zip(types)
                .enumerate()
                .map(|(i, (item, ty))| {
                    to_value(item, ty).map_err(Mismatch::inside(format!("[{i}]")))
                })
                .collect::<Result<_, _>>()
                .map(Value::Tuple)
        }
        Ty::Record(fields) => record(obj, fields),
        Ty::Variant(cases) => variant(obj, cases),
        Ty::Enum(cases) => {
            let case = string(obj, "a str naming a case")?;
            let case = find_case(cases.iter().map(String::as_str), &case)?;
            Ok(Value::Enum(case))
        }
        Ty::Option(inner) => {
            if obj.is_none() {
                Ok(Value::Option(None))
            } else {
                to_value(obj, inner).map(|v| Value::Option(Some(Box::new(v))))
            }
        }
        Ty::Result { ok, err } => result(obj, ok.as_deref(), err.as_deref()),
        Ty::Flags(names) => {
            let items: Vec<Bound<'_, PyAny>> =
                if obj.cast::<PySet>().is_ok() || obj.cast::<PyFrozenSet>().is_ok() {
                    obj.try_iter()
                        .and_then(|it| it.collect())
                        .map_err(|e| mismatch(e.to_string()))?
                } else {
                    sequence(obj, "a set of str")?
                };
            let mut set = Vec::new();
            for item in items {
                let name = string(&item, "a str naming a flag")?;
                set.push(find_case(names.iter().map(String::as_str), &name)?);
            }
            Ok(Value::Flags(set))
        }
        Ty::ObjectRef => match object_ref_id(obj).map_err(|e| mismatch(e.to_string()))? {
            Some(id) => Ok(Value::ObjectRef(id)),
            None => Err(expected("a weft.ObjectRef", obj)),
        },
        Ty::Actor => {
            let class = classes(obj.py()).map_err(|e| mismatch(e.to_string()))?;
            if obj.is_instance(class.actor.bind(obj.py())).unwrap_or(false) {
                let id: String = obj
                    .getattr("id")
                    .and_then(|id| id.extract())
                    .map_err(|e| mismatch(e.to_string()))?;
                Ok(Value::Actor(id))
            } else {
                Err(expected("a weft.ActorHandle", obj))
            }
        }
        Ty::Unsupported(what) => Err(mismatch(format!(
            "{what} cannot be passed from outside the component"
        ))),
    }
}

fn int(obj: &Bound<'_, PyAny>, ty: &Ty) -> Converted {
    if obj.cast::<PyBool>().is_ok() || obj.cast::<PyInt>().is_err() {
        return Err(expected("an int", obj));
    }
    let n: i128 = obj
        .extract()
        .map_err(|_| mismatch(format!("{obj} does not fit {ty}")))?;
    Value::integer(ty, n).map_err(|e| mismatch(e.0))
}

fn float(obj: &Bound<'_, PyAny>) -> Result<f64, Mismatch> {
    let is_number = obj.cast::<PyFloat>().is_ok()
        || (obj.cast::<PyInt>().is_ok() && obj.cast::<PyBool>().is_err());
    if !is_number {
        return Err(expected("a float", obj));
    }
    obj.extract().map_err(|e: PyErr| mismatch(e.to_string()))
}

fn string(obj: &Bound<'_, PyAny>, what: &str) -> Result<String, Mismatch> {
    match obj.cast::<PyString>() {
        Ok(s) => Ok(s.to_string_lossy().into_owned()),
        Err(_) => Err(expected(what, obj)),
    }
}

/// bytes, bytearray, memoryview or anything with the buffer protocol.
fn bytes(obj: &Bound<'_, PyAny>) -> Result<bytes::Bytes, Mismatch> {
    if let Ok(b) = obj.cast::<PyBytes>() {
        return Ok(bytes::Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(b) = obj.cast::<PyByteArray>() {
        return Ok(bytes::Bytes::from(b.to_vec()));
    }
    if obj.cast::<PyString>().is_ok() {
        return Err(expected("bytes", obj));
    }
    if let Some(slice) = crate::buffer::array_bytes(obj).map_err(|e| mismatch(e.to_string()))? {
        return Ok(bytes::Bytes::copy_from_slice(slice));
    }
    // Anything else with the buffer protocol (memoryview, NumPy arrays):
    // its raw bytes, whatever its item type.
    let view = PyMemoryView::from(obj).map_err(|_| expected("bytes", obj))?;
    let raw = view
        .call_method1("cast", ("B",))
        .and_then(|v| v.call_method0("tobytes"))
        .map_err(|e| mismatch(format!("cannot read its buffer: {e}")))?;
    let raw = raw.cast::<PyBytes>().map_err(|_| expected("bytes", obj))?;
    Ok(bytes::Bytes::copy_from_slice(raw.as_bytes()))
}

fn sequence<'py>(obj: &Bound<'py, PyAny>, what: &str) -> Result<Vec<Bound<'py, PyAny>>, Mismatch> {
    if let Ok(list) = obj.cast::<PyList>() {
        return Ok(list.iter().collect());
    }
    if let Ok(tuple) = obj.cast::<PyTuple>() {
        return Ok(tuple.iter().collect());
    }
    Err(expected(what, obj))
}

/// WIT names are kebab-case; Python's are snake_case: either is accepted.
fn find_case<'a>(
    mut cases: impl Iterator<Item = &'a str>,
    given: &str,
) -> Result<String, Mismatch> {
    let wanted = given.replace('_', "-");
    let all: Vec<&str> = cases.by_ref().collect();
    all.iter()
        .find(|c| **c == wanted)
        .map(|c| c.to_string())
        .ok_or_else(|| mismatch(format!("`{given}` is not one of: {}", all.join(", "))))
}

fn record(obj: &Bound<'_, PyAny>, fields: &[(String, Ty)]) -> Converted {
    let dict = obj.cast::<PyDict>().ok();
    let mut out = Vec::with_capacity(fields.len());
    for (name, ty) in fields {
        let snake = name.replace('-', "_");
        let field = match dict {
            Some(d) => match d.get_item(name.as_str()).ok().flatten() {
                Some(v) => Some(v),
                None => d.get_item(snake.as_str()).ok().flatten(),
            },
            None => obj.getattr(snake.as_str()).ok(),
        };
        let Some(field) = field else {
            return Err(if dict.is_some() {
                mismatch(format!("the record has no field `{name}`"))
            } else {
                expected(&format!("a dict or an object with `{snake}`"), obj)
            });
        };
        let value = to_value(&field, ty).map_err(Mismatch::inside(format!(".{snake}")))?;
        out.push((name.clone(), value));
    }
    Ok(Value::Record(out))
}

fn variant(obj: &Bound<'_, PyAny>, cases: &[(String, Option<Ty>)]) -> Converted {
    let py = obj.py();
    let (case, payload): (String, Option<Bound<'_, PyAny>>) = if let Ok(s) = obj.cast::<PyString>()
    {
        (s.to_string_lossy().into_owned(), None)
    } else if let Ok(d) = obj.cast::<PyDict>() {
        if d.len() != 1 {
            return Err(mismatch(
                "a variant as a dict has exactly one key, its case",
            ));
        }
        let (k, v) = d.iter().next().expect("one item");
        (string(&k, "a str naming a case")?, Some(v))
    } else {
        let class = classes(py).map_err(|e| mismatch(e.to_string()))?;
        if !obj.is_instance(class.variant.bind(py)).unwrap_or(false) {
            return Err(expected(
                "a weft.Variant, a {case: value} dict or a str",
                obj,
            ));
        }
        let case = obj.getattr("case").map_err(|e| mismatch(e.to_string()))?;
        let value = obj.getattr("value").map_err(|e| mismatch(e.to_string()))?;
        (string(&case, "a str naming a case")?, Some(value))
    };
    let case = find_case(cases.iter().map(|(c, _)| c.as_str()), &case)?;
    let ty = cases
        .iter()
        .find(|(c, _)| *c == case)
        .and_then(|(_, t)| t.as_ref());
    let payload = match (ty, payload) {
        (Some(ty), Some(v)) => Some(Box::new(
            to_value(&v, ty).map_err(Mismatch::inside(format!("<{case}>")))?,
        )),
        (Some(_), None) => return Err(mismatch(format!("case `{case}` carries a value"))),
        (None, Some(v)) if !v.is_none() => {
            return Err(mismatch(format!("case `{case}` carries no value")));
        }
        (None, _) => None,
    };
    Ok(Value::Variant(case, payload))
}

fn result(obj: &Bound<'_, PyAny>, ok: Option<&Ty>, err: Option<&Ty>) -> Converted {
    let dict = obj
        .cast::<PyDict>()
        .map_err(|_| expected("{\"ok\": value} or {\"err\": value}", obj))?;
    let side = |key: &str, ty: Option<&Ty>| -> Result<Option<Box<Value>>, Mismatch> {
        let v = dict.get_item(key).ok().flatten().expect("checked");
        match ty {
            Some(ty) => Ok(Some(Box::new(
                to_value(&v, ty).map_err(Mismatch::inside(format!("[{key:?}]")))?,
            ))),
            None => Ok(None),
        }
    };
    if dict.len() == 1 && dict.contains("ok").unwrap_or(false) {
        Ok(Value::Result(Ok(side("ok", ok)?)))
    } else if dict.len() == 1 && dict.contains("err").unwrap_or(false) {
        Ok(Value::Result(Err(side("err", err)?)))
    } else {
        Err(expected("{\"ok\": value} or {\"err\": value}", obj))
    }
}

/// A weft value as a Python object. A `result` nested inside another value
/// becomes `{"ok": v}` or `{"err": e}`; the one a function returns is
/// unwrapped by the caller ([`top_level`]).
pub fn to_python(py: Python<'_>, value: &Value) -> PyResult<Py<PyAny>> {
    Ok(match value {
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any().unbind(),
        Value::S8(n) => n.into_pyobject(py)?.into_any().unbind(),
        Value::U8(n) => n.into_pyobject(py)?.into_any().unbind(),
        Value::S16(n) => n.into_pyobject(py)?.into_any().unbind(),
        Value::U16(n) => n.into_pyobject(py)?.into_any().unbind(),
        Value::S32(n) => n.into_pyobject(py)?.into_any().unbind(),
        Value::U32(n) => n.into_pyobject(py)?.into_any().unbind(),
        Value::S64(n) => n.into_pyobject(py)?.into_any().unbind(),
        Value::U64(n) => n.into_pyobject(py)?.into_any().unbind(),
        Value::F32(f) => f64::from(*f).into_pyobject(py)?.into_any().unbind(),
        Value::F64(f) => f.into_pyobject(py)?.into_any().unbind(),
        Value::Char(c) => c.into_pyobject(py)?.into_any().unbind(),
        Value::String(s) => s.into_pyobject(py)?.into_any().unbind(),
        Value::Bytes(b) => PyBytes::new(py, b).into_any().unbind(),
        Value::List(items) => {
            let items = items
                .iter()
                .map(|v| to_python(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any().unbind()
        }
        Value::Tuple(items) => {
            let items = items
                .iter()
                .map(|v| to_python(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyTuple::new(py, items)?.into_any().unbind()
        }
        Value::Record(fields) => {
            let dict = PyDict::new(py);
            for (name, v) in fields {
                dict.set_item(name.replace('-', "_"), to_python(py, v)?)?;
            }
            dict.into_any().unbind()
        }
        Value::Variant(case, payload) => {
            let payload = match payload {
                Some(v) => to_python(py, v)?,
                None => py.None(),
            };
            classes(py)?
                .variant
                .bind(py)
                .call1((case, payload))?
                .unbind()
        }
        Value::Enum(case) => case.into_pyobject(py)?.into_any().unbind(),
        Value::Option(None) => py.None(),
        Value::Option(Some(v)) => to_python(py, v)?,
        Value::Result(r) => {
            let dict = PyDict::new(py);
            let (key, payload) = match r {
                Ok(v) => ("ok", v),
                Err(v) => ("err", v),
            };
            let payload = match payload {
                Some(v) => to_python(py, v)?,
                None => py.None(),
            };
            dict.set_item(key, payload)?;
            dict.into_any().unbind()
        }
        Value::Flags(names) => {
            let set = PySet::empty(py)?;
            for n in names {
                set.add(n)?;
            }
            set.into_any().unbind()
        }
        Value::ObjectRef(id) => classes(py)?.object_ref.bind(py).call1((id,))?.unbind(),
        Value::Actor(id) => classes(py)?.actor.bind(py).call1((id,))?.unbind(),
    })
}

/// What a function returned, as Python sees it: a `result`'s ok value, or
/// its err value as `Err` for the caller to raise as `weft.GuestError`.
pub fn top_level(py: Python<'_>, value: &Value) -> PyResult<Result<Py<PyAny>, Py<PyAny>>> {
    match value {
        Value::Result(Ok(v)) => Ok(Ok(match v {
            Some(v) => to_python(py, v)?,
            None => py.None(),
        })),
        Value::Result(Err(v)) => Ok(Err(match v {
            Some(v) => to_python(py, v)?,
            None => py.None(),
        })),
        other => to_python(py, other).map(Ok),
    }
}
