//! Bulk transfer of object bytes between machines: a plain TCP stream per
//! range, beside the gRPC service.
//!
//! A gRPC pull copies every chunk into a protobuf message, an HTTP/2 frame
//! and tonic's buffers on each side, and tops out near 1.2 GB/s on loopback
//! here. On a bulk stream the holder writes the object straight from its
//! arena to the socket and the puller reads straight into its own arena's
//! mapping: one copy into the kernel and one out, as any TCP stream costs. A pull learns the object's size from
//! its first gRPC chunk, then moves the rest over `BULK_LANES` bulk
//! streams at once, each on its own thread.
//!
//! The protocol, one request per connection (big-endian integers): the
//! puller sends `u32` id length, the id, `u64` offset, `u64` length; the
//! holder answers `0`, `u64` byte count, then exactly that many bytes, or
//! `1`, `u32` message length, the message (why it cannot).
//!
//! A host's bulk port is ephemeral; pullers ask for it once per holder
//! (`WeftHost.BulkPort`) and keep it for as long as the process lives.
//!
//! In a cluster with TLS the stream is mutual TLS like every other
//! connection (rustls over the blocking socket): the bytes cost one
//! encryption, but the key and the object never cross the network in the
//! clear.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, LazyLock, Mutex, Weak};

use weft_proto::v1 as pb;

use super::Agent;
use crate::store::Writer;

/// How much of the arena one socket read fills at a time (its pages are
/// mapped in before and given back after).
const BUFFER: usize = 4 << 20;

/// Why a bulk range could not be moved.
#[derive(Debug, thiserror::Error)]
pub enum BulkError {
    /// The socket failed.
    #[error("bulk stream to {address}: {source}")]
    Io {
        /// The holder's bulk address.
        address: String,
        /// What failed.
        source: std::io::Error,
    },
    /// The holder refused (it no longer has the object).
    #[error("the holder at {address} refused: {message}")]
    Refused {
        /// The holder's bulk address.
        address: String,
        /// Its reason.
        message: String,
    },
    /// This store could not take the bytes.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// This process's TLS settings cannot reach the holder.
    #[error("bulk stream to {address}: {source}")]
    Tls {
        /// The holder's bulk address.
        address: String,
        /// Why.
        source: weft_proto::tls::TlsError,
    },
}

/// A bulk stream, in TLS or not.
trait Stream: Read + Write {}
impl<T: Read + Write> Stream for T {}

/// Listens on an ephemeral port of `ip` and serves `agent`'s objects
/// there, a thread per stream, until the agent is gone. Returns the port.
pub(crate) fn serve(agent: Weak<Agent>, ip: &str) -> std::io::Result<u16> {
    let listener = TcpListener::bind((ip, 0))?;
    let port = listener.local_addr()?.port();
    let tls = weft_proto::tls::process_tls().and_then(|tls| tls.rustls_server());
    std::thread::Builder::new()
        .name("weft-bulk".into())
        .spawn(move || {
            for stream in listener.incoming() {
                let Some(agent) = agent.upgrade() else {
                    return;
                };
                let Ok(stream) = stream else { continue };
                let tls = tls.clone();
                let _ = std::thread::Builder::new()
                    .name("weft-bulk-send".into())
                    .spawn(move || {
                        let _ = stream.set_nodelay(true);
                        let sent = match tls {
                            Some(config) => rustls::ServerConnection::new(config)
                                .map_err(std::io::Error::other)
                                .and_then(|tls| {
                                    send(&agent, &mut rustls::StreamOwned::new(tls, stream))
                                }),
                            None => send(&agent, &mut { stream }),
                        };
                        if let Err(e) = sent {
                            tracing::debug!(error = %e, "a bulk stream ended early");
                        }
                    });
            }
        })?;
    Ok(port)
}

/// Reads a length-prefixed field of at most `max` bytes; `None` (after
/// refusing, naming `what`) when it is longer.
fn field(stream: &mut impl Stream, max: usize, what: &str) -> std::io::Result<Option<Vec<u8>>> {
    let mut word = [0u8; 4];
    stream.read_exact(&mut word)?;
    let len = u32::from_be_bytes(word) as usize;
    if len > max {
        refuse(stream, &format!("{what} of more than {max} bytes"))?;
        return Ok(None);
    }
    let mut bytes = vec![0u8; len];
    stream.read_exact(&mut bytes)?;
    Ok(Some(bytes))
}

/// Answers one request on `stream`.
fn send(agent: &Agent, stream: &mut impl Stream) -> std::io::Result<()> {
    let Some(key) = field(stream, 256, "a key")? else {
        return Ok(());
    };
    if !weft_proto::auth::same_secret(&key, agent.bulk_key.as_bytes()) {
        return refuse(stream, "wrong bulk key: this host's BulkPort RPC gives it");
    }
    let Some(id) = field(stream, 1024, "an object id")? else {
        return Ok(());
    };
    let id = String::from_utf8_lossy(&id).into_owned();
    let mut range = [0u8; 16];
    stream.read_exact(&mut range)?;
    let offset = u64::from_be_bytes(range[..8].try_into().unwrap_or_default());
    let length = u64::from_be_bytes(range[8..].try_into().unwrap_or_default());
    let object = match agent.store.get(&id) {
        Ok(object) => object.shared(),
        Err(e) => return refuse(stream, &e.to_string()),
    };
    let start = (offset as usize).min(object.len());
    let end = start.saturating_add(length as usize).min(object.len());
    let mut head = [0u8; 9];
    head[1..].copy_from_slice(&((end - start) as u64).to_be_bytes());
    stream.write_all(&head)?;
    stream.write_all(&object[start..end])?;
    stream.flush()?;
    agent
        .store
        .served_bytes
        .fetch_add((end - start) as u64, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

fn refuse(stream: &mut impl Stream, message: &str) -> std::io::Result<()> {
    let mut reply = vec![1u8];
    reply.extend_from_slice(&(message.len() as u32).to_be_bytes());
    reply.extend_from_slice(message.as_bytes());
    stream.write_all(&reply)?;
    stream.flush()
}

/// Reads `(offset, length)` of object `id` from the bulk port at
/// `address` into `writer`, at the same offsets. Blocking: run it on a
/// thread of its own.
pub(crate) fn receive(
    peer: &Peer,
    id: &str,
    (offset, length): (u64, u64),
    writer: &Writer,
) -> Result<(), BulkError> {
    let address = peer.address.as_str();
    let io = |source| BulkError::Io {
        address: address.to_string(),
        source,
    };
    let tcp = TcpStream::connect(address).map_err(io)?;
    tcp.set_nodelay(true).map_err(io)?;
    let tls = |source| BulkError::Tls {
        address: address.to_string(),
        source,
    };
    let mut stream: Box<dyn Stream> = match weft_proto::tls::tls_for(address).map_err(tls)? {
        Some(config) => {
            let name = weft_proto::tls::server_name(address).map_err(tls)?;
            let connection = rustls::ClientConnection::new(config.rustls_client(), name)
                .map_err(|e| tls(e.into()))?;
            Box::new(rustls::StreamOwned::new(connection, tcp))
        }
        None => Box::new(tcp),
    };
    let mut request = Vec::with_capacity(8 + peer.key.len() + id.len() + 16);
    request.extend_from_slice(&(peer.key.len() as u32).to_be_bytes());
    request.extend_from_slice(peer.key.as_bytes());
    request.extend_from_slice(&(id.len() as u32).to_be_bytes());
    request.extend_from_slice(id.as_bytes());
    request.extend_from_slice(&offset.to_be_bytes());
    request.extend_from_slice(&length.to_be_bytes());
    stream.write_all(&request).map_err(io)?;
    stream.flush().map_err(io)?;
    let mut status = [0u8; 1];
    stream.read_exact(&mut status).map_err(io)?;
    let mut word = [0u8; 8];
    if status[0] != 0 {
        stream.read_exact(&mut word[..4]).map_err(io)?;
        let len = u32::from_be_bytes(word[..4].try_into().unwrap_or_default()) as usize;
        let mut message = vec![0u8; len.min(64 << 10)];
        stream.read_exact(&mut message).map_err(io)?;
        return Err(BulkError::Refused {
            address: address.to_string(),
            message: String::from_utf8_lossy(&message).into_owned(),
        });
    }
    stream.read_exact(&mut word).map_err(io)?;
    let count = u64::from_be_bytes(word);
    if count != length {
        return Err(BulkError::Refused {
            address: address.to_string(),
            message: format!("it has {count} bytes of the {length} asked for at {offset}"),
        });
    }
    let mut done = 0u64;
    while done < length {
        let want = (length - done).min(BUFFER as u64) as usize;
        writer
            .fill_at(offset + done, want, |into| stream.read_exact(into))
            .map_err(|e| match e {
                crate::store::StoreError::Io { source, .. } => io(source),
                other => BulkError::Store(other),
            })?;
        done += want as u64;
    }
    Ok(())
}

/// A holder's bulk port: where it is, and the key its requests start with.
#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) address: String,
    pub(crate) key: String,
}

/// Holders' bulk ports by their gRPC address, learned once each.
static PEERS: LazyLock<Mutex<HashMap<String, Peer>>> = LazyLock::new(Mutex::default);

/// The bulk port of the holder whose `WeftHost` is at `address`.
pub(crate) async fn peer_of(address: &str) -> Result<Peer, weft_core::ClientError> {
    if let Some(peer) = PEERS.lock().unwrap_or_else(|p| p.into_inner()).get(address) {
        return Ok(peer.clone());
    }
    let mut rpc = weft_core::objects::host_rpc(address).await?;
    let reply = rpc
        .bulk_port(pb::BulkPortRequest {})
        .await
        .map_err(weft_core::ClientError::Rpc)?
        .into_inner();
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    let peer = Peer {
        address: format!("{host}:{}", reply.port),
        key: reply.key,
    };
    PEERS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(address.to_string(), peer.clone());
    Ok(peer)
}

/// Moves `(start, length)` of object `id` from the holder's bulk port over
/// `lanes` streams at once, each on a thread of its own.
pub(crate) async fn receive_lanes(
    bulk: Peer,
    id: String,
    (start, length): (u64, u64),
    lanes: usize,
    writer: Arc<Writer>,
) -> Result<(), BulkError> {
    let per = length.div_ceil(lanes.max(1) as u64).next_multiple_of(4096);
    let threads: Vec<_> = (0..lanes as u64)
        .map(|lane| (start + lane * per, per))
        .filter(|(at, _)| *at < start + length)
        .map(|(at, per)| {
            let range = (at, per.min(start + length - at));
            let (bulk, id, writer) = (bulk.clone(), id.clone(), writer.clone());
            tokio::task::spawn_blocking(move || receive(&bulk, &id, range, &writer))
        })
        .collect();
    for thread in threads {
        thread.await.map_err(|e| BulkError::Io {
            address: bulk.address.clone(),
            source: std::io::Error::other(e.to_string()),
        })??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_reads_back_as_its_message() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut request = [0u8; 4 + 3 + 4 + 3 + 16];
            stream.read_exact(&mut request).unwrap();
            assert_eq!(&request[4..7], b"key");
            assert_eq!(&request[11..14], b"obj");
            refuse(&mut stream, "no object obj here").unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::ObjectStore::open(crate::store::StoreConfig {
            dir: dir.path().join("store"),
            spill_dir: dir.path().join("spill"),
            capacity: 1 << 20,
            network_pulls: false,
        })
        .unwrap();
        let writer = store.create("obj", 10, false).unwrap();
        let peer = Peer {
            address,
            key: "key".into(),
        };
        let err = receive(&peer, "obj", (0, 10), &writer).unwrap_err();
        assert!(err.to_string().contains("no object obj here"), "{err}");
        server.join().unwrap();
    }
}
