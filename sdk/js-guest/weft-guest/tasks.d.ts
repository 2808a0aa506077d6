import type { ObjectRef } from './common.js';

export interface TaskOptions {
  /** Seconds. */
  timeout?: number;
  cpus?: number;
  gpus?: number;
  maxRetries?: number;
  retryOnTrap?: boolean;
  memoryLimit?: number;
}

export function submit(component: string, fn: string, ...args: unknown[]): ObjectRef;
export function submitWith(options: TaskOptions, component: string, fn: string, ...args: unknown[]): ObjectRef;
export function get(ref: ObjectRef, timeout?: number): unknown;
export function wait(refs: ObjectRef[], numReady?: number, timeout?: number): ObjectRef[];
export function cancel(ref: ObjectRef): void;
export function emit(value: unknown): void;
export function emitAll(items: Iterable<unknown>): number;
/** Values as task arguments: a ref by ref, anything else encoded as it is. */
export function argumentsOf(args: unknown[]): unknown[];
