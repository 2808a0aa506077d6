//! A guest built against `weft:runtime@0.1.0`, as components built before
//! 0.2.0 were: hosts must keep running it unchanged.

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]

wit_bindgen::generate!({
    path: ["../../../wit/v0.1.0", "wit"],
    world: "weft:runtime-v0-1/runtime-v0-1",
    generate_all,
});

use weft::runtime::types::Error;
use weft::runtime::{actors, log, objects, tasks};

struct Guest01;

fn message(e: Error) -> String {
    match e {
        Error::Unsupported(m)
        | Error::NotFound(m)
        | Error::InvalidArgument(m)
        | Error::Timeout(m)
        | Error::Trapped(m)
        | Error::ResourceExhausted(m)
        | Error::Other(m) => m,
    }
}

fn options() -> tasks::Options {
    tasks::Options {
        timeout_ms: None,
        memory_limit_bytes: None,
        cpus: None,
        gpus: None,
        max_retries: None,
        retry_on_trap: None,
    }
}

impl Guest for Guest01 {
    fn sum_of_adds(component: String, n: u32) -> i64 {
        let refs: Vec<_> = (0..n)
            .map(|i| {
                let args = if i % 2 == 0 {
                    vec![tasks::Argument::Wave(i.to_string()); 2]
                } else {
                    vec![tasks::Argument::Json(i.to_string()); 2]
                };
                tasks::submit(&component, "add", &args, options())
                    .unwrap_or_else(|e| panic!("submit {i}: {}", message(e)))
            })
            .collect();
        refs.iter()
            .enumerate()
            .map(|(i, r)| {
                let text = if i % 2 == 0 {
                    tasks::get(r, None)
                } else {
                    tasks::get_json(r, None)
                };
                let text = text.unwrap_or_else(|e| panic!("get {i}: {}", message(e)));
                text.parse::<i64>()
                    .unwrap_or_else(|_| panic!("task {i} gave `{text}`"))
            })
            .sum()
    }

    fn put_get(data: Vec<u8>) -> String {
        let mut problems = Vec::new();
        let object = objects::put(&data).unwrap_or_else(|e| panic!("put: {}", message(e)));
        match objects::get(&object) {
            Ok(back) if back == data => {}
            Ok(back) => problems.push(format!("get gave {} bytes", back.len())),
            Err(e) => problems.push(format!("get failed: {}", message(e))),
        }
        let tail = data.len().saturating_sub(3) as u64;
        match objects::get_range(&object, tail, 3) {
            Ok(back) if back == data[tail as usize..] => {}
            Ok(back) => problems.push(format!("get-range gave {back:?}")),
            Err(e) => problems.push(format!("get-range failed: {}", message(e))),
        }
        log::log(
            log::Level::Info,
            &format!("put-get of {} bytes", data.len()),
        );
        problems.join("; ")
    }

    fn count(component: String, start: u64, n: u64) -> String {
        let options = actors::Options {
            name: None,
            namespace: None,
            detached: None,
            max_restarts: None,
            max_task_retries: None,
            cpus: None,
            checkpoint_every_calls: None,
            checkpoint_every_ms: None,
        };
        let actor = actors::create(&component, "counter", &format!("new({start})"), &options)
            .unwrap_or_else(|e| panic!("create: {}", message(e)));
        let added = actors::call(&actor, "add", &[n.to_string()])
            .and_then(|r| tasks::get(&r, None))
            .unwrap_or_else(|e| panic!("add: {}", message(e)));
        let got = actors::call(&actor, "get", &[])
            .and_then(|r| tasks::get(&r, None))
            .unwrap_or_else(|e| panic!("get: {}", message(e)));
        let _ = actors::kill(&actor);
        format!("{added} {got}")
    }
}

export!(Guest01);
