//! Builds the guest components the tests run (the examples and the test
//! guests under `tests/guests/`) for wasm32-wasip2, and exposes their paths
//! as constants in `weft_tests::guests`.
//!
//! The guests are built by a nested cargo into their own target dir, so the
//! outer build's lock is never contended and the native build never compiles
//! wasm crates.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, artifact stem, constant name)
const GUESTS: &[(&str, &str, &str)] = &[
    ("example-hello", "example_hello", "HELLO"),
    ("example-pi", "example_pi", "PI"),
    ("weft-testkit", "weft_testkit", "TESTKIT"),
    ("example-http-hello", "example_http_hello", "HTTP_HELLO"),
    ("weft-http-testkit", "weft_http_testkit", "HTTP_TESTKIT"),
    ("example-fib", "example_fib", "FIB"),
    ("example-job", "example_job", "JOB"),
    ("example-wordcount", "example_wordcount", "WORDCOUNT"),
    ("example-counter", "example_counter", "COUNTER"),
    ("example-accumulate", "example_accumulate", "ACCUMULATE"),
    ("example-echo", "example_echo", "ECHO"),
    ("weft-escape", "weft_escape", "ESCAPE"),
    ("weft-gpukit", "weft_gpukit", "GPUKIT"),
    ("weft-runtime-v0-1", "weft_runtime_v0_1", "RUNTIME_V0_1"),
    ("weft-async-actor", "weft_async_actor", "ASYNC_ACTOR"),
    ("weft-config-reader", "weft_config_reader", "CONFIG_READER"),
    ("example-gpu-matmul", "example_gpu_matmul", "GPU_MATMUL"),
    ("example-gpu-saxpy", "example_gpu_saxpy", "GPU_SAXPY"),
    ("example-gpu-bench", "example_gpu_bench", "GPU_BENCH"),
    ("example-tune", "example_tune", "TUNE"),
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("workspace root").to_path_buf();
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    // OUT_DIR is <target>/<profile>/build/<pkg>-<hash>/out.
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| root.join("target"))
        .join("guests");

    for dir in ["wit", "sdk/rust/guest", "examples", "tests/guests"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }

    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--target-dir",
        ])
        .arg(&target_dir);
    for (package, _, _) in GUESTS {
        cmd.args(["-p", package]);
    }
    // Flags meant for the native build must not leak into the guest build.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WRAPPER",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd
        .status()
        .expect("running cargo to build the guest components");
    if !status.success() {
        panic!(
            "building the guest components failed (see the errors above; is the wasm target installed? rustup target add wasm32-wasip2)"
        );
    }

    let mut consts = String::new();
    for (_, stem, name) in GUESTS {
        let path = target_dir
            .join("wasm32-wasip2/release")
            .join(format!("{stem}.wasm"));
        assert!(path.exists(), "{} was not built", path.display());
        consts.push_str(&format!(
            "/// Path of the `{stem}` component.\npub const {name}: &str = {:?};\n",
            path.display().to_string()
        ));
    }
    std::fs::write(out_dir.join("guests.rs"), consts).expect("writing guests.rs");
}
