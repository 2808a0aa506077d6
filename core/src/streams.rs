//! The consuming side of a streaming task (Ray's `ObjectRefGenerator`):
//! its items are objects `<task>.<n>` that arrive on the owner's session
//! in order while the task runs, and its own result ends the stream. The
//! ids are known in advance, so reading the next item is waiting for one
//! of two ids: the item, or the end.

use std::time::Duration;

use weft_proto::v1 as pb;

use crate::{ClientError, FailureKind, TaskClient};

/// The items of one streaming task, read in order. Dropped before its
/// end, it lets go of the items not read yet (and of those still to
/// come) and cancels the task, so its producer stops.
pub struct ItemStream {
    client: TaskClient,
    task: String,
    /// The index of the next item to read.
    next: u64,
    /// Whether the producer waits on this consumer (a backpressure limit):
    /// then each read is reported to the leader.
    report: bool,
    /// The end was read (or the stream failed).
    done: bool,
}

impl std::fmt::Debug for ItemStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemStream")
            .field("task", &self.task)
            .field("next", &self.next)
            .finish()
    }
}

impl TaskClient {
    /// The items of streaming task `task` (one submitted with
    /// `TaskOptions::streaming`), from the first. `backpressure` says
    /// whether the task was given a limit, so its producer must hear what
    /// is read.
    pub fn stream(&self, task: &str, backpressure: bool) -> ItemStream {
        ItemStream {
            client: self.clone(),
            task: task.to_string(),
            next: 0,
            report: backpressure,
            done: false,
        }
    }
}

impl ItemStream {
    /// The streaming task's id (its ref is the stream's end).
    pub fn task_id(&self) -> &str {
        &self.task
    }

    /// How many items were read so far.
    pub fn read(&self) -> u64 {
        self.next
    }

    /// How many items have arrived here and wait to be read.
    pub fn buffered(&self) -> u64 {
        let state = self.client.shared.lock();
        let mut n = 0;
        while state
            .results
            .contains_key(&weft_proto::stream_item_id(&self.task, self.next + n))
        {
            n += 1;
        }
        n
    }

    /// The next item's ref (an object id to `get`, pass on or release);
    /// `None` once the stream has ended. A task that failed fails here,
    /// after the items it emitted, with its error; so does a stream whose
    /// task ended saying it emitted items that never arrived.
    pub async fn next(&mut self, timeout: Option<Duration>) -> Result<Option<String>, ClientError> {
        if self.done {
            return Ok(None);
        }
        let item = weft_proto::stream_item_id(&self.task, self.next);
        let ids = [item.clone(), self.task.clone()];
        let (ready, _) = self.client.wait(&ids, 1, timeout).await?;
        // Items arrive before the result that ends them, so an item that
        // exists is here by the time the end is.
        if ready.iter().any(|r| r.id == item) {
            self.next += 1;
            if self.report {
                self.client.consumed(&self.task, self.next);
            }
            return Ok(Some(item));
        }
        let Some(end) = ready.into_iter().find(|r| r.id == self.task) else {
            return Err(ClientError::Timeout {
                after: timeout.unwrap_or_default(),
                pending: 1,
            });
        };
        self.done = true;
        if !end.ok {
            return Err(ClientError::failed(end));
        }
        if end.items > self.next {
            return Err(ClientError::TaskFailed {
                id: self.task.clone(),
                kind: FailureKind::Lost,
                message: format!(
                    "streaming task {} emitted {} items and {} arrived: items {}..{} were lost \
                     (the leader changed while it ran)",
                    self.task, end.items, self.next, self.next, end.items
                ),
            });
        }
        Ok(None)
    }

    /// The items as a [`futures::Stream`] of refs, ending with the stream
    /// (or its error).
    pub fn into_stream(self) -> impl futures::Stream<Item = Result<String, ClientError>> {
        futures::stream::unfold(Some(self), |stream| async move {
            let mut stream = stream?;
            match stream.next(None).await {
                Ok(Some(item)) => Some((Ok(item), Some(stream))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

impl Drop for ItemStream {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.client.drop_stream(&self.task, self.next);
    }
}

impl TaskClient {
    /// The items that arrived of the streaming tasks among `tasks`, taken
    /// out of this client's results: for a host whose guest is done, so
    /// that the items its guest read are released with the refs it made.
    pub fn take_stream_items(&self, tasks: &[String]) -> Vec<String> {
        let mut state = self.shared.lock();
        let mut items = Vec::new();
        for task in tasks {
            if let Some(of) = state.items_of.remove(task) {
                for item in &of {
                    state.results.remove(item);
                }
                items.extend(of);
            }
        }
        items
    }

    /// Tells the leader this owner has read `count` items of streaming task
    /// `task` (for its producer's backpressure): what a consumer that
    /// reads items by id rather than through an [`ItemStream`] (a guest)
    /// says as it goes.
    pub fn consumed(&self, task: &str, count: u64) {
        self.tell(pb::OwnerMessage {
            consumed: vec![pb::StreamProgress {
                task: task.to_string(),
                count,
            }],
            ..Default::default()
        });
    }

    /// Sends `message` on the owner session (dropped when it is down: what
    /// it says is advisory or said again on the next session).
    pub(crate) fn tell(&self, message: pb::OwnerMessage) {
        let state = self.shared.lock();
        if let Some(session) = state.session.as_ref() {
            let _ = session.send(message);
        }
    }

    /// A consumer left stream `task` after reading `read` items: the
    /// items here that it did not read are released, those still to come
    /// will be as they arrive, and the task is canceled.
    fn drop_stream(&self, task: &str, read: u64) {
        let mut unread = Vec::new();
        {
            let mut state = self.shared.lock();
            let mut n = read;
            loop {
                let id = weft_proto::stream_item_id(task, n);
                if state.results.remove(&id).is_none() {
                    break;
                }
                unread.push(id);
                n += 1;
            }
            state.dropped_streams.insert(task.to_string());
        }
        self.release(&unread);
        self.tell(pb::OwnerMessage {
            cancel: vec![task.to_string()],
            ..Default::default()
        });
    }
}

/// The streaming task an item id belongs to, if `id` names an item.
pub(crate) fn stream_of(id: &str) -> Option<&str> {
    weft_proto::stream_item_of(id).map(|(task, _)| task)
}
