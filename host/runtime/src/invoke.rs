//! Calling one exported function: arguments typed by the function's WIT
//! signature, a fresh instance from the pooling allocator, a deadline
//! enforced by epochs, a memory limit, and errors that say what went wrong.

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::{Func, Val};
use wasmtime::{Store, Trap, UpdateDeadline};
use weft_values::{Signature, Ty, Value, ValueError};

use crate::bytes_arg::BytesArg;
use crate::cache::Prepared;
use crate::error::HostError;
use crate::exports::{FunctionInfo, find_function};
use crate::grants::{Grants, OutboundHttp};
use crate::runtime::RuntimeCtx;
use crate::services::{GuestLog, TaskServices};
use crate::state::{CallState, OutputTail};
use crate::values;
use crate::warm::{Reuse, Warm};
use crate::{Host, HostConfig};

/// Which function to call and with what: values (the wire's form), or
/// text from a terminal or an HTTP body.
#[derive(Debug, Clone)]
pub enum CallSpec {
    /// A function and its arguments as values, one per parameter (they are
    /// checked against the parameters' types).
    Values {
        /// The function's name.
        function: String,
        /// The arguments.
        args: Vec<Value>,
    },
    /// `func(arg, ...)` in WAVE.
    Wave(String),
    /// A function name and a JSON array of arguments.
    Json {
        /// The function's name.
        function: String,
        /// The arguments, one per parameter.
        args: serde_json::Value,
    },
}

/// How to render a result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    /// WAVE text.
    #[default]
    Wave,
    /// JSON text.
    Json,
    /// Not rendered: the [`Value`] only (for tasks, whose results are
    /// encoded).
    Value,
}

/// One call: what to call and the limits to call it under.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The function and its arguments.
    pub call: CallSpec,
    /// Deadline; `None` takes [`HostConfig::default_timeout`].
    pub timeout: Option<Duration>,
    /// Memory limit in bytes; `None` takes [`HostConfig::default_memory_limit`].
    pub memory_limit: Option<u64>,
    /// Form of the rendered result.
    pub format: Format,
    /// What the component may do beyond the sandbox.
    pub grants: Grants,
    /// The task API, when the call runs as a task.
    pub tasks: Option<Arc<dyn TaskServices>>,
    /// Where the guest's output lines are kept (a task's log), beside the
    /// bounded tail returned with the outcome.
    pub log: Option<GuestLog>,
    /// Whether the call may run on an instance earlier calls used, and
    /// leave its own for later ones (`warm.rs`); `None`: a fresh one.
    pub reuse: Option<Reuse>,
    /// A call its instance makes first, unless it made this one already.
    pub setup: Option<Setup>,
}

/// A call an instance makes before the calls it serves, and again when it
/// changes: a Serve replica's `reconfigure(user_config)`. An instance kept
/// for reuse remembers the last it made, so a replica's instances run it
/// once per configuration rather than once per request, and keep what it
/// loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Setup {
    /// The export to call.
    pub function: String,
    /// Its arguments, a JSON array.
    pub args: serde_json::Value,
}

/// What a successful call produced.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// The rendered result, `None` for a function without one (and for
    /// [`Format::Value`]).
    pub result: Option<String>,
    /// The result, `None` for a function without one.
    pub value: Option<Value>,
    /// Time to instantiate the component.
    pub instantiate: Duration,
    /// Time inside the guest function.
    pub call: Duration,
    /// The tail of what the guest wrote to stdout and stderr.
    pub guest_output: String,
}

impl Host {
    /// Calls a function of a prepared component.
    ///
    /// Arguments are typed before anything is instantiated, so a bad call
    /// costs no instance. Unless it allows reuse, each call gets an
    /// instance no call has used (for a component slow to instantiate, one
    /// made ahead of it: `warm.rs`): a trap poisons only that instance, and
    /// nothing leaks from one call into the next. A call that allows reuse
    /// may run on an instance its scope's earlier calls left, and leaves
    /// its own when it succeeds.
    pub async fn call(
        &self,
        prepared: &Arc<Prepared>,
        invocation: Invocation,
    ) -> Result<CallOutcome, HostError> {
        let Invocation {
            call,
            timeout,
            memory_limit,
            format,
            grants,
            tasks,
            log,
            reuse,
            setup,
        } = invocation;
        // The last unended line is written out however the call ends.
        let _log_finish = log.clone().map(LogFinish);
        let (function, args) = typed_args(prepared, call)?;
        if let Some(reason) = &function.uncallable {
            return Err(HostError::Uncallable {
                function: function.name.clone(),
                reason: reason.clone(),
            });
        }
        let limits = Limits::new(&self.config, timeout, memory_limit)?;
        let started = Instant::now();
        // Instances made ahead have no environment: a call that has one
        // (a runtime env) gets its own.
        let made_ahead = tasks.as_ref().is_none_or(|t| t.runtime_env().is_empty());
        let CallStore {
            mut store,
            instance,
            output,
            served,
            setup: made,
        } = self.call_store(
            prepared,
            &function.name,
            limits,
            grants,
            tasks,
            reuse.as_ref(),
            made_ahead,
        );
        let instance = match instance {
            Some(instance) => instance,
            None => {
                let instantiating = Instant::now();
                match prepared.pre.instantiate_async(&mut store).await {
                    Ok(instance) => {
                        prepared
                            .warm
                            .instantiated_in(instantiating.elapsed(), self.config.warm_after);
                        instance
                    }
                    Err(err) => {
                        return Err(classify(err, &function.name, limits, &store, &output));
                    }
                }
            }
        };
        if let Some(log) = log {
            store.data_mut().runtime.log = Some(log.clone());
            output.log_to(log);
        }
        let instantiate = started.elapsed();
        // The next call's instance is made while this one runs (unless this
        // one's instance may serve it).
        if reuse.is_none() {
            self.maker.refill(prepared);
        }
        let fail = |store: &Store<CallState>, err: wasmtime::Error| {
            classify(err, &function.name, limits, store, &output)
        };

        let made = run_setup(
            prepared, &mut store, &instance, setup, made, limits, &output,
        )
        .await?;
        let func = instance
            .get_func(&mut store, function.index)
            .ok_or_else(|| HostError::internal(format!("export `{}` vanished", function.name)))?;
        let started = Instant::now();
        let value = match run(func, &mut store, &function.export.signature, args).await {
            Ok(value) => value,
            Err(err) => return Err(fail(&store, err)),
        };
        let call = started.elapsed();
        self.stats
            .calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let guest_output = output.contents();
        if let Some(reuse) = &reuse {
            let warm = Warm::used(store, instance, output, limits, reuse, served + 1, made);
            self.maker.keep(prepared, warm, reuse.max_calls);
        }
        let result = value.as_ref().and_then(|v| match format {
            Format::Wave => Some(weft_values::to_wave(v)),
            Format::Json => Some(weft_values::to_json(v).to_string()),
            Format::Value => None,
        });
        Ok(CallOutcome {
            result,
            value,
            instantiate,
            call,
            guest_output,
        })
    }
}

/// Flushes a call's (or an actor's) log when it ends, by any path.
pub(crate) struct LogFinish(pub(crate) GuestLog);

impl Drop for LogFinish {
    fn drop(&mut self) {
        self.0.finish();
    }
}

/// Signatures whose bytes go through wasmtime's typed calls (one copy of
/// the buffer into guest memory, one out) rather than a `Val` per byte:
/// one `list<u8>` in, and `list<u8>`, a string, an integer or nothing
/// out. (A `Val` per byte costs about 0.15 s a MiB.)
#[derive(Debug, Clone, Copy)]
enum BytesCall {
    ToBytes,
    ToString,
    ToU64,
    ToU32,
    ToNothing,
}

impl BytesCall {
    fn of(signature: &Signature) -> Option<Self> {
        match signature.params.as_slice() {
            [(_, ty)] if ty.is_bytes() => {}
            _ => return None,
        }
        match &signature.result {
            None => Some(BytesCall::ToNothing),
            Some(ty) if ty.is_bytes() => Some(BytesCall::ToBytes),
            Some(Ty::String) => Some(BytesCall::ToString),
            Some(Ty::U64) => Some(BytesCall::ToU64),
            Some(Ty::U32) => Some(BytesCall::ToU32),
            Some(_) => None,
        }
    }
}

/// Runs `setup` on `instance` unless `made` (the setup it ran last) is the
/// same; the setup it has run now.
pub(crate) async fn run_setup(
    prepared: &Prepared,
    store: &mut Store<CallState>,
    instance: &wasmtime::component::Instance,
    setup: Option<Setup>,
    made: Option<Setup>,
    limits: Limits,
    output: &OutputTail,
) -> Result<Option<Setup>, HostError> {
    let setup = match setup {
        Some(setup) if made.as_ref() != Some(&setup) => setup,
        _ => return Ok(made),
    };
    let (export, args) = typed_args(
        prepared,
        CallSpec::Json {
            function: setup.function.clone(),
            args: setup.args.clone(),
        },
    )?;
    let func = instance
        .get_func(&mut *store, export.index)
        .ok_or_else(|| HostError::internal(format!("export `{}` vanished", export.name)))?;
    if let Err(err) = run(func, store, &export.export.signature, args).await {
        return Err(classify(err, &export.name, limits, store, output));
    }
    Ok(Some(setup))
}

/// Calls `func` with `args` (already checked against `signature`) and
/// returns its result in weft's form.
pub(crate) async fn run(
    func: Func,
    store: &mut Store<CallState>,
    signature: &Signature,
    args: Vec<Value>,
) -> wasmtime::Result<Option<Value>> {
    if let (Some(kind), [Value::Bytes(data)]) = (BytesCall::of(signature), args.as_slice()) {
        let arg = (BytesArg(data),);
        return Ok(match kind {
            BytesCall::ToBytes => {
                let typed = func.typed::<(BytesArg<'_>,), (Vec<u8>,)>(&*store)?;
                Some(Value::from(typed.call_async(&mut *store, arg).await?.0))
            }
            BytesCall::ToString => {
                let typed = func.typed::<(BytesArg<'_>,), (String,)>(&*store)?;
                Some(Value::String(typed.call_async(&mut *store, arg).await?.0))
            }
            BytesCall::ToU64 => {
                let typed = func.typed::<(BytesArg<'_>,), (u64,)>(&*store)?;
                Some(Value::U64(typed.call_async(&mut *store, arg).await?.0))
            }
            BytesCall::ToU32 => {
                let typed = func.typed::<(BytesArg<'_>,), (u32,)>(&*store)?;
                Some(Value::U32(typed.call_async(&mut *store, arg).await?.0))
            }
            BytesCall::ToNothing => {
                let typed = func.typed::<(BytesArg<'_>,), ()>(&*store)?;
                typed.call_async(&mut *store, arg).await?;
                None
            }
        });
    }
    let vals = args
        .into_iter()
        .zip(&signature.params)
        .map(|(v, (_, ty))| values::to_val(v, ty))
        .collect::<Result<Vec<Val>, _>>()?;
    let mut results = vec![Val::Bool(false); usize::from(signature.result.is_some())];
    func.call_async(&mut *store, &vals, &mut results).await?;
    match (results.pop(), &signature.result) {
        (Some(val), Some(ty)) => Ok(Some(values::from_val(val, ty)?)),
        _ => Ok(None),
    }
}

/// Finds the function and conforms the arguments to its parameters (see
/// [`Ty::conform`](weft_values::Ty::conform)), before anything is
/// instantiated, so a bad call costs no instance.
fn typed_args(
    prepared: &Prepared,
    spec: CallSpec,
) -> Result<(&FunctionInfo, Vec<Value>), HostError> {
    let (function, args) = parse_args(prepared, spec)?;
    let args = weft_values::conform_args(&function.export.signature.params, args).map_err(|e| {
        HostError::BadArguments {
            function: function.name.clone(),
            detail: e.0,
        }
    })?;
    Ok((function, args))
}

/// The function and its arguments as values (not yet checked against its
/// types).
fn parse_args(
    prepared: &Prepared,
    spec: CallSpec,
) -> Result<(&FunctionInfo, Vec<Value>), HostError> {
    let bad = |function: &FunctionInfo, e: ValueError| HostError::BadArguments {
        function: function.name.clone(),
        detail: e.0,
    };
    match spec {
        CallSpec::Values { function, args } => {
            let function = find_function(&prepared.functions, &function)?;
            weft_values::check_arity(function.params(), args.len())
                .map_err(|e| bad(function, e))?;
            let mut args = args;
            // Trailing `option` parameters left out are `none`.
            args.resize(function.params().len(), Value::Option(None));
            Ok((function, args))
        }
        CallSpec::Wave(text) => parse_text(prepared, weft_values::CallText::Wave(text)),
        CallSpec::Json { function, args } => {
            parse_text(prepared, weft_values::CallText::Json { function, args })
        }
    }
}

fn parse_text(
    prepared: &Prepared,
    text: weft_values::CallText,
) -> Result<(&FunctionInfo, Vec<Value>), HostError> {
    weft_values::parse_call(&prepared.functions, |f| &f.export, text).map_err(|e| match e {
        weft_values::CallError::UnknownFunction(e) => HostError::UnknownFunction {
            function: e.requested,
            available: e.available,
        },
        weft_values::CallError::BadArguments { function, detail } => {
            HostError::BadArguments { function, detail }
        }
    })
}

/// The store one call runs in, and what it already holds.
pub(crate) struct CallStore {
    pub(crate) store: Store<CallState>,
    /// The instance a kept store brings; `None` for a fresh store, which
    /// the caller instantiates its own way.
    pub(crate) instance: Option<wasmtime::component::Instance>,
    pub(crate) output: OutputTail,
    /// Calls the instance has run before this one.
    pub(crate) served: u32,
    /// The setup call the instance made last.
    pub(crate) setup: Option<Setup>,
}

impl Host {
    /// The store for one call of `function`: an instance kept by the
    /// call's reuse scope (or made ahead, where `made_ahead` allows it),
    /// assigned to this call and counted; or else a fresh store with no
    /// instance yet. Tasks and Serve's HTTP requests both start here, so
    /// a kept instance is taken, re-armed and counted one way.
    #[allow(
        clippy::too_many_arguments,
        reason = "what a call runs under, each part owned by a different caller"
    )]
    pub(crate) fn call_store(
        &self,
        prepared: &Prepared,
        function: &str,
        limits: Limits,
        grants: Grants,
        tasks: Option<Arc<dyn TaskServices>>,
        reuse: Option<&Reuse>,
        made_ahead: bool,
    ) -> CallStore {
        match prepared.warm.take(limits, reuse, made_ahead) {
            Some(mut warm) => {
                warm.assign(&prepared.digest, function, limits, grants, tasks);
                let counter = match warm.served {
                    0 => &self.stats.warm_starts,
                    _ => &self.stats.reused,
                };
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                CallStore {
                    store: warm.store,
                    instance: Some(warm.instance),
                    output: warm.output,
                    served: warm.served,
                    setup: warm.setup,
                }
            }
            None => {
                let output = OutputTail::new(self.config.output_limit);
                let store = store_for(
                    &self.engine,
                    prepared,
                    function,
                    limits,
                    &output,
                    grants,
                    tasks,
                );
                CallStore {
                    store,
                    instance: None,
                    output,
                    served: 0,
                    setup: None,
                }
            }
        }
    }
}

/// A store for one call of `function`: the sandbox, the memory limit,
/// the captured output, and a deadline enforced at every epoch tick,
/// where a running guest either yields to the executor (so other calls
/// on this thread make progress) or, past its deadline, is interrupted.
pub(crate) fn store_for(
    engine: &wasmtime::Engine,
    prepared: &Prepared,
    function: &str,
    limits: Limits,
    output: &OutputTail,
    grants: Grants,
    tasks: Option<Arc<dyn TaskServices>>,
) -> Store<CallState> {
    let env = tasks
        .as_ref()
        .map(|t| t.runtime_env().clone())
        .unwrap_or_default();
    let outbound = OutboundHttp::new(grants, tasks.clone());
    let runtime = RuntimeCtx::new(&prepared.digest, function, tasks);
    let state = CallState::new(&env, limits.memory, output.clone(), runtime, outbound);
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.data_mut().deadline = Instant::now() + limits.timeout;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |store| {
        Ok(if Instant::now() >= store.data().deadline {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::Yield(1)
        })
    });
    store
}

/// The effective limits of one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) timeout: Duration,
    pub(crate) memory: u64,
}

impl Limits {
    pub(crate) fn new(
        config: &HostConfig,
        timeout: Option<Duration>,
        memory: Option<u64>,
    ) -> Result<Self, HostError> {
        let memory = memory.unwrap_or(config.default_memory_limit);
        if memory > config.max_memory_limit {
            return Err(HostError::LimitTooHigh(format!(
                "memory limit {} is above this host's maximum of {}",
                crate::error::bytes(memory),
                crate::error::bytes(config.max_memory_limit)
            )));
        }
        Ok(Limits {
            timeout: timeout.unwrap_or(config.default_timeout),
            memory,
        })
    }
}

/// Turns a failed instantiation or call into the error that explains it.
pub(crate) fn classify(
    err: wasmtime::Error,
    function: &str,
    limits: Limits,
    store: &Store<CallState>,
    output: &OutputTail,
) -> HostError {
    classify_refused(err, function, limits, store.data().limiter.refused, output)
}

/// [`classify`], given what the memory limiter refused (if it did) rather
/// than the store (a concurrent actor's calls hold it only between their
/// awaits).
pub(crate) fn classify_refused(
    err: wasmtime::Error,
    function: &str,
    limits: Limits,
    refused: Option<u64>,
    output: &OutputTail,
) -> HostError {
    let function = function.to_string();
    if err.downcast_ref::<Trap>() == Some(&Trap::Interrupt) {
        return HostError::Timeout {
            function,
            deadline: limits.timeout,
        };
    }
    if let Some(requested) = refused {
        return HostError::MemoryLimit {
            function,
            limit: limits.memory,
            requested,
        };
    }
    let printed = output.contents();
    let message = python_exception(&printed)
        .or_else(|| js_exception(&printed))
        .or_else(|| panic_message(&printed))
        .unwrap_or_else(|| match err.downcast_ref::<Trap>() {
            Some(trap) => trap.to_string(),
            None => err.root_cause().to_string(),
        });
    HostError::Trap { function, message }
}

/// A Python guest's uncaught exception, from the traceback its runtime
/// printed before trapping: `ValueError: boom ("app.py", line 7, in f)`,
/// then the traceback itself.
fn python_exception(output: &str) -> Option<String> {
    let start = output.rfind("Traceback (most recent call last):")?;
    let lines: Vec<&str> = output[start..].lines().collect();
    // Frames are indented; the exception is the first line after them that
    // is not.
    let end = (1..lines.len()).find(|&i| !lines[i].starts_with(' ') && !lines[i].is_empty())?;
    let exception = lines[end].trim();
    let location = lines[1..end]
        .iter()
        .rev()
        .find_map(|l| l.trim_start().strip_prefix("File "));
    let traceback = lines[..end].join("\n");
    Some(match location {
        Some(at) => format!("{exception} ({at})\n{traceback}"),
        None => format!("{exception}\n{traceback}"),
    })
}

/// The message of a Rust guest's panic, from what it printed to stderr:
/// `panicked at src/lib.rs:3:5:` followed by the message lines.
fn panic_message(output: &str) -> Option<String> {
    let start = output.rfind("panicked at ")?;
    let rest = &output[start..];
    let mut lines = rest.lines();
    let location = lines.next()?.trim_end_matches(':');
    let message: Vec<&str> = lines
        .take_while(|l| !l.starts_with("note: ") && !l.is_empty())
        .collect();
    Some(if message.is_empty() {
        location.to_string()
    } else {
        format!("{} ({location})", message.join(" "))
    })
}

/// A JavaScript guest's uncaught error, from what its runtime
/// (StarlingMonkey) printed before aborting: the message, then `Stack:` and
/// a frame per line. Read as `boom (at inner@app.js:2:9)`, then the stack.
fn js_exception(output: &str) -> Option<String> {
    let at = output.rfind("\nStack:\n")?;
    // The line before `Stack:` (what the guest printed earlier comes
    // before it with no separator, so a multi-line message keeps only its
    // last line).
    let message = output[..at].lines().next_back().filter(|l| !l.is_empty())?;
    let frames: Vec<&str> = output[at + "\nStack:\n".len()..]
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(str::trim)
        // The runtime's own glue says nothing about the guest's code.
        .filter(|f| !f.contains("/sources/initializer.js"))
        .collect();
    Some(match frames.first() {
        Some(top) => format!("{message} (at {top})\nStack:\n  {}", frames.join("\n  ")),
        None => message.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::{js_exception, panic_message, python_exception};

    #[test]
    fn js_exception_names_the_message_and_the_frame() {
        let out = "some log\nboom\nStack:\n  inner@app.js:2:9\n  boom@app.js:5:10\n  export_boom@/tmp/4e6f/sources/initializer.js:58:15\n\nRedirecting call to abort() to mozalloc_abort\n";
        assert_eq!(
            js_exception(out).as_deref(),
            Some("boom (at inner@app.js:2:9)\nStack:\n  inner@app.js:2:9\n  boom@app.js:5:10")
        );
        assert_eq!(js_exception("nothing"), None);
    }

    #[test]
    fn python_exception_names_the_type_the_message_and_the_line() {
        let out = "Traceback (most recent call last):\n  File \"/app.py\", line 12, in boom\n    return inner()\n  File \"/app.py\", line 11, in inner\n    raise ValueError(\"boom\")\nValueError: boom\nthread '<unnamed>' panicked at runtime/src/lib.rs:1280:25:\nPython function threw an unexpected exception\n";
        let message = python_exception(out).unwrap();
        assert!(
            message.starts_with("ValueError: boom (\"/app.py\", line 11, in inner)\nTraceback"),
            "{message}"
        );
        assert_eq!(python_exception("no traceback"), None);
    }

    #[test]
    fn panic_message_reads_rust_panics() {
        let out = "some output\nthread '<unnamed>' panicked at src/lib.rs:30:9:\nboom went the guest\nnote: run with `RUST_BACKTRACE=1`\n";
        assert_eq!(
            panic_message(out).as_deref(),
            Some("boom went the guest (panicked at src/lib.rs:30:9)")
        );
        assert_eq!(panic_message("no panic here"), None);
    }
}
