//! Placement groups on real processes: a controller group and `weft host`
//! workers on loopback ports, groups made through the Rust client and the
//! CLI, tasks and actors placed into their bundles, hosts and leaders
//! killed with SIGKILL.

use std::collections::BTreeSet;
use std::time::Duration;

use weft_client::groups::{PlacementGroupRecord, PlacementGroupState, bundle, group_spec};
use weft_client::{ActorOptions, ActorState, Arg, TaskClient, TaskOptions};
use weft_proto::v1::PlacementStrategy;
use weft_tests::{Group, eventually_async, fact, guests, runtime};

const LONG: Option<Duration> = Some(Duration::from_secs(60));

fn cluster(replicas: usize, hosts: &[&str]) -> Group {
    let hosts: Vec<(&str, &[&str])> = hosts.iter().map(|h| (*h, &[][..])).collect();
    Group::with_hosts(
        replicas,
        &hosts,
        &[(guests::TESTKIT, "testkit"), (guests::COUNTER, "counter")],
    )
}

/// Creates a group of `bundles` cpus each and waits until it is created.
async fn created(
    client: &TaskClient,
    cpus: &[f64],
    strategy: PlacementStrategy,
) -> PlacementGroupRecord {
    let spec = group_spec(cpus.iter().map(|c| bundle(*c, 0)).collect(), strategy);
    let record = client.create_placement_group(spec).await.unwrap();
    let record = client
        .wait_placement_group(&record.id, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(
        record.state(),
        PlacementGroupState::Created,
        "{}: {}",
        record.id,
        record.pending_reason
    );
    record
}

fn distinct(hosts: &[String]) -> usize {
    hosts.iter().collect::<BTreeSet<_>>().len()
}

/// In a group's bundle: `index` (None: any).
fn in_bundle(group: &PlacementGroupRecord, index: Option<i32>, cpus: f64) -> TaskOptions {
    TaskOptions {
        placement_group: group.id.clone(),
        bundle_index: index,
        has_cpus: true,
        cpus,
        ..Default::default()
    }
}

#[test]
fn each_strategy_places_its_bundles_as_asked_or_says_why_it_waits() {
    let group = cluster(1, &["a", "b", "c"]);
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let pack = created(&client, &[0.5, 0.5], PlacementStrategy::Pack).await;
        assert_eq!(distinct(&pack.bundle_hosts), 1, "{:?}", pack.bundle_hosts);
        let strict_pack = created(&client, &[1.0, 0.5], PlacementStrategy::StrictPack).await;
        assert_eq!(distinct(&strict_pack.bundle_hosts), 1);
        let spread = created(&client, &[0.25, 0.25, 0.25], PlacementStrategy::Spread).await;
        assert_eq!(
            distinct(&spread.bundle_hosts),
            3,
            "{:?}",
            spread.bundle_hosts
        );
        let strict_spread = created(
            &client,
            &[0.25, 0.25, 0.25],
            PlacementStrategy::StrictSpread,
        )
        .await;
        assert_eq!(distinct(&strict_spread.bundle_hosts), 3);

        // More bundles than hosts: it stays pending, and says why.
        let spec = group_spec(vec![bundle(0.1, 0); 4], PlacementStrategy::StrictSpread);
        let waiting = client.create_placement_group(spec).await.unwrap();
        let waiting = client
            .wait_placement_group(&waiting.id, Duration::from_millis(300))
            .await
            .unwrap();
        assert_eq!(waiting.state(), PlacementGroupState::Pending);
        assert!(
            waiting.pending_reason.contains(
                "STRICT_SPREAD needs 4 distinct hosts, one per bundle, and 3 live hosts exist"
            ),
            "{}",
            waiting.pending_reason
        );
        assert!(waiting.bundle_hosts.iter().all(String::is_empty));

        // A bundle no host could hold names itself and what it lacks.
        let spec = group_spec(
            vec![bundle(1.0, 0), bundle(1.0, 1)],
            PlacementStrategy::Pack,
        );
        let no_gpu = client.create_placement_group(spec).await.unwrap();
        let no_gpu = client.placement_group(&no_gpu.id).await.unwrap();
        assert!(
            no_gpu
                .pending_reason
                .contains("bundle 1 (cpus=1 gpus=1) fits no live host: none has 1 gpus"),
            "{}",
            no_gpu.pending_reason
        );

        let list = group.weft_ok(&["pg", "list"]).unwrap();
        assert!(
            list.contains(&strict_spread.id) && list.contains("created"),
            "{list}"
        );
        assert!(
            list.contains(&waiting.id) && list.contains("pending") && list.contains("waits:"),
            "{list}"
        );
        assert!(client.remove_placement_group(&waiting.id).await.unwrap());
        assert!(!client.remove_placement_group(&waiting.id).await.unwrap());
    });

    // The CLI: create (waits until created), get, remove by name.
    let id = group
        .weft_ok(&[
            "pg",
            "create",
            "--bundle",
            "cpus=1",
            "--bundle",
            "cpus=1",
            "--strategy",
            "strict-spread",
            "--name",
            "gang",
        ])
        .unwrap();
    assert!(id.trim().starts_with("pg-"), "{id}");
    let shown = group.weft_ok(&["pg", "get", "gang"]).unwrap();
    assert!(
        shown.contains("created")
            && shown.contains("STRICT_SPREAD")
            && shown.contains("bundle 1: cpus=1"),
        "{shown}"
    );
    let err = group
        .weft_err(&["pg", "create", "--bundle", "cpus=1", "--name", "gang"])
        .unwrap();
    assert!(err.contains("already exists"), "{err}");
    let err = group
        .weft_err(&["pg", "create", "--bundle", "cpus=0", "--wait", "0"])
        .unwrap();
    assert!(err.contains("bundle 0 reserves nothing"), "{err}");
    let err = group
        .weft_err(&["pg", "create", "--bundle", "cpus=1", "--strategy", "tight"])
        .unwrap();
    assert!(err.contains("unknown placement strategy `tight`"), "{err}");
    assert!(
        group
            .weft_ok(&["pg", "remove", "gang"])
            .unwrap()
            .contains("removed")
    );
}

/// Work in a bundle takes from the bundle only: a second task waits for
/// the first while the bundle's host and the other host have room, work
/// outside the group runs meanwhile, and a task larger than its bundle
/// fails naming it.
#[test]
fn work_in_a_bundle_takes_only_what_the_bundle_holds() {
    let group = cluster(1, &["a", "b"]);
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let pg = created(&client, &[1.0], PlacementStrategy::StrictPack).await;
        let host = pg.bundle_hosts[0].clone();
        let busy = |options| client.submit("testkit", "busy", vec![Arg::wave("1500")], options);
        let first = busy(in_bundle(&pg, Some(0), 1.0)).await.unwrap();
        let second = busy(in_bundle(&pg, None, 1.0)).await.unwrap();
        let outside = busy(TaskOptions::default()).await.unwrap();
        // While one of the pair runs, the other waits in the queue.
        eventually_async(Duration::from_secs(20), || async {
            let running = group
                .weft_ok(&["list", "tasks", "--state", "running"])
                .unwrap();
            let queued = group
                .weft_ok(&["list", "tasks", "--state", "queued"])
                .unwrap();
            let pair_running = [&first, &second]
                .iter()
                .filter(|t| running.contains(t.as_str()))
                .count();
            let pair_queued = [&first, &second]
                .iter()
                .filter(|t| queued.contains(t.as_str()))
                .count();
            fact(pair_running == 1 && pair_queued == 1, || {
                format!("running: {running}\nqueued: {queued}")
            })
        })
        .await
        .unwrap();
        let results = client
            .get(&[first.clone(), second.clone(), outside.clone()], LONG)
            .await
            .unwrap();
        assert!(results.iter().all(|r| r.ok), "{results:?}");
        assert_eq!(results[0].host, host);
        assert_eq!(results[1].host, host);

        let too_big = busy(in_bundle(&pg, Some(0), 2.0)).await.unwrap();
        let result = client.get(&[too_big], LONG).await.unwrap().remove(0);
        assert!(!result.ok);
        assert!(
            result
                .error
                .contains("more than bundle 0 of placement group")
                && result.error.contains("reserves (1)"),
            "{}",
            result.error
        );
        let out_of_range = busy(in_bundle(&pg, Some(3), 1.0)).await.unwrap();
        let result = client.get(&[out_of_range], LONG).await.unwrap().remove(0);
        assert!(
            result.error.contains("bundle_index 3 is out of range"),
            "{}",
            result.error
        );
    });
}

/// Removing a group kills the actors in it and fails work sent to it
/// after; its bundles' room is free again.
#[test]
fn removing_a_group_kills_its_actors_and_frees_its_room() {
    let group = cluster(1, &["a"]);
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let pg = created(&client, &[2.0], PlacementStrategy::Pack).await;
        let options = ActorOptions {
            placement_group: pg.id.clone(),
            cpus: 1.0,
            ..Default::default()
        };
        let actor = client
            .create_actor("counter", "counter", "new(1)", options)
            .await
            .unwrap();
        let record = client
            .wait_actor_alive(&actor, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(record.state(), ActorState::Alive);
        // The whole host is the group's: work outside it waits.
        let outside = client
            .submit(
                "testkit",
                "add",
                vec![Arg::wave("1"), Arg::wave("2")],
                TaskOptions::default(),
            )
            .await
            .unwrap();
        assert!(client.remove_placement_group(&pg.id).await.unwrap());
        let record = eventually_async(Duration::from_secs(20), || async {
            let r = client
                .describe_actor(&actor)
                .await
                .map_err(|e| e.to_string())?;
            fact(r.state() == ActorState::Dead, || format!("{:?}", r.state())).map(|_| r)
        })
        .await
        .unwrap();
        assert!(
            record
                .cause
                .contains(&format!("its placement group {} was removed", pg.id)),
            "{}",
            record.cause
        );
        // Its room is free: the task outside runs.
        let result = client.get(&[outside], LONG).await.unwrap().remove(0);
        assert_eq!(crate::wave(&result), "3");
        let late = client
            .submit(
                "testkit",
                "add",
                vec![Arg::wave("1"), Arg::wave("2")],
                in_bundle(&pg, None, 1.0),
            )
            .await
            .unwrap();
        let result = client.get(&[late], LONG).await.unwrap().remove(0);
        assert!(result.error.contains("was removed"), "{}", result.error);
    });
}

/// A host holding a bundle dies: the bundle is placed again, on a host
/// that keeps the strategy (strict spread: not the other bundle's).
#[test]
fn a_dead_hosts_bundles_are_placed_again() {
    let mut group = cluster(1, &["a", "b", "c"]);
    let pg = runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        created(&client, &[1.0, 1.0], PlacementStrategy::StrictSpread).await
    });
    let victim = pg.bundle_hosts[0].clone();
    let keeper = pg.bundle_hosts[1].clone();
    group.kill_host(&victim);
    let moved = runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        eventually_async(Duration::from_secs(30), || async {
            let r = client
                .placement_group(&pg.id)
                .await
                .map_err(|e| e.to_string())?;
            fact(
                r.state() == PlacementGroupState::Created && r.bundle_hosts[0] != victim,
                || format!("{:?} on {:?}", r.state(), r.bundle_hosts),
            )
            .map(|_| r)
        })
        .await
        .unwrap()
    });
    assert_eq!(moved.bundle_hosts[1], keeper);
    assert_ne!(moved.bundle_hosts[0], keeper);
}

/// A leader killed while groups are created: the new leader has each
/// group whole (every bundle with its host) or not placed at all, keeps
/// the reservations of those placed, and places the rest.
#[test]
fn a_new_leader_keeps_each_group_whole_or_places_it() {
    let mut group = cluster(3, &["a", "b"]);
    let ids = runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let first = created(&client, &[1.0, 1.0], PlacementStrategy::StrictSpread).await;
        let mut ids = vec![first.id.clone()];
        for _ in 0..4 {
            let spec = group_spec(vec![bundle(0.1, 0); 2], PlacementStrategy::Spread);
            ids.push(client.create_placement_group(spec).await.unwrap().id);
        }
        ids
    });
    let leader = group.wait_for_leader(Duration::from_secs(20)).unwrap();
    group.kill(leader);
    group.wait_for_leader(Duration::from_secs(30)).unwrap();
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        // The group acknowledged ready is there; each other one is there
        // whole (its creation was written) or not at all.
        let groups = eventually_async(Duration::from_secs(30), || async {
            let all = client
                .list_placement_groups()
                .await
                .map_err(|e| e.to_string())?;
            let first_ready = all
                .iter()
                .any(|g| g.id == ids[0] && g.state() == PlacementGroupState::Created);
            let settled = all
                .iter()
                .all(|g| g.state() == PlacementGroupState::Created);
            fact(first_ready && settled, || format!("{all:?}")).map(|_| all)
        })
        .await
        .unwrap();
        for g in &groups {
            assert!(ids.contains(&g.id), "{} was never asked for", g.id);
            let placed = g.bundle_hosts.iter().filter(|h| !h.is_empty()).count();
            assert_eq!(
                placed,
                g.bundle_hosts.len(),
                "{} is not whole: {:?}",
                g.id,
                g.bundle_hosts
            );
        }
        let first = groups.iter().find(|g| g.id == ids[0]).unwrap();
        assert_eq!(distinct(&first.bundle_hosts), 2);
        // The reservations hold on the new leader: each host has its cpu of
        // the first group and its share of the others that were written in
        // use, and nothing else runs.
        let expected = 2.0 + 0.2 * (groups.len() - 1) as f64;
        let addresses = group.addresses();
        let nodes = eventually_async(Duration::from_secs(20), || {
            let addresses = addresses.clone();
            async move {
                let mut connection = weft_client::Connection::connect(&addresses)
                    .await
                    .map_err(|e| e.to_string())?;
                let nodes = connection.list_nodes().await.map_err(|e| e.to_string())?;
                let used: f64 = nodes
                    .iter()
                    .filter(|n| n.alive)
                    .map(|n| n.used.as_ref().map_or(0.0, |u| u.cpus))
                    .sum();
                fact((used - expected).abs() < 1e-6, || {
                    format!("cpus in use {used}: {nodes:?}")
                })
                .map(|_| nodes)
            }
        })
        .await
        .unwrap();
        assert_eq!(nodes.iter().filter(|n| n.alive).count(), 2);
    });
}

/// A task with `capture_child_tasks` puts the tasks its guest submits into
/// its group: they run on the bundle's host, though the other host is idle.
#[test]
fn captured_children_run_in_their_parents_group() {
    let group = cluster(1, &["a", "b"]);
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let pg = created(&client, &[2.0], PlacementStrategy::StrictPack).await;
        let host = pg.bundle_hosts[0].clone();
        let options = TaskOptions {
            capture_child_tasks: true,
            ..in_bundle(&pg, None, 1.0)
        };
        let parent = client
            .submit(
                "testkit",
                "fanout.spread",
                vec![Arg::wave("\"testkit\""), Arg::wave("6")],
                options,
            )
            .await
            .unwrap();
        let result = client.get(&[parent], LONG).await.unwrap().remove(0);
        assert_eq!(result.host, host);
        crate::wave(&result);
    });
    // Where each child was scheduled, from the leader's history.
    runtime().block_on(async {
        let client = TaskClient::connect(&group.addresses()).await.unwrap();
        let host = client.list_placement_groups().await.unwrap()[0].bundle_hosts[0].clone();
        let mut rpc = weft_client::Client::connect(&group.addresses())
            .await
            .unwrap();
        let events = rpc.task_events("").await.unwrap().events;
        let kind = weft_proto::v1::TaskEventKind::Scheduled;
        let weighs: BTreeSet<&str> = events
            .iter()
            .filter(|e| e.label.contains("weigh"))
            .map(|e| e.task.as_str())
            .collect();
        let children: Vec<&str> = events
            .iter()
            .filter(|e| e.kind() == kind && weighs.contains(e.task.as_str()))
            .map(|e| e.host.as_str())
            .collect();
        assert_eq!(children.len(), 6, "{events:?}");
        assert!(
            children.iter().all(|h| *h == host),
            "{children:?} not all on {host}"
        );
    });
}
