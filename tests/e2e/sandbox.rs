//! Guests stay in their sandbox. A guest written to misbehave
//! (`tests/guests/escape`) tries the file system, the environment,
//! sockets, name lookups and the stack; each attempt fails inside the guest
//! with the error it saw, or fails that task, and the host keeps serving.

use weft_tests::{Cluster, guests};

#[test]
fn a_guest_cannot_reach_files_environment_network_or_names() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    cluster.weft_ok(&["deploy", guests::ESCAPE, "--name", "escape"])?;
    let data_dir = cluster.data_dir().display().to_string();
    let not_found = "refused: No such file or directory";
    let denied = "refused: Permission denied";
    // No directory is opened to a guest: every path, absolute, relative or
    // climbing out, names nothing.
    let cases = [
        ("read-file(\"/etc/passwd\")".to_string(), not_found),
        (format!("read-file({data_dir:?})"), not_found),
        (format!("read-file(\"{data_dir}/weft.log\")"), not_found),
        ("read-file(\"../../../etc/passwd\")".to_string(), not_found),
        ("read-file(\"/proc/self/environ\")".to_string(), not_found),
        ("list-dir(\"/\")".to_string(), not_found),
        ("list-dir(\".\")".to_string(), not_found),
        (format!("list-dir({data_dir:?})"), not_found),
        ("write-file(\"/tmp/weft-escaped\")".to_string(), not_found),
        // Sockets and name lookups are off.
        (format!("tcp-connect({:?})", cluster.address), denied),
        ("tcp-connect(\"1.1.1.1:53\")".to_string(), denied),
        ("udp-bind(\"127.0.0.1:0\")".to_string(), denied),
        ("udp-bind(\"0.0.0.0:5353\")".to_string(), denied),
        (
            "dns-lookup(\"localhost:80\")".to_string(),
            "refused: failed to lookup address information",
        ),
    ];
    for (call, expected) in &cases {
        let out = cluster.weft_ok(&["call", "escape", call])?;
        assert!(out.starts_with(&format!("\"{expected}")), "{call}: {out}");
    }
    assert!(!std::path::Path::new("/tmp/weft-escaped").exists());
    // The host's environment (PATH, HOME, ...) is not the guest's.
    assert_eq!(cluster.weft_ok(&["call", "escape", "env-vars()"])?, "[]");
    Ok(())
}

#[test]
fn a_runaway_recursion_fails_its_task_and_the_host_keeps_serving() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    cluster.weft_ok(&["deploy", guests::ESCAPE, "--name", "escape"])?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    assert_eq!(
        cluster.weft_ok(&["call", "escape", "recurse(1000)"])?,
        "500"
    );
    let err = cluster.weft_err(&["call", "escape", "recurse(100000000)"])?;
    assert!(err.contains("guest trapped in `recurse`"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    // The same host runs the next call of the same component, and others.
    assert_eq!(cluster.weft_ok(&["call", "escape", "recurse(10)"])?, "5");
    assert_eq!(cluster.weft_ok(&["call", "kit", "add(20, 22)"])?, "42");
    Ok(())
}

/// A component whose one core module declares `tables` tables of
/// `elements` elements, is instantiated `instances` times, and exports
/// `run` (7) and `grow(n)` (what `table.grow` of its first table by `n`
/// returns: -1 when refused).
fn crafted(tables: usize, elements: u32, instances: usize) -> Vec<u8> {
    let decls = format!("(table {elements} funcref)\n").repeat(tables);
    let extra = "(core instance (instantiate $m))\n".repeat(instances.saturating_sub(1));
    weft_tests::wat_component(&format!(
        r#"(component
            (core module $m
                {decls}
                (func (export "run") (result i32) i32.const 7)
                (func (export "grow") (param i32) (result i32)
                    ref.null func
                    local.get 0
                    table.grow 0))
            (core instance $i (instantiate $m))
            {extra}
            (func (export "run") (result s32) (canon lift (core func $i "run")))
            (func (export "grow") (param "n" u32) (result s32) (canon lift (core func $i "grow"))))"#
    ))
}

#[test]
fn components_past_the_table_and_instance_limits_fail_by_name() -> anyhow::Result<()> {
    let cluster = Cluster::start()?;
    let dir = tempfile::tempdir()?;
    let fine = weft_tests::write_file(dir.path(), "fine.wasm", &crafted(1, 10, 1));
    cluster.weft_ok(&["deploy", &fine, "--name", "fine"])?;
    assert_eq!(cluster.weft_ok(&["call", "fine", "run()"])?, "7");
    // A table grown past its elements limit fails inside the guest:
    // `table.grow` answers -1, and the instance goes on.
    assert_eq!(cluster.weft_ok(&["call", "fine", "grow(10)"])?, "10");
    assert_eq!(cluster.weft_ok(&["call", "fine", "grow(50000000)"])?, "-1");

    let cases = [
        ("tables", crafted(2, 1, 1), "table"),
        ("big-table", crafted(1, 50_000_000, 1), "table"),
        ("instances", crafted(1, 1, 200), "instance"),
    ];
    for (name, wasm, named) in cases {
        let file = weft_tests::write_file(dir.path(), &format!("{name}.wasm"), &wasm);
        let err = match cluster.weft(&["deploy", &file, "--name", name]) {
            out if !out.status.success() => String::from_utf8_lossy(&out.stderr).into_owned(),
            _ => cluster.weft_err(&["call", name, "run()"])?,
        };
        assert!(
            err.contains(named) && (err.contains("limit") || err.contains("maximum")),
            "{name}: {err}"
        );
        println!("{name}: {}", err.lines().last().unwrap_or_default());
    }
    // The host kept serving throughout.
    assert_eq!(cluster.weft_ok(&["call", "fine", "run()"])?, "7");
    Ok(())
}
