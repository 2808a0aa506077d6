//! `weft:runtime/actors`: a task's guest creates actors, finds them by
//! name, calls their methods and kills them, through
//! [`TaskServices`](crate::services::TaskServices).

use wasmtime::component::{HasSelf, Linker};
use weft_core::{Arg, Constructor};

use super::generated::weft::runtime::types::{Error, ObjectRef};
use super::generated::weft::runtime::{actors, tasks};
use super::{RuntimeCtx, guest_error};

/// Adds `weft:runtime/actors` to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    get: fn(&mut T) -> &mut RuntimeCtx,
) -> wasmtime::Result<()> {
    actors::add_to_linker::<T, HasSelf<RuntimeCtx>>(linker, get)
}

/// A guest's actor options as the actor API's.
pub(super) fn options_of(options: actors::Options) -> weft_core::ActorOptions {
    weft_core::ActorOptions {
        name: options.name.unwrap_or_default(),
        namespace: options.namespace.unwrap_or_default(),
        detached: options.detached.unwrap_or(false),
        max_restarts: options.max_restarts.unwrap_or(0),
        max_task_retries: options.max_task_retries.unwrap_or(0),
        cpus: options.cpus.unwrap_or(0.0),
        checkpoint_every_calls: options.checkpoint_every_calls.unwrap_or(0),
        checkpoint_every_ms: options.checkpoint_every_ms.unwrap_or(0),
        ..Default::default()
    }
}

impl RuntimeCtx {
    /// Creates an actor for the guest.
    pub(super) async fn create_actor(
        &mut self,
        component: String,
        class: String,
        constructor: Constructor,
        options: actors::Options,
    ) -> Result<actors::Actor, Error> {
        let context = self.task_context("actors.create")?;
        let handle = context
            .create_actor(&component, &class, constructor, options_of(options))
            .await
            .map_err(guest_error)?;
        Ok(actors::Actor { id: handle.id })
    }

    /// Calls an actor's method for the guest.
    pub(super) async fn call_actor(
        &mut self,
        actor: String,
        method: String,
        args: Vec<Arg>,
    ) -> Result<ObjectRef, Error> {
        let context = self.task_context("actors.call")?;
        let id = context
            .call_actor(&actor, &method, args)
            .await
            .map_err(guest_error)?;
        Ok(ObjectRef { id })
    }
}

impl actors::Host for RuntimeCtx {
    async fn create(
        &mut self,
        component: String,
        class: String,
        args: Vec<tasks::Argument>,
        options: actors::Options,
    ) -> Result<actors::Actor, Error> {
        let values = super::tasks::values_of(args)?;
        self.create_actor(component, class, Constructor::Values(values), options)
            .await
    }

    async fn lookup(
        &mut self,
        name: String,
        namespace: Option<String>,
    ) -> Result<actors::Actor, Error> {
        let context = self.task_context("actors.lookup")?;
        let handle = context
            .get_actor(&name, namespace.as_deref().unwrap_or(""))
            .await
            .map_err(guest_error)?;
        Ok(actors::Actor { id: handle.id })
    }

    async fn call(
        &mut self,
        actor: actors::Actor,
        method: String,
        args: Vec<tasks::Argument>,
    ) -> Result<ObjectRef, Error> {
        let args = super::tasks::args_of(args)?;
        self.call_actor(actor.id, method, args).await
    }

    async fn kill(&mut self, actor: actors::Actor) -> Result<(), Error> {
        let context = self.task_context("actors.kill")?;
        context.kill_actor(&actor.id).await.map_err(guest_error)
    }
}
