//! An actor's instance: one component instance that lives across calls, so
//! its linear memory is the actor's state.
//!
//! Two forms exist. A **class actor** is an exported WIT resource: its
//! constructor makes the actor, and each call is a `[method]` of that
//! resource on the one object. An **instance actor** is the component
//! itself: each call is one of its exported functions, all sharing the
//! instance's memory, with an optional exported function run first.
//!
//! A component that exports `weft:runtime/checkpoint` can have its state
//! saved (`save`) and put back into a fresh instance (`restore`), after
//! the constructor ran with its original arguments.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::Store;
use wasmtime::component::{Func, Instance, ResourceAny, Val};
use weft_core::Constructor;
use weft_values::{Value, WaveCall};

use crate::cache::Prepared;
use crate::error::HostError;
use crate::exports::{FunctionInfo, find_function};
use crate::grants::Grants;
use crate::invoke::{Limits, classify, store_for};
use crate::services::{GuestLog, TaskServices};
use crate::state::{CallState, OutputTail};
use crate::{Host, values};

/// How to start an actor.
#[derive(Debug, Clone)]
pub struct ActorStart {
    /// The exported resource that is the actor's class, or empty for an
    /// instance actor.
    pub class: String,
    /// How its constructor is called (for an instance actor, a WAVE call
    /// of an exported function to run first, or nothing).
    pub constructor: Constructor,
    /// Deadline of one call; `None` takes the host's default.
    pub call_timeout: Option<Duration>,
    /// Linear-memory limit of the instance.
    pub memory_limit: Option<u64>,
    /// What the component may do beyond the sandbox.
    pub grants: Grants,
    /// State to restore after the constructor (from `save`).
    pub checkpoint: Option<Vec<u8>>,
    /// Where what the instance prints is kept (the actor's log), beside
    /// the bounded tail its calls' errors quote.
    pub log: Option<GuestLog>,
}

/// A live actor instance. A call that fails inside the guest (a trap, the
/// deadline, the memory limit) leaves the instance unusable: the error says
/// so with [`ActorError::poisoned`], and the actor must restart.
pub struct ActorInstance {
    pub(crate) store: Store<CallState>,
    pub(crate) instance: Instance,
    pub(crate) this: Option<ResourceAny>,
    pub(crate) class: String,
    pub(crate) prepared: Arc<Prepared>,
    pub(crate) output: OutputTail,
    pub(crate) limits: Limits,
    checkpoint: Option<(Func, Func)>,
    /// Writes out the log's last lines when the instance goes.
    _log: Option<crate::invoke::LogFinish>,
}

/// A failed actor call.
#[derive(Debug)]
pub struct ActorError {
    /// What went wrong.
    pub error: HostError,
    /// Whether the instance ran into it (and is now unusable), as opposed
    /// to a call refused before it entered the guest.
    pub poisoned: bool,
}

impl From<HostError> for ActorError {
    fn from(error: HostError) -> Self {
        ActorError {
            error,
            poisoned: false,
        }
    }
}

impl Host {
    /// Makes a fresh instance of `prepared`, runs the constructor, and
    /// restores the checkpoint if there is one.
    pub async fn start_actor(
        &self,
        prepared: Arc<Prepared>,
        start: ActorStart,
        tasks: Option<Arc<dyn TaskServices>>,
    ) -> Result<ActorInstance, HostError> {
        let limits = Limits::new(&self.config, start.call_timeout, start.memory_limit)?;
        let output = OutputTail::new(self.config.output_limit);
        let label = if start.class.is_empty() {
            "actor".to_string()
        } else {
            start.class.clone()
        };
        let mut store = store_for(
            &self.engine,
            &prepared,
            &label,
            limits,
            &output,
            start.grants.clone(),
            tasks,
        );
        if let Some(log) = &start.log {
            store.data_mut().runtime.log = Some(log.clone());
            output.log_to(log.clone());
        }
        let instance = prepared
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(|e| classify(e, &label, limits, &store, &output))?;
        let checkpoint = checkpoint_funcs(&prepared, &instance, &mut store);
        let mut actor = ActorInstance {
            store,
            instance,
            this: None,
            class: start.class.clone(),
            prepared: prepared.clone(),
            output,
            limits,
            checkpoint,
            _log: start.log.clone().map(crate::invoke::LogFinish),
        };
        if !start.class.is_empty() {
            let function = member(&prepared.functions, &start.class, "[constructor]", "")?;
            let args = match &start.constructor {
                Constructor::Wave(text) if text.trim().is_empty() => Vec::new(),
                Constructor::Wave(text) => typed(function, text, 0)?,
                Constructor::Values(values) => checked(function, values.clone(), 0)?,
            };
            let results = actor.invoke(function, args).await.map_err(|e| e.error)?;
            match results.into_iter().next() {
                Some(Val::Resource(this)) => actor.this = Some(this),
                _ => {
                    return Err(HostError::internal(format!(
                        "the constructor of `{}` returned no resource",
                        start.class
                    )));
                }
            }
        } else {
            match &start.constructor {
                Constructor::Wave(text) if !text.trim().is_empty() => {
                    let call = WaveCall::parse(text).map_err(|e| HostError::BadArguments {
                        function: text.clone(),
                        detail: e.0,
                    })?;
                    let function = find_function(&prepared.functions, &call.function)?;
                    let args = typed(function, text, 0)?;
                    actor.invoke(function, args).await.map_err(|e| e.error)?;
                }
                Constructor::Values(values) if !values.is_empty() => {
                    return Err(HostError::BadArguments {
                        function: "an instance actor".into(),
                        detail: "it has no constructor to take arguments: name a function to run first as a WAVE call, or make the actor of a class".into(),
                    });
                }
                _ => {}
            }
        }
        if let Some(state) = start.checkpoint {
            let Some((_, restore)) = actor.checkpoint else {
                return Err(HostError::internal(
                    "a checkpoint exists but the component no longer exports weft:runtime/checkpoint",
                ));
            };
            actor
                .enter(
                    restore,
                    "checkpoint.restore",
                    vec![Val::List(state.into_iter().map(Val::U8).collect())],
                    0,
                )
                .await
                .map_err(|e| e.error)?;
        }
        Ok(actor)
    }
}

impl ActorInstance {
    /// Calls `method` with `args` (checked against its parameters after
    /// the actor itself); returns its result.
    pub async fn call(
        &mut self,
        method: &str,
        args: Vec<Value>,
    ) -> Result<Option<Value>, ActorError> {
        let prepared = self.prepared.clone();
        let (function, vals) = self.bind(&prepared, method, args)?;
        let results = self.invoke(function, vals).await?;
        result_of(function, results)
    }

    /// The export `method` names (a `[method]` of the class, or a function
    /// of an instance actor) and `args` as its parameters, the actor
    /// itself first for a method.
    fn bind<'p>(
        &self,
        prepared: &'p Prepared,
        method: &str,
        args: Vec<Value>,
    ) -> Result<(&'p FunctionInfo, Vec<Val>), HostError> {
        bind(prepared, &self.class, self.this, method, args)
    }
}

/// The export `method` names among `prepared`'s (a `[method]` of `class`
/// when the actor is the resource `this`, else a function of an instance
/// actor) and `args` as its parameters, the actor itself first for a
/// method.
pub(crate) fn bind<'p>(
    prepared: &'p Prepared,
    class: &str,
    this: Option<ResourceAny>,
    method: &str,
    args: Vec<Value>,
) -> Result<(&'p FunctionInfo, Vec<Val>), HostError> {
    {
        let (function, skip) = match &this {
            Some(_) => (member(&prepared.functions, class, "[method]", method)?, 1),
            None => (find_function(&prepared.functions, method)?, 0),
        };
        if skip == 0
            && let Some(reason) = &function.uncallable
        {
            return Err(HostError::Uncallable {
                function: function.name.clone(),
                reason: reason.clone(),
            });
        }
        let mut vals = checked(function, args, skip)?;
        if let Some(this) = this {
            vals.insert(0, Val::Resource(this));
        }
        Ok((function, vals))
    }
}

impl ActorInstance {
    /// The component's exported functions.
    pub fn functions(&self) -> &[FunctionInfo] {
        &self.prepared.functions
    }

    /// Whether the component exports `weft:runtime/checkpoint`.
    pub fn checkpoints(&self) -> bool {
        self.checkpoint.is_some()
    }

    /// The actor's state from `save`, if it exports the checkpoint interface.
    pub async fn save(&mut self) -> Result<Option<Vec<u8>>, ActorError> {
        let Some((save, _)) = self.checkpoint else {
            return Ok(None);
        };
        let results = self.enter(save, "checkpoint.save", Vec::new(), 1).await?;
        match results.into_iter().next() {
            Some(Val::List(items)) => Ok(Some(
                items
                    .into_iter()
                    .map(|v| match v {
                        Val::U8(b) => b,
                        _ => 0,
                    })
                    .collect(),
            )),
            _ => Err(HostError::internal("checkpoint.save returned no bytes").into()),
        }
    }

    /// What the guest printed lately (for errors and logs).
    pub fn output(&self) -> String {
        self.output.contents()
    }

    async fn invoke(
        &mut self,
        function: &FunctionInfo,
        args: Vec<Val>,
    ) -> Result<Vec<Val>, ActorError> {
        let func = self
            .instance
            .get_func(&mut self.store, function.index)
            .ok_or_else(|| HostError::internal(format!("export `{}` vanished", function.name)))?;
        self.enter(func, &function.name, args, function.results)
            .await
    }

    async fn enter(
        &mut self,
        func: Func,
        name: &str,
        args: Vec<Val>,
        results: usize,
    ) -> Result<Vec<Val>, ActorError> {
        let mut out = vec![Val::Bool(false); results];
        self.store.data_mut().deadline = Instant::now() + self.limits.timeout;
        let called = func.call_async(&mut self.store, &args, &mut out).await;
        if let Err(err) = called {
            return Err(ActorError {
                error: classify(err, name, self.limits, &self.store, &self.output),
                poisoned: true,
            });
        }
        Ok(out)
    }
}

/// What `function` returned, as a value.
pub(crate) fn result_of(
    function: &FunctionInfo,
    results: Vec<Val>,
) -> Result<Option<Value>, ActorError> {
    match (
        results.into_iter().next(),
        &function.export.signature.result,
    ) {
        (Some(val), Some(ty)) => values::from_val(val, ty)
            .map(Some)
            .map_err(|e| HostError::internal(e.0).into()),
        _ => Ok(None),
    }
}

/// The `[constructor]class` or `[method]class.method` export.
fn member<'a>(
    functions: &'a [FunctionInfo],
    class: &str,
    kind: &str,
    method: &str,
) -> Result<&'a FunctionInfo, HostError> {
    let wanted = if method.is_empty() {
        format!("{kind}{class}")
    } else {
        format!("{kind}{class}.{method}")
    };
    functions
        .iter()
        .find(|f| f.name == wanted || f.name.ends_with(&format!(".{wanted}")))
        .ok_or_else(|| {
            let prefix = format!("[method]{class}.");
            let methods: Vec<&str> = functions
                .iter()
                .filter_map(|f| f.name.split_once(&prefix).map(|(_, m)| m))
                .collect();
            let has_class = functions
                .iter()
                .any(|f| f.name.ends_with(&format!("[constructor]{class}")));
            HostError::UnknownFunction {
                function: if method.is_empty() {
                    format!("class `{class}`")
                } else {
                    format!("method `{method}` of `{class}`")
                },
                available: if !has_class {
                    "no exported resource of that name (an actor's class is an exported resource with a constructor)".into()
                } else if methods.is_empty() {
                    "no methods".into()
                } else {
                    methods.join(", ")
                },
            }
        })
}

/// `args` as wasmtime values of `function`'s parameters after the first
/// `skip` (the resource itself, for a method); trailing `option`s may be
/// left out.
fn checked(function: &FunctionInfo, args: Vec<Value>, skip: usize) -> Result<Vec<Val>, HostError> {
    let params = function.params().get(skip..).unwrap_or_default();
    let mut args =
        weft_values::conform_args(params, args).map_err(|e| HostError::BadArguments {
            function: function.name.clone(),
            detail: e.0,
        })?;
    args.resize(params.len(), Value::Option(None));
    args.into_iter()
        .zip(params)
        .map(|(v, (_, ty))| values::to_val(v, ty))
        .collect::<Result<_, _>>()
        .map_err(|e| HostError::BadArguments {
            function: function.name.clone(),
            detail: e.0,
        })
}

/// Parses the WAVE call `text` against `function`'s parameters after the
/// first `skip` (the resource itself, for a method).
fn typed(function: &FunctionInfo, text: &str, skip: usize) -> Result<Vec<Val>, HostError> {
    let bad = |detail: String| HostError::BadArguments {
        function: function.name.clone(),
        detail,
    };
    let call = WaveCall::parse(text).map_err(|e| bad(e.0))?;
    let params = function.params().get(skip..).unwrap_or_default();
    call.args(params)
        .and_then(|args| {
            args.into_iter()
                .zip(params)
                .map(|(v, (_, ty))| values::to_val(v, ty))
                .collect()
        })
        .map_err(|e| bad(e.0))
}

/// The exported `weft:runtime/checkpoint` functions, if any.
fn checkpoint_funcs(
    prepared: &Prepared,
    instance: &Instance,
    store: &mut Store<CallState>,
) -> Option<(Func, Func)> {
    let find = |name: &str| {
        prepared
            .functions
            .iter()
            .find(|f| f.name == format!("weft:runtime/checkpoint.{name}"))
    };
    let (save, restore) = (find("save")?, find("restore")?);
    Some((
        instance.get_func(&mut *store, save.index)?,
        instance.get_func(&mut *store, restore.index)?,
    ))
}
