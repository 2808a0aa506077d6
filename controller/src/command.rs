//! The commands that change the controller's state, and their results.
//!
//! Every change to durable cluster state is one [`Command`], proposed to the
//! Raft log and applied by every replica's
//! [`StateMachine`](crate::StateMachine). Anything non-deterministic (the
//! time, a digest, the exports found by compiling) is decided by the
//! proposer and carried inside the command, so applying is deterministic.
//!
//! The log holds these types in the record encoding of `raft/codec.rs`:
//! CBOR with field and variant names, so a variant can gain a field (with
//! `#[serde(default)]`) without breaking entries written before it. Entries
//! from older logs are bincode, which reads fields by position: variants
//! and the fields they had then are never reordered or removed.
//! `tests/golden/` pins both encodings.

use serde::{Deserialize, Serialize};

/// A change to the controller's state (a Raft log entry's payload).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    /// Record a component and store its bytes, optionally binding a name to
    /// it (a name bound to another digest moves to this one).
    DeployComponent {
        /// The component's record.
        component: ComponentRecord,
        /// `name` or `name@version` to bind, if any.
        name: Option<String>,
        /// The component's bytes; stored content-addressed, so replaying a
        /// deploy of known bytes costs nothing.
        #[serde(with = "serde_bytes")]
        wasm: Vec<u8>,
    },
    /// Remove a name (and the component once no name is left), or, given a
    /// digest, the component with all its names.
    DeleteComponent {
        /// A name or a digest.
        reference: String,
    },
    /// Set a key in the namespaced key-value table.
    KvPut {
        /// The namespace (`default` unless given).
        namespace: String,
        /// The key.
        key: String,
        /// The value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// Remove a key from the key-value table.
    KvDelete {
        /// The namespace.
        namespace: String,
        /// The key.
        key: String,
    },
    /// Bind an HTTP route to a component (replacing any route on the path).
    AddRoute {
        /// The route.
        route: RouteRecord,
    },
    /// Remove the route on a path.
    RemoveRoute {
        /// The path as it was added.
        path: String,
    },
    /// Set what a component may do beyond the sandbox (its deploy manifest).
    GrantCapabilities {
        /// The component's digest.
        digest: String,
        /// Hosts it may send HTTP requests to.
        http_hosts: Vec<String>,
    },
    /// A client's numbered request: applied once however often the client
    /// retries it, so a retry after a lost answer cannot take effect twice.
    Session {
        /// The client's id, chosen by the client.
        client: u64,
        /// The request's number; each client numbers its requests upward.
        seq: u64,
        /// The request itself.
        command: Box<Command>,
    },
    /// Record a component whose bytes a quorum already holds beside the
    /// log (see `blobs.rs`), with its name and grants in the same entry, so
    /// a failover can never leave one without the other. Replaces
    /// `DeployComponent`, which older logs still replay.
    Deploy {
        /// The component's record.
        component: ComponentRecord,
        /// `name` or `name@version` to bind, if any.
        name: Option<String>,
        /// Hosts it may send HTTP requests to (replacing any earlier grant).
        http_hosts: Vec<String>,
    },
    /// Record an actor's intent (spec, placement, restarts, checkpoint) in
    /// the cluster's own keyspace, which the key-value API cannot reach.
    /// The record is protobuf (`ActorRecord`), so it gains fields without
    /// breaking older entries.
    PutActor {
        /// The actor's id.
        id: String,
        /// The encoded `ActorRecord`.
        #[serde(with = "serde_bytes")]
        record: Vec<u8>,
    },
    /// Record a job (its call, state, attempts and result) in the cluster's
    /// own keyspace; the record is protobuf (`JobRecord`), as an actor's is.
    PutJob {
        /// The job's id.
        id: String,
        /// The encoded `JobRecord`.
        #[serde(with = "serde_bytes")]
        record: Vec<u8>,
    },
    /// Record placement groups (each id with its encoded
    /// `PlacementGroupRecord`: bundles, state, the host of each bundle) in
    /// the cluster's own keyspace. One record names every bundle's host,
    /// so a new leader finds a group whole or not placed; the leader writes
    /// every group changed since its last write in one entry.
    PutPlacementGroups {
        /// Each group's id and encoded record.
        records: Vec<(String, serde_bytes::ByteBuf)>,
    },
    /// Set a secret, in the cluster's own keyspace (the key-value API
    /// cannot reach it; `Debug` never shows its value).
    PutSecret {
        /// Its name.
        name: String,
        /// Its value.
        #[serde(with = "serde_bytes")]
        value: Vec<u8>,
    },
    /// Remove a secret.
    DeleteSecret {
        /// Its name.
        name: String,
    },
    /// Add `delta` to a key's value, a decimal count (missing: 0).
    KvIncrement {
        /// The namespace.
        namespace: String,
        /// The key.
        key: String,
        /// What to add.
        delta: u64,
    },
    /// Set a component's default runtime environment (the encoded
    /// `RuntimeEnv`; empty: none).
    SetRuntimeEnv {
        /// The component's digest.
        digest: String,
        /// The encoded `RuntimeEnv`.
        #[serde(with = "serde_bytes")]
        env: Vec<u8>,
    },
    /// Declare a Serve application (the encoded `ServeApplication`;
    /// empty: delete it).
    SetServeApp {
        /// The application's name.
        name: String,
        /// The encoded `ServeApplication`.
        #[serde(with = "serde_bytes")]
        app: Vec<u8>,
    },
    /// Record Tune experiments and trials (each key, `e/EXPERIMENT` or
    /// `t/EXPERIMENT/INDEX`, with its encoded `TuneExperiment` or
    /// `TuneTrial`; an empty record deletes the key). The leader writes the
    /// trials ended since its last write in one entry.
    PutTune {
        /// Each key and encoded record.
        records: Vec<(String, serde_bytes::ByteBuf)>,
    },
}

/// An HTTP route served by every host's gateway.
///
/// `auth` came after version 1 of the log: it is written only when set
/// (so a public route encodes as before) and its `Deserialize` reads the
/// four fields version 1 had from a sequence (bincode, by position), and
/// every field by name from a map (CBOR, the state's JSON).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteRecord {
    /// An exact path (`/hello`) or a prefix (`/api/...` matches `/api/` and
    /// everything below it).
    pub path: String,
    /// The component: a name (resolved per request, so redeploying the name
    /// moves the route) or a digest.
    pub component: String,
    /// Requests handled at once on one host; more wait, then get 503.
    pub max_concurrency: u32,
    /// Deadline of one request in milliseconds (0: the host's default).
    pub timeout_ms: u64,
    /// Requests must carry one of the cluster's tokens.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auth: bool,
}

impl<'de> Deserialize<'de> for RouteRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, SeqAccess, Visitor};

        /// The fields by name; `auth` may be missing.
        #[derive(Deserialize)]
        struct Named {
            path: String,
            component: String,
            max_concurrency: u32,
            timeout_ms: u64,
            #[serde(default)]
            auth: bool,
        }

        struct Record;
        impl<'de> Visitor<'de> for Record {
            type Value = RouteRecord;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a route record")
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RouteRecord, A::Error> {
                let missing = |i| A::Error::invalid_length(i, &"the 4 fields of a version 1 route");
                let path = seq.next_element()?.ok_or_else(|| missing(0))?;
                let component = seq.next_element()?.ok_or_else(|| missing(1))?;
                let max_concurrency = seq.next_element()?.ok_or_else(|| missing(2))?;
                let timeout_ms = seq.next_element()?.ok_or_else(|| missing(3))?;
                Ok(RouteRecord {
                    path,
                    component,
                    max_concurrency,
                    timeout_ms,
                    auth: false,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RouteRecord, A::Error> {
                let named = Named::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RouteRecord {
                    path: named.path,
                    component: named.component,
                    max_concurrency: named.max_concurrency,
                    timeout_ms: named.timeout_ms,
                    auth: named.auth,
                })
            }
        }

        const FIELDS: &[&str] = &["path", "component", "max_concurrency", "timeout_ms", "auth"];
        deserializer.deserialize_struct("RouteRecord", FIELDS, Record)
    }
}

impl From<weft_proto::v1::Route> for RouteRecord {
    fn from(route: weft_proto::v1::Route) -> Self {
        RouteRecord {
            path: route.path,
            component: route.component,
            max_concurrency: route.max_concurrency,
            timeout_ms: route.timeout_ms,
            auth: route.auth,
        }
    }
}

impl From<RouteRecord> for weft_proto::v1::Route {
    fn from(route: RouteRecord) -> Self {
        weft_proto::v1::Route {
            path: route.path,
            component: route.component,
            max_concurrency: route.max_concurrency,
            timeout_ms: route.timeout_ms,
            auth: route.auth,
        }
    }
}

impl RouteRecord {
    /// The prefix a prefix route matches (`/api/` for `/api/...`).
    pub fn prefix(&self) -> Option<&str> {
        self.path.strip_suffix("...")
    }
}

/// A name, key or path a command cannot carry: what was given and what is
/// allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    /// A route path that is not `/exact` or `/prefix/...`.
    #[error("invalid route path `{path}`: {allowed}")]
    RoutePath {
        /// The path given.
        path: String,
        /// What a path may be.
        allowed: &'static str,
    },
    /// A component name outside the allowed characters.
    #[error(
        "invalid component name `{0}`: use lowercase letters, digits, `-`, `_` and `.`, starting with a letter"
    )]
    ComponentName(String),
    /// A component name whose `@version` is malformed.
    #[error("invalid version in component name `{0}`")]
    ComponentVersion(String),
    /// A key-value namespace that is empty, too long or holds NUL.
    #[error("invalid namespace `{0}`")]
    Namespace(String),
    /// A key-value key that is empty, too long or holds NUL.
    #[error("a key must be 1 to 1024 bytes without NUL")]
    Key,
}

/// Checks a route path: starts with `/`, no whitespace, `...` only as the
/// prefix marker at the end after a `/`.
pub fn validate_route_path(path: &str) -> Result<(), InvalidInput> {
    let body = path.strip_suffix("...").unwrap_or(path);
    let invalid = |allowed| {
        Err(InvalidInput::RoutePath {
            path: path.to_string(),
            allowed,
        })
    };
    if !path.starts_with('/') || path.chars().any(char::is_whitespace) || body.contains("...") {
        return invalid("use an exact path like /hello or a prefix like /api/...");
    }
    if path.ends_with("...") && !body.ends_with('/') {
        return invalid("a prefix route ends in /...");
    }
    Ok(())
}

impl std::fmt::Debug for Command {
    /// Leaves component bytes out: commands appear in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::DeployComponent {
                component,
                name,
                wasm,
            } => f
                .debug_struct("DeployComponent")
                .field("digest", &component.digest)
                .field("name", name)
                .field("bytes", &wasm.len())
                .finish(),
            Command::DeleteComponent { reference } => f
                .debug_struct("DeleteComponent")
                .field("reference", reference)
                .finish(),
            Command::KvPut {
                namespace,
                key,
                value,
            } => f
                .debug_struct("KvPut")
                .field("namespace", namespace)
                .field("key", key)
                .field("bytes", &value.len())
                .finish(),
            Command::KvDelete { namespace, key } => f
                .debug_struct("KvDelete")
                .field("namespace", namespace)
                .field("key", key)
                .finish(),
            Command::AddRoute { route } => {
                f.debug_struct("AddRoute").field("route", route).finish()
            }
            Command::RemoveRoute { path } => {
                f.debug_struct("RemoveRoute").field("path", path).finish()
            }
            Command::GrantCapabilities { digest, http_hosts } => f
                .debug_struct("GrantCapabilities")
                .field("digest", digest)
                .field("http_hosts", http_hosts)
                .finish(),
            Command::Deploy {
                component,
                name,
                http_hosts,
            } => f
                .debug_struct("Deploy")
                .field("digest", &component.digest)
                .field("name", name)
                .field("http_hosts", http_hosts)
                .finish(),
            Command::PutActor { id, record } => f
                .debug_struct("PutActor")
                .field("id", id)
                .field("bytes", &record.len())
                .finish(),
            Command::PutJob { id, record } => f
                .debug_struct("PutJob")
                .field("id", id)
                .field("bytes", &record.len())
                .finish(),
            Command::PutPlacementGroups { records } => f
                .debug_struct("PutPlacementGroups")
                .field("ids", &records.iter().map(|(id, _)| id).collect::<Vec<_>>())
                .finish(),
            Command::PutTune { records } => f
                .debug_struct("PutTune")
                .field("keys", &records.iter().map(|(k, _)| k).collect::<Vec<_>>())
                .finish(),
            Command::PutSecret { name, .. } => f
                .debug_struct("PutSecret")
                .field("name", name)
                .field("value", &"(secret)")
                .finish(),
            Command::KvIncrement {
                namespace,
                key,
                delta,
            } => f
                .debug_struct("KvIncrement")
                .field("namespace", namespace)
                .field("key", key)
                .field("delta", delta)
                .finish(),
            Command::SetRuntimeEnv { digest, env } => f
                .debug_struct("SetRuntimeEnv")
                .field("digest", digest)
                .field("bytes", &env.len())
                .finish(),
            Command::SetServeApp { name, app } => f
                .debug_struct("SetServeApp")
                .field("name", name)
                .field("app_bytes", &app.len())
                .finish(),
            Command::DeleteSecret { name } => {
                f.debug_struct("DeleteSecret").field("name", name).finish()
            }
            Command::Session {
                client,
                seq,
                command,
            } => f
                .debug_struct("Session")
                .field("client", client)
                .field("seq", seq)
                .field("command", command)
                .finish(),
        }
    }
}

/// What the controller knows about a deployed component.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentRecord {
    /// `sha256:<hex>` of the bytes.
    pub digest: String,
    /// Size of the blob.
    pub size_bytes: u64,
    /// Names bound to it, sorted. Kept in the record (rather than found by
    /// scanning the name index) so a command's writes fit one transaction.
    pub names: Vec<String>,
    /// Callable exports as `(name, signature)`.
    pub functions: Vec<(String, String)>,
    /// When it was first deployed, in Unix milliseconds.
    pub deployed_at_ms: u64,
}

/// The result of applying a log entry (the Raft response type).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Applied {
    /// A blank or membership entry: nothing for the application.
    Nothing,
    /// A component was recorded; `existed` when its digest was already known.
    Deployed {
        /// Whether the digest was already deployed.
        existed: bool,
    },
    /// A name or component was removed; `removed_digest` is set when the
    /// component itself went.
    Deleted {
        /// The digest whose last reference went away, if any.
        removed_digest: Option<String>,
    },
    /// A key was set.
    KvPut,
    /// A key was removed (`existed` false when it was not there).
    KvDeleted {
        /// Whether the key existed.
        existed: bool,
    },
    /// The command was refused (an unknown name, say); nothing changed.
    Refused(String),
    /// A route was added, capabilities granted, or a route removed
    /// (`existed` false when there was none).
    Done {
        /// Whether the thing changed existed before.
        existed: bool,
    },
    /// A key's count after an increment.
    Counted {
        /// The value now.
        value: u64,
    },
}

/// Checks a component name: `name` or `name@version`, lowercase letters,
/// digits, `-`, `_` and `.` in each part, starting with a letter.
pub fn validate_name(name: &str) -> Result<(), InvalidInput> {
    let (base, version) = match name.split_once('@') {
        Some((b, v)) => (b, Some(v)),
        None => (name, None),
    };
    let part_ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 128
            && s.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.')
            })
    };
    if !part_ok(base) || !base.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(InvalidInput::ComponentName(name.to_string()));
    }
    if let Some(v) = version
        && !part_ok(v)
    {
        return Err(InvalidInput::ComponentVersion(name.to_string()));
    }
    Ok(())
}

/// Checks a key-value namespace and key: non-empty, no NUL (the separator
/// in storage keys), keys up to 1 KiB.
pub fn validate_kv_key(namespace: &str, key: &str) -> Result<(), InvalidInput> {
    if namespace.is_empty() || namespace.contains('\0') || namespace.len() > 128 {
        return Err(InvalidInput::Namespace(namespace.to_string()));
    }
    if key.is_empty() || key.contains('\0') || key.len() > 1024 {
        return Err(InvalidInput::Key);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        assert!(validate_name("hello").is_ok());
        assert!(validate_name("pi@1.0.0").is_ok());
        assert!(validate_name("Hello").is_err());
        assert!(validate_name("").is_err());
        assert!(validate_name("a b").is_err());
        assert!(validate_name("x@").is_err());
        assert!(validate_name("9lives").is_err());
    }

    #[test]
    fn kv_keys_are_checked() {
        assert!(validate_kv_key("default", "a/b").is_ok());
        assert!(validate_kv_key("", "a").is_err());
        assert!(validate_kv_key("ns", "").is_err());
        assert!(validate_kv_key("ns", "a\0b").is_err());
    }

    #[test]
    fn route_paths_are_checked() {
        assert!(validate_route_path("/hello").is_ok());
        assert!(validate_route_path("/api/...").is_ok());
        assert!(validate_route_path("/...").is_ok());
        assert!(validate_route_path("hello").is_err());
        assert!(validate_route_path("/api...").is_err());
        assert!(validate_route_path("/a b").is_err());
        assert!(validate_route_path("/a/.../b").is_err());
    }

    #[test]
    fn debug_leaves_bytes_out() {
        let cmd = Command::KvPut {
            namespace: "n".into(),
            key: "k".into(),
            value: vec![0; 1000],
        };
        assert_eq!(
            format!("{cmd:?}"),
            r#"KvPut { namespace: "n", key: "k", bytes: 1000 }"#
        );
    }
}
