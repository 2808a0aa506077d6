//! Components' default runtime environments: what a task, actor or job of
//! a component gets in each part of its runtime environment it leaves
//! empty (`weft deploy --env/--config/--secret/--dir`).

use prost::Message;
use weft_proto::v1 as pb;

use crate::command::Command;
use crate::controller::Controller;
use crate::error::ControllerError;

impl Controller {
    /// Sets (or, empty, clears) the default runtime environment of
    /// `component`'s digest; returns the digest.
    pub async fn set_runtime_env(
        &self,
        component: &str,
        env: pb::RuntimeEnv,
    ) -> Result<String, ControllerError> {
        self.ensure_leader().await?;
        let digest = self.state.resolve(component)?;
        let empty = env.env.is_empty()
            && env.config.is_empty()
            && env.secrets.is_empty()
            && env.dirs.is_empty();
        let env = if empty {
            Vec::new()
        } else {
            env.encode_to_vec()
        };
        self.write(Command::SetRuntimeEnv {
            digest: digest.clone(),
            env,
        })
        .await?;
        Ok(digest)
    }

    /// Component `digest`'s default runtime environment, if it has one.
    pub(crate) fn default_env(&self, digest: &str) -> Option<pb::RuntimeEnv> {
        let bytes = self.state.runtime_env(digest).ok().flatten()?;
        pb::RuntimeEnv::decode(bytes.as_slice()).ok()
    }
}
