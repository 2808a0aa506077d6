//! The task table's transitions, driven directly: hosts are entries
//! whose command channel the test reads, owners are channels too.

use std::time::Instant;

use tokio::sync::mpsc;
use weft_proto::v1 as pb;

use super::TaskConfig;
use super::hosts::HostEntry;
use super::table::Table;
use super::task::{Target, failure};
use crate::scheduler::Resources;

pub(super) type Commands = mpsc::UnboundedReceiver<Result<pb::HostCommand, tonic::Status>>;
type Events = mpsc::UnboundedReceiver<Result<pb::OwnerEvent, tonic::Status>>;

pub(super) fn host(table: &mut Table, id: &str, cpus: f64) -> Commands {
    let (tx, rx) = mpsc::unbounded_channel();
    table.hosts.insert(
        id.into(),
        HostEntry {
            id: id.into(),
            address: format!("{id}:1"),
            total: Resources {
                cpus,
                ..Default::default()
            },
            used: Resources::default(),
            devices: Default::default(),
            alive: true,
            dead_reason: String::new(),
            last_seen: Instant::now(),
            connection: 1,
            commands: Some(tx),
            running: Default::default(),
            done: 0,
            store_dir: String::new(),
            machine: String::new(),
            engine: None,
            gpu: String::new(),
            bundles: Default::default(),
            in_bundle: Default::default(),
        },
    );
    rx
}

fn owner(table: &mut Table, id: u64) -> Events {
    let (tx, rx) = mpsc::unbounded_channel();
    table.owners.open(id, tx);
    rx
}

fn spec(id: &str, args: &[&str], options: pb::TaskOptions) -> pb::TaskSpec {
    pb::TaskSpec {
        id: id.into(),
        component: "c".into(),
        function: "f".into(),
        args: args
            .iter()
            .map(|a| pb::TaskArg {
                kind: Some(match a.strip_prefix('@') {
                    Some(r) => pb::task_arg::Kind::TaskRef(r.into()),
                    // The table treats values as opaque bytes.
                    None => pb::task_arg::Kind::Value(pb::Value {
                        encoded: a.as_bytes().to_vec(),
                        refs: Vec::new(),
                    }),
                }),
            })
            .collect(),
        options: Some(options),
    }
}

fn submit(table: &mut Table, id: &str, args: &[&str], options: pb::TaskOptions) {
    let target = Target {
        digest: "sha256:x".into(),
        allow_http: Vec::new(),
    };
    table.submit(1, spec(id, args, options), Ok(target));
    table.schedule();
    table.flush();
}

/// Assignments sent to a host so far: (id, attempt, args).
fn assigned(rx: &mut Commands) -> Vec<(String, u32, Vec<String>)> {
    let mut out = Vec::new();
    while let Ok(Ok(command)) = rx.try_recv() {
        if let Some(pb::host_command::Kind::Assign(batch)) = command.kind {
            out.extend(batch.tasks.into_iter().map(|a| {
                let args = a
                    .args
                    .into_iter()
                    .map(|arg| match arg.kind {
                        Some(pb::task_arg::Kind::Value(v)) => {
                            String::from_utf8_lossy(&v.encoded).into_owned()
                        }
                        Some(pb::task_arg::Kind::TaskRef(r)) => format!("@{r}"),
                        None => String::new(),
                    })
                    .collect();
                (a.id, a.attempt, args)
            }));
        }
    }
    out
}

fn results(rx: &mut Events) -> Vec<pb::TaskResult> {
    let mut out = Vec::new();
    while let Ok(Ok(event)) = rx.try_recv() {
        out.extend(event.finished);
    }
    out
}

fn ok(id: &str, value: &str) -> pb::TaskResult {
    pb::TaskResult {
        id: id.into(),
        ok: true,
        has_value: true,
        value: value.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn complete(table: &mut Table, host: &str, attempt: u32, result: pb::TaskResult) {
    table.complete(
        host,
        pb::Completion {
            attempt,
            result: Some(result),
            release: Vec::new(),
        },
    );
    table.schedule();
    table.flush();
}

#[test]
fn a_ref_argument_waits_for_its_task_and_passes_its_value() {
    let mut t = Table::new(&TaskConfig::default());
    let mut h = host(&mut t, "h", 4.0);
    let mut o = owner(&mut t, 1);
    submit(&mut t, "a", &["1"], Default::default());
    submit(&mut t, "b", &["@a", "2"], Default::default());
    assert_eq!(
        assigned(&mut h),
        vec![("a".to_string(), 1, vec!["1".to_string()])]
    );
    complete(&mut t, "h", 1, ok("a", "41"));
    assert_eq!(
        assigned(&mut h),
        vec![("b".to_string(), 1, vec!["41".into(), "2".into()])]
    );
    assert_eq!(results(&mut o).len(), 1);
}

#[test]
fn a_failed_argument_fails_its_dependents_in_a_chain() {
    let mut t = Table::new(&TaskConfig::default());
    let _h = host(&mut t, "h", 4.0);
    let mut o = owner(&mut t, 1);
    submit(&mut t, "a", &[], Default::default());
    submit(&mut t, "b", &["@a"], Default::default());
    submit(&mut t, "c", &["@b"], Default::default());
    let mut failed = failure("a", weft_proto::FailureKind::Trap, "boom");
    failed.ok = false;
    complete(&mut t, "h", 1, failed);
    let got = results(&mut o);
    assert_eq!(got.len(), 3);
    let c = got.iter().find(|r| r.id == "c").unwrap();
    assert_eq!(c.failure_kind(), weft_proto::FailureKind::Dependency);
    assert!(
        c.error.contains("argument task b failed")
            && c.error.contains("argument task a failed: boom"),
        "{}",
        c.error
    );
    // A task submitted after its argument failed fails at once.
    submit(&mut t, "d", &["x", "@a"], Default::default());
    assert!(
        results(&mut o)[0]
            .error
            .contains("argument 2 refers to task a, which failed")
    );
}

#[test]
fn a_dead_host_costs_an_attempt_and_then_the_task() {
    let mut t = Table::new(&TaskConfig::default());
    let mut h1 = host(&mut t, "h1", 1.0);
    let mut o = owner(&mut t, 1);
    let options = pb::TaskOptions {
        has_max_retries: true,
        max_retries: 1,
        ..Default::default()
    };
    submit(&mut t, "a", &[], options);
    assert_eq!(assigned(&mut h1).len(), 1);
    let mut h2 = host(&mut t, "h2", 1.0);
    t.host_died("h1", "lost its session");
    t.flush();
    assert_eq!(assigned(&mut h2), vec![("a".to_string(), 2, vec![])]);
    // A late completion from the dead host's attempt is ignored.
    complete(&mut t, "h1", 1, ok("a", "stale"));
    assert!(results(&mut o).is_empty());
    t.host_died("h2", "missed its heartbeats for 2s");
    t.flush();
    let r = &results(&mut o)[0];
    assert_eq!((r.failure_kind().as_str(), r.attempts), ("host-died", 2));
    for needle in [
        "task a (c.f) failed after 2 attempts",
        "host h2 at h2:1 missed its heartbeats",
        "attempt 1: host h1 at h1:1 lost its session",
    ] {
        assert!(r.error.contains(needle), "`{needle}` in {}", r.error);
    }
}

#[test]
fn traps_are_retried_only_when_asked() {
    let mut t = Table::new(&TaskConfig::default());
    let mut h = host(&mut t, "h", 1.0);
    let mut o = owner(&mut t, 1);
    let trap = |id: &str| failure(id, weft_proto::FailureKind::Trap, "boom");
    submit(&mut t, "a", &[], Default::default());
    complete(&mut t, "h", 1, trap("a"));
    assert_eq!(results(&mut o)[0].attempts, 1);
    let retry = pb::TaskOptions {
        retry_on_trap: true,
        ..Default::default()
    };
    submit(&mut t, "b", &[], retry);
    assigned(&mut h);
    complete(&mut t, "h", 1, trap("b"));
    assert_eq!(assigned(&mut h), vec![("b".to_string(), 2, vec![])]);
    assert!(results(&mut o).is_empty());
}

#[test]
fn a_resubmitted_id_is_one_task_and_one_result() {
    let mut t = Table::new(&TaskConfig::default());
    let mut h = host(&mut t, "h", 1.0);
    let mut o = owner(&mut t, 1);
    submit(&mut t, "a", &[], Default::default());
    submit(&mut t, "a", &[], Default::default());
    assert_eq!(assigned(&mut h).len(), 1);
    complete(&mut t, "h", 1, ok("a", "1"));
    complete(&mut t, "h", 1, ok("a", "1"));
    assert_eq!(results(&mut o).len(), 1);
}

#[test]
fn results_and_runs_reported_by_hosts_are_found_by_resubmission() {
    let mut t = Table::new(&TaskConfig::default());
    let mut h = host(&mut t, "h", 1.0);
    let mut o = owner(&mut t, 1);
    // After a failover: the host reports a result and a running task
    // before their owner resubmits them.
    complete(&mut t, "h", 1, ok("done", "7"));
    t.orphans
        .running
        .insert("busy".into(), ("h".into(), 1, Vec::new()));
    submit(&mut t, "done", &[], Default::default());
    submit(&mut t, "busy", &[], Default::default());
    assert!(assigned(&mut h).is_empty(), "neither runs again");
    assert_eq!(results(&mut o)[0].value, b"7");
    complete(&mut t, "h", 1, ok("busy", "8"));
    assert_eq!(results(&mut o)[0].value, b"8");
}

#[test]
fn a_waiting_guest_lends_its_cpus_and_hosts_take_a_second_round() {
    let mut t = Table::new(&TaskConfig::default());
    let mut h = host(&mut t, "h", 1.0);
    for id in ["a", "b", "c"] {
        submit(&mut t, id, &[], Default::default());
    }
    // One cpu: one running, one pipelined to the host, one queued.
    assert_eq!(assigned(&mut h).len(), 2);
    t.set_blocked("h", "a", true);
    t.schedule();
    t.flush();
    assert_eq!(assigned(&mut h).len(), 1, "a's cpu went to c");
}

#[test]
fn a_detached_owners_old_results_are_forgotten_past_the_size_budget() {
    let config = TaskConfig {
        retain_bytes: 10,
        ..Default::default()
    };
    let mut t = Table::new(&config);
    let _h = host(&mut t, "h", 4.0);
    let _o = owner(&mut t, 1);
    t.owners.name(1, "d", true);
    submit(&mut t, "a", &[], Default::default());
    submit(&mut t, "b", &[], Default::default());
    complete(&mut t, "h", 1, ok("a", "12345678"));
    complete(&mut t, "h", 1, ok("b", "12345678"));
    assert!(!t.tasks.contains_key("a"), "the oldest went");
    assert!(t.tasks.contains_key("b"), "the newest stays");
}

/// Objects the hosts were told to delete.
fn freed(rx: &mut Commands) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(Ok(command)) = rx.try_recv() {
        if let Some(pb::host_command::Kind::Free(ids)) = command.kind {
            out.extend(ids.ids);
        }
    }
    out
}

fn held(id: &str, host: &str) -> pb::TaskResult {
    pb::TaskResult {
        held_by: host.into(),
        held_at: format!("{host}:1"),
        size: 1 << 20,
        ..ok(id, "")
    }
}

#[test]
fn an_object_lives_while_an_owner_or_a_task_holds_it() {
    let mut t = Table::new(&TaskConfig::default());
    let mut h = host(&mut t, "h", 1.0);
    let _o = owner(&mut t, 1);
    t.put(1, vec![held("p", "h")]);
    submit(&mut t, "a", &["@p"], Default::default());
    assert_eq!(assigned(&mut h).len(), 1);
    // The owner lets go while a task still needs it: it stays.
    t.release_refs(1, &["p".to_string()]);
    t.flush();
    assert!(t.tasks.contains_key("p"));
    assert!(freed(&mut h).is_empty());
    // The task finishes (not retriable: it needs no lineage): freed.
    let options_free = t.tasks.get_mut("a").map(|a| a.max_retries = 0);
    assert!(options_free.is_some());
    complete(&mut t, "h", 1, ok("a", "1"));
    assert!(!t.tasks.contains_key("p"));
    assert_eq!(freed(&mut h), vec!["p".to_string()]);
    // The owner's session ends: its results go too.
    t.close_owner(1, Instant::now());
    assert!(!t.tasks.contains_key("a"));
}

#[test]
fn a_lost_result_is_rebuilt_from_its_lineage_or_named_lost() {
    let mut t = Table::new(&TaskConfig::default());
    let mut h1 = host(&mut t, "h1", 1.0);
    let mut o = owner(&mut t, 1);
    submit(&mut t, "a", &[], Default::default());
    let no_retries = pb::TaskOptions {
        has_max_retries: true,
        max_retries: 0,
        ..Default::default()
    };
    submit(&mut t, "b", &[], no_retries);
    assert_eq!(assigned(&mut h1).len(), 2);
    complete(&mut t, "h1", 1, held("a", "h1"));
    complete(&mut t, "h1", 1, held("b", "h1"));
    assert_eq!(results(&mut o).len(), 2);
    let mut h2 = host(&mut t, "h2", 1.0);
    t.host_died("h1", "lost its session");
    t.flush();
    // `a` runs again elsewhere; `b` cannot and says why.
    assert_eq!(assigned(&mut h2), vec![("a".to_string(), 2, vec![])]);
    let lost = results(&mut o);
    assert_eq!(lost.len(), 1);
    assert_eq!(
        (lost[0].id.as_str(), lost[0].failure_kind().as_str()),
        ("b", "lost")
    );
    for needle in [
        "object b lost",
        "task b (c.f)",
        "host h1 at h1:1",
        "max_retries is 0",
    ] {
        assert!(
            lost[0].error.contains(needle),
            "`{needle}` in {}",
            lost[0].error
        );
    }
    complete(&mut t, "h2", 2, held("a", "h2"));
    let rebuilt = results(&mut o);
    assert_eq!(
        (rebuilt[0].id.as_str(), rebuilt[0].held_by.as_str()),
        ("a", "h2")
    );
}

#[test]
fn a_guests_object_in_its_result_lives_as_long_as_the_result() {
    let mut t = Table::new(&TaskConfig::default());
    let mut h = host(&mut t, "h", 1.0);
    let _o = owner(&mut t, 1);
    let _guests = owner(&mut t, 2);
    t.owners.name(2, "g", false);
    submit(&mut t, "a", &[], Default::default());
    assert_eq!(assigned(&mut h).len(), 1);
    // The guest puts g-1 and g-2 and returns g-1's ref.
    t.put(2, vec![held("g-1", "h"), held("g-2", "h")]);
    let mut result = ok("a", "{id: \"g-1\"}");
    result.contains = vec!["g-1".into()];
    t.complete(
        "h",
        pb::Completion {
            attempt: 1,
            result: Some(result),
            release: vec!["g-1".into(), "g-2".into()],
        },
    );
    t.flush();
    assert_eq!(freed(&mut h), vec!["g-2".to_string()]);
    t.release_refs(1, &["a".to_string()]);
    t.flush();
    assert_eq!(freed(&mut h), vec!["g-1".to_string()]);
    assert!(t.tasks.is_empty());
}

#[test]
fn an_owner_that_reconnects_keeps_its_refs_and_one_that_does_not_loses_them() {
    let mut t = Table::new(&TaskConfig::default());
    let mut h = host(&mut t, "h", 1.0);
    let _o = owner(&mut t, 1);
    t.owners.name(1, "o", false);
    t.put(1, vec![held("o-1", "h")]);
    let closed = Instant::now();
    t.close_owner(1, closed);
    t.expire_departed(closed, std::time::Duration::from_secs(5));
    assert!(t.tasks.contains_key("o-1"), "kept while it may come back");
    // It comes back as session 2: its ref is held by the new session.
    let _o2 = owner(&mut t, 2);
    t.owners.name(2, "o", false);
    t.reattach("o", 2);
    t.close_owner(2, closed);
    t.expire_departed(
        closed + std::time::Duration::from_secs(6),
        std::time::Duration::from_secs(5),
    );
    t.flush();
    assert!(!t.tasks.contains_key("o-1"), "dropped once it stayed away");
    assert_eq!(freed(&mut h), vec!["o-1".to_string()]);
}

#[test]
fn ending_a_jobs_work_cancels_its_tasks_and_no_one_elses() {
    let mut t = Table::new(&TaskConfig::default());
    let mut h = host(&mut t, "h", 1.0);
    let mut events = owner(&mut t, 1);
    let of = |job: &str| pb::TaskOptions {
        job: job.into(),
        ..Default::default()
    };
    submit(&mut t, "first", &[], of("job-a"));
    submit(&mut t, "second", &[], of("job-a"));
    submit(&mut t, "other", &[], of("job-b"));
    // One running, one pipelined to the host; the other job's queued.
    assert_eq!(assigned(&mut h).len(), 2);
    let ended = t.end_job_work("job-a", "its job was stopped");
    t.schedule();
    t.flush();
    assert_eq!(ended.tasks, 2);
    let failed: Vec<String> = results(&mut events)
        .into_iter()
        .filter(|r| r.failure_kind() == pb::FailureKind::Canceled)
        .map(|r| r.id)
        .collect();
    assert_eq!(failed, ["first", "second"]);
    // Both were stopped on their host, and the other job's task took
    // their place there.
    let mut canceled = Vec::new();
    let mut placed = Vec::new();
    while let Ok(Ok(command)) = h.try_recv() {
        match command.kind {
            Some(pb::host_command::Kind::Cancel(id)) => canceled.push(id),
            Some(pb::host_command::Kind::Assign(batch)) => {
                placed.extend(batch.tasks.into_iter().map(|a| a.id))
            }
            _ => {}
        }
    }
    assert_eq!(canceled, ["first", "second"]);
    assert_eq!(placed, ["other"]);
    assert_eq!(t.end_job_work("job-a", "again"), Default::default());
}

/// The GPUs each assignment sent to a host so far names.
fn gpu_assignments(rx: &mut Commands) -> Vec<(String, Vec<u32>)> {
    let mut out = Vec::new();
    while let Ok(Ok(command)) = rx.try_recv() {
        if let Some(pb::host_command::Kind::Assign(batch)) = command.kind {
            out.extend(batch.tasks.into_iter().map(|a| (a.id, a.gpu_devices)));
        }
    }
    out
}

#[test]
fn the_leader_picks_which_gpus_a_task_gets_and_keeps_those_a_host_reports() {
    let mut t = Table::new(&TaskConfig::default());
    let mut h = host(&mut t, "h", 4.0);
    if let Some(entry) = t.hosts.get_mut("h") {
        entry.total.gpus = 2;
        entry.devices = crate::scheduler::Devices::new(2);
    }
    let _o = owner(&mut t, 1);
    let gpus = |n| pb::TaskOptions {
        gpus: n,
        ..Default::default()
    };
    // After a failover the host said it runs `old` on its GPU 1: the
    // resubmitted task is adopted there, and nothing else gets GPU 1.
    t.orphans
        .running
        .insert("old".into(), ("h".into(), 1, vec![1]));
    submit(&mut t, "old", &[], gpus(1));
    submit(&mut t, "a", &[], gpus(1));
    submit(&mut t, "b", &[], gpus(1));
    assert_eq!(gpu_assignments(&mut h), vec![("a".to_string(), vec![0])]);
    assert_eq!(t.hosts["h"].devices.of("old"), vec![1]);
    // `b` waits for a GPU, and gets the one `old` gives back.
    complete(&mut t, "h", 1, ok("old", "1"));
    assert_eq!(gpu_assignments(&mut h), vec![("b".to_string(), vec![1])]);
    complete(&mut t, "h", 1, ok("a", "2"));
    complete(&mut t, "h", 1, ok("b", "3"));
    assert_eq!(t.hosts["h"].devices.free(), 2);
    assert_eq!(t.hosts["h"].used.gpus, 0);
    // A task on a host that dies gives its GPUs back with it.
    submit(&mut t, "c", &[], gpus(2));
    assert_eq!(gpu_assignments(&mut h), vec![("c".to_string(), vec![0, 1])]);
    t.host_died("h", "was killed");
    assert_eq!(t.hosts["h"].devices.free(), 2);
}

/// A group removed while work runs in its bundle: the bundle's whole
/// reservation goes at once, and that work's own give-back later frees
/// nothing more, so what other work on the host holds stays counted.
#[test]
fn work_in_a_removed_bundle_gives_back_nothing_twice() {
    let mut table = Table::new(&TaskConfig::default());
    let _commands = host(&mut table, "h", 4.0);
    let cpus = |n: f64| Resources {
        cpus: n,
        ..Default::default()
    };
    let entry = table.hosts.get_mut("h").expect("the host");
    let key = ("pg-1".to_string(), 0);
    entry.reserve(key.clone(), &cpus(2.0), true);
    entry.hold("outside", &cpus(1.0), &[]);
    entry.hold_in(&key, "inside", &cpus(1.0), &[]);
    assert_eq!(entry.used.cpus, 3.0);
    entry.unreserve(&key);
    assert_eq!(entry.used.cpus, 1.0, "the bundle's reservation went whole");
    entry.give_back("inside", &cpus(1.0));
    assert_eq!(entry.used.cpus, 1.0, "the outside task still holds its cpu");
    entry.give_back("outside", &cpus(1.0));
    assert_eq!(entry.used.cpus, 0.0);
}
