//! How to run: `weft deploy target/wasm32-wasip2/release/example_echo.wasm --name echo && weft submit --wait echo 'points(3)'`
//!
//! Echo functions: the cost of moving a value to a task and back, with no
//! work in between (`weft bench values` uses them).

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
    world: "example:echo/echo",
});

struct Echo;

impl Guest for Echo {
    fn echo_bytes(data: Vec<u8>) -> Vec<u8> {
        data
    }

    fn echo_points(points: Vec<Point>) -> Vec<Point> {
        points
    }

    fn points(n: u32) -> Vec<Point> {
        (0..n as i32)
            .map(|i| Point {
                x: i,
                y: -i,
                label: format!("p{i}"),
            })
            .collect()
    }
}

export!(Echo);
