//! Reading a same-machine host's objects in place: one pin stream per
//! host, kept open. Each read pins the object over it and maps nothing new
//! (the host's arena is mapped once per process); when the last view of it
//! is dropped the pin is let go of. When this process dies its streams
//! end, and the host lets go of every pin they held.
//!
//! A process reading an object it already reads shares the pin it has,
//! and the pins of the last few small objects read are kept a moment after
//! their views go (as Ray's plasma client kept its last released objects),
//! so reading the same object again and again costs no round trip. Kept
//! pins are bounded in count, bytes and time: a pin stops the host from
//! spilling or reusing the object's room.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tokio_stream::wrappers::UnboundedReceiverStream;
use weft_proto::v1 as pb;

use crate::ClientError;
use crate::objects::host_rpc;
use crate::shm::{Arena, ObjectView};

/// How many pins of objects no longer read are kept, at most.
const KEEP_PINS: usize = 64;
/// Objects larger than this are let go of at once (reading one costs far
/// more than the round trip a kept pin saves).
const KEEP_LARGEST: u64 = 8 << 20;
/// How long a kept pin outlives its last view, at most.
const KEEP_FOR: Duration = Duration::from_millis(250);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The pin stream to one host, and its arena as this process maps it.
struct PinLink {
    to: mpsc::UnboundedSender<pb::PinRequest>,
    waiting: Mutex<HashMap<u64, oneshot::Sender<pb::PinReply>>>,
    next: AtomicU64,
    alive: AtomicBool,
    /// Kept mapped while the host lives, so the pages a put or a read
    /// touched stay mapped for the next one; let go when the stream ends
    /// (the host stopped, and its arena with it).
    arena: Mutex<Option<Arc<Arena>>>,
    /// The objects this process holds pinned, by id.
    pinned: Mutex<HashMap<String, Weak<Pin>>>,
    /// Pins kept after their last view went, oldest first, with when.
    kept: Mutex<VecDeque<(Instant, Arc<Pin>)>>,
}

/// One pin of an object, let go of when the last view (or keeper) drops it.
struct Pin {
    link: Arc<PinLink>,
    pin: u64,
    id: String,
    arena: Arc<Arena>,
    offset: u64,
    size: u64,
}

impl Drop for Pin {
    fn drop(&mut self) {
        {
            let mut pinned = lock(&self.link.pinned);
            if pinned
                .get(&self.id)
                .is_some_and(|w| std::ptr::eq(w.as_ptr(), self))
            {
                pinned.remove(&self.id);
            }
        }
        let _ = self.link.to.send(pb::PinRequest {
            unpin: vec![self.pin],
            ..Default::default()
        });
    }
}

/// What an [`ObjectView`] holds: its pin, offered for keeping when the
/// view goes.
struct Held(Option<Arc<Pin>>);

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(pin) = self.0.take() {
            pin.link.clone().keep(pin);
        }
    }
}

impl PinLink {
    /// The arena at `path`, mapped once while this link lives.
    fn arena(&self, path: &str, len: u64) -> Result<Arc<Arena>, ClientError> {
        let mut kept = lock(&self.arena);
        if let Some(arena) = kept.as_ref()
            && arena.path() == Path::new(path)
            && arena.len() as u64 >= len
        {
            return Ok(arena.clone());
        }
        let arena = Arena::open(Path::new(path), len).map_err(|e| {
            ClientError::HolderUnavailable(format!("cannot map the object store {path}: {e}"))
        })?;
        *kept = Some(arena.clone());
        Ok(arena)
    }

    /// Keeps `pin` a moment after its view went, if it is small; drops the
    /// oldest kept ones past the bound.
    fn keep(&self, pin: Arc<Pin>) {
        if pin.size > KEEP_LARGEST || !self.alive.load(Ordering::Acquire) {
            return;
        }
        let dropped: Vec<_> = {
            let mut kept = lock(&self.kept);
            kept.push_back((Instant::now(), pin));
            let over = kept.len().saturating_sub(KEEP_PINS);
            kept.drain(..over).collect()
        };
        drop(dropped);
    }

    /// Lets go of kept pins older than [`KEEP_FOR`] (all of them with `all`).
    fn expire(&self, all: bool) {
        let dropped: Vec<_> = {
            let mut kept = lock(&self.kept);
            let old = kept
                .iter()
                .take_while(|(at, _)| all || at.elapsed() >= KEEP_FOR)
                .count();
            kept.drain(..old).collect()
        };
        drop(dropped);
    }
}

fn closed(address: &str, why: &str) -> ClientError {
    ClientError::HolderUnavailable(format!(
        "the host at {address} closed its pin stream: {why}"
    ))
}

/// The open pin stream to the host at `address`, opened if needed.
async fn link(address: &str) -> Result<Arc<PinLink>, ClientError> {
    static LINKS: Mutex<Option<HashMap<String, Arc<PinLink>>>> = Mutex::new(None);
    if let Some(link) = lock(&LINKS).get_or_insert_with(HashMap::new).get(address)
        && link.alive.load(Ordering::Acquire)
    {
        return Ok(link.clone());
    }
    let mut rpc = host_rpc(address).await?;
    let (to, requests) = mpsc::unbounded_channel();
    let mut replies = rpc
        .pins(UnboundedReceiverStream::new(requests))
        .await?
        .into_inner();
    let link = Arc::new(PinLink {
        to,
        waiting: Mutex::default(),
        next: AtomicU64::new(1),
        alive: AtomicBool::new(true),
        arena: Mutex::default(),
        pinned: Mutex::default(),
        kept: Mutex::default(),
    });
    let reading = link.clone();
    tokio::spawn(async move {
        while let Ok(Some(reply)) = replies.message().await {
            let waiter = lock(&reading.waiting).remove(&reply.pin);
            if let Some(waiter) = waiter {
                let _ = waiter.send(reply);
            }
        }
        // Whoever still waits hears that the stream is gone.
        reading.alive.store(false, Ordering::Release);
        lock(&reading.waiting).clear();
        reading.expire(true);
        lock(&reading.arena).take();
    });
    let sweeping = Arc::downgrade(&link);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(KEEP_FOR / 2);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            match sweeping.upgrade() {
                Some(link) if link.alive.load(Ordering::Acquire) => link.expire(false),
                _ => break,
            }
        }
    });
    lock(&LINKS)
        .get_or_insert_with(HashMap::new)
        .insert(address.to_string(), link.clone());
    Ok(link)
}

/// The arena of the host at `address` on this machine, mapped once and
/// kept mapped while the host lives.
pub(crate) async fn host_arena(
    address: &str,
    path: &str,
    len: u64,
) -> Result<Arc<Arena>, ClientError> {
    link(address).await?.arena(path, len)
}

/// Object `id`, held by the host at `address` on this machine, read in
/// place: pinned there until the last view of it is dropped.
pub async fn pin_object(address: &str, id: &str) -> Result<ObjectView, ClientError> {
    let link = link(address).await?;
    let shared = lock(&link.pinned).get(id).and_then(Weak::upgrade);
    let pin = match shared {
        Some(pin) => pin,
        None => pin_anew(&link, address, id).await?,
    };
    let (arena, offset, size) = (pin.arena.clone(), pin.offset, pin.size);
    ObjectView::new(arena, offset, size, Box::new(Held(Some(pin))))
        .map_err(|e| ClientError::Local(format!("object {id}: {e}")))
}

/// Pins object `id` over `link`: one round trip.
async fn pin_anew(link: &Arc<PinLink>, address: &str, id: &str) -> Result<Arc<Pin>, ClientError> {
    let pin = link.next.fetch_add(1, Ordering::Relaxed);
    let (tell, told) = oneshot::channel();
    lock(&link.waiting).insert(pin, tell);
    // Dropped unanswered (the caller gave up), this still unpins: the host
    // handles a stream's messages in order, so the unpin follows the pin.
    let mut unpin_unless_answered = UnpinUnlessAnswered(Some((link.clone(), pin)));
    link.to
        .send(pb::PinRequest {
            pin,
            id: id.to_string(),
            unpin: Vec::new(),
        })
        .map_err(|_| closed(address, "it is no longer open"))?;
    let reply = told
        .await
        .map_err(|_| closed(address, "it ended before answering"))?;
    unpin_unless_answered.disarm();
    if !reply.error.is_empty() {
        return Err(ClientError::Rpc(tonic::Status::new(
            tonic::Code::from(reply.code),
            reply.error,
        )));
    }
    if reply.machine != crate::objects::machine_id() {
        // Pinned, but out of reach: let go at once.
        let _ = link.to.send(pb::PinRequest {
            unpin: vec![pin],
            ..Default::default()
        });
        return Err(ClientError::Local(format!(
            "object {id} is held by the host at {address}, on another machine"
        )));
    }
    let arena = link.arena(&reply.arena, reply.arena_size)?;
    let pinned = Arc::new(Pin {
        link: link.clone(),
        pin,
        id: id.to_string(),
        arena,
        offset: reply.offset,
        size: reply.size,
    });
    lock(&link.pinned).insert(id.to_string(), Arc::downgrade(&pinned));
    Ok(pinned)
}

/// Unpins a pin whose answer never came (its waiter was dropped).
struct UnpinUnlessAnswered(Option<(Arc<PinLink>, u64)>);

impl UnpinUnlessAnswered {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for UnpinUnlessAnswered {
    fn drop(&mut self) {
        if let Some((link, pin)) = self.0.take() {
            let _ = link.to.send(pb::PinRequest {
                unpin: vec![pin],
                ..Default::default()
            });
        }
    }
}
