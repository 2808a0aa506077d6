//! The agent's cpu slots, driven by commands as the leader sends them.

use std::sync::Arc;
use std::time::Duration;

use weft_proto::v1 as pb;

use super::{Agent, AgentConfig, BoxFuture, Connector, Link, LinkError};
use crate::store::{ObjectStore, StoreConfig};
use crate::{Host, HostConfig};

/// A leader that is never reached: the test hands the agent its commands.
struct Unreachable;

impl Connector for Unreachable {
    fn connect(&self, _: pb::HostRegistration) -> BoxFuture<'_, Result<Link, LinkError>> {
        Box::pin(std::future::pending())
    }

    fn fetch_component<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<u8>, LinkError>> {
        Box::pin(std::future::pending())
    }
}

fn agent(dir: &std::path::Path, cpus: f64) -> Arc<Agent> {
    let host = Arc::new(Host::new(HostConfig::new(dir.join("cache"))).expect("a host"));
    let store = ObjectStore::open(StoreConfig {
        dir: dir.join("store"),
        spill_dir: dir.join("spill"),
        capacity: 1 << 20,
        network_pulls: false,
    })
    .expect("a store");
    let config = AgentConfig {
        id: "h".into(),
        address: "127.0.0.1:1".into(),
        resources: pb::Resources {
            cpus,
            ..Default::default()
        },
        controllers: String::new(),
        heartbeat: Duration::from_secs(60),
        actor_threads: 0,
        keys: Arc::default(),
        logs: None,
        gpus: None,
        dirs: Vec::new(),
    };
    Agent::start(host, config, Arc::new(Unreachable), store)
}

fn assign(id: &str) -> pb::host_command::Kind {
    pb::host_command::Kind::Assign(pb::AssignmentBatch {
        tasks: vec![pb::Assignment {
            id: id.into(),
            attempt: 1,
            digest: "sha256:none".into(),
            function: "f".into(),
            cpus: 1.0,
            ..Default::default()
        }],
    })
}

fn free(agent: &Agent) -> f64 {
    agent.slots.lock().unwrap_or_else(|p| p.into_inner()).free
}

#[tokio::test(flavor = "current_thread")]
async fn a_task_canceled_before_it_first_runs_gives_its_cpus_back() {
    let dir = tempfile::tempdir().expect("a dir");
    let agent = agent(dir.path(), 2.0);
    let mut announced = false;
    // Both start (their futures are spawned) and are canceled before this
    // thread lets them run once, as a leader ending a job's work right
    // after placing it does.
    for id in ["a", "b"] {
        agent.handle(assign(id), &mut announced);
    }
    assert_eq!(free(&agent), 0.0);
    for id in ["a", "b"] {
        agent.handle(pb::host_command::Kind::Cancel(id.into()), &mut announced);
    }
    for _ in 0..100 {
        if free(&agent) == 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(free(&agent), 2.0, "both cpus are free again");
}
