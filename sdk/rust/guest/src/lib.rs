//! The Rust guest SDK for weft: bindings to the `weft:runtime` host
//! interfaces, plus small helpers that make the common calls one line.
//!
//! A component built with this crate imports only the parts of
//! `weft:runtime` it uses. Write your component's own world, include the
//! runtime by path, and map the runtime interfaces to this crate's bindings
//! so they are generated once:
//!
//! ```ignore
//! wit_bindgen::generate!({
//!     path: ["../../wit", "wit"],
//!     world: "example:hello/hello",
//!     with: { "weft:runtime/log@0.1.0": weft_guest::bindings::weft::runtime::log },
//! });
//! ```
//!
//! Then `weft_guest::log::info("hello")` writes to the host's log, tagged
//! with the component and call.

/// Raw bindings generated from `wit/` (the `weft:runtime/guest` world).
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "weft:runtime/guest",
        generate_all,
    });
}

pub use bindings::weft::runtime::types::{Error, ObjectRef};

impl Error {
    /// The host's explanation, whatever the case.
    pub fn message(&self) -> &str {
        match self {
            Error::Unsupported(m)
            | Error::NotFound(m)
            | Error::InvalidArgument(m)
            | Error::Timeout(m)
            | Error::Trapped(m)
            | Error::ResourceExhausted(m)
            | Error::Other(m) => m,
        }
    }
}

/// Logging helpers over `weft:runtime/log`.
pub mod log {
    use crate::bindings::weft::runtime::log::{Level, log};

    /// Log at `debug` level.
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }

    /// Log at `info` level.
    pub fn info(message: &str) {
        log(Level::Info, message);
    }

    /// Log at `warn` level.
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }

    /// Log at `error` level.
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Object store helpers over `weft:runtime/objects`.
pub mod objects {
    pub use crate::bindings::weft::runtime::objects::{get, get_range, put, size};
}

/// Task helpers over `weft:runtime/tasks`.
pub mod tasks {
    pub use crate::bindings::weft::runtime::tasks::{Argument, Options, cancel, get, submit, wait};

    /// Submit `component`'s `function` with WAVE-text arguments and default
    /// options, returning the ref of its result.
    pub fn submit_wave(
        component: &str,
        function: &str,
        args: &[&str],
    ) -> Result<crate::ObjectRef, crate::Error> {
        let args: Vec<Argument> = args.iter().map(|a| Argument::Wave(a.to_string())).collect();
        submit(component, function, &args, Options::default())
    }

    impl Default for Options {
        fn default() -> Self {
            Options {
                timeout_ms: None,
                memory_limit_bytes: None,
                cpus: None,
                gpus: None,
                max_retries: None,
                retry_on_trap: None,
            }
        }
    }
}
