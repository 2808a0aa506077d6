//! The Kubernetes manifests (`deploy/kubernetes`) render with kustomize,
//! pass the API's schemas (`kubernetes-validate --strict`, offline), and
//! what they run is what `weft` accepts: every flag of every `weft`
//! command in them is one the binary knows, the controller group's members
//! match its replica count, and the probes ask the paths the servers
//! answer. No API server runs here, so they are rendered and checked, not
//! applied.

use std::path::Path;
use std::process::Command;

use weft_tests::weft_bin;

/// `kubectl kustomize` of an overlay, or `None` where kubectl is missing.
fn render(overlay: &str) -> Option<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../deploy/kubernetes/overlays")
        .join(overlay);
    let out = match Command::new("kubectl").arg("kustomize").arg(&dir).output() {
        Ok(out) => out,
        Err(e) => {
            eprintln!("SKIPPED: kubectl cannot run here ({e}); the manifests are not checked");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "kubectl kustomize {overlay}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).expect("utf-8 YAML"))
}

/// The document of `kind` named `name`.
fn document<'a>(yaml: &'a str, kind: &str, name: &str) -> &'a str {
    yaml.split("\n---\n")
        .find(|d| {
            d.contains(&format!("kind: {kind}\n")) && d.contains(&format!("\n  name: {name}\n"))
        })
        .unwrap_or_else(|| panic!("no {kind} {name} in:\n{yaml}"))
}

/// The value on the line after `- name: VAR` (an env var's value).
fn env_value(doc: &str, var: &str) -> String {
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("- name: {var}") {
            let value = lines.next().expect("a value line").trim();
            return value
                .trim_start_matches("value: ")
                .trim_matches('"')
                .to_string();
        }
    }
    panic!("no env var {var} in:\n{doc}")
}

fn replicas(doc: &str) -> usize {
    doc.lines()
        .find_map(|l| l.strip_prefix("  replicas: "))
        .expect("replicas")
        .trim()
        .parse()
        .expect("a count")
}

/// Every `--flag` of each `exec weft SUB ...` command in `yaml`, with SUB.
fn weft_commands(yaml: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut lines = yaml.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim().strip_prefix("exec weft ") else {
            continue;
        };
        let mut text = rest.to_string();
        // Continued with backslashes.
        while text.ends_with('\\') {
            text.pop();
            text.push_str(lines.next().unwrap_or_default());
        }
        let sub = text
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let flags = text
            .split_whitespace()
            .filter(|w| w.starts_with("--"))
            .map(str::to_string)
            .collect();
        out.push((sub, flags));
    }
    out
}

fn help(sub: &str) -> String {
    let out = Command::new(weft_bin())
        .args([sub, "--help"])
        .output()
        .expect("weft runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kubernetes-validate --strict` of `yaml`: `scripts/test` installs it in
/// `target/k8s-venv` (found beside the test binary's target dir).
fn validate(overlay: &str, yaml: &str) {
    let tool =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/k8s-venv/bin/kubernetes-validate");
    if !tool.exists() {
        eprintln!(
            "SKIPPED: no {} (scripts/test installs it); schemas not checked",
            tool.display()
        );
        return;
    }
    let file = tempfile::NamedTempFile::new().expect("a temp file");
    std::fs::write(file.path(), yaml).expect("written");
    let out = Command::new(&tool)
        .arg("--strict")
        .arg(file.path())
        .output()
        .expect("kubernetes-validate runs");
    assert!(
        out.status.success(),
        "{overlay} fails the Kubernetes schemas: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn check(overlay: &str, members: usize, hosts: usize) {
    let Some(yaml) = render(overlay) else {
        return;
    };
    validate(overlay, &yaml);
    let commands = weft_commands(&yaml);
    let mut subs: Vec<&str> = commands.iter().map(|(s, _)| s.as_str()).collect();
    subs.sort();
    assert_eq!(subs, ["controller", "host"], "{overlay}: {commands:?}");
    for (sub, flags) in &commands {
        let help = help(sub);
        for flag in flags {
            assert!(
                help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n")),
                "{overlay}: `weft {sub}` has no flag {flag}"
            );
        }
    }
    let controller = document(&yaml, "StatefulSet", "weft-controller");
    assert_eq!(replicas(controller), members, "{overlay}");
    let peers = env_value(controller, "WEFT_PEERS");
    let expected: Vec<String> = (0..members)
        .map(|i| format!("{}=weft-controller-{i}.weft-controller:7077", i + 1))
        .collect();
    assert_eq!(peers, expected.join(","), "{overlay}: members and replicas");
    let host = document(&yaml, "Deployment", "weft-host");
    assert_eq!(replicas(host), hosts, "{overlay}");
    let controllers = env_value(host, "WEFT_CONTROLLERS");
    assert_eq!(controllers.split(',').count(), members, "{overlay}");
    for doc in [controller, host] {
        assert!(doc.contains("path: /readyz") && doc.contains("path: /healthz"));
        assert!(doc.contains("secretName: weft-tokens"));
    }
    // The pod's ordinal becomes its member id as the container's shell
    // computes it.
    let out = Command::new("sh")
        .args([
            "-c",
            r#"ordinal="${HOSTNAME##*-}"; echo "$((ordinal + 1))""#,
        ])
        .env("HOSTNAME", "weft-controller-2")
        .output()
        .expect("sh runs");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "3");
}

#[test]
fn the_production_overlay_runs_three_controllers_and_flags_weft_knows() {
    check("production", 3, 2);
}

#[test]
fn the_single_overlay_runs_one_controller_with_its_own_tokens() {
    check("single", 1, 1);
    if let Some(yaml) = render("single") {
        let secret = document(&yaml, "Secret", "weft-tokens");
        assert!(
            secret.contains("admin:") && secret.contains("invoke:"),
            "{secret}"
        );
    }
}

/// What the manifests rely on, on real processes: a controller that binds
/// every address and names its group's members by DNS name forms its
/// group, and a host bound to every address advertises the address others
/// reach it at; both answer the probes.
#[test]
fn a_group_forms_from_names_and_a_host_advertises_its_reachable_address() {
    use weft_tests::{Server, eventually, fact, http_request, weft_at};
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port()
        .to_string();
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let controller_dir = dir.path().join("controller").display().to_string();
    let controller = Server::spawn(
        &args(&[
            "controller",
            "--id",
            "1",
            "--port",
            &port,
            "--bind",
            "0.0.0.0",
            "--peers",
            &format!("1=localhost:{port}"),
            "--data-dir",
            &controller_dir,
            "--metrics-port",
            "0",
            "--no-dashboard",
        ]),
        dir.path(),
    )
    .unwrap();
    let address = format!("localhost:{port}");
    eventually(std::time::Duration::from_secs(30), || {
        let out = weft_at(&address, &["status"]);
        fact(out.status.success(), || {
            String::from_utf8_lossy(&out.stderr).into_owned()
        })
    })
    .unwrap();
    let host_dir = dir.path().join("host").display().to_string();
    let host = Server::spawn(
        &args(&[
            "host",
            "--controller",
            &address,
            "--id",
            "pod-1",
            "--port",
            "0",
            "--bind",
            "0.0.0.0",
            "--advertise",
            "127.0.0.1",
            "--data-dir",
            &host_dir,
            "--metrics-port",
            "0",
        ]),
        dir.path(),
    )
    .unwrap();
    let nodes = eventually(std::time::Duration::from_secs(30), || {
        let out = weft_at(&address, &["list", "nodes"]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        fact(text.contains("pod-1") && text.contains("alive"), || {
            text.clone()
        })
        .map(|_| text)
    })
    .unwrap();
    assert!(
        nodes.contains("127.0.0.1:") && !nodes.contains("0.0.0.0"),
        "{nodes}"
    );
    for server in [&controller, &host] {
        let metrics = server.metrics_address.as_deref().expect("metrics");
        let metrics = metrics.replace("0.0.0.0", "127.0.0.1");
        eventually(std::time::Duration::from_secs(10), || {
            let (status, body) =
                http_request(&metrics, "GET", "/readyz", b"").map_err(|e| e.to_string())?;
            fact(status == 200, || body.clone())
        })
        .unwrap();
    }
}
