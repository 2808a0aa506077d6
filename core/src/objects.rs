//! Objects on hosts' stores: pulling one (in chunks over a `WeftHost`
//! stream), putting one (straight into the host's arena, mapped once, when
//! the host is on this machine; in chunks otherwise), and pinning one for
//! reading in place.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

use weft_proto::auth::{AuthedChannel, Bearer};
use weft_proto::v1 as pb;
use weft_proto::v1::weft_host_client::WeftHostClient;

use crate::ClientError;
use crate::shm::{Arena, ObjectView};

pub use crate::pins::pin_object;

pub use weft_proto::limits::{CHUNK, INLINE_MAX, LANES};

/// The record of a new object `id` holding `data` (stored as an encoded
/// `list<u8>` whose header is `header`): finished, with the encoding
/// inline when it is small (else the caller stores it and says where in
/// `held_by` and `held_at`).
pub fn put_record(id: &str, header: &[u8], data: &[u8]) -> pb::TaskResult {
    let size = (header.len() + data.len()) as u64;
    pb::TaskResult {
        id: id.to_string(),
        ok: true,
        has_value: true,
        size,
        value: if size as usize <= INLINE_MAX {
            [header, data].concat()
        } else {
            Vec::new()
        },
        ..Default::default()
    }
}

/// Where a finished object's encoded value is.
pub enum Located {
    /// Here, inline in its record.
    Inline(Vec<u8>),
    /// In the store of the host its record names.
    Held(Box<pb::TaskResult>),
}

/// Where the bytes of a finished object are, or its failure as an error.
pub fn locate(result: pb::TaskResult) -> Result<Located, ClientError> {
    if !result.ok {
        return Err(ClientError::failed(result));
    }
    if !result.held_by.is_empty() {
        return Ok(Located::Held(Box::new(result)));
    }
    Ok(Located::Inline(result.value))
}

/// An object: its encoded value, mapped from a store on this machine (no
/// copy) or copied here (inline objects, and ones pulled from another
/// machine). It dereferences to the object's bytes: the raw bytes of a
/// `list<u8>` (a put object, or a task's bytes result), else the whole
/// encoding (docs/VALUES.md).
pub struct ObjectBytes {
    data: ObjectData,
    payload: std::ops::Range<usize>,
}

enum ObjectData {
    Mapped(ObjectView),
    Owned(Vec<u8>),
}

impl ObjectBytes {
    fn new(data: ObjectData) -> Self {
        let encoded: &[u8] = match &data {
            ObjectData::Mapped(m) => m,
            ObjectData::Owned(v) => v,
        };
        let payload = weft_values::bytes_payload(encoded)
            .filter(|r| r.end == encoded.len())
            .unwrap_or(0..encoded.len());
        ObjectBytes { data, payload }
    }

    /// Read in place from a store's shared memory.
    pub fn mapped(map: ObjectView) -> Self {
        Self::new(ObjectData::Mapped(map))
    }

    /// Held in this process.
    pub fn owned(encoded: Vec<u8>) -> Self {
        Self::new(ObjectData::Owned(encoded))
    }

    /// Whether the bytes come straight from a store's mapping.
    pub fn is_mapped(&self) -> bool {
        matches!(self.data, ObjectData::Mapped(_))
    }

    /// The object's whole encoding.
    pub fn encoded(&self) -> &[u8] {
        match &self.data {
            ObjectData::Mapped(m) => m,
            ObjectData::Owned(v) => v,
        }
    }

    /// The arena file it lies in and where in it (a multiple of a page),
    /// when it is read in place: another reader in this process (a Python
    /// `mmap`, say) can map the same pages while this pins them.
    pub fn mapped_at(&self) -> Option<(&Path, u64)> {
        match &self.data {
            ObjectData::Mapped(m) => Some((m.path(), m.offset())),
            ObjectData::Owned(_) => None,
        }
    }

    /// Where in [`encoded`](Self::encoded) the bytes it dereferences to lie.
    pub fn payload_range(&self) -> std::ops::Range<usize> {
        self.payload.clone()
    }

    /// Whether the object is a `list<u8>` (its bytes are the payload).
    pub fn is_bytes(&self) -> bool {
        self.payload.start > 0
    }

    /// The object decoded as a value.
    pub fn value(&self) -> Result<weft_values::Value, weft_values::DecodeError> {
        weft_values::decode(self.encoded())
    }
}

impl std::ops::Deref for ObjectBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.encoded()[self.payload.clone()]
    }
}

/// This machine's identity, as hosts report theirs: objects can be mapped
/// only between processes that share a machine (and its /dev/shm).
pub fn machine_id() -> &'static str {
    static ID: LazyLock<String> = LazyLock::new(|| {
        let read = |p: &str| {
            std::fs::read_to_string(p)
                .map(|s| s.trim().to_string())
                .unwrap_or_default()
        };
        format!(
            "{}/{}/{}",
            read("/etc/hostname"),
            read("/etc/machine-id"),
            read("/proc/sys/kernel/random/boot_id")
        )
    });
    &ID
}

/// A connection to the `WeftHost` service at `address`, kept per address.
pub async fn host_rpc(address: &str) -> Result<WeftHostClient<AuthedChannel>, ClientError> {
    host_rpc_lane(address, 0).await
}

/// Connection number `lane` (of [`LANES`]) to the `WeftHost` at `address`.
async fn host_rpc_lane(
    address: &str,
    lane: usize,
) -> Result<WeftHostClient<AuthedChannel>, ClientError> {
    let key = format!("{address}#{lane}");
    static CHANNELS: Mutex<Option<HashMap<String, WeftHostClient<AuthedChannel>>>> =
        Mutex::new(None);
    let cached = CHANNELS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .get(&key)
        .cloned();
    if let Some(rpc) = cached {
        return Ok(rpc);
    }
    let unreachable = |reason: String| ClientError::Unreachable {
        address: address.to_string(),
        reason,
    };
    let channel = weft_proto::tls::endpoint(address)
        .map_err(|e| unreachable(e.to_string()))?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        // Big windows: a transfer is one stream of large chunks.
        .initial_stream_window_size(16 << 20)
        .initial_connection_window_size(32 << 20)
        .connect()
        .await
        .map_err(|e| unreachable(weft_proto::tls::describe(&e)))?;
    let rpc = WeftHostClient::with_interceptor(channel, Bearer::for_address(address))
        .max_decoding_message_size(CHUNK + (1 << 20))
        .max_encoding_message_size(CHUNK + (1 << 20));
    CHANNELS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_or_insert_with(HashMap::new)
        .insert(key, rpc.clone());
    Ok(rpc)
}

/// Why an object held at `address` could not be read.
fn holder_failed(id: &str, address: &str, status: tonic::Status) -> ClientError {
    match status.code() {
        tonic::Code::NotFound | tonic::Code::ResourceExhausted => ClientError::Rpc(status),
        _ => ClientError::HolderUnavailable(format!(
            "object {id} is held by the host at {address}, which cannot be reached ({})",
            status.message()
        )),
    }
}

/// Streams object `id` (from `offset`, `length` bytes or to the end when
/// 0) from the host at `address` over connection `lane`; `sink` gets the
/// object's size first, then each chunk at its offset.
pub async fn pull(
    address: &str,
    id: &str,
    (offset, length): (u64, u64),
    lane: usize,
    mut sink: impl FnMut(PullEvent<'_>) -> Result<(), ClientError>,
) -> Result<(), ClientError> {
    let mut rpc = host_rpc_lane(address, lane % LANES).await?;
    let request = pb::PullRequest {
        id: id.to_string(),
        offset,
        length,
    };
    let mut stream = rpc
        .pull(request)
        .await
        .map_err(|s| holder_failed(id, address, s))?
        .into_inner();
    let mut first = true;
    while let Some(chunk) = stream
        .message()
        .await
        .map_err(|s| holder_failed(id, address, s))?
    {
        if first {
            first = false;
            sink(PullEvent::Start { size: chunk.size })?;
        }
        sink(PullEvent::Chunk {
            offset: chunk.offset,
            data: &chunk.data,
        })?;
    }
    Ok(())
}

/// One step of a [`pull`].
pub enum PullEvent<'a> {
    /// The whole object's size.
    Start {
        /// Bytes in the object.
        size: u64,
    },
    /// Bytes at `offset` of the object.
    Chunk {
        /// Where they go.
        offset: u64,
        /// The bytes.
        data: &'a [u8],
    },
}

/// Object `id` copied here from the host at `address`.
pub async fn pull_to_vec(address: &str, id: &str) -> Result<Vec<u8>, ClientError> {
    let mut out = Vec::new();
    pull(address, id, (0, 0), 0, |event| {
        match event {
            PullEvent::Start { size } => out.reserve_exact(size as usize),
            PullEvent::Chunk { data, .. } => out.extend_from_slice(data),
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// Where a put landed: the host and its address.
pub struct Placed {
    /// The holding host's id.
    pub holder: String,
    /// Its `WeftHost` address.
    pub address: String,
}

/// Puts the concatenation of `parts` (an encoded value, its header and
/// its bytes apart so they need no joining copy) as object `id` into the
/// store of the host at `address`: written straight into shared memory
/// when `same_machine`, streamed in chunks otherwise.
pub async fn put_on_host(
    address: &str,
    id: &str,
    parts: &[&[u8]],
    same_machine: bool,
) -> Result<Placed, ClientError> {
    let size: u64 = parts.iter().map(|p| p.len() as u64).sum();
    let mut rpc = host_rpc(address).await?;
    let refused = |s: tonic::Status| match s.code() {
        tonic::Code::ResourceExhausted | tonic::Code::InvalidArgument => ClientError::Rpc(s),
        _ => holder_failed(id, address, s),
    };
    let reply = if same_machine {
        let made = rpc
            .create_object(pb::CreateObjectRequest {
                id: id.to_string(),
                size,
            })
            .await
            .map_err(refused)?
            .into_inner();
        // One copy, into the arena this process maps once: its pages are
        // backed already, and reused ones need no zeroing or mapping.
        let arena = crate::pins::host_arena(address, &made.arena, made.arena_size).await?;
        write_extent(&arena, made.offset, size, parts)
            .map_err(|e| ClientError::Local(format!("object {id}: {e}")))?;
        rpc.seal_object(pb::SealObjectRequest { id: id.to_string() })
            .await
            .map_err(refused)?
            .into_inner()
    } else {
        let mut chunks: Vec<pb::ObjectChunk> = Vec::new();
        let mut offset = 0u64;
        for part in parts {
            for c in part.chunks(CHUNK) {
                chunks.push(pb::ObjectChunk {
                    offset,
                    data: bytes::Bytes::copy_from_slice(c),
                    ..Default::default()
                });
                offset += c.len() as u64;
            }
        }
        if chunks.is_empty() {
            chunks.push(pb::ObjectChunk::default());
        }
        chunks[0].id = id.to_string();
        chunks[0].size = size;
        rpc.put_object(tokio_stream::iter(chunks))
            .await
            .map_err(refused)?
            .into_inner()
    };
    Ok(Placed {
        holder: reply.holder,
        address: reply.address,
    })
}

/// Copies `parts` into the `size` bytes at `offset` of `arena`, an
/// extent the host reserved for this client's put and no one reads until
/// it is sealed.
fn write_extent(arena: &Arena, offset: u64, size: u64, parts: &[&[u8]]) -> std::io::Result<()> {
    arena.contains(offset, size)?;
    let mut at = offset as usize;
    for part in parts {
        // SAFETY: the extent is this put's alone until it is sealed, and
        // lies inside the arena (checked above).
        #[allow(unsafe_code, reason = "writing a reserved extent of the arena")]
        let target = unsafe { arena.slice_mut(at, part.len()) };
        target.copy_from_slice(part);
        at += part.len();
    }
    Ok(())
}

/// The store statistics of the host at `address` (for `weft memory`).
pub async fn store_stats(
    address: &str,
    largest: u32,
) -> Result<pb::StoreStatsResponse, ClientError> {
    let mut rpc = host_rpc(address).await?;
    Ok(rpc
        .store_stats(pb::StoreStatsRequest { largest })
        .await?
        .into_inner())
}
