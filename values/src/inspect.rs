//! Checking an upload without compiling it: is it WebAssembly, a component
//! rather than a core module, valid, and does it import only what weft
//! hosts provide. The controller uses this to refuse bad deploys with the
//! same errors a host's compile would give, while linking no wasmtime.

use wit_parser::decoding::{DecodedWasm, decode};
use wit_parser::{WorldItem, WorldKey};

use crate::Export;

/// What an upload is, once it passed inspection.
#[derive(Debug, Clone)]
pub struct Inspected {
    /// Every function it exports, with its signature.
    pub exports: Vec<Export>,
    /// The interfaces it imports, as `ns:pkg/iface@version`.
    pub imports: Vec<String>,
    /// Whether it exports `wasi:http/incoming-handler`, so it can serve
    /// HTTP routes.
    pub serves_http: bool,
}

/// Why an upload cannot run on a weft host.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly file (expected the magic bytes \\0asm at the start)")]
    NotWasm,
    /// A core module where a component is required.
    #[error(
        "this is a core WebAssembly module, not a component; build for wasm32-wasip2 or wrap it with `wasm-tools component new`"
    )]
    CoreModule,
    /// Malformed or failing validation.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// It imports something hosts do not link.
    #[error(
        "component imports `{0}`, which weft hosts do not provide (they provide WASI 0.2, wasi:http/outgoing-handler, wasi:config/store, wasi:keyvalue/store, atomics and batch, and weft:runtime)"
    )]
    MissingImport(String),
}

/// What every weft host links for a guest, by package and interface:
/// WASI 0.2 (`wasmtime_wasi::p2`), outbound `wasi:http`, `wasi:config`,
/// and the runtime.
/// A host still links each component before running it, so a mismatch
/// here is caught there too, as the same error.
const PROVIDED: &[(&str, &str, &[&str])] = &[
    (
        "wasi:cli",
        "0.2",
        &[
            "environment",
            "exit",
            "stdin",
            "stdout",
            "stderr",
            "terminal-input",
            "terminal-output",
            "terminal-stdin",
            "terminal-stdout",
            "terminal-stderr",
        ],
    ),
    ("wasi:clocks", "0.2", &["monotonic-clock", "wall-clock"]),
    ("wasi:filesystem", "0.2", &["types", "preopens"]),
    ("wasi:io", "0.2", &["error", "poll", "streams"]),
    (
        "wasi:random",
        "0.2",
        &["random", "insecure", "insecure-seed"],
    ),
    (
        "wasi:sockets",
        "0.2",
        &[
            "network",
            "instance-network",
            "udp",
            "udp-create-socket",
            "tcp",
            "tcp-create-socket",
            "ip-name-lookup",
        ],
    ),
    ("wasi:http", "0.2", &["types", "outgoing-handler"]),
    // A guest's configuration and secrets (its runtime environment).
    ("wasi:config", "0.2", &["store"]),
    // Buckets over the cluster's key-value table.
    ("wasi:keyvalue", "0.2", &["store", "atomics", "batch"]),
    // 0.1 is the first version, still served (host/runtime/src/runtime/v0_1).
    (
        "weft:runtime",
        "0.1",
        &["types", "log", "objects", "tasks", "actors", "gpu"],
    ),
    (
        "weft:runtime",
        "0.2",
        &[
            "types", "log", "objects", "tasks", "awaits", "actors", "gpu", "serve",
        ],
    ),
];

/// Whether hosts provide the interface `ns:pkg/iface@version` (any patch
/// release of a provided minor version: wasmtime links semver-compatibly).
pub fn host_provides(import: &str) -> bool {
    let (path, version) = import.split_once('@').unwrap_or((import, ""));
    let Some((package, interface)) = path.split_once('/') else {
        return false;
    };
    PROVIDED.iter().any(|(p, minor, interfaces)| {
        *p == package
            && interfaces.contains(&interface)
            && (version == *minor || version.starts_with(&format!("{minor}.")))
    })
}

/// Inspects `wasm`: validates it fully (every core module's code too, as
/// wasmparser does) and reads its imports and exports from its type.
pub fn inspect(wasm: &[u8]) -> Result<Inspected, InspectError> {
    match wasm {
        [0x00, b'a', b's', b'm', 0x01, 0x00, 0x00, 0x00, ..] => {
            return Err(InspectError::CoreModule);
        }
        [0x00, b'a', b's', b'm', ..] => {}
        _ => return Err(InspectError::NotWasm),
    }
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(wasm)
        .map_err(|e| InspectError::Invalid(e.to_string().replace('\n', " ")))?;
    let decoded = decode(wasm).map_err(|e| InspectError::Invalid(format!("{e:#}")))?;
    let DecodedWasm::Component(resolve, world) = decoded else {
        return Err(InspectError::Invalid(
            "it is a WIT package, not a component".into(),
        ));
    };
    let mut imports = Vec::new();
    for (key, item) in &resolve.worlds[world].imports {
        let name = resolve.name_world_key(key);
        match (key, item) {
            (_, WorldItem::Type { .. }) => {}
            (WorldKey::Interface(_), WorldItem::Interface { .. }) => {
                if !host_provides(&name) {
                    return Err(InspectError::MissingImport(name));
                }
                imports.push(name);
            }
            // A bare function or an unnamed interface: nothing a host links.
            _ => return Err(InspectError::MissingImport(name)),
        }
    }
    let exports = crate::describe::exports_of(&resolve, world);
    let serves_http = exports.iter().any(|e| {
        e.interface
            .as_deref()
            .is_some_and(|i| i.starts_with("wasi:http/incoming-handler@0.2"))
    });
    Ok(Inspected {
        exports,
        imports,
        serves_http,
    })
}

#[cfg(test)]
mod tests {
    use super::{InspectError, host_provides, inspect};

    #[test]
    fn provided_interfaces_match_by_minor_version() {
        assert!(host_provides("wasi:cli/environment@0.2.0"));
        assert!(host_provides("wasi:io/streams@0.2.6"));
        assert!(host_provides("weft:runtime/tasks@0.1.0"));
        assert!(host_provides("weft:runtime/tasks@0.2.0"));
        assert!(!host_provides("weft:runtime/tasks@0.3.0"));
        assert!(!host_provides("wasi:io/streams@0.3.0"));
        assert!(!host_provides("wasi:http/incoming-handler@0.2.0"));
        assert!(!host_provides("evil:thing/danger"));
    }

    #[test]
    fn non_components_are_told_apart() {
        assert_eq!(inspect(b"#!/bin/sh").unwrap_err(), InspectError::NotWasm);
        assert_eq!(
            inspect(b"\0asm\x01\0\0\0").unwrap_err(),
            InspectError::CoreModule
        );
        assert!(matches!(
            inspect(b"\0asm\x0d\0\x01\0\x07").unwrap_err(),
            InspectError::Invalid(_)
        ));
    }
}
