//! Generates the gRPC code from `proto/weft.proto` with a vendored `protoc`,
//! so a fresh machine needs nothing installed.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    unsafe_set_protoc(&protoc);
    println!("cargo:rerun-if-changed=proto");
    tonic_prost_build::configure()
        // Object chunks are sliced from a store's mapping without a copy.
        .bytes(".weft.v1.ObjectChunk.data")
        .compile_protos(&["proto/weft.proto", "proto/raft.proto"], &["proto"])?;
    Ok(())
}

#[allow(unsafe_code, reason = "set_var is unsafe in edition 2024")]
fn unsafe_set_protoc(path: &std::path::Path) {
    // `set_var` is unsafe in edition 2024 because other threads may read the
    // environment; a build script has no other threads at this point.
    unsafe { std::env::set_var("PROTOC", path) };
}
