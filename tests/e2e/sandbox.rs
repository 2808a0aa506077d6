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
