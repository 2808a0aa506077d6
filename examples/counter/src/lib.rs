//! How to run: `weft deploy target/wasm32-wasip2/release/example_counter.wasm --name counter`,
//! then `weft actor create counter counter 'new(0)' --name hits --checkpoint-every-calls 10`
//! and `weft actor call hits 'incr()'`.
//!
//! A counter actor with checkpoints: the count survives a trap or the
//! death of the actor's host, restored from the latest checkpoint.

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
    world: "example:counter/counter",
});

use std::cell::Cell;

use exports::example::counter::api::{Guest, GuestCounter};
use exports::weft::runtime::checkpoint::Guest as Checkpoint;

thread_local! {
    /// The count: the instance's state (one actor per instance).
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

struct Component;

/// The actor's class; its state is the instance's.
struct Counter;

impl Guest for Component {
    type Counter = Counter;
}

impl GuestCounter for Counter {
    fn new(start: u64) -> Self {
        COUNT.set(start);
        Counter
    }

    fn incr(&self) -> u64 {
        self.add(1)
    }

    fn add(&self, n: u64) -> u64 {
        COUNT.set(COUNT.get() + n);
        COUNT.get()
    }

    fn get(&self) -> u64 {
        COUNT.get()
    }

    fn fail(&self, message: String) {
        panic!("{message}");
    }
}

impl Checkpoint for Component {
    fn save() -> Vec<u8> {
        COUNT.get().to_le_bytes().to_vec()
    }

    fn restore(state: Vec<u8>) {
        let bytes: [u8; 8] = state.try_into().unwrap_or([0; 8]);
        COUNT.set(u64::from_le_bytes(bytes));
    }
}

export!(Component);
