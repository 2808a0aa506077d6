//! A concurrent actor for weft's tests: its exports are `async func`s, so
//! the host runs several calls at once in one instance; each counts itself
//! in flight while it awaits, and `peak` says how many overlapped.

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]

use std::cell::Cell;

wit_bindgen::generate!({
    path: ["../../../wit", "wit"],
    world: "weft:async-actor/async-actor",
    with: {
        "weft:runtime/types@0.2.0": weft_guest::bindings::weft::runtime::types,
        "weft:runtime/log@0.2.0": weft_guest::bindings::weft::runtime::log,
        "weft:runtime/tasks@0.2.0": weft_guest::bindings::weft::runtime::tasks,
        "weft:runtime/awaits@0.2.0": weft_guest::bindings::weft::runtime::awaits,
    },
});

thread_local! {
    static IN_FLIGHT: Cell<u32> = const { Cell::new(0) };
    static PEAK: Cell<u32> = const { Cell::new(0) };
}

/// Counts a call in flight while it lives.
struct Flying;

impl Flying {
    fn start() -> Self {
        let now = IN_FLIGHT.get() + 1;
        IN_FLIGHT.set(now);
        PEAK.set(PEAK.get().max(now));
        Flying
    }
}

impl Drop for Flying {
    fn drop(&mut self) {
        IN_FLIGHT.set(IN_FLIGHT.get() - 1);
    }
}

struct AsyncActor;

impl Guest for AsyncActor {
    async fn nested_nap(component: String, ms: u32) -> u32 {
        let _flying = Flying::start();
        let options = weft_guest::tasks::Options {
            cpus: Some(0.01),
            ..Default::default()
        };
        let nap = weft_guest::tasks::submit_with(&component, "drip", (1u32, ms), options)
            .unwrap_or_else(|e| panic!("submit: {}", e.message()));
        let _: u32 = weft_guest::awaits::get(&nap)
            .await
            .unwrap_or_else(|e| panic!("get: {}", e.message()));
        ms
    }

    async fn echo(n: u32) -> u32 {
        n
    }

    async fn nap(ms: u32) -> u32 {
        let _flying = Flying::start();
        weft_guest::awaits::sleep(ms.into()).await;
        ms
    }

    async fn peak() -> u32 {
        PEAK.get()
    }

    async fn fail_after(ms: u32) -> u32 {
        weft_guest::awaits::sleep(ms.into()).await;
        panic!("failed on purpose after {ms} ms")
    }
}

export!(AsyncActor);
