//! The leader's bounded history of task state changes: submitted,
//! scheduled on a host, retried, finished or failed. It answers `weft list
//! tasks --detail` and `weft timeline`; like the task table it lives in the
//! leader's memory only, and the oldest events go first when it is full.

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use weft_proto::v1 as pb;

/// Events kept: a few per task for the last tens of thousands of tasks.
pub(crate) const CAPACITY: usize = 200_000;

#[derive(Debug)]
pub(crate) struct Events {
    log: VecDeque<pb::TaskEvent>,
    capacity: usize,
    dropped: u64,
}

impl Default for Events {
    fn default() -> Self {
        Events {
            log: VecDeque::new(),
            capacity: CAPACITY,
            dropped: 0,
        }
    }
}

impl Events {
    /// Records one event now.
    pub(crate) fn record(&mut self, event: pb::TaskEvent) {
        if self.log.len() >= self.capacity {
            self.log.pop_front();
            self.dropped += 1;
        }
        self.log.push_back(pb::TaskEvent {
            at_micros: now_micros(),
            ..event
        });
    }

    /// Task `task`'s events, or every task's when it is empty.
    pub(crate) fn of(&self, task: &str) -> pb::TaskEventsResponse {
        let events = self
            .log
            .iter()
            .filter(|e| task.is_empty() || e.task == task)
            .cloned()
            .collect();
        pb::TaskEventsResponse {
            events,
            dropped: self.dropped,
        }
    }
}

/// An event of `kind` for `task`, the rest filled by the caller.
pub(crate) fn event(task: &str, kind: pb::TaskEventKind) -> pb::TaskEvent {
    pb::TaskEvent {
        task: task.to_string(),
        kind: kind as i32,
        ..Default::default()
    }
}

fn now_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_events_go_first_and_are_counted() {
        let mut events = Events {
            capacity: 3,
            ..Events::default()
        };
        for (task, kind) in [
            ("a", pb::TaskEventKind::Submitted),
            ("b", pb::TaskEventKind::Submitted),
            ("a", pb::TaskEventKind::Scheduled),
            ("b", pb::TaskEventKind::Scheduled),
            ("a", pb::TaskEventKind::Finished),
        ] {
            events.record(event(task, kind));
        }
        let all = events.of("");
        assert_eq!(all.dropped, 2);
        assert_eq!(all.events.len(), 3);
        let a = events.of("a");
        let kinds: Vec<_> = a.events.iter().map(|e| e.kind()).collect();
        assert_eq!(
            kinds,
            [pb::TaskEventKind::Scheduled, pb::TaskEventKind::Finished]
        );
        assert!(
            a.events
                .windows(2)
                .all(|w| w[0].at_micros <= w[1].at_micros)
        );
    }
}
