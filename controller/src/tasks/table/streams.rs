//! Streaming tasks' items: each one a host reports becomes an object the
//! task's owners hold, sent to them at once, in order; and the owner's
//! progress through them goes to the producer's host, which holds the
//! producer back while too many are unread.

use weft_proto::v1 as pb;

use super::Table;
use crate::tasks::task::{State, Task};

impl Table {
    /// Host `host` reports an item of a streaming task. Only the running
    /// attempt's next item is recorded: a retried attempt emits again the
    /// items an earlier one did, and those are dropped here, so the owner
    /// sees each index once.
    pub(crate) fn stream_item(&mut self, host: &str, item: pb::StreamItem) {
        let Some(task) = self.tasks.get(&item.task) else {
            return;
        };
        let Some(mut object) = item.object else {
            return;
        };
        let current = matches!(&task.state, State::Running { host: h, .. } if h == host)
            && task.attempt == item.attempt;
        if !current || !task.options().streaming || item.index != task.items {
            // Emitted as the task was canceled or failed: nobody will
            // read it, so a stored copy goes now.
            let id = weft_proto::stream_item_id(&item.task, item.index);
            if !object.held_by.is_empty() && !self.tasks.contains_key(&id) {
                self.outbox.free(id);
            }
            return;
        }
        let owners = task.owners.clone();
        if let Some(task) = self.tasks.get_mut(&item.task) {
            task.items += 1;
        }
        object.id = weft_proto::stream_item_id(&item.task, item.index);
        object.ok = true;
        object.has_value = true;
        object.host = host.to_string();
        let id = object.id.clone();
        self.tasks.insert(id.clone(), Task::object(object.clone()));
        for owner in owners {
            self.add_owner(owner, &id);
            self.outbox.tell(owner, object.clone());
        }
        self.outbox.finished();
    }

    /// An owner has read `progress.count` items of a streaming task: its
    /// host learns of it while the producer runs.
    pub(crate) fn stream_consumed(&mut self, progress: pb::StreamProgress) {
        let Some(task) = self.tasks.get_mut(&progress.task) else {
            return;
        };
        if progress.count <= task.consumed {
            return;
        }
        task.consumed = progress.count;
        if let State::Running { host, .. } = &task.state
            && task.options().stream_backpressure > 0
            && let Some(entry) = self.hosts.get(host)
        {
            entry.send(pb::host_command::Kind::Consumed(progress));
        }
    }
}
