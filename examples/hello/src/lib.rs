//! How to run: `weft deploy target/wasm32-wasip2/release/example_hello.wasm --name hello && weft call hello 'greet("world")'`
//!
//! The smallest weft component: one exported function and one log line.

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
    world: "example:hello/hello",
    with: { "weft:runtime/log@0.2.0": weft_guest::bindings::weft::runtime::log },
});

struct Hello;

impl Guest for Hello {
    fn greet(name: String) -> String {
        weft_guest::log::info(&format!("greeting {name}"));
        format!("Hello, {name}!")
    }
}

export!(Hello);
