//! The controller's durable state: a state machine over one sled tree,
//! changed only by applying log entries.
//!
//! Keys live under prefixes, so one transaction covers an entry's every
//! write, including the Raft bookkeeping that says how far it has applied:
//!
//! | key | value |
//! | --- | --- |
//! | `component/<digest>` | [`ComponentRecord`] as JSON (with its names) |
//! | `blob/<digest>` | a component's bytes, from logs older than the blob store beside the log |
//! | `name/<name>` | digest |
//! | `kv/<namespace>\0<key>` | value |
//! | `route/<path>` | [`RouteRecord`] as JSON |
//! | `grant/<digest>` | the component's granted outbound HTTP hosts, JSON |
//! | `actor/<id>` | an actor's record (`ActorRecord`, protobuf) |
//! | `job/<id>` | a job's record (`JobRecord`, protobuf) |
//! | `session/<client>` | the client's last applied request number and its result (record encoding) |
//! | `meta/applied` | the last applied log id (the Raft layer's record encoding) |
//! | `meta/membership` | the last applied membership (the Raft layer's record encoding) |
//!
//! Reads go straight to the tree: every replica can serve them (possibly
//! stale); linearizable reads are the Raft layer's business.

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::command::{Applied, Command, ComponentRecord, RouteRecord};
use crate::error::ControllerError;

const COMPONENT: &str = "component/";
const BLOB: &str = "blob/";
const NAME: &str = "name/";
const KV: &str = "kv/";
const ROUTE: &str = "route/";
const GRANT: &str = "grant/";
const SESSION: &str = "session/";
const ACTOR: &str = "actor/";
const JOB: &str = "job/";
const GROUP: &str = "placement-group/";
const SECRET: &str = "secret/";
const RUNTIME_ENV: &str = "runtime-env/";
const SERVE_APP: &str = "serve-app/";
const TUNE: &str = "tune/";
const APPLIED: &[u8] = b"meta/applied";
const MEMBERSHIP: &[u8] = b"meta/membership";

/// Keys and values of the whole state: a snapshot's content.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// The encoded last applied log id and membership.
pub type AppliedBytes = (Option<Vec<u8>>, Option<Vec<u8>>);

/// The Raft bookkeeping written with an entry's effects, as opaque bytes so
/// this module stays free of Raft types.
#[derive(Debug, Clone, Default)]
pub struct EntryMeta {
    /// The entry's encoded log id.
    pub applied: Vec<u8>,
    /// The encoded membership, when the entry changes it.
    pub membership: Option<Vec<u8>>,
}

/// The controller's state machine.
#[derive(Clone)]
pub struct StateMachine {
    tree: sled::Tree,
}

impl StateMachine {
    /// Wraps the tree holding the state.
    pub fn new(tree: sled::Tree) -> Self {
        StateMachine { tree }
    }

    /// Applies one entry (its command, if it carries one) and records it as
    /// applied, atomically. A command refused by the state (unknown name)
    /// still counts as applied, so every replica skips it the same way.
    pub fn apply(
        &self,
        meta: &EntryMeta,
        command: Option<&Command>,
    ) -> Result<Applied, ControllerError> {
        let result = self.tree.transaction(|tx| {
            let applied = match command {
                Some(command) => match apply_in(tx, command) {
                    Ok(applied) => applied,
                    Err(ConflictableTransactionError::Abort(Refusal(why))) => Applied::Refused(why),
                    Err(ConflictableTransactionError::Conflict) => {
                        return Err(ConflictableTransactionError::Conflict);
                    }
                    Err(ConflictableTransactionError::Storage(e)) => {
                        return Err(ConflictableTransactionError::Storage(e));
                    }
                },
                None => Applied::Nothing,
            };
            tx.insert(APPLIED, meta.applied.as_slice())?;
            if let Some(membership) = &meta.membership {
                tx.insert(MEMBERSHIP, membership.as_slice())?;
            }
            Ok(applied)
        });
        result.map_err(|e: TransactionError<ControllerError>| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => ControllerError::Store(e),
        })
    }

    /// The encoded last applied log id and membership.
    pub fn applied(&self) -> Result<AppliedBytes, ControllerError> {
        Ok((
            self.tree.get(APPLIED)?.map(|v| v.to_vec()),
            self.tree.get(MEMBERSHIP)?.map(|v| v.to_vec()),
        ))
    }

    /// Makes everything applied so far durable (in place: see the log
    /// store on sled's `flush_async`).
    pub async fn flush(&self) -> Result<(), ControllerError> {
        self.tree.flush()?;
        Ok(())
    }

    /// Every key and value: the content of a snapshot.
    pub fn export(&self) -> Result<Pairs, ControllerError> {
        self.tree
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k.to_vec(), v.to_vec()))
            })
            .collect()
    }

    /// Replaces the whole state with a snapshot's content.
    pub fn import(&self, entries: Pairs) -> Result<(), ControllerError> {
        let mut batch = sled::Batch::default();
        for key in self.tree.iter().keys() {
            batch.remove(key?);
        }
        for (k, v) in entries {
            batch.insert(k, v);
        }
        self.tree.apply_batch(batch)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Resolves a name, `name@version`, full digest, or a unique digest
    /// prefix of at least 8 hex digits, to a digest.
    pub fn resolve(&self, reference: &str) -> Result<String, ControllerError> {
        let unknown = || ControllerError::UnknownComponent(reference.to_string());
        if let Some(digest) = self.tree.get(format!("{NAME}{reference}"))? {
            return utf8(&digest);
        }
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        if hex.len() < 8 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(unknown());
        }
        let mut hits = self.tree.scan_prefix(format!("{COMPONENT}sha256:{hex}"));
        match (hits.next().transpose()?, hits.next().transpose()?) {
            (Some((key, _)), None) => Ok(utf8(&key)?[COMPONENT.len()..].to_string()),
            (Some(_), Some(_)) => Err(ControllerError::InvalidRequest(format!(
                "digest prefix `{reference}` is ambiguous"
            ))),
            (None, _) => Err(unknown()),
        }
    }

    /// Whether component `digest` exports `wasi:http/incoming-handler`, so
    /// it can serve a route or a Serve deployment.
    pub fn serves_http(&self, digest: &str) -> Result<bool, ControllerError> {
        Ok(self.component(digest)?.is_some_and(|c| {
            c.functions
                .iter()
                .any(|(name, _)| name.starts_with("wasi:http/incoming-handler."))
        }))
    }

    /// The component with `digest`, if deployed.
    pub fn component(&self, digest: &str) -> Result<Option<ComponentRecord>, ControllerError> {
        self.tree
            .get(format!("{COMPONENT}{digest}"))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Whether an older log's deploy stored `digest`'s bytes in the state
    /// (without reading them).
    pub fn has_legacy_blob(&self, digest: &str) -> Result<bool, ControllerError> {
        Ok(self.tree.contains_key(format!("{BLOB}{digest}"))?)
    }

    /// The bytes of the component with `digest`, if an older log's deploy
    /// stored them in the state (newer ones live in the blob store).
    pub fn legacy_blob(&self, digest: &str) -> Result<Option<Vec<u8>>, ControllerError> {
        Ok(self
            .tree
            .get(format!("{BLOB}{digest}"))?
            .map(|v| v.to_vec()))
    }

    /// Every deployed component, oldest first.
    pub fn components(&self) -> Result<Vec<ComponentRecord>, ControllerError> {
        let mut out = self
            .tree
            .scan_prefix(COMPONENT)
            .map(|entry| decode(&entry?.1))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (a.deployed_at_ms, &a.digest).cmp(&(b.deployed_at_ms, &b.digest)));
        Ok(out)
    }

    /// Every actor record, encoded: the typed ones, and those an older log
    /// wrote to the key-value namespace `legacy_namespace` (a typed record
    /// of the same id wins).
    pub fn actors(&self, legacy_namespace: &str) -> Result<Vec<Vec<u8>>, ControllerError> {
        let mut by_id = std::collections::BTreeMap::new();
        for (key, value) in self.kv_list(legacy_namespace, "")? {
            by_id.insert(key, value);
        }
        for entry in self.tree.scan_prefix(ACTOR) {
            let (key, value) = entry?;
            by_id.insert(utf8(&key)?[ACTOR.len()..].to_string(), value.to_vec());
        }
        Ok(by_id.into_values().collect())
    }

    /// Every job record, encoded.
    pub fn jobs(&self) -> Result<Vec<Vec<u8>>, ControllerError> {
        self.records(JOB)
    }

    /// Every Tune record under `prefix` (`e/` experiments, `t/EXP/` one
    /// experiment's trials), encoded.
    pub fn tune_records(&self, prefix: &str) -> Result<Vec<Vec<u8>>, ControllerError> {
        self.records(&format!("{TUNE}{prefix}"))
    }

    /// Every placement group record, encoded.
    pub fn placement_groups(&self) -> Result<Vec<Vec<u8>>, ControllerError> {
        self.records(GROUP)
    }

    /// Component `digest`'s default runtime environment, encoded (none:
    /// it has none).
    pub fn runtime_env(&self, digest: &str) -> Result<Option<Vec<u8>>, ControllerError> {
        Ok(self
            .tree
            .get(format!("{RUNTIME_ENV}{digest}"))?
            .map(|v| v.to_vec()))
    }

    /// Every Serve application's encoded declaration, by name.
    pub fn serve_apps(&self) -> Result<Vec<Vec<u8>>, ControllerError> {
        self.tree
            .scan_prefix(SERVE_APP)
            .values()
            .map(|v| Ok(v?.to_vec()))
            .collect()
    }

    /// Serve application `name`'s encoded declaration.
    pub fn serve_app(&self, name: &str) -> Result<Option<Vec<u8>>, ControllerError> {
        Ok(self
            .tree
            .get(format!("{SERVE_APP}{name}"))?
            .map(|v| v.to_vec()))
    }

    /// Every secret's name, in order.
    pub fn secret_names(&self) -> Result<Vec<String>, ControllerError> {
        self.tree
            .scan_prefix(SECRET)
            .keys()
            .map(|key| Ok(utf8(&key?)?[SECRET.len()..].to_string()))
            .collect()
    }

    /// The value of secret `name`.
    pub fn secret(&self, name: &str) -> Result<Option<Vec<u8>>, ControllerError> {
        Ok(self
            .tree
            .get(format!("{SECRET}{name}"))?
            .map(|v| v.to_vec()))
    }

    fn records(&self, prefix: &str) -> Result<Vec<Vec<u8>>, ControllerError> {
        self.tree
            .scan_prefix(prefix)
            .map(|entry| Ok(entry?.1.to_vec()))
            .collect()
    }

    /// The value of `key` in `namespace`.
    pub fn kv_get(&self, namespace: &str, key: &str) -> Result<Option<Vec<u8>>, ControllerError> {
        Ok(self.tree.get(kv_key(namespace, key))?.map(|v| v.to_vec()))
    }

    /// Keys and values in `namespace` starting with `prefix`, in key order.
    pub fn kv_list(
        &self,
        namespace: &str,
        prefix: &str,
    ) -> Result<Vec<(String, Vec<u8>)>, ControllerError> {
        let start = kv_key(namespace, "");
        self.tree
            .scan_prefix(kv_key(namespace, prefix))
            .map(|entry| {
                let (k, v) = entry?;
                Ok((utf8(&k[start.len()..])?, v.to_vec()))
            })
            .collect()
    }
}

impl StateMachine {
    /// Every route, by path.
    pub fn routes(&self) -> Result<Vec<RouteRecord>, ControllerError> {
        self.tree
            .scan_prefix(ROUTE)
            .map(|entry| {
                serde_json::from_slice(&entry?.1)
                    .map_err(|e| ControllerError::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// The route serving `path`: an exact route, else the longest prefix
    /// route that `path` falls under.
    pub fn route_for(&self, path: &str) -> Result<Option<RouteRecord>, ControllerError> {
        let routes = self.routes()?;
        if let Some(exact) = routes
            .iter()
            .find(|r| r.prefix().is_none() && r.path == path)
        {
            return Ok(Some(exact.clone()));
        }
        Ok(routes
            .into_iter()
            .filter(|r| {
                r.prefix()
                    .is_some_and(|p| path.starts_with(p) || path == p.trim_end_matches('/'))
            })
            .max_by_key(|r| r.path.len()))
    }

    /// The outbound HTTP hosts granted to the component `digest`.
    pub fn http_grants(&self, digest: &str) -> Result<Vec<String>, ControllerError> {
        match self.tree.get(format!("{GRANT}{digest}"))? {
            Some(v) => {
                serde_json::from_slice(&v).map_err(|e| ControllerError::Corrupt(e.to_string()))
            }
            None => Ok(Vec::new()),
        }
    }
}

fn kv_key(namespace: &str, key: &str) -> Vec<u8> {
    format!("{KV}{namespace}\0{key}").into_bytes()
}

/// Why a command changed nothing: applied as [`Applied::Refused`].
struct Refusal(String);

type TxResult<T> = Result<T, ConflictableTransactionError<Refusal>>;

fn corrupt(e: impl std::fmt::Display) -> ConflictableTransactionError<Refusal> {
    // A record that does not decode is a bug, not a user error; refusing
    // keeps replicas identical and the message names the problem.
    ConflictableTransactionError::Abort(Refusal(format!("corrupt state: {e}")))
}

fn get_record(tx: &TransactionalTree, digest: &str) -> TxResult<Option<ComponentRecord>> {
    match tx.get(format!("{COMPONENT}{digest}"))? {
        Some(v) => decode(&v).map(Some).map_err(corrupt),
        None => Ok(None),
    }
}

fn put_record(tx: &TransactionalTree, record: &ComponentRecord) -> TxResult<()> {
    let value = serde_json::to_vec(record).map_err(corrupt)?;
    tx.insert(format!("{COMPONENT}{}", record.digest).as_bytes(), value)?;
    Ok(())
}

fn remove_component(tx: &TransactionalTree, digest: &str) -> TxResult<()> {
    tx.remove(format!("{COMPONENT}{digest}").as_bytes())?;
    tx.remove(format!("{BLOB}{digest}").as_bytes())?;
    tx.remove(format!("{GRANT}{digest}").as_bytes())?;
    tx.remove(format!("{RUNTIME_ENV}{digest}").as_bytes())?;
    Ok(())
}

/// Records a component and binds `name` to it. `wasm` is set only when an
/// older log's entry carries the bytes (now they live beside the log).
fn deploy_in(
    tx: &TransactionalTree,
    component: &ComponentRecord,
    name: Option<&str>,
    wasm: Option<&[u8]>,
) -> TxResult<Applied> {
    let existing = get_record(tx, &component.digest)?;
    let existed = existing.is_some();
    let mut record = existing.unwrap_or_else(|| ComponentRecord {
        names: Vec::new(),
        ..component.clone()
    });
    if let (false, Some(wasm)) = (existed, wasm) {
        tx.insert(format!("{BLOB}{}", component.digest).as_bytes(), wasm)?;
    }
    if let Some(name) = name {
        let key = format!("{NAME}{name}");
        // A name moves to the newest digest deployed under it; the old
        // component stays reachable by digest and other names.
        if let Some(old) = tx.insert(key.as_bytes(), component.digest.as_bytes())? {
            let old = String::from_utf8_lossy(&old).into_owned();
            if old != record.digest
                && let Some(mut prev) = get_record(tx, &old)?
            {
                prev.names.retain(|n| n != name);
                put_record(tx, &prev)?;
            }
        }
        if !record.names.iter().any(|n| n == name) {
            record.names.push(name.to_string());
            record.names.sort();
        }
    }
    put_record(tx, &record)?;
    Ok(Applied::Deployed { existed })
}

/// The deterministic heart of the state machine: one command's writes.
fn apply_in(tx: &TransactionalTree, command: &Command) -> TxResult<Applied> {
    match command {
        Command::DeployComponent {
            component,
            name,
            wasm,
        } => deploy_in(tx, component, name.as_deref(), Some(wasm)),
        Command::Deploy {
            component,
            name,
            http_hosts,
        } => {
            let applied = deploy_in(tx, component, name.as_deref(), None)?;
            let key = format!("{GRANT}{}", component.digest);
            if http_hosts.is_empty() {
                tx.remove(key.as_bytes())?;
            } else {
                let value = serde_json::to_vec(http_hosts).map_err(corrupt)?;
                tx.insert(key.as_bytes(), value)?;
            }
            Ok(applied)
        }
        Command::DeleteComponent { reference } => {
            if let Some(digest) = tx.remove(format!("{NAME}{reference}").as_bytes())? {
                let digest = String::from_utf8_lossy(&digest).into_owned();
                let Some(mut record) = get_record(tx, &digest)? else {
                    return Ok(Applied::Deleted {
                        removed_digest: None,
                    });
                };
                record.names.retain(|n| n != reference);
                if record.names.is_empty() {
                    remove_component(tx, &digest)?;
                    return Ok(Applied::Deleted {
                        removed_digest: Some(digest),
                    });
                }
                put_record(tx, &record)?;
                return Ok(Applied::Deleted {
                    removed_digest: None,
                });
            }
            let Some(record) = get_record(tx, reference)? else {
                return Err(ConflictableTransactionError::Abort(Refusal(format!(
                    "unknown component `{reference}` (see `weft components`)"
                ))));
            };
            for name in &record.names {
                tx.remove(format!("{NAME}{name}").as_bytes())?;
            }
            remove_component(tx, reference)?;
            Ok(Applied::Deleted {
                removed_digest: Some(record.digest),
            })
        }
        Command::KvPut {
            namespace,
            key,
            value,
        } => {
            tx.insert(kv_key(namespace, key), value.as_slice())?;
            Ok(Applied::KvPut)
        }
        Command::PutActor { id, record } => {
            tx.insert(format!("{ACTOR}{id}").as_bytes(), record.as_slice())?;
            Ok(Applied::Done { existed: false })
        }
        Command::PutJob { id, record } => {
            let existed = tx
                .insert(format!("{JOB}{id}").as_bytes(), record.as_slice())?
                .is_some();
            Ok(Applied::Done { existed })
        }
        Command::PutTune { records } => {
            for (key, record) in records {
                let key = format!("{TUNE}{key}");
                if record.is_empty() {
                    tx.remove(key.as_bytes())?;
                } else {
                    tx.insert(key.as_bytes(), record.as_slice())?;
                }
            }
            Ok(Applied::Done { existed: false })
        }
        Command::PutPlacementGroups { records } => {
            for (id, record) in records {
                tx.insert(format!("{GROUP}{id}").as_bytes(), record.as_slice())?;
            }
            Ok(Applied::Done { existed: false })
        }
        Command::PutSecret { name, value } => {
            let existed = tx
                .insert(format!("{SECRET}{name}").as_bytes(), value.as_slice())?
                .is_some();
            Ok(Applied::Done { existed })
        }
        Command::KvIncrement {
            namespace,
            key,
            delta,
        } => {
            let current = match tx.get(kv_key(namespace, key))? {
                None => 0,
                Some(v) => match std::str::from_utf8(&v)
                    .ok()
                    .and_then(|t| t.trim().parse::<u64>().ok())
                {
                    Some(n) => n,
                    None => {
                        return Ok(Applied::Refused(format!(
                            "the value of `{key}` is not a count (a decimal number), so it cannot be incremented"
                        )));
                    }
                },
            };
            let Some(value) = current.checked_add(*delta) else {
                return Ok(Applied::Refused(format!(
                    "incrementing `{key}` ({current}) by {delta} overflows"
                )));
            };
            tx.insert(kv_key(namespace, key), value.to_string().as_bytes())?;
            Ok(Applied::Counted { value })
        }
        Command::SetRuntimeEnv { digest, env } => {
            let key = format!("{RUNTIME_ENV}{digest}");
            let existed = if env.is_empty() {
                tx.remove(key.as_bytes())?.is_some()
            } else {
                tx.insert(key.as_bytes(), env.as_slice())?.is_some()
            };
            Ok(Applied::Done { existed })
        }
        Command::SetServeApp { name, app } => {
            let key = format!("{SERVE_APP}{name}");
            let existed = if app.is_empty() {
                tx.remove(key.as_bytes())?.is_some()
            } else {
                tx.insert(key.as_bytes(), app.as_slice())?.is_some()
            };
            Ok(Applied::Done { existed })
        }
        Command::DeleteSecret { name } => {
            let existed = tx.remove(format!("{SECRET}{name}").as_bytes())?.is_some();
            Ok(Applied::Done { existed })
        }
        Command::KvDelete { namespace, key } => {
            let existed = tx.remove(kv_key(namespace, key))?.is_some();
            Ok(Applied::KvDeleted { existed })
        }
        Command::AddRoute { route } => {
            let value = serde_json::to_vec(route).map_err(corrupt)?;
            let existed = tx
                .insert(format!("{ROUTE}{}", route.path).as_bytes(), value)?
                .is_some();
            Ok(Applied::Done { existed })
        }
        Command::RemoveRoute { path } => {
            let existed = tx.remove(format!("{ROUTE}{path}").as_bytes())?.is_some();
            Ok(Applied::Done { existed })
        }
        Command::Session {
            client,
            seq,
            command,
        } => {
            let key = format!("{SESSION}{client}");
            if let Some(v) = tx.get(key.as_bytes())? {
                let (last, result): (u64, Applied) = crate::codec::decode(&v).map_err(corrupt)?;
                if *seq == last {
                    return Ok(result);
                }
                if *seq < last {
                    return Ok(Applied::Nothing);
                }
            }
            let applied = apply_in(tx, command)?;
            let value = crate::codec::encode(&(*seq, &applied));
            tx.insert(key.as_bytes(), value)?;
            Ok(applied)
        }
        Command::GrantCapabilities { digest, http_hosts } => {
            if get_record(tx, digest)?.is_none() {
                return Err(ConflictableTransactionError::Abort(Refusal(format!(
                    "unknown component `{digest}`"
                ))));
            }
            let value = serde_json::to_vec(http_hosts).map_err(corrupt)?;
            let existed = tx
                .insert(format!("{GRANT}{digest}").as_bytes(), value)?
                .is_some();
            Ok(Applied::Done { existed })
        }
    }
}

fn decode(bytes: &[u8]) -> Result<ComponentRecord, ControllerError> {
    serde_json::from_slice(bytes).map_err(|e| ControllerError::Corrupt(e.to_string()))
}

fn utf8(bytes: &[u8]) -> Result<String, ControllerError> {
    String::from_utf8(bytes.to_vec()).map_err(|e| ControllerError::Corrupt(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(digest: &str) -> ComponentRecord {
        ComponentRecord {
            digest: digest.into(),
            size_bytes: 1,
            names: vec![],
            functions: vec![("f".into(), "func()".into())],
            deployed_at_ms: 1,
        }
    }

    fn open(dir: &std::path::Path) -> StateMachine {
        StateMachine::new(sled::open(dir).unwrap().open_tree("state").unwrap())
    }

    fn apply(sm: &StateMachine, command: Command) -> Applied {
        sm.apply(&EntryMeta::default(), Some(&command)).unwrap()
    }

    fn deploy(sm: &StateMachine, digest: &str, name: Option<&str>) -> Applied {
        apply(
            sm,
            Command::DeployComponent {
                component: record(digest),
                name: name.map(str::to_string),
                wasm: digest.as_bytes().to_vec(),
            },
        )
    }

    #[test]
    fn a_deploy_carries_its_grants_in_one_entry() {
        let dir = tempfile::tempdir().unwrap();
        let sm = open(dir.path());
        let deploy = |hosts: &[&str]| Command::Deploy {
            component: record(A),
            name: Some("app".into()),
            http_hosts: hosts.iter().map(|h| h.to_string()).collect(),
        };
        apply(&sm, deploy(&["api.example.com"]));
        assert_eq!(sm.resolve("app").unwrap(), A);
        assert_eq!(sm.http_grants(A).unwrap(), vec!["api.example.com"]);
        // The bytes live beside the log, not in the state.
        assert!(sm.legacy_blob(A).unwrap().is_none());
        // A redeploy without grants clears them.
        apply(&sm, deploy(&[]));
        assert!(sm.http_grants(A).unwrap().is_empty());
    }

    #[test]
    fn job_records_are_replaced_whole_and_listed() {
        let dir = tempfile::tempdir().unwrap();
        let sm = open(dir.path());
        let put = |id: &str, record: &[u8]| Command::PutJob {
            id: id.into(),
            record: record.to_vec(),
        };
        assert_eq!(
            apply(&sm, put("job-1", b"pending")),
            Applied::Done { existed: false }
        );
        assert_eq!(
            apply(&sm, put("job-1", b"running")),
            Applied::Done { existed: true }
        );
        apply(&sm, put("job-2", b"pending"));
        assert_eq!(
            sm.jobs().unwrap(),
            [b"running".to_vec(), b"pending".to_vec()]
        );
        // They are the cluster's own: the key-value API cannot see them.
        assert!(sm.kv_list("default", "").unwrap().is_empty());
    }

    #[test]
    fn actor_records_are_typed_and_older_kv_ones_still_read() {
        let dir = tempfile::tempdir().unwrap();
        let sm = open(dir.path());
        let kv = |key: &str, value: &[u8]| Command::KvPut {
            namespace: "weft.actors".into(),
            key: key.into(),
            value: value.to_vec(),
        };
        apply(&sm, kv("a1", b"old-a1"));
        apply(&sm, kv("a2", b"old-a2"));
        apply(
            &sm,
            Command::PutActor {
                id: "a2".into(),
                record: b"new-a2".to_vec(),
            },
        );
        assert_eq!(
            sm.actors("weft.actors").unwrap(),
            vec![b"old-a1".to_vec(), b"new-a2".to_vec()]
        );
        // The typed records are not in any key-value namespace.
        assert!(sm.kv_list("weft.actors", "a2").unwrap()[0].1 == b"old-a2");
    }

    const A: &str = "sha256:aaaaaaaa11";
    const B: &str = "sha256:bbbbbbbb22";

    #[test]
    fn names_move_and_deletes_cascade() {
        let dir = tempfile::tempdir().unwrap();
        let sm = open(dir.path());
        assert_eq!(
            deploy(&sm, A, Some("app")),
            Applied::Deployed { existed: false }
        );
        assert_eq!(
            deploy(&sm, A, Some("app@1")),
            Applied::Deployed { existed: true }
        );
        assert_eq!(
            sm.component(A).unwrap().unwrap().names,
            vec!["app", "app@1"]
        );
        assert_eq!(sm.legacy_blob(A).unwrap().unwrap(), A.as_bytes());
        deploy(&sm, B, Some("app"));
        assert_eq!(sm.resolve("app").unwrap(), B);
        assert_eq!(sm.resolve("aaaaaaaa").unwrap(), A);
        assert_eq!(sm.component(A).unwrap().unwrap().names, vec!["app@1"]);

        let gone = apply(
            &sm,
            Command::DeleteComponent {
                reference: "app@1".into(),
            },
        );
        assert_eq!(
            gone,
            Applied::Deleted {
                removed_digest: Some(A.into())
            }
        );
        assert!(matches!(
            sm.resolve("app@1"),
            Err(ControllerError::UnknownComponent(_))
        ));
        assert!(sm.legacy_blob(A).unwrap().is_none());

        apply(
            &sm,
            Command::DeleteComponent {
                reference: B.into(),
            },
        );
        assert!(sm.components().unwrap().is_empty());
        assert!(matches!(
            sm.resolve("app"),
            Err(ControllerError::UnknownComponent(_))
        ));
        let refused = apply(
            &sm,
            Command::DeleteComponent {
                reference: "nope".into(),
            },
        );
        assert!(matches!(refused, Applied::Refused(m) if m.contains("unknown component `nope`")));
    }

    #[test]
    fn kv_is_namespaced_and_listed_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let sm = open(dir.path());
        for (ns, k, v) in [
            ("a", "x/2", "2"),
            ("a", "x/1", "1"),
            ("a", "y", "3"),
            ("b", "x/1", "other"),
        ] {
            apply(
                &sm,
                Command::KvPut {
                    namespace: ns.into(),
                    key: k.into(),
                    value: v.into(),
                },
            );
        }
        let listed: Vec<_> = sm
            .kv_list("a", "x/")
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(listed, vec!["x/1", "x/2"]);
        assert_eq!(sm.kv_get("b", "x/1").unwrap().unwrap(), b"other");
        let deleted = apply(
            &sm,
            Command::KvDelete {
                namespace: "a".into(),
                key: "y".into(),
            },
        );
        assert_eq!(deleted, Applied::KvDeleted { existed: true });
        assert_eq!(sm.kv_get("a", "y").unwrap(), None);
    }

    #[test]
    fn a_retried_request_applies_once() {
        let dir = tempfile::tempdir().unwrap();
        let sm = open(dir.path());
        let put = |seq, value: &str| Command::Session {
            client: 9,
            seq,
            command: Box::new(Command::KvPut {
                namespace: "n".into(),
                key: "k".into(),
                value: value.into(),
            }),
        };
        assert_eq!(apply(&sm, put(1, "first")), Applied::KvPut);
        apply(
            &sm,
            Command::KvPut {
                namespace: "n".into(),
                key: "k".into(),
                value: b"other".to_vec(),
            },
        );
        // The retry of request 1 changes nothing and answers as the first did.
        assert_eq!(apply(&sm, put(1, "first")), Applied::KvPut);
        assert_eq!(sm.kv_get("n", "k").unwrap().unwrap(), b"other");
        assert_eq!(apply(&sm, put(2, "second")), Applied::KvPut);
        assert_eq!(sm.kv_get("n", "k").unwrap().unwrap(), b"second");
        assert_eq!(apply(&sm, put(1, "stale")), Applied::Nothing);
        assert_eq!(sm.kv_get("n", "k").unwrap().unwrap(), b"second");
    }

    #[test]
    fn export_and_import_round_trip() {
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (src, dst) = (open(d1.path()), open(d2.path()));
        deploy(&src, A, Some("keep"));
        apply(
            &dst,
            Command::KvPut {
                namespace: "n".into(),
                key: "stale".into(),
                value: vec![1],
            },
        );
        dst.import(src.export().unwrap()).unwrap();
        assert_eq!(dst.resolve("keep").unwrap(), A);
        assert_eq!(dst.kv_get("n", "stale").unwrap(), None);
    }
}
