//! How to run: `weft deploy target/wasm32-wasip2/release/example_tune.wasm --name trainable`,
//! then `weft tune run trainable train --metric score --scheduler asha --max-t 10
//! --space '{"rate": {"uniform": [0.1, 1]}, "iterations": 10, "work-ms": 1}' --num-samples 20`.
//!
//! A Tune trainable: a function trial that reports a result after each
//! iteration (`weft_guest::tune::report`), so a scheduler can stop it
//! early.

#![allow(
    unsafe_code,
    reason = "wit-bindgen's generated bindings and exports lift and lower through raw guest memory"
)]
#![allow(
    missing_docs,
    reason = "a guest's interface is its WIT world, documented there"
)]
#![allow(
    clippy::too_many_arguments,
    reason = "wit-bindgen lowers a record and an option into one flat argument list"
)]

wit_bindgen::generate!({
    path: ["../../wit", "wit"],
    world: "example:tune/trainable",
    with: {
        "weft:runtime/types@0.2.0": weft_guest::bindings::weft::runtime::types,
        "weft:runtime/tasks@0.2.0": weft_guest::bindings::weft::runtime::tasks,
    },
});

use std::time::{Duration, Instant};

use weft_guest::Value;

struct Trainable;

impl Guest for Trainable {
    fn train(config: Config) -> Metrics {
        let mut last = Metrics {
            score: 0.0,
            iteration: 0,
        };
        for i in 1..=config.iterations {
            busy(Duration::from_millis(config.work_ms.into()));
            if config.trap_at == Some(i) {
                panic!("the trial failed at iteration {i}");
            }
            last = Metrics {
                score: config.rate * f64::from(i),
                iteration: i,
            };
            let report = Value::Record(vec![
                ("score".into(), Value::F64(last.score)),
                ("iteration".into(), Value::U32(i)),
            ]);
            if let Err(e) = weft_guest::tune::report(report) {
                panic!("report: {}", e.message());
            }
        }
        last
    }

    fn train_checkpointed(config: Config, checkpoint: Option<Vec<u8>>) -> Progress {
        let restored = checkpoint
            .and_then(|bytes| <[u8; 8]>::try_from(bytes.as_slice()).ok())
            .map(f64::from_le_bytes);
        let mut score = restored.unwrap_or(0.0);
        let mut last = Progress {
            score,
            iteration: 0,
            restored: restored.unwrap_or(0.0),
        };
        for i in 1..=config.iterations {
            busy(Duration::from_millis(config.work_ms.into()));
            if restored.is_none() && config.trap_at == Some(i) {
                panic!("the trial failed at iteration {i}");
            }
            score += config.rate;
            last = Progress {
                score,
                iteration: i,
                restored: restored.unwrap_or(0.0),
            };
            let report = Value::Record(vec![
                ("score".into(), Value::F64(score)),
                ("iteration".into(), Value::U32(i)),
                ("restored".into(), Value::F64(last.restored)),
            ]);
            if let Err(e) = weft_guest::tune::report_checkpoint(report, &score.to_le_bytes()) {
                panic!("report: {}", e.message());
            }
        }
        last
    }
}

/// Keeps this core busy for `time`: a trial's work, not a sleep.
fn busy(time: Duration) {
    let start = Instant::now();
    let mut x = 0u64;
    while start.elapsed() < time {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
    }
}

export!(Trainable);
