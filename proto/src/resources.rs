//! Resource amounts as every client reads, compares and prints them: a
//! bundle from `NAME=AMOUNT` pairs, whether room covers a need, and one
//! line of text. The CLI, the SDKs and the autoscaler share these so a
//! bundle means the same wherever it is typed.

use crate::v1::Resources;

/// Why an amount cannot be part of a bundle.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResourceError {
    /// A negative, infinite or NaN amount.
    #[error("bundle resource `{name}` should be a number >= 0, not {amount}")]
    NotAnAmount {
        /// The resource's name as given.
        name: String,
        /// The amount given for it.
        amount: f64,
    },
    /// GPUs are handed out whole.
    #[error("a bundle's gpus are whole, not {0}")]
    FractionalGpus(f64),
}

impl Resources {
    /// Sets resource `name` to `amount`: `cpus` (or Ray's `CPU`), `gpus`
    /// (`GPU`), `memory` in bytes, and any other name as a custom
    /// resource.
    pub fn set_named(&mut self, name: &str, amount: f64) -> Result<(), ResourceError> {
        if !(amount >= 0.0 && amount.is_finite()) {
            return Err(ResourceError::NotAnAmount {
                name: name.to_string(),
                amount,
            });
        }
        match name {
            "cpus" | "cpu" | "CPU" => self.cpus = amount,
            "gpus" | "gpu" | "GPU" if amount.fract() == 0.0 => self.gpus = amount as u32,
            "gpus" | "gpu" | "GPU" => return Err(ResourceError::FractionalGpus(amount)),
            "memory" => self.memory = amount as u64,
            _ => {
                self.custom.insert(name.to_string(), amount);
            }
        }
        Ok(())
    }

    /// A bundle from `(name, amount)` pairs, as [`Resources::set_named`]
    /// reads each.
    pub fn from_named<N: AsRef<str>>(
        pairs: impl IntoIterator<Item = (N, f64)>,
    ) -> Result<Self, ResourceError> {
        let mut out = Self::default();
        for (name, amount) in pairs {
            out.set_named(name.as_ref(), amount)?;
        }
        Ok(out)
    }

    /// Whether this much room holds `need`, custom resources included.
    pub fn covers(&self, need: &Self) -> bool {
        self.cpus >= need.cpus
            && self.memory >= need.memory
            && self.gpus >= need.gpus
            && need
                .custom
                .iter()
                .all(|(k, v)| self.custom.get(k).copied().unwrap_or(0.0) >= *v)
    }

    /// Takes `need` out of this room (amounts stop at zero).
    pub fn take(&mut self, need: &Self) {
        self.cpus -= need.cpus;
        self.memory = self.memory.saturating_sub(need.memory);
        self.gpus = self.gpus.saturating_sub(need.gpus);
        for (k, v) in &need.custom {
            if let Some(r) = self.custom.get_mut(k) {
                *r -= v;
            }
        }
    }

    /// `cpus=1,gpus=1,memory=2 GiB,NAME=AMOUNT`: the amounts that are not
    /// zero, custom ones by name.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.cpus > 0.0 {
            parts.push(format!("cpus={}", self.cpus));
        }
        if self.gpus > 0 {
            parts.push(format!("gpus={}", self.gpus));
        }
        if self.memory > 0 {
            parts.push(format!("memory={}", crate::format_bytes(self.memory)));
        }
        let mut custom: Vec<_> = self.custom.iter().collect();
        custom.sort_by(|a, b| a.0.cmp(b.0));
        parts.extend(custom.into_iter().map(|(n, a)| format!("{n}={a}")));
        parts.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ray_and_weft_names_read_alike() {
        let ray = Resources::from_named([("CPU", 2.0), ("GPU", 1.0), ("disk", 3.0)]).unwrap();
        let weft = Resources::from_named([("cpus", 2.0), ("gpus", 1.0), ("disk", 3.0)]).unwrap();
        assert_eq!(ray, weft);
        assert_eq!(ray.describe(), "cpus=2,gpus=1,disk=3");
    }

    #[test]
    fn bad_amounts_are_named() {
        let err = Resources::from_named([("CPU", -1.0)]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "bundle resource `CPU` should be a number >= 0, not -1"
        );
        assert_eq!(
            Resources::from_named([("GPU", 0.5)]).unwrap_err(),
            ResourceError::FractionalGpus(0.5)
        );
    }

    #[test]
    fn room_covers_and_gives() {
        let mut room =
            Resources::from_named([("cpus", 4.0), ("memory", 100.0), ("a", 1.0)]).unwrap();
        let need = Resources::from_named([("cpus", 3.0), ("a", 1.0)]).unwrap();
        assert!(room.covers(&need));
        room.take(&need);
        assert!(!room.covers(&need));
        assert_eq!(room.describe(), "cpus=1,memory=100 B,a=0");
    }
}
