//! The agent's transport for a host in its own process: one gRPC
//! `HostSession` stream with the leader, found the way every client finds
//! it (follow the leader hint, rotate past dead replicas).

use std::sync::Arc;

use tokio::sync::mpsc;
use weft_core::Connection;
use weft_proto::v1 as pb;

use super::{BoxFuture, Connector, Link, LinkError};

/// Reaches the leader over gRPC.
pub struct GrpcConnector {
    client: tokio::sync::Mutex<Connection>,
}

impl GrpcConnector {
    /// A connector over `client`.
    pub fn new(client: Connection) -> Self {
        GrpcConnector {
            client: tokio::sync::Mutex::new(client),
        }
    }
}

impl Connector for GrpcConnector {
    fn connect(
        &self,
        registration: pb::HostRegistration,
    ) -> BoxFuture<'_, Result<Link, LinkError>> {
        Box::pin(async move {
            let register = pb::HostEvent {
                kind: Some(pb::host_event::Kind::Register(registration)),
            };
            let (events, opened) = self
                .client
                .lock()
                .await
                .open_stream(Some(register), |mut c, requests| async move {
                    c.host_session(requests).await
                })
                .await?;
            let (tx, commands) = mpsc::unbounded_channel();
            tokio::spawn(async move {
                let mut stream = opened;
                loop {
                    match stream.message().await {
                        Ok(Some(command)) => {
                            if tx.send(Ok(command)).is_err() {
                                return;
                            }
                        }
                        Ok(None) => return,
                        Err(status) => {
                            let _ = tx.send(Err(status));
                            return;
                        }
                    }
                }
            });
            Ok(Link {
                events: Arc::new(events),
                commands,
            })
        })
    }

    fn fetch_component<'a>(&'a self, digest: &'a str) -> BoxFuture<'a, Result<Vec<u8>, LinkError>> {
        Box::pin(async move {
            let mut client = self.client.lock().await.clone();
            Ok(client.fetch_component(digest).await?)
        })
    }
}
