//! The actor table's transitions, driven directly: hosts are entries whose
//! command channel the test reads.

use std::time::{Duration, Instant};

use weft_proto::v1 as pb;

use super::TaskConfig;
use super::table::Table;
use super::tests::{Commands, host};

fn actor(id: &str, options: pb::ActorOptions) -> pb::ActorRecord {
    pb::ActorRecord {
        id: id.into(),
        spec: Some(pb::ActorSpec {
            component: "counter".into(),
            class: "counter".into(),
            constructor: "new(0)".into(),
            options: Some(options),
            ..Default::default()
        }),
        digest: "sha256:x".into(),
        state: pb::ActorState::Pending.into(),
        owner: "o1".into(),
        ..Default::default()
    }
}

/// StartActor and StopActor commands sent to a host so far.
fn commands(rx: &mut Commands) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(Ok(command)) = rx.try_recv() {
        match command.kind {
            Some(pb::host_command::Kind::StartActor(r)) => out.push(format!(
                "start {} #{} cp {:?}",
                r.id, r.incarnation, r.checkpoint
            )),
            Some(pb::host_command::Kind::StopActor(s)) => out.push(format!("stop {}", s.id)),
            _ => {}
        }
    }
    out
}

fn event(id: &str, incarnation: u32, kind: pb::ActorEventKind) -> pb::ActorEvent {
    pb::ActorEvent {
        id: id.into(),
        incarnation,
        kind: kind.into(),
        error: if kind == pb::ActorEventKind::Trapped {
            "boom".into()
        } else {
            String::new()
        },
        ..Default::default()
    }
}

fn state(table: &Table, id: &str) -> (pb::ActorState, u32, u32, String) {
    let r = &table.actors.records[id];
    (r.state(), r.incarnation, r.restarts, r.host.clone())
}

#[test]
fn a_trap_restarts_in_place_until_restarts_run_out() {
    let mut table = Table::new(&TaskConfig::default());
    let mut h1 = host(&mut table, "h1", 2.0);
    let options = pb::ActorOptions {
        max_restarts: 1,
        cpus: 1.0,
        ..Default::default()
    };
    table.create_actor(actor("a", options)).unwrap();
    table.place_actors();
    assert_eq!(commands(&mut h1), ["start a #1 cp []"]);
    assert_eq!(table.hosts["h1"].used.cpus, 1.0);
    table.actor_event("h1", event("a", 1, pb::ActorEventKind::Started));
    table.actor_event("h1", event("a", 1, pb::ActorEventKind::Trapped));
    table.place_actors();
    // The restart stays on its host: stop the old incarnation, start anew.
    assert_eq!(commands(&mut h1), ["stop a", "start a #2 cp []"]);
    assert_eq!(
        state(&table, "a"),
        (pb::ActorState::Restarting, 2, 1, "h1".into())
    );
    // A late event of the old incarnation changes nothing.
    table.actor_event("h1", event("a", 1, pb::ActorEventKind::Trapped));
    table.actor_event("h1", event("a", 2, pb::ActorEventKind::Started));
    assert_eq!(state(&table, "a").0, pb::ActorState::Alive);
    table.actor_event("h1", event("a", 2, pb::ActorEventKind::Trapped));
    let record = &table.actors.records["a"];
    assert_eq!(record.state(), pb::ActorState::Dead);
    assert!(
        record.cause.contains("boom") && record.cause.contains("after 1 restarts"),
        "{}",
        record.cause
    );
    assert_eq!(table.hosts["h1"].used.cpus, 0.0, "its cpu is given back");
}

#[test]
fn a_dead_host_restarts_its_actors_elsewhere_with_their_checkpoint() {
    let mut table = Table::new(&TaskConfig::default());
    let mut h1 = host(&mut table, "h1", 2.0);
    let options = pb::ActorOptions {
        max_restarts: 3,
        ..Default::default()
    };
    table.create_actor(actor("a", options.clone())).unwrap();
    table
        .create_actor(actor("b", pb::ActorOptions::default()))
        .unwrap();
    table.place_actors();
    commands(&mut h1);
    table.actor_event("h1", event("a", 1, pb::ActorEventKind::Started));
    table.actor_event("h1", event("b", 1, pb::ActorEventKind::Started));
    table.actor_event(
        "h1",
        pb::ActorEvent {
            checkpoint: vec![7],
            calls: 3,
            ..event("a", 1, pb::ActorEventKind::Checkpoint)
        },
    );
    let mut h2 = host(&mut table, "h2", 2.0);
    table.host_died("h1", "was killed");
    table.place_actors();
    assert_eq!(commands(&mut h2), ["start a #2 cp [7]"]);
    assert_eq!(
        state(&table, "a"),
        (pb::ActorState::Restarting, 2, 1, "h2".into())
    );
    let b = &table.actors.records["b"];
    assert_eq!(b.state(), pb::ActorState::Dead, "max_restarts 0");
    assert!(
        b.cause.contains("h1 was killed") && b.cause.contains("max_restarts is 0"),
        "{}",
        b.cause
    );
}

#[test]
fn names_are_unique_among_live_actors_and_owners_take_their_actors_with_them() {
    let mut table = Table::new(&TaskConfig::default());
    let _h1 = host(&mut table, "h1", 2.0);
    let named = |detached| pb::ActorOptions {
        name: "n".into(),
        detached,
        ..Default::default()
    };
    table.create_actor(actor("a", named(false))).unwrap();
    let taken = table.create_actor(actor("b", named(false))).unwrap_err();
    assert!(taken.to_string().contains("already lives"), "{taken}");
    let mut kept = actor("c", pb::ActorOptions::default());
    kept.spec
        .as_mut()
        .unwrap()
        .options
        .as_mut()
        .unwrap()
        .detached = true;
    table.create_actor(kept).unwrap();
    table.place_actors();

    let now = Instant::now();
    table.actor_owner_left("o1", false, now);
    table.check_actors(now, Duration::from_secs(10), Duration::from_secs(5));
    assert_eq!(
        table.actors.records["a"].state(),
        pb::ActorState::Pending,
        "within the grace period"
    );
    table.check_actors(
        now + Duration::from_secs(6),
        Duration::from_secs(10),
        Duration::from_secs(5),
    );
    assert_eq!(table.actors.records["a"].state(), pb::ActorState::Dead);
    assert_ne!(
        table.actors.records["c"].state(),
        pb::ActorState::Dead,
        "detached"
    );
    // The name is free again, and a lookup finds the dead one until then.
    assert_eq!(
        table.find_actor("", "n", "").map(|r| r.id.as_str()),
        Some("a")
    );
    table.create_actor(actor("d", named(false))).unwrap();
    assert_eq!(
        table.find_actor("", "n", "default").map(|r| r.id.as_str()),
        Some("d")
    );
}

#[test]
fn a_new_leader_keeps_the_actors_hosts_report_and_learns_starts_it_missed() {
    let mut table = Table::new(&TaskConfig::default());
    let mut h1 = host(&mut table, "h1", 2.0);
    // Records as a previous leader left them: `a` started (but the leader
    // died before writing so), `b` alive on a host that never comes back.
    let mut a = actor("a", pb::ActorOptions::default());
    (a.host, a.incarnation) = ("h1".into(), 1);
    let mut b = actor(
        "b",
        pb::ActorOptions {
            max_restarts: 1,
            ..Default::default()
        },
    );
    (b.host, b.incarnation) = ("h9".into(), 4);
    b.set_state(pb::ActorState::Alive);
    let started = pb::ActorEvent {
        address: "h1:2".into(),
        ..event("a", 1, pb::ActorEventKind::Started)
    };
    let running = [pb::RunningTask {
        id: "a".into(),
        attempt: 1,
        gpu_devices: Vec::new(),
    }];
    table.actors_registered("h1", &running, &[started]);
    let now = Instant::now();
    table.load_actors(vec![a, b], now);
    let record = &table.actors.records["a"];
    assert_eq!(
        (record.state(), record.address.as_str()),
        (pb::ActorState::Alive, "h1:2")
    );
    assert_eq!(
        table.actors.records["b"].state(),
        pb::ActorState::Alive,
        "waits for its host"
    );
    table.check_actors(
        now + Duration::from_secs(11),
        Duration::from_secs(10),
        Duration::from_secs(5),
    );
    assert_eq!(
        state(&table, "b"),
        (pb::ActorState::Restarting, 5, 1, "h1".into())
    );
    assert_eq!(commands(&mut h1), ["start b #5 cp []"]);
}
