//! Serve on the leader: applications of deployments, each a component
//! behind a route with replicas on hosts.
//!
//! An application's declaration is one record in the replicated state
//! (`Command::SetServeApp`); its replicas are placement groups of one
//! bundle each, in the `serve` namespace, named
//! `APP/DEPLOYMENT/N@DIGEST`, so their placement, their reservation and
//! their move off a dead host are the groups' own, replicated the same
//! way. What is the leader's alone (which replicas drain, the autoscaler's
//! clock) is rebuilt by a new leader from the records and the hosts'
//! reports within a few ticks.
//!
//! Every [`TICK`] the leader reconciles each deployment: it resolves the
//! component's digest; starts replicas of that digest up to the target;
//! drains a replica of an older digest for each new one that runs
//! (a rolling update: old ones keep serving until their replacements do);
//! drains surplus ones; and removes a drained replica once its
//! `graceful_shutdown_ms` has passed, by which time gateways have stopped
//! sending it work and its requests have finished. Whenever what gateways
//! should see changes, it publishes the catalog.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prost::Message;
use weft_proto::serve::RECONFIGURE;
use weft_proto::v1 as pb;

use crate::command::{Command, validate_route_path};
use crate::controller::Controller;
use crate::error::ControllerError;

/// How often the leader reconciles deployments.
const TICK: Duration = Duration::from_millis(100);
/// The namespace of replicas' placement groups.
const NAMESPACE: &str = "serve";
/// Requests one replica runs at once unless told (Ray's default).
pub const DEFAULT_MAX_ONGOING: u32 = 5;
/// Requests a gateway holds for a deployment beyond its replicas' room
/// unless told: Ray's default is no bound, but an unbounded queue only
/// turns overload into timeouts and memory.
pub const DEFAULT_MAX_QUEUED: u32 = 1000;
/// Each replica's reservation unless told: a handler runs per request on
/// its host's engine, so the reservation only spreads replicas.
pub const DEFAULT_REPLICA_CPUS: f64 = 0.1;
/// How long a replaced replica finishes its requests unless told.
pub const DEFAULT_GRACEFUL_MS: u64 = 2_000;
/// Ray's default health check period and timeout.
pub const DEFAULT_HEALTH_PERIOD_MS: u64 = 10_000;
/// See [`DEFAULT_HEALTH_PERIOD_MS`].
pub const DEFAULT_HEALTH_TIMEOUT_MS: u64 = 30_000;
/// Most replicas one deployment may ask for.
const MAX_REPLICAS: u32 = 1024;

/// The leader's own part of Serve: drains and the autoscaler's clocks.
#[derive(Default)]
pub(crate) struct ServeState {
    /// Replicas (group ids) draining, since when.
    draining: HashMap<String, Instant>,
    /// Per deployment (`app/deployment`): its autoscaling state.
    scale: HashMap<String, Scale>,
    /// What gateways were last sent, to publish only on change.
    published: Vec<pb::CatalogRoute>,
    /// Decisions made but not yet written to the replicated state
    /// ([`DECISIONS`]), by deployment.
    to_record: HashMap<String, Decision>,
}

/// The key-value namespace each deployment's latest scaling decision is
/// kept in (`app/deployment` -> [`Decision`] as JSON): `weft kv list -n
/// serve-decisions` reads them, and a new leader starts from them.
pub(crate) const DECISIONS: &str = "serve-decisions";

/// A scaling decision as the replicated state keeps it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Decision {
    target: u32,
    reason: String,
    /// When it was made, in milliseconds since the epoch.
    at_ms: u64,
}

/// One deployment's autoscaling state.
#[derive(Default, Clone)]
struct Scale {
    target: u32,
    /// Since when the policy has asked for more (or fewer) replicas.
    wants_more_since: Option<Instant>,
    wants_fewer_since: Option<Instant>,
    decision: String,
}

/// A replica, read from its group's name and record.
#[derive(Clone)]
struct Replica {
    id: String,
    number: u64,
    digest: String,
    host: String,
    created: bool,
}

/// The replicas of each deployment (`app/deployment`), from the groups.
fn replicas(groups: Vec<pb::PlacementGroupRecord>) -> BTreeMap<String, Vec<Replica>> {
    let mut out: BTreeMap<String, Vec<Replica>> = BTreeMap::new();
    for g in groups {
        let spec = g.spec.clone().unwrap_or_default();
        if spec.namespace != NAMESPACE || g.state() == pb::PlacementGroupState::Removed {
            continue;
        }
        let Some((path, digest)) = spec.name.split_once('@') else {
            continue;
        };
        let Some((deployment, number)) = path.rsplit_once('/') else {
            continue;
        };
        let Ok(number) = number.parse() else {
            continue;
        };
        out.entry(deployment.to_string())
            .or_default()
            .push(Replica {
                id: g.id.clone(),
                number,
                digest: digest.to_string(),
                host: g.bundle_hosts.first().cloned().unwrap_or_default(),
                created: g.state() == pb::PlacementGroupState::Created,
            });
    }
    out
}

/// A host's gateway address and what it reports holding per deployment.
struct HostView {
    alive: bool,
    http_address: String,
    ongoing: HashMap<String, u32>,
    p95_ms: HashMap<String, f64>,
    /// Replicas here whose health check failed, with why.
    unhealthy: HashMap<String, String>,
    /// The custom metrics its replicas last recorded.
    metrics: Vec<pb::ServeMetric>,
    /// What its gateway saw of each deployment.
    stats: HashMap<String, pb::ServeGatewayStats>,
}

/// What a Serve pass reads of the cluster: the hosts' last reports and the
/// replicas by deployment. One pass reads it once (again only after it
/// created or removed replicas).
struct Snapshot {
    hosts: HashMap<String, HostView>,
    replicas: BTreeMap<String, Vec<Replica>>,
}

impl Controller {
    /// The hosts' views and the replicas, read now.
    fn snapshot(&self) -> Snapshot {
        Snapshot {
            hosts: self.host_views(),
            replicas: replicas(self.tasks.groups()),
        }
    }

    /// Declares (or changes) an application. Idempotent: the same
    /// declaration changes nothing; changed options apply in place, and a
    /// component deployed anew under its name rolls the replicas over.
    pub async fn deploy_serve_app(
        &self,
        app: pb::ServeApplication,
    ) -> Result<pb::ServeAppStatus, ControllerError> {
        self.ensure_leader().await?;
        let app = self.check_app(app)?;
        // A function deployment's export, found as calls find it; the
        // `reconfigure` a replica's instances would call with its config.
        let checked = app
            .deployments
            .iter()
            .filter(|d| !d.function.is_empty() || !d.user_config.is_empty());
        for d in checked {
            let (_, exports) = self.exports(&d.component).await?;
            if !d.function.is_empty() {
                weft_values::find_export(&exports, |e| e, &d.function).map_err(|e| {
                    ControllerError::InvalidRequest(format!(
                        "deployment `{}`: component `{}` has {e}",
                        d.name, d.component
                    ))
                })?;
            }
            if !d.user_config.is_empty() {
                check_reconfigure(&exports).map_err(|why| {
                    ControllerError::InvalidRequest(format!(
                        "deployment `{}`: component `{}` {why}",
                        d.name, d.component
                    ))
                })?;
            }
        }
        let name = app.name.clone();
        self.write(Command::SetServeApp {
            name: name.clone(),
            app: app.encode_to_vec(),
        })
        .await?;
        self.reconcile_serve();
        self.serve_status(&name)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ControllerError::NotFound(format!("no Serve application `{name}`")))
    }

    /// Deletes an application: its routes go at once, its replicas drain.
    pub async fn delete_serve_app(&self, name: &str) -> Result<(), ControllerError> {
        self.ensure_leader().await?;
        let Some(app) = self.serve_apps()?.into_iter().find(|a| a.name == name) else {
            return Err(ControllerError::NotFound(format!(
                "no Serve application `{name}` (see `weft serve status`)"
            )));
        };
        self.write(Command::SetServeApp {
            name: name.to_string(),
            app: Vec::new(),
        })
        .await?;
        self.reconcile_serve();
        // Its decisions go with it: an application declared again under
        // the name starts afresh.
        for d in &app.deployments {
            let key = format!("{name}/{}", d.name);
            {
                let mut serve = self.serve.lock().unwrap_or_else(|p| p.into_inner());
                serve.scale.remove(&key);
                serve.to_record.remove(&key);
            }
            self.write(Command::KvDelete {
                namespace: DECISIONS.into(),
                key,
            })
            .await?;
        }
        Ok(())
    }

    /// Every application (or the one named), with each deployment's
    /// replicas and latest scaling decision.
    pub async fn serve_status(
        &self,
        only: &str,
    ) -> Result<Vec<pb::ServeAppStatus>, ControllerError> {
        self.ensure_leader().await?;
        let Snapshot { hosts, replicas } = self.snapshot();
        let seen = |key: &str| {
            let key = key.to_string();
            hosts.values().filter_map(move |h| h.stats.get(&key))
        };
        let serve = self.serve.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for app in self.serve_apps()? {
            if !only.is_empty() && app.name != only {
                continue;
            }
            let mut deployments = Vec::new();
            for d in &app.deployments {
                let key = format!("{}/{}", app.name, d.name);
                let scale = serve.scale.get(&key).cloned().unwrap_or_default();
                let shown = replicas.get(&key).cloned().unwrap_or_default();
                deployments.push(pb::ServeDeploymentStatus {
                    name: d.name.clone(),
                    digest: self.state.resolve(&d.component).unwrap_or_default(),
                    // Not decided yet (a leader that has not reconciled
                    // since it took over): what was declared.
                    target_replicas: if scale.decision.is_empty() {
                        declared_target(d)
                    } else {
                        scale.target
                    },
                    replicas: shown
                        .iter()
                        .map(|r| replica_view(r, &hosts, &serve.draining))
                        .collect(),
                    ongoing: hosts.values().filter_map(|h| h.ongoing.get(&key)).sum(),
                    decision: scale.decision,
                    requests: seen(&key).map(|s| s.requests).sum(),
                    queued: seen(&key).map(|s| s.queued).sum(),
                    p50_ms: seen(&key).map(|s| s.p50_ms).fold(0.0, f64::max),
                    p99_ms: seen(&key).map(|s| s.p99_ms).fold(0.0, f64::max),
                });
            }
            out.push(pb::ServeAppStatus {
                app: Some(app),
                deployments,
            });
        }
        if !only.is_empty() && out.is_empty() {
            return Err(ControllerError::NotFound(format!(
                "no Serve application `{only}` (see `weft serve status`)"
            )));
        }
        Ok(out)
    }

    /// Refuses `weft route add` on a path a deployment serves.
    pub(crate) fn refuse_serve_route(&self, path: &str) -> Result<(), ControllerError> {
        for app in self.serve_apps()? {
            if let Some(d) = app.deployments.iter().find(|d| d.route == path) {
                return Err(ControllerError::InvalidRequest(format!(
                    "route {path} is served by Serve deployment {}/{} (see `weft serve status`)",
                    app.name, d.name
                )));
            }
        }
        Ok(())
    }

    /// On the leader: each deployment's replicas by state, its target,
    /// and the requests gateways last reported holding for it.
    pub(crate) fn register_serve_metrics(
        &self,
        registry: &mut prometheus_client::registry::Registry,
    ) {
        use prometheus_client::metrics::family::Family;
        use prometheus_client::metrics::gauge::Gauge;
        #[derive(
            Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
        )]
        struct ReplicaLabel {
            deployment: String,
            state: &'static str,
        }
        #[derive(
            Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet,
        )]
        struct DeploymentLabel {
            deployment: String,
        }
        if self.raft.metrics().borrow().current_leader != Some(self.config.id) {
            return;
        }
        let Ok(apps) = self.serve_apps() else {
            return;
        };
        let Snapshot {
            hosts,
            replicas: by_deployment,
        } = self.snapshot();
        let serve = self.serve.lock().unwrap_or_else(|p| p.into_inner());
        let (replica_family, target, ongoing) = (
            Family::<ReplicaLabel, Gauge>::default(),
            Family::<DeploymentLabel, Gauge>::default(),
            Family::<DeploymentLabel, Gauge>::default(),
        );
        for app in &apps {
            for d in &app.deployments {
                let key = format!("{}/{}", app.name, d.name);
                for state in ["starting", "running", "draining"] {
                    let n = by_deployment.get(&key).map_or(0, |list| {
                        list.iter()
                            .map(|r| replica_view(r, &hosts, &serve.draining))
                            .filter(|r| r.state() == state)
                            .count()
                    });
                    replica_family
                        .get_or_create(&ReplicaLabel {
                            deployment: key.clone(),
                            state,
                        })
                        .set(n as i64);
                }
                let label = DeploymentLabel {
                    deployment: key.clone(),
                };
                let scale = serve.scale.get(&key);
                target
                    .get_or_create(&label)
                    .set(i64::from(scale.map_or(0, |s| s.target)));
                let held: u32 = hosts.values().filter_map(|h| h.ongoing.get(&key)).sum();
                ongoing.get_or_create(&label).set(i64::from(held));
            }
        }
        registry.register(
            "serve_replicas",
            "Replicas of each Serve deployment, by state (on the leader)",
            replica_family,
        );
        registry.register(
            "serve_target_replicas",
            "The replicas each Serve deployment should have now (on the leader)",
            target,
        );
        registry.register(
            "serve_requests_reported",
            "Serve requests gateways last reported holding, by deployment (on the leader)",
            ongoing,
        );
    }

    /// Every application declared, by name.
    pub(crate) fn serve_apps(&self) -> Result<Vec<pb::ServeApplication>, ControllerError> {
        self.state
            .serve_apps()?
            .into_iter()
            .map(|bytes| {
                pb::ServeApplication::decode(bytes.as_slice())
                    .map_err(|e| ControllerError::Corrupt(format!("a Serve application: {e}")))
            })
            .collect()
    }

    /// Checks an application and fills its defaults; refusals name the
    /// deployment and the option.
    fn check_app(
        &self,
        mut app: pb::ServeApplication,
    ) -> Result<pb::ServeApplication, ControllerError> {
        let bad = |m: String| Err(ControllerError::InvalidRequest(m));
        if !valid_name(&app.name) {
            return bad(format!(
                "application name `{}`: use letters, digits, `-` and `_`",
                app.name
            ));
        }
        if app.deployments.is_empty() {
            return bad(format!("application `{}` has no deployments", app.name));
        }
        let others = self.serve_apps()?;
        let routes = self.state.routes()?;
        let mut seen = HashMap::new();
        for d in &mut app.deployments {
            let at = format!("deployment `{}`", d.name);
            if !valid_name(&d.name) {
                return bad(format!(
                    "{at}: use letters, digits, `-` and `_` in its name"
                ));
            }
            if seen.insert(d.name.clone(), ()).is_some() {
                return bad(format!("{at} is declared twice"));
            }
            let digest = self.state.resolve(&d.component).map_err(|_| {
                ControllerError::NotFound(format!(
                    "{at}: unknown component `{}` (see `weft components`)",
                    d.component
                ))
            })?;
            if d.stream && (d.function.is_empty() || d.max_batch_size > 1) {
                return bad(format!(
                    "{at}: stream is for a function deployment (give `function`) without \
                     max_batch_size"
                ));
            }
            if d.function.is_empty() {
                if d.max_batch_size > 1 {
                    return bad(format!(
                        "{at}: max_batch_size needs a function deployment (give `function`)"
                    ));
                }
                if !self.state.serves_http(&digest)? {
                    return bad(format!(
                        "{at}: component `{}` does not export wasi:http/incoming-handler (give \
                         `function` to serve one of its exports)",
                        d.component
                    ));
                }
            }
            if !d.route.is_empty() {
                validate_route_path(&d.route)
                    .map_err(|e| ControllerError::InvalidRequest(format!("{at}: {e}")))?;
                if let Some(r) = routes.iter().find(|r| r.path == d.route) {
                    return bad(format!(
                        "{at}: route {} is taken by `weft route` for component `{}`",
                        d.route, r.component
                    ));
                }
                let taken = others.iter().filter(|o| o.name != app.name).find_map(|o| {
                    o.deployments
                        .iter()
                        .find(|x| x.route == d.route)
                        .map(|x| format!("{}/{}", o.name, x.name))
                });
                if let Some(holder) = taken {
                    return bad(format!(
                        "{at}: route {} is taken by application deployment {holder}",
                        d.route
                    ));
                }
            }
            if d.max_ongoing_requests == 0 {
                d.max_ongoing_requests = DEFAULT_MAX_ONGOING;
            }
            if !d.health_check_path.is_empty() {
                if !d.function.is_empty() || !d.health_check_path.starts_with('/') {
                    return bad(format!(
                        "{at}: health_check_path is a path like /healthz, for a wasi:http \
                         deployment"
                    ));
                }
                if d.health_check_period_ms == 0 {
                    d.health_check_period_ms = DEFAULT_HEALTH_PERIOD_MS;
                }
                if d.health_check_timeout_ms == 0 {
                    d.health_check_timeout_ms = DEFAULT_HEALTH_TIMEOUT_MS;
                }
            }
            if d.max_queued_requests == 0 {
                d.max_queued_requests = DEFAULT_MAX_QUEUED;
            }
            if d.graceful_shutdown_ms == 0 {
                d.graceful_shutdown_ms = DEFAULT_GRACEFUL_MS;
            }
            let resources = d.resources.get_or_insert_with(Default::default);
            let empty = resources.cpus == 0.0
                && resources.memory == 0
                && resources.gpus == 0
                && resources.custom.is_empty();
            if !d.placement_group_bundles.is_empty() {
                // The first bundle is the replica's own reservation.
                if !empty {
                    return bad(format!(
                        "{at}: give the replica's resources in its first placement_group_bundles \
                         entry, not beside them"
                    ));
                }
                *resources = d.placement_group_bundles[0].clone();
            } else if empty {
                resources.cpus = DEFAULT_REPLICA_CPUS;
            }
            if !(resources.cpus >= 0.0 && resources.cpus.is_finite()) {
                return bad(format!("{at}: cpus must be a number >= 0"));
            }
            match &mut d.autoscaling {
                None => {
                    if d.num_replicas == 0 {
                        d.num_replicas = 1;
                    }
                    if d.num_replicas > MAX_REPLICAS {
                        return bad(format!(
                            "{at}: num_replicas {} is over the limit of {MAX_REPLICAS}",
                            d.num_replicas
                        ));
                    }
                }
                Some(a) => {
                    if a.max_replicas == 0 {
                        a.max_replicas = a.min_replicas.max(1);
                    }
                    if a.min_replicas > a.max_replicas || a.max_replicas > MAX_REPLICAS {
                        return bad(format!(
                            "{at}: min_replicas {} and max_replicas {} must be in order and at most \
                             {MAX_REPLICAS}",
                            a.min_replicas, a.max_replicas
                        ));
                    }
                    if a.target_ongoing_requests == 0.0 {
                        a.target_ongoing_requests = 2.0;
                    }
                    if !(a.target_ongoing_requests > 0.0 && a.target_ongoing_requests.is_finite()) {
                        return bad(format!("{at}: target_ongoing_requests must be above 0"));
                    }
                    let target = a.target_metric_value;
                    if a.metric.is_empty() != (target == 0.0)
                        || !(target >= 0.0 && target.is_finite())
                    {
                        return bad(format!(
                            "{at}: a custom metric needs both `metric` and a \
                             target_metric_value above 0"
                        ));
                    }
                }
            }
        }
        Ok(app)
    }

    /// What each live host's gateway last reported.
    fn host_views(&self) -> HashMap<String, HostView> {
        self.tasks
            .nodes()
            .into_iter()
            .map(|n| {
                let engine = n.engine.unwrap_or_default();
                let view = HostView {
                    alive: n.alive,
                    http_address: engine.http_address,
                    ongoing: engine.serve_ongoing.into_iter().collect(),
                    p95_ms: engine.serve_p95_ms.into_iter().collect(),
                    unhealthy: engine.serve_unhealthy.into_iter().collect(),
                    metrics: engine.serve_metrics,
                    stats: engine.serve_stats.into_iter().collect(),
                };
                (n.id, view)
            })
            .collect()
    }

    /// Deployment `key`'s last decision in the replicated state, as the
    /// autoscaling state a leader new to it starts from (its clocks start
    /// again).
    fn recorded_decision(&self, key: &str) -> Scale {
        let recorded = self
            .state
            .kv_get(DECISIONS, key)
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice::<Decision>(&bytes).ok());
        match recorded {
            Some(d) => Scale {
                target: d.target,
                decision: d.reason,
                ..Default::default()
            },
            None => Scale::default(),
        }
    }

    /// Writes the decisions made since the last call to the replicated
    /// state ([`DECISIONS`]).
    async fn record_decisions(&self) {
        let made = std::mem::take(
            &mut self
                .serve
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .to_record,
        );
        for (key, decision) in made {
            let command = Command::KvPut {
                namespace: DECISIONS.into(),
                key: key.clone(),
                value: serde_json::to_vec(&decision).expect("a decision serializes"),
            };
            if let Err(e) = self.write(command).await {
                tracing::warn!(deployment = key, error = %e, "cannot record a Serve decision");
            }
        }
    }

    /// Reconciles every deployment now (after a change a client made).
    pub(crate) fn reconcile_serve(&self) {
        if let Err(e) = self.reconcile_once() {
            tracing::warn!(error = %e, "cannot reconcile Serve deployments");
        }
    }

    /// Keeps deployments reconciled while this replica leads: every
    /// [`TICK`], and at once when a group changes or a gateway reports
    /// requests it holds (so a deployment at zero wakes in milliseconds).
    pub(crate) fn keep_serve(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        let tasks = self.tasks.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(TICK) => {}
                    _ = tasks.serve_changed.notified() => {}
                }
                let Some(controller) = weak.upgrade() else {
                    return;
                };
                let leading =
                    controller.raft.metrics().borrow().current_leader == Some(controller.config.id);
                if leading && controller.tasks.groups_loaded() {
                    controller.reconcile_serve();
                    controller.record_decisions().await;
                }
            }
        });
    }

    fn reconcile_once(&self) -> Result<(), ControllerError> {
        if !self.tasks.groups_loaded() {
            return Ok(());
        }
        let apps = self.serve_apps()?;
        let snapshot = self.snapshot();
        let hosts = &snapshot.hosts;
        let mut by_deployment = snapshot.replicas.clone();
        let now = Instant::now();
        let mut to_create = Vec::new();
        let mut to_remove = Vec::new();
        {
            let mut serve = self.serve.lock().unwrap_or_else(|p| p.into_inner());
            let serve = &mut *serve;
            for app in &apps {
                for d in &app.deployments {
                    let key = format!("{}/{}", app.name, d.name);
                    let list = by_deployment.remove(&key).unwrap_or_default();
                    let ongoing: u32 = hosts.values().filter_map(|h| h.ongoing.get(&key)).sum();
                    let scale = serve.scale.entry(key.clone()).or_insert_with(|| {
                        // A leader new to it starts from the last decision
                        // recorded, not from the minimum.
                        self.recorded_decision(&key)
                    });
                    let before = scale.decision.clone();
                    let running =
                        |r: &Replica| r.created && hosts.get(&r.host).is_some_and(|h| h.alive);
                    let serving = list
                        .iter()
                        .filter(|r| running(r) && !serve.draining.contains_key(&r.id))
                        .count() as u32;
                    let p95 = hosts
                        .values()
                        .filter_map(|h| h.p95_ms.get(&key))
                        .fold(0.0_f64, |a, b| a.max(*b));
                    let metric = d.autoscaling.as_ref().map_or(0.0, |a| {
                        let live = |m: &&pb::ServeMetric| {
                            m.deployment == key
                                && m.name == a.metric
                                && list.iter().any(|r| r.id == m.replica && running(r))
                        };
                        hosts
                            .values()
                            .filter(|h| h.alive)
                            .flat_map(|h| h.metrics.iter().filter(live))
                            .map(|m| m.value)
                            .sum()
                    });
                    decide(
                        d,
                        scale,
                        Load {
                            ongoing,
                            serving,
                            p95_ms: p95,
                            metric,
                        },
                        now,
                    );
                    // A replica its host found unhealthy drains now; a new
                    // one takes its place below.
                    for r in &list {
                        let why = hosts.get(&r.host).and_then(|h| h.unhealthy.get(&r.id));
                        if let Some(why) = why
                            && !serve.draining.contains_key(&r.id)
                        {
                            serve.draining.insert(r.id.clone(), now);
                            scale.decision = format!("replaced {} on {}: {why}", r.id, r.host);
                        }
                    }
                    if scale.decision != before {
                        let decision = Decision {
                            target: scale.target,
                            reason: scale.decision.clone(),
                            at_ms: crate::tasks::groups::now_ms(),
                        };
                        serve.to_record.insert(key.clone(), decision);
                    }
                    let Ok(digest) = self.state.resolve(&d.component) else {
                        scale.decision = format!(
                            "component `{}` is gone: replicas keep serving what they run",
                            d.component
                        );
                        continue;
                    };
                    let target = scale.target as usize;
                    let (current, old): (Vec<_>, Vec<_>) =
                        list.iter().partition(|r| r.digest == digest);
                    let live_current: Vec<&Replica> = current
                        .iter()
                        .copied()
                        .filter(|r| !serve.draining.contains_key(&r.id))
                        .collect();
                    // Start what is missing.
                    let first = list.iter().map(|r| r.number + 1).max().unwrap_or(0);
                    let missing = target.saturating_sub(live_current.len()) as u64;
                    for number in first..first + missing {
                        to_create.push((key.clone(), number, digest.clone(), replica_group(d)));
                    }
                    // Drain surplus replicas of this digest, newest first
                    // and those not placed before those that run.
                    let mut surplus: Vec<&Replica> = live_current.clone();
                    surplus.sort_by_key(|r| (running(r), std::cmp::Reverse(r.number)));
                    for r in surplus
                        .into_iter()
                        .take(live_current.len().saturating_sub(target))
                    {
                        serve.draining.entry(r.id.clone()).or_insert(now);
                    }
                    // A rolling update: each replica of the new digest that
                    // runs lets one of an older digest go.
                    let ready = live_current.iter().filter(|r| running(r)).count();
                    let mut old_live: Vec<&Replica> = old
                        .iter()
                        .copied()
                        .filter(|r| !serve.draining.contains_key(&r.id))
                        .collect();
                    old_live.sort_by_key(|r| r.number);
                    let keep = target.saturating_sub(ready);
                    for r in old_live.iter().skip(keep) {
                        serve.draining.entry(r.id.clone()).or_insert(now);
                    }
                    // Remove drained replicas once their requests are done.
                    let grace = Duration::from_millis(d.graceful_shutdown_ms);
                    for r in &list {
                        if serve
                            .draining
                            .get(&r.id)
                            .is_some_and(|since| now.duration_since(*since) >= grace || !running(r))
                        {
                            to_remove.push(r.id.clone());
                        }
                    }
                }
            }
            // Replicas of deployments no longer declared drain, then go.
            for list in by_deployment.values() {
                for r in list {
                    let since = *serve.draining.entry(r.id.clone()).or_insert(now);
                    if now.duration_since(since) >= Duration::from_millis(DEFAULT_GRACEFUL_MS) {
                        to_remove.push(r.id.clone());
                    }
                }
            }
            let declared: Vec<String> = apps
                .iter()
                .flat_map(|a| {
                    a.deployments
                        .iter()
                        .map(move |d| format!("{}/{}", a.name, d.name))
                })
                .collect();
            serve.scale.retain(|k, _| declared.contains(k));
        }
        // Groups created or removed below change what gateways should see.
        let unchanged = to_create.is_empty() && to_remove.is_empty();
        for (key, number, digest, (bundles, strategy)) in to_create {
            let spec = pb::PlacementGroupSpec {
                bundles,
                strategy: strategy.into(),
                name: format!("{key}/{number}@{digest}"),
                namespace: NAMESPACE.into(),
                detached: true,
                ..Default::default()
            };
            let record = pb::PlacementGroupRecord {
                id: format!("pg-{:016x}", crate::controller::actors::new_id()),
                spec: Some(spec),
                state: pb::PlacementGroupState::Pending.into(),
                owner: "serve".into(),
                created_ms: crate::tasks::groups::now_ms(),
                ..Default::default()
            };
            if let Err(e) = self.tasks.create_group(record) {
                tracing::warn!(deployment = key, error = %e, "cannot start a Serve replica");
            }
        }
        for id in to_remove {
            self.tasks.remove_group(&id);
            self.serve
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .draining
                .remove(&id);
        }
        let snapshot = if unchanged { snapshot } else { self.snapshot() };
        let routes = self.routes_of(&apps, &snapshot)?;
        let changed = {
            let mut serve = self.serve.lock().unwrap_or_else(|p| p.into_inner());
            let changed = serve.published != routes;
            serve.published = routes;
            changed
        };
        if changed {
            self.publish_catalog();
        }
        Ok(())
    }

    /// Every deployment as gateways serve it (by its route, and by name
    /// to guests), with the replicas they may send requests to.
    pub(crate) fn serve_routes(
        &self,
        apps: &[pb::ServeApplication],
    ) -> Result<Vec<pb::CatalogRoute>, ControllerError> {
        self.routes_of(apps, &self.snapshot())
    }

    /// [`Self::serve_routes`] from what `snapshot` read.
    fn routes_of(
        &self,
        apps: &[pb::ServeApplication],
        snapshot: &Snapshot,
    ) -> Result<Vec<pb::CatalogRoute>, ControllerError> {
        let (hosts, replicas) = (&snapshot.hosts, &snapshot.replicas);
        let serve = self.serve.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for app in apps {
            // Deployments without a route too: guests reach them by name.
            for d in &app.deployments {
                let key = format!("{}/{}", app.name, d.name);
                let Ok(digest) = self.state.resolve(&d.component) else {
                    continue;
                };
                let shown = replicas.get(&key).map(Vec::as_slice).unwrap_or_default();
                out.push(pb::CatalogRoute {
                    route: Some(pb::Route {
                        path: d.route.clone(),
                        component: d.component.clone(),
                        max_concurrency: d.max_ongoing_requests,
                        timeout_ms: d.timeout_ms,
                        auth: false,
                    }),
                    target: Some(pb::CatalogComponent {
                        name: d.component.clone(),
                        allow_http: self.state.http_grants(&digest)?,
                        digest,
                    }),
                    serve: Some(pb::ServeRoute {
                        app: app.name.clone(),
                        deployment: d.name.clone(),
                        max_ongoing_requests: d.max_ongoing_requests,
                        max_queued_requests: d.max_queued_requests,
                        function: d.function.clone(),
                        max_batch_size: d.max_batch_size,
                        batch_wait_timeout_ms: d.batch_wait_timeout_ms,
                        user_config: d.user_config.clone(),
                        health_check_path: d.health_check_path.clone(),
                        health_check_period_ms: d.health_check_period_ms,
                        health_check_timeout_ms: d.health_check_timeout_ms,
                        stream: d.stream,
                        capture: !d.placement_group_bundles.is_empty(),
                        replicas: shown
                            .iter()
                            .map(|r| replica_view(r, hosts, &serve.draining))
                            .filter(|r| r.running)
                            .collect(),
                    }),
                });
            }
        }
        Ok(out)
    }
}

/// The bundles and strategy of each replica's placement group: those
/// declared (Ray's placement_group_bundles), else one bundle of its
/// resources.
fn replica_group(d: &pb::ServeDeployment) -> (Vec<pb::Resources>, pb::PlacementStrategy) {
    if d.placement_group_bundles.is_empty() {
        let own = d.resources.clone().unwrap_or_default();
        return (vec![own], pb::PlacementStrategy::Spread);
    }
    (
        d.placement_group_bundles.clone(),
        d.placement_group_strategy(),
    )
}

/// A replica as gateways and `weft serve status` see it.
fn replica_view(
    r: &Replica,
    hosts: &HashMap<String, HostView>,
    draining: &HashMap<String, Instant>,
) -> pb::ServeReplica {
    let host = hosts.get(&r.host);
    pb::ServeReplica {
        id: r.id.clone(),
        host: r.host.clone(),
        http_address: host.map(|h| h.http_address.clone()).unwrap_or_default(),
        digest: r.digest.clone(),
        running: r.created && host.is_some_and(|h| h.alive),
        draining: draining.contains_key(&r.id),
    }
}

/// What gateways report of a deployment: requests held, replicas serving,
/// the worst gateway's recent p95 in milliseconds, and the sum of its live
/// replicas' latest values of its custom metric.
struct Load {
    ongoing: u32,
    serving: u32,
    p95_ms: f64,
    metric: f64,
}

/// The replicas deployment `d` should have now: its `num_replicas`, or
/// Ray's proportional policy over the requests gateways hold (or over its
/// custom metric, or its latency target, whichever asks for more), changed
/// only once the delay has agreed throughout (at once from zero, so the
/// first request after an idle spell waits for one replica, not a delay).
fn decide(d: &pb::ServeDeployment, scale: &mut Scale, load: Load, now: Instant) {
    let Load {
        ongoing,
        serving,
        p95_ms,
        metric,
    } = load;
    let Some(a) = &d.autoscaling else {
        if scale.target != d.num_replicas {
            scale.decision = format!("as declared: {} replica(s)", d.num_replicas);
        }
        scale.target = d.num_replicas;
        return;
    };
    let by_requests = (f64::from(ongoing) / a.target_ongoing_requests).ceil() as u32;
    // Over the latency target: one more than it has, whatever the count
    // of requests says.
    let slow = a.target_latency_p95_ms > 0.0 && p95_ms > a.target_latency_p95_ms;
    let by_latency = if slow { scale.target + 1 } else { 0 };
    let by_metric = if a.metric.is_empty() {
        0
    } else {
        (metric / a.target_metric_value).ceil() as u32
    };
    let wanted = by_requests
        .max(by_latency)
        .max(by_metric)
        .clamp(a.min_replicas, a.max_replicas);
    if scale.decision.is_empty() {
        scale.target = wanted.max(a.min_replicas);
        scale.decision = format!("started at {} replicas", scale.target);
        return;
    }
    let reason = |verb: &str| {
        let latency = if slow {
            format!(
                "; p95 {p95_ms:.1} ms over the target of {} ms",
                a.target_latency_p95_ms
            )
        } else {
            String::new()
        };
        let custom = if a.metric.is_empty() {
            String::new()
        } else {
            format!(
                "; {} {metric} over the target of {} per replica",
                a.metric, a.target_metric_value
            )
        };
        format!(
            "{verb} to {wanted} replicas: {ongoing} ongoing requests over {serving} serving, target \
             {} per replica{latency}{custom}",
            a.target_ongoing_requests
        )
    };
    if wanted > scale.target {
        scale.wants_fewer_since = None;
        let since = *scale.wants_more_since.get_or_insert(now);
        let delay = Duration::from_millis(a.upscale_delay_ms);
        if scale.target == 0 || now.duration_since(since) >= delay {
            scale.decision = reason(if scale.target == 0 {
                "woke"
            } else {
                "scaled up"
            });
            scale.target = wanted;
            scale.wants_more_since = None;
        }
    } else if wanted < scale.target {
        scale.wants_more_since = None;
        let since = *scale.wants_fewer_since.get_or_insert(now);
        if now.duration_since(since) >= Duration::from_millis(a.downscale_delay_ms) {
            scale.decision = reason("scaled down");
            scale.target = wanted;
            scale.wants_fewer_since = None;
        }
    } else {
        scale.wants_more_since = None;
        scale.wants_fewer_since = None;
    }
}

/// The replicas a deployment asks for before any decision: its count, or
/// its autoscaling minimum.
fn declared_target(d: &pb::ServeDeployment) -> u32 {
    d.autoscaling
        .as_ref()
        .map_or(d.num_replicas, |a| a.min_replicas)
}

/// Application and deployment names: they become parts of group names
/// and routes' labels.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Whether a component's `reconfigure` export, if it has one, can take a
/// replica's user_config (JSON text); why not.
fn check_reconfigure(exports: &[weft_values::Export]) -> Result<(), String> {
    let found = exports
        .iter()
        .find(|e| e.interface.is_none() && e.function == RECONFIGURE);
    match found {
        Some(e)
            if !matches!(
                e.signature.params.as_slice(),
                [(_, weft_values::Ty::String)]
            ) =>
        {
            Err(format!(
                "exports {RECONFIGURE} as {}, but a replica calls it with its user_config \
                 as JSON text: func(user-config: string)",
                e.signature
            ))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn reconfigure_takes_the_user_config_as_one_string() {
        let export = |params: Vec<(String, weft_values::Ty)>| weft_values::Export {
            interface: None,
            function: "reconfigure".into(),
            signature: weft_values::Signature {
                params,
                result: None,
            },
            is_async: false,
        };
        let string = vec![("user-config".to_string(), weft_values::Ty::String)];
        assert_eq!(check_reconfigure(&[export(string)]), Ok(()));
        assert_eq!(check_reconfigure(&[]), Ok(()), "a component without one");
        let err = check_reconfigure(&[export(vec![("n".into(), weft_values::Ty::U32)])])
            .expect_err("a u32 is refused");
        assert!(
            err.contains("exports reconfigure as func(n: u32)")
                && err.contains("func(user-config: string)"),
            "{err}"
        );
    }

    use super::*;

    fn autoscaled(min: u32, max: u32, up_ms: u64, down_ms: u64) -> pb::ServeDeployment {
        pb::ServeDeployment {
            autoscaling: Some(pb::ServeAutoscaling {
                min_replicas: min,
                max_replicas: max,
                target_ongoing_requests: 2.0,
                upscale_delay_ms: up_ms,
                downscale_delay_ms: down_ms,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn the_policy_waits_out_its_delays_but_wakes_at_once() {
        let d = autoscaled(0, 10, 1_000, 5_000);
        let mut s = Scale::default();
        let t0 = Instant::now();
        decide(
            &d,
            &mut s,
            Load {
                ongoing: 0,
                serving: 0,
                p95_ms: 0.0,
                metric: 0.0,
            },
            t0,
        );
        assert_eq!(s.target, 0, "{}", s.decision);
        decide(
            &d,
            &mut s,
            Load {
                ongoing: 1,
                serving: 0,
                p95_ms: 0.0,
                metric: 0.0,
            },
            t0,
        );
        assert_eq!(s.target, 1, "from zero at once: {}", s.decision);
        decide(
            &d,
            &mut s,
            Load {
                ongoing: 9,
                serving: 1,
                p95_ms: 0.0,
                metric: 0.0,
            },
            t0,
        );
        assert_eq!(s.target, 1, "not before the upscale delay");
        decide(
            &d,
            &mut s,
            Load {
                ongoing: 9,
                serving: 1,
                p95_ms: 0.0,
                metric: 0.0,
            },
            t0 + Duration::from_millis(1_000),
        );
        assert_eq!(s.target, 5, "{}", s.decision);
        assert!(s.decision.contains("9 ongoing"), "{}", s.decision);
        decide(
            &d,
            &mut s,
            Load {
                ongoing: 0,
                serving: 5,
                p95_ms: 0.0,
                metric: 0.0,
            },
            t0 + Duration::from_millis(2_000),
        );
        decide(
            &d,
            &mut s,
            Load {
                ongoing: 0,
                serving: 5,
                p95_ms: 0.0,
                metric: 0.0,
            },
            t0 + Duration::from_millis(6_000),
        );
        assert_eq!(s.target, 5, "not before the downscale delay");
        decide(
            &d,
            &mut s,
            Load {
                ongoing: 0,
                serving: 5,
                p95_ms: 0.0,
                metric: 0.0,
            },
            t0 + Duration::from_millis(7_000),
        );
        assert_eq!(s.target, 0, "{}", s.decision);
    }

    #[test]
    fn a_latency_target_adds_a_replica_while_it_is_missed() {
        let mut d = autoscaled(1, 3, 0, 1_000);
        if let Some(a) = d.autoscaling.as_mut() {
            a.target_latency_p95_ms = 50.0;
        }
        let mut s = Scale::default();
        let t0 = Instant::now();
        let load = |p95_ms| Load {
            ongoing: 1,
            serving: 1,
            p95_ms,
            metric: 0.0,
        };
        decide(&d, &mut s, load(10.0), t0);
        assert_eq!(s.target, 1);
        decide(&d, &mut s, load(80.0), t0);
        assert_eq!(s.target, 2, "{}", s.decision);
        assert!(
            s.decision.contains("p95 80.0 ms over the target of 50 ms"),
            "{}",
            s.decision
        );
        decide(&d, &mut s, load(80.0), t0);
        decide(&d, &mut s, load(80.0), t0);
        assert_eq!(s.target, 3, "never past max_replicas");
        decide(&d, &mut s, load(10.0), t0);
        decide(&d, &mut s, load(10.0), t0 + Duration::from_millis(1_000));
        assert_eq!(
            s.target, 1,
            "back to what the requests ask for: {}",
            s.decision
        );
    }

    #[test]
    fn a_fixed_deployment_keeps_its_count() {
        let d = pb::ServeDeployment {
            num_replicas: 3,
            ..Default::default()
        };
        let mut s = Scale::default();
        decide(
            &d,
            &mut s,
            Load {
                ongoing: 100,
                serving: 3,
                p95_ms: 0.0,
                metric: 0.0,
            },
            Instant::now(),
        );
        assert_eq!(s.target, 3);
    }

    #[test]
    fn replicas_are_read_from_their_groups_names() {
        let group = |name: &str, state: pb::PlacementGroupState| pb::PlacementGroupRecord {
            id: format!("pg-{name}"),
            spec: Some(pb::PlacementGroupSpec {
                name: name.into(),
                namespace: NAMESPACE.into(),
                ..Default::default()
            }),
            state: state.into(),
            bundle_hosts: vec!["h1".into()],
            ..Default::default()
        };
        let found = replicas(vec![
            group("app/echo/3@sha256:ab", pb::PlacementGroupState::Created),
            group("app/echo/4@sha256:cd", pb::PlacementGroupState::Pending),
            group("app/echo/5@sha256:cd", pb::PlacementGroupState::Removed),
            group("not-a-replica", pb::PlacementGroupState::Created),
        ]);
        let echo = &found["app/echo"];
        assert_eq!(echo.len(), 2);
        assert_eq!(
            (echo[0].number, echo[0].digest.as_str(), echo[0].created),
            (3, "sha256:ab", true)
        );
        assert!(!echo[1].created);
    }

    #[test]
    fn a_custom_metric_asks_for_its_sum_over_the_target() {
        let mut d = autoscaled(1, 8, 0, 0);
        if let Some(a) = d.autoscaling.as_mut() {
            a.metric = "queue".into();
            a.target_metric_value = 10.0;
        }
        let mut s = Scale::default();
        let t0 = Instant::now();
        let load = |metric| Load {
            ongoing: 1,
            serving: 1,
            p95_ms: 0.0,
            metric,
        };
        decide(&d, &mut s, load(0.0), t0);
        assert_eq!(s.target, 1, "{}", s.decision);
        // 35 queued over a target of 10 a replica: 4, though one request
        // alone would ask for 1.
        decide(&d, &mut s, load(35.0), t0);
        assert_eq!(s.target, 4, "{}", s.decision);
        assert!(
            s.decision.contains("queue 35 over the target of 10"),
            "{}",
            s.decision
        );
        decide(&d, &mut s, load(500.0), t0);
        assert_eq!(s.target, 8, "clamped to max_replicas: {}", s.decision);
        decide(&d, &mut s, load(0.0), t0);
        assert_eq!(s.target, 1, "back to min_replicas: {}", s.decision);
    }
}
