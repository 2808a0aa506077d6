//! weft's wire contract: the client API generated from `proto/weft.proto`,
//! and what every side agrees on besides the messages (metadata keys,
//! transfer sizes, failure kinds: `contract.rs`).
//!
//! No logic lives here, so clients (the CLI, SDKs) depend on the wire types
//! without depending on the controller or the host.

/// `weft.v1`: the client API service and its messages.
#[allow(missing_docs, unused_qualifications, clippy::all)]
pub mod v1 {
    tonic::include_proto!("weft.v1");
}

/// `weft.raft.v1`: the Raft RPCs between controller replicas.
#[allow(missing_docs, unused_qualifications, clippy::all)]
pub mod raft {
    tonic::include_proto!("weft.raft.v1");
}

pub use v1::*;

pub mod auth;
mod contract;
mod states;
pub mod tls;
pub use contract::{FailureKind, limits, logs, metadata};
pub use states::UnknownState;

/// `n` bytes for a person: `512 B`, `1.5 KiB`, `10 MiB`. Every crate's
/// messages name sizes the same way.
pub fn format_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// The GPUs a task or actor holds on its host, by the host's index:
/// `GPU 0` or `GPU 0, 1`; empty for none.
pub fn format_gpus(devices: &[u32]) -> String {
    if devices.is_empty() {
        return String::new();
    }
    let list: Vec<String> = devices.iter().map(u32::to_string).collect();
    format!("GPU {}", list.join(", "))
}

#[cfg(test)]
mod tests {
    use super::format_bytes;

    #[test]
    fn sizes_read_well() {
        assert_eq!(format_bytes(512 << 20), "512 MiB");
        assert_eq!(format_bytes(1536), "1.5 KiB");
        assert_eq!(format_bytes(7), "7 B");
    }
}
