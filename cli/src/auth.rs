//! Tokens on disk: `weft up` makes the cluster's tokens on first start
//! (kept 0600 in its data dir) and leaves the admin token where clients on
//! this machine find it by address; `weft controller` and `weft host` read
//! theirs from `--auth-token-file`. See `weft_proto::auth` for who may
//! call what.

use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use weft_proto::auth::Keys;

/// The token flags of servers.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct AuthArgs {
    /// The cluster's admin token, in a file: callers must send it (or the
    /// invoke token) with every request. `weft up` makes one in its data
    /// dir on first start.
    #[arg(long)]
    pub auth_token_file: Option<PathBuf>,
    /// A token that runs work (calls, tasks, objects, actor calls, logs)
    /// but cannot change the cluster (deploys, routes, key-value writes,
    /// membership, kills).
    #[arg(long)]
    pub invoke_token_file: Option<PathBuf>,
    /// Serve without tokens: anyone who can reach the ports may deploy,
    /// run and read everything. For loopback development only.
    #[arg(long, conflicts_with_all = ["auth_token_file", "invoke_token_file"])]
    pub insecure_no_auth: bool,
}

/// 32 random bytes, hex.
fn make_token() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("cannot read /dev/urandom for a token")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Writes `text` to `path`, readable by its owner only.
pub fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.exists()
    {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    file.write_all(text.as_bytes())?;
    Ok(())
}

fn read(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the token file {}", path.display()))?;
    let token = text.trim().to_string();
    anyhow::ensure!(
        !token.is_empty(),
        "the token file {} is empty",
        path.display()
    );
    Ok(token)
}

fn read_or_make(path: &Path) -> anyhow::Result<String> {
    if path.exists() {
        return read(path);
    }
    let token = make_token()?;
    write_private(path, &token)?;
    Ok(token)
}

/// Removes the token `weft up` left for local clients of `address`, if it
/// is still this process's: a stopped cluster's token would otherwise be
/// sent to whatever listens on that address next, and be refused there
/// as the wrong one.
pub fn forget_local_token(address: &str) {
    let Some(path) = weft_proto::auth::local_token_path(address) else {
        return;
    };
    let mine = weft_proto::auth::token_for(address);
    let left = std::fs::read_to_string(&path).ok();
    if mine.is_some() && left.as_deref().map(str::trim) == mine.as_deref() {
        let _ = std::fs::remove_file(path);
    }
}

impl AuthArgs {
    /// `weft up`'s keys: the files given, else its own in `data_dir` (made
    /// on first start), unless `--insecure-no-auth`. Tells clients on this
    /// machine the admin token for `address`, and returns a line for the
    /// start message.
    pub fn for_up(&self, data_dir: &Path, address: &str) -> anyhow::Result<(Arc<Keys>, String)> {
        let local = weft_proto::auth::local_token_path(address);
        if self.insecure_no_auth {
            if let Some(local) = &local {
                let _ = std::fs::remove_file(local);
            }
            let line = format!(
                "auth OFF (--insecure-no-auth): anyone who reaches {address} may deploy and run code"
            );
            return Ok((Arc::new(Keys::default()), line));
        }
        let admin_file = self
            .auth_token_file
            .clone()
            .unwrap_or_else(|| data_dir.join("auth-token"));
        let invoke_file = self
            .invoke_token_file
            .clone()
            .unwrap_or_else(|| data_dir.join("invoke-token"));
        let admin = read_or_make(&admin_file)?;
        let invoke = read_or_make(&invoke_file)?;
        if let Some(local) = &local {
            write_private(local, &admin)?;
        }
        weft_proto::auth::set_token(Some(admin.clone()));
        let line = format!(
            "auth on: admin token in {}, invoke token in {}",
            admin_file.display(),
            invoke_file.display()
        );
        Ok((Arc::new(Keys::new(Some(admin), Some(invoke))), line))
    }

    /// A controller's or host's keys: from the files given, or none (the
    /// line says so).
    pub fn for_server(&self) -> anyhow::Result<(Arc<Keys>, String)> {
        let Some(admin_file) = &self.auth_token_file else {
            let line = "auth OFF: no --auth-token-file; anyone who reaches this port may call it";
            return Ok((Arc::new(Keys::default()), line.to_string()));
        };
        let admin = read(admin_file)?;
        let invoke = self.invoke_token_file.as_deref().map(read).transpose()?;
        weft_proto::auth::set_token(Some(admin.clone()));
        let line = format!("auth on: token from {}", admin_file.display());
        Ok((Arc::new(Keys::new(Some(admin), invoke)), line))
    }
}

/// A client's `--token-file`: the token every request of this process
/// sends.
pub fn use_token_file(path: Option<&Path>) -> anyhow::Result<()> {
    if let Some(path) = path {
        weft_proto::auth::set_token(Some(read(path)?));
    }
    Ok(())
}
