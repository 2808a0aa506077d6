//! Reading an array's memory in place, without the buffer protocol (whose C
//! API joined the stable ABI only in Python 3.11, and the wheel is abi3 for
//! 3.9): NumPy and the libraries that copy its protocol describe their
//! memory in `__array_interface__`.

#![allow(
    unsafe_code,
    reason = "reading the memory an array describes in __array_interface__"
)]

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The bytes of `obj`'s memory, if it describes a C-contiguous array with
/// `__array_interface__`; `None` for anything else.
pub fn array_bytes<'a>(obj: &'a Bound<'_, PyAny>) -> PyResult<Option<&'a [u8]>> {
    let Ok(interface) = obj.getattr("__array_interface__") else {
        return Ok(None);
    };
    let Ok(interface) = interface.cast::<PyDict>() else {
        return Ok(None);
    };
    let item = |key: &str| interface.get_item(key).ok().flatten();
    // Strides other than None mean a view that is not C-contiguous.
    if item("strides").is_some_and(|s| !s.is_none()) || item("mask").is_some_and(|m| !m.is_none()) {
        return Ok(None);
    }
    let (Some(data), Some(shape), Some(typestr)) = (item("data"), item("shape"), item("typestr"))
    else {
        return Ok(None);
    };
    let Ok(data) = data.cast::<PyTuple>() else {
        return Ok(None);
    };
    let address: usize = data.get_item(0)?.extract()?;
    let shape: Vec<usize> = shape.extract()?;
    let typestr: String = typestr.extract()?;
    let Ok(itemsize) = typestr.get(2..).unwrap_or_default().parse::<usize>() else {
        return Ok(None);
    };
    let len = shape.iter().product::<usize>() * itemsize;
    if len == 0 {
        return Ok(Some(&[]));
    }
    if address == 0 {
        return Ok(None);
    }
    // SAFETY: the interface describes `len` contiguous bytes at `address`,
    // owned by `obj`, which outlives the returned slice ('a); an array that
    // is referenced cannot be resized, and the caller holds the GIL while
    // it reads, so no Python code writes to it meanwhile.
    Ok(Some(unsafe {
        std::slice::from_raw_parts(address as *const u8, len)
    }))
}
