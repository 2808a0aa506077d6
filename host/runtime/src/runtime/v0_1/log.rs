//! `weft:runtime/log@0.1.0`: the current `log`, with its own `level`.

use super::old::log;
use crate::runtime::RuntimeCtx;
use crate::runtime::generated::weft::runtime::log as current;

impl log::Host for RuntimeCtx {
    fn log(&mut self, level: log::Level, message: String) {
        let level = match level {
            log::Level::Trace => current::Level::Trace,
            log::Level::Debug => current::Level::Debug,
            log::Level::Info => current::Level::Info,
            log::Level::Warn => current::Level::Warn,
            log::Level::Error => current::Level::Error,
        };
        current::Host::log(self, level, message);
    }
}
