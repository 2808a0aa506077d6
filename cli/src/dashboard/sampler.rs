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
    /// A client of this replica, made on first use: it follows the leader.
    client: tokio::sync::Mutex<Option<Client>>,
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
            client: tokio::sync::Mutex::new(None),
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

    /// The client views read through (one at a time: views are small).
    pub async fn client(
        &self,
    ) -> Result<tokio::sync::MappedMutexGuard<'_, Client>, weft_client::ClientError> {
        let mut slot = self.client.lock().await;
        if slot.is_none() {
            *slot = Some(Client::connect(&self.address).await?.retry_for(PATIENCE));
        }
        Ok(tokio::sync::MutexGuard::map(slot, |s| {
            s.as_mut().expect("connected above")
        }))
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
            let reading = match self.client().await {
                Ok(mut client) => read(&mut client, &mut members).await,
                Err(e) => json!({ "at": now_ms(), "error": e.to_string() }),
            };
            if let Some(point) = point_of(&reading) {
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
        let mut states: Vec<&String> = history.iter().flat_map(|p| p.tasks.keys()).collect();
        states.sort();
        states.dedup();
        let tasks: serde_json::Map<String, Value> = states
            .iter()
            .map(|s| {
                let v: Vec<u64> = history
                    .iter()
                    .map(|p| p.tasks.get(*s).copied().unwrap_or(0))
                    .collect();
                (s.to_string(), json!(v))
            })
            .collect();
        let mut hosts: Vec<&String> = history.iter().flat_map(|p| p.store.keys()).collect();
        hosts.sort();
        hosts.dedup();
        let store: serde_json::Map<String, Value> = hosts
            .iter()
            .map(|h| {
                let v: Vec<Option<u64>> =
                    history.iter().map(|p| p.store.get(*h).copied()).collect();
                (h.to_string(), json!(v))
            })
            .collect();
        let mut routes = serde_json::Map::new();
        let names: std::collections::BTreeSet<&String> =
            history.iter().flat_map(|p| p.routes.keys()).collect();
        for route in names {
            let mut rate = Vec::new();
            let mut errors = Vec::new();
            for pair in history.iter().collect::<Vec<_>>().windows(2) {
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

/// The chart values of one reading (none when it failed).
fn point_of(reading: &Value) -> Option<Point> {
    if reading.get("error").is_some() {
        return None;
    }
    // The states tasks are in now, and how many ever finished or failed
    // (the table lets go of finished tasks nobody holds).
    let mut tasks: BTreeMap<String, u64> = reading["tasks"]
        .as_object()?
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "finished" | "failed"))
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
        .collect();
    for (k, v) in reading["tasks_total"].as_object()? {
        tasks.insert(k.clone(), v.as_u64().unwrap_or(0));
    }
    let store = reading["hosts"]
        .as_array()?
        .iter()
        .filter_map(|h| Some((h["id"].as_str()?.to_string(), h["store"]["used"].as_u64()?)))
        .collect();
    let routes = reading["routes"]
        .as_array()?
        .iter()
        .filter_map(|r| {
            Some((
                r["route"].as_str()?.to_string(),
                (r["requests"].as_u64()?, r["errors"].as_u64()?),
            ))
        })
        .collect();
    Some(Point {
        at_ms: reading["at"].as_u64()?,
        tasks,
        store,
        routes,
    })
}

/// One reading of the cluster: this replica's view of the group, every
/// replica's own status, the hosts with their stores, task counts and
/// gateway counters. A failure is the reading's `error`.
async fn read(client: &mut Client, members: &mut HashMap<String, Client>) -> Value {
    let status = match client.status().await {
        Ok(status) => status,
        Err(e) => return json!({ "at": now_ms(), "error": e.to_string() }),
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
    let (nodes, tasks) = match (client.list_nodes().await, client.list_tasks("", 0).await) {
        (Ok(nodes), Ok(tasks)) => (nodes, tasks),
        (Err(e), _) | (_, Err(e)) => {
            return json!({
                "at": now_ms(),
                "error": format!("the leader did not answer: {e}"),
                "controllers": controllers,
            });
        }
    };
    let mut hosts = Vec::new();
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
                Ok(Ok(s)) => json!({
                    "used": s.used,
                    "capacity": s.capacity,
                    "objects": s.objects,
                    "spilled": s.spilled_bytes,
                    "spilled_objects": s.spilled_objects,
                }),
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
    json!({
        "at": now_ms(),
        "served_by": status.node_id,
        "version": status.version,
        "leader": status.has_leader.then_some(status.leader_id),
        "components": status.components,
        "controllers": controllers,
        "hosts": hosts,
        "tasks": tasks.counts.into_iter().collect::<BTreeMap<_, _>>(),
        "tasks_total": { "finished": tasks.finished_total, "failed": tasks.failed_total },
        "routes": routes,
    })
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
