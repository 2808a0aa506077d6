//! The gateway's view of the cluster: routes and component names, each
//! resolved to a digest and its grants, as the leader last sent them.

use std::collections::HashMap;

use weft_proto::v1 as pb;

/// A component the gateway may run: its digest and what it is granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `sha256:<hex>`.
    pub digest: String,
    /// Hosts it may send HTTP requests to.
    pub allow_http: Vec<String>,
}

/// One route and the component it resolves to (none when its name no
/// longer names a component).
#[derive(Debug, Clone)]
pub struct Route {
    /// The route as added.
    pub route: pb::Route,
    /// What it runs.
    pub target: Option<Target>,
    /// Set for a Serve deployment's route: its replicas and limits.
    pub serve: Option<std::sync::Arc<pb::ServeRoute>>,
}

/// Routes and names, from the leader.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// The log index it was built at.
    pub version: u64,
    routes: Vec<Route>,
    components: HashMap<String, Target>,
}

fn target(c: pb::CatalogComponent) -> Target {
    Target {
        digest: c.digest,
        allow_http: c.allow_http,
    }
}

impl From<pb::Catalog> for Catalog {
    fn from(catalog: pb::Catalog) -> Self {
        Catalog {
            version: catalog.version,
            routes: catalog
                .routes
                .into_iter()
                .filter_map(|r| {
                    Some(Route {
                        route: r.route?,
                        target: r.target.map(target),
                        serve: r.serve.map(std::sync::Arc::new),
                    })
                })
                .collect(),
            components: catalog
                .components
                .into_iter()
                .map(|c| (c.name.clone(), target(c)))
                .collect(),
        }
    }
}

impl Catalog {
    /// The route serving `path`: an exact route, else the longest prefix
    /// route (`/api/...` serves `/api`, `/api/` and everything below).
    pub fn route_for(&self, path: &str) -> Option<&Route> {
        fn prefix(r: &Route) -> Option<&str> {
            r.route.path.strip_suffix("...")
        }
        if path.is_empty() {
            // A deployment without a route is reached by its name only.
            return None;
        }
        if let Some(exact) = self
            .routes
            .iter()
            .find(|r| prefix(r).is_none() && r.route.path == path)
        {
            return Some(exact);
        }
        self.routes
            .iter()
            .filter(|r| {
                prefix(r).is_some_and(|p| path.starts_with(p) || path == p.trim_end_matches('/'))
            })
            .max_by_key(|r| r.route.path.len())
    }

    /// Every Serve deployment's route.
    pub fn serve_routes(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().filter(|r| r.serve.is_some())
    }

    /// Serve deployment `key`'s route (`app/deployment`).
    pub fn deployment(&self, key: &str) -> Option<&Route> {
        self.routes.iter().find(|r| {
            r.serve.as_ref().is_some_and(|s| {
                key.split_once('/') == Some((s.app.as_str(), s.deployment.as_str()))
            })
        })
    }

    /// The component a name or digest names.
    pub fn component(&self, name: &str) -> Option<&Target> {
        self.components.get(name)
    }

    /// Every digest it knows.
    pub fn digests(&self) -> impl Iterator<Item = &str> {
        self.components.values().map(|t| t.digest.as_str())
    }

    /// Whether it knows `digest`.
    pub fn has_digest(&self, digest: &str) -> bool {
        self.components.contains_key(digest)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever the routes and the path, matching never panics, and a
        /// match is the exact route or a prefix route covering the path.
        #[test]
        fn matching_is_total_and_sound(
            routes in proptest::collection::vec("/[a-c/]{0,6}(\\.\\.\\.)?", 0..6),
            path in "\\PC{0,12}",
        ) {
            let paths: Vec<&str> = routes.iter().map(String::as_str).collect();
            let c = catalog(&paths);
            if let Some(found) = c.route_for(&path) {
                let p = &found.route.path;
                match p.strip_suffix("...") {
                    Some(prefix) => prop_assert!(path.starts_with(prefix) || path == prefix.trim_end_matches('/')),
                    None => prop_assert_eq!(p, &path),
                }
            }
        }
    }

    fn catalog(paths: &[&str]) -> Catalog {
        Catalog::from(pb::Catalog {
            version: 1,
            routes: paths
                .iter()
                .map(|p| pb::CatalogRoute {
                    route: Some(pb::Route {
                        path: p.to_string(),
                        component: format!("c{p}"),
                        max_concurrency: 1,
                        timeout_ms: 0,
                        auth: false,
                    }),
                    target: None,
                    serve: None,
                })
                .collect(),
            components: vec![],
        })
    }

    #[test]
    fn exact_routes_win_then_the_longest_prefix() {
        let c = catalog(&["/...", "/api/...", "/api/v1/...", "/api/exact"]);
        let path = |p: &str| c.route_for(p).map(|r| r.route.path.as_str());
        assert_eq!(path("/api/exact"), Some("/api/exact"));
        assert_eq!(path("/api/v1/x"), Some("/api/v1/..."));
        assert_eq!(path("/api/v2"), Some("/api/..."));
        assert_eq!(path("/api"), Some("/api/..."));
        assert_eq!(path("/other"), Some("/..."));
        assert_eq!(
            catalog(&["/a/..."])
                .route_for("/b")
                .map(|r| r.route.path.clone()),
            None
        );
    }
}
