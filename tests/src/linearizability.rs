//! A linearizability checker for a history of register operations, one
//! register per key (the Wing & Gong search with Lowe's memoisation).
//!
//! An operation has an invocation time and, if it completed, a return time.
//! A write whose outcome is unknown (the client gave up) may take effect at
//! any point after its invocation, or never; a read that failed tells
//! nothing and should not be recorded.

use std::collections::{BTreeMap, HashSet};

/// What an operation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Wrote the value.
    Write(u64),
    /// Read the value (`None`: the key was absent).
    Read(Option<u64>),
}

/// One operation of a history.
#[derive(Debug, Clone)]
pub struct Event {
    /// The key (register) it touched.
    pub key: String,
    /// What it did.
    pub op: Op,
    /// When it was invoked (any monotonic unit).
    pub invoked: u64,
    /// When it returned; `None` for a write with an unknown outcome.
    pub returned: Option<u64>,
}

/// Checks every key's history; on failure, names the key that cannot be
/// linearized.
pub fn check(history: &[Event]) -> Result<(), String> {
    let mut by_key: BTreeMap<&str, Vec<&Event>> = BTreeMap::new();
    for e in history {
        by_key.entry(&e.key).or_default().push(e);
    }
    for (key, events) in by_key {
        if !check_register(&events) {
            return Err(format!(
                "history of key `{key}` is not linearizable ({} operations)",
                events.len()
            ));
        }
    }
    Ok(())
}

fn check_register(events: &[&Event]) -> bool {
    let n = events.len();
    let completed: Vec<usize> = (0..n).filter(|&i| events[i].returned.is_some()).collect();
    let mut seen: HashSet<(Vec<u64>, Option<u64>)> = HashSet::new();
    let mut done = vec![0u64; n.div_ceil(64)];
    search(events, &completed, &mut done, None, &mut seen)
}

fn is_done(done: &[u64], i: usize) -> bool {
    done[i / 64] & (1 << (i % 64)) != 0
}

fn flip(done: &mut [u64], i: usize) {
    done[i / 64] ^= 1 << (i % 64);
}

fn search(
    events: &[&Event],
    completed: &[usize],
    done: &mut Vec<u64>,
    value: Option<u64>,
    seen: &mut HashSet<(Vec<u64>, Option<u64>)>,
) -> bool {
    if completed.iter().all(|&i| is_done(done, i)) {
        return true;
    }
    if !seen.insert((done.clone(), value)) {
        return false;
    }
    // An operation can go next only if it was invoked before every
    // remaining completed operation returned.
    let horizon = completed
        .iter()
        .filter(|&&i| !is_done(done, i))
        .filter_map(|&i| events[i].returned)
        .min()
        .unwrap_or(u64::MAX);
    for i in 0..events.len() {
        if is_done(done, i) || events[i].invoked > horizon {
            continue;
        }
        let next = match &events[i].op {
            Op::Write(v) => Some(*v),
            Op::Read(r) if *r == value => value,
            Op::Read(_) => continue,
        };
        flip(done, i);
        if search(events, completed, done, next, seen) {
            return true;
        }
        flip(done, i);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(op: Op, invoked: u64, returned: Option<u64>) -> Event {
        Event {
            key: "k".into(),
            op,
            invoked,
            returned,
        }
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let h = [
            ev(Op::Read(None), 0, Some(1)),
            ev(Op::Write(1), 2, Some(3)),
            ev(Op::Read(Some(1)), 4, Some(5)),
        ];
        assert!(check(&h).is_ok());
    }

    #[test]
    fn stale_read_after_a_completed_write_is_caught() {
        let h = [
            ev(Op::Write(1), 0, Some(1)),
            ev(Op::Write(2), 2, Some(3)),
            ev(Op::Read(Some(1)), 4, Some(5)),
        ];
        assert!(check(&h).is_err());
    }

    #[test]
    fn concurrent_operations_may_order_either_way() {
        let h = [
            ev(Op::Write(1), 0, Some(10)),
            ev(Op::Write(2), 1, Some(9)),
            ev(Op::Read(Some(1)), 11, Some(12)),
            ev(Op::Read(Some(1)), 13, Some(14)),
        ];
        assert!(check(&h).is_ok());
    }

    #[test]
    fn unknown_writes_may_apply_late_or_never() {
        let late = [
            ev(Op::Write(7), 0, None),
            ev(Op::Read(None), 1, Some(2)),
            ev(Op::Read(Some(7)), 3, Some(4)),
        ];
        assert!(check(&late).is_ok());
        let never = [ev(Op::Write(7), 0, None), ev(Op::Read(None), 5, Some(6))];
        assert!(check(&never).is_ok());
        // But a value once seen cannot be unseen without another write.
        let flicker = [
            ev(Op::Write(7), 0, None),
            ev(Op::Read(Some(7)), 1, Some(2)),
            ev(Op::Read(None), 3, Some(4)),
        ];
        assert!(check(&flicker).is_err());
    }
}
