//! The runtime-environment flags of `weft submit`, `weft actor create` and
//! `weft job submit`, and `weft secret put|list|delete`.

use std::io::Read;

use anyhow::Context;

use crate::client::connect;

/// What a task, actor or job's guests see beyond the sandbox.
#[derive(clap::Args, Default)]
pub struct RuntimeEnvArgs {
    /// An environment variable its guests see, `KEY=VALUE` (repeatable).
    #[arg(long = "env", alias = "runtime-env", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub env: Vec<(String, String)>,
    /// Configuration its guests read through `wasi:config/store`,
    /// `KEY=VALUE` (repeatable).
    #[arg(long = "config", value_name = "KEY=VALUE", value_parser = parse_pair)]
    pub config: Vec<(String, String)>,
    /// A secret its guests read through `wasi:config/store` under its name
    /// (set with `weft secret put NAME`; repeatable).
    #[arg(long = "secret", value_name = "NAME")]
    pub secrets: Vec<String>,
    /// A directory its host offers (`--dir NAME=PATH` there), which its
    /// guests see at `/NAME` (repeatable).
    #[arg(long = "dir", value_name = "NAME")]
    pub dirs: Vec<String>,
}

impl RuntimeEnvArgs {
    /// The variables, configuration, secrets and directories.
    pub fn parts(&self) -> weft_proto::v1::RuntimeEnv {
        weft_proto::v1::RuntimeEnv {
            env: self.env.iter().cloned().collect(),
            config: self.config.iter().cloned().collect(),
            secrets: self.secrets.clone(),
            dirs: self.dirs.clone(),
        }
    }

    /// Whether no part is given.
    pub fn is_empty(&self) -> bool {
        self.env.is_empty()
            && self.config.is_empty()
            && self.secrets.is_empty()
            && self.dirs.is_empty()
    }
}

/// `KEY=VALUE`.
pub fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("`{text}` is not KEY=VALUE")),
    }
}

#[derive(clap::Subcommand)]
pub enum SecretCommand {
    /// Set a secret from a file or stdin (admin token). Guests whose
    /// runtime environment names it (`--secret NAME`) read it through
    /// `wasi:config/store`; nothing else shows its value.
    Put {
        /// Its name: letters, digits, `_`, `-`, `.`.
        name: String,
        /// Read the value from this file (default: stdin; one trailing
        /// newline is dropped).
        #[arg(long)]
        file: Option<std::path::PathBuf>,
    },
    /// List secrets by name (never their values).
    List,
    /// Remove a secret.
    Delete {
        /// Its name.
        name: String,
    },
}

pub async fn secret(address: &str, command: SecretCommand) -> anyhow::Result<()> {
    let mut client = connect(address).await?;
    match command {
        SecretCommand::Put { name, file } => {
            let mut value = match file {
                Some(path) => std::fs::read(&path)
                    .with_context(|| format!("cannot read {}", path.display()))?,
                None => {
                    let mut buf = Vec::new();
                    std::io::stdin()
                        .read_to_end(&mut buf)
                        .context("cannot read the secret from stdin")?;
                    buf
                }
            };
            if value.last() == Some(&b'\n') {
                value.pop();
            }
            let existed = client.put_secret(&name, value).await?;
            println!("{} secret {name}", if existed { "replaced" } else { "set" });
        }
        SecretCommand::List => {
            crate::client::print_lines(&client.secrets().await?, "no secrets", String::clone);
        }
        SecretCommand::Delete { name } => {
            if client.delete_secret(&name).await? {
                println!("deleted secret {name}");
            } else {
                anyhow::bail!("no secret named `{name}`");
            }
        }
    }
    Ok(())
}
