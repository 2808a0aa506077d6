//! A guest written for `wasi:config/store`, `wasi:keyvalue` and WASI's file
//! system alone, as a component made for Spin or wasmCloud would be:
//! weft's tests run it unchanged to check what a runtime environment grants
//! (configuration, secrets, variables, directories, buckets) and what it
//! does not.

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
use wasi::keyvalue::{atomics, batch, store as kv};

fn open(bucket: &str) -> Result<kv::Bucket, String> {
    kv::open(bucket).map_err(|e| format!("open {bucket}: {e:?}"))
}

fn text(bytes: Vec<u8>) -> String {
    String::from_utf8_lossy(&bytes).into_owned()
}

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

    fn kv_set(bucket: String, key: String, value: String) -> Result<(), String> {
        open(&bucket)?
            .set(&key, value.as_bytes())
            .map_err(|e| format!("{e:?}"))
    }

    fn kv_get(bucket: String, key: String) -> Result<Option<String>, String> {
        Ok(open(&bucket)?
            .get(&key)
            .map_err(|e| format!("{e:?}"))?
            .map(text))
    }

    fn kv_keys(bucket: String) -> Result<Vec<String>, String> {
        let bucket = open(&bucket)?;
        let mut keys = Vec::new();
        let mut cursor = None;
        loop {
            let page = bucket.list_keys(cursor).map_err(|e| format!("{e:?}"))?;
            keys.extend(page.keys);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(keys),
            }
        }
    }

    fn kv_delete(bucket: String, key: String) -> Result<bool, String> {
        let bucket = open(&bucket)?;
        let existed = bucket.exists(&key).map_err(|e| format!("{e:?}"))?;
        bucket.delete(&key).map_err(|e| format!("{e:?}"))?;
        Ok(existed)
    }

    fn kv_increment(bucket: String, key: String, delta: u64) -> Result<u64, String> {
        atomics::increment(&open(&bucket)?, &key, delta).map_err(|e| format!("{e:?}"))
    }

    fn kv_batch(
        bucket: String,
        pairs: Vec<(String, String)>,
    ) -> Result<Vec<Option<String>>, String> {
        let bucket = open(&bucket)?;
        let keys: Vec<String> = pairs.iter().map(|(k, _)| k.clone()).collect();
        let values: Vec<(String, Vec<u8>)> = pairs
            .into_iter()
            .map(|(k, v)| (k, v.into_bytes()))
            .collect();
        batch::set_many(&bucket, &values).map_err(|e| format!("{e:?}"))?;
        Ok(batch::get_many(&bucket, &keys)
            .map_err(|e| format!("{e:?}"))?
            .into_iter()
            .map(|found| found.map(|(_, v)| text(v)))
            .collect())
    }
}

export!(Probe);
