//! How to run: `weft deploy target/wasm32-wasip2/release/example_job.wasm --name job && weft job submit job 'run(100, 10)' --wait`
//!
//! A job's driver: a guest that submits tasks itself and gathers their
//! results, run under the cluster's supervision with `weft job submit`.
//! Every task (and actor) it makes belongs to its job, so `weft job stop`
//! ends them with it, and they see the job's runtime env.

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
    world: "example:job/job",
    with: {
        "weft:runtime/types@0.2.0": weft_guest::bindings::weft::runtime::types,
        "weft:runtime/tasks@0.2.0": weft_guest::bindings::weft::runtime::tasks,
        "weft:runtime/actors@0.2.0": weft_guest::bindings::weft::runtime::actors,
    },
});

use weft_guest::{ObjectRef, actors, tasks};

struct Job;

/// The component the driver's tasks run.
fn component() -> String {
    std::env::var("JOB_COMPONENT").unwrap_or_else(|_| "job".into())
}

fn submit_squares(count: u32, millis: u32) -> Vec<ObjectRef> {
    let component = component();
    (0..count)
        .map(|i| {
            tasks::submit(&component, "square", (i, millis))
                .unwrap_or_else(|e| panic!("cannot submit task {i}: {}", e.message()))
        })
        .collect()
}

fn busy(millis: u32) {
    let until = std::time::Instant::now() + std::time::Duration::from_millis(millis.into());
    while std::time::Instant::now() < until {
        std::hint::black_box(0u64);
    }
}

impl Guest for Job {
    fn run(count: u32, millis: u32) -> u64 {
        let refs = submit_squares(count, millis);
        println!("submitted {count} tasks of {}.square", component());
        let mut sum = 0u64;
        for (i, r) in refs.iter().enumerate() {
            let value: u64 = tasks::get(r)
                .unwrap_or_else(|e| panic!("task {i} ({}) failed: {}", r.id, e.message()));
            println!("task {i} returned {value}");
            sum += value;
        }
        println!("sum of squares: {sum}");
        sum
    }

    fn square(i: u32, millis: u32) -> u64 {
        busy(millis);
        u64::from(i) * u64::from(i)
    }

    fn forever(count: u32, millis: u32) -> u64 {
        let refs = submit_squares(count, millis);
        let options = actors::Options::default();
        let actor = actors::create(&component(), "", (), &options)
            .unwrap_or_else(|e| panic!("cannot make the actor: {}", e.message()));
        println!("started {count} tasks and actor {}", actor.id);
        loop {
            for r in &refs {
                let _ = tasks::get::<u64>(r);
            }
            busy(100);
        }
    }

    fn env(name: String) -> String {
        std::env::var(&name).unwrap_or_else(|_| "unset".into())
    }
}

export!(Job);
