//! `weft._native`: the Rust client (`weft-client`) as a Python module, so
//! Python speaks weft's protocol through the one implementation of it
//! (leader following, owner sessions, ref counting, resubmission after a
//! failover). The Python package (`python/weft`) builds the API on top.
//!
//! Every blocking call releases the GIL while it waits, so other Python
//! threads run; the client's work happens on one tokio runtime per process.

mod buffer;
mod convert;
mod serve_handle;
mod session;

use pyo3::prelude::*;

/// The extension module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<session::Session>()?;
    m.add_class::<session::Pinned>()?;
    m.add_class::<session::ItemStream>()?;
    m.add_class::<serve_handle::DeploymentHandle>()?;
    m.add_class::<serve_handle::ServeStream>()?;
    m.add_function(wrap_pyfunction!(convert::register_classes, m)?)?;
    Ok(())
}
