import type { ObjectRef } from './common.js';

export interface TaskOptions {
  /** Seconds. */
  timeout?: number;
  cpus?: number;
  gpus?: number;
  maxRetries?: number;
  retryOnTrap?: boolean;
  memoryLimit?: number;
  /** `"default"` or `"spread"`. */
  strategy?: string;
  /** The host to run on (node affinity). */
  node?: string;
  /** With `node`: run elsewhere when that host cannot take it. */
  soft?: boolean;
  /** Memory it reserves on its host, in bytes. */
  memory?: number;
  /** Custom resources it needs, by name. */
  resources?: Record<string, number>;
  /** A streaming task with this backpressure window (0: none). */
  stream?: number;
}

export function submit(component: string, fn: string, ...args: unknown[]): ObjectRef;
export function submitWith(options: TaskOptions, component: string, fn: string, ...args: unknown[]): ObjectRef;
export function get(ref: ObjectRef, timeout?: number): unknown;
export function wait(refs: ObjectRef[], numReady?: number, timeout?: number): ObjectRef[];
export function cancel(ref: ObjectRef): void;
export function items(ref: ObjectRef): Generator<ObjectRef, void, undefined>;
export function emit(value: unknown): void;
export function emitAll(items: Iterable<unknown>): number;
/** Values as task arguments: a ref by ref, anything else encoded as it is. */
export function argumentsOf(args: unknown[]): unknown[];
