//! How Raft records are encoded: log entries (and so [`Command`]s), their
//! results, and the peer RPCs that carry them.
//!
//! A log outlives the code that wrote it, so its records must be able to
//! gain fields. The current format, version 2, is a header followed by CBOR
//! with field and variant names: a field added later carries
//! `#[serde(default)]` and older records decode without it, and a replica
//! skips fields it does not know. Version 1 was bincode, which can do
//! neither; logs written before version 2 hold it, so it is still read
//! (never written). `tests/golden/` pins both.
//!
//! The header cannot be mistaken for a version 1 record: those begin with a
//! u64 term or sequence number, a u32 variant index or an option tag, and
//! the header read as any of them is out of range (its eighth byte makes a
//! u64 of at least 2^63, its first four bytes a variant index in the
//! billions, its first byte neither 0 nor 1).
//!
//! [`Command`]: crate::Command

use serde::Serialize;
use serde::de::DeserializeOwned;

/// What every version 2 record starts with: seven marker bytes, `0xff`,
/// then the version.
const HEADER: [u8; 9] = *b"weftlog\xff\x02";

/// A record that could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A version 2 record that is not valid CBOR for the type.
    #[error("undecodable record: {0}")]
    Cbor(String),
    /// A record in the old format that is not valid bincode for the type.
    #[error("undecodable version 1 record: {0}")]
    Bincode(#[from] bincode::Error),
    /// A record from a newer weft than this one.
    #[error("record format version {0} is newer than this weft reads (2)")]
    Newer(u8),
}

/// Encodes a record in the current format.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    let mut out = HEADER.to_vec();
    ciborium::into_writer(value, &mut out).expect("CBOR encodes plain data into a Vec");
    out
}

/// Decodes a record of either format.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CodecError> {
    match bytes.strip_prefix(&HEADER[..8]) {
        Some([2, body @ ..]) => {
            ciborium::from_reader(body).map_err(|e| CodecError::Cbor(e.to_string()))
        }
        Some([version, ..]) => Err(CodecError::Newer(*version)),
        _ => Ok(bincode::deserialize(bytes)?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Applied, Command};

    #[test]
    fn both_formats_decode() {
        let command = Command::KvPut {
            namespace: "default".into(),
            key: "k".into(),
            value: vec![200; 300],
        };
        let current = encode(&command);
        assert!(current.starts_with(&HEADER));
        // Bytes travel as one byte string, not a list of numbers.
        assert!(current.len() < 400, "{} bytes", current.len());
        assert_eq!(decode::<Command>(&current).unwrap(), command);
        let old = bincode::serialize(&command).unwrap();
        assert_eq!(decode::<Command>(&old).unwrap(), command);
        let applied = (9u64, Applied::Refused("no".into()));
        assert_eq!(
            decode::<(u64, Applied)>(&encode(&applied)).unwrap(),
            applied
        );
    }

    #[test]
    fn a_newer_version_is_named() {
        let mut bytes = encode(&Applied::Nothing);
        bytes[8] = 3;
        let err = decode::<Applied>(&bytes).unwrap_err();
        assert_eq!(
            err.to_string(),
            "record format version 3 is newer than this weft reads (2)"
        );
    }
}
