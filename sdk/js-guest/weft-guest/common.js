// What the modules share: refs, errors, calling a binding.

/** A `weft:runtime` call failed; `kind` is the WIT error's case. */
export class WeftError extends Error {
  constructor(kind, message) {
    super(`${kind}: ${message}`);
    this.name = 'WeftError';
    this.kind = kind;
  }
}

// Refs this module made (from submit, put, actor calls): passed by ref.
const refs = new WeakSet();

/** Marks `ref` as an object ref, so an argument passes it by ref. */
export function remember(ref) {
  refs.add(ref);
  return ref;
}

/** Whether `value` is a ref this module made. */
export function isRef(value) {
  return typeof value === 'object' && value !== null && refs.has(value);
}

/** Calls a binding, throwing its WIT `error` as a WeftError. */
export function call(f, ...args) {
  try {
    return f(...args);
  } catch (e) {
    const p = e && typeof e === 'object' && 'payload' in e ? e.payload : e;
    if (p && typeof p === 'object' && 'tag' in p) {
      throw new WeftError(p.tag, String(p.val));
    }
    throw e;
  }
}

/** Seconds as an `option<u64>` of milliseconds. */
export function millis(seconds) {
  return seconds === undefined || seconds === null ? undefined : BigInt(Math.max(0, Math.round(seconds * 1000)));
}
