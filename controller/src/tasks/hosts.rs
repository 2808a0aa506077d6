//! Worker hosts as the leader knows them: what each has, what its running
//! tasks hold, when it last spoke, and the channel its assignments go on.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Instant;

use tokio::sync::mpsc::UnboundedSender;
use tonic::Status;
use weft_proto::v1 as pb;

use crate::scheduler::{BundleView, Devices, HostView, Resources, Strategy};

/// A placement group's bundle: the group's id and the bundle's index.
pub(crate) type BundleKey = (String, u32);

/// A bundle reserved on a host: its whole reservation counts in the host's
/// `used`; work placed into it takes from it instead.
#[derive(Debug, Clone, Default)]
pub(crate) struct BundleSlot {
    pub(crate) total: Resources,
    pub(crate) used: Resources,
    /// Whether its group's placement is written to the replicated state:
    /// until then it holds its room but takes no work, so no work runs in
    /// a group that a leader change could forget.
    pub(crate) ready: bool,
}

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
    /// Placement-group bundles reserved here.
    pub(crate) bundles: BTreeMap<BundleKey, BundleSlot>,
    /// The bundle each holder placed into one takes from.
    pub(crate) in_bundle: HashMap<String, BundleKey>,
}

impl HostEntry {
    /// Takes `need` for `holder` (a task or an actor): its resources, and
    /// which GPUs (`known`: those the host says it already lends to it).
    /// Returns the GPUs' indices.
    pub(crate) fn hold(&mut self, holder: &str, need: &Resources, known: &[u32]) -> Vec<u32> {
        self.used = self.used.plus(need);
        self.devices.take(holder, need.gpus, known)
    }

    /// Takes `need` for `holder` from bundle `bundle` (reserved here)
    /// rather than from the host's free room. Returns the GPUs' indices:
    /// the bundle's GPUs count in `used`, so the devices are there.
    pub(crate) fn hold_in(
        &mut self,
        bundle: &BundleKey,
        holder: &str,
        need: &Resources,
        known: &[u32],
    ) -> Vec<u32> {
        if let Some(slot) = self.bundles.get_mut(bundle) {
            slot.used = slot.used.plus(need);
            self.in_bundle.insert(holder.to_string(), bundle.clone());
        } else {
            self.used = self.used.plus(need);
        }
        self.devices.take(holder, need.gpus, known)
    }

    /// Gives back what [`HostEntry::hold`] or [`HostEntry::hold_in`] took
    /// for `holder` (to its bundle, if the bundle is still reserved).
    pub(crate) fn give_back(&mut self, holder: &str, need: &Resources) {
        match self.in_bundle.remove(holder) {
            Some(key) => {
                if let Some(slot) = self.bundles.get_mut(&key) {
                    slot.used = slot.used.minus(need);
                }
            }
            None => self.used = self.used.minus(need),
        }
        self.devices.give_back(holder);
    }

    /// The bundle here that work placed with `strategy` takes from (after
    /// a leader change, when the work is adopted): its own, or the first
    /// of its group's here.
    pub(crate) fn bundle_for(&self, strategy: &Strategy) -> Option<BundleKey> {
        let Strategy::Bundle { group, index } = strategy else {
            return None;
        };
        self.bundles
            .keys()
            .find(|(g, i)| g == group && index.is_none_or(|want| want == *i))
            .cloned()
    }

    /// Reserves bundle `key` here (`ready`: its placement is written).
    pub(crate) fn reserve(&mut self, key: BundleKey, total: &Resources, ready: bool) {
        if self.bundles.contains_key(&key) {
            return;
        }
        self.used = self.used.plus(total);
        self.bundles.insert(
            key,
            BundleSlot {
                total: total.clone(),
                used: Resources::default(),
                ready,
            },
        );
    }

    /// Frees bundle `key`'s reservation. What ran in it is stopped by
    /// whoever removes the group, and keeps its mapping to the gone bundle:
    /// its own give-back then frees nothing more (the whole reservation
    /// already went), rather than taking from what other work holds.
    pub(crate) fn unreserve(&mut self, key: &BundleKey) {
        if let Some(slot) = self.bundles.remove(key) {
            self.used = self.used.minus(&slot.total);
        }
    }

    /// A task's guest holding `cpus` waits on other tasks (`blocked`) or
    /// stopped waiting: its cpus are lent to the scheduler meanwhile (to
    /// its bundle's other work, when it runs in one).
    pub(crate) fn lend_cpus(&mut self, holder: &str, cpus: f64, blocked: bool) {
        let used = match self.in_bundle.get(holder) {
            Some(key) => match self.bundles.get_mut(key) {
                Some(slot) => &mut slot.used,
                None => return,
            },
            None => &mut self.used,
        };
        if blocked {
            used.cpus = (used.cpus - cpus).max(0.0);
        } else {
            used.cpus += cpus;
        }
    }

    pub(crate) fn view(&self) -> HostView {
        HostView {
            id: self.id.clone(),
            alive: self.alive,
            total: self.total.clone(),
            used: self.used.clone(),
            bundles: self
                .bundles
                .iter()
                .filter(|(_, slot)| slot.ready)
                .map(|((group, index), slot)| BundleView {
                    group: group.clone(),
                    index: *index,
                    total: slot.total.clone(),
                    used: slot.used.clone(),
                })
                .collect(),
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
            actors: 0,
            bundles: self.bundles.len() as u32,
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
