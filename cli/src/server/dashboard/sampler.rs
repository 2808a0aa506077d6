//! The cluster overview the dashboard's pages share, and its history.
//!
//! One background loop reads the controllers, hosts, task counts, object
//! stores and gateway counters through the client API, every second while
//! someone watches and every ten seconds otherwise, and keeps the latest
//! reading and the last ten minutes of them. Pages read that copy, so any
//! number of open pages costs the cluster one reading a second.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use weft_client::Client;
use weft_proto::v1 as pb;
use weft_proto::v1::TaskState;

/// How often the overview is read while a page polls, and otherwise.
const WATCHED_EVERY: Duration = Duration::from_secs(1);
const IDLE_EVERY: Duration = Duration::from_secs(10);
/// A page counts as watching for this long after its last request.
const WATCH_GRACE: Duration = Duration::from_secs(30);
/// Readings kept for the charts: ten minutes at one a second.
const HISTORY: usize = 600;
/// How long one reading waits for a replica or host that does not answer.
const PATIENCE: Duration = Duration::from_secs(2);

/// One reading, as the charts need it.
struct Point {
    at_ms: u64,
    tasks: BTreeMap<String, u64>,
    /// Host id -> object store bytes used.
    store: BTreeMap<String, u64>,
    /// Route -> requests answered, and those answered with 5xx.
    routes: BTreeMap<String, (u64, u64)>,
}

pub struct Sampler {
    /// A client of this replica, made on first use. Views use clones of
    /// it; each reading puts back its own, which has followed the leader.
    client: Mutex<Option<Client>>,
    address: String,
    latest: Mutex<Value>,
    history: Mutex<VecDeque<Point>>,
    last_watched: Mutex<Instant>,
    wake: tokio::sync::Notify,
}

impl Sampler {
    /// Starts reading the cluster through the controller at `address`.
    pub fn start(address: String) -> Arc<Self> {
        let sampler = Arc::new(Sampler {
            client: Mutex::new(None),
            address,
            latest: Mutex::new(json!({ "error": "the first reading is under way" })),
            history: Mutex::new(VecDeque::new()),
            // Idle until a page asks.
            last_watched: Mutex::new(
                Instant::now()
                    .checked_sub(WATCH_GRACE)
                    .unwrap_or_else(Instant::now),
            ),
            wake: tokio::sync::Notify::new(),
        });
        tokio::spawn(sampler.clone().run());
        sampler
    }

    /// A page asked for something: read every second for a while.
    pub fn watched(&self) {
        let mut last = self.last_watched.lock().unwrap_or_else(|p| p.into_inner());
        let idle = last.elapsed() > WATCH_GRACE;
        *last = Instant::now();
        if idle {
            self.wake.notify_one();
        }
    }

    /// A client of the cluster through this replica (connected on first
    /// use); clones share their channels, so views run side by side.
    pub async fn client(&self) -> Result<Client, weft_client::ClientError> {
        if let Some(client) = self
            .client
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
        {
            return Ok(client);
        }
        let client = Client::connect(&self.address).await?.retry_for(PATIENCE);
        *self.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client.clone());
        Ok(client)
    }

    /// The latest reading with the charts' series.
    pub fn overview(&self) -> Value {
        let mut latest = self
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        latest["history"] = self.series();
        latest
    }

    async fn run(self: Arc<Self>) {
        let mut members: HashMap<String, Client> = HashMap::new();
        loop {
            let (reading, point) = match self.client().await {
                Ok(mut client) => {
                    let read = read(&mut client, &mut members).await;
                    *self.client.lock().unwrap_or_else(|p| p.into_inner()) = Some(client);
                    read
                }
                Err(e) => (json!({ "at": now_ms(), "error": e.to_string() }), None),
            };
            if let Some(point) = point {
                let mut history = self.history.lock().unwrap_or_else(|p| p.into_inner());
                if history.len() >= HISTORY {
                    history.pop_front();
                }
                history.push_back(point);
            }
            *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = reading;
            let watched = self
                .last_watched
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .elapsed()
                < WATCH_GRACE;
            let every = if watched { WATCHED_EVERY } else { IDLE_EVERY };
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    /// The history as parallel arrays: times, task counts by state (for
    /// finished and failed, how many ever did), store use by host, and
    /// per route the requests and 5xx answers a second.
    fn series(&self) -> Value {
        let history = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let at: Vec<u64> = history.iter().map(|p| p.at_ms).collect();
        // A state no task is in is absent from a reading: zero. A host
        // absent from a reading had left: a gap.
        let tasks = columns(&history, |p| &p.tasks, Some(0));
        let store = columns(&history, |p| &p.store, None);
        let mut routes = serde_json::Map::new();
        let names: std::collections::BTreeSet<&String> =
            history.iter().flat_map(|p| p.routes.keys()).collect();
        let points: Vec<&Point> = history.iter().collect();
        for route in names {
            let mut rate = Vec::new();
            let mut errors = Vec::new();
            for pair in points.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let secs = (b.at_ms.saturating_sub(a.at_ms) as f64 / 1e3).max(1e-3);
                let (ra, ea) = a.routes.get(route).copied().unwrap_or_default();
                let (rb, eb) = b.routes.get(route).copied().unwrap_or_default();
                // A host that restarted counts from zero again.
                rate.push(rb.saturating_sub(ra) as f64 / secs);
                errors.push(eb.saturating_sub(ea) as f64 / secs);
            }
            routes.insert(
                route.clone(),
                json!({ "requests_per_s": rate, "errors_per_s": errors }),
            );
        }
        json!({ "at": at, "tasks": tasks, "store": store, "routes": routes })
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One series per key of `field` over `history`, a reading without the
/// key giving `missing`.
fn columns(
    history: &VecDeque<Point>,
    field: fn(&Point) -> &BTreeMap<String, u64>,
    missing: Option<u64>,
) -> serde_json::Map<String, Value> {
    let keys: std::collections::BTreeSet<&String> =
        history.iter().flat_map(|p| field(p).keys()).collect();
    keys.into_iter()
        .map(|key| {
            let values: Vec<Option<u64>> = history
                .iter()
                .map(|p| field(p).get(key).copied().or(missing))
                .collect();
            (key.clone(), json!(values))
        })
        .collect()
}

/// One reading of the cluster: this replica's view of the group, every
/// replica's own status, the hosts with their stores, task counts and
/// gateway counters, and its values for the charts. A failure is the
/// reading's `error` (and no chart values).
async fn read(
    client: &mut Client,
    members: &mut HashMap<String, Client>,
) -> (Value, Option<Point>) {
    let at_ms = now_ms();
    let status = match client.status().await {
        Ok(status) => status,
        Err(e) => return (json!({ "at": at_ms, "error": e.to_string() }), None),
    };
    let mut controllers = Vec::new();
    for member in &status.members {
        let own = if member.id == status.node_id {
            Ok(status.clone())
        } else {
            member_status(members, &member.address).await
        };
        let mut row = json!({
            "id": member.id,
            "address": member.address,
            "voter": member.voter,
        });
        if member.has_progress {
            row["matched"] = json!(member.matched_index);
            row["lag"] = json!(member.lag);
        }
        match own {
            Ok(s) => {
                row["reachable"] = json!(true);
                row["role"] = json!(s.role);
                row["term"] = json!(s.term);
                row["last_log"] = json!(s.last_log_index);
                row["commit"] = json!(s.commit_index);
                row["applied"] = json!(s.applied_index);
                row["dashboard"] = json!(s.dashboard);
                row["leader"] = json!(s.has_leader.then_some(s.leader_id));
            }
            Err(e) => {
                row["reachable"] = json!(false);
                row["error"] = json!(e);
            }
        }
        controllers.push(row);
    }
    // Hosts, task counts and gateway counters live on the leader.
    let (nodes, tasks) = match (
        client.list_nodes().await,
        client.list_tasks(TaskState::Unspecified, 0).await,
    ) {
        (Ok(nodes), Ok(tasks)) => (nodes, tasks),
        (Err(e), _) | (_, Err(e)) => {
            let reading = json!({
                "at": at_ms,
                "error": format!("the leader did not answer: {e}"),
                "controllers": controllers,
            });
            return (reading, None);
        }
    };
    let mut hosts = Vec::new();
    let mut store_used = BTreeMap::new();
    let mut routes: BTreeMap<String, (u64, u64, BTreeMap<u32, u64>)> = BTreeMap::new();
    for node in &nodes {
        let mut row = host_row(node);
        if node.alive {
            let stats = tokio::time::timeout(
                PATIENCE,
                weft_client::objects::store_stats(&node.address, 0),
            )
            .await;
            row["store"] = match stats {
                Ok(Ok(s)) => {
                    store_used.insert(node.id.clone(), s.used);
                    json!({
                    "used": s.used,
                    "capacity": s.capacity,
                    "objects": s.objects,
                    "spilled": s.spilled_bytes,
                    "spilled_objects": s.spilled_objects,
                    })
                }
                Ok(Err(e)) => json!({ "error": e.to_string() }),
                Err(_) => json!({ "error": "its store did not answer in 2 s" }),
            };
        }
        for answered in node.engine.iter().flat_map(|e| &e.answered) {
            let entry = routes.entry(answered.route.clone()).or_default();
            entry.0 += answered.count;
            if answered.status >= 500 {
                entry.1 += answered.count;
            }
            *entry.2.entry(answered.status).or_default() += answered.count;
        }
        hosts.push(row);
    }
    // The states tasks are in now, and how many ever finished or failed
    // (the table lets go of finished tasks nobody holds).
    let mut states: BTreeMap<String, u64> = tasks
        .counts
        .iter()
        .filter(|c| !matches!(c.state(), TaskState::Finished | TaskState::Failed))
        .map(|c| (c.state().name().to_string(), c.count))
        .collect();
    states.insert(TaskState::Finished.name().into(), tasks.finished_total);
    states.insert(TaskState::Failed.name().into(), tasks.failed_total);
    let point = Point {
        at_ms,
        tasks: states,
        store: store_used,
        routes: routes
            .iter()
            .map(|(route, (requests, errors, _))| (route.clone(), (*requests, *errors)))
            .collect(),
    };
    let routes: Vec<Value> = routes
        .into_iter()
        .map(|(route, (requests, errors, statuses))| {
            let statuses: BTreeMap<String, u64> = statuses
                .into_iter()
                .map(|(s, n)| (s.to_string(), n))
                .collect();
            json!({ "route": route, "requests": requests, "errors": errors, "statuses": statuses })
        })
        .collect();
    let reading = json!({
        "at": at_ms,
        "served_by": status.node_id,
        "version": status.version,
        "leader": status.has_leader.then_some(status.leader_id),
        "components": status.components,
        "controllers": controllers,
        "hosts": hosts,
        "tasks": tasks.counts_by_name(),
        "tasks_total": { "finished": tasks.finished_total, "failed": tasks.failed_total },
        "routes": routes,
    });
    (reading, Some(point))
}

/// Another replica's own status, over a connection kept between readings.
async fn member_status(
    members: &mut HashMap<String, Client>,
    address: &str,
) -> Result<pb::StatusResponse, String> {
    let asked = async {
        if !members.contains_key(address) {
            let client = Client::connect(address).await?.retry_for(PATIENCE);
            members.insert(address.to_string(), client);
        }
        let member = members.get_mut(address).expect("inserted above");
        member.status().await
    };
    match tokio::time::timeout(PATIENCE, asked).await {
        Ok(Ok(status)) => Ok(status),
        Ok(Err(e)) => {
            // Connect afresh next time: the replica may come back.
            members.remove(address);
            Err(e.to_string())
        }
        Err(_) => Err("did not answer in 2 s".into()),
    }
}

fn host_row(node: &pb::NodeInfo) -> Value {
    let total = node.total.clone().unwrap_or_default();
    let used = node.used.clone().unwrap_or_default();
    json!({
        "id": node.id,
        "address": node.address,
        "alive": node.alive,
        "dead_reason": node.dead_reason,
        "heartbeat_ms": node.millis_since_heartbeat,
        "cpus": [used.cpus, total.cpus],
        "memory": [used.memory, total.memory],
        "gpus": [used.gpus, total.gpus],
        "gpu": node.gpu,
        "running": node.running,
        "tasks_done": node.tasks_done,
        "calls": node.engine.as_ref().map_or(0, |e| e.calls),
    })
}
