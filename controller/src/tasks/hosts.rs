//! Worker hosts as the leader knows them: what each has, what its running
//! tasks hold, when it last spoke, and the channel its assignments go on.

use std::collections::HashSet;
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;
use tonic::Status;
use weft_proto::v1 as pb;

use crate::scheduler::{Devices, HostView, Resources};

/// A registered host.
pub(crate) struct HostEntry {
    pub(crate) id: String,
    pub(crate) address: String,
    pub(crate) total: Resources,
    pub(crate) used: Resources,
    /// Which task or actor holds each of its GPUs.
    pub(crate) devices: Devices,
    pub(crate) alive: bool,
    /// Why it was declared dead.
    pub(crate) dead_reason: String,
    pub(crate) last_seen: Instant,
    /// Which connection is current: events from an older one are ignored.
    pub(crate) connection: u64,
    pub(crate) commands: Option<UnboundedSender<Result<pb::HostCommand, Status>>>,
    pub(crate) running: HashSet<String>,
    pub(crate) done: u64,
    /// Its object store's directory and its machine, for local clients.
    pub(crate) store_dir: String,
    pub(crate) machine: String,
    /// Its engine's counters, as of its last heartbeat.
    pub(crate) engine: Option<pb::EngineStats>,
    /// Its GPUs, described.
    pub(crate) gpu: String,
}

impl HostEntry {
    /// Takes `need` for `holder` (a task or an actor): its resources, and
    /// which GPUs (`known`: those the host says it already lends to it).
    /// Returns the GPUs' indices.
    pub(crate) fn hold(&mut self, holder: &str, need: &Resources, known: &[u32]) -> Vec<u32> {
        self.used = self.used.plus(need);
        self.devices.take(holder, need.gpus, known)
    }

    /// Gives back what [`HostEntry::hold`] took for `holder`.
    pub(crate) fn give_back(&mut self, holder: &str, need: &Resources) {
        self.used = self.used.minus(need);
        self.devices.give_back(holder);
    }

    /// A task's guest holding `cpus` waits on other tasks (`blocked`) or
    /// stopped waiting: its cpus are lent to the scheduler meanwhile.
    pub(crate) fn lend_cpus(&mut self, cpus: f64, blocked: bool) {
        if blocked {
            self.used.cpus = (self.used.cpus - cpus).max(0.0);
        } else {
            self.used.cpus += cpus;
        }
    }

    pub(crate) fn view(&self) -> HostView {
        HostView {
            id: self.id.clone(),
            alive: self.alive,
            total: self.total.clone(),
            used: self.used.clone(),
        }
    }

    pub(crate) fn send(&self, command: pb::host_command::Kind) {
        if let Some(tx) = &self.commands {
            let _ = tx.send(Ok(pb::HostCommand {
                kind: Some(command),
            }));
        }
    }

    pub(crate) fn info(&self, now: Instant) -> pb::NodeInfo {
        pb::NodeInfo {
            id: self.id.clone(),
            address: self.address.clone(),
            alive: self.alive,
            total: Some(to_pb(&self.total)),
            used: Some(to_pb(&self.used)),
            running: self.running.len() as u32,
            millis_since_heartbeat: now.duration_since(self.last_seen).as_millis() as u64,
            tasks_done: self.done,
            dead_reason: self.dead_reason.clone(),
            store_dir: self.store_dir.clone(),
            machine: self.machine.clone(),
            engine: self.engine.clone(),
            gpu: self.gpu.clone(),
            gpu_holders: self.devices.holders().to_vec(),
        }
    }
}

/// Resources from their wire form.
pub(crate) fn from_pb(r: &pb::Resources) -> Resources {
    Resources {
        cpus: r.cpus,
        memory: r.memory,
        gpus: r.gpus,
        custom: r.custom.clone().into_iter().collect(),
    }
}

/// Resources in their wire form.
pub(crate) fn to_pb(r: &Resources) -> pb::Resources {
    pb::Resources {
        cpus: r.cpus,
        memory: r.memory,
        gpus: r.gpus,
        custom: r.custom.clone().into_iter().collect(),
    }
}
