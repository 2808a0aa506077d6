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
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// Paths of the guest components the build script compiled.
pub mod guests {
    include!(concat!(env!("OUT_DIR"), "/guests.rs"));
}

/// The `weft` binary of this build: next to the test executable's `deps/`.
pub fn weft_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in <target>/<profile>/deps");
    let bin = profile_dir.join(format!("weft{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p weft-cli, or run the whole workspace's tests)",
        bin.display()
    );
    bin
}

/// A `weft up` process with its own data dir on an ephemeral port; stopped
/// (SIGKILL) when dropped.
pub struct Cluster {
    child: Option<Child>,
    /// `127.0.0.1:PORT`.
    pub address: String,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    log: PathBuf,
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
        std::fs::create_dir_all(data_dir)?;
        let log = data_dir.join(format!("weft-up-{}.log", unique()));
        let mut child = Command::new(weft_bin())
            .args(["up", "--port", "0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("WEFT_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log)?)
            .spawn()
            .context("starting weft up")?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("weft up: listening on ") {
                    let addr = rest
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = tx.send(addr);
                }
            }
        });
        let address = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                bail!(
                    "weft up did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        Ok(Cluster {
            child: Some(child),
            address,
            data_dir: data_dir.to_path_buf(),
            _temp: None,
            log,
        })
    }

    /// The cluster's data dir.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// What `weft up` has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs the `weft` CLI against this cluster.
    pub fn weft(&self, args: &[&str]) -> Output {
        Command::new(weft_bin())
            .args(args)
            .env("WEFT_ADDRESS", &self.address)
            .env_remove("WEFT_LOG")
            .output()
            .expect("running weft")
    }

    /// Runs the CLI and returns its stdout, failing with its stderr.
    pub fn weft_ok(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.weft(args);
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
    pub fn weft_err(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self.weft(args);
        if out.status.success() {
            bail!(
                "weft {} should have failed but printed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }

    /// Stops the cluster with SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let mut child = self.child.take().context("already stopped")?;
        let pid = child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!("weft up exited with {status}: {}", self.log());
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("weft up did not stop within 20s of SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
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

/// Writes `bytes` to a file in `dir` and returns its path as a string.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("writing fixture");
    path.display().to_string()
}
