//! A connection to a cluster: one owner session (tasks, objects, actor
//! calls) and one RPC client (deploys, state, key-value), driven from
//! Python.

use std::collections::HashMap;
use std::future::Future;
use std::sync::LazyLock;
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};
use weft_client::{
    ActorHandle, ActorOptions, ActorState, Arg, Client, ClientError, ErrorClass, TaskClient,
    TaskState,
};
use weft_proto::{HasRuntimeEnv, InGroup};
use weft_values::{Signature, Ty};

use crate::convert;

/// The client's tasks run here; Python threads block on it with the GIL
/// released.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("weft-client")
        .enable_all()
        .build()
        .expect("a tokio runtime for the weft client")
});

pub(crate) fn block<F: Future + Send>(py: Python<'_>, future: F) -> F::Output
where
    F::Output: Send,
{
    py.detach(|| RUNTIME.block_on(future))
}

/// Raises the `weft` exception class `class` (defined in Python, so it can
/// inherit from builtins too) with `message` and attributes.
fn weft_error(py: Python<'_>, class: &str, message: String, attrs: &[(&str, String)]) -> PyErr {
    let made = (|| -> PyResult<PyErr> {
        let class = py.import("weft._errors")?.getattr(class)?;
        let error = class.call1((message.clone(),))?;
        for (k, v) in attrs {
            error.setattr(*k, v)?;
        }
        Ok(PyErr::from_value(error))
    })();
    made.unwrap_or_else(|e| e)
}

/// A client error as the Python exception a user catches.
pub(crate) fn raise(py: Python<'_>, error: ClientError) -> PyErr {
    let class = match error.class() {
        ErrorClass::ActorDied => "ActorDiedError",
        ErrorClass::ObjectLost => "ObjectLostError",
        ErrorClass::Canceled => "TaskCancelledError",
        ErrorClass::Task => "TaskError",
        ErrorClass::Timeout => "GetTimeoutError",
        ErrorClass::Connection => "WeftConnectionError",
        ErrorClass::InvalidArgument | ErrorClass::Other => "WeftError",
    };
    match error {
        ClientError::TaskFailed { id, kind, message } => weft_error(
            py,
            class,
            message,
            &[("kind", kind.as_str().to_string()), ("task_id", id)],
        ),
        ClientError::InvalidArgument(message) => PyTypeError::new_err(message),
        other => weft_error(py, class, other.to_string(), &[]),
    }
}

pub(crate) fn seconds(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    timeout
        .map(|t| {
            Duration::try_from_secs_f64(t.max(0.0)).map_err(|_| {
                PyValueError::new_err(format!("timeout {t} is not a number of seconds"))
            })
        })
        .transpose()
}

/// `args` converted by `params`; a wrong one is a `TypeError` naming the
/// function (`label`), the parameter and its WIT type. An `ObjectRef` for a
/// parameter of another type passes by reference: the task waits for it
/// and gets its value.
fn convert_args(
    label: &str,
    params: &[(String, Ty)],
    args: &Bound<'_, PyList>,
) -> PyResult<Vec<Arg>> {
    if args.len() != params.len() {
        return Err(PyTypeError::new_err(format!(
            "{label} takes {}",
            weft_values::describe_arity(params, args.len())
        )));
    }
    args.iter()
        .zip(params)
        .map(|(arg, (name, ty))| {
            if *ty != Ty::ObjectRef
                && let Some(id) = convert::object_ref_id(&arg)?
            {
                return Ok(Arg::Ref(id));
            }
            convert::to_value(&arg, ty).map(Arg::Value).map_err(|m| {
                PyTypeError::new_err(m.for_parameter(label, &name.replace('-', "_"), ty))
            })
        })
        .collect()
}

/// The options tasks and actors share (the placement group their work
/// goes into, and their runtime environment); false for any other key.
fn shared_option<O: HasRuntimeEnv + InGroup>(
    out: &mut O,
    key: &str,
    value: &Bound<'_, PyAny>,
) -> PyResult<bool> {
    match key {
        "placement_group" => *out.group_parts().group = value.extract()?,
        "bundle_index" => *out.group_parts().bundle_index = Some(value.extract()?),
        "capture_child_tasks" => *out.group_parts().capture_child_tasks = value.extract()?,
        "env" => *out.env_parts().env = value.extract()?,
        "config" => *out.env_parts().config = value.extract()?,
        "secrets" => *out.env_parts().secrets = value.extract()?,
        "dirs" => *out.env_parts().dirs = value.extract()?,
        _ => return Ok(false),
    }
    Ok(true)
}

fn task_options(options: Option<&Bound<'_, PyDict>>) -> PyResult<weft_client::TaskOptions> {
    let mut out = weft_client::TaskOptions::default();
    let Some(options) = options else {
        return Ok(out);
    };
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        match key.as_str() {
            "cpus" => {
                out.has_cpus = true;
                out.cpus = value.extract()?;
            }
            "gpus" => out.gpus = value.extract()?,
            "memory" => out.memory = value.extract()?,
            "memory_limit" => out.memory_limit_bytes = value.extract()?,
            "custom" => out.custom = value.extract()?,
            "max_retries" => {
                out.has_max_retries = true;
                out.max_retries = value.extract()?;
            }
            "retry_on_trap" => out.retry_on_trap = value.extract()?,
            "timeout_ms" => out.timeout_ms = value.extract()?,
            "strategy" => out.strategy = value.extract()?,
            "affinity_host" => out.affinity_host = value.extract()?,
            "affinity_soft" => out.affinity_soft = value.extract()?,
            "max_calls" => out.max_calls = value.extract()?,
            "streaming" => out.streaming = value.extract()?,
            "stream_backpressure" => out.stream_backpressure = value.extract()?,
            other if shared_option(&mut out, other, &value)? => {}
            other => {
                return Err(PyTypeError::new_err(format!(
                    "unknown task option `{other}`"
                )));
            }
        }
    }
    Ok(out)
}

/// A connection to one cluster.
/// An object read in place, pinned in its host's store for as long as
/// this lives: the Python mapping of its pages holds one.
#[pyclass(frozen, module = "weft._native")]
pub struct Pinned(
    #[allow(dead_code, reason = "held for its drop")] weft_client::objects::ObjectBytes,
);

/// A streaming task's items (`weft.ObjectRefGenerator` wraps it). Dropped
/// before its end, it lets go of the unread items and cancels the task.
#[pyclass(frozen, module = "weft._native")]
pub struct ItemStream(tokio::sync::Mutex<weft_client::ItemStream>);

#[pymethods]
impl ItemStream {
    /// The next item's id, or None at the end; raises the task's failure
    /// after its items, and GetTimeoutError past `timeout` seconds.
    #[pyo3(signature = (timeout=None))]
    fn next(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<String>> {
        let timeout = seconds(timeout)?;
        block(py, async { self.0.lock().await.next(timeout).await }).map_err(|e| raise(py, e))
    }

    /// The streaming task's id.
    fn task_id(&self, py: Python<'_>) -> String {
        block(py, async { self.0.lock().await.task_id().to_string() })
    }
}

#[pyclass(frozen, module = "weft._native")]
pub struct Session {
    tasks: TaskClient,
    rpc: tokio::sync::Mutex<Client>,
    address: String,
}

impl Session {
    fn signature(&self, py: Python<'_>, component: &str, function: &str) -> PyResult<Signature> {
        block(py, self.tasks.signature(component, function)).map_err(|e| match e {
            ClientError::InvalidArgument(m) => weft_error(py, "WeftError", m, &[]),
            other => raise(py, other),
        })
    }

    /// The handle and the typed arguments of a call of actor `id`'s
    /// `method` (of `component`'s `class`).
    fn call_args(
        &self,
        py: Python<'_>,
        id: &str,
        component: &str,
        class: &str,
        method: &str,
        args: &Bound<'_, PyList>,
    ) -> PyResult<(ActorHandle, Vec<Arg>)> {
        let params = self.method_params(py, component, class, method)?;
        let args = convert_args(&format!("actor {id}.{method}"), &params, args)?;
        Ok((ActorHandle { id: id.to_string() }, args))
    }

    /// The parameters of a class actor's method (after the actor itself)
    /// or an instance actor's function.
    fn method_params(
        &self,
        py: Python<'_>,
        component: &str,
        class: &str,
        function: &str,
    ) -> PyResult<Vec<(String, Ty)>> {
        block(py, self.tasks.method_params(component, class, function)).map_err(|e| match e {
            ClientError::InvalidArgument(m) => weft_error(py, "WeftError", m, &[]),
            other => raise(py, other),
        })
    }
}

#[pymethods]
impl Session {
    /// Connects to `address` (`host:port`, or several replicas
    /// comma-separated) and opens an owner session.
    #[new]
    fn new(py: Python<'_>, address: &str) -> PyResult<Self> {
        let (tasks, rpc) = block(py, async {
            let rpc = Client::connect(address).await?;
            let tasks = TaskClient::connect(address).await?;
            Ok::<_, ClientError>((tasks, rpc))
        })
        .map_err(|e| raise(py, e))?;
        Ok(Session {
            tasks,
            rpc: tokio::sync::Mutex::new(rpc),
            address: address.to_string(),
        })
    }

    /// The address it connected to.
    #[getter]
    fn address(&self) -> &str {
        &self.address
    }

    /// Uploads a component, and with `prepare` waits while every host makes
    /// it ready; returns `(digest, [function names])`.
    #[pyo3(signature = (wasm, name=None, prepare=true))]
    fn deploy(
        &self,
        py: Python<'_>,
        wasm: Vec<u8>,
        name: Option<&str>,
        prepare: bool,
    ) -> PyResult<(String, Vec<String>)> {
        let reply = block(py, async {
            let mut rpc = self.rpc.lock().await;
            let reply = rpc.deploy(wasm, name).await?;
            if let Some(info) = reply.component.as_ref().filter(|_| prepare) {
                rpc.prepare(&info.digest, None).await?.finish().await?;
            }
            Ok(reply)
        })
        .map_err(|e| raise(py, e))?;
        let info = reply.component.unwrap_or_default();
        Ok((
            info.digest,
            info.functions.into_iter().map(|f| f.name).collect(),
        ))
    }

    /// Sets `component`'s default runtime environment.
    #[pyo3(signature = (component, env, config, secrets, dirs))]
    fn set_runtime_env(
        &self,
        py: Python<'_>,
        component: &str,
        env: HashMap<String, String>,
        config: HashMap<String, String>,
        secrets: Vec<String>,
        dirs: Vec<String>,
    ) -> PyResult<String> {
        let env = weft_proto::v1::RuntimeEnv {
            env,
            config,
            secrets,
            dirs,
        };
        block(py, async {
            self.rpc.lock().await.set_runtime_env(component, env).await
        })
        .map_err(|e| raise(py, e))
    }

    /// Starts a Tune experiment from its spec as JSON
    /// (`weft_client::tune::spec_from_json`); returns its id.
    #[pyo3(signature = (spec, id=None))]
    fn tune_run(&self, py: Python<'_>, spec: &str, id: Option<String>) -> PyResult<String> {
        let spec = weft_client::tune::spec_from_json(spec).map_err(PyValueError::new_err)?;
        let record = block(py, async { self.rpc.lock().await.run_tune(spec, id).await })
            .map_err(|e| raise(py, e))?;
        Ok(record.id)
    }

    /// An experiment (by id or name) and its trials as JSON text.
    fn tune_status(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        let status = block(py, async { self.rpc.lock().await.tune_status(id).await })
            .map_err(|e| raise(py, e))?;
        Ok(weft_client::tune::status_json(&status).to_string())
    }

    /// Every experiment, newest first, as JSON text.
    fn tune_list(&self, py: Python<'_>) -> PyResult<String> {
        let all = block(py, async { self.rpc.lock().await.tune_experiments().await })
            .map_err(|e| raise(py, e))?;
        Ok(weft_client::tune::experiments_json(&all).to_string())
    }

    /// Goes on with an ended experiment (see `Client::resume_tune`);
    /// returns its id.
    #[pyo3(signature = (id, num_samples=0, param_space="", restart_errored=false))]
    fn tune_resume(
        &self,
        py: Python<'_>,
        id: &str,
        num_samples: u32,
        param_space: &str,
        restart_errored: bool,
    ) -> PyResult<String> {
        let record = block(py, async {
            self.rpc
                .lock()
                .await
                .resume_tune(id, num_samples, param_space, restart_errored)
                .await
        })
        .map_err(|e| raise(py, e))?;
        Ok(record.id)
    }

    /// Stops an experiment; returns its state.
    fn tune_stop(&self, py: Python<'_>, id: &str) -> PyResult<String> {
        let record = block(py, async { self.rpc.lock().await.stop_tune(id).await })
            .map_err(|e| raise(py, e))?;
        Ok(record.state().name().to_string())
    }

    /// Declares the applications of an application file's text (YAML or
    /// JSON) and waits up to `wait` seconds for their replicas; returns
    /// their statuses as JSON text.
    fn serve_run(&self, py: Python<'_>, text: &str, wait: f64) -> PyResult<String> {
        let apps = weft_client::serve::read_app_file(text)
            .map_err(|e| PyValueError::new_err(format!("not an application: {e}")))?;
        let wait = Duration::from_secs_f64(wait.max(0.0));
        let (status, waiting) = block(py, async {
            self.rpc.lock().await.run_serve_apps(apps, wait).await
        })
        .map_err(|e| raise(py, e))?;
        if !waiting.is_empty() && !wait.is_zero() {
            return Err(weft_error(
                py,
                "GetTimeoutError",
                format!(
                    "after {} s still waiting for: {}",
                    wait.as_secs_f64(),
                    waiting.join(", ")
                ),
                &[],
            ));
        }
        Ok(weft_client::serve::statuses_json(&status))
    }

    /// Every Serve application's status (or `app`'s) as JSON text.
    fn serve_status(&self, py: Python<'_>, app: &str) -> PyResult<String> {
        let status = block(py, async { self.rpc.lock().await.serve_status(app).await })
            .map_err(|e| raise(py, e))?;
        Ok(weft_client::serve::statuses_json(&status))
    }

    /// A handle to `deployment` of Serve application `app`.
    fn serve_handle(
        &self,
        py: Python<'_>,
        app: &str,
        deployment: &str,
    ) -> PyResult<crate::serve_handle::DeploymentHandle> {
        let handle = block(py, async {
            self.rpc
                .lock()
                .await
                .deployment_handle(app, deployment)
                .await
        })
        .map_err(|e| raise(py, e))?;
        Ok(crate::serve_handle::DeploymentHandle(handle))
    }

    /// Deletes Serve application `app`.
    fn serve_delete(&self, py: Python<'_>, app: &str) -> PyResult<()> {
        block(py, async {
            self.rpc.lock().await.delete_serve_app(app).await
        })
        .map_err(|e| raise(py, e))
    }

    /// The callable exports of `component`: `(interface or None, function,
    /// [(param, WIT type)], result WIT type or None)`.
    #[allow(
        clippy::type_complexity,
        reason = "the tuple is what Python receives; a named type would only be unpacked again"
    )]
    fn exports(
        &self,
        py: Python<'_>,
        component: &str,
    ) -> PyResult<
        Vec<(
            Option<String>,
            String,
            Vec<(String, String)>,
            Option<String>,
        )>,
    > {
        let (_, exports) = block(py, async {
            self.rpc.lock().await.describe(component).await
        })
        .map_err(|e| raise(py, e))?;
        Ok(exports
            .into_iter()
            .map(|e| {
                let params = e
                    .signature
                    .params
                    .iter()
                    .map(|(n, t)| (n.clone(), t.to_string()))
                    .collect();
                let result = e.signature.result.as_ref().map(Ty::to_string);
                (e.interface, e.function, params, result)
            })
            .collect())
    }

    /// Submits `component`'s `function` with Python `args`; returns the
    /// task's id.
    #[pyo3(signature = (component, function, args, options=None))]
    fn submit(
        &self,
        py: Python<'_>,
        component: &str,
        function: &str,
        args: &Bound<'_, PyList>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<String> {
        let signature = self.signature(py, component, function)?;
        let label = format!("{component}.{function}");
        let args = convert_args(&label, &signature.params, args)?;
        let options = task_options(options)?;
        block(py, self.tasks.submit(component, function, args, options)).map_err(|e| raise(py, e))
    }

    /// Waits for `ids` and returns, per id, `(0, value)`, `(1, (path,
    /// start, end))` for bytes readable in place from a store file on this
    /// machine, or `(2, err)` for a function whose `result` was an error.
    #[pyo3(signature = (ids, timeout=None))]
    fn get(
        &self,
        py: Python<'_>,
        ids: Vec<String>,
        timeout: Option<f64>,
    ) -> PyResult<Vec<Py<PyAny>>> {
        let timeout = seconds(timeout)?;
        let objects = block(py, self.tasks.get_objects(&ids, timeout)).map_err(|e| raise(py, e))?;
        objects
            .into_iter()
            .map(|object| {
                if let (true, Some((path, offset))) = (object.is_bytes(), object.mapped_at()) {
                    let (path, range) = (path.display().to_string(), object.payload_range());
                    let len = object.encoded().len();
                    let pin = Py::new(py, Pinned(object))?;
                    let where_ = (path, offset, len, range.start, range.end, pin);
                    return Ok((1, where_).into_pyobject(py)?.into_any().unbind());
                }
                if object.is_bytes() {
                    let data = PyBytes::new(py, &object);
                    return Ok((0, data).into_pyobject(py)?.into_any().unbind());
                }
                let value = object.value().map_err(|e| {
                    weft_error(py, "WeftError", format!("an undecodable value: {e}"), &[])
                })?;
                Ok(match convert::top_level(py, &value)? {
                    Ok(v) => (0, v).into_pyobject(py)?.into_any().unbind(),
                    Err(e) => (2, e).into_pyobject(py)?.into_any().unbind(),
                })
            })
            .collect()
    }

    /// Waits until `num_returns` of `ids` are done or `timeout` passes;
    /// returns `(ready, not_ready)`, each in the order of `ids`.
    #[pyo3(signature = (ids, num_returns, timeout=None))]
    fn wait(
        &self,
        py: Python<'_>,
        ids: Vec<String>,
        num_returns: usize,
        timeout: Option<f64>,
    ) -> PyResult<(Vec<String>, Vec<String>)> {
        let timeout = seconds(timeout)?;
        let (ready, _) =
            block(py, self.tasks.wait(&ids, num_returns, timeout)).map_err(|e| raise(py, e))?;
        let done: std::collections::HashSet<&str> = ready.iter().map(|r| r.id.as_str()).collect();
        let (mut ready_ids, mut pending) = (Vec::new(), Vec::new());
        for id in ids {
            if done.contains(id.as_str()) && ready_ids.len() < num_returns {
                ready_ids.push(id);
            } else {
                pending.push(id);
            }
        }
        Ok((ready_ids, pending))
    }

    /// Lets go of refs: the cluster frees each object once nothing else
    /// refers to it.
    fn release(&self, ids: Vec<String>) {
        self.tasks.release(&ids);
    }

    /// How many results the cluster has sent this session: each task is
    /// reported once, even across leader failovers.
    fn deliveries(&self) -> u64 {
        self.tasks.deliveries()
    }

    /// Cancels a task; false when it had already finished.
    fn cancel(&self, py: Python<'_>, id: &str) -> PyResult<bool> {
        block(py, self.tasks.cancel(id)).map_err(|e| raise(py, e))
    }

    /// The items of streaming task `id`, read in order; `backpressure`:
    /// the task was given a limit, so its producer hears what is read.
    fn stream(&self, id: &str, backpressure: bool) -> ItemStream {
        ItemStream(tokio::sync::Mutex::new(self.tasks.stream(id, backpressure)))
    }

    /// Puts bytes in the object store; returns the object's id. `bytes`
    /// and arrays exposing `__array_interface__` (NumPy) are read in place,
    /// other buffers copied once.
    fn put(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<String> {
        if let Ok(bytes) = data.cast::<PyBytes>() {
            // Immutable: read without the GIL while the store copies it.
            let slice = bytes.as_bytes();
            return block(py, self.tasks.put(slice)).map_err(|e| raise(py, e));
        }
        if let Some(slice) = crate::buffer::array_bytes(data)? {
            // A mutable array: the GIL stays held while the store copies
            // it, so no Python thread writes to it meanwhile.
            return RUNTIME
                .block_on(self.tasks.put(slice))
                .map_err(|e| raise(py, e));
        }
        let copied = match convert::to_value(data, &Ty::List(Box::new(Ty::U8))) {
            Ok(weft_values::Value::Bytes(b)) => b,
            _ => {
                return Err(PyTypeError::new_err(format!(
                    "weft.put takes bytes, bytearray, memoryview or another buffer (a NumPy array), not {}",
                    data.get_type().name()?
                )));
            }
        };
        block(py, self.tasks.put(&copied)).map_err(|e| raise(py, e))
    }

    /// Creates an actor: `class` is the WIT resource (empty for an instance
    /// actor); `args` go to its constructor. Returns its id once alive.
    #[pyo3(signature = (component, class, args, options=None))]
    fn create_actor(
        &self,
        py: Python<'_>,
        component: &str,
        class: &str,
        args: &Bound<'_, PyList>,
        options: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<String> {
        let constructor = if class.is_empty() {
            if !args.is_empty() {
                return Err(PyTypeError::new_err(
                    "an instance actor takes no constructor arguments",
                ));
            }
            String::new()
        } else {
            let params = self.method_params(py, component, class, "constructor")?;
            let label = format!("{component}.{class}()");
            let values = convert_args(&label, &params, args)?
                .into_iter()
                .map(|a| match a {
                    Arg::Value(v) => Ok(weft_values::to_wave(&v)),
                    _ => Err(PyTypeError::new_err(format!(
                        "{label}: a constructor takes values, not refs"
                    ))),
                })
                .collect::<PyResult<Vec<_>>>()?;
            format!("new({})", values.join(", "))
        };
        let options = actor_options(options)?;
        let record = block(py, async {
            let handle = self
                .tasks
                .create_actor(component, class, &constructor, options)
                .await?;
            self.tasks
                .wait_actor_alive(&handle, Duration::from_secs(120))
                .await
        })
        .map_err(|e| raise(py, e))?;
        if record.state() != ActorState::Alive {
            return Err(weft_error(
                py,
                "ActorDiedError",
                format!("actor {} did not start: {}", record.id, record.cause),
                &[("kind", "actor-died".into()), ("task_id", record.id)],
            ));
        }
        Ok(record.id)
    }

    /// The component and class of actor `id`: what its methods are typed by.
    fn actor_spec(&self, py: Python<'_>, id: &str) -> PyResult<(String, String)> {
        let handle = ActorHandle { id: id.to_string() };
        let record = block(py, self.tasks.describe_actor(&handle)).map_err(|e| raise(py, e))?;
        let spec = record.spec.unwrap_or_default();
        Ok((spec.component, spec.class))
    }

    /// Calls `method` of actor `id` (of `component`'s `class`); returns the
    /// call's ref.
    fn call_actor(
        &self,
        py: Python<'_>,
        id: &str,
        component: &str,
        class: &str,
        method: &str,
        args: &Bound<'_, PyList>,
    ) -> PyResult<String> {
        let (handle, args) = self.call_args(py, id, component, class, method, args)?;
        let _guard = RUNTIME.enter();
        self.tasks
            .call(&handle, method, args)
            .map_err(|e| raise(py, e))
    }

    /// Calls `method` of actor `id` as a stream: the items it emits.
    fn call_actor_stream(
        &self,
        py: Python<'_>,
        id: &str,
        component: &str,
        class: &str,
        method: &str,
        args: &Bound<'_, PyList>,
    ) -> PyResult<ItemStream> {
        let (handle, args) = self.call_args(py, id, component, class, method, args)?;
        let _guard = RUNTIME.enter();
        let items = self
            .tasks
            .call_stream(&handle, method, args)
            .map_err(|e| raise(py, e))?;
        Ok(ItemStream(tokio::sync::Mutex::new(items)))
    }

    /// The id of the live actor named `name` in `namespace`.
    #[pyo3(signature = (name, namespace=""))]
    fn get_actor(&self, py: Python<'_>, name: &str, namespace: &str) -> PyResult<String> {
        block(py, self.tasks.get_actor(name, namespace))
            .map(|h| h.id)
            .map_err(|e| raise(py, e))
    }

    /// Kills actor `id`; false when it was already dead.
    fn kill_actor(&self, py: Python<'_>, id: &str) -> PyResult<bool> {
        let handle = ActorHandle { id: id.to_string() };
        block(py, self.tasks.kill_actor(&handle)).map_err(|e| raise(py, e))
    }

    /// Asks for a placement group of `bundles` (dicts of `CPU`, `GPU`,
    /// `memory` and custom resources); returns its record as a dict.
    #[pyo3(signature = (bundles, strategy, name, namespace, detached))]
    fn create_placement_group(
        &self,
        py: Python<'_>,
        bundles: Vec<HashMap<String, f64>>,
        strategy: &str,
        name: &str,
        namespace: &str,
        detached: bool,
    ) -> PyResult<Py<PyAny>> {
        let strategy = weft_proto::v1::PlacementStrategy::parse(strategy)
            .map_err(|e| PyValueError::new_err(e.to_string()))?;
        let bundles = bundles
            .into_iter()
            .map(bundle)
            .collect::<PyResult<Vec<_>>>()?;
        let spec = weft_client::groups::PlacementGroupSpec {
            bundles,
            strategy: strategy.into(),
            name: name.to_string(),
            namespace: namespace.to_string(),
            detached,
            ..Default::default()
        };
        let record =
            block(py, self.tasks.create_placement_group(spec)).map_err(|e| raise(py, e))?;
        group_dict(py, record)
    }

    /// A placement group by id or name, as a dict, waiting up to `wait`
    /// seconds for it to be created.
    #[pyo3(signature = (id, name, namespace, wait))]
    fn placement_group(
        &self,
        py: Python<'_>,
        id: &str,
        name: &str,
        namespace: &str,
        wait: f64,
    ) -> PyResult<Py<PyAny>> {
        let wait = seconds(Some(wait))?.unwrap_or_default();
        let record = block(py, async {
            if id.is_empty() {
                self.tasks.placement_group_named(name, namespace).await
            } else {
                self.tasks.wait_placement_group(id, wait).await
            }
        })
        .map_err(|e| raise(py, e))?;
        group_dict(py, record)
    }

    /// Every placement group as a dict.
    fn placement_groups(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        block(py, self.tasks.list_placement_groups())
            .map_err(|e| raise(py, e))?
            .into_iter()
            .map(|r| group_dict(py, r))
            .collect()
    }

    /// Removes placement group `id`; false when it was removed already.
    fn remove_placement_group(&self, py: Python<'_>, id: &str) -> PyResult<bool> {
        block(py, self.tasks.remove_placement_group(id)).map_err(|e| raise(py, e))
    }

    /// Live actors as dicts.
    fn actors(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let records = block(py, self.tasks.list_actors()).map_err(|e| raise(py, e))?;
        records
            .into_iter()
            .map(|r| {
                let state = r.state().name();
                let spec = r.spec.unwrap_or_default();
                let options = spec.options.unwrap_or_default();
                let d = PyDict::new(py);
                d.set_item("id", r.id)?;
                d.set_item("component", spec.component)?;
                d.set_item("class", spec.class)?;
                d.set_item("name", options.name)?;
                d.set_item("namespace", options.namespace)?;
                d.set_item("state", state)?;
                d.set_item("host", r.host)?;
                d.set_item("restarts", r.restarts)?;
                d.set_item("calls", r.calls)?;
                Ok(d.into_any().unbind())
            })
            .collect()
    }

    /// Hosts as dicts.
    fn nodes(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let nodes = block(py, async { self.rpc.lock().await.list_nodes().await })
            .map_err(|e| raise(py, e))?;
        nodes
            .into_iter()
            .map(|n| {
                let d = PyDict::new(py);
                d.set_item("id", n.id)?;
                d.set_item("address", n.address)?;
                d.set_item("alive", n.alive)?;
                d.set_item("resources", resources(py, &n.total.unwrap_or_default())?)?;
                d.set_item("used", resources(py, &n.used.unwrap_or_default())?)?;
                d.set_item("running", n.running)?;
                let engine = n.engine.unwrap_or_default();
                let e = PyDict::new(py);
                e.set_item("compiled", engine.compiled)?;
                e.set_item("loaded_from_disk", engine.loaded_from_disk)?;
                e.set_item("calls", engine.calls)?;
                e.set_item("warm_starts", engine.warm_starts)?;
                e.set_item("reused", engine.reused)?;
                d.set_item("engine", e)?;
                Ok(d.into_any().unbind())
            })
            .collect()
    }

    /// The cluster's objects, newest first (at most `limit`), as dicts
    /// (what `weft list objects` shows).
    #[pyo3(signature = (limit=100))]
    fn objects(&self, py: Python<'_>, limit: u32) -> PyResult<Vec<Py<PyAny>>> {
        let (objects, _) = block(py, async {
            self.rpc.lock().await.list_objects(limit).await
        })
        .map_err(|e| raise(py, e))?;
        objects
            .into_iter()
            .map(|o| {
                let d = PyDict::new(py);
                d.set_item("id", o.id)?;
                d.set_item("kind", o.kind)?;
                d.set_item("owner", o.owner)?;
                d.set_item("size", o.size)?;
                d.set_item("held_by", o.held_by)?;
                d.set_item("refs", o.refs)?;
                let copies: Vec<(String, String, u32)> = o
                    .copies
                    .iter()
                    .map(|c| (c.host.clone(), c.state().name().to_lowercase(), c.pins))
                    .collect();
                d.set_item("copies", copies)?;
                Ok(d.into_any().unbind())
            })
            .collect()
    }

    /// Every live host's object store: use, capacity, spills and its
    /// `largest` objects, as dicts (what `weft memory` shows).
    #[pyo3(signature = (largest=10))]
    fn memory(&self, py: Python<'_>, largest: u32) -> PyResult<Vec<Py<PyAny>>> {
        let stats = block(py, async {
            let nodes = self.rpc.lock().await.list_nodes().await?;
            let mut out = Vec::new();
            for node in nodes.into_iter().filter(|n| n.alive) {
                out.push(weft_client::objects::store_stats(&node.address, largest).await?);
            }
            Ok::<_, ClientError>(out)
        })
        .map_err(|e| raise(py, e))?;
        stats
            .into_iter()
            .map(|s| {
                let d = PyDict::new(py);
                d.set_item("host", s.host)?;
                d.set_item("dir", s.dir)?;
                d.set_item("capacity", s.capacity)?;
                d.set_item("used", s.used)?;
                d.set_item("largest_free", s.largest_free)?;
                d.set_item("client_pins", s.client_pins)?;
                d.set_item("objects", s.objects)?;
                d.set_item("spilled_bytes", s.spilled_bytes)?;
                d.set_item("spills", s.spills)?;
                d.set_item("evictions", s.evictions)?;
                let largest: Vec<(String, u64, &'static str)> = s
                    .largest
                    .into_iter()
                    .map(|o| {
                        let state = o.state().name();
                        (o.id, o.size, state)
                    })
                    .collect();
                d.set_item("largest", largest)?;
                Ok(d.into_any().unbind())
            })
            .collect()
    }

    /// The lines task `task`'s guest wrote (the last `tail`; all the host
    /// keeps when 0), read from the host that ran it.
    #[pyo3(signature = (task, tail=0))]
    fn logs(&self, py: Python<'_>, task: &str, tail: u64) -> PyResult<Vec<String>> {
        let query = weft_client::LogsQuery {
            tail,
            ..Default::default()
        };
        if task.starts_with('/') {
            // A route's path: its handlers' lines from every live host.
            let read = block(py, async {
                let mut log = self.rpc.lock().await.route_logs(task, query).await?;
                let named = log.hosts() > 1;
                let read = log.read(tail).await;
                if let Some((_, e)) = read.unread.into_iter().next() {
                    return Err(e);
                }
                Ok(read
                    .lines
                    .into_iter()
                    .map(|(host, l)| {
                        if named {
                            format!("{host}: {}", l.text)
                        } else {
                            l.text
                        }
                    })
                    .collect())
            });
            return read.map_err(|e| raise(py, e));
        }
        let reply = block(py, async { self.rpc.lock().await.logs(task, query).await })
            .map_err(|e| raise(py, e))?;
        Ok(reply.reply.lines.into_iter().map(|l| l.text).collect())
    }

    /// Submits a job (a driver component's entry call in WAVE) and returns
    /// its record as a dict.
    #[pyo3(signature = (component, call, name=None, max_retries=0, env=None, id=None, config=None, secrets=None, dirs=None))]
    #[allow(clippy::too_many_arguments, reason = "Python's keyword arguments")]
    fn submit_job(
        &self,
        py: Python<'_>,
        component: &str,
        call: &str,
        name: Option<String>,
        max_retries: u32,
        env: Option<HashMap<String, String>>,
        id: Option<String>,
        config: Option<HashMap<String, String>>,
        secrets: Option<Vec<String>>,
        dirs: Option<Vec<String>>,
    ) -> PyResult<Py<PyAny>> {
        let spec = weft_client::JobSpec {
            component: component.to_string(),
            call: call.to_string(),
            name,
            max_retries,
            env: env.unwrap_or_default(),
            config: config.unwrap_or_default(),
            secrets: secrets.unwrap_or_default(),
            dirs: dirs.unwrap_or_default(),
            id,
        };
        let record = block(py, async { self.rpc.lock().await.submit_job(spec).await })
            .map_err(|e| raise(py, e))?;
        job_dict(py, record)
    }

    /// A job's record (by id or name) as a dict.
    fn job(&self, py: Python<'_>, job: &str) -> PyResult<Py<PyAny>> {
        let record =
            block(py, async { self.rpc.lock().await.job(job).await }).map_err(|e| raise(py, e))?;
        job_dict(py, record)
    }

    /// Every job's record, oldest first.
    fn jobs(&self, py: Python<'_>) -> PyResult<Vec<Py<PyAny>>> {
        let records =
            block(py, async { self.rpc.lock().await.jobs().await }).map_err(|e| raise(py, e))?;
        records.into_iter().map(|r| job_dict(py, r)).collect()
    }

    /// Stops a job; false when it had already ended.
    fn stop_job(&self, py: Python<'_>, job: &str) -> PyResult<bool> {
        block(py, async { self.rpc.lock().await.stop_job(job).await })
            .map(|(_, stopped)| stopped)
            .map_err(|e| raise(py, e))
    }

    /// Tasks the cluster knows, as dicts (optionally only in `state`).
    #[pyo3(signature = (state=None))]
    fn tasks(&self, py: Python<'_>, state: Option<&str>) -> PyResult<Vec<Py<PyAny>>> {
        let state = match state {
            None | Some("") => TaskState::Unspecified,
            Some(name) => name
                .parse()
                .map_err(|e: weft_proto::UnknownState| PyValueError::new_err(e.to_string()))?,
        };
        let tasks = block(py, async {
            self.rpc.lock().await.list_tasks(state, 10_000).await
        })
        .map_err(|e| raise(py, e))?;
        tasks
            .tasks
            .into_iter()
            .map(|t| {
                let state = t.state().name();
                let d = PyDict::new(py);
                d.set_item("id", t.id)?;
                d.set_item("component", t.component)?;
                d.set_item("function", t.function)?;
                d.set_item("state", state)?;
                d.set_item("host", t.host)?;
                d.set_item("attempts", t.attempts)?;
                d.set_item("error", t.error)?;
                Ok(d.into_any().unbind())
            })
            .collect()
    }

    /// A key's value, or None.
    fn kv_get(&self, py: Python<'_>, namespace: &str, key: &str) -> PyResult<Option<Py<PyAny>>> {
        let value = block(py, async {
            self.rpc.lock().await.kv_get(namespace, key, true).await
        })
        .map_err(|e| raise(py, e))?;
        Ok(value
            .found
            .then(|| PyBytes::new(py, &value.value).into_any().unbind()))
    }

    /// Sets a key.
    fn kv_put(&self, py: Python<'_>, namespace: &str, key: &str, value: Vec<u8>) -> PyResult<()> {
        block(py, async {
            self.rpc.lock().await.kv_put(namespace, key, value).await
        })
        .map(drop)
        .map_err(|e| raise(py, e))
    }

    /// Keys in a namespace starting with `prefix`.
    fn kv_list(&self, py: Python<'_>, namespace: &str, prefix: &str) -> PyResult<Vec<String>> {
        let reply = block(py, async {
            self.rpc.lock().await.kv_list(namespace, prefix, true).await
        })
        .map_err(|e| raise(py, e))?;
        Ok(reply.entries.into_iter().map(|e| e.key).collect())
    }

    /// Removes a key; false when it was not there.
    fn kv_delete(&self, py: Python<'_>, namespace: &str, key: &str) -> PyResult<bool> {
        block(py, async {
            self.rpc.lock().await.kv_delete(namespace, key).await
        })
        .map_err(|e| raise(py, e))
    }
}

fn resources<'py>(py: Python<'py>, r: &weft_proto::v1::Resources) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("CPU", r.cpus)?;
    d.set_item("GPU", r.gpus)?;
    d.set_item("memory", r.memory)?;
    for (k, v) in &r.custom {
        d.set_item(k, v)?;
    }
    Ok(d)
}

/// A bundle from Ray's resource dict: `CPU`, `GPU`, `memory` (bytes), and
/// any other name as a custom resource.
fn bundle(resources: HashMap<String, f64>) -> PyResult<weft_proto::v1::Resources> {
    weft_proto::v1::Resources::from_named(resources)
        .map_err(|e| PyValueError::new_err(e.to_string()))
}

/// A placement group's record as the dict Python sees (Ray's
/// `placement_group_table` keys where they exist).
fn group_dict(py: Python<'_>, r: weft_client::groups::PlacementGroupRecord) -> PyResult<Py<PyAny>> {
    let state = r.state().name();
    let spec = r.spec.clone().unwrap_or_default();
    let strategy = spec.strategy().name();
    let d = PyDict::new(py);
    d.set_item("placement_group_id", r.id)?;
    d.set_item("strategy", strategy)?;
    d.set_item("name", spec.name)?;
    d.set_item("namespace", spec.namespace)?;
    d.set_item("state", state)?;
    let bundles = PyDict::new(py);
    for (i, b) in spec.bundles.iter().enumerate() {
        bundles.set_item(i, resources(py, b)?)?;
    }
    d.set_item("bundles", bundles)?;
    let hosts = PyDict::new(py);
    for (i, h) in r.bundle_hosts.iter().enumerate() {
        hosts.set_item(i, h)?;
    }
    d.set_item("bundles_to_node_id", hosts)?;
    d.set_item("pending_reason", r.pending_reason)?;
    d.set_item("detached", spec.detached)?;
    Ok(d.into_any().unbind())
}

fn actor_options(options: Option<&Bound<'_, PyDict>>) -> PyResult<ActorOptions> {
    let mut out = ActorOptions::default();
    let Some(options) = options else {
        return Ok(out);
    };
    let fields: HashMap<String, Bound<'_, PyAny>> = options.extract()?;
    for (key, value) in fields {
        match key.as_str() {
            "name" => out.name = value.extract()?,
            "namespace" => out.namespace = value.extract()?,
            "detached" => out.detached = value.extract()?,
            "max_restarts" => out.max_restarts = value.extract()?,
            "max_task_retries" => out.max_task_retries = value.extract()?,
            "cpus" => out.cpus = value.extract()?,
            "gpus" => out.gpus = value.extract()?,
            "memory_limit" => out.memory_limit_bytes = value.extract()?,
            "call_timeout_ms" => out.call_timeout_ms = value.extract()?,
            "max_concurrency" => out.max_concurrency = value.extract()?,
            "concurrency_groups" => out.concurrency_groups = value.extract()?,
            "method_groups" => out.method_groups = value.extract()?,
            other if shared_option(&mut out, other, &value)? => {}
            other => {
                return Err(PyTypeError::new_err(format!(
                    "unknown actor option `{other}`"
                )));
            }
        }
    }
    Ok(out)
}

/// A job's record as the dict Python sees (times in seconds since the
/// epoch, 0 when not reached).
fn job_dict(py: Python<'_>, r: weft_client::JobRecord) -> PyResult<Py<PyAny>> {
    let state = r.state().name();
    let d = PyDict::new(py);
    d.set_item("id", r.id)?;
    d.set_item("name", r.name)?;
    d.set_item("component", r.component)?;
    d.set_item("call", r.call)?;
    d.set_item("state", state)?;
    d.set_item("reason", r.reason)?;
    d.set_item("result", r.result)?;
    d.set_item("attempt", r.attempt)?;
    d.set_item("max_retries", r.max_retries)?;
    d.set_item("task", r.task)?;
    d.set_item("host", r.host)?;
    d.set_item("env", r.env)?;
    d.set_item("submitted", r.submitted_ms as f64 / 1e3)?;
    d.set_item("started", r.started_ms as f64 / 1e3)?;
    d.set_item("ended", r.ended_ms as f64 / 1e3)?;
    Ok(d.into_any().unbind())
}
