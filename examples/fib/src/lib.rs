//! How to run: `weft deploy target/wasm32-wasip2/release/example_fib.wasm --name fib && weft submit fib 'fib(12, 2)' --wait`
//!
//! Recursive tasks: each call submits its two subproblems as tasks and
//! waits for them. While a call waits, its host lends its cpu slot to the
//! scheduler, so a deep tree does not deadlock a host with few slots.

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "example:fib/fib",
    with: {
        "weft:runtime/types@0.2.0": weft_guest::bindings::weft::runtime::types,
        "weft:runtime/tasks@0.2.0": weft_guest::bindings::weft::runtime::tasks,
    },
});

use weft_guest::tasks;

struct Fib;

fn direct(n: u32) -> u64 {
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        (a, b) = (b, a.wrapping_add(b));
    }
    a
}

impl Guest for Fib {
    fn fib(n: u32, cutoff: u32) -> u64 {
        if n <= cutoff.max(1) {
            return direct(n);
        }
        let left = tasks::submit("fib", "fib", (n - 1, cutoff));
        let right = tasks::submit("fib", "fib", (n - 2, cutoff));
        let value = |r: Result<weft_guest::ObjectRef, weft_guest::Error>| -> u64 {
            let r = r.unwrap_or_else(|e| panic!("cannot submit a subtask: {}", e.message()));
            tasks::get(&r).unwrap_or_else(|e| panic!("subtask {} failed: {}", r.id, e.message()))
        };
        value(left).wrapping_add(value(right))
    }
}

export!(Fib);
