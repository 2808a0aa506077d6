//! Secrets from a client (admin token): set, list by name, delete. Only
//! hosts read values, for the guests whose runtime environment names them.
//! And components' default runtime environments, which name them.

use weft_proto::v1 as pb;

use crate::{Client, ClientError};

impl Client {
    /// Sets secret `name` (UTF-8, up to 64 KiB); whether it replaced one.
    pub async fn put_secret(&mut self, name: &str, value: Vec<u8>) -> Result<bool, ClientError> {
        let request = pb::PutSecretRequest {
            name: name.to_string(),
            value,
        };
        let reply = self
            .unary(request, |mut c, r| async move { c.put_secret(r).await })
            .await?;
        Ok(reply.existed)
    }

    /// Every secret's name (never a value).
    pub async fn secrets(&mut self) -> Result<Vec<String>, ClientError> {
        let reply = self
            .request(|mut c| async move { c.list_secrets(pb::ListSecretsRequest {}).await })
            .await?;
        Ok(reply.names)
    }

    /// Sets the default runtime environment of `component` (a name or
    /// digest; empty `env`: none); returns its digest.
    pub async fn set_runtime_env(
        &mut self,
        component: &str,
        env: pb::RuntimeEnv,
    ) -> Result<String, ClientError> {
        let request = pb::SetRuntimeEnvRequest {
            component: component.to_string(),
            env: Some(env),
        };
        let reply = self
            .unary(
                request,
                |mut c, r| async move { c.set_runtime_env(r).await },
            )
            .await?;
        Ok(reply.digest)
    }

    /// Removes secret `name`; whether there was one.
    pub async fn delete_secret(&mut self, name: &str) -> Result<bool, ClientError> {
        let request = pb::DeleteSecretRequest {
            name: name.to_string(),
        };
        let reply = self
            .unary(request, |mut c, r| async move { c.delete_secret(r).await })
            .await?;
        Ok(reply.existed)
    }
}
