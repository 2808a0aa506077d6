//! `weft:runtime/log`: a guest's log lines, to the host's tracing output
//! (target `weft::guest`, tagged with the component and function) and,
//! when the call keeps a log, to that log with their level.

use wasmtime::component::{HasSelf, Linker};

use super::RuntimeCtx;
use super::generated::weft::runtime::log;

/// Adds `weft:runtime/log` to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    log::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)
}

impl log::Host for RuntimeCtx {
    fn log(&mut self, level: log::Level, message: String) {
        if let Some(log) = &self.log {
            let level = match level {
                log::Level::Trace => "TRACE",
                log::Level::Debug => "DEBUG",
                log::Level::Info => "INFO",
                log::Level::Warn => "WARN",
                log::Level::Error => "ERROR",
            };
            log.write(format!("[{level}] {message}\n").as_bytes());
        }
        let (component, function) = (&self.component, &self.function);
        match level {
            log::Level::Trace => {
                tracing::trace!(target: "weft::guest", component, function, "{message}")
            }
            log::Level::Debug => {
                tracing::debug!(target: "weft::guest", component, function, "{message}")
            }
            log::Level::Info => {
                tracing::info!(target: "weft::guest", component, function, "{message}")
            }
            log::Level::Warn => {
                tracing::warn!(target: "weft::guest", component, function, "{message}")
            }
            log::Level::Error => {
                tracing::error!(target: "weft::guest", component, function, "{message}")
            }
        }
    }
}
