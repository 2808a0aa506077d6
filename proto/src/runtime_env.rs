//! A runtime environment's four parts, wherever a message carries them,
//! so the leader, hosts and clients fill one from another the same way.

use crate::v1;

/// The four parts of a runtime environment (variables, configuration,
/// secrets and directories by name), wherever a message carries them:
/// task and actor options, assignments, job records, and `RuntimeEnv`
/// itself.
pub struct EnvParts<'a> {
    /// Environment variables.
    pub env: &'a mut std::collections::HashMap<String, String>,
    /// Configuration, read through `wasi:config/store`.
    pub config: &'a mut std::collections::HashMap<String, String>,
    /// Secrets, by name.
    pub secrets: &'a mut Vec<String>,
    /// Host directories, by name.
    pub dirs: &'a mut Vec<String>,
}

impl EnvParts<'_> {
    /// Fills each part that is empty from `from`: what a call leaves
    /// empty comes from what it inherits or its component's default.
    pub fn fill_from(self, from: &v1::RuntimeEnv) {
        if self.env.is_empty() {
            self.env.clone_from(&from.env);
        }
        if self.config.is_empty() {
            self.config.clone_from(&from.config);
        }
        if self.secrets.is_empty() {
            self.secrets.clone_from(&from.secrets);
        }
        if self.dirs.is_empty() {
            self.dirs.clone_from(&from.dirs);
        }
    }

    /// The parts, taken out.
    pub fn take(self) -> v1::RuntimeEnv {
        v1::RuntimeEnv {
            env: std::mem::take(self.env),
            config: std::mem::take(self.config),
            secrets: std::mem::take(self.secrets),
            dirs: std::mem::take(self.dirs),
        }
    }
}

/// A message that carries a runtime environment's four parts.
pub trait HasRuntimeEnv {
    /// Its parts, to read or fill.
    fn env_parts(&mut self) -> EnvParts<'_>;
}

macro_rules! has_runtime_env {
    ($($message:ty),*) => {$(
        impl HasRuntimeEnv for $message {
            fn env_parts(&mut self) -> EnvParts<'_> {
                EnvParts {
                    env: &mut self.env,
                    config: &mut self.config,
                    secrets: &mut self.secrets,
                    dirs: &mut self.dirs,
                }
            }
        }
    )*};
}

has_runtime_env!(
    v1::TaskOptions,
    v1::ActorOptions,
    v1::Assignment,
    v1::JobRecord
);
