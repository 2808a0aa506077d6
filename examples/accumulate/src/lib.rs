//! How to run: `weft deploy target/wasm32-wasip2/release/example_accumulate.wasm --name accumulate && weft submit accumulate 'api.sum-of-squares(100)' --wait`
//!
//! An actor used by tasks: a map step of `square-into` tasks, each given
//! the same accumulator handle, feeds one shared actor; the driver reads
//! the total once every task is done.

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
    world: "example:accumulate/accumulate",
    with: {
        "weft:runtime/types@0.2.0": weft_guest::bindings::weft::runtime::types,
        "weft:runtime/tasks@0.2.0": weft_guest::bindings::weft::runtime::tasks,
        "weft:runtime/actors@0.2.0": weft_guest::bindings::weft::runtime::actors,
    },
});

use std::cell::Cell;

use exports::example::accumulate::api::{Guest, GuestAccumulator};
use weft_guest::actors::{self, Actor};
use weft_guest::tasks;

thread_local! {
    static TOTAL: Cell<u64> = const { Cell::new(0) };
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

struct Component;

struct Accumulator;

impl GuestAccumulator for Accumulator {
    fn new() -> Self {
        Accumulator
    }

    fn add(&self, x: u64) -> u64 {
        TOTAL.set(TOTAL.get() + x);
        COUNT.set(COUNT.get() + 1);
        TOTAL.get()
    }

    fn total(&self) -> u64 {
        TOTAL.get()
    }

    fn count(&self) -> u64 {
        COUNT.get()
    }

    fn absorb(&self, other: Actor) -> u64 {
        let total = or_panic("total", actors::call_wait(&other, "total", ()));
        self.add(total)
    }
}

fn or_panic<T>(what: &str, r: Result<T, weft_guest::Error>) -> T {
    r.unwrap_or_else(|e| panic!("{what}: {}", e.message()))
}

impl Guest for Component {
    type Accumulator = Accumulator;

    fn square_into(acc: Actor, x: u64) -> u64 {
        let square = x * x;
        or_panic("add", actors::call_wait::<u64>(&acc, "add", (square,)));
        square
    }

    fn sum_of_squares(n: u64) -> u64 {
        let acc = or_panic(
            "create",
            actors::create("accumulate", "accumulator", (), &actors::Options::default()),
        );
        let refs: Vec<_> = (1..=n)
            .map(|x| {
                or_panic(
                    "submit",
                    tasks::submit("accumulate", "api.square-into", (&acc, x)),
                )
            })
            .collect();
        for r in &refs {
            or_panic("get", tasks::get::<u64>(r));
        }
        let total = or_panic("total", actors::call_wait(&acc, "total", ()));
        let _ = actors::kill(&acc);
        total
    }
}

export!(Component);
