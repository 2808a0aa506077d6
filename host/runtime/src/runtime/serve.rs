//! `weft:runtime/serve`: a Serve replica's request records the custom
//! metrics its deployment autoscales on, through the call's task services
//! (a host's gateway knows the replica; elsewhere the call fails).

use wasmtime::component::{HasSelf, Linker};

use super::RuntimeCtx;
use super::generated::weft::runtime::serve;
use super::generated::weft::runtime::types::Error;

/// Adds `weft:runtime/serve` to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    serve::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)
}

impl serve::Host for RuntimeCtx {
    fn record_metric(&mut self, name: String, value: f64) -> Result<(), Error> {
        if name.is_empty() || !value.is_finite() {
            return Err(Error::InvalidArgument(format!(
                "a metric has a name and a finite value, not `{name}` = {value}"
            )));
        }
        self.task_context("serve.record-metric")?
            .record_metric(&name, value)
            .map_err(Error::Unsupported)
    }
}
