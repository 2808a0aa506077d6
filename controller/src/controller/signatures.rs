//! Component signatures, as callers ask for them: read from a component's
//! type on first use and kept by digest (`crate::signatures` is the
//! cache).

use std::sync::Arc;

use weft_proto::v1 as pb;
use weft_values::Export;

use crate::controller::Controller;
use crate::error::ControllerError;

impl Controller {
    /// The digest `component` (a name or digest) resolves to on this
    /// replica and its exports with their types, read once per digest.
    pub(crate) async fn exports(
        &self,
        component: &str,
    ) -> Result<(String, Arc<Vec<Export>>), ControllerError> {
        let digest = match self.state.resolve(component) {
            Ok(digest) => digest,
            // A follower may not have applied a deploy the leader has
            // already acknowledged: send the caller to the leader.
            Err(ControllerError::UnknownComponent(_)) if self.is_follower_of_known_leader() => {
                return Err(self.leader_hint(None));
            }
            Err(e) => return Err(e),
        };
        if let Some(exports) = self.signatures.get(&digest) {
            return Ok((digest, exports));
        }
        let wasm = self.component_bytes(&digest).await?;
        let exports = tokio::task::spawn_blocking(move || weft_values::describe(&wasm))
            .await
            .map_err(|e| {
                ControllerError::InvalidRequest(format!(
                    "reading the exports of {component} failed: {e}"
                ))
            })?
            .map_err(|e| ControllerError::InvalidRequest(e.to_string()))?;
        let exports = Arc::new(exports);
        self.signatures.insert(&digest, exports.clone());
        Ok((digest, exports))
    }

    /// The exported functions of `component` (a name or digest) with
    /// their types, from this replica's state.
    pub async fn describe(&self, component: &str) -> Result<pb::DescribeResponse, ControllerError> {
        let (digest, exports) = self.exports(component).await?;
        let functions = exports
            .iter()
            .map(|e| pb::FunctionType {
                interface: e.interface.clone().unwrap_or_default(),
                function: e.function.clone(),
                signature_json: serde_json::to_string(&e.signature).unwrap_or_default(),
                is_async: e.is_async,
            })
            .collect();
        Ok(pb::DescribeResponse { digest, functions })
    }
}
