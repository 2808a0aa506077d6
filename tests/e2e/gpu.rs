//! `weft:runtime/gpu` on the `cpu` backend, through real hosts: buffers,
//! objects through device memory, gemm in f32, f16 and bf16 against a
//! reference, the errors misuse gets, the per-task memory cap, memory given
//! back after a trap, and tasks scheduled by device.

use std::time::{Duration, Instant};

use weft_tests::{Cluster, Group, guests, pattern, write_file};

/// `weft submit kit CALL --gpus GPUS --wait`: the result's WAVE text.
fn run(cluster: &Cluster, call: &str, gpus: u32) -> anyhow::Result<String> {
    let gpus = gpus.to_string();
    let out = cluster.weft_ok(&["submit", "kit", call, "--gpus", &gpus, "--wait"])?;
    Ok(out.lines().skip(1).collect::<Vec<_>>().join("\n"))
}

/// A float from `ok(1.5e-7)`.
fn ok_float(text: &str) -> f64 {
    text.strip_prefix("ok(")
        .and_then(|t| t.strip_suffix(')'))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("not ok(float): {text}"))
}

#[test]
fn a_task_uses_buffers_objects_and_gemm_on_the_cpu_backend() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start_with(
        dir.path(),
        &[
            "--cpus",
            "4",
            "--gpus",
            "2",
            "--gpu-device-memory",
            "256M",
            "--gpu-memory",
            "128M",
        ],
    )?;
    cluster.weft_ok(&["deploy", guests::GPUKIT, "--name", "kit"])?;
    let nodes = cluster.weft_ok(&["list", "nodes"])?;
    assert!(
        nodes.contains("gpus 0/2") && nodes.contains("gpus: cpu: 2 x cpu (256 MiB)"),
        "{nodes}"
    );
    let full = (256u64 << 20).to_string();
    let one = format!("[\"0 cpu cpu {full} {full}\"]");
    assert_eq!(run(&cluster, "devices()", 1)?, one);
    assert_eq!(run(&cluster, "devices()", 2)?.matches("cpu cpu").count(), 2);
    // A task that asked for none sees none, and is told so when it tries.
    assert_eq!(run(&cluster, "devices()", 0)?, "[]");
    let none = run(&cluster, "allocate(1)", 0)?;
    assert!(none.contains("given no GPUs"), "{none}");

    assert_eq!(run(&cluster, "roundtrip(1000000)", 1)?, "\"ok\"");
    // gemm against the guest's own reference, relative to the result's
    // largest magnitude: each dtype within its rounding.
    for (dtype, tolerance) in [("f32", 1e-5), ("f16", 4e-3), ("bf16", 3e-2)] {
        for (ta, tb, batch) in [
            (false, false, 1),
            (true, false, 1),
            (false, true, 3),
            (true, true, 2),
        ] {
            let call = format!("gemm-error(\"{dtype}\", 37, 29, 53, {ta}, {tb}, {batch})");
            let error = ok_float(&run(&cluster, &call, 1)?);
            assert!(error < tolerance, "{call}: {error}");
        }
    }

    // An object into device memory and back out, unchanged.
    let data = pattern(3 << 20, 9);
    let file = write_file(dir.path(), "in.bin", &data);
    let object = cluster.weft_ok(&["put", &file])?;
    let out = run(&cluster, &format!("through-gpu(@{})", object.trim()), 1)?;
    let copy = out
        .split('"')
        .nth(1)
        .unwrap_or_else(|| panic!("an object-ref in {out}"));
    let back = dir.path().join("out.bin");
    cluster.weft_ok(&["get", copy, "-o", back.to_str().unwrap_or_default()])?;
    assert!(
        std::fs::read(&back)? == data,
        "the object came back changed"
    );

    // Misuse, each answered by name.
    let misuse = run(&cluster, "misuse()", 1)?;
    for expected in [
        "invalid-argument: device 7: this task was given 1 GPU(s)",
        "invalid-argument: bytes 8..24 are past the end of a buffer of 16 bytes",
        "invalid-argument: bytes 20..21 are past the end",
        "invalid-argument: a (4 x 4, ld 4, 1 gemm(s) 0 elements apart) needs 64 bytes; its buffer has 16",
    ] {
        assert!(misuse.contains(expected), "{expected} in {misuse}");
    }
    for call in ["load-ptx()", "fault()"] {
        let ptx = run(&cluster, call, 1)?;
        assert!(
            ptx.contains("not-supported: kernels need the cuda backend"),
            "{call}: {ptx}"
        );
    }
    // Past the task's cap, and past the device.
    let capped = run(&cluster, "allocate(200)", 1)?;
    assert!(
        capped.contains("out-of-memory") && capped.contains("cap of 128 MiB (--gpu-memory)"),
        "{capped}"
    );

    // A task that traps holding device memory gives it back.
    let trapped = cluster.weft_err(&[
        "submit",
        "kit",
        "leak-and-trap(100)",
        "--gpus",
        "1",
        "--wait",
    ])?;
    assert!(trapped.contains("trapping on purpose"), "{trapped}");
    assert_eq!(run(&cluster, "devices()", 1)?, one);

    // The cluster stops on SIGTERM (within `stop`'s 20 s) although its
    // host made objects: a connection it holds to its own port once kept
    // the stop waiting for ever.
    cluster.stop()
}

#[test]
fn an_actor_keeps_its_gpu_buffers_across_calls() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start_with(dir.path(), &["--cpus", "4", "--gpus", "1"])?;
    cluster.weft_ok(&["deploy", guests::GPUKIT, "--name", "kit"])?;
    cluster.weft_ok(&[
        "actor", "create", "kit", "-", "--gpus", "1", "--name", "holder",
    ])?;
    assert_eq!(
        cluster.weft_ok(&["actor", "call", "holder", "keep(100000)"])?,
        "\"ok\""
    );
    for _ in 0..2 {
        assert_eq!(
            cluster.weft_ok(&["actor", "call", "holder", "kept()"])?,
            "\"ok 100000\""
        );
    }
    // The actor holds the host's one GPU: a task asking for it waits.
    let waiting = cluster.weft_ok(&["submit", "kit", "devices()", "--gpus", "1"])?;
    let pending = cluster.weft_ok(&["wait", waiting.trim(), "--timeout", "1"])?;
    assert!(pending.contains("pending"), "{pending}");
    cluster.weft_ok(&["actor", "kill", "holder"])?;
    let done = cluster.weft_ok(&["get", waiting.trim()])?;
    assert!(done.contains("cpu cpu"), "{done}");
    Ok(())
}

/// The most tasks whose (start, end) intervals overlap at once.
fn most_at_once(spans: &[(u64, u64)]) -> usize {
    spans
        .iter()
        .map(|(s, _)| spans.iter().filter(|(a, b)| a <= s && s < b).count())
        .max()
        .unwrap_or(0)
}

#[test]
fn gpu_tasks_run_one_per_device() -> anyhow::Result<()> {
    for (gpus, expected) in [(1, 1), (2, 2)] {
        let dir = tempfile::tempdir()?;
        let gpus_flag = gpus.to_string();
        let cluster = Cluster::start_with(dir.path(), &["--cpus", "4", "--gpus", &gpus_flag])?;
        cluster.weft_ok(&["deploy", guests::GPUKIT, "--name", "kit"])?;
        let started = Instant::now();
        let refs: Vec<String> = (0..4)
            .map(|_| cluster.weft_ok(&["submit", "kit", "hold(400)", "--gpus", "1"]))
            .collect::<anyhow::Result<_>>()?;
        let mut args = vec!["get"];
        args.extend(refs.iter().map(String::as_str));
        let spans: Vec<(u64, u64)> = cluster
            .weft_ok(&args)?
            .lines()
            .map(|l| {
                let (a, b) = l
                    .trim_matches(|c| c == '(' || c == ')')
                    .split_once(", ")
                    .unwrap_or_else(|| panic!("a span: {l}"));
                (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
            })
            .collect();
        assert_eq!(most_at_once(&spans), expected, "{gpus} GPU(s): {spans:?}");
        assert!(started.elapsed() >= Duration::from_millis(400 * 4 / expected as u64));
        // More than any host has: refused at once, naming gpus.
        let err = cluster.weft_err(&["submit", "kit", "devices()", "--gpus", "3", "--wait"])?;
        assert!(err.contains("gpus"), "{err}");
    }
    Ok(())
}

/// Waits until `check` holds of `weft ARGS`'s output, or panics with it.
fn wait_output(group: &Group, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    weft_tests::eventually(Duration::from_secs(30), || {
        let out = group.weft(args);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && check(&text) {
            Ok(text)
        } else {
            Err(format!(
                "weft {args:?}: {text}{}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    })
    .unwrap()
}

#[test]
fn the_leader_picks_each_gpu_and_a_new_leader_keeps_the_picks() -> anyhow::Result<()> {
    let mut group = Group::with_hosts(
        3,
        &[("g1", &["--gpus", "2"][..])],
        &[(guests::GPUKIT, "kit")],
    );
    // An actor holds the lowest GPU; a task gets the other.
    group.weft_ok(&[
        "actor", "create", "kit", "-", "--gpus", "1", "--name", "holder",
    ])?;
    assert_eq!(
        group.weft_ok(&["actor", "call", "holder", "keep(100000)"])?,
        "\"ok\""
    );
    let actors = group.weft_ok(&["actor", "list"])?;
    assert!(actors.contains("host g1 GPU 0"), "{actors}");
    let long = group.weft_ok(&["submit", "kit", "hold(2000)", "--gpus", "1"])?;
    let long = long.trim();
    let running = wait_output(&group, &["list", "tasks", "--state", "running"], |t| {
        t.contains(long)
    });
    assert!(
        running.contains(&format!("{long}  running   kit.hold  on g1 GPU 1")),
        "{running}"
    );
    let nodes = group.weft_ok(&["list", "nodes"])?;
    let actor = actors.split_whitespace().next().unwrap_or_default();
    assert!(
        nodes.contains(&format!("GPU 0 {actor}, GPU 1 {long}")),
        "{nodes}"
    );
    let history = group.weft_ok(&["list", "tasks", "--detail", long])?;
    assert!(
        history.contains("scheduled on g1 (attempt 1) on GPU 1"),
        "{history}"
    );

    // A new leader learns which GPU the actor holds: a task submitted now
    // is sent to GPU 1 (the host lends it once the first task is done)
    // rather than to the actor's, and the actor keeps its buffer.
    let leader = group.wait_for_leader(Duration::from_secs(20))?;
    group.kill(leader);
    group.wait_for_leader(Duration::from_secs(20))?;
    wait_output(&group, &["actor", "list"], |t| t.contains("host g1 GPU 0"));
    let next = group.weft_ok(&["submit", "kit", "hold(10)", "--gpus", "1"])?;
    let next = next.trim();
    let span = group.weft_ok(&["get", next])?;
    assert!(span.starts_with('('), "{span}");
    let history = group.weft_ok(&["list", "tasks", "--detail", next])?;
    assert!(history.contains("on GPU 1"), "{history}");
    assert_eq!(
        group.weft_ok(&["actor", "call", "holder", "kept()"])?,
        "\"ok 100000\""
    );
    // Both GPUs free again once the actor is gone: a task takes both.
    group.weft_ok(&["actor", "kill", "holder"])?;
    let both = group.weft_ok(&["submit", "kit", "devices()", "--gpus", "2"])?;
    let devices = group.weft_ok(&["get", both.trim()])?;
    assert_eq!(devices.matches("cpu").count(), 4, "{devices}");
    let history = group.weft_ok(&["list", "tasks", "--detail", both.trim()])?;
    assert!(history.contains("on GPU 0, 1"), "{history}");
    Ok(())
}

fn matrix(n: usize, seed: u32) -> Vec<f32> {
    (0..n * n)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0
        })
        .collect()
}

fn bytes_of(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn the_gpu_examples_run_on_the_cpu_backend() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start_with(dir.path(), &["--cpus", "4", "--gpus", "1"])?;
    cluster.weft_ok(&["deploy", guests::GPU_MATMUL, "--name", "matmul"])?;
    cluster.weft_ok(&["deploy", guests::GPU_SAXPY, "--name", "saxpy"])?;

    let n = 64;
    let (a, b) = (matrix(n, 1), matrix(n, 2));
    let a_ref = cluster.weft_ok(&["put", &write_file(dir.path(), "a.bin", &bytes_of(&a))])?;
    let b_ref = cluster.weft_ok(&["put", &write_file(dir.path(), "b.bin", &bytes_of(&b))])?;
    let call = format!("matmul(@{}, @{}, {n})", a_ref.trim(), b_ref.trim());
    let out = cluster.weft_ok(&["submit", "matmul", &call, "--gpus", "1", "--wait"])?;
    let product = out
        .split('"')
        .nth(1)
        .unwrap_or_else(|| panic!("an object-ref in {out}"));
    let file = dir.path().join("c.bin");
    cluster.weft_ok(&["get", product, "-o", file.to_str().unwrap_or_default()])?;
    let c: Vec<f32> = std::fs::read(&file)?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    for j in 0..n {
        for i in 0..n {
            let expected: f32 = (0..n).map(|l| a[i + l * n] * b[l + j * n]).sum();
            assert!((c[i + j * n] - expected).abs() < 1e-3, "c[{i},{j}]");
        }
    }

    let out = cluster.weft_ok(&[
        "submit",
        "saxpy",
        "saxpy(2.0, 100000)",
        "--gpus",
        "1",
        "--wait",
    ])?;
    assert!(
        out.contains(
            "saxpy of 100000 elements on cpu by gemm (this backend has no kernels): largest error"
        ),
        "{out}"
    );
    let error: f64 = out
        .rsplit("largest error ")
        .next()
        .and_then(|t| t.trim_end_matches(['"', ')']).parse().ok())
        .unwrap_or(f64::MAX);
    assert!(error < 1e-5, "{out}");
    Ok(())
}

#[test]
fn the_cuda_backend_is_used_where_found_and_refused_by_name_elsewhere() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    match Cluster::start_with(dir.path(), &["--gpu-backend", "cuda"]) {
        // A machine with an NVIDIA GPU and its driver: the devices listed.
        Ok(cluster) => {
            let nodes = cluster.weft_ok(&["list", "nodes"])?;
            assert!(nodes.contains("gpus: cuda: "), "{nodes}");
        }
        // Anywhere else (CI): the start fails saying what is missing.
        Err(e) => {
            let text = e.to_string();
            assert!(
                text.contains("--gpu-backend cuda: not supported: no CUDA driver library")
                    || text.contains("--gpu-backend cuda: not supported: CUDA"),
                "{text}"
            );
        }
    }
    Ok(())
}

#[test]
fn weft_bench_gpu_measures_every_row_against_this_process_on_the_cpu_backend() -> anyhow::Result<()>
{
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start_with(dir.path(), &["--cpus", "2", "--gpus", "1"])?;
    let out = cluster.weft_ok(&[
        "bench",
        "gpu",
        "--component",
        guests::GPU_BENCH,
        "--sizes",
        "64",
        "--dtypes",
        "f32,bf16",
        "--reps",
        "2",
        "--upload-mib",
        "4",
    ])?;
    for row in [
        "against this process calling the cpu backend",
        "gemm 64^3 f32",
        "gemm 64^3 bf16",
        "upload 4 MiB from memory",
        "upload 4 MiB from an object",
        "download 4 MiB to an object",
        "empty kernel launch  not measured: the host's backend has no kernels",
    ] {
        assert!(out.contains(row), "{row} in:\n{out}");
    }
    // Every measured row has its ratio to this process's own run.
    assert_eq!(out.matches("x native)").count(), 5, "{out}");
    cluster.stop()
}
