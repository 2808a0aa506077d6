//! Which task or actor holds each GPU of a host.
//!
//! [`place`](super::place) counts a host's free GPUs to choose the host;
//! [`Devices`] then chooses which of its GPUs, so the host lends exactly
//! the devices the leader picked and every view of the cluster (the
//! leader's table, the host's leases, `weft task`) names the same ones,
//! as Ray's raylet assigns `CUDA_VISIBLE_DEVICES` from the GCS's count.

/// The holder of each device of one host, by index (empty: free).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Devices {
    holders: Vec<String>,
}

impl Devices {
    /// `count` free devices.
    pub fn new(count: u32) -> Self {
        Devices {
            holders: vec![String::new(); count as usize],
        }
    }

    /// The same holders on a host that now has `count` devices (it
    /// registered again); holders of devices it no longer has lose them.
    pub fn resized(mut self, count: u32) -> Self {
        self.holders.resize(count as usize, String::new());
        self
    }

    /// Takes `n` devices for `holder` and returns their indices: `known`
    /// where the host already lends those to it (it said so after a
    /// leader failover) and they are free here, else the lowest free ones.
    /// Fewer than `n` only when fewer are free, which the scheduler's
    /// count rules out.
    pub fn take(&mut self, holder: &str, n: u32, known: &[u32]) -> Vec<u32> {
        let free =
            |holders: &[String], i: u32| holders.get(i as usize).is_some_and(String::is_empty);
        let mut chosen: Vec<u32> = Vec::with_capacity(n as usize);
        if known.len() == n as usize && known.iter().all(|i| free(&self.holders, *i)) {
            chosen.extend_from_slice(known);
        } else {
            chosen.extend(
                (0..self.holders.len() as u32)
                    .filter(|i| free(&self.holders, *i))
                    .take(n as usize),
            );
        }
        for i in &chosen {
            self.holders[*i as usize] = holder.to_string();
        }
        chosen
    }

    /// Frees every device `holder` holds.
    pub fn give_back(&mut self, holder: &str) {
        for h in self.holders.iter_mut().filter(|h| *h == holder) {
            h.clear();
        }
    }

    /// The devices `holder` holds, lowest first.
    pub fn of(&self, holder: &str) -> Vec<u32> {
        (0..self.holders.len() as u32)
            .filter(|i| self.holders[*i as usize] == holder)
            .collect()
    }

    /// Each device's holder, by index (empty: free).
    pub fn holders(&self) -> &[String] {
        &self.holders
    }

    /// How many are free.
    pub fn free(&self) -> usize {
        self.holders.iter().filter(|h| h.is_empty()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_free_devices_are_taken_and_given_back_by_holder() {
        let mut d = Devices::new(4);
        assert_eq!(d.take("a", 1, &[]), vec![0]);
        assert_eq!(d.take("b", 2, &[]), vec![1, 2]);
        assert_eq!(d.take("c", 2, &[]), vec![3], "only one is left");
        d.give_back("b");
        assert_eq!(d.of("b"), Vec::<u32>::new());
        assert_eq!(d.free(), 2);
        assert_eq!(d.take("d", 2, &[]), vec![1, 2]);
        assert_eq!(d.of("d"), vec![1, 2]);
        assert_eq!(d.take("e", 0, &[]), Vec::<u32>::new());
    }

    #[test]
    fn devices_a_host_reports_lending_are_kept_when_free() {
        let mut d = Devices::new(3);
        assert_eq!(d.take("a", 1, &[2]), vec![2]);
        // Taken already: the lowest free instead.
        assert_eq!(d.take("b", 1, &[2]), vec![0]);
        // Out of range, or the wrong count: the lowest free.
        assert_eq!(d.take("c", 1, &[7]), vec![1]);
        d.give_back("c");
        assert_eq!(d.take("c", 1, &[1, 0]), vec![1]);
    }

    #[test]
    fn a_host_registering_with_fewer_devices_drops_the_rest() {
        let mut d = Devices::new(2);
        d.take("a", 1, &[1]);
        let d = d.resized(1);
        assert_eq!(d.of("a"), Vec::<u32>::new());
        assert_eq!(d.free(), 1);
    }
}
