//! A connection to a cluster: one owner session (tasks, objects, actor
//! calls) and one RPC client (deploys, state), driven from JavaScript.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use napi::bindgen_prelude::{Buffer, Object, PromiseRaw, Unknown, block_on};
use napi::{Env, ValueType};
use napi_derive::napi;
use weft_client::{ActorHandle, ActorState, Arg, Client, ClientError, TaskClient};
use weft_values::Ty;

use crate::convert;
use crate::errors::{plain, raise, type_error, weft_error};
use crate::js;
use crate::mapped::MappedObject;
use crate::options;

/// A function's parameters, as its signature names and types them.
type Params = Arc<Vec<(String, Ty)>>;

struct Inner {
    tasks: TaskClient,
    rpc: tokio::sync::Mutex<Client>,
    address: String,
    /// Parameters by `component\0class\0function`, so a call converts its
    /// arguments without a round trip to the cluster's copy of them.
    params: Mutex<HashMap<String, Params>>,
    /// Each actor's component and class, by id (what types its methods).
    actors: Mutex<HashMap<String, (String, String)>>,
    /// Serve handles by `app/deployment`, made at the first call to each.
    handles: tokio::sync::Mutex<HashMap<String, weft_client::DeploymentHandle>>,
}

/// A connection to one cluster.
#[napi]
pub struct Session {
    inner: Mutex<Option<Arc<Inner>>>,
}

/// A streaming task's items (`ObjectRefGenerator` wraps it). Collected
/// before its end, it lets go of the unread items and cancels the task.
#[napi]
pub struct ItemStream {
    task_id: String,
    items: Arc<tokio::sync::Mutex<weft_client::ItemStream>>,
}

#[napi]
impl ItemStream {
    /// The streaming task's id.
    #[napi(getter)]
    pub fn task_id(&self) -> String {
        self.task_id.clone()
    }

    /// The next item's id, or null at the end; rejects with the task's
    /// failure after its items.
    #[napi(ts_return_type = "Promise<string | null>")]
    pub fn next<'env>(
        &self,
        env: &'env Env,
        timeout_ms: Option<f64>,
    ) -> napi::Result<PromiseRaw<'env, Option<String>>> {
        let timeout = millis(timeout_ms)?;
        let items = self.items.clone();
        env.spawn_future(async move { items.lock().await.next(timeout).await.map_err(raise) })
    }
}

/// The values a streaming Serve deployment sends (`serveStream`), as JSON
/// text.
#[napi]
pub struct ServeStream {
    values: Arc<tokio::sync::Mutex<weft_client::ServeStream>>,
}

#[napi]
impl ServeStream {
    /// The next value as JSON text, or null at the end.
    #[napi(ts_return_type = "Promise<string | null>")]
    pub fn next<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Option<String>>> {
        let values = self.values.clone();
        env.spawn_future(async move {
            let next = values.lock().await.next().await.map_err(raise)?;
            Ok(next.map(|v| v.to_string()))
        })
    }
}

/// An object, as `objects` lists it.
#[napi(object)]
pub struct ObjectListing {
    /// Its id (a ref to it).
    pub id: String,
    /// `result`, `put` or `item` (of a streaming task).
    pub kind: String,
    /// The owner session that made it.
    pub owner: String,
    /// Its encoded size in bytes.
    pub size: f64,
    /// The host whose store holds it; empty when the leader holds it inline.
    pub held_by: String,
    /// Holders of its ref.
    pub refs: u32,
    /// Its copies in hosts' stores.
    pub copies: Vec<ObjectCopy>,
}

/// A copy of an object in a host's store.
#[napi(object)]
pub struct ObjectCopy {
    /// The host.
    pub host: String,
    /// `primary`, `spilled` or `secondary`.
    pub state: String,
    /// Readers holding its bytes in place now.
    pub pins: u32,
}

/// What `deploy` answers.
/// What `serveRun` answers: the applications' statuses (JSON text, read
/// by the TypeScript layer) and the deployments still waited for.
#[napi(object)]
pub struct ServeRun {
    pub statuses: String,
    pub waiting: Vec<String>,
}

/// What a handler deployment answered `serveRequest`.
#[napi(object)]
pub struct ServeReply {
    pub status: u32,
    pub body: Buffer,
}

#[napi(object)]
pub struct Deployed {
    /// The component's digest (sha256 of its bytes).
    pub digest: String,
    /// Its callable functions.
    pub functions: Vec<String>,
}

/// A host, as `nodes` lists it.
#[napi(object)]
pub struct Node {
    /// Its id.
    pub id: String,
    /// Where it listens.
    pub address: String,
    /// Whether it is in the cluster now.
    pub alive: bool,
    /// Its CPUs.
    pub cpus: f64,
    /// Its GPUs.
    pub gpus: u32,
    /// Tasks and actors running on it.
    pub running: u32,
}

/// An actor, as `actors` lists it.
#[napi(object)]
pub struct Actor {
    /// Its id.
    pub id: String,
    /// The component it runs.
    pub component: String,
    /// Its class (empty for an instance actor).
    pub class: String,
    /// Its name, if it has one.
    pub name: String,
    /// `alive`, `restarting`, `dead`, ...
    pub state: String,
    /// The host it runs on.
    pub host: String,
    /// How often it was restarted.
    pub restarts: u32,
}

/// A placement group, as `placementGroup` and `placementGroups` answer.
#[napi(object)]
pub struct PlacementGroupInfo {
    /// Its id.
    pub id: String,
    /// Its name, if it has one, and namespace.
    pub name: String,
    pub namespace: String,
    /// `PACK`, `SPREAD`, `STRICT_PACK` or `STRICT_SPREAD`.
    pub strategy: String,
    /// `pending`, `created`, `rescheduling` or `removed`.
    pub state: String,
    /// Each bundle's resources (`cpus`, `gpus`, `memory`, custom).
    pub bundles: Vec<HashMap<String, f64>>,
    /// The host of each bundle (empty where it is not placed).
    pub bundle_hosts: Vec<String>,
    /// Why a pending group waits.
    pub pending_reason: String,
    pub detached: bool,
}

impl From<weft_client::groups::PlacementGroupRecord> for PlacementGroupInfo {
    fn from(r: weft_client::groups::PlacementGroupRecord) -> Self {
        let spec = r.spec.clone().unwrap_or_default();
        let (strategy, state) = (spec.strategy().name(), r.state().label());
        PlacementGroupInfo {
            id: r.id,
            name: spec.name,
            namespace: spec.namespace,
            strategy: strategy.into(),
            state: state.into(),
            bundles: spec
                .bundles
                .iter()
                .map(|b| {
                    let mut out: HashMap<String, f64> = b.custom.clone().into_iter().collect();
                    out.insert("cpus".into(), b.cpus);
                    out.insert("gpus".into(), f64::from(b.gpus));
                    out.insert("memory".into(), b.memory as f64);
                    out
                })
                .collect(),
            bundle_hosts: r.bundle_hosts,
            pending_reason: r.pending_reason,
            detached: spec.detached,
        }
    }
}

fn millis(timeout_ms: Option<f64>) -> napi::Result<Option<Duration>> {
    timeout_ms
        .map(|t| {
            Duration::try_from_secs_f64(t.max(0.0) / 1e3)
                .map_err(|_| type_error(format!("timeout {t} is not a number of milliseconds")))
        })
        .transpose()
}

/// A weft error for a lookup: an unknown component or function is the
/// caller's mistake, but not a value's type.
fn lookup(error: ClientError) -> napi::Error {
    match error {
        ClientError::InvalidArgument(m) => plain(m),
        other => raise(other),
    }
}

impl Session {
    fn inner(&self) -> napi::Result<Arc<Inner>> {
        self.inner
            .lock()
            .expect("the session lock")
            .clone()
            .ok_or_else(|| plain("this weft client is closed"))
    }

    /// The session and the arguments of a call of actor `id`'s `method`,
    /// typed by its parameters (an actor call takes no options).
    fn actor_args(
        &self,
        env: &Env,
        id: &str,
        method: &str,
        args: &[Unknown],
    ) -> napi::Result<(Arc<Inner>, Vec<Arg>)> {
        let inner = self.inner()?;
        let (component, class) = inner.actor_spec(id)?;
        let params = inner.params(&component, &class, method)?;
        let label = || format!("actor {id}.{method}");
        let (args, options) = convert_args(env, label, &params, args)?;
        if options.is_some() {
            return Err(type_error(format!(
                "actor {id}.{method} takes {} arguments, and an actor call takes no options",
                params.len()
            )));
        }
        Ok((inner, args))
    }

    /// Runs `work` on the client's runtime; its answer settles the Promise.
    fn spawn<'env, T, F>(
        &self,
        env: &'env Env,
        work: impl FnOnce(Arc<Inner>) -> F,
    ) -> napi::Result<PromiseRaw<'env, T>>
    where
        T: napi::bindgen_prelude::ToNapiValue + Send + 'static,
        F: Future<Output = Result<T, ClientError>> + Send + 'static,
    {
        let future = work(self.inner()?);
        env.spawn_future(async move { future.await.map_err(raise) })
    }
}

impl Inner {
    /// The handle to `app`'s `deployment`, made once per session.
    async fn handle(
        &self,
        app: &str,
        deployment: &str,
    ) -> Result<weft_client::DeploymentHandle, ClientError> {
        let key = format!("{app}/{deployment}");
        let mut handles = self.handles.lock().await;
        if let Some(found) = handles.get(&key) {
            return Ok(found.clone());
        }
        let made = self
            .rpc
            .lock()
            .await
            .deployment_handle(app, deployment)
            .await?;
        handles.insert(key, made.clone());
        Ok(made)
    }

    /// The parameters of `function` (of `class`, for an actor's method),
    /// fetched once per session.
    fn params(&self, component: &str, class: &str, function: &str) -> napi::Result<Params> {
        let key = format!("{component}\0{class}\0{function}");
        if let Some(found) = self.params.lock().expect("params").get(&key) {
            return Ok(found.clone());
        }
        let params = block_on(self.tasks.method_params(component, class, function))
            .map(Arc::new)
            .map_err(lookup)?;
        self.params
            .lock()
            .expect("params")
            .insert(key, params.clone());
        Ok(params)
    }

    /// The component and class of actor `id`, asked once per session.
    fn actor_spec(&self, id: &str) -> napi::Result<(String, String)> {
        if let Some(found) = self.actors.lock().expect("actors").get(id) {
            return Ok(found.clone());
        }
        let handle = ActorHandle { id: id.to_string() };
        let record = block_on(self.tasks.describe_actor(&handle)).map_err(lookup)?;
        let spec = record.spec.unwrap_or_default();
        let found = (spec.component, spec.class);
        self.actors
            .lock()
            .expect("actors")
            .insert(id.to_string(), found.clone());
        Ok(found)
    }
}

/// `args` converted by `params`; a wrong one is a `TypeError` naming the
/// function (`label`), the parameter and its WIT type. An `ObjectRef` for
/// a parameter of another type passes by reference: the task waits for it
/// and gets its value. One argument more than the parameters, an object,
/// is the call's options.
fn convert_args<'env>(
    env: &Env,
    label: impl Fn() -> String,
    params: &[(String, Ty)],
    args: &[Unknown<'env>],
) -> napi::Result<(Vec<Arg>, Option<Object<'env>>)> {
    let (args, options) = match args.split_at_checked(params.len()) {
        Some((args, [options])) if options.get_type()? == ValueType::Object => {
            (args, Some(js::read::<Object>(options)?))
        }
        Some((args, [])) => (args, None),
        _ => {
            return Err(type_error(format!(
                "{} takes {}",
                label(),
                weft_values::describe_arity(params, args.len())
            )));
        }
    };
    let args = args
        .iter()
        .zip(params)
        .map(|(arg, (name, ty))| {
            if *ty != Ty::ObjectRef
                && let Some(id) = convert::object_ref_id(env, arg)?
            {
                return Ok(Arg::Ref(id));
            }
            convert::to_value(env, arg, ty)
                .map(Arg::Value)
                .map_err(|m| type_error(m.for_parameter(&label(), &convert::camel(name), ty)))
        })
        .collect::<napi::Result<_>>()?;
    Ok((args, options))
}

/// Connects to `address` (`host:port`, or several replicas
/// comma-separated) and opens an owner session.
#[napi]
pub fn connect(env: &Env, address: String) -> napi::Result<PromiseRaw<'_, Session>> {
    env.spawn_future(async move {
        let rpc = Client::connect(&address).await.map_err(raise)?;
        let tasks = TaskClient::connect(&address).await.map_err(raise)?;
        let inner = Inner {
            tasks,
            rpc: tokio::sync::Mutex::new(rpc),
            address,
            params: Mutex::default(),
            actors: Mutex::default(),
            handles: Default::default(),
        };
        Ok(Session {
            inner: Mutex::new(Some(Arc::new(inner))),
        })
    })
}

#[napi]
impl Session {
    /// The address it connected to.
    #[napi(getter)]
    pub fn address(&self) -> napi::Result<String> {
        Ok(self.inner()?.address.clone())
    }

    /// Lets go of the session: its objects are freed once nothing else
    /// refers to them, and later calls fail.
    #[napi]
    pub fn close(&self) {
        self.inner.lock().expect("the session lock").take();
    }

    /// Uploads a component, and waits while every host makes it ready.
    #[napi]
    pub fn deploy<'env>(
        &self,
        env: &'env Env,
        wasm: Buffer,
        name: Option<String>,
    ) -> napi::Result<PromiseRaw<'env, Deployed>> {
        let wasm = wasm.to_vec();
        self.spawn(env, |inner| async move {
            let mut rpc = inner.rpc.lock().await;
            let reply = rpc.deploy(wasm, name.as_deref()).await?;
            let info = reply.component.unwrap_or_default();
            rpc.prepare(&info.digest, None).await?.finish().await?;
            Ok(Deployed {
                digest: info.digest,
                functions: info.functions.into_iter().map(|f| f.name).collect(),
            })
        })
    }

    /// Declares the applications of an application file's text (YAML or
    /// JSON) and waits up to `wait_ms` for their replicas.
    #[napi]
    pub fn serve_run<'env>(
        &self,
        env: &'env Env,
        text: String,
        wait_ms: f64,
    ) -> napi::Result<PromiseRaw<'env, ServeRun>> {
        let apps = weft_client::serve::read_app_file(&text)
            .map_err(|e| type_error(format!("not an application: {e}")))?;
        let wait = Duration::from_secs_f64(wait_ms.max(0.0) / 1000.0);
        self.spawn(env, |inner| async move {
            let (status, waiting) = inner.rpc.lock().await.run_serve_apps(apps, wait).await?;
            Ok(ServeRun {
                statuses: weft_client::serve::statuses_json(&status),
                waiting,
            })
        })
    }

    /// Starts a Tune experiment from its spec as JSON
    /// (`weft_client::tune::spec_from_json`); its id.
    #[napi]
    pub fn tune_run<'env>(
        &self,
        env: &'env Env,
        spec_json: String,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        let spec = weft_client::tune::spec_from_json(&spec_json).map_err(type_error)?;
        self.spawn(env, |inner| async move {
            Ok(inner.rpc.lock().await.run_tune(spec, None).await?.id)
        })
    }

    /// An experiment (by id or name) and its trials, as JSON text.
    #[napi]
    pub fn tune_status<'env>(
        &self,
        env: &'env Env,
        id: String,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        self.spawn(env, |inner| async move {
            let status = inner.rpc.lock().await.tune_status(&id).await?;
            Ok(weft_client::tune::status_json(&status).to_string())
        })
    }

    /// Every experiment, newest first, as JSON text.
    #[napi]
    pub fn tune_list<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, String>> {
        self.spawn(env, |inner| async move {
            let all = inner.rpc.lock().await.tune_experiments().await?;
            Ok(weft_client::tune::experiments_json(&all).to_string())
        })
    }

    /// Stops an experiment; its state.
    #[napi]
    pub fn tune_stop<'env>(
        &self,
        env: &'env Env,
        id: String,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        self.spawn(env, |inner| async move {
            let record = inner.rpc.lock().await.stop_tune(&id).await?;
            Ok(record.state().name().to_string())
        })
    }

    /// Every Serve application's status (or `app`'s), as JSON text.
    #[napi]
    pub fn serve_status<'env>(
        &self,
        env: &'env Env,
        app: String,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        self.spawn(env, |inner| async move {
            let status = inner.rpc.lock().await.serve_status(&app).await?;
            Ok(weft_client::serve::statuses_json(&status))
        })
    }

    /// Calls function deployment `deployment` of Serve application `app`
    /// through a host's gateway with `args_json` (a JSON array); its JSON
    /// result as text.
    #[napi]
    pub fn serve_call<'env>(
        &self,
        env: &'env Env,
        app: String,
        deployment: String,
        args_json: String,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        let args: serde_json::Value = serde_json::from_str(&args_json)
            .map_err(|e| type_error(format!("arguments are not JSON: {e}")))?;
        self.spawn(env, |inner| async move {
            let handle = inner.handle(&app, &deployment).await?;
            Ok(handle.call_json(&args).await?.to_string())
        })
    }

    /// Calls streaming function deployment `deployment` of Serve
    /// application `app` with `args_json`: the values it sends.
    #[napi(ts_return_type = "Promise<ServeStream>")]
    pub fn serve_stream<'env>(
        &self,
        env: &'env Env,
        app: String,
        deployment: String,
        args_json: String,
    ) -> napi::Result<PromiseRaw<'env, ServeStream>> {
        let args: serde_json::Value = serde_json::from_str(&args_json)
            .map_err(|e| type_error(format!("arguments are not JSON: {e}")))?;
        self.spawn(env, |inner| async move {
            let handle = inner.handle(&app, &deployment).await?;
            let values = handle.call_stream(&args).await?;
            Ok(ServeStream {
                values: Arc::new(tokio::sync::Mutex::new(values)),
            })
        })
    }

    /// Sends an HTTP request to handler deployment `deployment` of Serve
    /// application `app` at `path`: its status and body.
    #[napi]
    pub fn serve_request<'env>(
        &self,
        env: &'env Env,
        app: String,
        deployment: String,
        method: String,
        path: String,
        body: Buffer,
    ) -> napi::Result<PromiseRaw<'env, ServeReply>> {
        let body = body.to_vec();
        self.spawn(env, |inner| async move {
            let handle = inner.handle(&app, &deployment).await?;
            let reply = handle.request(&method, &path, body).await?;
            Ok(ServeReply {
                status: u32::from(reply.status),
                body: reply.body.into(),
            })
        })
    }

    /// Deletes Serve application `app`.
    #[napi]
    pub fn serve_delete<'env>(
        &self,
        env: &'env Env,
        app: String,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        self.spawn(env, |inner| async move {
            inner.rpc.lock().await.delete_serve_app(&app).await
        })
    }

    /// Sets `component`'s default runtime environment (`{ env, config,
    /// secrets, dirs }`; each part a task, actor or job of it leaves empty
    /// comes from it); answers its digest.
    #[napi]
    pub fn set_runtime_env<'env>(
        &self,
        env: &'env Env,
        component: String,
        runtime_env: Object<'_>,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        let runtime_env = options::runtime_env(&runtime_env)?;
        self.spawn(env, |inner| async move {
            inner
                .rpc
                .lock()
                .await
                .set_runtime_env(&component, runtime_env)
                .await
        })
    }

    /// The callable function names of `component` (WIT names, with their
    /// interface: `values.echo-string`).
    #[napi]
    pub fn functions<'env>(
        &self,
        env: &'env Env,
        component: String,
    ) -> napi::Result<PromiseRaw<'env, Vec<String>>> {
        self.spawn(env, |inner| async move {
            let exports = inner.tasks.exports(&component).await?;
            Ok(exports.iter().map(|e| e.name()).collect())
        })
    }

    /// Submits `component`'s `function` with JavaScript `args` (and
    /// options after them); returns the task's id once it is queued.
    #[napi]
    pub fn submit(
        &self,
        env: &Env,
        component: String,
        function: String,
        args: Vec<Unknown>,
    ) -> napi::Result<String> {
        let inner = self.inner()?;
        let params = inner.params(&component, "", &function)?;
        let label = || format!("{component}.{function}");
        let (args, options) = convert_args(env, label, &params, &args)?;
        let options = match options {
            Some(o) => options::task_options(&o)?,
            None => Default::default(),
        };
        block_on(inner.tasks.submit(&component, &function, args, options)).map_err(raise)
    }

    /// Submits a streaming task (as `submit`; its guest emits items as it
    /// goes) and answers its items, read in order.
    #[napi]
    pub fn submit_stream(
        &self,
        env: &Env,
        component: String,
        function: String,
        args: Vec<Unknown>,
    ) -> napi::Result<ItemStream> {
        let inner = self.inner()?;
        let params = inner.params(&component, "", &function)?;
        let label = || format!("{component}.{function}");
        let (args, options) = convert_args(env, label, &params, &args)?;
        let mut options = match options {
            Some(o) => options::task_options(&o)?,
            None => Default::default(),
        };
        options.streaming = true;
        let backpressure = options.stream_backpressure > 0;
        let id =
            block_on(inner.tasks.submit(&component, &function, args, options)).map_err(raise)?;
        Ok(ItemStream {
            task_id: id.clone(),
            items: Arc::new(tokio::sync::Mutex::new(
                inner.tasks.stream(&id, backpressure),
            )),
        })
    }

    /// Waits for `ids` and answers `[values, errs]`: their values in order
    /// (bytes as a `Buffer`, read in place from a store on this machine
    /// when they lie in one), and the indexes of those that are a
    /// function's `result` err rather than its value.
    #[napi(ts_return_type = "Promise<[unknown[], number[]]>")]
    pub fn get<'env>(
        &self,
        env: &'env Env,
        ids: Vec<String>,
        timeout_ms: Option<f64>,
    ) -> napi::Result<PromiseRaw<'env, Unknown<'env>>> {
        let timeout = millis(timeout_ms)?;
        let inner = self.inner()?;
        let fetch = async move {
            let objects = inner.tasks.get_objects(&ids, timeout).await?;
            Ok(ids
                .iter()
                .zip(objects)
                .map(|(id, o)| Fetched::new(id, o))
                .collect())
        };
        env.spawn_future_with_callback(async move { fetch.await.map_err(raise) }, |env, got| {
            Fetched::answer(env, got)
        })
    }

    /// What `get` answers, without waiting, when every one of `ids` is
    /// finished and came back inline (small results, failures); `null`
    /// otherwise. Reading finished results needs no trip through the
    /// runtime.
    #[napi(ts_return_type = "[unknown[], number[]] | null")]
    pub fn get_now<'env>(
        &self,
        env: &'env Env,
        ids: Vec<String>,
    ) -> napi::Result<Option<Unknown<'env>>> {
        let Some(found) = self.inner()?.tasks.finished_inline(&ids) else {
            return Ok(None);
        };
        let fetched = found
            .into_iter()
            .zip(&ids)
            .map(|(object, id)| Ok(Fetched::new(id, object.map_err(raise)?)))
            .collect::<napi::Result<Vec<_>>>()?;
        Fetched::answer(env, fetched).map(Some)
    }

    /// Waits until `numReturns` of `ids` are done or `timeoutMs` passes;
    /// answers `[ready, notReady]`, each in the order of `ids`.
    #[napi]
    pub fn wait<'env>(
        &self,
        env: &'env Env,
        ids: Vec<String>,
        num_returns: u32,
        timeout_ms: Option<f64>,
    ) -> napi::Result<PromiseRaw<'env, Vec<Vec<String>>>> {
        let timeout = millis(timeout_ms)?;
        let wanted = num_returns as usize;
        self.spawn(env, move |inner| async move {
            let (ready, _) = inner.tasks.wait(&ids, wanted, timeout).await?;
            let done: std::collections::HashSet<&str> =
                ready.iter().map(|r| r.id.as_str()).collect();
            let (mut ready_ids, mut pending) = (Vec::new(), Vec::new());
            for id in &ids {
                if done.contains(id.as_str()) && ready_ids.len() < wanted {
                    ready_ids.push(id.clone());
                } else {
                    pending.push(id.clone());
                }
            }
            Ok(vec![ready_ids, pending])
        })
    }

    /// Lets go of refs: the cluster frees each object once nothing else
    /// refers to it.
    #[napi]
    pub fn release(&self, ids: Vec<String>) {
        if let Ok(inner) = self.inner() {
            inner.tasks.release(&ids);
        }
    }

    /// Cancels a task; false when it had already finished.
    #[napi]
    pub fn cancel<'env>(&self, env: &'env Env, id: String) -> napi::Result<PromiseRaw<'env, bool>> {
        self.spawn(env, |inner| async move { inner.tasks.cancel(&id).await })
    }

    /// Puts bytes in the object store (copied once, straight into the
    /// store's memory when a host shares this machine); returns the
    /// object's id.
    #[napi]
    pub fn put(&self, data: &[u8]) -> napi::Result<String> {
        let inner = self.inner()?;
        block_on(inner.tasks.put(data)).map_err(raise)
    }

    /// Creates an actor: `class` is the WIT resource (empty for an instance
    /// actor); `args` go to its constructor, `options` after them. Answers
    /// its id once it is alive.
    #[napi]
    pub fn create_actor<'env>(
        &self,
        env: &'env Env,
        component: String,
        class: String,
        args: Vec<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        let inner = self.inner()?;
        let (constructor, options) = if class.is_empty() {
            let options = match args.as_slice() {
                [] => None,
                [o] if o.get_type()? == ValueType::Object => Some(js::read::<Object>(o)?),
                _ => {
                    return Err(type_error(
                        "an instance actor takes no constructor arguments",
                    ));
                }
            };
            (String::new(), options)
        } else {
            let params = inner.params(&component, &class, "constructor")?;
            let label = format!("{component}.{class}()");
            let (values, options) = convert_args(env, || label.clone(), &params, &args)?;
            let values = values
                .into_iter()
                .map(|a| match a {
                    Arg::Value(v) => Ok(weft_values::to_wave(&v)),
                    _ => Err(type_error(format!(
                        "{label}: a constructor takes values, not refs"
                    ))),
                })
                .collect::<napi::Result<Vec<_>>>()?;
            (format!("new({})", values.join(", ")), options)
        };
        let options = match options {
            Some(o) => options::actor_options(&o)?,
            None => Default::default(),
        };
        env.spawn_future(async move {
            let handle = inner
                .tasks
                .create_actor(&component, &class, &constructor, options)
                .await
                .map_err(raise)?;
            let record = inner
                .tasks
                .wait_actor_alive(&handle, Duration::from_secs(120))
                .await
                .map_err(raise)?;
            if record.state() != ActorState::Alive {
                return Err(weft_error(
                    "ActorDiedError",
                    format!("actor {} did not start: {}", record.id, record.cause),
                    "actor-died",
                    &record.id,
                ));
            }
            inner
                .actors
                .lock()
                .expect("actors")
                .insert(record.id.clone(), (component, class));
            Ok(record.id)
        })
    }

    /// Calls `method` of actor `id`; returns the call's id at once. Calls
    /// from one client run in the order made.
    #[napi]
    pub fn call_actor(
        &self,
        env: &Env,
        id: String,
        method: String,
        args: Vec<Unknown>,
    ) -> napi::Result<String> {
        let (inner, args) = self.actor_args(env, &id, &method, &args)?;
        // The call is queued here; the client's runtime sends it.
        napi::bindgen_prelude::within_runtime_if_available(|| {
            inner.tasks.call(&ActorHandle { id }, &method, args)
        })
        .map_err(raise)
    }

    /// Calls `method` of actor `id` as a stream: the items it emits, read
    /// in order.
    #[napi]
    pub fn call_actor_stream(
        &self,
        env: &Env,
        id: String,
        method: String,
        args: Vec<Unknown>,
    ) -> napi::Result<ItemStream> {
        let (inner, args) = self.actor_args(env, &id, &method, &args)?;
        let items = napi::bindgen_prelude::within_runtime_if_available(|| {
            inner
                .tasks
                .call_stream(&ActorHandle { id: id.clone() }, &method, args)
        })
        .map_err(raise)?;
        Ok(ItemStream {
            task_id: items.task_id().to_string(),
            items: Arc::new(tokio::sync::Mutex::new(items)),
        })
    }

    /// The id of the live actor named `name` in `namespace`.
    #[napi]
    pub fn get_actor<'env>(
        &self,
        env: &'env Env,
        name: String,
        namespace: Option<String>,
    ) -> napi::Result<PromiseRaw<'env, String>> {
        let namespace = namespace.unwrap_or_default();
        self.spawn(env, |inner| async move {
            Ok(inner.tasks.get_actor(&name, &namespace).await?.id)
        })
    }

    /// Kills actor `id`; false when it was already dead.
    #[napi]
    pub fn kill_actor<'env>(
        &self,
        env: &'env Env,
        id: String,
    ) -> napi::Result<PromiseRaw<'env, bool>> {
        self.spawn(env, |inner| async move {
            inner.tasks.kill_actor(&ActorHandle { id }).await
        })
    }

    /// Actors the cluster knows.
    #[napi]
    pub fn actors<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Vec<Actor>>> {
        self.spawn(env, |inner| async move {
            let records = inner.tasks.list_actors().await?;
            Ok(records
                .into_iter()
                .map(|r| {
                    let state = r.state().name().to_string();
                    let spec = r.spec.unwrap_or_default();
                    let options = spec.options.unwrap_or_default();
                    Actor {
                        id: r.id,
                        component: spec.component,
                        class: spec.class,
                        name: options.name,
                        state,
                        host: r.host,
                        restarts: r.restarts,
                    }
                })
                .collect())
        })
    }

    /// Asks for a placement group of `bundles` (`{ cpus, gpus, memory,
    /// ...custom }` each) spread by `strategy`; answers its record at once
    /// (pending).
    #[napi]
    pub fn create_placement_group<'env>(
        &self,
        env: &'env Env,
        bundles: Vec<HashMap<String, f64>>,
        strategy: String,
        name: Option<String>,
        namespace: Option<String>,
        detached: Option<bool>,
    ) -> napi::Result<PromiseRaw<'env, PlacementGroupInfo>> {
        let strategy = options::placement_strategy(&strategy)?;
        let bundles = bundles
            .into_iter()
            .map(options::bundle)
            .collect::<napi::Result<Vec<_>>>()?;
        let spec = weft_client::groups::PlacementGroupSpec {
            bundles,
            strategy: strategy.into(),
            name: name.unwrap_or_default(),
            namespace: namespace.unwrap_or_default(),
            detached: detached.unwrap_or(false),
            ..Default::default()
        };
        self.spawn(env, |inner| async move {
            Ok(inner.tasks.create_placement_group(spec).await?.into())
        })
    }

    /// Placement group `id`, waiting up to `waitMs` for it to be created.
    #[napi]
    pub fn placement_group<'env>(
        &self,
        env: &'env Env,
        id: String,
        wait_ms: Option<f64>,
    ) -> napi::Result<PromiseRaw<'env, PlacementGroupInfo>> {
        let wait = millis(wait_ms)?.unwrap_or_default();
        self.spawn(env, move |inner| async move {
            Ok(inner.tasks.wait_placement_group(&id, wait).await?.into())
        })
    }

    /// Every placement group the cluster knows.
    #[napi]
    pub fn placement_groups<'env>(
        &self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, Vec<PlacementGroupInfo>>> {
        self.spawn(env, |inner| async move {
            let groups = inner.tasks.list_placement_groups().await?;
            Ok(groups.into_iter().map(Into::into).collect())
        })
    }

    /// Removes placement group `id`; false when it was removed already.
    #[napi]
    pub fn remove_placement_group<'env>(
        &self,
        env: &'env Env,
        id: String,
    ) -> napi::Result<PromiseRaw<'env, bool>> {
        self.spawn(env, |inner| async move {
            inner.tasks.remove_placement_group(&id).await
        })
    }

    /// The cluster's hosts.
    #[napi]
    pub fn nodes<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, Vec<Node>>> {
        self.spawn(env, |inner| async move {
            let nodes = inner.rpc.lock().await.list_nodes().await?;
            Ok(nodes
                .into_iter()
                .map(|n| {
                    let total = n.total.unwrap_or_default();
                    Node {
                        id: n.id,
                        address: n.address,
                        alive: n.alive,
                        cpus: total.cpus,
                        gpus: total.gpus,
                        running: n.running,
                    }
                })
                .collect())
        })
    }

    /// The cluster's objects, newest first (at most `limit`), with their
    /// copies.
    #[napi]
    pub fn objects<'env>(
        &self,
        env: &'env Env,
        limit: Option<u32>,
    ) -> napi::Result<PromiseRaw<'env, Vec<ObjectListing>>> {
        self.spawn(env, move |inner| async move {
            let (objects, _) = inner
                .rpc
                .lock()
                .await
                .list_objects(limit.unwrap_or(100))
                .await?;
            Ok(objects
                .into_iter()
                .map(|o| ObjectListing {
                    copies: o
                        .copies
                        .iter()
                        .map(|c| ObjectCopy {
                            host: c.host.clone(),
                            state: c.state().name().to_lowercase(),
                            pins: c.pins,
                        })
                        .collect(),
                    id: o.id,
                    kind: o.kind,
                    owner: o.owner,
                    size: o.size as f64,
                    held_by: o.held_by,
                    refs: o.refs,
                })
                .collect())
        })
    }

    /// The lines task `task`'s guest wrote (the last `tail`; all the host
    /// keeps when 0), read from the host that ran it.
    #[napi]
    pub fn logs<'env>(
        &self,
        env: &'env Env,
        task: String,
        tail: Option<u32>,
    ) -> napi::Result<PromiseRaw<'env, Vec<String>>> {
        self.spawn(env, move |inner| async move {
            let query = weft_client::LogsQuery {
                tail: tail.unwrap_or_default().into(),
                ..Default::default()
            };
            let reply = inner.rpc.lock().await.logs(&task, query).await?;
            Ok(reply.reply.lines.into_iter().map(|l| l.text).collect())
        })
    }
}

/// An object fetched for `get`, turned into JavaScript on its thread.
enum Fetched {
    Bytes(std::io::Result<Result<MappedObject, weft_client::objects::ObjectBytes>>),
    Value(String, Result<weft_values::Value, weft_values::DecodeError>),
}

impl Fetched {
    fn new(id: &str, object: weft_client::objects::ObjectBytes) -> Self {
        if object.is_bytes() {
            Fetched::Bytes(MappedObject::of(object))
        } else {
            Fetched::Value(id.to_string(), object.value())
        }
    }

    /// `[values, errs]` (see `Session::get`).
    fn answer(env: &Env, fetched: Vec<Self>) -> napi::Result<Unknown<'_>> {
        let mut values = env.create_array(fetched.len() as u32)?;
        let mut errs = env.create_array(0)?;
        for (i, f) in fetched.into_iter().enumerate() {
            let (value, is_err) = f.into_js(env)?;
            values.set(i as u32, value)?;
            if is_err {
                errs.insert(i as u32)?;
            }
        }
        let mut answer = env.create_array(2)?;
        answer.set(0, values)?;
        answer.set(1, errs)?;
        js::of(env, answer)
    }

    /// The object as JavaScript, and whether it is a `result`'s err.
    fn into_js(self, env: &Env) -> napi::Result<(Unknown<'_>, bool)> {
        Ok(match self {
            Fetched::Bytes(mapped) => {
                let mapped = mapped.map_err(|e| plain(format!("cannot map an object: {e}")))?;
                let buffer = match mapped {
                    Ok(mapped) => js::external_buffer(env, Box::new(mapped))?,
                    Err(owned) => js::of(env, Buffer::from(owned.to_vec()))?,
                };
                (buffer, false)
            }
            Fetched::Value(id, value) => {
                let value = value.map_err(|e| plain(format!("an undecodable value: {e}")))?;
                match convert::top_level(env, &value, &id)? {
                    Ok(v) => (v, false),
                    Err(e) => (e, true),
                }
            }
        })
    }
}
