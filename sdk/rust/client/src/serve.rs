//! Serve from a client: declare an application of deployments (admin
//! token), read every application's status, delete one.

use weft_proto::v1 as pb;

use crate::{Client, ClientError};

impl Client {
    /// Declares (or changes) application `app`; returns its status as the
    /// leader sees it right after.
    pub async fn deploy_serve_app(
        &mut self,
        app: pb::ServeApplication,
    ) -> Result<pb::ServeAppStatus, ClientError> {
        let request = pb::DeployServeAppRequest { app: Some(app) };
        self.unary(
            request,
            |mut c, r| async move { c.deploy_serve_app(r).await },
        )
        .await
    }

    /// Every application's status, or only `app`'s (empty: every one).
    pub async fn serve_status(
        &mut self,
        app: &str,
    ) -> Result<Vec<pb::ServeAppStatus>, ClientError> {
        let request = pb::GetServeStatusRequest {
            app: app.to_string(),
        };
        let reply = self
            .unary(
                request,
                |mut c, r| async move { c.get_serve_status(r).await },
            )
            .await?;
        Ok(reply.apps)
    }

    /// Deletes application `app`: its routes go at once, its replicas
    /// drain.
    pub async fn delete_serve_app(&mut self, app: &str) -> Result<(), ClientError> {
        let request = pb::DeleteServeAppRequest {
            app: app.to_string(),
        };
        self.unary(
            request,
            |mut c, r| async move { c.delete_serve_app(r).await },
        )
        .await?;
        Ok(())
    }
}
