//! The dashboard's on-demand views: each reads what its page shows
//! through the client API when asked (the overview comes from the sampler)
//! and answers it as JSON.

use hyper::StatusCode;
use serde_json::{Value, json};
use weft_client::{Client, ClientError, LogsQuery};
use weft_proto::v1 as pb;

use super::param;

/// Rows a table view answers at most.
const MAX_ROWS: u32 = 2000;
/// Lines a log view starts with.
const LOG_TAIL: u64 = 500;

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl ViewError {
    /// The HTTP status a page sees: the RPC's code where there is one.
    pub fn status(&self) -> StatusCode {
        match self {
            ViewError::NotFound(_) => StatusCode::NOT_FOUND,
            ViewError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ViewError::Client(ClientError::Rpc(s)) => match s.code() {
                tonic::Code::NotFound => StatusCode::NOT_FOUND,
                tonic::Code::InvalidArgument => StatusCode::BAD_REQUEST,
                tonic::Code::FailedPrecondition => StatusCode::CONFLICT,
                tonic::Code::Unauthenticated => StatusCode::UNAUTHORIZED,
                tonic::Code::PermissionDenied => StatusCode::FORBIDDEN,
                tonic::Code::Unavailable | tonic::Code::DeadlineExceeded => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                _ => StatusCode::BAD_GATEWAY,
            },
            ViewError::Client(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// Answers `GET /api/VIEW?QUERY`.
pub async fn read(
    client: &mut Client,
    view: &str,
    query: &[(String, String)],
) -> Result<Value, ViewError> {
    match view {
        "tasks" => tasks(client, query).await,
        "task" => task(client, required(query, "id")?).await,
        "logs" => logs(client, required(query, "id")?, param(query, "from")).await,
        "actors" => actors(client).await,
        "groups" => groups(client).await,
        "serve" => Ok(json!({
            "apps": weft_client::serve::statuses_value(&client.serve_status("").await?)
        })),
        "objects" => objects(client).await,
        "jobs" => jobs(client).await,
        "tune" => Ok(json!({
            "experiments": weft_client::tune::experiments_json(&client.tune_experiments().await?)
        })),
        "experiment" => Ok(weft_client::tune::status_json(
            &client.tune_status(required(query, "id")?).await?,
        )),
        "components" => components(client).await,
        _ => Err(ViewError::NotFound(format!("no view /api/{view}"))),
    }
}

fn required<'a>(query: &'a [(String, String)], name: &str) -> Result<&'a str, ViewError> {
    match param(query, name) {
        "" => Err(ViewError::BadRequest(format!("`{name}` is missing"))),
        value => Ok(value),
    }
}

/// Tasks, newest first: `state` filters by state, `q` by text in the id,
/// component, function, host or error; `limit` rows at most.
async fn tasks(client: &mut Client, query: &[(String, String)]) -> Result<Value, ViewError> {
    let limit = param(query, "limit").parse().unwrap_or(200).min(MAX_ROWS) as usize;
    let text = param(query, "q").to_lowercase();
    // A text filter looks further back than the rows it shows.
    let fetch = if text.is_empty() {
        limit as u32
    } else {
        MAX_ROWS * 10
    };
    let state = match param(query, "state") {
        "" => pb::TaskState::Unspecified,
        name => name
            .parse()
            .map_err(|e: weft_proto::UnknownState| ViewError::BadRequest(e.to_string()))?,
    };
    let reply = client.list_tasks(state, fetch).await?;
    let rows: Vec<Value> = reply
        .tasks
        .iter()
        .filter(|t| {
            text.is_empty()
                || [&t.id, &t.component, &t.function, &t.host, &t.error]
                    .iter()
                    .any(|f| f.to_lowercase().contains(&text))
        })
        .take(limit)
        .map(|t| {
            json!({
                "id": t.id,
                "component": t.component,
                "function": t.function,
                "state": t.state().name(),
                "host": t.host,
                "gpus": weft_proto::format_gpus(&t.gpu_devices),
                "attempts": t.attempts,
                "error": t.error,
                "run_ms": (t.run_micros > 0).then(|| t.run_micros as f64 / 1e3),
            })
        })
        .collect();
    Ok(json!({
        "tasks": rows,
        "counts": reply.counts_by_name(),
    }))
}

/// One task's (or actor's) recorded events and the end of its output.
async fn task(client: &mut Client, id: &str) -> Result<Value, ViewError> {
    let events = client.task_events(id).await?;
    let events: Vec<Value> = events
        .events
        .iter()
        .map(|e| {
            json!({
                "at_ms": e.at_micros / 1000,
                "kind": event_kind(e.kind),
                "label": e.label,
                "host": e.host,
                "attempt": e.attempt,
                "detail": e.detail,
                "run_ms": (e.run_micros > 0).then(|| e.run_micros as f64 / 1e3),
            })
        })
        .collect();
    if events.is_empty() {
        return Err(ViewError::NotFound(format!(
            "the leader remembers no task or actor {id}"
        )));
    }
    let logs = logs(client, id, "").await.unwrap_or_else(
        |e| json!({ "lines": [], "next": 0, "running": false, "error": e.to_string() }),
    );
    Ok(json!({ "id": id, "events": events, "logs": logs }))
}

fn event_kind(kind: i32) -> &'static str {
    use pb::TaskEventKind as K;
    match K::try_from(kind).unwrap_or(K::Unspecified) {
        K::Submitted => "submitted",
        K::Scheduled => "scheduled",
        K::Retried => "retried",
        K::Finished => "finished",
        K::Failed => "failed",
        K::ActorCreated => "actor created",
        K::ActorPlaced => "actor placed",
        K::ActorAlive => "actor alive",
        K::ActorRestarting => "actor restarting",
        K::ActorDead => "actor dead",
        K::Unspecified => "unknown",
    }
}

/// The output of a task, actor or job (`id`), from line `from` on, or its
/// last lines when `from` is empty: a page following it passes `next`.
async fn logs(client: &mut Client, id: &str, from: &str) -> Result<Value, ViewError> {
    let query = match from.parse::<u64>() {
        Ok(from_line) => LogsQuery {
            from_line,
            ..LogsQuery::default()
        },
        Err(_) => LogsQuery {
            tail: LOG_TAIL,
            ..LogsQuery::default()
        },
    };
    let read = match client.logs(id, query).await {
        Ok(read) => read,
        // Not started yet: nothing to show, more to come.
        Err(ClientError::Rpc(s)) if s.code() == tonic::Code::FailedPrecondition => {
            return Ok(json!({ "lines": [], "next": 0, "running": true, "waiting": s.message() }));
        }
        Err(e) => return Err(e.into()),
    };
    let lines: Vec<Value> = read
        .reply
        .lines
        .iter()
        .map(|l| json!({ "at_ms": l.at_micros / 1000, "text": l.text }))
        .collect();
    Ok(json!({
        "lines": lines,
        "next": read.reply.next_line,
        "running": read.running,
        "truncated": read.reply.truncated,
    }))
}

async fn actors(client: &mut Client) -> Result<Value, ViewError> {
    let reply = client
        .request(|mut c| async move { c.list_actors(pb::ListActorsRequest {}).await })
        .await?;
    let rows: Vec<Value> = reply
        .actors
        .iter()
        .map(|a| {
            let spec = a.spec.clone().unwrap_or_default();
            let options = spec.options.unwrap_or_default();
            json!({
                "id": a.id,
                "name": options.name,
                "namespace": options.namespace,
                "class": format!("{}.{}", spec.component, spec.class),
                "state": a.state().name(),
                "host": a.host,
                "gpus": weft_proto::format_gpus(&a.gpu_devices),
                "restarts": a.restarts,
                "incarnation": a.incarnation,
                "cause": a.cause,
                "calls": a.calls,
                "created_ms": a.created_ms,
                "detached": options.detached,
                "checkpoint_bytes": a.checkpoint.len(),
                "checkpoint_calls": a.checkpoint_calls,
                "checkpoint_error": a.checkpoint_error,
            })
        })
        .collect();
    Ok(json!({ "actors": rows }))
}

/// Every placement group: strategy, state, each bundle with its host, and
/// why a pending one waits.
async fn groups(client: &mut Client) -> Result<Value, ViewError> {
    let reply = client
        .request(|mut c| async move {
            c.list_placement_groups(pb::ListPlacementGroupsRequest {})
                .await
        })
        .await?;
    let rows: Vec<Value> = reply
        .groups
        .iter()
        .map(|g| {
            let spec = g.spec.clone().unwrap_or_default();
            let bundles: Vec<Value> = spec
                .bundles
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    json!({
                        "cpus": b.cpus,
                        "gpus": b.gpus,
                        "memory": b.memory,
                        "custom": b.custom,
                        "host": g.bundle_hosts.get(i).cloned().unwrap_or_default(),
                    })
                })
                .collect();
            json!({
                "id": g.id,
                "name": spec.name,
                "namespace": spec.namespace,
                "strategy": spec.strategy().name(),
                "state": g.state().label(),
                "bundles": bundles,
                "pending_reason": g.pending_reason,
                "detached": spec.detached,
                "created_ms": g.created_ms,
            })
        })
        .collect();
    Ok(json!({ "groups": rows }))
}

/// Every live host's store with its largest objects, and the cluster's
/// newest objects with their owners, copies and refs.
async fn objects(client: &mut Client) -> Result<Value, ViewError> {
    let (listed, total) = client.list_objects(200).await?;
    let list: Vec<Value> = listed
        .iter()
        .map(|o| {
            json!({
                "id": o.id,
                "kind": o.kind,
                "owner": o.owner,
                "size": o.size,
                "held_by": o.held_by,
                "refs": o.refs,
                "copies": o.copies.iter().map(|c| json!({
                    "host": c.host,
                    "state": c.state().name(),
                    "pins": c.pins,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let nodes = client.list_nodes().await?;
    let mut hosts = Vec::new();
    for node in nodes.iter().filter(|n| n.alive) {
        let stats = weft_client::objects::store_stats(&node.address, 20).await;
        hosts.push(match stats {
            Ok(s) => json!({
                "host": node.id,
                "dir": s.dir,
                "spill_dir": s.spill_dir,
                "capacity": s.capacity,
                "used": s.used,
                "largest_free": s.largest_free,
                "objects": s.objects,
                "primary": s.primary_bytes,
                "secondary": s.secondary_bytes,
                "spilled": s.spilled_bytes,
                "spilled_objects": s.spilled_objects,
                "spills": s.spills,
                "restores": s.restores,
                "evictions": s.evictions,
                "pulled": s.pulled_bytes,
                "served": s.served_bytes,
                "largest": s.largest.iter().map(|o| json!({
                    "id": o.id,
                    "size": o.size,
                    "state": o.state().name(),
                })).collect::<Vec<_>>(),
            }),
            Err(e) => json!({ "host": node.id, "error": e.to_string() }),
        });
    }
    Ok(json!({ "hosts": hosts, "objects": list, "total": total }))
}

fn job_row(j: &pb::JobRecord) -> Value {
    json!({
        "id": j.id,
        "name": j.name,
        "state": j.state().name(),
        "component": j.component,
        "call": j.call,
        "attempt": j.attempt,
        "max_retries": j.max_retries,
        "task": j.task,
        "host": j.host,
        "reason": j.reason,
        "result": j.result,
        "submitted_ms": j.submitted_ms,
        "started_ms": j.started_ms,
        "ended_ms": j.ended_ms,
    })
}

async fn jobs(client: &mut Client) -> Result<Value, ViewError> {
    let mut jobs = client.jobs().await?;
    jobs.sort_by_key(|j| std::cmp::Reverse(j.submitted_ms));
    Ok(json!({ "jobs": jobs.iter().map(job_row).collect::<Vec<_>>() }))
}

/// `POST /api/jobs/stop?id=ID`.
pub async fn stop_job(client: &mut Client, id: &str) -> Result<Value, ViewError> {
    if id.is_empty() {
        return Err(ViewError::BadRequest("`id` is missing".into()));
    }
    let (record, stopped) = client.stop_job(id).await?;
    Ok(json!({ "stopped": stopped, "job": job_row(&record) }))
}

/// Deployed components with their exports, and the routes.
async fn components(client: &mut Client) -> Result<Value, ViewError> {
    let components = client.components().await?;
    let routes = client.routes().await?;
    let components: Vec<Value> = components
        .iter()
        .map(|c| {
            json!({
                "digest": c.digest,
                "names": c.names,
                "size": c.size_bytes,
                "deployed_ms": c.deployed_at_ms,
                "functions": c.functions.iter().map(|f| json!({
                    "name": f.name,
                    "signature": f.signature,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let routes: Vec<Value> = routes
        .iter()
        .map(|r| {
            json!({
                "path": r.path,
                "component": r.component,
                "max_concurrency": r.max_concurrency,
                "timeout_ms": r.timeout_ms,
                "auth": r.auth,
            })
        })
        .collect();
    Ok(json!({ "components": components, "routes": routes }))
}
