//! Pins: how a client on this machine reads objects in place. Over one
//! stream per client, each request pins an object and the reply says
//! where it lies in the arena; the pin keeps the object's extent from
//! being spilled, evicted or reused until the client unpins it, or until
//! the stream ends, which is also what happens when the client dies. A
//! crashed reader therefore never leaks memory, and a live one never sees
//! its bytes change under it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tonic::{Status, Streaming};
use weft_proto::v1 as pb;

use crate::store::{Object, ObjectStore};

/// The replies of one client's pin stream.
pub(crate) type PinStream =
    std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::PinReply, Status>> + Send>>;

/// The pins one client holds; dropping it (the stream ended) lets go of all.
struct Held {
    store: Arc<ObjectStore>,
    pins: HashMap<u64, Object>,
}

impl Held {
    fn pin(&mut self, pin: u64, object: Object) {
        if self.pins.insert(pin, object).is_none() {
            self.store.client_pins.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn unpin(&mut self, pin: u64) {
        if self.pins.remove(&pin).is_some() {
            self.store.client_pins.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let n = self.pins.len() as u64;
        self.store.client_pins.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Serves one client's pin stream.
pub(crate) fn serve(store: Arc<ObjectStore>, requests: Streaming<pb::PinRequest>) -> PinStream {
    let held = Held {
        store,
        pins: HashMap::new(),
    };
    Box::pin(futures::stream::unfold(
        (requests, held),
        |(mut requests, mut held)| async move {
            loop {
                let request = requests.message().await.ok().flatten()?;
                for pin in request.unpin {
                    held.unpin(pin);
                }
                if request.id.is_empty() {
                    continue;
                }
                let reply = match held.store.get(&request.id) {
                    Ok(object) => {
                        let reply = pb::PinReply {
                            pin: request.pin,
                            arena: object.bytes.arena().path().display().to_string(),
                            arena_size: object.bytes.arena().len() as u64,
                            offset: object.bytes.offset(),
                            size: object.bytes.len() as u64,
                            machine: weft_core::objects::machine_id().to_string(),
                            ..Default::default()
                        };
                        held.pin(request.pin, object);
                        reply
                    }
                    Err(e) => {
                        let status = super::objects::status(e);
                        pb::PinReply {
                            pin: request.pin,
                            error: status.message().to_string(),
                            code: status.code() as i32,
                            ..Default::default()
                        }
                    }
                };
                return Some((Ok(reply), (requests, held)));
            }
        },
    ))
}
