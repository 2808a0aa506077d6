//! A guest's runtime environment, from what its task or actor asked for to
//! what the guest sees: variables and configuration as given, directories
//! from those this host offers (`weft host --dir`), and secrets read from
//! the leader for this guest alone (they never travel in an assignment,
//! and this host keeps them only in the guest's store).

use std::collections::HashMap;

use weft_proto::v1 as pb;
use weft_runtime::services::RuntimeEnv;

use super::Agent;

/// A runtime environment as asked for: variables and configuration by
/// value, secrets and directories by name. What a guest makes inherits
/// each part it does not set itself.
#[derive(Debug, Clone, Default)]
pub(crate) struct EnvSpec {
    pub(crate) vars: HashMap<String, String>,
    pub(crate) config: HashMap<String, String>,
    pub(crate) secrets: Vec<String>,
    pub(crate) dirs: Vec<String>,
}

impl EnvSpec {
    /// A task's, from its assignment (taken out of it).
    pub(crate) fn of_task(task: &mut pb::Assignment) -> Self {
        EnvSpec {
            vars: std::mem::take(&mut task.env),
            config: std::mem::take(&mut task.config),
            secrets: std::mem::take(&mut task.secrets),
            dirs: std::mem::take(&mut task.dirs),
        }
    }

    /// An actor's, from its options.
    pub(crate) fn of_actor(options: &pb::ActorOptions) -> Self {
        EnvSpec {
            vars: options.env.clone(),
            config: options.config.clone(),
            secrets: options.secrets.clone(),
            dirs: options.dirs.clone(),
        }
    }

    /// Fills the parts `vars`, `config`, `secrets` and `dirs` (of work a
    /// guest makes) leave empty with this one's.
    pub(crate) fn stamp(
        &self,
        vars: &mut HashMap<String, String>,
        config: &mut HashMap<String, String>,
        secrets: &mut Vec<String>,
        dirs: &mut Vec<String>,
    ) {
        if vars.is_empty() {
            vars.clone_from(&self.vars);
        }
        if config.is_empty() {
            config.clone_from(&self.config);
        }
        if secrets.is_empty() {
            secrets.clone_from(&self.secrets);
        }
        if dirs.is_empty() {
            dirs.clone_from(&self.dirs);
        }
    }
}

impl Agent {
    /// What `spec` grants on this host: its directories by name (refused
    /// when this host offers none of that name) and its secrets' values,
    /// read from the leader, among its configuration.
    pub(crate) async fn resolve_env(&self, spec: &EnvSpec) -> Result<RuntimeEnv, String> {
        let mut env = RuntimeEnv {
            vars: spec.vars.clone(),
            config: spec.config.clone(),
            dirs: Vec::with_capacity(spec.dirs.len()),
        };
        for name in &spec.dirs {
            let grant = self.config.dirs.iter().find(|d| &d.name == name);
            let Some(grant) = grant else {
                let offered: Vec<&str> = self.config.dirs.iter().map(|d| d.name.as_str()).collect();
                return Err(format!(
                    "host {} offers no directory named `{name}` (it offers {}; a host offers one \
                     with `--dir {name}=PATH`)",
                    self.config.id,
                    if offered.is_empty() {
                        "none".to_string()
                    } else {
                        offered.join(", ")
                    }
                ));
            };
            env.dirs.push(grant.clone());
        }
        if !spec.secrets.is_empty() {
            let client = self.nested().await.map_err(|e| e.to_string())?;
            let values = client
                .read_secrets(&spec.secrets)
                .await
                .map_err(|e| e.to_string())?;
            env.config.extend(values);
        }
        Ok(env)
    }
}
