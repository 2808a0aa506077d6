//! A concurrent actor: one instance whose methods are `async func`
//! exports (component-model async), taking several calls at once. Each
//! call is a guest task of the instance; while one awaits (`awaits.get`,
//! `awaits.sleep`), wasmtime's event loop runs the others, so a method
//! waiting on a nested task does not hold the actor.
//!
//! How many run at once is bounded per concurrency group (Ray's
//! `concurrency_groups`): a call runs in its method's group, or in the
//! default group of `max_concurrency` calls; a call over its group's limit
//! waits, in arrival order, for one of the group to finish.
//!
//! Failure: a call that traps, runs past its deadline or past the memory
//! limit leaves the instance unusable, as a sequential actor's does. Every
//! call then in flight fails with that cause, naming the call that caused
//! it; calls not yet started are handed back (`ActorCall::done` is never
//! called for them) for the next incarnation.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use futures::stream::{FuturesUnordered, StreamExt};
use wasmtime::component::{Accessor, Val};
use weft_values::Value;

use crate::actor::{ActorError, ActorInstance, bind, result_of};
use crate::error::HostError;
use crate::invoke::classify_refused;
use crate::state::CallState;

/// What a call's outcome is handed to.
pub type CallDone = Box<dyn FnOnce(Result<Option<Value>, ActorError>) + Send>;

/// One call to a concurrent actor.
pub struct ActorCall {
    /// The method (an export of the instance).
    pub method: String,
    /// Its arguments, conformed to the parameters when it starts.
    pub args: Vec<Value>,
    /// Takes its outcome, once; dropped uncalled when the call never
    /// started (the instance failed first).
    pub done: CallDone,
}

/// How many calls run at once.
#[derive(Debug, Clone, Default)]
pub struct Concurrency {
    /// The default group's limit (`max_concurrency`).
    pub max: u32,
    /// Named groups and their limits.
    pub groups: HashMap<String, u32>,
    /// The group of each method that is not in the default one.
    pub method_groups: HashMap<String, String>,
}

impl Concurrency {
    /// The group `method` runs in ("" for the default one) and its limit.
    fn group_of(&self, method: &str) -> (&str, u32) {
        match self
            .method_groups
            .get(method)
            .and_then(|g| self.groups.get_key_value(g))
        {
            Some((name, limit)) => (name, (*limit).max(1)),
            None => ("", self.max.max(1)),
        }
    }
}

/// A concurrent deadline long enough never to fire: each call has its own
/// timer instead, as the store's one deadline cannot serve calls that
/// started at different times.
const NO_STORE_DEADLINE: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

impl ActorInstance {
    /// Whether it has `async func` methods, which calls may run at once.
    pub fn concurrent(&self) -> bool {
        !crate::exports::async_methods(&self.prepared.functions, &self.class).is_empty()
    }

    /// Serves `calls` until the stream ends (every call answered), or a
    /// call fails in a way that leaves the instance unusable: then the
    /// calls in flight are answered with that failure and its cause is
    /// returned.
    pub async fn serve(
        &mut self,
        mut calls: impl futures::Stream<Item = ActorCall> + Unpin + Send,
        concurrency: &Concurrency,
    ) -> Result<(), HostError> {
        let prepared = self.prepared.clone();
        let (instance, this, limits) = (self.instance, self.this, self.limits);
        let class = self.class.clone();
        let output = &self.output;
        self.store.data_mut().deadline = Instant::now() + NO_STORE_DEADLINE;
        // Outcomes go to their calls from here (not from the futures), so
        // a failure that ends the loop can still answer the ones in flight.
        let mut dones: HashMap<u64, (String, CallDone)> = HashMap::new();
        let served = self
            .store
            .run_concurrent(async |accessor: &Accessor<CallState>| {
                let mut running = FuturesUnordered::new();
                let mut waiting: HashMap<String, VecDeque<ActorCall>> = HashMap::new();
                let mut in_flight: HashMap<String, u32> = HashMap::new();
                let mut next_id = 0u64;
                let mut open = true;
                let start =
                    |call: ActorCall, id: u64, dones: &mut HashMap<u64, (String, CallDone)>| {
                        let ActorCall { method, args, done } = call;
                        let bound = bind(&prepared, &class, this, &method, args)
                            .and_then(|(function, vals)| only_async(function, vals));
                        dones.insert(id, (method.clone(), done));
                        async move {
                            let outcome = match bound {
                                Ok((function, vals)) => {
                                    run_call(accessor, instance, function, vals, limits, output)
                                        .await
                                }
                                Err(error) => Err(ActorError {
                                    error,
                                    poisoned: false,
                                }),
                            };
                            (id, method, outcome)
                        }
                    };
                loop {
                    if !open && running.is_empty() {
                        return Ok(());
                    }
                    tokio::select! {
                        call = calls.next(), if open => match call {
                            None => open = false,
                            Some(call) => {
                                let (group, limit) = concurrency.group_of(&call.method);
                                let busy = in_flight.entry(group.to_string()).or_default();
                                if *busy < limit {
                                    *busy += 1;
                                    next_id += 1;
                                    running.push(start(call, next_id, &mut dones));
                                } else {
                                    waiting.entry(group.to_string()).or_default().push_back(call);
                                }
                            }
                        },
                        Some((id, method, outcome)) = running.next() => {
                            let poisoned = outcome.as_ref().err().filter(|e| e.poisoned).map(|e| {
                                (method.clone(), e.error.to_string())
                            });
                            if let Some((_, done)) = dones.remove(&id) {
                                done(outcome);
                            }
                            if let Some((method, cause)) = poisoned {
                                return Err(HostError::Trap {
                                    function: method,
                                    message: cause,
                                });
                            }
                            let (group, _) = concurrency.group_of(&method);
                            let next = waiting.get_mut(group).and_then(VecDeque::pop_front);
                            match next {
                                Some(call) => {
                                    next_id += 1;
                                    running.push(start(call, next_id, &mut dones));
                                }
                                None => {
                                    if let Some(busy) = in_flight.get_mut(group) {
                                        *busy -= 1;
                                    }
                                }
                            }
                        }
                    }
                }
            })
            .await;
        let failure = match served {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => e,
            // The event loop itself failed: a guest task trapped outside
            // any call's own future.
            Err(e) => classify_refused(
                e,
                "a concurrent call",
                limits,
                self.store.data().limiter.refused,
                output,
            ),
        };
        for (method, done) in dones.into_values() {
            done(Err(ActorError {
                error: HostError::Trap {
                    function: method,
                    message: format!("the instance failed in another call: {failure}"),
                },
                poisoned: true,
            }));
        }
        Err(failure)
    }
}

/// `function` and its arguments if it is an `async func` export; a
/// concurrent actor runs no other (a plain export would hold the instance
/// until it returns, so a call of one is refused, the instance unharmed).
fn only_async(
    function: &crate::exports::FunctionInfo,
    vals: Vec<Val>,
) -> Result<(&crate::exports::FunctionInfo, Vec<Val>), HostError> {
    if function.is_async {
        return Ok((function, vals));
    }
    Err(HostError::Uncallable {
        function: function.name.clone(),
        reason: "a concurrent actor runs only its `async func` methods (a plain export would \
                 hold the instance until it returns)"
            .into(),
    })
}

/// Runs one call as a guest task of the instance, within its deadline.
async fn run_call(
    accessor: &Accessor<CallState>,
    instance: wasmtime::component::Instance,
    function: &crate::exports::FunctionInfo,
    vals: Vec<Val>,
    limits: crate::invoke::Limits,
    output: &crate::state::OutputTail,
) -> Result<Option<Value>, ActorError> {
    let func = accessor
        .with(|mut access| instance.get_func(&mut access, function.index))
        .ok_or_else(|| HostError::internal(format!("export `{}` vanished", function.name)))?;
    let mut out = vec![Val::Bool(false); function.results];
    let called = tokio::time::timeout(
        limits.timeout,
        func.call_concurrent(accessor, &vals, &mut out),
    )
    .await;
    match called {
        Ok(Ok(())) => result_of(function, out),
        Ok(Err(err)) => {
            let refused = accessor.with(|mut access| access.get().limiter.refused);
            Err(ActorError {
                error: classify_refused(err, &function.name, limits, refused, output),
                poisoned: true,
            })
        }
        Err(_) => Err(ActorError {
            error: HostError::Timeout {
                function: function.name.clone(),
                deadline: limits.timeout,
            },
            poisoned: true,
        }),
    }
}
