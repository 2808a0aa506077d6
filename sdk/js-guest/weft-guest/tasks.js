// Tasks: submit a component's function, get its result, wait, cancel.
import * as raw from 'weft:runtime/tasks@0.2.0';
import { call, isRef, millis, remember } from './common.js';
import { decode, encode } from './values.js';

/** Values as task arguments: a ref by ref, anything else encoded as it is. */
export function argumentsOf(args) {
  return args.map((a) => (isRef(a) ? { tag: 'object', val: a } : { tag: 'value', val: encode(a, isRef) }));
}

/**
 * Submits `component`'s `fn` (`func` or `iface.func`) with `args`; returns
 * the ref of its result at once. A ref argument passes by ref (the task
 * waits for it); other values are typed by the function's parameters where
 * the function runs.
 */
export function submit(component, fn, ...args) {
  return submitWith({}, component, fn, ...args);
}

/**
 * `submit` with options: `{ timeout, cpus, gpus, maxRetries, retryOnTrap,
 * memoryLimit }`, and a placement as a client gives it: `{ strategy, node,
 * soft, memory, resources, stream }` (`stream`: a streaming task's
 * backpressure window, 0 for none).
 */
export function submitWith(options, component, fn, ...args) {
  const opts = {
    timeoutMs: millis(options.timeout),
    memoryLimitBytes: options.memoryLimit === undefined ? undefined : BigInt(options.memoryLimit),
    cpus: options.cpus,
    gpus: options.gpus,
    maxRetries: options.maxRetries,
    retryOnTrap: options.retryOnTrap,
  };
  const placed = ['strategy', 'node', 'soft', 'memory', 'resources', 'stream'].some((k) => options[k] !== undefined);
  if (!placed) {
    return remember(call(raw.submit, component, fn, argumentsOf(args), opts));
  }
  const placement = {
    strategy: options.strategy,
    node: options.node,
    soft: options.soft,
    memory: options.memory === undefined ? undefined : BigInt(options.memory),
    resources: Object.entries(options.resources ?? {}).map(([k, v]) => [k, Number(v)]),
    streaming: options.stream,
  };
  return remember(call(raw.submitPlaced, component, fn, argumentsOf(args), opts, placement));
}

/**
 * The task's result as a JavaScript value (records as objects, variants as
 * `{case: value}`, `list<u8>` as a Uint8Array; null for nothing).
 */
export function get(ref, timeout) {
  const encoded = call(raw.get, ref, millis(timeout));
  return encoded === undefined || encoded === null ? null : decode(encoded);
}

/** Waits until `numReady` of `refs` are done (or the timeout); returns those that are. */
export function wait(refs, numReady = 1, timeout) {
  return call(raw.wait, refs, numReady, millis(timeout)).map(remember);
}

/** Stops a task. */
export function cancel(ref) {
  call(raw.cancel, ref);
}

/**
 * The items of the streaming task `ref` (submitted with `stream`), as refs,
 * in order, as they come; the task's failure is thrown after its items.
 */
export function* items(ref) {
  for (let n = 0; ; n++) {
    const item = { id: `${ref.id}.${n}` };
    const ready = call(raw.wait, [item, ref], 1, undefined);
    if (ready.some((r) => r.id === item.id)) {
      yield remember(item);
      continue;
    }
    // The end: items arrive before it, so there are no more. A failed task
    // throws here.
    call(raw.get, ref, undefined);
    return;
  }
}

/**
 * Hands the caller the next item of this task's stream (a task submitted as
 * a stream): the caller sees it at once, in order, while the task goes on.
 * Waits while the caller has a backpressure limit's worth of items unread.
 */
export function emit(value) {
  call(raw.emit, encode(value, isRef));
}

/**
 * Emits every item of `items` (a generator, say) as it is made; returns how
 * many there were. A streaming task written as a generator ends
 * `return emitAll(gen())`.
 */
export function emitAll(items) {
  let n = 0;
  for (const item of items) {
    emit(item);
    n += 1;
  }
  return n;
}
