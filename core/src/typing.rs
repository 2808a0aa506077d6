//! Typing arguments on the caller's side: WAVE text and JSON become values
//! of the callee's parameter types, encoded once here and decoded once on
//! the host (docs/VALUES.md). The signatures come from the cluster
//! (`Describe`), read from the component's type, and are kept a few
//! seconds per component name.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weft_proto::v1 as pb;
use weft_values::{Export, Signature, Value};

use crate::objects::INLINE_MAX;

use crate::{ClientError, Connection, TaskClient};

/// How long a component's signatures are trusted: a name deployed again
/// may move to a component with other types (the host then refuses
/// arguments that no longer fit, naming them).
const FRESH: Duration = Duration::from_secs(5);

/// One argument of a task or actor call.
#[derive(Debug, Clone)]
pub enum Arg {
    /// WAVE text, typed here by the callee's parameter.
    Wave(String),
    /// JSON, typed here by the callee's parameter (see `weft_values`'s
    /// JSON mapping).
    Json(serde_json::Value),
    /// A value, sent as it is (the host checks it against the parameter).
    Value(Value),
    /// The result of another task, or a put object: passed by value once
    /// it exists, or as the ref itself to a parameter of type `object-ref`.
    Ref(String),
}

impl Arg {
    /// A literal WAVE argument.
    pub fn wave(text: impl Into<String>) -> Self {
        Arg::Wave(text.into())
    }

    /// Bytes, for a `list<u8>` parameter.
    pub fn bytes(data: impl Into<bytes::Bytes>) -> Self {
        Arg::Value(Value::Bytes(data.into()))
    }

    pub(crate) fn needs_type(&self) -> bool {
        matches!(self, Arg::Wave(_) | Arg::Json(_))
    }
}

/// `args` with WAVE and JSON typed by `params` into values (others as
/// they are); an error names the argument. Tasks and actor calls share it.
pub(crate) fn type_args(
    params: &[(String, weft_values::Ty)],
    args: Vec<Arg>,
) -> Result<Vec<Arg>, weft_values::ValueError> {
    weft_values::check_arity(params, args.len())?;
    args.into_iter()
        .zip(params)
        .enumerate()
        .map(|(i, (arg, (name, ty)))| {
            let value = match arg {
                Arg::Wave(text) => weft_values::from_wave(&text, ty),
                Arg::Json(json) => weft_values::from_json(&json, ty),
                other => return Ok(other),
            };
            value
                .map(Arg::Value)
                .map_err(|e| e.at(&format!("argument {} (`{name}`)", i + 1)))
        })
        .collect()
}

/// A component's exports and when they were fetched.
type Fetched = (Instant, Arc<Vec<Export>>);

/// Exports by component name.
#[derive(Default)]
pub(crate) struct Signatures {
    by_component: Mutex<HashMap<String, Fetched>>,
}

impl Connection {
    /// The exported functions of `component` (a name or digest) with their
    /// types, and the digest the name resolved to.
    pub async fn describe(
        &mut self,
        component: &str,
    ) -> Result<(String, Vec<Export>), ClientError> {
        let request = pb::DescribeRequest {
            component: component.to_string(),
        };
        let reply = self
            .unary(request, |mut c, r| async move { c.describe(r).await })
            .await?;
        let exports = reply
            .functions
            .into_iter()
            .map(|f| {
                let signature: Signature =
                    serde_json::from_str(&f.signature_json).map_err(|e| {
                        ClientError::Unreadable(format!(
                            "the cluster sent an unreadable signature for `{}`: {e}",
                            f.function
                        ))
                    })?;
                Ok(Export {
                    interface: Some(f.interface).filter(|i| !i.is_empty()),
                    function: f.function,
                    signature,
                    is_async: f.is_async,
                })
            })
            .collect::<Result<_, ClientError>>()?;
        Ok((reply.digest, exports))
    }
}

impl TaskClient {
    /// The signature of `component`'s `function` (`func`, `iface.func`,
    /// `pkg:ns/iface#func`).
    pub async fn signature(
        &self,
        component: &str,
        function: &str,
    ) -> Result<Signature, ClientError> {
        let exports = self.exports(component).await?;
        weft_values::find_export(&exports, |e| e, function)
            .map(|e| e.signature.clone())
            .map_err(|e| ClientError::InvalidArgument(format!("component `{component}`: {e}")))
    }

    /// The parameters of `function`, or of a class actor's method (after
    /// the actor itself) when `class` is not empty; `constructor` names a
    /// class's constructor.
    pub async fn method_params(
        &self,
        component: &str,
        class: &str,
        function: &str,
    ) -> Result<Vec<(String, weft_values::Ty)>, ClientError> {
        if class.is_empty() {
            return Ok(self.signature(component, function).await?.params);
        }
        let exports = self.exports(component).await?;
        let (bracketed, dotted) = (
            format!("[{function}]{class}"),
            format!("[method]{class}.{function}"),
        );
        let found = exports
            .iter()
            .find(|e| e.function == bracketed || e.function == dotted)
            .ok_or_else(|| {
                ClientError::InvalidArgument(format!(
                    "`{class}` of `{component}` has no method `{function}`"
                ))
            })?;
        let skip = usize::from(found.function.starts_with("[method]"));
        Ok(found
            .signature
            .params
            .get(skip..)
            .unwrap_or_default()
            .to_vec())
    }

    /// The exported functions of `component` with their types, from the
    /// cluster, kept a few seconds (a caller typing many calls asks once).
    pub async fn exports(&self, component: &str) -> Result<Arc<Vec<Export>>, ClientError> {
        self.shared.exports(component).await
    }

    /// `args` with WAVE and JSON typed by `function`'s parameters into
    /// values (fetching its signature only when one of them needs it):
    /// type once, submit many times.
    pub async fn typed(
        &self,
        component: &str,
        function: &str,
        args: Vec<Arg>,
    ) -> Result<Vec<Arg>, ClientError> {
        if !args.iter().any(Arg::needs_type) {
            return Ok(args);
        }
        let signature = self.signature(component, function).await?;
        type_args(&signature.params, args).map_err(|e| {
            ClientError::InvalidArgument(format!("`{function}` of `{component}`: {e}"))
        })
    }

    /// `args` on the wire: typed (see [`TaskClient::typed`]), values
    /// encoded with the refs they contain. A value too large to travel
    /// inline goes into the object store first and is passed as its ref
    /// (as Ray does with large arguments); those refs are returned too, for
    /// the caller to let go of once the task is done.
    pub(crate) async fn encode_args(
        &self,
        component: &str,
        function: &str,
        args: Vec<Arg>,
    ) -> Result<(Vec<pb::TaskArg>, Vec<String>), ClientError> {
        let mut out = Vec::with_capacity(args.len());
        let mut stored = Vec::new();
        for arg in self.typed(component, function, args).await? {
            let kind = match arg {
                Arg::Ref(id) => pb::task_arg::Kind::TaskRef(id),
                Arg::Value(value) => {
                    let (head, body) = crate::task_objects::split_encoding(&value);
                    let size = head.len() + body.as_ref().map_or(0, |b| b.len());
                    if size <= INLINE_MAX {
                        let mut encoded = head;
                        encoded.extend_from_slice(body.as_deref().unwrap_or_default());
                        pb::task_arg::Kind::Value(pb::Value {
                            encoded,
                            refs: value.refs(),
                        })
                    } else {
                        let id = self.put_value(&value).await?;
                        stored.push(id.clone());
                        pb::task_arg::Kind::TaskRef(id)
                    }
                }
                // `typed` left none of these.
                Arg::Wave(_) | Arg::Json(_) => continue,
            };
            out.push(pb::TaskArg { kind: Some(kind) });
        }
        Ok((out, stored))
    }
}

impl crate::tasks::Shared {
    /// The exports of `component` (a name or digest), from the cluster,
    /// kept a few seconds.
    pub(crate) async fn exports(&self, component: &str) -> Result<Arc<Vec<Export>>, ClientError> {
        let cached = self
            .signatures
            .by_component
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(component)
            .filter(|(at, _)| at.elapsed() < FRESH)
            .map(|(_, e)| e.clone());
        if let Some(exports) = cached {
            return Ok(exports);
        }
        let (_, exports) = self.rpc.lock().await.describe(component).await?;
        let exports = Arc::new(exports);
        self.signatures
            .by_component
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(component.to_string(), (Instant::now(), exports.clone()));
        Ok(exports)
    }
}
