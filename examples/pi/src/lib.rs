//! How to run: `weft deploy target/wasm32-wasip2/release/example_pi.wasm --name pi && weft call pi 'estimate(1000000, 42)'`
//!
//! Monte Carlo pi: throw `samples` points at the unit square and count the
//! ones inside the quarter circle. Pure computation, no imports beyond WASI.

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]

wit_bindgen::generate!({ path: "wit", world: "pi" });

struct Pi;

impl Guest for Pi {
    fn estimate(samples: u64, seed: u64) -> f64 {
        if samples == 0 {
            return 0.0;
        }
        let mut rng = SplitMix64(seed);
        let inside = (0..samples)
            .filter(|_| {
                let (x, y) = (rng.unit(), rng.unit());
                x * x + y * y <= 1.0
            })
            .count() as u64;
        4.0 * inside as f64 / samples as f64
    }
}

/// SplitMix64: tiny, fast, and good enough for a Monte Carlo demo; keeps the
/// example free of dependencies.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in [0, 1) from the top 53 bits.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

export!(Pi);
