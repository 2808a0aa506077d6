//! `weft:runtime/actors@0.1.0`: calls with WAVE arguments, typed for the
//! guest by the method's signature.

use weft_core::{Arg, Constructor};

use super::old::actors;
use crate::runtime::RuntimeCtx;
use crate::runtime::generated::weft::runtime::actors as current;
use crate::runtime::generated::weft::runtime::types::{Error, ObjectRef};

fn actor(old: actors::Actor) -> current::Actor {
    current::Actor { id: old.id }
}

fn old_actor(actor: current::Actor) -> actors::Actor {
    actors::Actor { id: actor.id }
}

impl actors::Host for RuntimeCtx {
    async fn create(
        &mut self,
        component: String,
        class: String,
        constructor: String,
        options: actors::Options,
    ) -> Result<actors::Actor, Error> {
        let options = current::Options {
            name: options.name,
            namespace: options.namespace,
            detached: options.detached,
            max_restarts: options.max_restarts,
            max_task_retries: options.max_task_retries,
            cpus: options.cpus,
            checkpoint_every_calls: options.checkpoint_every_calls,
            checkpoint_every_ms: options.checkpoint_every_ms,
        };
        self.create_actor(component, class, Constructor::Wave(constructor), options)
            .await
            .map(old_actor)
    }

    async fn lookup(
        &mut self,
        name: String,
        namespace: Option<String>,
    ) -> Result<actors::Actor, Error> {
        current::Host::lookup(self, name, namespace)
            .await
            .map(old_actor)
    }

    async fn call(
        &mut self,
        actor: actors::Actor,
        method: String,
        args: Vec<String>,
    ) -> Result<ObjectRef, Error> {
        let args = args.into_iter().map(Arg::Wave).collect();
        self.call_actor(actor.id, method, args).await
    }

    async fn kill(&mut self, old: actors::Actor) -> Result<(), Error> {
        current::Host::kill(self, actor(old)).await
    }
}
