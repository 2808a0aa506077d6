//! Task placement: a pure function over a view of the cluster.
//!
//! [`place`] takes what the leader knows (hosts, their resources and what
//! is in use, where argument objects live) and one task's demands, and says
//! where it runs, that it must wait, or why it never can. No I/O, no Raft,
//! no tonic: the table-driven cases in `controller/tests/scheduler/` drive
//! it directly. The task API that feeds it comes with distributed tasks.
//!
//! The policy, after Ray's hybrid scheduler:
//! - a task no live host could ever fit fails at once, naming the resource;
//! - one that fits some host but none right now waits in the queue;
//! - **default**: the host holding the most bytes of the task's argument
//!   objects, if it fits now (locality); else pack onto the busiest host
//!   below half utilisation, else the least utilised one;
//! - **spread**: the least utilised host that fits;
//! - **node affinity**: that host (hard: or wait, or fail if it can never
//!   fit or is unknown; soft: else as default);
//! - **a placement group's bundle**: the bundle's host, taking from what
//!   the bundle reserved rather than from the host's free resources (a
//!   bundle's resources serve only work placed into it).
//!
//! Whole groups are placed by [`place_group`] (`groups.rs`).

mod devices;
mod groups;
mod resources;

use std::collections::BTreeMap;

pub use devices::Devices;
pub use groups::{GroupDemand, GroupPlacement, GroupStrategy, place_group};
pub use resources::Resources;

/// A host as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct HostView {
    /// The host's id.
    pub id: String,
    /// Whether it is alive (dead hosts get nothing).
    pub alive: bool,
    /// What it has in all.
    pub total: Resources,
    /// What running tasks hold now, and the bundles reserved on it.
    pub used: Resources,
    /// The placement-group bundles reserved on it.
    pub bundles: Vec<BundleView>,
}

/// A placement group's bundle, reserved on a host.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleView {
    /// The group's id.
    pub group: String,
    /// The bundle's index in the group.
    pub index: u32,
    /// What it reserves.
    pub total: Resources,
    /// What the work placed into it holds now.
    pub used: Resources,
}

impl HostView {
    fn free(&self) -> Resources {
        self.total.minus(&self.used)
    }

    fn utilisation(&self) -> f64 {
        self.used.share_of(&self.total)
    }
}

/// Where an object lives and how large it is.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectLocation {
    /// Hosts holding a copy.
    pub hosts: Vec<String>,
    /// Its size in bytes.
    pub size: u64,
}

/// What the scheduler knows of the cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterView {
    /// Every known host.
    pub hosts: Vec<HostView>,
    /// Where objects live, by id.
    pub objects: BTreeMap<String, ObjectLocation>,
}

/// How to choose among hosts that fit.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Strategy {
    /// Locality first, then pack with load balancing.
    #[default]
    Default,
    /// The least utilised host.
    Spread,
    /// A named host.
    NodeAffinity {
        /// The host.
        host: String,
        /// Fall back to the default strategy when it cannot take the task now.
        soft: bool,
    },
    /// A placement group's bundle.
    Bundle {
        /// The group's id.
        group: String,
        /// The bundle; `None`: any of the group's bundles with room.
        index: Option<u32>,
    },
}

impl Strategy {
    /// The placement group it places into, if any.
    pub fn group(&self) -> Option<&String> {
        match self {
            Strategy::Bundle { group, .. } => Some(group),
            _ => None,
        }
    }
}

impl TaskDemand {
    /// The placement group it places into, if any.
    pub fn group(&self) -> Option<&String> {
        self.strategy.group()
    }
}

/// One task's demands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskDemand {
    /// Resources it holds while it runs.
    pub resources: Resources,
    /// Placement strategy.
    pub strategy: Strategy,
    /// Ids of the objects passed as arguments.
    pub args: Vec<String>,
}

/// The scheduler's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Run it on this host now.
    Host(String),
    /// Run it on this host now, in this bundle of its placement group.
    InBundle {
        /// The bundle's host.
        host: String,
        /// The bundle's index.
        index: u32,
    },
    /// Some host could run it, none can now: keep it queued.
    Queue,
}

/// Why a task can never run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScheduleError {
    /// No live host has enough of a resource in total.
    #[error("no live host has {requested} {resource} (the most any host has is {largest})")]
    Infeasible {
        /// The resource's name (`cpus`, `memory`, `gpus`, or a custom one).
        resource: String,
        /// How much the task asks for.
        requested: String,
        /// The largest total any live host has.
        largest: String,
    },
    /// Hard affinity to a host that is unknown or dead.
    #[error("node affinity to `{0}`, which is not a live host")]
    UnknownHost(String),
    /// It asks for more than its placement group's bundle reserves.
    #[error(
        "it asks for {requested} {resource}, more than {bundle} of placement group {group} \
         reserves ({largest})"
    )]
    BundleTooSmall {
        /// The group's id.
        group: String,
        /// `bundle N`, or `any bundle`.
        bundle: String,
        /// The resource's name.
        resource: String,
        /// How much the task asks for.
        requested: String,
        /// The most any of the bundles asked for holds.
        largest: String,
    },
}

/// Decides where `task` runs in `view`.
pub fn place(view: &ClusterView, task: &TaskDemand) -> Result<Placement, ScheduleError> {
    let live: Vec<&HostView> = view.hosts.iter().filter(|h| h.alive).collect();
    if let Some((resource, requested)) = infeasible(&live, &task.resources) {
        let largest = live
            .iter()
            .map(|h| h.total.amount(&resource))
            .fold(0.0, f64::max);
        return Err(ScheduleError::Infeasible {
            requested: Resources::render(&resource, requested),
            largest: Resources::render(&resource, largest),
            resource,
        });
    }
    let fits_now: Vec<&HostView> = live
        .iter()
        .copied()
        .filter(|h| h.free().covers(&task.resources))
        .collect();
    let chosen = match &task.strategy {
        Strategy::NodeAffinity { host, soft } => {
            let target = live.iter().find(|h| &h.id == host);
            match (target, soft) {
                (Some(h), _) if fits_now.iter().any(|f| f.id == h.id) => Some(h.id.clone()),
                (Some(h), false) if h.total.covers(&task.resources) => return Ok(Placement::Queue),
                (Some(h), false) => {
                    let (resource, requested) =
                        infeasible(&[*h], &task.resources).unwrap_or_default();
                    return Err(ScheduleError::Infeasible {
                        requested: Resources::render(&resource, requested),
                        largest: Resources::render(&resource, h.total.amount(&resource)),
                        resource,
                    });
                }
                (None, false) => return Err(ScheduleError::UnknownHost(host.clone())),
                (_, true) => by_default(view, task, &fits_now),
            }
        }
        Strategy::Bundle { group, index } => return in_bundle(view, task, group, *index),
        Strategy::Spread => least_utilised(&fits_now),
        Strategy::Default => by_default(view, task, &fits_now),
    };
    Ok(chosen.map_or(Placement::Queue, Placement::Host))
}

/// Places `task` in bundle `index` (or any) of `group`, from what the
/// bundle holds. No bundle on a live host (the group is pending, or being
/// placed again): it waits.
fn in_bundle(
    view: &ClusterView,
    task: &TaskDemand,
    group: &str,
    index: Option<u32>,
) -> Result<Placement, ScheduleError> {
    let bundles: Vec<(&HostView, &BundleView)> = view
        .hosts
        .iter()
        .filter(|h| h.alive)
        .flat_map(|h| h.bundles.iter().map(move |b| (h, b)))
        .filter(|(_, b)| b.group == group && index.is_none_or(|i| b.index == i))
        .collect();
    if bundles.is_empty() {
        return Ok(Placement::Queue);
    }
    let demand = &task.resources;
    if let Some((resource, requested)) = demand
        .named()
        .into_iter()
        .find(|(name, amount)| !bundles.iter().any(|(_, b)| b.total.amount(name) >= *amount))
    {
        let largest = bundles
            .iter()
            .map(|(_, b)| b.total.amount(&resource))
            .fold(0.0, f64::max);
        return Err(ScheduleError::BundleTooSmall {
            group: group.to_string(),
            bundle: index.map_or("any bundle".into(), |i| format!("bundle {i}")),
            requested: Resources::render(&resource, requested),
            largest: Resources::render(&resource, largest),
            resource,
        });
    }
    Ok(bundles
        .iter()
        .find(|(_, b)| b.total.minus(&b.used).covers(demand))
        .map_or(Placement::Queue, |(h, b)| Placement::InBundle {
            host: h.id.clone(),
            index: b.index,
        }))
}

/// The first resource no live host has enough of, with the amount asked.
fn infeasible(live: &[&HostView], demand: &Resources) -> Option<(String, f64)> {
    demand
        .named()
        .into_iter()
        .find(|(name, amount)| !live.iter().any(|h| h.total.amount(name) >= *amount))
}

fn by_default(view: &ClusterView, task: &TaskDemand, fits_now: &[&HostView]) -> Option<String> {
    // Locality: bytes of argument objects already on each host.
    let mut local: BTreeMap<&str, u64> = BTreeMap::new();
    for id in &task.args {
        if let Some(object) = view.objects.get(id) {
            for host in &object.hosts {
                *local.entry(host.as_str()).or_default() += object.size;
            }
        }
    }
    let best_local = fits_now
        .iter()
        .filter_map(|h| local.get(h.id.as_str()).map(|bytes| (*bytes, *h)))
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.id.cmp(&a.1.id)));
    if let Some((_, host)) = best_local {
        return Some(host.id.clone());
    }
    // Pack: the busiest host still below half utilisation keeps others
    // free for large tasks; past that, balance load.
    let packed = fits_now
        .iter()
        .filter(|h| h.utilisation() < 0.5)
        .max_by(|a, b| {
            a.utilisation()
                .total_cmp(&b.utilisation())
                .then_with(|| b.id.cmp(&a.id))
        });
    packed
        .map(|h| h.id.clone())
        .or_else(|| least_utilised(fits_now))
}

fn least_utilised(hosts: &[&HostView]) -> Option<String> {
    hosts
        .iter()
        .min_by(|a, b| {
            a.utilisation()
                .total_cmp(&b.utilisation())
                .then_with(|| a.id.cmp(&b.id))
        })
        .map(|h| h.id.clone())
}
