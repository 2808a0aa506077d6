//! Task and actor options from a JavaScript object (camelCase keys, as in
//! `{ cpus: 1, maxRetries: 3 }`); an unknown key or a wrong type is a
//! `TypeError` naming it.

use std::collections::HashMap;

use napi::bindgen_prelude::{FromNapiValue, Object, Unknown, ValidateNapiValue};
use weft_client::{ActorOptions, TaskOptions};
use weft_proto::{HasRuntimeEnv, InGroup};

use crate::errors::type_error;

/// The keys of `options`, each read by `set`, which returns false for a
/// key it does not know.
fn each_key(
    options: &Object<'_>,
    what: &str,
    mut set: impl FnMut(&str, &Object<'_>) -> napi::Result<bool>,
) -> napi::Result<()> {
    for key in Object::keys(options)? {
        if !set(&key, options)? {
            return Err(type_error(format!("unknown {what} option `{key}`")));
        }
    }
    Ok(())
}

/// The value of `key`, which must have type `T`.
fn field<T: FromNapiValue + ValidateNapiValue>(options: &Object<'_>, key: &str) -> napi::Result<T> {
    match options.get::<Unknown>(key)? {
        Some(v) => crate::js::read_checked::<T>(&v)
            .map_err(|e| type_error(format!("option `{key}`: {}", e.reason))),
        None => Err(type_error(format!("option `{key}` is undefined"))),
    }
}

/// A count option: a non-negative integer.
fn count<T: TryFrom<u64>>(options: &Object<'_>, key: &str) -> napi::Result<T> {
    let n: f64 = field(options, key)?;
    if n < 0.0 || n.fract() != 0.0 || !n.is_finite() {
        return Err(type_error(format!(
            "option `{key}` should be a non-negative integer, not {n}"
        )));
    }
    T::try_from(n as u64).map_err(|_| type_error(format!("option `{key}` is too large: {n}")))
}

/// `{ cpus, gpus, memory, memoryLimit, custom, maxRetries, retryOnTrap,
/// timeoutMs, strategy, affinityHost, affinitySoft, maxCalls,
/// streamBackpressure }` (the last for streaming tasks).
pub fn task_options(options: &Object<'_>) -> napi::Result<TaskOptions> {
    let mut out = TaskOptions::default();
    each_key(options, "task", |key, o| {
        match key {
            "cpus" => {
                out.has_cpus = true;
                out.cpus = field(o, key)?;
            }
            "gpus" => out.gpus = count(o, key)?,
            "memory" => out.memory = count(o, key)?,
            "memoryLimit" => out.memory_limit_bytes = count(o, key)?,
            "custom" => out.custom = field::<HashMap<String, f64>>(o, key)?,
            "maxRetries" => {
                out.has_max_retries = true;
                out.max_retries = count(o, key)?;
            }
            "retryOnTrap" => out.retry_on_trap = field(o, key)?,
            "timeoutMs" => out.timeout_ms = count(o, key)?,
            "strategy" => out.strategy = field(o, key)?,
            "affinityHost" => out.affinity_host = field(o, key)?,
            "affinitySoft" => out.affinity_soft = field(o, key)?,
            "maxCalls" => out.max_calls = count(o, key)?,
            "streamBackpressure" => out.stream_backpressure = count(o, key)?,
            _ => return shared_option(&mut out, key, o),
        }
        Ok(true)
    })?;
    Ok(out)
}

/// `{ name, namespace, detached, maxRestarts, maxTaskRetries, cpus, gpus,
/// memoryLimit, callTimeoutMs, maxConcurrency, concurrencyGroups,
/// methodGroups }`.
pub fn actor_options(options: &Object<'_>) -> napi::Result<ActorOptions> {
    let mut out = ActorOptions::default();
    each_key(options, "actor", |key, o| {
        match key {
            "name" => out.name = field(o, key)?,
            "namespace" => out.namespace = field(o, key)?,
            "detached" => out.detached = field(o, key)?,
            "maxRestarts" => out.max_restarts = count(o, key)?,
            "maxTaskRetries" => out.max_task_retries = count(o, key)?,
            "cpus" => out.cpus = field(o, key)?,
            "gpus" => out.gpus = count(o, key)?,
            "memoryLimit" => out.memory_limit_bytes = count(o, key)?,
            "callTimeoutMs" => out.call_timeout_ms = count(o, key)?,
            "maxConcurrency" => out.max_concurrency = count(o, key)?,
            "concurrencyGroups" => out.concurrency_groups = field::<HashMap<String, u32>>(o, key)?,
            "methodGroups" => out.method_groups = field::<HashMap<String, String>>(o, key)?,
            _ => return shared_option(&mut out, key, o),
        }
        Ok(true)
    })?;
    Ok(out)
}

/// The options tasks and actors share: the placement group their work goes
/// into (`placementGroup`, `bundleIndex`, `captureChildTasks`) and their
/// runtime environment (`env`, `config`, `secrets`, `dirs`); false for any
/// other key.
fn shared_option<O: HasRuntimeEnv + InGroup>(
    out: &mut O,
    key: &str,
    o: &Object<'_>,
) -> napi::Result<bool> {
    match key {
        "placementGroup" => *out.group_parts().group = group_id(o, key)?,
        "bundleIndex" => *out.group_parts().bundle_index = bundle_index(o, key)?,
        "captureChildTasks" => *out.group_parts().capture_child_tasks = field(o, key)?,
        "env" => *out.env_parts().env = field::<HashMap<String, String>>(o, key)?,
        "config" => *out.env_parts().config = field::<HashMap<String, String>>(o, key)?,
        "secrets" => *out.env_parts().secrets = field::<Vec<String>>(o, key)?,
        "dirs" => *out.env_parts().dirs = field::<Vec<String>>(o, key)?,
        _ => return Ok(false),
    }
    Ok(true)
}

/// A placement group option: its id, or a `PlacementGroup` (anything with
/// a string `id`).
fn group_id(options: &Object<'_>, key: &str) -> napi::Result<String> {
    if let Ok(id) = field::<String>(options, key) {
        return Ok(id);
    }
    let group: Object = field(options, key).map_err(|_| {
        type_error(format!(
            "option `{key}` should be a placement group or its id"
        ))
    })?;
    field(&group, "id")
}

/// A bundle index: a whole number, -1 (or any negative) for any bundle.
fn bundle_index(options: &Object<'_>, key: &str) -> napi::Result<Option<i32>> {
    let n: f64 = field(options, key)?;
    if n.fract() != 0.0 || !n.is_finite() {
        return Err(type_error(format!(
            "option `{key}` should be a whole number (-1: any bundle), not {n}"
        )));
    }
    Ok((n >= 0.0).then_some(n as i32))
}

/// Ray's strategy names, in either case, with `_` or `-`.
pub fn placement_strategy(text: &str) -> napi::Result<weft_proto::v1::PlacementStrategy> {
    weft_proto::v1::PlacementStrategy::parse(text).map_err(|e| type_error(e.to_string()))
}

/// A bundle from `{ cpus, gpus, memory, ...custom }` (Ray's `CPU` and
/// `GPU` too).
pub fn bundle(resources: HashMap<String, f64>) -> napi::Result<weft_proto::v1::Resources> {
    weft_proto::v1::Resources::from_named(resources).map_err(|e| type_error(e.to_string()))
}

/// `{ env, config, secrets, dirs }`: a component's default runtime
/// environment.
pub fn runtime_env(options: &Object<'_>) -> napi::Result<weft_proto::v1::RuntimeEnv> {
    let mut out = weft_proto::v1::RuntimeEnv::default();
    each_key(options, "runtime environment", |key, o| {
        match key {
            "env" => out.env = field::<HashMap<String, String>>(o, key)?,
            "config" => out.config = field::<HashMap<String, String>>(o, key)?,
            "secrets" => out.secrets = field::<Vec<String>>(o, key)?,
            "dirs" => out.dirs = field::<Vec<String>>(o, key)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}
