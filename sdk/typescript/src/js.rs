//! The few unchecked steps between napi's raw values and typed ones, in
//! one place: reading a value whose JavaScript type was checked, and
//! making a value of a Rust one.
#![allow(
    unsafe_code,
    reason = "napi's raw value conversions, after the JavaScript type is checked"
)]

use napi::bindgen_prelude::{FromNapiValue, ToNapiValue, Unknown, ValidateNapiValue};
use napi::{Env, JsValue};

/// `value` read as a `T`. Callers check the value's JavaScript type
/// first; napi checks it again and answers an error on a mismatch.
pub fn read<T: FromNapiValue>(value: &Unknown<'_>) -> napi::Result<T> {
    // SAFETY: `value` is a live handle of the env of the current call (an
    // `Unknown` cannot outlive its scope), and every `FromNapiValue` used
    // here asks napi for the value's type before reading it.
    unsafe { value.cast::<T>() }
}

/// `value` read as a `T`, checked to be one first (for values whose type
/// the caller has not looked at).
pub fn read_checked<T: FromNapiValue + ValidateNapiValue>(value: &Unknown<'_>) -> napi::Result<T> {
    let raw = value.value();
    // SAFETY: as in `read`; `validate` checks the value's type.
    unsafe {
        T::validate(raw.env, raw.value)?;
        T::from_napi_value(raw.env, raw.value)
    }
}

/// `value` as a JavaScript value of `env`.
pub fn of<'env, T: ToNapiValue>(env: &'env Env, value: T) -> napi::Result<Unknown<'env>> {
    // SAFETY: `env` is the live env of the current call; the raw value
    // napi makes belongs to its current handle scope, as the `Unknown`
    // does.
    unsafe {
        let raw = T::to_napi_value(env.raw(), value)?;
        Ok(Unknown::from_raw_unchecked(env.raw(), raw))
    }
}

/// `undefined`.
pub fn undefined(env: &Env) -> napi::Result<Unknown<'_>> {
    of(env, ())
}

/// A `Buffer` over `owner`'s bytes, without a copy; `owner` is dropped
/// when JavaScript collects the buffer.
pub fn external_buffer<T: AsMut<[u8]> + 'static>(
    env: &Env,
    mut owner: Box<T>,
) -> napi::Result<Unknown<'_>> {
    let bytes = (*owner).as_mut();
    let (data, len) = (bytes.as_mut_ptr(), bytes.len());
    if len == 0 {
        return of(env, napi::bindgen_prelude::Buffer::from(Vec::new()));
    }
    unsafe extern "C" fn finalize<T>(
        _env: napi::sys::napi_env,
        _data: *mut std::ffi::c_void,
        hint: *mut std::ffi::c_void,
    ) {
        // SAFETY: `hint` is the box leaked below, finalized once.
        drop(unsafe { Box::from_raw(hint.cast::<T>()) });
    }
    let hint = Box::into_raw(owner);
    let mut raw = std::ptr::null_mut();
    // SAFETY: `data..data + len` lies in `*hint`, which lives (boxed, so it
    // never moves) until napi calls `finalize` once for this buffer.
    let status = unsafe {
        napi::sys::napi_create_external_buffer(
            env.raw(),
            len,
            data.cast(),
            Some(finalize::<T>),
            hint.cast(),
            &mut raw,
        )
    };
    if status != napi::sys::Status::napi_ok {
        // SAFETY: napi did not take the box; it is ours to free again.
        let mut owner = unsafe { Box::from_raw(hint) };
        let copy = napi::bindgen_prelude::Buffer::from((*owner).as_mut().to_vec());
        return of(env, copy);
    }
    // SAFETY: napi made `raw` in the current call's scope.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), raw) })
}
