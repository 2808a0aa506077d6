//! A guest written for `wasi:config/store` and WASI's file system alone, as
//! a component made for Spin or wasmCloud would be: weft's tests run it
//! unchanged to check what a runtime environment grants (configuration,
//! secrets, variables, directories) and what it does not.

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]

wit_bindgen::generate!({
    path: "wit",
    world: "weft:config-reader/config-reader",
    generate_all,
});

use exports::weft::config_reader::probe::Guest;
use wasi::config::store;

struct Probe;

impl Guest for Probe {
    fn config(key: String) -> Option<String> {
        store::get(&key).ok().flatten()
    }

    fn config_keys() -> Vec<String> {
        let mut keys: Vec<String> = store::get_all()
            .map(|all| all.into_iter().map(|(k, _)| k).collect())
            .unwrap_or_default();
        keys.sort();
        keys
    }

    fn env(name: String) -> Option<String> {
        std::env::var(name).ok()
    }

    fn read_file(path: String) -> Result<String, String> {
        std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))
    }

    fn write_file(path: String, text: String) -> Result<(), String> {
        std::fs::write(&path, text).map_err(|e| format!("{path}: {e}"))
    }

    fn list_dir(path: String) -> Result<Vec<String>, String> {
        let mut names: Vec<String> = std::fs::read_dir(&path)
            .map_err(|e| format!("{path}: {e}"))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }
}

export!(Probe);
