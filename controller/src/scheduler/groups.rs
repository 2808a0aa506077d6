//! Placement groups: where a gang of bundles goes, all of them or none.
//!
//! [`place_group`] is pure, as [`super::place`] is: it takes the cluster's
//! view and a group's bundles (some may be placed already, when a host
//! holding others died) and either names a host for every bundle or says
//! why the group must wait. It never fails a group: an infeasible group
//! stays pending with a reason a person can act on (which bundle fits no
//! host, and what it lacks), where Ray's stays pending in silence.
//!
//! The strategies, after Ray's:
//! - **pack**: as few hosts as fit: one host that holds every bundle left
//!   (the busiest that does, keeping others free), else bundle by bundle
//!   onto the hosts the group already uses, then the busiest that fits;
//! - **spread**: each bundle on the host with the fewest of the group's
//!   bundles, then the least utilised;
//! - **strict pack**: one host holds them all, or the group waits;
//! - **strict spread**: every bundle on its own host, or the group waits.

use std::collections::BTreeMap;

use super::{ClusterView, HostView, Resources};

/// How a group's bundles spread over hosts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum GroupStrategy {
    /// As few hosts as fit.
    #[default]
    Pack,
    /// Distinct hosts where there are enough.
    Spread,
    /// One host, or wait.
    StrictPack,
    /// One host per bundle, or wait.
    StrictSpread,
}

impl GroupStrategy {
    /// Ray's name for it.
    pub fn name(self) -> &'static str {
        match self {
            GroupStrategy::Pack => "PACK",
            GroupStrategy::Spread => "SPREAD",
            GroupStrategy::StrictPack => "STRICT_PACK",
            GroupStrategy::StrictSpread => "STRICT_SPREAD",
        }
    }
}

/// A group to place.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupDemand {
    /// What each bundle reserves.
    pub bundles: Vec<Resources>,
    /// How they spread.
    pub strategy: GroupStrategy,
    /// The host of each bundle placed already (`None`: to place). Empty:
    /// none is.
    pub placed: Vec<Option<String>>,
}

/// Where a group's bundles go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupPlacement {
    /// The host of every bundle, by index (placed ones keep theirs).
    Hosts(Vec<String>),
    /// Not every bundle fits: nothing is reserved, for this reason.
    Pending(String),
}

/// Decides where every bundle of `group` goes in `view`, or why it waits.
pub fn place_group(view: &ClusterView, group: &GroupDemand) -> GroupPlacement {
    let live: Vec<&HostView> = view.hosts.iter().filter(|h| h.alive).collect();
    let hosts: Vec<Option<String>> = (0..group.bundles.len())
        .map(|i| group.placed.get(i).cloned().flatten())
        .collect();
    if live.is_empty() {
        return GroupPlacement::Pending("no live host".into());
    }
    for (index, bundle) in group.bundles.iter().enumerate() {
        if let Some((resource, requested)) = lacking(&live, bundle) {
            let largest = live
                .iter()
                .map(|h| h.total.amount(&resource))
                .fold(0.0, f64::max);
            return GroupPlacement::Pending(format!(
                "bundle {index} ({}) fits no live host: none has {} {resource} (the most any \
                 host has is {})",
                bundle.describe(),
                Resources::render(&resource, requested),
                Resources::render(&resource, largest),
            ));
        }
    }
    let mut placer = Placer {
        free: live.iter().map(|h| (h.id.as_str(), h.free())).collect(),
        todo: (0..hosts.len()).filter(|&i| hosts[i].is_none()).collect(),
        live,
        group,
        hosts,
    };
    let outcome = match group.strategy {
        GroupStrategy::StrictPack => placer.strict_pack(),
        GroupStrategy::StrictSpread => placer.strict_spread(),
        GroupStrategy::Pack | GroupStrategy::Spread => placer.each(),
    };
    match outcome {
        Ok(()) => GroupPlacement::Hosts(
            placer
                .hosts
                .into_iter()
                .map(Option::unwrap_or_default)
                .collect(),
        ),
        Err(reason) => GroupPlacement::Pending(reason),
    }
}

/// The first resource of `demand` no live host has that much of in all.
fn lacking(live: &[&HostView], demand: &Resources) -> Option<(String, f64)> {
    demand
        .named()
        .into_iter()
        .find(|(name, amount)| !live.iter().any(|h| h.total.amount(name) >= *amount))
}

/// The busiest of `candidates` (ties: the first by id): packing there
/// keeps the idle hosts whole for large work.
fn busiest<'a>(candidates: impl Iterator<Item = &'a &'a HostView>) -> Option<&'a HostView> {
    candidates
        .max_by(|a, b| {
            a.utilisation()
                .total_cmp(&b.utilisation())
                .then_with(|| b.id.cmp(&a.id))
        })
        .copied()
}

/// One group being placed: what each live host has free as bundles are
/// put on it, and the host chosen for each bundle so far.
struct Placer<'a> {
    live: Vec<&'a HostView>,
    free: BTreeMap<&'a str, Resources>,
    group: &'a GroupDemand,
    hosts: Vec<Option<String>>,
    /// The bundles to place, by index.
    todo: Vec<usize>,
}

impl Placer<'_> {
    /// What the bundles left to place need together.
    fn need_left(&self) -> Resources {
        self.todo.iter().fold(Resources::default(), |sum, &i| {
            sum.plus(&self.group.bundles[i])
        })
    }

    /// Puts bundle `i` on `host`.
    fn put(&mut self, i: usize, host: &str) {
        if let Some(f) = self.free.get_mut(host) {
            *f = f.minus(&self.group.bundles[i]);
        }
        self.hosts[i] = Some(host.to_string());
    }

    /// Puts every bundle left on `host`.
    fn put_all(&mut self, host: &str) {
        for i in self.todo.clone() {
            self.put(i, host);
        }
    }

    /// Whether `host` has room for `need` now.
    fn fits(&self, host: &HostView, need: &Resources) -> bool {
        self.free[host.id.as_str()].covers(need)
    }

    fn strict_pack(&mut self) -> Result<(), String> {
        let need = self.need_left();
        // A group partly placed (its host lives on) stays on that host.
        let anchor = self.hosts.iter().flatten().next().cloned();
        let candidates: Vec<&HostView> = self
            .live
            .iter()
            .copied()
            .filter(|h| anchor.as_ref().is_none_or(|a| &h.id == a) && self.fits(h, &need))
            .collect();
        let Some(host) = busiest(candidates.iter()) else {
            let in_all = self.live.iter().any(|h| h.total.covers(&need));
            return Err(format!(
                "STRICT_PACK needs one host with {} for its bundles together, and {}",
                need.describe(),
                if in_all {
                    "no host has that free now"
                } else {
                    "no live host has that much in all"
                }
            ));
        };
        self.put_all(&host.id);
        Ok(())
    }

    fn strict_spread(&mut self) -> Result<(), String> {
        let (wanted, live) = (self.hosts.len(), self.live.len());
        if live < wanted {
            return Err(format!(
                "STRICT_SPREAD needs {wanted} distinct hosts, one per bundle, and {live} live {}",
                if live == 1 {
                    "host exists"
                } else {
                    "hosts exist"
                }
            ));
        }
        for i in self.todo.clone() {
            let bundle = &self.group.bundles[i];
            let host = self
                .live
                .iter()
                .filter(|h| !self.hosts.contains(&Some(h.id.clone())) && self.fits(h, bundle))
                .min_by(|a, b| {
                    a.utilisation()
                        .total_cmp(&b.utilisation())
                        .then_with(|| a.id.cmp(&b.id))
                });
            let Some(host) = host else {
                return Err(format!(
                    "STRICT_SPREAD: bundle {i} ({}) fits none of the hosts the group's other \
                     bundles leave it now",
                    bundle.describe()
                ));
            };
            self.put(i, &host.id);
        }
        Ok(())
    }

    /// Pack and spread place bundle by bundle, preferring the group's own
    /// hosts (pack) or the hosts with fewest of its bundles (spread).
    fn each(&mut self) -> Result<(), String> {
        let strategy = self.group.strategy;
        if strategy == GroupStrategy::Pack {
            // One host for everything left, if any has room: one the group
            // uses already, else the busiest.
            let need = self.need_left();
            let whole: Vec<&HostView> = self
                .live
                .iter()
                .copied()
                .filter(|h| self.fits(h, &need))
                .collect();
            let own = whole
                .iter()
                .find(|h| self.hosts.contains(&Some(h.id.clone())));
            if let Some(host) = own.copied().or_else(|| busiest(whole.iter())) {
                self.put_all(&host.id);
                return Ok(());
            }
        }
        for i in self.todo.clone() {
            let bundle = &self.group.bundles[i];
            let count = |id: &str| self.hosts.iter().flatten().filter(|h| *h == id).count();
            let fits = self.live.iter().filter(|h| self.fits(h, bundle));
            let host = match strategy {
                GroupStrategy::Spread => fits.min_by(|a, b| {
                    count(&a.id)
                        .cmp(&count(&b.id))
                        .then_with(|| a.utilisation().total_cmp(&b.utilisation()))
                        .then_with(|| a.id.cmp(&b.id))
                }),
                _ => fits.max_by(|a, b| {
                    count(&a.id)
                        .cmp(&count(&b.id))
                        .then_with(|| a.utilisation().total_cmp(&b.utilisation()))
                        .then_with(|| b.id.cmp(&a.id))
                }),
            };
            let Some(host) = host else {
                return Err(format!(
                    "{}: bundle {i} ({}) fits no host now (every host with that much in all \
                     has it in use or reserved)",
                    strategy.name(),
                    bundle.describe()
                ));
            };
            let id = host.id.clone();
            self.put(i, &id);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: &str, cpus: f64) -> HostView {
        HostView {
            id: id.into(),
            alive: true,
            total: Resources {
                cpus,
                ..Default::default()
            },
            used: Resources::default(),
            bundles: Vec::new(),
        }
    }

    fn cpus(n: f64) -> Resources {
        Resources {
            cpus: n,
            ..Default::default()
        }
    }

    #[test]
    fn a_rescheduled_strict_spread_bundle_avoids_the_others_hosts() {
        let view = ClusterView {
            hosts: vec![host("a", 4.0), host("c", 1.0)],
            ..Default::default()
        };
        let group = GroupDemand {
            bundles: vec![cpus(1.0), cpus(1.0)],
            strategy: GroupStrategy::StrictSpread,
            placed: vec![Some("a".into()), None],
        };
        assert_eq!(
            place_group(&view, &group),
            GroupPlacement::Hosts(vec!["a".into(), "c".into()])
        );
    }
}
