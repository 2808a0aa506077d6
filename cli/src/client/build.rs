//! `weft build`: a component from a Rust crate (cargo), a Python app
//! (componentize-py) or a JavaScript module (componentize-js), detected
//! from the files present.
//!
//! Python and JavaScript apps follow those tools' project conventions: a
//! `wit/` directory with the app's world beside `app.py` or `app.js`. A
//! world that uses `weft:runtime` gets weft's WIT as a dependency without
//! copying it, and a Python app gets the `weft_guest` package, both carried
//! inside this binary. The language tools are installed into a cache on
//! first use.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// `weft build`'s arguments.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// The project: a Rust crate (`Cargo.toml`), or a directory with `wit/`
    /// and `app.py` (Python) or `app.js` (JavaScript).
    #[arg(default_value = ".")]
    path: PathBuf,
    /// Where to write the component [default: the crate's cargo output,
    /// or PATH/WORLD.wasm].
    #[arg(short = 'o', long = "out")]
    out: Option<PathBuf>,
    /// The WIT world to build, when `wit/` has several.
    #[arg(long)]
    world: Option<String>,
    /// The app's entry file, when it is not `app.py` or `app.js`.
    #[arg(long)]
    entry: Option<PathBuf>,
}

/// weft's WIT (`weft:runtime`), given to worlds that import it.
const RUNTIME_WIT: &[(&str, &str)] = &[
    ("actors.wit", include_str!("../../../wit/actors.wit")),
    ("gpu.wit", include_str!("../../../wit/gpu.wit")),
    ("log.wit", include_str!("../../../wit/log.wit")),
    ("objects.wit", include_str!("../../../wit/objects.wit")),
    ("serve.wit", include_str!("../../../wit/serve.wit")),
    ("tasks.wit", include_str!("../../../wit/tasks.wit")),
    ("types.wit", include_str!("../../../wit/types.wit")),
    ("worlds.wit", include_str!("../../../wit/worlds.wit")),
];

/// `weft:runtime/awaits` (`async func`s for concurrent actors), given only
/// to worlds that import it: a toolchain that cannot read `async func`
/// then never meets it.
const AWAITS_WIT: (&str, &str) = ("awaits.wit", include_str!("../../../wit/awaits.wit"));

/// The Python guest SDK (`sdk/python-guest`), put on a Python app's path.
const PYTHON_GUEST: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../../sdk/python-guest/weft_guest/__init__.py"),
    ),
    (
        "_common.py",
        include_str!("../../../sdk/python-guest/weft_guest/_common.py"),
    ),
    (
        "actors.py",
        include_str!("../../../sdk/python-guest/weft_guest/actors.py"),
    ),
    (
        "awaits.py",
        include_str!("../../../sdk/python-guest/weft_guest/awaits.py"),
    ),
    (
        "log.py",
        include_str!("../../../sdk/python-guest/weft_guest/log.py"),
    ),
    (
        "objects.py",
        include_str!("../../../sdk/python-guest/weft_guest/objects.py"),
    ),
    (
        "tasks.py",
        include_str!("../../../sdk/python-guest/weft_guest/tasks.py"),
    ),
    (
        "values.py",
        include_str!("../../../sdk/python-guest/weft_guest/values.py"),
    ),
];

/// The JavaScript guest SDK (`sdk/js-guest`), staged beside a JavaScript
/// app as `weft-guest/`.
const JS_GUEST: &[(&str, &str)] = &[
    (
        "common.js",
        include_str!("../../../sdk/js-guest/weft-guest/common.js"),
    ),
    (
        "tasks.js",
        include_str!("../../../sdk/js-guest/weft-guest/tasks.js"),
    ),
    (
        "objects.js",
        include_str!("../../../sdk/js-guest/weft-guest/objects.js"),
    ),
    (
        "actors.js",
        include_str!("../../../sdk/js-guest/weft-guest/actors.js"),
    ),
    (
        "log.js",
        include_str!("../../../sdk/js-guest/weft-guest/log.js"),
    ),
    (
        "values.js",
        include_str!("../../../sdk/js-guest/weft-guest/values.js"),
    ),
];

/// The componentize-py release `weft build` installs.
const COMPONENTIZE_PY: &str = "componentize-py==0.25.1";
/// The npm package `weft build` installs for JavaScript.
const COMPONENTIZE_JS: &str = "@bytecodealliance/componentize-js@0.23.0";

enum Project {
    Rust,
    Python(PathBuf),
    JavaScript(PathBuf),
}

/// Runs `weft build`.
pub fn build(args: BuildArgs) -> anyhow::Result<()> {
    let dir = &args.path;
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    let project = detect(dir, args.entry.as_deref())?;
    let out = match project {
        Project::Rust => build_rust(dir, args.out.as_deref())?,
        Project::Python(entry) => {
            let (wit, world) = staged_wit(dir, args.world.as_deref())?;
            let out = args
                .out
                .unwrap_or_else(|| dir.join(format!("{world}.wasm")));
            build_python(dir, &entry, wit.path(), &world, &out)?;
            out
        }
        Project::JavaScript(entry) => {
            let (wit, world) = staged_wit(dir, args.world.as_deref())?;
            let out = args
                .out
                .unwrap_or_else(|| dir.join(format!("{world}.wasm")));
            build_js(dir, &entry, wit.path(), &world, &out)?;
            out
        }
    };
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    println!("{} ({})", out.display(), weft_proto::format_bytes(size));
    Ok(())
}

fn detect(dir: &Path, entry: Option<&Path>) -> anyhow::Result<Project> {
    if entry.is_none() && dir.join("Cargo.toml").is_file() {
        return Ok(Project::Rust);
    }
    let has_wit = dir.join("wit").is_dir();
    let entry = match entry {
        Some(e) => Some(dir.join(e)),
        None => ["app.py", "app.js"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.is_file()),
    };
    match (has_wit, entry) {
        (true, Some(e)) if e.extension().is_some_and(|x| x == "py") => Ok(Project::Python(e)),
        (true, Some(e)) if e.extension().is_some_and(|x| x == "js" || x == "mjs") => {
            Ok(Project::JavaScript(e))
        }
        (true, Some(e)) => bail!(
            "{} is neither Python (.py) nor JavaScript (.js)",
            e.display()
        ),
        (false, Some(e)) => bail!(
            "{} has {} but no wit/ directory with the world it implements",
            dir.display(),
            e.file_name().unwrap_or_default().to_string_lossy()
        ),
        _ => bail!(
            "nothing to build in {}: looked for Cargo.toml (a Rust crate), or a wit/ directory beside app.py (Python, componentize-py) or app.js (JavaScript, componentize-js)",
            dir.display()
        ),
    }
}

fn build_rust(dir: &Path, out: Option<&Path>) -> anyhow::Result<PathBuf> {
    eprintln!("weft build: a Rust crate: cargo build --release --target wasm32-wasip2");
    let manifest = dir.join("Cargo.toml");
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format",
            "json-render-diagnostics",
            "--manifest-path",
        ])
        .arg(&manifest)
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run cargo (is Rust installed? https://rustup.rs)")?;
    if !output.status.success() {
        bail!(
            "cargo could not build {} (see its errors above; is the target installed? rustup target add wasm32-wasip2)",
            manifest.display()
        );
    }
    let manifest = manifest.canonicalize()?;
    let built = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter(|m| m["manifest_path"].as_str().map(Path::new) == Some(manifest.as_path()))
        .flat_map(|m| {
            m["filenames"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|f| f.as_str().map(PathBuf::from))
        })
        .find(|f| f.extension().is_some_and(|x| x == "wasm"))
        .with_context(|| {
            format!(
                "cargo built no .wasm for {} (a component crate has `crate-type = [\"cdylib\"]`)",
                manifest.display()
            )
        })?;
    match out {
        Some(out) => {
            std::fs::copy(&built, out)
                .with_context(|| format!("cannot write {}", out.display()))?;
            Ok(out.to_path_buf())
        }
        None => Ok(built),
    }
}

/// The worlds declared in `wit/`'s own files (not its deps).
fn worlds(wit: &Path) -> anyhow::Result<Vec<String>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(wit).with_context(|| format!("cannot read {}", wit.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "wit") {
            let text = std::fs::read_to_string(&path)?;
            for line in text.lines() {
                let line = line.trim_start();
                if let Some(rest) = line.strip_prefix("world ") {
                    let name: String = rest
                        .trim_start()
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '%')
                        .collect();
                    found.push(name.trim_start_matches('%').to_string());
                }
            }
        }
    }
    Ok(found)
}

/// A copy of `dir/wit` with weft's WIT added as a dependency when the app
/// uses it and does not carry it, and the world to build.
fn staged_wit(dir: &Path, world: Option<&str>) -> anyhow::Result<(tempfile::TempDir, String)> {
    let wit = dir.join("wit");
    let declared = worlds(&wit)?;
    let world = match (world, declared.as_slice()) {
        (Some(w), _) if declared.iter().any(|d| d == w) => w.to_string(),
        (Some(w), _) => bail!(
            "wit/ has no world `{w}` (it has: {})",
            if declared.is_empty() {
                "none".into()
            } else {
                declared.join(", ")
            }
        ),
        (None, [only]) => only.clone(),
        (None, []) => bail!("{} declares no world", wit.display()),
        (None, many) => bail!(
            "{} declares several worlds ({}): choose one with --world",
            wit.display(),
            many.join(", ")
        ),
    };
    let staged = tempfile::tempdir()?;
    copy_dir(&wit, staged.path())?;
    let text = text_of(&wit)?;
    let uses_runtime = text.contains("weft:runtime");
    // The guest SDKs speak the current version; components built against
    // 0.1.0 keep running, but a build targets 0.2.0.
    if uses_runtime && text.contains("@0.1.0") {
        bail!(
            "{} imports weft:runtime@0.1.0: `weft build` builds against weft:runtime@0.2.0 (whose tasks carry binary values); change the world's `@0.1.0` imports to `@0.2.0`",
            wit.display()
        );
    }
    let has_runtime = text_of(staged.path())?.contains("package weft:runtime");
    if uses_runtime && !has_runtime {
        let deps = staged.path().join("deps").join("weft-runtime");
        std::fs::create_dir_all(&deps)?;
        for (name, text) in RUNTIME_WIT {
            std::fs::write(deps.join(name), text)?;
        }
        if text.contains("weft:runtime/awaits") {
            std::fs::write(deps.join(AWAITS_WIT.0), AWAITS_WIT.1)?;
        }
    }
    Ok((staged, world))
}

/// Every `.wit` file's text below `dir`, concatenated.
fn text_of(dir: &Path) -> anyhow::Result<String> {
    let mut text = String::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            text.push_str(&text_of(&path)?);
        } else if path.extension().is_some_and(|x| x == "wit") {
            text.push_str(&std::fs::read_to_string(&path)?);
        }
    }
    Ok(text)
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    copy_dir_except(from, to, &[])
}

/// Copies `from` into `to`, leaving out top-level entries named in `skip`.
fn copy_dir_except(from: &Path, to: &Path, skip: &[&str]) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if skip.iter().any(|s| entry.file_name() == *s) {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Where `weft build` keeps the language tools it installs.
fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WEFT_TOOLS") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir);
    cache.join("weft").join("tools")
}

fn run(command: &mut Command, what: &str) -> anyhow::Result<()> {
    let status = command
        .status()
        .with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed ({status}); see its output above");
    }
    Ok(())
}

/// A language tool: `name` on PATH, else `bin` below the tools cache, else
/// installed there by `install` (given the cache dir) first.
fn tool(
    name: &str,
    package: &str,
    cache: &str,
    bin: &[&str],
    install: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<PathBuf> {
    if let Some(found) = on_path(name) {
        return Ok(found);
    }
    let dir = tools_dir().join(cache);
    let path = bin.iter().fold(dir.clone(), |p, part| p.join(part));
    if !path.is_file() {
        eprintln!(
            "weft build: installing {package} into {} (once)…",
            dir.display()
        );
        install(&dir)?;
    }
    Ok(path)
}

/// componentize-py, installed with python3's venv and pip.
fn componentize_py() -> anyhow::Result<PathBuf> {
    tool(
        "componentize-py",
        COMPONENTIZE_PY,
        "componentize-py",
        &["bin", "componentize-py"],
        |venv| {
            let python = on_path("python3").context(
                "a Python app needs componentize-py, which weft installs with python3: python3 was not found on PATH",
            )?;
            run(
                Command::new(python).arg("-m").arg("venv").arg(venv),
                "python3 -m venv",
            )?;
            run(
                Command::new(venv.join("bin").join("pip")).args([
                    "install",
                    "--quiet",
                    COMPONENTIZE_PY,
                ]),
                "pip install componentize-py",
            )
        },
    )
}

fn build_python(
    dir: &Path,
    entry: &Path,
    wit: &Path,
    world: &str,
    out: &Path,
) -> anyhow::Result<()> {
    let tool = componentize_py()?;
    let sdk = tempfile::tempdir()?;
    let package = sdk.path().join("weft_guest");
    std::fs::create_dir_all(&package)?;
    for (name, text) in PYTHON_GUEST {
        std::fs::write(package.join(name), text)?;
    }
    let module = entry
        .file_stem()
        .context("the entry has no file name")?
        .to_string_lossy()
        .to_string();
    let app_dir = entry.parent().unwrap_or(dir);
    eprintln!("weft build: a Python app: componentize-py, world `{world}`, module `{module}`");
    run(
        Command::new(tool)
            .arg("-d")
            .arg(wit)
            .arg("-w")
            .arg(world)
            .arg("componentize")
            .arg(&module)
            .arg("-p")
            .arg(app_dir)
            .arg("-p")
            .arg(sdk.path())
            .arg("-o")
            .arg(out),
        "componentize-py",
    )
}

/// componentize-js, installed with npm.
fn componentize_js() -> anyhow::Result<PathBuf> {
    tool(
        "componentize-js",
        COMPONENTIZE_JS,
        "js",
        &["node_modules", ".bin", "componentize-js"],
        |prefix| {
            let npm = on_path("npm").context(
                "a JavaScript app needs componentize-js, which weft installs with npm: npm was not found on PATH (install Node.js)",
            )?;
            std::fs::create_dir_all(prefix)?;
            run(
                Command::new(npm)
                    .arg("install")
                    .arg("--silent")
                    .arg("--prefix")
                    .arg(prefix)
                    .arg(COMPONENTIZE_JS),
                "npm install",
            )
        },
    )
}

/// Builds a JavaScript module: the app's directory is staged with the
/// `weft-guest/` modules beside it, so `import * as tasks from
/// './weft-guest/tasks.js'` resolves.
fn build_js(dir: &Path, entry: &Path, wit: &Path, world: &str, out: &Path) -> anyhow::Result<()> {
    let tool = componentize_js()?;
    let staged = tempfile::tempdir()?;
    let app = staged.path().join("app");
    copy_dir_except(dir, &app, &["node_modules", "wit", ".git"])?;
    let sdk = app.join("weft-guest");
    std::fs::create_dir_all(&sdk)?;
    for (name, text) in JS_GUEST {
        std::fs::write(sdk.join(name), text)?;
    }
    let entry = app.join(entry.strip_prefix(dir).unwrap_or(entry));
    let out = std::path::absolute(out)?;
    eprintln!("weft build: a JavaScript module: componentize-js, world `{world}`");
    run(
        Command::new(tool)
            .current_dir(&app)
            .arg(&entry)
            .arg("--wit")
            .arg(wit)
            .arg("--world-name")
            .arg(world)
            .arg("--out")
            .arg(&out),
        "componentize-js",
    )
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(name))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_directory_says_what_it_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let err = detect(dir.path(), None).err().unwrap().to_string();
        assert!(err.contains("looked for Cargo.toml"), "{err}");
        std::fs::write(dir.path().join("app.py"), "").unwrap();
        let err = detect(dir.path(), None).err().unwrap().to_string();
        assert!(err.contains("no wit/ directory"), "{err}");
    }

    #[test]
    fn worlds_are_read_from_the_wit_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.wit"),
            "package a:b;\nworld one {\n}\n\nworld two{ export f: func(); }\n",
        )
        .unwrap();
        assert_eq!(worlds(dir.path()).unwrap(), ["one", "two"]);
    }
}
