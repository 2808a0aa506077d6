//! Fuzzing, bounded, against a real `weft up`: every RPC of the client API
//! and of the host service gets arbitrary bytes and protobuf-shaped
//! messages with random fields. Each must be answered (a status or a
//! reply), and the cluster must keep serving calls afterwards. (The HTTP
//! gateway's fuzzing is in `http.rs`.)
//!
//! Left out: the Raft peer service (its callers hold the admin token and,
//! with TLS, a certificate; a well-formed vote from a stranger would be a
//! real vote) and `AddMember`/`RemoveMember`, whose well-formed garbage is
//! a legitimate admin request to change the group.

use std::time::Duration;

use bytes::{Buf, BufMut};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use weft_tests::{Cluster, guests, runtime};

/// Passes a message's bytes through as they are.
#[derive(Debug, Clone, Copy, Default)]
struct Raw;

impl tonic::codec::Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl tonic::codec::Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Decoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn decode(
        &mut self,
        src: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Vec<u8>>, tonic::Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n).to_vec()))
    }
}

/// Every RPC of the `Weft` and `WeftHost` services, read from the proto
/// file so that one added later is fuzzed too.
fn rpc_paths() -> Vec<String> {
    let proto = include_str!("../../proto/proto/weft.proto");
    let mut service = "";
    let mut paths = Vec::new();
    for line in proto.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix("service ") {
            service = name.trim_end_matches('{').trim();
        }
        if let Some(rest) = line.strip_prefix("rpc ") {
            let method = rest.split('(').next().unwrap_or_default().trim();
            if !["AddMember", "RemoveMember"].contains(&method) {
                paths.push(format!("/weft.v1.{service}/{method}"));
            }
        }
    }
    paths
}

/// One protobuf field of any number and wire type.
fn field() -> impl Strategy<Value = Vec<u8>> {
    let number = 1u64..24;
    let payload = prop_oneof![
        any::<u64>().prop_map(|v| (0u64, varint(v))),
        prop::collection::vec(any::<u8>(), 0..48).prop_map(|b| (2u64, length_delimited(&b))),
        "\\PC{0,24}".prop_map(|s| (2u64, length_delimited(s.as_bytes()))),
        any::<u64>().prop_map(|v| (1u64, v.to_le_bytes().to_vec())),
        any::<u32>().prop_map(|v| (5u64, v.to_le_bytes().to_vec())),
    ];
    (number, payload).prop_map(|(n, (wire, payload))| {
        let mut out = varint((n << 3) | wire);
        out.extend(payload);
        out
    })
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
    out
}

fn length_delimited(bytes: &[u8]) -> Vec<u8> {
    let mut out = varint(bytes.len() as u64);
    out.extend_from_slice(bytes);
    out
}

/// A message: arbitrary bytes, or fields a decoder will read.
fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..128),
        prop::collection::vec(field(), 0..6).prop_map(|fields| fields.concat()),
    ]
}

/// Sends `message` to `path` as the only message of a stream (which a
/// unary method takes as its request) and reads what comes back for a
/// moment: the status code it ended with (Ok for a reply or a session
/// still open). Err when the server did not answer as a server does.
async fn send(
    channel: tonic::transport::Channel,
    path: &str,
    message: Vec<u8>,
) -> Result<tonic::Code, String> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| format!("not ready: {e}"))?;
    let path: tonic::codegen::http::uri::PathAndQuery = path.parse().map_err(|e| format!("{e}"))?;
    let request = tonic::Request::new(tokio_stream::iter(vec![message]));
    let answered = tokio::time::timeout(Duration::from_secs(3), async {
        let mut replies = grpc.streaming(request, path, Raw).await?.into_inner();
        while let Some(reply) = replies.message().await? {
            drop(reply);
        }
        Ok::<_, tonic::Status>(())
    })
    .await;
    match answered {
        // Sessions stay open: no answer in time is an answer.
        Err(_) | Ok(Ok(())) => Ok(tonic::Code::Ok),
        Ok(Err(status)) if broken(&status) => Err(format!("the server broke: {status:?}")),
        Ok(Err(status)) => Ok(status.code()),
    }
}

/// Whether a status means the connection, not the service, answered.
fn broken(status: &tonic::Status) -> bool {
    status.code() == tonic::Code::Unavailable
        || (status.code() == tonic::Code::Unknown && status.message().contains("transport"))
}

/// RPCs sent: seconds on loopback.
const CASES: u32 = 3000;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

#[test]
fn every_rpc_answers_garbage_and_the_cluster_keeps_serving() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cluster = Cluster::start_with(dir.path(), &["--insecure-no-auth"])?;
    cluster.weft_ok(&["deploy", guests::TESTKIT, "--name", "kit"])?;
    let paths = rpc_paths();
    assert!(paths.len() > 40, "{paths:?}");
    let rt = runtime();
    let channel = rt.block_on(async {
        tonic::transport::Endpoint::from_shared(format!("http://{}", cluster.address))?
            .connect()
            .await
    })?;
    let codes = std::cell::RefCell::new(std::collections::BTreeMap::new());
    let mut runner = runner(CASES);
    let sent = runner.run(&(0..paths.len(), message()), |(i, message)| {
        let code = rt
            .block_on(send(channel.clone(), &paths[i], message))
            .map_err(|e| TestCaseError::fail(format!("{}: {e}", paths[i])))?;
        *codes.borrow_mut().entry(format!("{code:?}")).or_insert(0) += 1;
        Ok(())
    });
    if let Err(e) = sent {
        panic!("{e}\n{}", cluster.log());
    }
    // What the services answered: most garbage is refused by name.
    let codes = codes.into_inner();
    println!("answers by status: {codes:?}");
    assert_eq!(codes.values().sum::<usize>(), CASES as usize, "{codes:?}");
    assert!(
        codes.contains_key("InvalidArgument") || codes.contains_key("Internal"),
        "{codes:?}"
    );
    assert_eq!(cluster.weft_ok(&["call", "kit", "add(2, 3)"])?, "5");
    assert!(cluster.weft_ok(&["status"])?.contains("leader"));
    cluster.stop()
}
