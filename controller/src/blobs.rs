//! Content-addressed component blobs on disk.
//!
//! A blob is written to a temporary file and renamed into place, so a crash
//! never leaves a partial blob under a digest's name; reads check the digest
//! so a corrupted file is reported instead of run.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::ControllerError;

/// The `sha256:<hex>` digest of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Component blobs under one directory, named by digest.
pub struct BlobStore {
    dir: PathBuf,
}

impl BlobStore {
    /// Opens (creating if needed) the store at `dir`.
    pub fn open(dir: &Path) -> Result<Self, ControllerError> {
        std::fs::create_dir_all(dir).map_err(|e| ControllerError::io(dir, e))?;
        Ok(BlobStore {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        self.dir.join(format!("{hex}.wasm"))
    }

    /// Stores `bytes` under `digest` (a no-op when present).
    pub fn put(&self, digest: &str, bytes: &[u8]) -> Result<(), ControllerError> {
        let path = self.path(digest);
        if path.exists() {
            return Ok(());
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|()| std::fs::rename(&tmp, &path))
            .map_err(|e| ControllerError::io(&path, e))
    }

    /// Reads the blob for `digest`, checking its content.
    pub fn get(&self, digest: &str) -> Result<Vec<u8>, ControllerError> {
        let path = self.path(digest);
        let bytes = std::fs::read(&path).map_err(|e| ControllerError::io(&path, e))?;
        if digest_of(&bytes) != digest {
            return Err(ControllerError::Corrupt(format!(
                "blob {} does not match its digest",
                path.display()
            )));
        }
        Ok(bytes)
    }

    /// Removes the blob for `digest` if present.
    pub fn remove(&self, digest: &str) {
        let _ = std::fs::remove_file(self.path(digest));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blobs_round_trip_and_detect_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let digest = digest_of(b"component bytes");
        store.put(&digest, b"component bytes").unwrap();
        assert_eq!(store.get(&digest).unwrap(), b"component bytes");
        std::fs::write(store.path(&digest), b"tampered").unwrap();
        assert!(matches!(
            store.get(&digest),
            Err(ControllerError::Corrupt(_))
        ));
    }
}
