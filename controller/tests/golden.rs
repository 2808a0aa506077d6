//! The Raft log's command encoding, pinned: these bytes are what every
//! replica's log holds, so a change that alters them breaks old logs. To
//! change the encoding on purpose, add a new version alongside and keep
//! reading the old one. `golden/commands-v1.hex` only ever gains lines, one
//! per appended variant; its existing lines never change.

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
    ]
}

fn encode_all() -> String {
    commands()
        .iter()
        .map(|c| hex::encode(bincode::serialize(c).expect("encode")))
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn command_encoding_matches_the_golden_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/commands-v1.hex");
    let actual = encode_all();
    if std::env::var_os("WEFT_BLESS").is_some() {
        std::fs::write(path, &actual).expect("writing golden file");
    }
    let golden = std::fs::read_to_string(path)
        .expect("golden file (run once with WEFT_BLESS=1 to create it)");
    assert_eq!(actual, golden, "the log encoding of commands changed");
    for (line, command) in golden.lines().zip(commands()) {
        let decoded: Command =
            bincode::deserialize(&hex::decode(line).expect("hex")).expect("decode");
        assert_eq!(decoded, command);
    }
}
