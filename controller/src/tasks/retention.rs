//! The retention window: detached owners' finished results (the CLI's,
//! say) kept a while after their owner went, so `weft get` finds them. It
//! holds each result once and lets go of the oldest past a count and a
//! size, so a few huge results cannot exhaust the leader's memory.

use std::collections::VecDeque;

/// Results held by the window, oldest first, and their total size.
pub(crate) struct Retention {
    held: VecDeque<(String, u64)>,
    bytes: u64,
    max_count: usize,
    max_bytes: u64,
}

impl Retention {
    /// A window of at most `max_count` results and `max_bytes` bytes
    /// (always at least the newest one).
    pub(crate) fn new(max_count: usize, max_bytes: u64) -> Self {
        Retention {
            held: VecDeque::new(),
            bytes: 0,
            max_count,
            max_bytes,
        }
    }

    /// Holds `id` (of `size` bytes); returns the ids the window lets go
    /// of to stay within its limits, for the caller to unhold.
    pub(crate) fn retire(&mut self, id: String, size: u64) -> Vec<String> {
        self.bytes += size;
        self.held.push_back((id, size));
        let mut released = Vec::new();
        while self.held.len() > 1
            && (self.held.len() > self.max_count || self.bytes > self.max_bytes)
        {
            if let Some((old, size)) = self.held.pop_front() {
                self.bytes = self.bytes.saturating_sub(size);
                released.push(old);
            }
        }
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_go_past_the_count_or_the_size_but_never_the_newest() {
        let mut window = Retention::new(2, 100);
        assert!(window.retire("a".into(), 10).is_empty());
        assert!(window.retire("b".into(), 10).is_empty());
        assert_eq!(window.retire("c".into(), 10), ["a"]);
        assert_eq!(window.retire("d".into(), 500), ["b", "c"]);
        assert!(window.retire("e".into(), 1).len() == 1, "d goes: over size");
    }
}
