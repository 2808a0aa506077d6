//! `weft timeline` and `weft list tasks --detail`: the leader's history of
//! task state changes, as a Chrome trace (viewable in Perfetto or
//! chrome://tracing, as `ray timeline` writes) or as lines for one task.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::Context;
use serde_json::json;
use weft_proto::v1::{TaskEvent, TaskEventKind};

/// Writes every remembered task attempt to `out` as a Chrome trace: one
/// complete event per attempt, from its scheduling to its end, on a row of
/// its host's process (overlapping attempts get rows of their own).
pub async fn timeline(address: &str, out: &Path) -> anyhow::Result<()> {
    let mut client = crate::client::connect(address).await?;
    let reply = client.task_events("").await?;
    let trace = chrome_trace(&reply.events);
    let attempts = trace.iter().filter(|e| e["ph"] == "X").count();
    let document = json!({ "traceEvents": trace, "displayTimeUnit": "ms" });
    std::fs::write(out, serde_json::to_vec(&document)?)
        .with_context(|| format!("cannot write {}", out.display()))?;
    let dropped = if reply.dropped > 0 {
        format!(" (the {} oldest events were no longer kept)", reply.dropped)
    } else {
        String::new()
    };
    println!(
        "wrote {attempts} task attempts to {}{dropped}; open it in Perfetto (ui.perfetto.dev) or chrome://tracing",
        out.display()
    );
    Ok(())
}

/// The trace events: process names first, then one `X` event per attempt.
fn chrome_trace(events: &[TaskEvent]) -> Vec<serde_json::Value> {
    let mut labels: HashMap<&str, &str> = HashMap::new();
    let mut started: HashMap<&str, &TaskEvent> = HashMap::new();
    // Per host: its pid, and when each of its rows is next free.
    let mut hosts: BTreeMap<&str, (usize, Vec<u64>)> = BTreeMap::new();
    let mut out = Vec::new();
    for e in events {
        match e.kind() {
            TaskEventKind::Submitted => {
                labels.insert(&e.task, &e.label);
            }
            TaskEventKind::Scheduled => {
                started.insert(&e.task, e);
            }
            TaskEventKind::Retried | TaskEventKind::Finished | TaskEventKind::Failed => {
                let Some(start) = started.remove(e.task.as_str()) else {
                    continue;
                };
                let next_pid = hosts.len() + 1;
                let (pid, rows) = hosts.entry(&start.host).or_insert((next_pid, Vec::new()));
                let (begin, end) = (start.at_micros, e.at_micros.max(start.at_micros));
                let row = match rows.iter().position(|free| *free <= begin) {
                    Some(row) => row,
                    None => {
                        rows.push(0);
                        rows.len() - 1
                    }
                };
                rows[row] = end;
                let outcome = match e.kind() {
                    TaskEventKind::Finished => "finished".to_string(),
                    _ => e.detail.clone(),
                };
                let name = labels.get(e.task.as_str()).copied().unwrap_or("task");
                out.push(json!({
                    "name": name,
                    "cat": "task",
                    "ph": "X",
                    "ts": begin,
                    "dur": end - begin,
                    "pid": *pid,
                    "tid": row + 1,
                    "args": {
                        "task": e.task,
                        "attempt": start.attempt,
                        "outcome": outcome,
                        "run_ms": e.run_micros as f64 / 1000.0,
                    },
                }));
            }
            // An actor's life is not an attempt: the trace shows tasks.
            TaskEventKind::Unspecified
            | TaskEventKind::ActorCreated
            | TaskEventKind::ActorPlaced
            | TaskEventKind::ActorAlive
            | TaskEventKind::ActorRestarting
            | TaskEventKind::ActorDead => {}
        }
    }
    let mut trace: Vec<serde_json::Value> = hosts
        .iter()
        .map(|(host, (pid, _))| {
            json!({ "name": "process_name", "ph": "M", "pid": *pid, "args": { "name": host } })
        })
        .collect();
    trace.extend(out);
    trace
}

/// Prints task `task`'s history (or an actor's, under its id), each change
/// with its time after the first.
pub async fn detail(address: &str, task: &str) -> anyhow::Result<()> {
    let mut client = crate::client::connect(address).await?;
    let events = client.task_events(task).await?.events;
    let Some(first) = events.first() else {
        anyhow::bail!(
            "the leader remembers no events of task {task} (unknown, or older than its history)"
        );
    };
    let label = events
        .iter()
        .find(|e| !e.label.is_empty())
        .map_or("", |e| e.label.as_str());
    let what = if events
        .iter()
        .any(|e| e.kind() == TaskEventKind::ActorCreated)
    {
        "actor"
    } else {
        "task"
    };
    println!("{what} {task}  {label}");
    for e in &events {
        let after = (e.at_micros.saturating_sub(first.at_micros)) as f64 / 1000.0;
        let what = match e.kind() {
            TaskEventKind::Submitted => "submitted".to_string(),
            TaskEventKind::Scheduled => format!(
                "scheduled on {} (attempt {}){}",
                e.host,
                e.attempt,
                on_gpus(&e.detail)
            ),
            TaskEventKind::Retried => format!(
                "attempt {} on {} failed, retrying: {}",
                e.attempt, e.host, e.detail
            ),
            TaskEventKind::Finished => format!(
                "finished on {} ({:.3} ms on the host)",
                e.host,
                e.run_micros as f64 / 1000.0
            ),
            TaskEventKind::Failed => format!("failed on {}: {}", e.host, e.detail),
            TaskEventKind::ActorCreated => "created".to_string(),
            TaskEventKind::ActorPlaced => {
                format!(
                    "placed on {} (incarnation {}){}",
                    e.host,
                    e.attempt,
                    on_gpus(&e.detail)
                )
            }
            TaskEventKind::ActorAlive => format!("alive on {}", e.host),
            TaskEventKind::ActorRestarting => format!("restarting: {}", e.detail),
            TaskEventKind::ActorDead => format!("dead: {}", e.detail),
            TaskEventKind::Unspecified => continue,
        };
        println!("  +{after:>10.3} ms  {what}");
    }
    Ok(())
}

/// A placement's GPUs (its event's detail), as the end of its line.
fn on_gpus(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(" on {detail}")
    }
}
