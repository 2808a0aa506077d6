//! Resource amounts: cpus (fractional), memory (bytes), gpus, and custom
//! named resources, with the arithmetic placement needs.

use std::collections::BTreeMap;

/// An amount of each resource.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// CPU slots (may be fractional).
    pub cpus: f64,
    /// Memory in bytes.
    pub memory: u64,
    /// GPUs.
    pub gpus: u32,
    /// Custom resources by name.
    pub custom: BTreeMap<String, f64>,
}

impl Resources {
    /// The amount of the resource called `name`.
    pub fn amount(&self, name: &str) -> f64 {
        match name {
            "cpus" => self.cpus,
            "memory" => self.memory as f64,
            "gpus" => f64::from(self.gpus),
            other => self.custom.get(other).copied().unwrap_or(0.0),
        }
    }

    /// Every resource with a non-zero amount, by name.
    pub fn named(&self) -> Vec<(String, f64)> {
        let mut out = Vec::new();
        for (name, amount) in [
            ("cpus", self.cpus),
            ("memory", self.memory as f64),
            ("gpus", f64::from(self.gpus)),
        ] {
            if amount > 0.0 {
                out.push((name.to_string(), amount));
            }
        }
        out.extend(
            self.custom
                .iter()
                .filter(|(_, a)| **a > 0.0)
                .map(|(n, a)| (n.clone(), *a)),
        );
        out
    }

    /// Whether `self` has at least `demand` of every resource.
    pub fn covers(&self, demand: &Resources) -> bool {
        demand
            .named()
            .iter()
            .all(|(name, amount)| self.amount(name) >= *amount)
    }

    /// `self` and `other` together.
    pub fn plus(&self, other: &Resources) -> Resources {
        let mut custom = self.custom.clone();
        for (name, amount) in &other.custom {
            *custom.entry(name.clone()).or_default() += amount;
        }
        Resources {
            cpus: self.cpus + other.cpus,
            memory: self.memory.saturating_add(other.memory),
            gpus: self.gpus.saturating_add(other.gpus),
            custom,
        }
    }

    /// `self` less `other`, never below zero.
    pub fn minus(&self, other: &Resources) -> Resources {
        Resources {
            cpus: (self.cpus - other.cpus).max(0.0),
            memory: self.memory.saturating_sub(other.memory),
            gpus: self.gpus.saturating_sub(other.gpus),
            custom: self
                .custom
                .iter()
                .map(|(n, a)| {
                    (
                        n.clone(),
                        (a - other.custom.get(n).copied().unwrap_or(0.0)).max(0.0),
                    )
                })
                .collect(),
        }
    }

    /// The largest share of `total` that `self` uses, over every resource
    /// `total` has: how busy a host is.
    pub fn share_of(&self, total: &Resources) -> f64 {
        total
            .named()
            .iter()
            .map(|(name, amount)| self.amount(name) / amount)
            .fold(0.0, f64::max)
    }

    /// Every non-zero amount for people: `cpus=1 gpus=1 memory=1 GiB`, or
    /// `nothing`.
    pub fn describe(&self) -> String {
        let named = self.named();
        if named.is_empty() {
            return "nothing".into();
        }
        named
            .iter()
            .map(|(name, amount)| format!("{name}={}", Resources::render(name, *amount)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// An amount of `name` for people: memory in binary units.
    pub fn render(name: &str, amount: f64) -> String {
        if name == "memory" {
            weft_proto::format_bytes(amount as u64)
        } else if amount.fract() == 0.0 {
            format!("{amount:.0}")
        } else {
            format!("{amount}")
        }
    }
}
