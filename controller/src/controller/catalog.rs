//! The catalog hosts' HTTP gateways serve from: every route and every
//! component name, each resolved to a digest and its grants. The leader
//! rebuilds it after each write that can change it (deploy, delete, route
//! changes) and when it starts leading, and its task manager sends it to
//! every host; a gateway that meets an unknown route or name asks again,
//! so a change acknowledged to a client is served at once.

use std::time::Duration;

use weft_proto::v1 as pb;

use crate::controller::Controller;
use crate::error::ControllerError;

impl Controller {
    fn catalog(&self) -> Result<pb::Catalog, ControllerError> {
        let version = self
            .raft
            .metrics()
            .borrow()
            .last_applied
            .map_or(0, |l| l.index);
        let mut components = Vec::new();
        for record in self.state.components()? {
            let allow_http = self.state.http_grants(&record.digest)?;
            let names = record.names.iter().chain(std::iter::once(&record.digest));
            for name in names {
                components.push(pb::CatalogComponent {
                    name: name.clone(),
                    digest: record.digest.clone(),
                    allow_http: allow_http.clone(),
                });
            }
        }
        let mut routes = Vec::new();
        for route in self.state.routes()? {
            let target =
                self.state
                    .resolve(&route.component)
                    .ok()
                    .and_then(|digest| {
                        components.iter().find(|c| c.digest == digest).map(|c| {
                            pb::CatalogComponent {
                                name: route.component.clone(),
                                ..c.clone()
                            }
                        })
                    });
            routes.push(pb::CatalogRoute {
                route: Some(route.into()),
                target,
                serve: None,
            });
        }
        let apps = self.serve_apps()?;
        routes.extend(self.serve_routes(&apps)?);
        Ok(pb::Catalog {
            version,
            routes,
            components,
        })
    }

    /// Rebuilds the catalog and has the task manager send it to hosts.
    pub(crate) fn publish_catalog(&self) {
        match self.catalog() {
            Ok(catalog) => self.tasks.set_catalog(catalog),
            Err(e) => tracing::warn!(error = %e, "cannot build the catalog for hosts"),
        }
    }

    /// Publishes the catalog whenever this replica starts leading (its
    /// task table, and what it held, was dropped when it last stopped).
    pub(crate) fn keep_catalog(self: &std::sync::Arc<Self>) {
        let weak = std::sync::Arc::downgrade(self);
        let mut metrics = self.raft.metrics();
        let id = self.config.id;
        tokio::spawn(async move {
            let mut leading = false;
            loop {
                let now_leading = {
                    let m = metrics.borrow();
                    m.current_leader == Some(id) && m.state == openraft::ServerState::Leader
                };
                if now_leading && !leading {
                    let Some(controller) = weak.upgrade() else {
                        return;
                    };
                    // The new leader applies what the old one committed
                    // before it serves: wait for that, then build.
                    let _ = controller.ensure_leader().await;
                    let _ = tokio::time::timeout(
                        Duration::from_secs(5),
                        controller.raft.ensure_linearizable(),
                    )
                    .await;
                    controller.publish_catalog();
                }
                leading = now_leading;
                if metrics.changed().await.is_err() {
                    return;
                }
            }
        });
    }
}
