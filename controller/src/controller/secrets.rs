//! Secrets: values by name in the replicated state, for the guests whose
//! runtime environment names them. Written and listed (by name) by
//! administrators; read only by hosts, for the guests they start. No
//! listing, log, history, metric or dashboard page carries a value.

use weft_proto::v1 as pb;

use crate::command::{Applied, Command};
use crate::controller::Controller;
use crate::error::ControllerError;

/// The largest secret: configuration, keys and tokens, not files.
pub const MAX_SECRET_BYTES: usize = 64 * 1024;

impl Controller {
    /// Sets secret `name`; whether it replaced a value.
    pub async fn put_secret(&self, name: &str, value: Vec<u8>) -> Result<bool, ControllerError> {
        check_name(name)?;
        if value.len() > MAX_SECRET_BYTES {
            return Err(ControllerError::InvalidRequest(format!(
                "secret `{name}` is {} bytes, over the limit of {MAX_SECRET_BYTES}",
                value.len()
            )));
        }
        if std::str::from_utf8(&value).is_err() {
            return Err(ControllerError::InvalidRequest(format!(
                "secret `{name}` is not UTF-8 text: guests read secrets as configuration strings"
            )));
        }
        self.existed(Command::PutSecret {
            name: name.to_string(),
            value,
        })
        .await
    }

    /// Removes secret `name`; whether there was one.
    pub async fn delete_secret(&self, name: &str) -> Result<bool, ControllerError> {
        self.existed(Command::DeleteSecret {
            name: name.to_string(),
        })
        .await
    }

    /// Every secret's name.
    pub async fn secret_names(&self) -> Result<Vec<String>, ControllerError> {
        self.read_barrier().await?;
        self.state.secret_names()
    }

    /// The values of secrets `names`, for a host starting a guest whose
    /// runtime environment names them; a missing one is refused by name.
    pub async fn read_secrets(
        &self,
        names: &[String],
    ) -> Result<pb::ReadSecretsResponse, ControllerError> {
        self.read_barrier().await?;
        let mut values = std::collections::HashMap::new();
        for name in names {
            let value = self.state.secret(name)?.ok_or_else(|| {
                ControllerError::NotFound(format!(
                    "no secret named `{name}` (an administrator sets it with `weft secret put {name}`)"
                ))
            })?;
            values.insert(name.clone(), value);
        }
        Ok(pb::ReadSecretsResponse { values })
    }

    async fn existed(&self, command: Command) -> Result<bool, ControllerError> {
        match self.write(command).await?.0 {
            Applied::Done { existed } => Ok(existed),
            other => Err(ControllerError::Corrupt(format!(
                "a secret applied as {other:?}"
            ))),
        }
    }
}

/// Names a guest can ask for in its configuration: letters, digits, `_`,
/// `-` and `.`.
fn check_name(name: &str) -> Result<(), ControllerError> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ControllerError::InvalidRequest(format!(
            "`{name}` is not a secret name: use 1 to 128 letters, digits, `_`, `-` or `.`"
        )))
    }
}
