//! The controller's actor operations: create, look up, list and kill
//! actors, and keep their records in the replicated state so that a new
//! leader knows every actor the old one did.

use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use weft_proto::HasRuntimeEnv;
use weft_proto::v1 as pb;

use crate::command::Command;
use crate::controller::Controller;
use crate::error::ControllerError;

impl Controller {
    /// Refuses concurrency an actor cannot have: calls run at once in its
    /// one instance only where its methods are `async func` exports (they
    /// interleave at their awaits; a plain export holds the instance until
    /// it returns), every method named in a group must be in a declared
    /// group, and a concurrent actor is never between calls, so it cannot
    /// be checkpointed.
    async fn check_concurrency(
        &self,
        spec: &pb::ActorSpec,
        options: &pb::ActorOptions,
    ) -> Result<(), ControllerError> {
        let concurrent = options.max_concurrency > 1 || !options.concurrency_groups.is_empty();
        for (method, group) in &options.method_groups {
            if !options.concurrency_groups.contains_key(group) {
                return Err(ControllerError::InvalidRequest(format!(
                    "method `{method}` is put in concurrency group `{group}`, which is not declared \
                     (declared: {})",
                    names(options.concurrency_groups.keys())
                )));
            }
        }
        if !concurrent {
            return Ok(());
        }
        if options.checkpoint_every_calls > 0 || options.checkpoint_every_ms > 0 {
            return Err(ControllerError::InvalidRequest(
                "a concurrent actor (max_concurrency above 1 or concurrency groups) cannot be \
                 checkpointed: calls are always in flight in it, so its state is never between \
                 two calls"
                    .into(),
            ));
        }
        let (_, exports) = self.exports(&spec.component).await?;
        let method = format!("[method]{}.", spec.class);
        let methods: Vec<&weft_values::Export> = exports
            .iter()
            .filter(|e| {
                if spec.class.is_empty() {
                    !e.function.starts_with('[')
                } else {
                    e.function.starts_with(&method)
                }
            })
            .collect();
        if methods.iter().any(|e| e.is_async) {
            return Ok(());
        }
        let plain: Vec<String> = methods
            .iter()
            .map(|e| match e.function.strip_prefix(&method) {
                Some(name) => name.to_string(),
                None => e.name(),
            })
            .collect();
        Err(ControllerError::InvalidRequest(format!(
            "max_concurrency {} needs an actor with `async func` methods (component-model \
             async: calls interleave where they await), and the methods of `{}` are all plain \
             exports, which hold the instance until they return: {}. Declare the methods that \
             wait `async func` in the WIT (`async fn` with wit-bindgen, `async def` with \
             componentize-py) and await weft:runtime/awaits in them, or use max_concurrency 1 \
             (or several actors)",
            options.max_concurrency.max(1),
            spec.component,
            plain.join(", ")
        )))
    }

    /// Creates an actor: checks the spec, writes its record, and has the
    /// leader place it. Returns the record (state `pending`).
    pub async fn create_actor(
        &self,
        spec: pb::ActorSpec,
        owner: String,
    ) -> Result<pb::ActorRecord, ControllerError> {
        self.ensure_leader().await?;
        let options = spec.options.clone().unwrap_or_default();
        self.check_concurrency(&spec, &options).await?;
        if options.cpus < 0.0 || !options.cpus.is_finite() {
            return Err(ControllerError::InvalidRequest(format!(
                "cpus must be 0 or more, not {}",
                options.cpus
            )));
        }
        let digest = self.state.resolve(&spec.component)?;
        let allow_http = self.state.http_grants(&digest)?;
        let mut spec = spec;
        if let Some(defaults) = self.default_env(&digest) {
            let options = spec.options.get_or_insert_with(Default::default);
            options.env_parts().fill_from(&defaults);
        }
        let record = pb::ActorRecord {
            id: format!("actor-{:016x}", new_id()),
            spec: Some(spec),
            digest,
            state: pb::ActorState::Pending.into(),
            owner,
            allow_http,
            created_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            ..Default::default()
        };
        self.tasks
            .create_actor(record.clone())
            .map_err(|e| ControllerError::InvalidRequest(e.to_string()))?;
        if let Err(e) = self.write_actor(&record).await {
            self.tasks.drop_actor(&record.id);
            return Err(e);
        }
        self.tasks.place_actor();
        Ok(record)
    }

    /// An actor by id or name (see [`pb::GetActorRequest`]).
    pub async fn get_actor(
        &self,
        request: &pb::GetActorRequest,
    ) -> Result<pb::ActorRecord, ControllerError> {
        self.ensure_leader().await?;
        let mut record = self.tasks.actor(request).await?.ok_or_else(|| {
            ControllerError::NotFound(if request.id.is_empty() {
                format!(
                    "no actor named `{}` in namespace `{}`",
                    request.name,
                    crate::tasks::actors::namespace(&request.namespace)
                )
            } else {
                format!("no actor {}", request.id)
            })
        })?;
        record.checkpoint.clear();
        Ok(record)
    }

    /// Every actor, dead ones included.
    pub async fn list_actors(&self) -> Result<Vec<pb::ActorRecord>, ControllerError> {
        self.ensure_leader().await?;
        Ok(self.tasks.actors())
    }

    /// Kills an actor; false if it was dead already.
    pub async fn kill_actor(&self, id: &str) -> Result<bool, ControllerError> {
        self.ensure_leader().await?;
        self.tasks.kill_actor(id)
    }

    async fn write_actor(&self, record: &pb::ActorRecord) -> Result<u64, ControllerError> {
        self.write(Command::PutActor {
            id: record.id.clone(),
            record: record.encode_to_vec(),
        })
        .await
        .map(|(_, index)| index)
    }

    /// Keeps actor records durable while this replica leads: writes every
    /// change the task manager reports, and on becoming leader reads the
    /// records the previous leader wrote.
    pub(crate) fn keep_actors(self: &Arc<Self>) {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        self.tasks.persist_actors_to(tx);
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                // Only the latest record of each actor needs writing: under
                // frequent checkpoints, writes coalesce instead of queueing.
                let mut latest = vec![first];
                while let Ok(record) = rx.try_recv() {
                    latest.retain(|r| r.id != record.id);
                    latest.push(record);
                }
                let Some(controller) = weak.upgrade() else {
                    return;
                };
                for record in latest {
                    if let Err(e) = controller.write_actor(&record).await {
                        tracing::warn!(actor = %record.id, error = %e, "cannot record an actor's state");
                    }
                }
            }
        });
        self.every(Duration::from_millis(100), |controller| async move {
            let leading =
                controller.raft.metrics().borrow().current_leader == Some(controller.config.id);
            if !leading || controller.tasks.actors_loaded() {
                return;
            }
            if let Err(e) = controller.load_actors().await {
                tracing::warn!(error = %e, "cannot read the actor records yet");
            }
        });
    }

    async fn load_actors(&self) -> Result<(), ControllerError> {
        self.read_barrier().await?;
        let records = self
            .state
            .actors(ACTORS_NAMESPACE)?
            .into_iter()
            .filter_map(|bytes| pb::ActorRecord::decode(bytes.as_slice()).ok())
            .map(pb::ActorRecord::upgrade)
            .collect::<Vec<_>>();
        tracing::info!(actors = records.len(), "took over the actor records");
        self.tasks.load_actors(records);
        Ok(())
    }
}

/// The key-value namespace older logs kept actor records in (now they are
/// typed commands in the cluster's own keyspace; see `Command::PutActor`).
const ACTORS_NAMESPACE: &str = "weft.actors";

/// `names` joined for a message, or `none`.
fn names<'a>(names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// A random id (actor ids must not repeat across leaders).
pub(crate) fn new_id() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}
