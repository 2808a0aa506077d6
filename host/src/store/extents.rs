//! Which bytes of the arena are free: best-fit over page-aligned extents,
//! with neighbours merged as soon as both are free.
//!
//! Best fit keeps large holes whole for large objects, and merging on
//! free means two adjacent holes never stay apart. Its worst case is the
//! classic one for any allocator that does not move objects: small
//! long-lived objects scattered between freed large ones can leave the
//! free space in holes smaller than a request (a request can fail with up
//! to about half the arena free when sizes vary by 2^18, as here from
//! 1 KiB to 256 MiB). The store answers such a failure as it answers a
//! full arena: it evicts or spills the least recently used objects, which
//! opens holes, so fragmentation costs a spill, never a failed put while
//! something could still go. The stress test below measures the typical
//! case and bounds it.

use std::collections::{BTreeMap, BTreeSet};

use weft_core::shm::PAGE;

/// The free extents of an arena of `capacity` bytes.
pub(super) struct Extents {
    capacity: u64,
    /// Free extents: offset -> length.
    by_offset: BTreeMap<u64, u64>,
    /// The same, ordered by (length, offset) for best fit.
    by_size: BTreeSet<(u64, u64)>,
    used: u64,
    /// Ranges whose pages are backed with memory, merged: pages are never
    /// given back, so a reused extent needs no `fallocate` again (which
    /// costs a page lookup per page, a third of a warm copy's time).
    backed: BTreeMap<u64, u64>,
}

/// The room an object of `len` bytes takes: whole pages.
pub(super) fn rounded(len: u64) -> u64 {
    len.next_multiple_of(PAGE)
}

impl Extents {
    /// All of an arena of `capacity` bytes (whole pages of it) free.
    pub(super) fn new(capacity: u64) -> Self {
        let capacity = capacity / PAGE * PAGE;
        let mut extents = Extents {
            capacity,
            by_offset: BTreeMap::new(),
            by_size: BTreeSet::new(),
            used: 0,
            backed: BTreeMap::new(),
        };
        if capacity > 0 {
            extents.insert(0, capacity);
        }
        extents
    }

    fn insert(&mut self, offset: u64, len: u64) {
        self.by_offset.insert(offset, len);
        self.by_size.insert((len, offset));
    }

    fn take(&mut self, offset: u64, len: u64) {
        self.by_offset.remove(&offset);
        self.by_size.remove(&(len, offset));
    }

    /// The offset of a new extent of `rounded(len)` bytes, or `None` when
    /// no free extent is that large. Zero bytes take no room (offset 0).
    pub(super) fn alloc(&mut self, len: u64) -> Option<u64> {
        let len = rounded(len);
        if len == 0 {
            return Some(0);
        }
        let &(found, offset) = self.by_size.range((len, 0)..).next()?;
        self.take(offset, found);
        if found > len {
            self.insert(offset + len, found - len);
        }
        self.used += len;
        Some(offset)
    }

    /// Gives back the extent of `len` bytes (as passed to `alloc`) at `offset`.
    pub(super) fn free(&mut self, offset: u64, len: u64) {
        let mut len = rounded(len);
        if len == 0 {
            return;
        }
        self.used -= len;
        let mut offset = offset;
        if let Some((&before, &before_len)) = self.by_offset.range(..offset).next_back()
            && before + before_len == offset
        {
            self.take(before, before_len);
            offset = before;
            len += before_len;
        }
        if let Some(&after_len) = self.by_offset.get(&(offset + len)) {
            self.take(offset + len, after_len);
            len += after_len;
        }
        self.insert(offset, len);
    }

    /// The parts of `len` bytes at `offset` not backed yet.
    pub(super) fn unbacked(&self, offset: u64, len: u64) -> Vec<(u64, u64)> {
        if len == 0 {
            return Vec::new();
        }
        let end = offset + len;
        let mut gaps = Vec::new();
        let mut at = offset;
        let first = self
            .backed
            .range(..=offset)
            .next_back()
            .map(|(&o, &l)| (o, l));
        for (o, l) in first
            .into_iter()
            .chain(self.backed.range(offset + 1..end).map(|(&o, &l)| (o, l)))
        {
            if o > at {
                gaps.push((at, o.min(end) - at));
            }
            at = at.max(o + l);
            if at >= end {
                break;
            }
        }
        if at < end {
            gaps.push((at, end - at));
        }
        gaps
    }

    /// Records that `len` bytes at `offset` are backed.
    pub(super) fn mark_backed(&mut self, offset: u64, len: u64) {
        let (mut start, mut end) = (offset, offset + len);
        if let Some((&o, &l)) = self.backed.range(..=start).next_back()
            && o + l >= start
        {
            start = o;
            end = end.max(o + l);
        }
        let inside: Vec<(u64, u64)> = self
            .backed
            .range(start..=end)
            .map(|(&o, &l)| (o, l))
            .collect();
        for (o, l) in inside {
            self.backed.remove(&o);
            end = end.max(o + l);
        }
        self.backed.insert(start, end - start);
    }

    /// Bytes in extents handed out.
    pub(super) fn used(&self) -> u64 {
        self.used
    }

    /// The largest extent that could be handed out now.
    pub(super) fn largest_free(&self) -> u64 {
        self.by_size.last().map_or(0, |(len, _)| *len)
    }

    /// The arena's usable size.
    pub(super) fn capacity(&self) -> u64 {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A small deterministic generator (xorshift): the test needs no crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        /// 1 KiB to 256 MiB, spread evenly over the powers of two.
        fn size(&mut self) -> u64 {
            let exp = 10 + self.next() % 18;
            (1 << exp) + self.next() % (1 << exp)
        }
    }

    fn check_disjoint(live: &BTreeMap<u64, u64>, capacity: u64) {
        let mut end = 0;
        for (&offset, &len) in live {
            assert!(
                offset >= end,
                "extent at {offset} overlaps the one ending at {end}"
            );
            end = offset + rounded(len);
        }
        assert!(end <= capacity);
    }

    #[test]
    fn random_sizes_and_frees_never_overlap_and_stay_usable() {
        const CAPACITY: u64 = 1 << 30;
        let mut extents = Extents::new(CAPACITY);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut live: BTreeMap<u64, u64> = BTreeMap::new();
        let (mut total, mut failures, mut worst_free_at_failure) = (0u64, 0u32, 0f64);
        while total < 10 * CAPACITY {
            // Free about a third of the time, and whenever a request fails.
            if !live.is_empty() && rng.next().is_multiple_of(3) {
                let nth = (rng.next() % live.len() as u64) as usize;
                let (&offset, &len) = live.iter().nth(nth).expect("in range");
                live.remove(&offset);
                extents.free(offset, len);
                continue;
            }
            let len = rng.size();
            match extents.alloc(len) {
                Some(offset) => {
                    assert!(live.insert(offset, len).is_none());
                    total += len;
                }
                None => {
                    failures += 1;
                    let free = (CAPACITY - extents.used()) as f64 / CAPACITY as f64;
                    worst_free_at_failure = worst_free_at_failure.max(free);
                    assert!(extents.largest_free() < rounded(len));
                    // The store makes room as it would: the oldest go first.
                    let (&offset, &len) = live.iter().next().expect("something is live");
                    live.remove(&offset);
                    extents.free(offset, len);
                }
            }
            check_disjoint(&live, CAPACITY);
            let live_bytes: u64 = live.values().map(|l| rounded(*l)).sum();
            assert_eq!(extents.used(), live_bytes);
        }
        println!(
            "{failures} requests refused over {} GiB; the most free at a refusal: {:.1}%",
            total >> 30,
            worst_free_at_failure * 100.0
        );
        // The bound the module doc states: a request is refused only while
        // at least half the arena is in use.
        assert!(
            worst_free_at_failure < 0.5,
            "a request failed with {:.0}% of the arena free",
            worst_free_at_failure * 100.0
        );
        assert!(failures > 0, "the test never filled the arena");
        for (offset, len) in std::mem::take(&mut live) {
            extents.free(offset, len);
        }
        assert_eq!(extents.used(), 0);
        assert_eq!(extents.largest_free(), CAPACITY, "every hole merged again");
    }

    #[test]
    fn backed_ranges_merge_and_only_gaps_are_unbacked() {
        let mut extents = Extents::new(64 * PAGE);
        assert_eq!(extents.unbacked(0, 4 * PAGE), [(0, 4 * PAGE)]);
        extents.mark_backed(PAGE, PAGE);
        extents.mark_backed(4 * PAGE, 2 * PAGE);
        assert_eq!(
            extents.unbacked(0, 8 * PAGE),
            [(0, PAGE), (2 * PAGE, 2 * PAGE), (6 * PAGE, 2 * PAGE)]
        );
        assert_eq!(extents.unbacked(4 * PAGE, PAGE), []);
        extents.mark_backed(0, 5 * PAGE);
        assert_eq!(extents.backed.len(), 1, "{:?}", extents.backed);
        assert_eq!(extents.unbacked(0, 7 * PAGE), [(6 * PAGE, PAGE)]);
    }

    #[test]
    fn neighbours_merge_and_zero_bytes_take_no_room() {
        let mut extents = Extents::new(16 * PAGE);
        let a = extents.alloc(1).unwrap();
        let b = extents.alloc(PAGE + 1).unwrap();
        let c = extents.alloc(3 * PAGE).unwrap();
        assert_eq!((a, b, c), (0, PAGE, 3 * PAGE));
        assert_eq!(extents.alloc(0), Some(0));
        extents.free(a, 1);
        extents.free(c, 3 * PAGE);
        assert_eq!(extents.largest_free(), 10 * PAGE + 3 * PAGE);
        extents.free(b, PAGE + 1);
        assert_eq!(extents.largest_free(), 16 * PAGE);
        assert!(extents.alloc(17 * PAGE).is_none());
    }
}
