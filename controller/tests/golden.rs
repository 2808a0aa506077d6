//! The Raft log's command encodings, pinned: these bytes are what
//! replicas' logs hold, so a change that alters them breaks old logs.
//!
//! - `golden/commands-v1.hex`: bincode, what logs written before the
//!   versioned encoding hold. Still read, never written; frozen.
//! - `golden/commands-v2.hex`: the current record encoding. It only ever
//!   gains lines, one per appended variant; its existing lines never
//!   change, and must keep decoding as fields are added.

use weft_controller::codec;
use weft_controller::{Command, ComponentRecord, RouteRecord};

fn record() -> ComponentRecord {
    ComponentRecord {
        digest: "sha256:00ff".into(),
        size_bytes: 3,
        names: vec![],
        functions: vec![("greet".into(), "func(name: string) -> string".into())],
        deployed_at_ms: 1_700_000_000_000,
    }
}

fn commands() -> Vec<Command> {
    vec![
        Command::DeployComponent {
            component: record(),
            name: Some("hello@1.0.0".into()),
            wasm: vec![0, b'a', b's'],
        },
        Command::DeleteComponent {
            reference: "hello".into(),
        },
        Command::KvPut {
            namespace: "default".into(),
            key: "k".into(),
            value: b"v".to_vec(),
        },
        Command::KvDelete {
            namespace: "default".into(),
            key: "k".into(),
        },
        Command::AddRoute {
            route: RouteRecord {
                path: "/api/...".into(),
                component: "http-hello".into(),
                max_concurrency: 64,
                timeout_ms: 0,
                auth: false,
            },
        },
        Command::RemoveRoute {
            path: "/api/...".into(),
        },
        Command::GrantCapabilities {
            digest: "sha256:00ff".into(),
            http_hosts: vec!["api.example.com".into()],
        },
        Command::Session {
            client: 7,
            seq: 3,
            command: Box::new(Command::KvDelete {
                namespace: "default".into(),
                key: "k".into(),
            }),
        },
        // Appended: a deploy whose bytes live beside the log.
        Command::Deploy {
            component: record(),
            name: Some("hello@1.0.0".into()),
            http_hosts: vec!["api.example.com".into()],
        },
        // Appended: an actor's record in the cluster's own keyspace.
        Command::PutActor {
            id: "actor-00ff".into(),
            record: vec![10, 2, b'i', b'd'],
        },
        // Appended: a route that needs one of the cluster's tokens.
        Command::AddRoute {
            route: RouteRecord {
                path: "/admin/...".into(),
                component: "http-hello".into(),
                max_concurrency: 8,
                timeout_ms: 500,
                auth: true,
            },
        },
    ]
}

/// The commands whose version 1 bytes are pinned: those that existed
/// before the versioned encoding.
const V1_COMMANDS: usize = 10;

fn check_golden(file: &str, actual: String) -> String {
    let path = format!("{}/tests/golden/{file}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("WEFT_BLESS").is_some() {
        std::fs::write(&path, &actual).expect("writing golden file");
    }
    let golden = std::fs::read_to_string(&path)
        .expect("golden file (run once with WEFT_BLESS=1 to create it)");
    assert_eq!(
        actual, golden,
        "the log encoding of commands changed ({file})"
    );
    golden
}

fn hex_lines(encoded: impl Iterator<Item = Vec<u8>>) -> String {
    encoded.map(hex::encode).collect::<Vec<_>>().join("\n") + "\n"
}

#[test]
fn version_1_entries_still_decode() {
    let commands = &commands()[..V1_COMMANDS];
    let old = commands
        .iter()
        .map(|c| bincode::serialize(c).expect("encode"));
    let golden = check_golden("commands-v1.hex", hex_lines(old));
    for (line, command) in golden.lines().zip(commands) {
        let decoded: Command = codec::decode(&hex::decode(line).expect("hex")).expect("decode");
        assert_eq!(&decoded, command);
    }
}

#[test]
fn version_2_encoding_matches_the_golden_file() {
    let golden = check_golden(
        "commands-v2.hex",
        hex_lines(commands().iter().map(codec::encode)),
    );
    for (line, command) in golden.lines().zip(commands()) {
        let decoded: Command = codec::decode(&hex::decode(line).expect("hex")).expect("decode");
        assert_eq!(decoded, command);
    }
}

/// What the versioned encoding is for: an entry written by a newer weft,
/// whose command gained a field, still applies here (the field skipped).
#[test]
fn an_entry_with_a_field_added_later_still_decodes() {
    use ciborium::Value;
    let command = Command::KvDelete {
        namespace: "default".into(),
        key: "k".into(),
    };
    let encoded = codec::encode(&command);
    let (header, body) = encoded.split_at(9);
    let mut value: Value = ciborium::from_reader(body).expect("cbor");
    let Value::Map(variant) = &mut value else {
        panic!("a variant is a one-entry map: {value:?}")
    };
    let Value::Map(fields) = &mut variant[0].1 else {
        panic!("fields are a map")
    };
    fields.push((Value::Text("added_later".into()), Value::Integer(7.into())));
    let mut newer = header.to_vec();
    ciborium::into_writer(&value, &mut newer).expect("cbor");
    let decoded: Command = codec::decode(&newer).expect("decode");
    assert_eq!(decoded, command);
}
