//! A guest's runtime environment, from what its task or actor asked for
//! (a `RuntimeEnv`, inherited by what the guest makes) to what the guest
//! sees: variables and configuration as given, directories
//! from those this host offers (`weft host --dir`), and secrets read from
//! the leader for this guest alone (they never travel in an assignment,
//! and this host keeps them only in the guest's store).

use weft_proto::v1 as pb;
use weft_runtime::services::RuntimeEnv;

use super::Agent;

impl Agent {
    /// What `spec` grants on this host: its directories by name (refused
    /// when this host offers none of that name) and its secrets' values,
    /// read from the leader, among its configuration.
    pub(crate) async fn resolve_env(&self, spec: &pb::RuntimeEnv) -> Result<RuntimeEnv, String> {
        let mut env = RuntimeEnv {
            vars: spec.env.clone(),
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
