//! The harness for weft's end-to-end tests: real `weft` processes on
//! loopback ports, real components built from `tests/guests/` and
//! `examples/`, real data dirs.
//!
//! ```no_run
//! let cluster = weft_tests::Cluster::start().unwrap();
//! let out = cluster.weft(&["deploy", weft_tests::guests::HELLO, "--name", "hello"]);
//! assert!(out.status.success());
//! ```

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

pub mod browser;
pub mod linearizability;
mod wait;

pub use wait::{eventually, eventually_async, fact};

/// Paths of the guest components the build script compiled.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// A multi-thread runtime for a test's own clients.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The `weft` binary of this build: next to the test executable's `deps/`,
/// and built from the sources under test (checked once per process).
pub fn weft_bin() -> PathBuf {
    static CHECKED: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let exe = std::env::current_exe().map_err(|e| e.to_string())?;
            let profile_dir = exe
                .parent()
                .and_then(|deps| deps.parent())
                .ok_or("test binary lives in <target>/<profile>/deps")?;
            let bin = profile_dir.join(format!("weft{}", std::env::consts::EXE_SUFFIX));
            check_fresh(&bin)?;
            Ok(bin)
        })
        .clone()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The folders whose sources go into the `weft` binary, from the
/// workspace root.
const WEFT_SOURCES: &[&str] = &[
    "proto",
    "values",
    "core",
    "controller",
    "host",
    "cli",
    "sdk/rust/client",
    "wit",
];

/// Fails when `bin` is missing or older than a source it is built from: a
/// test run against a stale binary tests code that is not under test.
fn check_fresh(bin: &Path) -> Result<(), String> {
    let rebuild = "build it first (cargo build -p weft-cli, or run scripts/test)";
    let built = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .map_err(|e| format!("{} is missing ({e}): {rebuild}", bin.display()))?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .ok_or("the tests crate sits in the workspace")?;
    let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
    let mut dirs: Vec<PathBuf> = WEFT_SOURCES.iter().map(|d| root.join(d)).collect();
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                // Build outputs and installed packages are not sources.
                if !matches!(name.to_str(), Some("target" | "node_modules")) {
                    dirs.push(path);
                }
                continue;
            }
            let source = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                matches!(e, "rs" | "proto" | "wit" | "toml" | "html" | "js" | "css")
            });
            if let (true, Ok(modified)) = (source, meta.modified())
                && newest.as_ref().is_none_or(|(t, _)| modified > *t)
            {
                newest = Some((modified, path));
            }
        }
    }
    match newest {
        Some((modified, path)) if modified > built => Err(format!(
            "{} is older than {}: {rebuild}",
            bin.display(),
            path.display()
        )),
        _ => Ok(()),
    }
}

/// One running `weft` server process (`weft up` or `weft controller`): its
/// child, its log file, the address it printed. Killed when dropped.
pub struct Server {
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub address: String,
    /// The HTTP gateway's `127.0.0.1:PORT`, when started with `--http-port`.
    pub http_address: Option<String>,
    /// The metrics endpoint's `127.0.0.1:PORT`, when started with
    /// `--metrics-port`.
    pub metrics_address: Option<String>,
    /// The web dashboard's `http://127.0.0.1:PORT/`, when it serves one.
    pub dashboard: Option<String>,
    log: PathBuf,
}

impl Server {
    /// Spawns `weft ARGS` and waits for its "listening on" line.
    pub fn spawn(args: &[String], log_dir: &Path) -> anyhow::Result<Self> {
        Self::spawn_with_env(args, log_dir, &[])
    }

    /// [`Server::spawn`] with `env` added to its environment.
    pub fn spawn_with_env(
        args: &[String],
        log_dir: &Path,
        env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(log_dir)?;
        let log = log_dir.join(format!("weft-{}.log", unique()));
        let mut child = Command::new(weft_bin())
            .args(args)
            .env("WEFT_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting weft")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let (mut http, mut metrics, mut dashboard) = (None, None, None);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // `weft up: dashboard on http://ADDR/`
                if let Some((_, rest)) = line.split_once(": dashboard on ") {
                    dashboard = Some(rest.trim().to_string());
                    continue;
                }
                // `weft up: metrics on http://ADDR/metrics`
                if let Some((_, rest)) = line.split_once(": metrics on http://") {
                    metrics = Some(rest.trim().trim_end_matches("/metrics").to_string());
                    continue;
                }
                let gateway = line
                    .strip_prefix("weft up: http gateway on ")
                    .or_else(|| line.strip_prefix("weft host: http gateway on "));
                if let Some(rest) = gateway {
                    // `ADDR` or `ADDR (https)`.
                    http = rest.split_whitespace().next().map(str::to_string);
                    continue;
                }
                // `weft host: ID on ADDR with ...`
                if let Some(rest) = line.strip_prefix("weft host: ") {
                    let addr = rest
                        .split_whitespace()
                        .nth(2)
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send((addr, http.clone(), metrics.clone(), dashboard.clone()));
                }
                if let Some(rest) = line.strip_prefix("weft up: listening on ") {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send((addr, http.clone(), metrics.clone(), dashboard.clone()));
                }
            }
        });
        let (address, http_address, metrics_address, dashboard) =
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(a) => a,
                Err(_) => {
                    let _ = child.kill();
                    bail!(
                        "weft {} did not start: {}",
                        args.join(" "),
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
            };
        Ok(Server {
            child: Some(child),
            address,
            http_address,
            metrics_address,
            dashboard,
            log,
        })
    }

    /// What the process has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, no goodbye: a crash.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process with SIGTERM and waits for a clean exit.
    pub fn stop(&mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("already stopped")?;
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let exited = eventually(Duration::from_secs(20), || match child.try_wait() {
            Ok(Some(status)) => Ok(Ok(status)),
            Ok(None) => Err("still running after SIGTERM".to_string()),
            Err(e) => Ok(Err(e)),
        });
        let status = match exited {
            Ok(status) => status?,
            Err(e) => {
                let _ = child.kill();
                bail!("weft did not stop: {e}");
            }
        };
        if !status.success() {
            bail!("weft exited with {status}: {}", self.log());
        }
        Ok(())
    }

    /// The process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Whether the process is still running.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs the `weft` CLI against `address` (one or a comma-separated list).
pub fn weft_at(address: &str, args: &[&str]) -> Output {
    Command::new(weft_bin())
        .args(args)
        .env("WEFT_ADDRESS", address)
        .env_remove("WEFT_LOG")
        .output()
        .expect("running weft")
}

/// Runs the CLI and returns its stdout, failing with its stderr.
pub fn weft_ok_at(address: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = weft_at(address, args);
    if !out.status.success() {
        bail!(
            "weft {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Runs the CLI expecting failure; returns its stderr.
pub fn weft_err_at(address: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = weft_at(address, args);
    if out.status.success() {
        bail!(
            "weft {} should have failed but printed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stderr).trim().to_string())
}

/// A `weft up` process with its own data dir on an ephemeral port.
pub struct Cluster {
    server: Server,
    /// `127.0.0.1:PORT`.
    pub address: String,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    _shm: tempfile::TempDir,
}

impl Cluster {
    /// Starts a cluster on a fresh temporary data dir.
    pub fn start() -> anyhow::Result<Self> {
        let temp = tempfile::tempdir()?;
        let mut cluster = Self::start_in(temp.path())?;
        cluster._temp = Some(temp);
        Ok(cluster)
    }

    /// Starts a cluster on `data_dir` (kept after the cluster stops).
    pub fn start_in(data_dir: &Path) -> anyhow::Result<Self> {
        Self::start_with(data_dir, &[])
    }

    /// Starts a cluster on `data_dir` with extra `weft up` flags.
    pub fn start_with(data_dir: &Path, extra: &[&str]) -> anyhow::Result<Self> {
        let mut args: Vec<String> = vec![
            "up".into(),
            "--port".into(),
            "0".into(),
            "--data-dir".into(),
        ];
        args.push(data_dir.display().to_string());
        let shm = shm_dir()?;
        if !extra.contains(&"--store-dir") {
            args.push("--store-dir".into());
            args.push(shm.path().join("store").display().to_string());
        }
        // Compiled artifacts stay with the cluster's data (a restart on
        // the same data dir loads them), not in the user's cache.
        if !extra.contains(&"--cache-dir") {
            args.push("--cache-dir".into());
            args.push(data_dir.join("cache").display().to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        let tls = tls_everywhere() && !extra.contains(&"--tls");
        if tls {
            args.push("--tls".into());
        }
        let server = Server::spawn(&args, data_dir)?;
        if tls {
            // This test process's own clients (and HTTPS requests) use the
            // certificates the cluster made.
            let dir = data_dir.join("tls");
            use_certificates(
                &dir.join("ca.pem"),
                &dir.join("node.pem"),
                &dir.join("node-key.pem"),
            )?;
        }
        Ok(Cluster {
            address: server.address.clone(),
            server,
            data_dir: data_dir.to_path_buf(),
            _temp: None,
            _shm: shm,
        })
    }

    /// The HTTP gateway's address (started with `--http-port`).
    pub fn http_address(&self) -> Option<&str> {
        self.server.http_address.as_deref()
    }

    /// The web dashboard's `http://127.0.0.1:PORT/`.
    pub fn dashboard(&self) -> Option<&str> {
        self.server.dashboard.as_deref()
    }

    /// The `weft up` process's id.
    pub fn pid(&self) -> Option<u32> {
        self.server.pid()
    }

    /// The cluster's data dir.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// What `weft up` has logged so far.
    pub fn log(&self) -> String {
        self.server.log()
    }

    /// Runs the `weft` CLI against this cluster.
    pub fn weft(&self, args: &[&str]) -> Output {
        weft_at(&self.address, args)
    }

    /// Runs the CLI and returns its stdout, failing with its stderr.
    pub fn weft_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        weft_ok_at(&self.address, args)
    }

    /// Runs the CLI expecting failure; returns its stderr.
    pub fn weft_err(&self, args: &[&str]) -> anyhow::Result<String> {
        weft_err_at(&self.address, args)
    }

    /// Stops the cluster with SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        self.server.stop()
    }
}

/// A temporary directory on /dev/shm (shared memory) where there is one.
fn shm_dir() -> anyhow::Result<tempfile::TempDir> {
    let base = Path::new("/dev/shm");
    Ok(if base.is_dir() {
        tempfile::Builder::new()
            .prefix("weft-test-")
            .tempdir_in(base)?
    } else {
        tempfile::tempdir()?
    })
}

/// FNV-1a (64-bit) of `bytes`, as the testkit guest's `checksum` computes it.
pub fn fnv(bytes: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// `len` bytes of the testkit guest's test pattern for `seed`.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u32).wrapping_mul(2_654_435_761) >> 13).wrapping_add(seed) as u8)
        .collect()
}

/// A replicated controller group of `weft controller` processes on
/// loopback, each with its own data dir, that a test can kill and restart.
///
/// Replicas bind port 0 and say which port they got: replica 1 forms the
/// group alone (`--bootstrap`) and the others join it as members
/// (`weft cluster add-member`), so no port is picked before its process
/// binds it. A restarted replica takes its port again, as the group knows
/// it by its address.
pub struct Group {
    /// Each replica's port, once it has started.
    ports: Vec<Option<u16>>,
    servers: Vec<Option<Server>>,
    hosts: std::collections::BTreeMap<String, Server>,
    dir: tempfile::TempDir,
    /// Hosts' object stores: removed with the group, even after a kill.
    shm: tempfile::TempDir,
    extra: Vec<String>,
}

impl Group {
    /// Starts `n` replicas (ids 1..=n) forming one group; `extra` flags go
    /// to every replica (and, with `WEFT_TEST_TLS=1`, certificates from a
    /// development CA of the group's own, which its hosts and CLI use too).
    pub fn start(n: usize, extra: &[&str]) -> anyhow::Result<Self> {
        let mut group = Group::unstarted(n, extra)?;
        let first = group.spawn(1, &["--bootstrap"])?;
        group.servers[0] = Some(first);
        for id in 2..=n as u64 {
            let server = group.spawn(id, &[])?;
            group.servers[id as usize - 1] = Some(server);
        }
        // Replica 1 leads its group of one; the others join it.
        eventually(Duration::from_secs(20), || {
            let leader = group
                .status(1)
                .ok()
                .and_then(|s| s.into_iter().find(|(k, _)| k == "leader").map(|(_, v)| v));
            fact(leader.as_deref() == Some("1"), || {
                format!("replica 1 does not lead its group yet: {leader:?}")
            })
        })?;
        for id in 2..=n as u64 {
            let member = format!("{id}={}", group.address(id));
            weft_ok_at(
                &group.address(1),
                &group.with_token(&["cluster", "add-member", &member]),
            )
            .with_context(|| format!("adding replica {id}"))?;
        }
        Ok(group)
    }

    /// `n` replica slots, none started, with their data dirs; `extra`
    /// flags go to every replica (and, with `WEFT_TEST_TLS=1`, certificates
    /// from a development CA of the group's own, which its hosts and CLI
    /// use too).
    fn unstarted(n: usize, extra: &[&str]) -> anyhow::Result<Self> {
        let mut group = Group {
            ports: vec![None; n],
            servers: (0..n).map(|_| None).collect(),
            hosts: Default::default(),
            dir: tempfile::tempdir()?,
            shm: shm_dir()?,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        if tls_everywhere() && !extra.contains(&"--tls-ca") {
            let certs = group.dir.path().join("certs");
            let made = Command::new(weft_bin())
                .args(["certs", "init"])
                .arg(&certs)
                .output()?;
            anyhow::ensure!(made.status.success(), "weft certs init failed");
            for (flag, file) in [
                ("--tls-ca", "ca.pem"),
                ("--tls-cert", "node.pem"),
                ("--tls-key", "node-key.pem"),
            ] {
                group.extra.push(flag.into());
                group.extra.push(certs.join(file).display().to_string());
            }
            use_certificates(
                &certs.join("ca.pem"),
                &certs.join("node.pem"),
                &certs.join("node-key.pem"),
            )?;
        }
        Ok(group)
    }

    /// Starts `n` replicas that form their group from `--peers`, as a
    /// group with known addresses does: each first starts on port 0 and
    /// waits, uninitialised, to learn its port; then all restart with the
    /// whole member list.
    pub fn start_with_peers(n: usize, extra: &[&str]) -> anyhow::Result<Self> {
        let mut group = Group::unstarted(n, extra)?;
        for id in 1..=n as u64 {
            group.spawn(id, &[])?.stop()?;
        }
        let peers = (1..=n as u64)
            .map(|id| format!("{id}={}", group.address(id)))
            .collect::<Vec<_>>()
            .join(",");
        for id in 1..=n as u64 {
            let server = group.spawn(id, &["--peers", &peers])?;
            group.servers[id as usize - 1] = Some(server);
        }
        Ok(group)
    }

    /// Spawns replica `id` on its data dir, on the port it had (port 0 the
    /// first time), and records the port it listens on.
    fn spawn(&mut self, id: u64, extra: &[&str]) -> anyhow::Result<Server> {
        let port = self.ports[id as usize - 1].unwrap_or(0);
        let data = self.data_dir(id);
        let mut args: Vec<String> = [
            "controller",
            "--id",
            &id.to_string(),
            "--port",
            &port.to_string(),
            "--data-dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(data.display().to_string());
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(self.extra.iter().cloned());
        let server = Server::spawn(&args, &data)?;
        let listening = server
            .address
            .rsplit_once(':')
            .and_then(|(_, port)| port.parse().ok())
            .with_context(|| format!("replica {id} printed no port: {}", server.address))?;
        self.ports[id as usize - 1] = Some(listening);
        Ok(server)
    }

    /// `replicas` controllers (hosts declared dead after 2 s of silence)
    /// with worker hosts of 2 cpus each, `components` (file, name)
    /// deployed: the cluster of the task, object and actor tests.
    pub fn with_hosts(
        replicas: usize,
        hosts: &[(&str, &[&str])],
        components: &[(&str, &str)],
    ) -> Self {
        let mut group =
            Group::start(replicas, &["--host-timeout", "2"]).expect("controllers start");
        group
            .wait_for_leader(Duration::from_secs(20))
            .expect("a leader");
        for (id, extra) in hosts {
            group.start_host(id, 2, extra).expect("host starts");
        }
        for (file, name) in components {
            group
                .weft_ok(&["deploy", file, "--name", name])
                .unwrap_or_else(|e| panic!("deploy {name}: {e}"));
        }
        group
    }

    /// Starts a worker host `id` with `cpus` slots that registers with
    /// the group, and waits until the leader lists it alive.
    pub fn start_host(&mut self, id: &str, cpus: u32, extra: &[&str]) -> anyhow::Result<()> {
        let data = self.dir.path().join(format!("host-{id}"));
        let mut args: Vec<String> = [
            "host",
            "--controller",
            &self.addresses(),
            "--port",
            "0",
            "--id",
            id,
            "--cpus",
            &cpus.to_string(),
            "--heartbeat-ms",
            "200",
            "--data-dir",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(data.display().to_string());
        if !extra.contains(&"--store-dir") {
            args.push("--store-dir".into());
            args.push(self.shm.path().join(id).display().to_string());
        }
        // The group's hosts share one artifact cache, as hosts on one
        // machine do, and no test reads another's.
        if !extra.contains(&"--cache-dir") {
            args.push("--cache-dir".into());
            args.push(self.dir.path().join("artifacts").display().to_string());
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        // The group's certificate, unless the test gives the host its own.
        if !extra.contains(&"--tls-ca") {
            for flag in ["--tls-ca", "--tls-cert", "--tls-key"] {
                if let Some(i) = self.extra.iter().position(|a| a == flag) {
                    args.extend(self.extra[i..i + 2].iter().cloned());
                }
            }
        }
        let server = Server::spawn(&args, &data)?;
        self.hosts.insert(id.to_string(), server);
        eventually(Duration::from_secs(30), || {
            let nodes = self.weft_ok(&["list", "nodes"]).unwrap_or_default();
            fact(
                nodes
                    .lines()
                    .any(|l| l.trim_start().starts_with(&format!("{id} ")) && l.contains("alive")),
                || format!("host {id} has not registered: {nodes}"),
            )
        })
    }

    /// SIGKILLs worker host `id`.
    pub fn kill_host(&mut self, id: &str) {
        if let Some(mut host) = self.hosts.remove(id) {
            host.kill();
        }
    }

    /// Worker host `id`'s process id.
    pub fn host_pid(&self, id: &str) -> Option<u32> {
        self.hosts.get(id).and_then(Server::pid)
    }

    /// Worker host `id`'s metrics endpoint, when started with
    /// `--metrics-port`.
    pub fn host_metrics(&self, id: &str) -> Option<String> {
        self.hosts.get(id).and_then(|h| h.metrics_address.clone())
    }

    /// Replica `id`'s metrics endpoint, when started with `--metrics-port`.
    pub fn metrics_address(&self, id: u64) -> Option<String> {
        self.servers[id as usize - 1]
            .as_ref()
            .and_then(|s| s.metrics_address.clone())
    }

    /// Replica `id`'s web dashboard, when started with `--dashboard-port`.
    pub fn dashboard(&self, id: u64) -> Option<String> {
        self.servers[id as usize - 1]
            .as_ref()
            .and_then(|s| s.dashboard.clone())
    }

    /// Replica `id`'s process id, while it runs.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.servers[id as usize - 1].as_ref().and_then(Server::pid)
    }

    /// Worker host `id`'s log.
    pub fn host_log(&self, id: &str) -> String {
        self.hosts.get(id).map(Server::log).unwrap_or_default()
    }

    /// What a failing test prints to say why: the leader's tasks and hosts,
    /// and the end of every running process's log.
    pub fn diagnosis(&self) -> String {
        let mut out = String::new();
        for args in [&["list", "nodes"][..], &["list", "tasks", "--limit", "100"]] {
            let run = self.weft(args);
            out += &format!(
                "== weft {}\n{}{}\n",
                args.join(" "),
                String::from_utf8_lossy(&run.stdout),
                String::from_utf8_lossy(&run.stderr)
            );
        }
        let tail = |log: String| {
            let lines: Vec<&str> = log.lines().collect();
            lines[lines.len().saturating_sub(60)..].join("\n")
        };
        for (id, host) in &self.hosts {
            out += &format!("== host {id}\n{}\n", tail(host.log()));
        }
        for (i, server) in self.servers.iter().enumerate() {
            if let Some(server) = server {
                out += &format!("== replica {}\n{}\n", i + 1, tail(server.log()));
            }
        }
        out
    }

    /// Replica `id`'s data dir.
    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("node{id}"))
    }

    /// `127.0.0.1:PORT` of replica `id` (which has started once).
    pub fn address(&self, id: u64) -> String {
        let port = self.ports[id as usize - 1]
            .unwrap_or_else(|| panic!("replica {id} has not started yet, so it has no port"));
        format!("127.0.0.1:{port}")
    }

    /// Every started replica's address, comma-separated (what clients are
    /// given).
    pub fn addresses(&self) -> String {
        self.ports
            .iter()
            .flatten()
            .map(|port| format!("127.0.0.1:{port}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Adds a slot for one more replica (not started, not a member); returns its id.
    pub fn reserve(&mut self) -> u64 {
        self.ports.push(None);
        self.servers.push(None);
        self.ports.len() as u64
    }

    /// Starts replica `id` on its data dir (a restart, or a new replica
    /// waiting to be added).
    pub fn start_replica(&mut self, id: u64) -> anyhow::Result<()> {
        let server = self.spawn(id, &[])?;
        self.servers[id as usize - 1] = Some(server);
        Ok(())
    }

    /// SIGKILL replica `id`.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut server) = self.servers[id as usize - 1].take() {
            server.kill();
        }
    }

    /// SIGTERM replica `id` and wait for a clean exit.
    pub fn stop(&mut self, id: u64) -> anyhow::Result<()> {
        match self.servers[id as usize - 1].take() {
            Some(mut server) => server.stop(),
            None => Ok(()),
        }
    }

    /// Ids of the replicas running now.
    pub fn running(&self) -> Vec<u64> {
        (1..=self.servers.len() as u64)
            .filter(|id| self.servers[*id as usize - 1].is_some())
            .collect()
    }

    /// Worker host `id`'s HTTP gateway address (started with `--http-port`).
    pub fn host_http_address(&self, id: &str) -> Option<String> {
        self.hosts.get(id).and_then(|s| s.http_address.clone())
    }

    /// Replica `id`'s log.
    pub fn log(&self, id: u64) -> String {
        self.servers[id as usize - 1]
            .as_ref()
            .map(Server::log)
            .unwrap_or_default()
    }

    /// `weft status` of replica `id`, as `field: value` pairs.
    pub fn status(&self, id: u64) -> anyhow::Result<Vec<(String, String)>> {
        let out = weft_ok_at(&self.address(id), &self.with_token(&["status"]))?;
        Ok(out
            .lines()
            .filter_map(|l| l.trim().split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect())
    }

    /// One numeric field of `weft status` on replica `id`.
    pub fn status_number(&self, id: u64, field: &str) -> anyhow::Result<u64> {
        let status = self.status(id)?;
        let value = status
            .iter()
            .find(|(k, _)| k == field)
            .with_context(|| format!("no `{field}` in status"))?;
        Ok(value.1.parse()?)
    }

    /// Waits until the running replicas agree on a leader; returns its id.
    pub fn wait_for_leader(&self, timeout: Duration) -> anyhow::Result<u64> {
        eventually(timeout, || {
            let leaders: Vec<Option<u64>> = self
                .running()
                .iter()
                .map(|id| {
                    self.status(*id)
                        .ok()
                        .and_then(|s| s.into_iter().find(|(k, _)| k == "leader"))
                        .and_then(|(_, v)| v.parse().ok())
                })
                .collect();
            match leaders.first() {
                Some(Some(first))
                    if leaders.iter().all(|l| *l == Some(*first))
                        && self.running().contains(first) =>
                {
                    Ok(*first)
                }
                _ => Err(format!("no agreed leader: {leaders:?}")),
            }
        })
    }

    /// Runs the CLI against replica `id` alone (its own state, or a
    /// redirect), with the group's token and certificates.
    pub fn weft_ok_on(&self, id: u64, args: &[&str]) -> anyhow::Result<String> {
        weft_ok_at(&self.address(id), &self.with_token(args))
    }

    /// Runs the CLI against the whole group.
    pub fn weft_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        weft_ok_at(&self.addresses(), &self.with_token(args))
    }

    /// Runs the CLI against the whole group, whatever its outcome.
    pub fn weft(&self, args: &[&str]) -> Output {
        weft_at(&self.addresses(), &self.with_token(args))
    }

    /// Runs the CLI against the whole group, expecting failure.
    pub fn weft_err(&self, args: &[&str]) -> anyhow::Result<String> {
        weft_err_at(&self.addresses(), &self.with_token(args))
    }

    /// `args` with the group's token (its replicas' `--auth-token-file`),
    /// if it has one, and the group's TLS flags too: its replicas' certificate
    /// serves as a client's.
    pub fn with_token<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let flag = |name: &str| {
            self.extra
                .iter()
                .position(|a| a == name)
                .and_then(|i| self.extra.get(i + 1))
                .map(String::as_str)
        };
        let mut with = Vec::new();
        if let Some(file) = flag("--auth-token-file") {
            with.extend(["--token-file", file]);
        }
        for name in ["--tls-ca", "--tls-cert", "--tls-key"] {
            if let Some(file) = flag(name) {
                with.extend([name, file]);
            }
        }
        with.extend_from_slice(args);
        with
    }
}

/// Makes this test process's clients use these certificates.
fn use_certificates(ca: &Path, cert: &Path, key: &Path) -> anyhow::Result<()> {
    let tls = weft_proto::tls::Tls::load(ca, Some((cert, key)))?;
    weft_proto::tls::set_tls(Some(std::sync::Arc::new(tls)));
    Ok(())
}

/// `WEFT_TEST_TLS=1`: every cluster the tests start speaks mutual TLS (a
/// run of the whole suite over TLS; the tests that dial plaintext on
/// purpose are told apart by their failures).
pub fn tls_everywhere() -> bool {
    std::env::var("WEFT_TEST_TLS").is_ok_and(|v| v == "1")
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// One HTTP/1.1 request over a fresh connection (no client library, so
/// the test sees exactly what the gateway sends): returns the status and
/// the body.
pub fn http_request(
    address: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> anyhow::Result<(u16, String)> {
    http_request_as(address, method, path, body, None)
}

/// [`http_request`] with `authorization: Bearer TOKEN`.
pub fn http_request_as(
    address: &str,
    method: &str,
    path: &str,
    body: &[u8],
    token: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let headers = bearer(token);
    if let Some(tls) = weft_proto::tls::process_tls().filter(|_| tls_everywhere()) {
        // The gateways of a cluster with TLS speak HTTPS.
        return tls_exchange(&tls, address, method, path, body, &headers);
    }
    let mut stream = std::net::TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    http_exchange(&mut stream, address, method, path, body, &headers)
}

/// [`http_request_as`] over TLS, trusting the CA at `ca`.
pub fn https_request_as(
    address: &str,
    ca: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    token: Option<&str>,
) -> anyhow::Result<(u16, String)> {
    let tls = weft_proto::tls::Tls::load(ca, None)?;
    tls_exchange(&tls, address, method, path, body, &bearer(token))
}

/// An HTTPS request trusting the CA at `ca`, with `headers`.
pub fn https_request_with_headers(
    address: &str,
    ca: &Path,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> anyhow::Result<(u16, String)> {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    let tls = weft_proto::tls::Tls::load(ca, None)?;
    tls_exchange(&tls, address, method, path, body, &headers)
}

/// `authorization: Bearer TOKEN` as a header list (empty: no token).
fn bearer(token: Option<&str>) -> Vec<(String, String)> {
    token
        .map(|t| ("authorization".to_string(), format!("Bearer {t}")))
        .into_iter()
        .collect()
}

/// One request over a fresh TLS connection made with `tls`'s settings.
fn tls_exchange(
    tls: &weft_proto::tls::Tls,
    address: &str,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(String, String)],
) -> anyhow::Result<(u16, String)> {
    let name = weft_proto::tls::server_name(address)?;
    let connection = rustls::ClientConnection::new(tls.rustls_client(), name)?;
    let tcp = std::net::TcpStream::connect(address)?;
    tcp.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut stream = rustls::StreamOwned::new(connection, tcp);
    http_exchange(&mut stream, address, method, path, body, headers)
}

fn http_exchange(
    stream: &mut (impl std::io::Read + std::io::Write),
    address: &str,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(String, String)],
) -> anyhow::Result<(u16, String)> {
    let auth: String = headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\r\n"))
        .collect();

    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {address}\r\n{auth}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    // A server may answer (413) before reading the whole body.
    let _ = stream.write_all(body);
    let _ = stream.flush();
    let mut response = Vec::new();
    if let Err(e) = stream.read_to_end(&mut response)
        // A TLS peer may close without its close_notify once it answered.
        && (e.kind() != std::io::ErrorKind::UnexpectedEof || response.is_empty())
    {
        return Err(e.into());
    }
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").context("no HTTP head")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .context("no status")?
        .parse()?;
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    Ok((
        status,
        if chunked {
            dechunk(rest)
        } else {
            rest.to_string()
        },
    ))
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        text = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// Bytes that are not WebAssembly at all.
pub fn not_wasm() -> Vec<u8> {
    b"#!/bin/sh\necho this is not a component\n".to_vec()
}

/// A valid core module (not a component).
pub fn core_module() -> Vec<u8> {
    wat::parse_str("(module (func (export \"f\") (result i32) i32.const 1))").expect("wat")
}

/// A component that imports an interface no weft host provides.
pub fn component_with_unknown_import() -> Vec<u8> {
    wat::parse_str(
        r#"(component
            (import "evil:thing/danger" (instance (export "boom" (func))))
        )"#,
    )
    .expect("wat")
}

/// A component from its WAT text.
pub fn wat_component(text: &str) -> Vec<u8> {
    wat::parse_str(text).expect("wat")
}

/// Writes `bytes` to a file in `dir` and returns its path as a string.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("writing fixture");
    path.display().to_string()
}

/// Starts a process's peak resident size (`VmHWM`) again from its current
/// size, so a later [`rss`] peak is that of what ran in between.
pub fn reset_peak_rss(pid: u32) -> anyhow::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")
        .with_context(|| format!("resetting the peak RSS of {pid}"))
}

/// A process's memory use from `/proc/PID/status`: (resident now, peak
/// resident), in bytes.
pub fn rss(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .context("no number")?
            .parse()?;
        Ok(kib * 1024)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::check_fresh;

    #[test]
    fn a_binary_older_than_its_sources_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("weft");
        let file = std::fs::File::create(&bin).unwrap();
        file.set_modified(SystemTime::UNIX_EPOCH).unwrap();
        let e = check_fresh(&bin).unwrap_err();
        assert!(
            e.contains("is older than") && e.contains("cargo build -p weft-cli"),
            "{e}"
        );
        file.set_modified(SystemTime::now() + Duration::from_secs(3600))
            .unwrap();
        check_fresh(&bin).unwrap();
        let e = check_fresh(&dir.path().join("absent")).unwrap_err();
        assert!(e.contains("is missing"), "{e}");
    }
}
