// Actors: create one, find one by name, call it, kill it.
import * as raw from 'weft:runtime/actors@0.2.0';
import { call as invoke, remember } from './common.js';
import { argumentsOf } from './tasks.js';

/**
 * Creates an actor of `component`'s resource `cls` ('' for an instance
 * actor, which takes no `args`), its constructor called with `args`
 * (encoded as a task's are). Options:
 * `{ name, namespace, detached, maxRestarts, maxTaskRetries, cpus }`.
 */
export function create(component, cls, args = [], options = {}) {
  const opts = {
    name: options.name,
    namespace: options.namespace,
    detached: options.detached,
    maxRestarts: options.maxRestarts,
    maxTaskRetries: options.maxTaskRetries,
    cpus: options.cpus,
    checkpointEveryCalls: undefined,
    checkpointEveryMs: undefined,
  };
  return invoke(raw.create, component, cls, argumentsOf(args), opts);
}

/** The live actor called `name`. */
export function lookup(name, namespace) {
  return invoke(raw.lookup, name, namespace);
}

/** Calls `method`; returns the ref of its result, read with `tasks.get`. */
export function call(actor, method, ...args) {
  return remember(invoke(raw.call, actor, method, argumentsOf(args)));
}

/** Kills the actor for good. */
export function kill(actor) {
  invoke(raw.kill, actor);
}
