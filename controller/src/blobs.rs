//! Component bytes, content-addressed beside the Raft log: one file per
//! digest in `<data>/blobs/`, written to a temp file, fsynced and renamed,
//! so a blob is whole or absent. The log carries only a deploy's metadata;
//! the leader pushes the bytes to its peers before it proposes the deploy
//! and acknowledges it once a quorum holds them. A replica that lacks a
//! blob (it was down, or joined from a snapshot) fetches it from a peer.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use weft_proto::raft::raft_peer_client::RaftPeerClient;
use weft_proto::raft::{Blob, BlobRequest};

use sha2::{Digest, Sha256};

use crate::error::ControllerError;

/// The `sha256:<hex>` digest of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The blob files of one replica.
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// Opens (creating) the blob dir.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(BlobStore {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.join(hex)
    }

    /// Whether the bytes of `digest` are here.
    pub fn has(&self, digest: &str) -> bool {
        self.path(digest).exists()
    }

    /// The bytes of `digest`, if they are here.
    pub fn get(&self, digest: &str) -> Result<Option<Vec<u8>>, ControllerError> {
        match std::fs::read(self.path(digest)) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ControllerError::Corrupt(format!(
                "cannot read the bytes of {digest}: {e}"
            ))),
        }
    }

    /// Stores `bytes` as `digest`, durably, after checking they are.
    pub fn put(&self, digest: &str, bytes: &[u8]) -> Result<(), ControllerError> {
        if digest_of(bytes) != digest {
            return Err(ControllerError::InvalidRequest(format!(
                "bytes sent as {digest} have another digest"
            )));
        }
        if self.has(digest) {
            return Ok(());
        }
        static WRITES: AtomicU64 = AtomicU64::new(0);
        let n = WRITES.fetch_add(1, Ordering::Relaxed);
        let path = self.path(digest);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        let written = (|| {
            let mut file = std::fs::File::create(&tmp)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(&self.dir)?.sync_all()
        })();
        written.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            ControllerError::Corrupt(format!("cannot store the bytes of {digest}: {e}"))
        })
    }

    /// Forgets `digest` (its component was deleted).
    pub fn remove(&self, digest: &str) {
        let _ = std::fs::remove_file(self.path(digest));
    }
}

/// Why component bytes did not move between replicas.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TransferError {
    /// The peer could not be reached (the transport's reason).
    #[error("{0}")]
    Unreachable(String),
    /// The peer answered the RPC with an error.
    #[error("{}", .0.message())]
    Refused(#[from] tonic::Status),
    /// The bytes that came back are not the ones asked for.
    #[error("{address} sent bytes that are not {digest}")]
    WrongBytes {
        /// The peer.
        address: String,
        /// The digest asked for.
        digest: String,
    },
}

async fn peer(
    address: &str,
    timeout: Duration,
) -> Result<RaftPeerClient<weft_proto::auth::AuthedChannel>, TransferError> {
    let channel = weft_proto::tls::endpoint(address)
        .map_err(|e| TransferError::Unreachable(e.to_string()))?
        .connect_timeout(Duration::from_secs(1))
        .timeout(timeout)
        .connect()
        .await
        .map_err(|e| TransferError::Unreachable(weft_proto::tls::describe(&e)))?;
    Ok(
        RaftPeerClient::with_interceptor(channel, weft_proto::auth::Bearer::for_address(address))
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX),
    )
}

/// Sends `bytes` to the replica at `address`.
pub(crate) async fn push(
    address: &str,
    digest: &str,
    bytes: Vec<u8>,
    timeout: Duration,
) -> Result<(), TransferError> {
    let mut client = peer(address, timeout).await?;
    client
        .put_blob(Blob {
            digest: digest.to_string(),
            data: bytes,
            found: true,
        })
        .await?;
    Ok(())
}

/// The bytes of `digest` from the replica at `address`, if it has them
/// (checked against the digest).
pub(crate) async fn fetch(address: &str, digest: &str) -> Result<Option<Vec<u8>>, TransferError> {
    let mut client = peer(address, Duration::from_secs(60)).await?;
    let blob = client
        .fetch_blob(BlobRequest {
            digest: digest.to_string(),
        })
        .await?
        .into_inner();
    if !blob.found {
        return Ok(None);
    }
    if digest_of(&blob.data) != digest {
        return Err(TransferError::WrongBytes {
            address: address.to_string(),
            digest: digest.to_string(),
        });
    }
    Ok(Some(blob.data))
}
