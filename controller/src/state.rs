//! The controller's durable state: a state machine over sled, changed only
//! by applying [`Command`]s.
//!
//! Keys live in one sled tree under prefixes, so one transaction covers a
//! command's every write:
//!
//! | key | value |
//! | --- | --- |
//! | `component/<digest>` | [`ComponentRecord`] as JSON (with its names) |
//! | `name/<name>` | digest |
//! | `meta/applied` | index of the last applied command (u64, big-endian) |

use std::path::Path;

use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::command::{Applied, Command, ComponentRecord};
use crate::error::ControllerError;

const COMPONENT: &str = "component/";
const NAME: &str = "name/";
const APPLIED: &[u8] = b"meta/applied";

/// The controller's state machine.
pub struct StateMachine {
    db: sled::Db,
}

impl StateMachine {
    /// Opens (or creates) the state at `path`.
    pub fn open(path: &Path) -> Result<Self, ControllerError> {
        Ok(StateMachine {
            db: sled::open(path)?,
        })
    }

    /// Index of the last applied command (0 for a fresh state).
    pub fn applied_index(&self) -> Result<u64, ControllerError> {
        Ok(self.db.get(APPLIED)?.map(|v| be_u64(&v)).unwrap_or(0))
    }

    /// Applies `command` as the next entry and makes it durable before
    /// returning: a write is acknowledged only once it is on disk.
    pub fn apply(&self, command: &Command) -> Result<Applied, ControllerError> {
        let result = self.db.transaction(|tx| {
            let index = tx.get(APPLIED)?.map(|v| be_u64(&v)).unwrap_or(0);
            let applied = apply_in(tx, command)?;
            tx.insert(APPLIED, &(index + 1).to_be_bytes())?;
            Ok(applied)
        });
        let applied = result.map_err(|e| match e {
            TransactionError::Abort(e) => e,
            TransactionError::Storage(e) => ControllerError::Store(e),
        })?;
        self.db.flush()?;
        Ok(applied)
    }

    /// Resolves a name, `name@version`, full digest, or a unique digest
    /// prefix of at least 8 hex digits, to a digest.
    pub fn resolve(&self, reference: &str) -> Result<String, ControllerError> {
        let unknown = || ControllerError::UnknownComponent(reference.to_string());
        if let Some(digest) = self.db.get(format!("{NAME}{reference}"))? {
            return utf8(&digest);
        }
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        if hex.len() < 8 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(unknown());
        }
        let mut hits = self.db.scan_prefix(format!("{COMPONENT}sha256:{hex}"));
        match (hits.next().transpose()?, hits.next().transpose()?) {
            (Some((key, _)), None) => Ok(utf8(&key)?[COMPONENT.len()..].to_string()),
            (Some(_), Some(_)) => Err(ControllerError::InvalidRequest(format!(
                "digest prefix `{reference}` is ambiguous"
            ))),
            (None, _) => Err(unknown()),
        }
    }

    /// The component with `digest`, if deployed.
    pub fn component(&self, digest: &str) -> Result<Option<ComponentRecord>, ControllerError> {
        self.db
            .get(format!("{COMPONENT}{digest}"))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Every deployed component, oldest first.
    pub fn components(&self) -> Result<Vec<ComponentRecord>, ControllerError> {
        let mut out = self
            .db
            .scan_prefix(COMPONENT)
            .map(|entry| decode(&entry?.1))
            .collect::<Result<Vec<_>, _>>()?;
        out.sort_by(|a, b| (a.deployed_at_ms, &a.digest).cmp(&(b.deployed_at_ms, &b.digest)));
        Ok(out)
    }
}

type TxResult<T> = Result<T, ConflictableTransactionError<ControllerError>>;

fn abort(err: ControllerError) -> ConflictableTransactionError<ControllerError> {
    ConflictableTransactionError::Abort(err)
}

fn get_record(tx: &TransactionalTree, digest: &str) -> TxResult<Option<ComponentRecord>> {
    match tx.get(format!("{COMPONENT}{digest}"))? {
        Some(v) => decode(&v).map(Some).map_err(abort),
        None => Ok(None),
    }
}

fn put_record(tx: &TransactionalTree, record: &ComponentRecord) -> TxResult<()> {
    let value =
        serde_json::to_vec(record).map_err(|e| abort(ControllerError::Corrupt(e.to_string())))?;
    tx.insert(format!("{COMPONENT}{}", record.digest).as_bytes(), value)?;
    Ok(())
}

/// The deterministic heart of the state machine: one command's writes.
fn apply_in(tx: &TransactionalTree, command: &Command) -> TxResult<Applied> {
    match command {
        Command::DeployComponent { component, name } => {
            let existing = get_record(tx, &component.digest)?;
            let existed = existing.is_some();
            let mut record = existing.unwrap_or_else(|| ComponentRecord {
                names: Vec::new(),
                ..component.clone()
            });
            if let Some(name) = name {
                let key = format!("{NAME}{name}");
                // A name moves to the newest digest deployed under it; the
                // old component stays reachable by digest and other names.
                if let Some(old) = tx.insert(key.as_bytes(), component.digest.as_bytes())? {
                    let old = String::from_utf8_lossy(&old).into_owned();
                    if old != record.digest
                        && let Some(mut prev) = get_record(tx, &old)?
                    {
                        prev.names.retain(|n| n != name);
                        put_record(tx, &prev)?;
                    }
                }
                if !record.names.contains(name) {
                    record.names.push(name.clone());
                    record.names.sort();
                }
            }
            put_record(tx, &record)?;
            Ok(Applied::Deployed { existed })
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
                    tx.remove(format!("{COMPONENT}{digest}").as_bytes())?;
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
                return Err(abort(ControllerError::UnknownComponent(reference.clone())));
            };
            for name in &record.names {
                tx.remove(format!("{NAME}{name}").as_bytes())?;
            }
            tx.remove(format!("{COMPONENT}{reference}").as_bytes())?;
            Ok(Applied::Deleted {
                removed_digest: Some(record.digest),
            })
        }
    }
}

fn be_u64(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or(0)
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

    fn deploy(sm: &StateMachine, digest: &str, name: Option<&str>) -> Applied {
        sm.apply(&Command::DeployComponent {
            component: record(digest),
            name: name.map(str::to_string),
        })
        .unwrap()
    }

    const A: &str = "sha256:aaaaaaaa11";
    const B: &str = "sha256:bbbbbbbb22";

    #[test]
    fn names_move_and_deletes_cascade() {
        let dir = tempfile::tempdir().unwrap();
        let sm = StateMachine::open(dir.path()).unwrap();
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
        deploy(&sm, B, Some("app"));
        assert_eq!(sm.resolve("app").unwrap(), B);
        assert_eq!(sm.resolve("aaaaaaaa").unwrap(), A);
        assert_eq!(sm.component(A).unwrap().unwrap().names, vec!["app@1"]);

        let gone = sm
            .apply(&Command::DeleteComponent {
                reference: "app@1".into(),
            })
            .unwrap();
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

        sm.apply(&Command::DeleteComponent {
            reference: B.into(),
        })
        .unwrap();
        assert!(sm.components().unwrap().is_empty());
        assert!(matches!(
            sm.resolve("app"),
            Err(ControllerError::UnknownComponent(_))
        ));
        assert_eq!(sm.applied_index().unwrap(), 5);
    }

    #[test]
    fn state_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        {
            let sm = StateMachine::open(dir.path()).unwrap();
            deploy(&sm, A, Some("keep"));
        }
        let sm = StateMachine::open(dir.path()).unwrap();
        assert_eq!(sm.resolve("keep").unwrap(), A);
        assert_eq!(sm.applied_index().unwrap(), 1);
    }
}
