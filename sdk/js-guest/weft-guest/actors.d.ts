import type { ObjectRef } from './common.js';

/** A handle on an actor. */
export interface Actor {
  id: string;
}

export interface ActorOptions {
  name?: string;
  namespace?: string;
  detached?: boolean;
  maxRestarts?: number;
  maxTaskRetries?: number;
  cpus?: number;
}

export function create(component: string, cls: string, args?: unknown[], options?: ActorOptions): Actor;
export function lookup(name: string, namespace?: string): Actor;
export function call(actor: Actor, method: string, ...args: unknown[]): ObjectRef;
export function kill(actor: Actor): void;
